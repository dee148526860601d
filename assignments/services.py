"""Assignment writes. Policies call these inside their own units of work.

Notifications go out through `transaction.on_commit`, so a rolled-back unit sends nothing.
"""

from __future__ import annotations

from uuid import UUID

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from assignments.models import (
    ActionType,
    AssignmentConfiguration,
    AssignmentState,
    LearnerContentAssignment,
    LearnerContentAssignmentAction,
)


def record_action(
    assignment: LearnerContentAssignment, action_type: str, *, error_reason: str = "", note: str = ""
) -> LearnerContentAssignmentAction:
    return LearnerContentAssignmentAction.objects.create(
        assignment=assignment,
        action_type=action_type,
        completed_at=timezone.now(),
        error_reason=error_reason,
        note=note,
    )


def _notify_allocated(assignment: LearnerContentAssignment) -> None:
    def send() -> None:
        send_mail(
            subject="You have been assigned a course",
            message=f"Your organisation has assigned you {assignment.content_title or assignment.content_key}.",
            from_email=None,
            recipient_list=[assignment.learner_email],
        )
        record_action(assignment, ActionType.NOTIFIED)

    transaction.on_commit(send)


def allocate(
    *,
    configuration: AssignmentConfiguration,
    learner_email: str,
    lms_user_id: int | None,
    content_key: str,
    content_title: str,
    price_cents: int,
    notify: bool = True,
    note: str = "",
) -> tuple[LearnerContentAssignment, str]:
    """Create or re-allocate one assignment. Returns (assignment, "created" | "updated" | "no_change").

    Budget checks belong to the caller (policies), which holds the subsidy and policy locks.
    """
    assignment = (
        LearnerContentAssignment.objects.select_for_update()
        .filter(
            assignment_configuration=configuration,
            learner_email__iexact=learner_email,
            content_key=content_key,
        )
        .first()
    )
    if assignment is None:
        assignment = LearnerContentAssignment(
            assignment_configuration=configuration,
            learner_email=learner_email,
            lms_user_id=lms_user_id,
            content_key=content_key,
            content_title=content_title,
            content_quantity=-price_cents,
        )
        assignment._change_reason = note or None  # the history row says who allocated it, as the timeline does
        assignment.save()
        outcome = "created"
    elif assignment.state in (AssignmentState.ALLOCATED, AssignmentState.ACCEPTED) and (
        assignment.content_quantity == -price_cents
    ):
        if lms_user_id and assignment.lms_user_id != lms_user_id:
            assignment.lms_user_id = lms_user_id
            assignment.save(update_fields=["lms_user_id", "modified"])
        return assignment, "no_change"
    elif assignment.state == AssignmentState.ACCEPTED:
        return assignment, "no_change"
    else:
        assignment.state = AssignmentState.ALLOCATED
        assignment.content_quantity = -price_cents
        assignment.lms_user_id = lms_user_id or assignment.lms_user_id
        assignment.transaction_uuid = None
        assignment._change_reason = note or None
        assignment.save()
        outcome = "updated"
    record_action(assignment, ActionType.ALLOCATED, note=note)
    if notify:
        _notify_allocated(assignment)
    return assignment, outcome


def lock_assignment(assignment_uuid: UUID) -> LearnerContentAssignment:
    return LearnerContentAssignment.objects.select_for_update().get(pk=assignment_uuid)


def mark_redeemed(
    assignment: LearnerContentAssignment, *, transaction_uuid: UUID, lms_user_id: int, note: str = ""
) -> None:
    assignment.state = AssignmentState.ACCEPTED
    assignment.transaction_uuid = transaction_uuid
    assignment.lms_user_id = lms_user_id
    assignment._change_reason = note or None
    assignment.save(update_fields=["state", "transaction_uuid", "lms_user_id", "modified"])
    record_action(assignment, ActionType.REDEEMED, note=note)


# The timeline note of an allocation a forced redemption made for itself; older entries do not name the record.
ALLOCATED_BY_FORCING = "Allocated by a forced redemption."
_ALLOCATED_BY_FORCING_NAMED = "Allocated by a forced redemption ("


def allocated_by_forcing_note(forced_by: str = "") -> str:
    """The note of an allocation made by a forced redemption; `forced_by` names it (its uuid)."""
    return f"{_ALLOCATED_BY_FORCING_NAMED}{forced_by})." if forced_by else ALLOCATED_BY_FORCING


def redeemed_by_forcing_note(forced_by: str = "") -> str:
    return f"Redeemed by a forced redemption ({forced_by})." if forced_by else "Redeemed by a forced redemption."


def _allocated_by_forcing(note: str) -> bool:
    return note == ALLOCATED_BY_FORCING or note.startswith(_ALLOCATED_BY_FORCING_NAMED)


def release_after_failed_redemption(*, transaction_uuid: UUID, reason: str, message: str) -> None:
    """A redemption that had accepted an assignment failed: give the allocation back.

    An assignment a forced redemption created for itself is deleted (the failure leaves no stray allocation
    holding the policy's money, as if the unit had never run); one it re-allocated is cancelled; any other
    goes back to allocated, its timeline saying why.
    """
    for assignment in LearnerContentAssignment.objects.select_for_update().filter(transaction_uuid=transaction_uuid):
        allocations = list(assignment.actions.filter(action_type=ActionType.ALLOCATED).order_by("created"))
        forced_made_it = bool(allocations) and _allocated_by_forcing(allocations[-1].note)
        if forced_made_it and len(allocations) == 1:
            assignment.delete()
            continue
        assignment.state = AssignmentState.CANCELLED if forced_made_it else AssignmentState.ALLOCATED
        assignment.transaction_uuid = None
        assignment.save(update_fields=["state", "transaction_uuid", "modified"])
        record_action(assignment, ActionType.ERRORED, error_reason=reason[:255], note=message)


def mark_reversed(*, transaction_uuid: UUID) -> None:
    for assignment in LearnerContentAssignment.objects.filter(transaction_uuid=transaction_uuid):
        assignment.state = AssignmentState.REVERSED
        assignment.save(update_fields=["state", "modified"])
        record_action(assignment, ActionType.REVERSED)


def cancel(assignment: LearnerContentAssignment) -> None:
    if assignment.state != AssignmentState.ALLOCATED:
        return
    assignment.state = AssignmentState.CANCELLED
    assignment.save(update_fields=["state", "modified"])
    record_action(assignment, ActionType.CANCELLED)
