"""Reads about policies: which a learner can use, in the order the reference system ranks them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from assignments import selectors as assignment_selectors
from assignments.models import AssignmentState, LearnerContentAssignment
from customers.selectors import learner_link
from policies.models import PolicyType, SubsidyAccessPolicy
from policies.redeemability import Verdict, can_redeem, learner_refusal, policy_refusal, subsidy_refusal
from subsidies import selectors as ledger_reads
from subsidies.models import Transaction


def live_policies(customer_id) -> QuerySet[SubsidyAccessPolicy]:
    return SubsidyAccessPolicy.objects.filter(customer_id=customer_id).select_related("subsidy", "customer", "catalog")


def rank(policies: list[SubsidyAccessPolicy]) -> list[SubsidyAccessPolicy]:
    """By priority (assigned first), then soonest subsidy expiry, then lowest balance."""
    return sorted(
        policies,
        key=lambda p: (p.priority, p.subsidy.expiration_datetime, ledger_reads.balance_cents(p.subsidy_id)),
    )


def verdicts_for(customer_id, *, lms_user_id: int, content_key: str) -> list[tuple[SubsidyAccessPolicy, Verdict]]:
    """Each live policy of the customer with its verdict, best-ranked first."""
    return [
        (policy, can_redeem(policy, lms_user_id=lms_user_id, content_key=content_key))
        for policy in rank(list(live_policies(customer_id)))
    ]


def learner_redemptions(customer_id, *, lms_user_id: int, content_key: str) -> list[Transaction]:
    """The learner's transactions (any state) for this content under any policy of the customer, oldest first."""
    policy_ids = SubsidyAccessPolicy.all_objects.filter(customer_id=customer_id).values("pk")
    return list(
        ledger_reads.learner_transactions(policy_uuids=policy_ids, lms_user_id=lms_user_id, content_key=content_key)
    )


@dataclass(frozen=True)
class Credit:
    """A policy the learner can spend now, and how much is left (cents)."""

    policy: SubsidyAccessPolicy
    remaining_balance_cents: int
    remaining_balance_per_user_cents: int | None


def credits_available(customer_id, *, lms_user_id: int, now: dt.datetime | None = None) -> list[Credit]:
    """The customer's policies the learner could spend under now, best-ranked first (content aside).

    Same limits as `can_redeem` without a price: active policy, linked learner in the policy's groups,
    subsidy in its window, money left in the subsidy and under the spend limit (allocations count), and the
    learner's own cap not reached. An assigned policy counts only when something is allocated to the learner.
    """
    now = now or timezone.now()
    link = learner_link(customer=customer_id, lms_user_id=lms_user_id)
    if learner_refusal(link, policy_has_groups=False, in_groups=False):
        return []
    learner_groups = set(link.groups.values_list("pk", flat=True))
    candidates = live_policies(customer_id).filter(active=True, retired=False).prefetch_related("groups")
    credits = []
    for policy in rank(list(candidates)):
        groups = {group.pk for group in policy.groups.all()}
        refused = policy_refusal(policy) or learner_refusal(
            link, policy_has_groups=bool(groups), in_groups=bool(groups & learner_groups)
        )
        if refused or subsidy_refusal(policy, now):
            continue
        remaining = ledger_reads.balance_cents(policy.subsidy_id)
        if policy.spend_limit_cents is not None:
            spent = ledger_reads.policy_spend(policy.pk)["spent_cents"]
            pending = assignment_selectors.allocated_total_cents(policy.assignment_configuration_id)
            remaining = min(remaining, policy.spend_limit_cents - spent - pending)
        per_user = None
        learner = ledger_reads.policy_spend(policy.pk, lms_user_id=lms_user_id)
        if policy.per_learner_spend_limit_cents is not None:
            per_user = policy.per_learner_spend_limit_cents - learner["spent_cents"]
        limit = policy.per_learner_enrollment_limit
        if limit is not None and learner["redemptions"] >= limit:
            continue
        if policy.policy_type == PolicyType.ASSIGNED:
            if not _has_allocation(policy, lms_user_id=lms_user_id, email=link.email):
                continue
            remaining = max(remaining, 0) + _own_allocated_cents(policy, lms_user_id=lms_user_id, email=link.email)
        if remaining <= 0 or (per_user is not None and per_user <= 0):
            continue
        credits.append(Credit(policy, remaining, per_user))
    return credits


def _allocations(policy: SubsidyAccessPolicy, *, lms_user_id: int, email: str):
    return LearnerContentAssignment.objects.filter(
        Q(lms_user_id=lms_user_id) | Q(learner_email__iexact=email),
        assignment_configuration_id=policy.assignment_configuration_id,
        state=AssignmentState.ALLOCATED,
    )


def _has_allocation(policy: SubsidyAccessPolicy, *, lms_user_id: int, email: str) -> bool:
    return _allocations(policy, lms_user_id=lms_user_id, email=email).exists()


def _own_allocated_cents(policy: SubsidyAccessPolicy, *, lms_user_id: int, email: str) -> int:
    rows = _allocations(policy, lms_user_id=lms_user_id, email=email).values_list("content_quantity", flat=True)
    return -sum(rows)
