"""`can_redeem`: the one place that decides whether a learner may redeem content under a policy.

Read-only. The redemption unit (services.py) calls the same `evaluate` while holding its locks, so the
admin's "check redeemability", the API's can-redeem and the real redemption can never disagree.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone

from assignments.models import LearnerContentAssignment
from catalog.models import Catalog, CourseRun
from common.prepared import PreparedRead
from customers.models import EnterpriseCustomerUser
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
    policy_has_groups: bool  # the policy has groups (none: every linked learner)
    in_catalog: bool  # the policy's catalog holds the run
    learner_in_groups: bool  # the learner is in one of those groups
    totals: ledger_reads.RunningTotals  # the subsidy's balance and the policy's spend
    learner_spend: dict[str, int]  # the learner's spend and redemptions under the policy
    forced: bool = False
    forced_by: str = ""  # what forced it (a forced redemption's uuid), for the assignment's timeline
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


@dataclass(frozen=True)
class ContentRead:
    """What one statement tells of the content under a policy: the run (with its course), whether the policy's
    catalog (`catalog_id`, as it was when read) holds it, whether the policy has groups, and any extra
    annotations the caller asked for (the forced unit's duplicate check)."""

    content_key: str
    run: CourseRun | None
    catalog_id: Any
    in_catalog: bool
    policy_has_groups: bool
    extra: dict[str, Any] = field(default_factory=dict)


def _policy_groups(policy_pk):
    """The policy's group memberships (its m2m rows)."""
    return SubsidyAccessPolicy.groups.through.objects.filter(subsidyaccesspolicy_id=policy_pk)


def content_query(policy_pk, catalog_id, key, **annotations):
    """The query of `read_content`, with the caller's extra annotations."""
    return (
        CourseRun.objects.select_related("course")
        .filter(key=key)
        .annotate(
            in_catalog=Exists(
                Catalog.courses.through.objects.filter(catalog_id=catalog_id, course_id=OuterRef("course_id"))
            ),
            policy_has_groups=Exists(_policy_groups(policy_pk)),
            **annotations,
        )
    )


_CONTENT = PreparedRead(content_query, policy_pk=uuid.uuid4(), catalog_id=uuid.uuid4(), key="course-v1:A+B+C")


def read_content(
    policy: SubsidyAccessPolicy,
    content_key: str,
    *,
    prepared: PreparedRead = _CONTENT,
    extra_names: tuple[str, ...] = (),
    **params,
) -> ContentRead:
    """The run, its catalog membership and the policy's having groups, in one query. No lock protects them:
    the redemption unit reads them before its locks (again, if the locked policy names another catalog).

    `prepared`: a variant of this read with extra annotations (built on `content_query`), given `params`;
    the annotations named in `extra_names` come back in `extra`.
    """
    run = prepared.first(policy_pk=policy.pk, catalog_id=policy.catalog_id, key=content_key, **params)
    if run is None:  # unknown content: the groups still decide the learner's reason, which comes first
        has_groups = _policy_groups(policy.pk).exists()
        return ContentRead(
            content_key=content_key,
            run=None,
            catalog_id=policy.catalog_id,
            in_catalog=False,
            policy_has_groups=has_groups,
        )
    return ContentRead(
        content_key=content_key,
        run=run,
        catalog_id=policy.catalog_id,
        in_catalog=run.in_catalog,
        policy_has_groups=run.policy_has_groups,
        extra={name: getattr(run, name) for name in extra_names},
    )


def read_content_once(contents: dict, policy: SubsidyAccessPolicy, content_key: str) -> ContentRead:
    """`read_content`, kept in `contents` (the caller's, e.g. for a whole batch): a run and its catalog
    membership are read once however many rows name them."""
    key = (policy.pk, policy.catalog_id, content_key)
    if key not in contents:
        contents[key] = read_content(policy, content_key)
    return contents[key]


def _in_groups(policy_pk) -> Exists:
    groups = _policy_groups(policy_pk).values("enterprisegroup_id")
    return Exists(
        EnterpriseCustomerUser.groups.through.objects.filter(
            enterprisecustomeruser_id=OuterRef("pk"), enterprisegroup_id__in=groups
        )
    )


def _link_query(*, with_groups: bool, lock: bool):
    def build(customer_id, lms_user_id, policy_pk=None):
        links = EnterpriseCustomerUser.objects.filter(customer_id=customer_id, lms_user_id=lms_user_id)
        if lock:
            links = links.select_for_update()
        if with_groups:
            links = links.annotate(in_groups=_in_groups(policy_pk))
        return links

    samples = {"customer_id": uuid.uuid4(), "lms_user_id": 1}
    if with_groups:
        samples["policy_pk"] = uuid.uuid4()
    return PreparedRead(build, **samples)


_LINKS = {
    (groups, lock): _link_query(with_groups=groups, lock=lock) for groups in (False, True) for lock in (False, True)
}


def read_link(policy: SubsidyAccessPolicy, lms_user_id: int, *, with_groups: bool, lock: bool = False):
    """The learner's link to the policy's customer (active or not; None if never linked), with `in_groups`
    (in one of the policy's groups, when it has some), in one query; `lock`: row-locked for the unit."""
    params = {"customer_id": policy.customer_id, "lms_user_id": lms_user_id}
    if with_groups:
        params["policy_pk"] = policy.pk
    link = _LINKS[(with_groups, lock)].first(**params)
    if link is not None and not with_groups:
        link.in_groups = False
    return link


def build_context(
    policy: SubsidyAccessPolicy,
    *,
    lms_user_id: int,
    content_key: str,
    forced: bool = False,
    late_enrollment: bool = False,
    price_cents: int | None = None,
    link: EnterpriseCustomerUser | None | object = _READ_IT,
    content: ContentRead | None = None,
    now: dt.datetime | None = None,
    totals: ledger_reads.RunningTotals | None = None,
    learner_spend: dict[str, int] | None = None,
) -> RedemptionContext:
    """Read what the decision needs, unless the caller has read it already (the redemption unit reads some
    before its locks and the money under them); the context is complete when this returns. A `link` the
    caller read must come from `read_link` (it carries `in_groups`)."""
    if content is None or content.catalog_id != policy.catalog_id or content.content_key != content_key:
        content = read_content(policy, content_key)
    if link is _READ_IT:
        link = read_link(policy, lms_user_id, with_groups=content.policy_has_groups)
    linked = link is not None and link.active
    if totals is None:
        totals = ledger_reads.running_totals(subsidy=policy.subsidy_id, policy_uuid=policy.pk)
    if learner_spend is None:
        learner_spend = ledger_reads.policy_spend(policy.pk, lms_user_id=lms_user_id)
    ctx = RedemptionContext(
        policy=policy,
        lms_user_id=lms_user_id,
        content_key=content_key,
        run=content.run,
        link=link,
        policy_has_groups=content.policy_has_groups,
        in_catalog=content.in_catalog,
        learner_in_groups=bool(linked and content.policy_has_groups and link.in_groups),
        totals=totals,
        learner_spend=learner_spend,
        forced=forced,
        late_enrollment=late_enrollment,
        price_override_cents=price_cents,
        now=now or timezone.now(),
    )
    if content.run is not None:
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
    if reason := learner_refusal(ctx.link, policy_has_groups=ctx.policy_has_groups, in_groups=ctx.learner_in_groups):
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
