"""Reads about policies: which a learner can use, in the order the reference system ranks them."""

from __future__ import annotations

from django.db.models import QuerySet

from policies.models import SubsidyAccessPolicy
from policies.redeemability import Verdict, can_redeem
from subsidies import selectors as ledger


def live_policies(customer_id) -> QuerySet[SubsidyAccessPolicy]:
    return SubsidyAccessPolicy.objects.filter(customer_id=customer_id).select_related("subsidy", "customer", "catalog")


def rank(policies: list[SubsidyAccessPolicy]) -> list[SubsidyAccessPolicy]:
    """By priority (assigned first), then soonest subsidy expiry, then lowest balance."""
    return sorted(
        policies,
        key=lambda p: (p.priority, p.subsidy.expiration_datetime, ledger.balance_cents(p.subsidy_id)),
    )


def verdicts_for(customer_id, *, lms_user_id: int, content_key: str) -> list[tuple[SubsidyAccessPolicy, Verdict]]:
    """Each live policy of the customer with its verdict, best-ranked first."""
    return [
        (policy, can_redeem(policy, lms_user_id=lms_user_id, content_key=content_key))
        for policy in rank(list(live_policies(customer_id)))
    ]
