"""Reads about forced redemptions: the dry-run "check redeemability", the pre-charge input check, list reads."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from catalog.errors import ContentNotFound
from catalog.selectors import get_course_run
from common.errors import DomainError
from customers.errors import LearnerNotFound
from customers.models import EnterpriseCustomerUser
from customers.selectors import learner_exists, require_known_learner
from forced_redemptions.errors import ForcedRedemptionArchived, ForcedRedemptionReversed, UnredeemableInput
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.next_steps import next_step
from forced_redemptions.services import ensure_not_duplicate, redemption_metadata
from fulfillment.backends import EnrollmentRequest
from fulfillment.errors import MissingExecEdData
from fulfillment.services import check_enrollable
from policies import reasons
from policies.redeemability import can_redeem, learner_refusal, read_content, read_link

# The form field behind each piece of exec-ed data the provider needs (fulfillment.services.EXEC_ED_REQUIRED).
_EXEC_ED_FIELD_OF = {
    "first name": "learner_first_name",
    "last name": "learner_last_name",
    "date of birth": "learner_date_of_birth",
    "terms accepted at": "learner_terms_accepted_at",
    "data-sharing consent": "learner_data_share_consent",
    "email": "lms_user_id",  # the email comes from the learner's link
}


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
    if record.archived_at:
        return ForcedCheck(
            False,
            ForcedRedemptionArchived.reason,
            f"Archived on {record.archived_at:%Y-%m-%d %H:%M} UTC; an archived forced redemption is not redeemed "
            f"again. Add a new forced redemption instead.",
        )
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
    return verdict_check(record, run, verdict)


def verdict_check(record: ForcedPolicyRedemption, run, verdict) -> ForcedCheck:
    """The check's answer from `can_redeem`'s verdict: refused, or what fulfillment would say of it."""
    numbers = verdict_numbers(verdict)
    if not verdict.can_redeem:
        return ForcedCheck(False, verdict.reason, verdict.user_message, **numbers)
    try:
        check_enrollable(dry_enrollment_request(record, run))
    except DomainError as error:
        return ForcedCheck(False, error.reason, error.message, **numbers)
    return ForcedCheck(True, None, f"Redeemable: {verdict.price_cents} cents would be charged.", **numbers)


def verdict_numbers(verdict) -> dict[str, int | None]:
    return {
        "price_cents": verdict.price_cents,
        "balance_cents": verdict.balance_cents,
        "policy_spent_cents": verdict.policy_spent_cents,
        "policy_spend_available_cents": verdict.policy_spend_available_cents,
    }


def dry_enrollment_request(record: ForcedPolicyRedemption, run) -> EnrollmentRequest:
    """What redeeming the record would ask fulfillment (with a throwaway transaction uuid): for checks."""
    return EnrollmentRequest(
        lms_user_id=record.lms_user_id,
        run=run,
        transaction_uuid=uuid.uuid4(),
        data_sharing_consent_required=record.subsidy_access_policy.customer.data_sharing_consent_required,
        metadata=redemption_metadata(record, is_exec_ed=run.course.is_exec_ed) | {"allow_late_enrollment": True},
    )


def require_redeemable_input(record: ForcedPolicyRedemption) -> None:
    """The pre-charge check of a record about to be redeemed: raise UnredeemableInput (writing nothing) when it
    names an unknown learner or run, a learner not linked to the policy's customer or groups, a run outside the
    policy's catalog, or exec-ed content without the learner data the provider needs.

    Every problem found is named on its field (`field_errors`); the error's reason is the first one's code.
    The checks are the redemption's own (policies.redeemability's reads and learner rule, fulfillment's exec-ed
    check), asked whatever the money says, so a refusal about money cannot hide an input mistake. The
    redemption asks them all again under its locks.
    """
    policy = record.subsidy_access_policy
    customer = policy.customer
    problems: list[tuple[str, str, str | None]] = []  # (reason, what is wrong, field)
    content = read_content(policy, record.course_run_key)
    link = read_link(policy, record.lms_user_id, with_groups=content.policy_has_groups)
    in_groups = bool(link is not None and link.active and content.policy_has_groups and link.in_groups)
    learner = learner_refusal(link, policy_has_groups=content.policy_has_groups, in_groups=in_groups)
    if learner == reasons.LEARNER_NOT_IN_ENTERPRISE and link is None and not learner_exists(record.lms_user_id):
        problems.append(
            (
                LearnerNotFound.reason,
                f"No learner with LMS user id {record.lms_user_id} is known here (linked to no customer).",
                "lms_user_id",
            )
        )
    elif learner == reasons.LEARNER_NOT_IN_ENTERPRISE:
        was = "was unlinked from" if link is not None else "is not linked to"
        problems.append((learner, f"Learner {record.lms_user_id} {was} {customer.name}.", "lms_user_id"))
    elif learner is not None:
        problems.append(
            (
                learner,
                f"Learner {record.lms_user_id} is linked to {customer.name} but in none of the groups of the "
                f"policy “{policy.display_name}”.",
                "lms_user_id",
            )
        )
    run = content.run
    if run is None:
        problems.append(
            (ContentNotFound.reason, f"No course run {record.course_run_key!r} is known here.", "course_run_key")
        )
    elif not content.in_catalog:
        problems.append(
            (
                reasons.CONTENT_NOT_IN_CATALOG,
                f"{run.key} ({run.course.title}) is not in the catalog of the policy “{policy.display_name}”.",
                "course_run_key",
            )
        )
    elif run.course.is_exec_ed and learner is None:
        problems += _exec_ed_problems(record, run)
    if not problems:
        return
    reason = problems[0][0]
    field_errors: dict[str, list[str]] = {}
    for _code, text, field in problems:
        field_errors.setdefault(field or "non_field_errors", []).append(text)
    said = " ".join(text for _, text, _ in problems)
    steps = " ".join(dict.fromkeys(f"Next step: {next_step(code)}" for code, _, _ in problems))
    raise UnredeemableInput(
        f"{said} {steps} Nothing was saved or charged.",
        reason=reason,
        field_errors=field_errors,
        reasons=[code for code, _, _ in problems],
    )


def _exec_ed_problems(record: ForcedPolicyRedemption, run) -> list[tuple[str, str, str | None]]:
    """What the exec-ed provider would miss: the fulfillment check itself, on the metadata the redemption sends."""
    request = dry_enrollment_request(record, run)  # an exec-ed run
    try:
        check_enrollable(request)
    except MissingExecEdData as error:
        missing = error.details.get("missing") or []
        if not missing:
            return [(error.reason, error.message, None)]
        return [
            (error.reason, f"{run.key} is executive education: the provider needs the learner's {label}.", field)
            for label in missing
            for field in [_EXEC_ED_FIELD_OF.get(label)]
        ]
    except Exception:  # noqa: BLE001 - not about the input (the backend, an enrollment there): the attempt records it
        pass
    return []


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
