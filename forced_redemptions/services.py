"""Forcing a redemption (ADR 0019): create, change, redeem, and check without writing.

`redeem_forced` is the one path every adapter (admin save, admin action, API, management command)
uses. It locks the record first, then calls policies.services.redeem(forced=True), which takes the
ledger locks in the documented order. Success or failure, it writes the outcome on the record and
one ForcedRedemptionAttempt row, in the same transaction as the redemption itself.

`reverse_forced_redemption` undoes a redeemed one (refund + unenroll), the same way: record lock first,
then policies.services.reverse_redemption. A reversal done in the ledger instead (Transaction admin or
API) settles the record in the reversal's transaction (`settle_after_ledger_reversal`) unless the record is
locked at that moment; `settle_if_reversed` is the one place that decides whether a redeemed record
still stands, and every write path asks it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import traceback as tb
from contextvars import ContextVar
from typing import Any

from django.db import transaction
from django.utils import timezone

from catalog.selectors import get_course_run
from common.errors import DomainError, InvalidInput, LockWaitTimeout
from common.locking import bound_lock_wait, lock_errors_as_domain
from customers.selectors import learner_link, require_known_learner
from forced_redemptions.errors import (
    DuplicateForcedRedemption,
    ForcedRedemptionNotRedeemed,
    ForcedRedemptionReversed,
    SettledForcedRedemption,
)
from forced_redemptions.models import (
    STATE_CONDITIONS,
    AttemptOutcome,
    ForcedPolicyRedemption,
    ForcedRedemptionAttempt,
    ForcedState,
)
from fulfillment.services import TERMS_FORMAT
from policies import settlement
from policies.models import SubsidyAccessPolicy
from policies.services import Reservation, complete_redemption, reserve_redemption, reverse_redemption
from policies.settlement import failure_message
from subsidies.errors import AlreadyReversed
from subsidies.models import Reversal, Transaction, TransactionState

# The reason code of the attempt that notes a reversal made in the ledger, not through this app.
REVERSED_IN_LEDGER = "reversed_in_ledger"
SETTLED_FIELDS = ("subsidy_access_policy", "lms_user_id", "course_run_key", "content_price_cents")
# What the external exec-ed provider needs, kept on the record so a later retry still has it.
EXEC_ED_FIELDS = (
    "learner_first_name",
    "learner_last_name",
    "learner_date_of_birth",
    "learner_terms_accepted_at",
    "learner_data_share_consent",
    "external_order_reference",
)
EDITABLE_FIELDS = (*SETTLED_FIELDS, "wait_to_redeem", "reason", *EXEC_ED_FIELDS)


def _user(actor):
    return actor if getattr(actor, "pk", None) else None


def validate_fields(fields: dict[str, Any]) -> None:
    """Field-by-field checks that need no lock. Raises InvalidInput naming each bad field."""
    errors: dict[str, list[str]] = {}
    if not isinstance(fields.get("subsidy_access_policy"), SubsidyAccessPolicy):
        errors["subsidy_access_policy"] = ["Choose a subsidy access policy."]
    lms_user_id = fields.get("lms_user_id")
    if not isinstance(lms_user_id, int) or isinstance(lms_user_id, bool) or lms_user_id <= 0:
        errors["lms_user_id"] = ["Enter the learner's LMS user id (a positive whole number)."]
    if not str(fields.get("course_run_key") or "").strip():
        errors["course_run_key"] = ["Enter the course run key, e.g. course-v1:edX+DemoX+1T2042."]
    price = fields.get("content_price_cents")
    if price is not None and (not isinstance(price, int) or isinstance(price, bool) or price < 0):
        errors["content_price_cents"] = ["Enter a whole number of cents, 0 or more, or leave blank for the list price."]
    if not str(fields.get("reason") or "").strip():
        errors["reason"] = ["Say why this redemption is forced (e.g. a support ticket reference)."]
    if errors:
        raise InvalidInput("The forced redemption is invalid; nothing was saved.", field_errors=errors)


def ensure_not_duplicate(
    *, policy_id, lms_user_id: int, course_run_key: str, exclude_pk=None, settle: bool = True
) -> None:
    """Refuse a second forced redemption of the same three while a redeemed, unreversed one stands.

    A redeemed record whose transaction was reversed in the ledger no longer stands: it is settled as
    reversed here (unless `settle=False`, for dry runs that write nothing) and the new one may proceed.
    """
    redeemed = ForcedPolicyRedemption.objects.filter(
        subsidy_access_policy_id=policy_id,
        lms_user_id=lms_user_id,
        course_run_key=course_run_key,
        redeemed_at__isnull=False,
        reversed_at__isnull=True,
    ).exclude(pk=exclude_pk)
    for record in redeemed:
        # Read first, lock only a record that no longer stands: a caller may already hold ledger locks,
        # and a standing record's lock comes before them (see reverse_forced_redemption).
        if _reversal_of(record) is None:
            raise DuplicateForcedRedemption(
                f"Learner {lms_user_id} was already force-redeemed into {course_run_key} under this policy "
                f"(forced redemption {record.uuid}, transaction {record.transaction_uuid}). Reverse it first "
                f"(refund and unenroll) if a new redemption is really needed.",
                existing_uuid=str(record.uuid),
            )
        if settle:
            settle_if_reversed(ForcedPolicyRedemption.objects.select_for_update().get(pk=record.pk))


def _reversal_of(record: ForcedPolicyRedemption) -> Reversal | None:
    if record.transaction_uuid is None:
        return None
    return Reversal.objects.select_related("created_by").filter(transaction_id=record.transaction_uuid).first()


def settle_if_reversed(record: ForcedPolicyRedemption) -> bool:
    """Whether a redeemed record's transaction was reversed; if it was, the record says so from now on.

    The one rule for "does a redeemed forced redemption still stand": not once its transaction has a
    reversal, wherever it was made. A reversal made in the ledger knows nothing of forced redemptions, so
    the record learns of it here: `reversed_at` becomes the reversal's time and an attempt notes it.
    The caller holds the record's row lock.
    """
    if record.reversed_at:
        return True
    reversal = _reversal_of(record) if record.redeemed_at else None
    if reversal is None:
        return False
    record.reversed_at = reversal.created
    record.save()
    _attempt(
        record,
        reversal.created_by,
        AttemptOutcome.REVERSED,
        reason_code=REVERSED_IN_LEDGER,
        transaction_uuid=record.transaction_uuid,
        charged_cents=-reversal.quantity,
        message=f"Reversed in the ledger on {reversal.created:%Y-%m-%d %H:%M:%S} UTC by {reversal.created_by or '-'}"
        f": refunded {reversal.quantity} cents (transaction {record.transaction_uuid}). "
        f"Reason: {reversal.reason or '-'}",
    )
    return True


# Records whose reversal this process is making through reverse_forced_redemption, which notes it itself.
_reversing_here: ContextVar[tuple] = ContextVar("forced_redemptions_reversing_here", default=())


def settle_after_ledger_reversal(sender, *, entry: Transaction, **kwargs) -> None:
    """Receiver of policies.signals.redemption_reversed: a reversal made in the ledger (transaction admin,
    ledger API) settles the forced redemption that made the transaction, in the same transaction.

    The reversal holds the subsidy lock, which comes after the record's lock in the lock order, so the record
    is taken with SKIP LOCKED and never waited for: a record locked at this moment (being redeemed, changed
    or reversed) is left as it is, and settles when next touched (see `settle_if_reversed`).
    """
    records = (
        ForcedPolicyRedemption.objects.select_for_update(skip_locked=True)
        .filter(transaction_uuid=entry.uuid, redeemed_at__isnull=False, reversed_at__isnull=True)
        .exclude(pk__in=_reversing_here.get())
    )
    for record in records:
        settle_if_reversed(record)


def create_forced_redemption(*, actor, **fields: Any) -> ForcedPolicyRedemption:
    """Save a new forced redemption; unless `wait_to_redeem`, redeem it right away, in the same transaction.

    One transaction, one commit: the record, the redemption (its own savepoint inside `redeem_forced`)
    and the outcome and attempt, which are written whether the redemption succeeds or fails.
    """
    validate_fields(fields)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(
            f"Unknown fields: {', '.join(sorted(unknown))}.", field_errors={f: ["Unknown field."] for f in unknown}
        )
    with transaction.atomic():
        ensure_not_duplicate(
            policy_id=fields["subsidy_access_policy"].pk,
            lms_user_id=fields["lms_user_id"],
            course_run_key=fields["course_run_key"],
        )
        record = ForcedPolicyRedemption(created_by=_user(actor), modified_by=_user(actor), **fields)
        if record.wait_to_redeem:
            record.save()
            return record
        # Not saved yet, so no one else can see or lock it: no record lock. The record is inserted once,
        # with its outcome, then its attempt (one history row, "created" with the outcome it ended with).
        record, reservation = _attempt_redemption(record, actor)
    return _complete(record, reservation)


def update_forced_redemption(*, record: ForcedPolicyRedemption, actor, redeem_now: bool = False, **changes: Any):
    """Change a record. Once redeemed, its policy, learner, run and price are settled."""
    with transaction.atomic():
        current = ForcedPolicyRedemption.objects.select_for_update().get(pk=record.pk)
        if current.redeemed_at:
            touched = [f for f in SETTLED_FIELDS if f in changes and _value(changes[f]) != _value(getattr(current, f))]
            if touched:
                raise SettledForcedRedemption(
                    f"This forced redemption was redeemed on {current.redeemed_at:%Y-%m-%d %H:%M} UTC; "
                    f"{', '.join(touched)} can no longer change. Undo it with a reversal, not an edit.",
                )
        merged = {f: getattr(current, f) for f in EDITABLE_FIELDS} | changes
        validate_fields(merged)
        if not current.redeemed_at:
            ensure_not_duplicate(
                policy_id=merged["subsidy_access_policy"].pk,
                lms_user_id=merged["lms_user_id"],
                course_run_key=merged["course_run_key"],
                exclude_pk=current.pk,
            )
        for name, value in changes.items():
            setattr(current, name, value)
        current.modified_by = _user(actor)
        current.save()
    if redeem_now and not current.redeemed_at:
        current = redeem_forced(record=current, actor=actor)
    return current


def _value(value):
    return getattr(value, "pk", value)


def redeem_forced(*, record: ForcedPolicyRedemption, actor) -> ForcedPolicyRedemption:
    """Redeem a forced redemption exactly once, recording the attempt whatever happens.

    The reservation is made holding the record's lock; with a remote fulfillment backend the downstream
    call follows after that commits (policies.settlement), and its settlement writes the outcome on the
    record (`settle_after_fulfilment`). Returns the refreshed record; `record.last_attempt` is the latest
    attempt. Never raises a domain error: the outcome is on the record (adapters read `state`,
    `error_reason`, `error_message`).
    """
    try:
        with lock_errors_as_domain(), transaction.atomic():
            bound_lock_wait()
            current = ForcedPolicyRedemption.objects.select_for_update().get(pk=record.pk)
            if current.redeemed_at:
                settle_if_reversed(current)
                return _note_already_redeemed(current, actor)
            if current.state == ForcedState.PENDING:
                return _note_pending(current, actor, Transaction.objects.get(pk=current.transaction_uuid), again=True)
            current, reservation = _attempt_redemption(current, actor)
    except LockWaitTimeout as error:
        with transaction.atomic():
            current = ForcedPolicyRedemption.objects.get(pk=record.pk)
            return _note_failure(current, actor, error)
    return _complete(current, reservation)


def _attempt_redemption(record: ForcedPolicyRedemption, actor) -> tuple[ForcedPolicyRedemption, Reservation | None]:
    """Reserve and write the outcome so far on the record (saving it) and one attempt. The caller's
    transaction holds the record's lock, or the record is new and unsaved. The reservation runs in its own
    savepoint, so a refusal has written nothing else by the time it is noted. Returns the reservation still
    to complete (after the caller commits) when the downstream is remote."""
    try:
        reservation = _reserve(record)
    except DomainError as error:
        return _note_failure(record, actor, error), None
    except Exception as error:  # noqa: BLE001 - an unexpected error must still be on record
        return _note_failure(record, actor, error, trace=tb.format_exc()), None
    entry = reservation.transaction
    if reservation.failure is not None:
        return _note_failure(record, actor, reservation.failure), None
    if entry.state == TransactionState.PENDING:
        return _note_pending(record, actor, entry), reservation
    return _note_success(record, actor, entry), None


def _complete(record: ForcedPolicyRedemption, reservation: Reservation | None) -> ForcedPolicyRedemption:
    """The fulfil and settle phases, after the reservation committed; the settlement notes the outcome."""
    if reservation is None:
        return record
    with contextlib.suppress(DomainError):  # a refusal is on the record already (settle_after_fulfilment)
        complete_redemption(reservation)
    current = ForcedPolicyRedemption.objects.get(pk=record.pk)
    current.last_attempt = current.attempts.order_by("-attempted_at", "-pk").first()
    return current


def _reserve(record: ForcedPolicyRedemption) -> Reservation:
    require_known_learner(record.lms_user_id)
    run = get_course_run(record.course_run_key)
    policy = record.subsidy_access_policy
    reservation = reserve_redemption(
        policy=policy,
        lms_user_id=record.lms_user_id,
        content_key=run.key,
        metadata=redemption_metadata(record, is_exec_ed=run.course.is_exec_ed),
        forced=True,
        price_cents=record.content_price_cents,
        run=run,  # already read: the unit does not read it again
    )
    if not reservation.created:
        other = ForcedPolicyRedemption.objects.filter(transaction_uuid=reservation.transaction.uuid).exclude(
            pk=record.pk
        )
        if other.exists():
            ensure_not_duplicate(
                policy_id=policy.pk, lms_user_id=record.lms_user_id, course_run_key=run.key, exclude_pk=record.pk
            )
    return reservation


def redemption_metadata(record: ForcedPolicyRedemption, *, is_exec_ed: bool) -> dict[str, Any]:
    """What travels on the ledger transaction: provenance, plus the exec-ed provider's learner data."""
    metadata: dict[str, Any] = {"forced_redemption_uuid": str(record.uuid), "forced_redemption_reason": record.reason}
    if not is_exec_ed:
        return metadata
    link = learner_link(customer=record.subsidy_access_policy.customer_id, lms_user_id=record.lms_user_id)
    exec_ed = {
        "geag_first_name": record.learner_first_name or (link.first_name if link else ""),
        "geag_last_name": record.learner_last_name or (link.last_name if link else ""),
        "geag_email": link.email if link else "",
        "geag_date_of_birth": record.learner_date_of_birth.isoformat() if record.learner_date_of_birth else "",
        "geag_terms_accepted_at": (
            record.learner_terms_accepted_at.astimezone(dt.UTC).strftime(TERMS_FORMAT)
            if record.learner_terms_accepted_at
            else ""
        ),
        "geag_data_share_consent": record.learner_data_share_consent,
    }
    if record.external_order_reference:
        exec_ed["fallback_external_fulfillment_reference_id"] = record.external_order_reference
    return metadata | exec_ed


def _attempt(record, actor, outcome: str, **fields) -> ForcedPolicyRedemption:
    record.last_attempt = ForcedRedemptionAttempt.objects.create(
        forced_redemption=record, attempted_by=_user(actor), outcome=outcome, **fields
    )
    return record


def _note_pending(record: ForcedPolicyRedemption, actor, entry: Transaction, again: bool = False):
    record.transaction_uuid = entry.uuid
    record.errored_at = None
    record.error_reason = record.error_message = record.traceback = ""
    record.modified_by = _user(actor) or record.modified_by
    record.save()
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
    return _attempt(
        record, actor, AttemptOutcome.PENDING, transaction_uuid=entry.uuid, charged_cents=0, message=message
    )


def settle_lock_records(sender, *, transaction_uuid, **kwargs) -> None:
    """Receiver of redemption_settling: lock the pending record of the transaction first (lock order)."""
    list(_pending_records(transaction_uuid))


def settle_after_fulfilment(sender, *, entry: Transaction, error=None, **kwargs) -> None:
    """Receiver of redemption_settled: the downstream's outcome on the pending record, in the same transaction."""
    for record in _pending_records(entry.uuid):
        if error is None:
            _note_success(record, None, entry)
        else:
            _note_failure(record, None, error)


def _pending_records(transaction_uuid):
    return ForcedPolicyRedemption.objects.select_for_update().filter(
        STATE_CONDITIONS[ForcedState.PENDING], transaction_uuid=transaction_uuid
    )


def _note_success(record: ForcedPolicyRedemption, actor, entry: Transaction) -> ForcedPolicyRedemption:
    record.redeemed_at = timezone.now()
    record.transaction_uuid = entry.uuid
    record.charged_cents = -entry.quantity
    record.errored_at = None
    record.error_reason = record.error_message = record.traceback = ""
    record.modified_by = _user(actor) or record.modified_by
    record.save()
    return _attempt(
        record,
        actor,
        AttemptOutcome.REDEEMED,
        transaction_uuid=entry.uuid,
        charged_cents=record.charged_cents,
        message=f"Redeemed: transaction {entry.uuid}, charged {record.charged_cents} cents.",
    )


def _note_already_redeemed(record: ForcedPolicyRedemption, actor) -> ForcedPolicyRedemption:
    redeemed = f"Already redeemed on {record.redeemed_at:%Y-%m-%d %H:%M:%S} UTC (transaction {record.transaction_uuid})"
    if record.reversed_at:
        return _attempt(
            record,
            actor,
            AttemptOutcome.ALREADY_REDEEMED,
            reason_code=ForcedRedemptionReversed.reason,
            transaction_uuid=record.transaction_uuid,
            charged_cents=0,
            message=f"{redeemed} and reversed on {record.reversed_at:%Y-%m-%d %H:%M:%S} UTC; a reversed forced "
            f"redemption is not redeemed again and nothing was charged. Add a new forced redemption instead.",
        )
    return _attempt(
        record,
        actor,
        AttemptOutcome.ALREADY_REDEEMED,
        transaction_uuid=record.transaction_uuid,
        charged_cents=0,
        message=f"{redeemed}; nothing was charged again.",
    )


def _note_failure(record: ForcedPolicyRedemption, actor, error: Exception, trace: str = "") -> ForcedPolicyRedemption:
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
    record.modified_by = _user(actor) or record.modified_by
    record.save()
    return _attempt(record, actor, AttemptOutcome.ERRORED, reason_code=reason, message=message, traceback=trace)


def reverse_forced_redemption(*, record: ForcedPolicyRedemption, actor, reason: str) -> ForcedPolicyRedemption:
    """Undo a redeemed forced redemption: refund its transaction and unenroll the learner, as one unit.

    The record stays as the audit trail, now `reversed`, with a `reversed` attempt; it no longer stands
    in the way of a new forced redemption of the same learner, run and policy. Raises InvalidInput
    without a reason, ForcedRedemptionNotRedeemed / ForcedRedemptionReversed when there is nothing to
    reverse, and the ledger's errors (LockWaitTimeout, ...), having written nothing.
    """
    reason = str(reason or "").strip()
    if not reason:
        raise InvalidInput(
            "Say why this forced redemption is reversed; nothing was reversed.",
            field_errors={"reason": ["Say why it is reversed (e.g. a support ticket reference)."]},
        )
    if record.redeemed_at and not record.reversed_at and record.transaction_uuid:
        # Downstream first, with no lock held (a network call); idempotent, so a retry after a failure is safe.
        settlement.unenroll_downstream(Transaction.objects.get(pk=record.transaction_uuid))
    with lock_errors_as_domain(), transaction.atomic():
        bound_lock_wait()
        current = ForcedPolicyRedemption.objects.select_for_update().get(pk=record.pk)
        if current.reversed_at:
            raise ForcedRedemptionReversed(
                f"This forced redemption was already reversed on {current.reversed_at:%Y-%m-%d %H:%M} UTC "
                f"(transaction {current.transaction_uuid}); nothing was refunded again."
            )
        if not current.redeemed_at:
            raise ForcedRedemptionNotRedeemed(
                f"This forced redemption is {current.state}, not redeemed: nothing was charged or enrolled, so "
                f"there is nothing to reverse."
            )
        if settle_if_reversed(current):  # reversed in the ledger already: now on record here too
            return current
        entry = Transaction.objects.get(pk=current.transaction_uuid)
        reversing = _reversing_here.set((*_reversing_here.get(), current.pk))
        try:
            reversal = reverse_redemption(
                entry=entry,
                reason=f"{reason} (forced redemption {current.uuid})",
                actor=_user(actor),
                unenrolled_downstream=True,
            )
        except AlreadyReversed:  # reversed in the ledger while we waited for its lock
            settle_if_reversed(current)
            return current
        finally:
            _reversing_here.reset(reversing)
        current.reversed_at = reversal.created
        current.modified_by = _user(actor) or current.modified_by
        current.save()
        return _attempt(
            current,
            actor,
            AttemptOutcome.REVERSED,
            transaction_uuid=entry.uuid,
            charged_cents=-reversal.quantity,
            message=f"Reversed: refunded {reversal.quantity} cents (transaction {entry.uuid}) and unenrolled the "
            f"learner. Reason: {reason}",
        )
