"""`can_redeem`: the one place that decides whether a learner may redeem content under a policy.

Read-only. The redemption unit (services.py) calls the same `evaluate` while holding its locks, so the
admin's "check redeemability", the API's can-redeem and the real redemption can never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.utils import timezone

from assignments.models import LearnerContentAssignment
from catalog.models import CourseRun
from catalog.selectors import catalog_contains_run
from customers.models import EnterpriseCustomerUser
from customers.selectors import learner_link
from policies import reasons
from policies.models import SubsidyAccessPolicy
from subsidies import selectors as ledger_reads


@dataclass
class RedemptionContext:
    """Everything one decision needs, read once."""

    policy: SubsidyAccessPolicy
    lms_user_id: int
    content_key: str
    run: CourseRun | None
    link: EnterpriseCustomerUser | None
    forced: bool = False
    price_override_cents: int | None = None
    now: dt.datetime = field(default_factory=timezone.now)
    assignment: LearnerContentAssignment | None = None
    will_allocate: bool = False
    # Read before the unit's locks (no lock protects them); None: read when evaluated.
    policy_group_ids: frozenset | None = None
    catalog_membership: tuple[Any, bool] | None = None  # (catalog id, whether it contains the run)
    # Read under the unit's locks by the redemption unit; None: read when first needed.
    totals: ledger_reads.RunningTotals | None = None
    learner_spend_read: dict[str, int] | None = None

    def group_ids(self) -> set | frozenset:
        if self.policy_group_ids is not None:
            return self.policy_group_ids
        return {g.pk for g in self.policy.groups.all()}

    def catalog_contains_run(self) -> bool:
        if self.catalog_membership is not None and self.catalog_membership[0] == self.policy.catalog_id:
            return self.catalog_membership[1]
        return catalog_contains_run(self.policy.catalog_id, self.run)

    @cached_property
    def price_cents(self) -> int:
        if self.price_override_cents is not None:
            return self.price_override_cents
        return self.policy.strategy.price_cents(self)

    @cached_property
    def _running_totals(self) -> ledger_reads.RunningTotals:
        if self.totals is not None:
            return self.totals
        return ledger_reads.running_totals(subsidy=self.policy.subsidy_id, policy_uuid=self.policy.pk)

    @property
    def balance_cents(self) -> int:
        return self._running_totals.balance_cents

    @property
    def policy_spend(self) -> dict[str, int]:
        return self._running_totals.policy_spend

    @cached_property
    def learner_spend(self) -> dict[str, int]:
        if self.learner_spend_read is not None:
            return self.learner_spend_read
        return ledger_reads.policy_spend(self.policy.pk, lms_user_id=self.lms_user_id)

    @property
    def deadline_applies(self) -> bool:
        return not self.forced and not self.policy.is_late_redemption_allowed(self.now)


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


def build_context(
    policy: SubsidyAccessPolicy,
    *,
    lms_user_id: int,
    content_key: str,
    forced: bool = False,
    price_cents: int | None = None,
    link: EnterpriseCustomerUser | None | object = _READ_IT,
    run: CourseRun | None | object = _READ_IT,
    now: dt.datetime | None = None,
    policy_group_ids: frozenset | None = None,
    catalog_membership: tuple[Any, bool] | None = None,
    totals: ledger_reads.RunningTotals | None = None,
    learner_spend: dict[str, int] | None = None,
) -> RedemptionContext:
    """`run` and `link` may come already read (None included: no such run / no link)."""
    if run is _READ_IT:
        run = read_run(content_key)
    if link is _READ_IT:
        link = learner_link(customer=policy.customer_id, lms_user_id=lms_user_id)
    ctx = RedemptionContext(
        policy=policy,
        lms_user_id=lms_user_id,
        content_key=content_key,
        run=run,
        link=link,
        forced=forced,
        price_override_cents=price_cents,
        now=now or timezone.now(),
        policy_group_ids=policy_group_ids,
        catalog_membership=catalog_membership,
        totals=totals,
        learner_spend_read=learner_spend,
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


def evaluate(ctx: RedemptionContext) -> Verdict:
    """DOMAIN.md's checks, in its order. The first failing check gives the reason."""
    policy = ctx.policy
    if not policy.active or policy.retired or policy.is_deleted:
        return _refuse(ctx, reasons.POLICY_EXPIRED)
    if ctx.link is None or not ctx.link.active:
        return _refuse(ctx, reasons.LEARNER_NOT_IN_ENTERPRISE)
    group_ids = ctx.group_ids()
    if group_ids and not ctx.link.groups.filter(pk__in=group_ids).exists():
        return _refuse(ctx, reasons.LEARNER_NOT_IN_ENTERPRISE_GROUP)
    if ctx.run is None or not ctx.catalog_contains_run():
        return _refuse(ctx, reasons.CONTENT_NOT_IN_CATALOG)
    if ctx.deadline_applies and ctx.run.is_past_enroll_by(ctx.now):
        return _refuse(ctx, reasons.BEYOND_ENROLLMENT_DEADLINE)
    if not policy.subsidy.is_active(ctx.now):
        return _refuse(ctx, reasons.SUBSIDY_EXPIRED)
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
