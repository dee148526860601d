"""Reads about forced redemptions, including the dry-run "check redeemability"."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from catalog.selectors import get_course_run
from common.errors import DomainError
from customers.models import EnterpriseCustomerUser
from customers.selectors import require_known_learner
from forced_redemptions.errors import ForcedRedemptionReversed
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.services import ensure_not_duplicate, redemption_metadata
from fulfillment.backends import EnrollmentRequest
from fulfillment.services import check_enrollable
from policies.redeemability import can_redeem


@dataclass(frozen=True)
class ForcedCheck:
    """What redeeming now would do, computed without writing anything."""

    can_redeem: bool
    reason: str | None
    message: str
    price_cents: int | None = None
    balance_cents: int | None = None
    policy_spent_cents: int | None = None
    policy_spend_available_cents: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_forced(record: ForcedPolicyRedemption) -> ForcedCheck:
    """Dry run of `redeem_forced` for a saved or unsaved record: same checks, no writes."""
    if record.reversed_at:
        return ForcedCheck(
            False,
            ForcedRedemptionReversed.reason,
            f"Redeemed and then reversed (transaction {record.transaction_uuid}); a reversed forced redemption is "
            f"not redeemed again. Add a new forced redemption instead.",
        )
    if record.redeemed_at:
        return ForcedCheck(False, "already_redeemed", f"Already redeemed (transaction {record.transaction_uuid}).")
    policy = record.subsidy_access_policy
    try:
        require_known_learner(record.lms_user_id)
        run = get_course_run(record.course_run_key)
        ensure_not_duplicate(
            policy_id=policy.pk,
            lms_user_id=record.lms_user_id,
            course_run_key=run.key,
            exclude_pk=record.pk,
            settle=False,  # a dry run writes nothing
        )
    except DomainError as error:
        return ForcedCheck(False, error.reason, error.message)
    verdict = can_redeem(
        policy, lms_user_id=record.lms_user_id, content_key=run.key, forced=True, price_cents=record.content_price_cents
    )
    numbers = {
        "price_cents": verdict.price_cents,
        "balance_cents": verdict.balance_cents,
        "policy_spent_cents": verdict.policy_spent_cents,
        "policy_spend_available_cents": verdict.policy_spend_available_cents,
    }
    if not verdict.can_redeem:
        return ForcedCheck(False, verdict.reason, verdict.user_message, **numbers)
    metadata = redemption_metadata(record, is_exec_ed=run.course.is_exec_ed) | {"allow_late_enrollment": True}
    request = EnrollmentRequest(
        lms_user_id=record.lms_user_id,
        run=run,
        transaction_uuid=uuid.uuid4(),
        data_sharing_consent_required=policy.customer.data_sharing_consent_required,
        metadata=metadata,
    )
    try:
        check_enrollable(request)
    except DomainError as error:
        return ForcedCheck(False, error.reason, error.message, **numbers)
    return ForcedCheck(True, None, f"Redeemable: {verdict.price_cents} cents would be charged.", **numbers)


def forced_redemptions() -> QuerySet[ForcedPolicyRedemption]:
    """Records with what list pages show, in a constant number of queries (no per-row lookups)."""
    # Correlated on the record's own columns: a reference through the policy would join the policy table
    # into the list's COUNT(*) too, a hash join over every record (see BENCHMARKS.md).
    learner_email = EnterpriseCustomerUser.objects.filter(
        customer__policies=OuterRef("subsidy_access_policy_id"), lms_user_id=OuterRef("lms_user_id")
    ).values("email")[:1]
    return ForcedPolicyRedemption.objects.select_related(
        "subsidy_access_policy", "subsidy_access_policy__customer", "created_by", "modified_by"
    ).annotate(learner_email=Subquery(learner_email))
