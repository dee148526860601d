"""`can_redeem`: the one place that decides whether a learner may redeem content under a policy.

Read-only. The redemption unit (services.py) calls the same `evaluate` while holding its locks, so the
admin's "check redeemability", the API's can-redeem and the real redemption can never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.db.models import Exists, OuterRef, Value
from django.utils import timezone

from assignments.models import LearnerContentAssignment
from catalog.models import Catalog, CourseRun
from customers.models import EnterpriseCustomerUser
from customers.selectors import learner_link
from policies import reasons
from policies.models import SubsidyAccessPolicy
from subsidies import selectors as ledger_reads


@dataclass
class RedemptionContext:
    """Everything one decision needs, all of it read before the decision (by `build_context`)."""

    policy: SubsidyAccessPolicy
    lms_user_id: int
    content_key: str
    run: CourseRun | None
    link: EnterpriseCustomerUser | None
    group_ids: frozenset  # the policy's groups (none: every linked learner)
    in_catalog: bool  # the policy's catalog holds the run
    learner_in_groups: bool  # the learner is in one of those groups
    totals: ledger_reads.RunningTotals  # the subsidy's balance and the policy's spend
    learner_spend: dict[str, int]  # the learner's spend and redemptions under the policy
    forced: bool = False
    late_enrollment: bool = False  # an operator's `allow_late_enrollment` (ledger create): deadlines do not apply
    price_override_cents: int | None = None
    now: dt.datetime = field(default_factory=timezone.now)
    assignment: LearnerContentAssignment | None = None
    will_allocate: bool = False

    @cached_property
    def price_cents(self) -> int:
        if self.price_override_cents is not None:
            return self.price_override_cents
        return self.policy.strategy.price_cents(self)

    @property
    def balance_cents(self) -> int:
        return self.totals.balance_cents

    @property
    def policy_spend(self) -> dict[str, int]:
        return self.totals.policy_spend

    @property
    def deadline_applies(self) -> bool:
        return not (self.forced or self.late_enrollment or self.policy.is_late_redemption_allowed(self.now))


@dataclass(frozen=True)
class Verdict:
    can_redeem: bool
    reason: str | None
    user_message: str | None
    price_cents: int | None
    balance_cents: int | None = None
    policy_spent_cents: int | None = None
    policy_spend_available_cents: int | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_READ_IT = object()  # build_context's default: read the run / the link itself


def read_run(content_key: str) -> CourseRun | None:
    return CourseRun.objects.select_related("course").filter(key=content_key).first()


def read_groups_and_catalog_membership(policy: SubsidyAccessPolicy, run: CourseRun | None) -> tuple[frozenset, tuple]:
    """The policy's group ids and (its catalog id, whether that catalog holds the run), in one query.

    No lock protects them: the redemption unit reads them before its locks (and again, here, if the locked
    policy names another catalog).
    """
    in_catalog = Value(False)
    if run is not None:
        in_catalog = Exists(
            Catalog.courses.through.objects.filter(catalog_id=OuterRef("catalog_id"), course_id=run.course_id)
        )
    rows = list(
        SubsidyAccessPolicy.all_objects.filter(pk=policy.pk)
        .annotate(in_catalog=in_catalog)
        .values_list("catalog_id", "in_catalog", "groups")
    )
    if not rows:  # deleted under us: the locked read fails the same way
        return frozenset(), (None, False)
    return frozenset(g for *_, g in rows if g is not None), rows[0][:2]


def build_context(
    policy: SubsidyAccessPolicy,
    *,
    lms_user_id: int,
    content_key: str,
    forced: bool = False,
    late_enrollment: bool = False,
    price_cents: int | None = None,
    link: EnterpriseCustomerUser | None | object = _READ_IT,
    run: CourseRun | None | object = _READ_IT,
    now: dt.datetime | None = None,
    policy_group_ids: frozenset | None = None,
    catalog_membership: tuple[Any, bool] | None = None,
    totals: ledger_reads.RunningTotals | None = None,
    learner_spend: dict[str, int] | None = None,
) -> RedemptionContext:
    """Read what the decision needs, unless the caller has read it already (the redemption unit reads some
    before its locks and the money under them); the context is complete when this returns."""
    if run is _READ_IT:
        run = read_run(content_key)
    if link is _READ_IT:
        link = learner_link(customer=policy.customer_id, lms_user_id=lms_user_id)
    if policy_group_ids is None or catalog_membership is None or catalog_membership[0] != policy.catalog_id:
        policy_group_ids, catalog_membership = read_groups_and_catalog_membership(policy, run)
    linked = link is not None and link.active
    if totals is None:
        totals = ledger_reads.running_totals(subsidy=policy.subsidy_id, policy_uuid=policy.pk)
    if learner_spend is None:
        learner_spend = ledger_reads.policy_spend(policy.pk, lms_user_id=lms_user_id)
    ctx = RedemptionContext(
        policy=policy,
        lms_user_id=lms_user_id,
        content_key=content_key,
        run=run,
        link=link,
        group_ids=policy_group_ids,
        in_catalog=run is not None and catalog_membership[1],
        learner_in_groups=bool(linked and policy_group_ids and link.groups.filter(pk__in=policy_group_ids).exists()),
        totals=totals,
        learner_spend=learner_spend,
        forced=forced,
        late_enrollment=late_enrollment,
        price_override_cents=price_cents,
        now=now or timezone.now(),
    )
    if run is not None:
        policy.strategy.load(ctx)
    return ctx


def _refuse(ctx: RedemptionContext, reason: str, detail: str = "", **numbers) -> Verdict:
    return Verdict(
        can_redeem=False,
        reason=reason,
        user_message=reasons.user_message(reason),
        price_cents=ctx.price_cents if ctx.run is not None else None,
        detail=detail,
        **numbers,
    )


# The checks that do not depend on the content or the money, one home each: the redemption (`evaluate`),
# the learner's credits (selectors.credits_available) and allocation (services.allocate) all ask these.


def policy_refusal(policy: SubsidyAccessPolicy) -> str | None:
    """`policy_expired` unless the policy is active, not retired and not deleted."""
    if not policy.active or policy.retired or policy.is_deleted:
        return reasons.POLICY_EXPIRED
    return None


def learner_refusal(link: EnterpriseCustomerUser | None, *, policy_has_groups: bool, in_groups: bool) -> str | None:
    """Not linked (or unlinked), or linked but in none of the policy's groups (a policy without groups is
    for every linked learner)."""
    if link is None or not link.active:
        return reasons.LEARNER_NOT_IN_ENTERPRISE
    if policy_has_groups and not in_groups:
        return reasons.LEARNER_NOT_IN_ENTERPRISE_GROUP
    return None


def subsidy_refusal(policy: SubsidyAccessPolicy, now: dt.datetime) -> str | None:
    """`subsidy_expired` outside the subsidy's active window."""
    return None if policy.subsidy.is_active(now) else reasons.SUBSIDY_EXPIRED


def evaluate(ctx: RedemptionContext) -> Verdict:
    """DOMAIN.md's checks, in its order. The first failing check gives the reason."""
    policy = ctx.policy
    if reason := policy_refusal(policy):
        return _refuse(ctx, reason)
    if reason := learner_refusal(ctx.link, policy_has_groups=bool(ctx.group_ids), in_groups=ctx.learner_in_groups):
        return _refuse(ctx, reason)
    if ctx.run is None or not ctx.in_catalog:
        return _refuse(ctx, reasons.CONTENT_NOT_IN_CATALOG)
    if ctx.deadline_applies and ctx.run.is_past_enroll_by(ctx.now):
        return _refuse(ctx, reasons.BEYOND_ENROLLMENT_DEADLINE)
    if reason := subsidy_refusal(policy, ctx.now):
        return _refuse(ctx, reason)
    price = ctx.price_cents
    balance = ctx.balance_cents
    if price > balance:
        return _refuse(ctx, reasons.NOT_ENOUGH_VALUE_IN_SUBSIDY, balance_cents=balance)
    spent = ctx.policy_spend["spent_cents"]
    available = None
    if policy.spend_limit_cents is not None:
        available = policy.spend_limit_cents - spent - policy.strategy.pending_spend_cents(ctx)
        if price > available:
            return _refuse(
                ctx,
                reasons.POLICY_SPEND_LIMIT_REACHED,
                balance_cents=balance,
                policy_spent_cents=spent,
                policy_spend_available_cents=available,
            )
    learner_reason = policy.strategy.learner_reason(ctx)
    numbers = {
        "balance_cents": balance,
        "policy_spent_cents": spent,
        "policy_spend_available_cents": available,
    }
    if learner_reason is not None:
        return _refuse(ctx, learner_reason, **numbers)
    return Verdict(can_redeem=True, reason=None, user_message=None, price_cents=price, **numbers)


def can_redeem(
    policy: SubsidyAccessPolicy,
    *,
    lms_user_id: int,
    content_key: str,
    forced: bool = False,
    price_cents: int | None = None,
) -> Verdict:
    """Whether `lms_user_id` may redeem `content_key` under `policy` now. Writes nothing."""
    return evaluate(
        build_context(policy, lms_user_id=lms_user_id, content_key=content_key, forced=forced, price_cents=price_cents)
    )
