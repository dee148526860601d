"""Writing an outcome on a forced-redemption record, and the attempt row that keeps it (every attempt on record)."""

from __future__ import annotations

import functools

from django.db import transaction
from django.utils import timezone

from common import events
from common.errors import DomainError
from common.prepared import insert_new
from forced_redemptions.errors import ForcedRedemptionReversed
from forced_redemptions.models import RECORD_HISTORY, AttemptOutcome, ForcedPolicyRedemption, ForcedRedemptionAttempt
from policies.settlement import failure_message
from subsidies.models import Transaction


def user_or_none(actor):
    return actor if getattr(actor, "pk", None) else None


def save_record(record: ForcedPolicyRedemption) -> None:
    """Save the record with its history row. A new one (the redemption unit's usual case, under the ledger
    locks) is two inserts whose SQL is built once (common/prepared.py), its history row made from the same
    parts simple-history uses (user, change reason, included fields); a change is an ordinary save."""
    if not record._state.adding:
        record.save()
        return
    insert_new(record)
    insert_new(creation_history(record))


@functools.cache
def _history_model(model):
    return model.history.model  # simple-history builds a manager (and inspects it) on every `.history`


def creation_history(record: ForcedPolicyRedemption):
    """The history row ("created") of a new record, from the parts simple-history uses."""
    history_model = _history_model(type(record))
    attrs = {field.attname: getattr(record, field.attname) for field in RECORD_HISTORY.fields_included(record)}
    return history_model(
        history_date=timezone.now(),
        history_type="+",
        history_user=RECORD_HISTORY.get_history_user(record),
        history_change_reason=RECORD_HISTORY.get_change_reason_for_object(record, "+", None),
        **attrs,
    )


def record_attempt(record, actor, outcome: str, **fields) -> ForcedPolicyRedemption:
    attempt = ForcedRedemptionAttempt(
        forced_redemption=record, attempted_by=user_or_none(actor), outcome=outcome, **fields
    )
    insert_new(attempt)
    record.last_attempt = attempt
    announce(record, attempt)
    return record


def announce(record: ForcedPolicyRedemption, attempt: ForcedRedemptionAttempt) -> None:
    """Tell the attempt (event and metric) once it is on record: after the commit, so not under the ledger
    locks, and never for an attempt a rollback took back."""
    event = functools.partial(
        events.forced_attempt,
        outcome=attempt.outcome,
        forced_redemption_uuid=record.uuid,
        policy_uuid=record.subsidy_access_policy_id,
        lms_user_id=record.lms_user_id,
        course_run_key=record.course_run_key,
        transaction_uuid=attempt.transaction_uuid,
        reason=attempt.reason_code,
    )
    transaction.on_commit(event)


def redeemed_message(entry: Transaction) -> str:
    return f"Redeemed: transaction {entry.uuid}, charged {-entry.quantity} cents."


def note_pending(record: ForcedPolicyRedemption, actor, entry: Transaction, again: bool = False):
    record.transaction_uuid = entry.uuid
    record.errored_at = None
    record.error_reason = record.error_message = record.traceback = ""
    record.modified_by = user_or_none(actor) or record.modified_by
    save_record(record)
    reserved = -entry.quantity
    if again:
        message = (
            f"Still pending: transaction {entry.uuid} ({reserved} cents reserved) waits for the LMS; nothing was "
            f"charged again. It settles by itself (retries, reconciler), or from the fulfillment job's page."
        )
    else:
        message = (
            f"Pending: {reserved} cents reserved (transaction {entry.uuid}); the enrollment is being made "
            f"downstream. The record becomes redeemed when the LMS confirms it, or errored if it refuses."
        )
    return record_attempt(
        record, actor, AttemptOutcome.PENDING, transaction_uuid=entry.uuid, charged_cents=0, message=message
    )


def note_success(record: ForcedPolicyRedemption, actor, entry: Transaction) -> ForcedPolicyRedemption:
    record.redeemed_at = timezone.now()
    record.transaction_uuid = entry.uuid
    record.charged_cents = -entry.quantity
    record.errored_at = None
    record.error_reason = record.error_message = record.traceback = ""
    record.modified_by = user_or_none(actor) or record.modified_by
    save_record(record)
    return record_attempt(
        record,
        actor,
        AttemptOutcome.REDEEMED,
        transaction_uuid=entry.uuid,
        charged_cents=record.charged_cents,
        message=redeemed_message(entry),
    )


def note_already_redeemed(record: ForcedPolicyRedemption, actor) -> ForcedPolicyRedemption:
    redeemed = f"Already redeemed on {record.redeemed_at:%Y-%m-%d %H:%M:%S} UTC (transaction {record.transaction_uuid})"
    if record.reversed_at:
        return record_attempt(
            record,
            actor,
            AttemptOutcome.ALREADY_REDEEMED,
            reason_code=ForcedRedemptionReversed.reason,
            transaction_uuid=record.transaction_uuid,
            charged_cents=0,
            message=f"{redeemed} and reversed on {record.reversed_at:%Y-%m-%d %H:%M:%S} UTC; a reversed forced "
            f"redemption is not redeemed again and nothing was charged. Add a new forced redemption instead.",
        )
    return record_attempt(
        record,
        actor,
        AttemptOutcome.ALREADY_REDEEMED,
        transaction_uuid=record.transaction_uuid,
        charged_cents=0,
        message=f"{redeemed}; nothing was charged again.",
    )


def note_failure(record: ForcedPolicyRedemption, actor, error: Exception, trace: str = "") -> ForcedPolicyRedemption:
    if isinstance(error, DomainError):
        reason, message = error.reason, failure_message(error)
    else:
        reason, message = (
            "unexpected_error",
            f"Unexpected error ({type(error).__name__}): {error}. Nothing was charged.",
        )
    record.errored_at = timezone.now()
    record.error_reason = reason
    record.error_message = message
    record.traceback = trace
    record.modified_by = user_or_none(actor) or record.modified_by
    save_record(record)
    return record_attempt(record, actor, AttemptOutcome.ERRORED, reason_code=reason, message=message, traceback=trace)
