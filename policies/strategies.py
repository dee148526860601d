"""One strategy per policy type: its priority, its price, its limits and its reason checks.

`can_redeem` (redeemability.py) runs the common checks in DOMAIN.md's order, then asks the strategy
for step 8. The redemption unit (services.py) calls `prepare_forced` and `after_redeem` around it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assignments import selectors as assignment_selectors
from assignments import services as assignment_services
from assignments.models import AssignmentState
from policies import reasons
from policies.models import PolicyType

if TYPE_CHECKING:
    from policies.redeemability import RedemptionContext


class PolicyStrategy:
    priority = 1

    def load(self, ctx: RedemptionContext) -> None:
        """Read what this type needs into the context (before the price is known)."""

    def price_cents(self, ctx: RedemptionContext) -> int:
        return ctx.run.price_cents

    def pending_spend_cents(self, ctx: RedemptionContext) -> int:
        """Spend not yet in the ledger that still counts against the policy's spend limit."""
        return 0

    def learner_reason(self, ctx: RedemptionContext) -> str | None:
        return None

    def prepare_forced(self, ctx: RedemptionContext) -> None:
        """Inside the unit of work, before the checks, when a redemption is forced."""

    def after_redeem(self, ctx: RedemptionContext, transaction_uuid) -> None:
        """Inside the unit of work, after the enrollment."""


def reads_and_writes_nothing_of_its_own(strategy: PolicyStrategy) -> bool:
    """A type whose redemption has no hooks of its own (not the assigned one): what bulk steps may batch."""
    return all(
        getattr(type(strategy), hook) is getattr(PolicyStrategy, hook)
        for hook in ("load", "prepare_forced", "after_redeem")
    )


class PerLearnerEnrollmentStrategy(PolicyStrategy):
    def learner_reason(self, ctx: RedemptionContext) -> str | None:
        limit = ctx.policy.per_learner_enrollment_limit
        if limit is not None and ctx.learner_spend["redemptions"] + 1 > limit:
            return reasons.LEARNER_MAX_ENROLLMENTS_REACHED
        return None


class PerLearnerSpendStrategy(PolicyStrategy):
    def learner_reason(self, ctx: RedemptionContext) -> str | None:
        limit = ctx.policy.per_learner_spend_limit_cents
        if limit is not None and ctx.learner_spend["spent_cents"] + ctx.price_cents > limit:
            return reasons.LEARNER_MAX_SPEND_REACHED
        return None


_ASSIGNMENT_STATE_REASONS = {
    AssignmentState.CANCELLED: reasons.LEARNER_ASSIGNMENT_CANCELLED,
    AssignmentState.ERRORED: reasons.LEARNER_ASSIGNMENT_FAILED,
    AssignmentState.EXPIRED: reasons.LEARNER_ASSIGNMENT_EXPIRED,
    AssignmentState.REVERSED: reasons.LEARNER_ASSIGNMENT_REVERSED,
}


class AssignedStrategy(PolicyStrategy):
    """Learners redeem only what was allocated to them, at the allocated price."""

    priority = 0

    def load(self, ctx: RedemptionContext) -> None:
        if ctx.link is None:
            return
        ctx.assignment = assignment_selectors.learner_assignment(
            configuration_id=ctx.policy.assignment_configuration_id,
            lms_user_id=ctx.lms_user_id,
            email=ctx.link.email,
            content_key=ctx.run.key,
        )
        if ctx.forced and not _reusable_when_forced(ctx):
            # A forced redemption allocates (or re-allocates) inside its unit; judge it as if done.
            ctx.will_allocate = True

    def price_cents(self, ctx: RedemptionContext) -> int:
        if ctx.assignment is not None and not ctx.will_allocate:
            return -ctx.assignment.content_quantity
        return ctx.run.price_cents

    def pending_spend_cents(self, ctx: RedemptionContext) -> int:
        allocated = assignment_selectors.allocated_total_cents(ctx.policy.assignment_configuration_id)
        own = ctx.assignment
        if own is not None and own.state == AssignmentState.ALLOCATED:
            allocated += own.content_quantity  # this redemption spends its own allocation
        return allocated

    def learner_reason(self, ctx: RedemptionContext) -> str | None:
        if ctx.will_allocate:
            return None
        if ctx.assignment is None:
            return reasons.LEARNER_NOT_ASSIGNED_CONTENT
        if ctx.assignment.state == AssignmentState.ALLOCATED:
            return None
        # Accepted means already redeemed: nothing allocated is left (a repeat returns the transaction).
        return _ASSIGNMENT_STATE_REASONS.get(ctx.assignment.state, reasons.LEARNER_NOT_ASSIGNED_CONTENT)

    def prepare_forced(self, ctx: RedemptionContext) -> None:
        if not ctx.will_allocate or ctx.policy.assignment_configuration is None:
            return
        ctx.assignment, _ = assignment_services.allocate(
            configuration=ctx.policy.assignment_configuration,
            learner_email=ctx.link.email,
            lms_user_id=ctx.lms_user_id,
            content_key=ctx.run.key,
            content_title=ctx.run.course.title,
            price_cents=ctx.price_cents,
            notify=False,
            note=assignment_services.allocated_by_forcing_note(ctx.forced_by),
        )
        ctx.will_allocate = False

    def after_redeem(self, ctx: RedemptionContext, transaction_uuid) -> None:
        if ctx.assignment is not None:
            assignment = assignment_services.lock_assignment(ctx.assignment.pk)
            note = assignment_services.redeemed_by_forcing_note(ctx.forced_by) if ctx.forced else ""
            assignment_services.mark_redeemed(
                assignment, transaction_uuid=transaction_uuid, lms_user_id=ctx.lms_user_id, note=note
            )


def _reusable_when_forced(ctx: RedemptionContext) -> bool:
    """A forced redemption redeems the learner's allocated assignment as it stands (at its price),
    unless staff set a different price; any other state it re-allocates."""
    assignment = ctx.assignment
    if assignment is None:
        return False
    if assignment.state == AssignmentState.ACCEPTED:
        return True
    return assignment.state == AssignmentState.ALLOCATED and ctx.price_override_cents in (
        None,
        -assignment.content_quantity,
    )


_STRATEGIES: dict[str, PolicyStrategy] = {
    PolicyType.PER_LEARNER_ENROLLMENT: PerLearnerEnrollmentStrategy(),
    PolicyType.PER_LEARNER_SPEND: PerLearnerSpendStrategy(),
    PolicyType.ASSIGNED: AssignedStrategy(),
}


def strategy_for(policy_type: str) -> PolicyStrategy:
    return _STRATEGIES[policy_type]
