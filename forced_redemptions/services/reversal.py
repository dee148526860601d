"""Undoing a redeemed forced redemption (refund + unenroll), and learning of a reversal made in the ledger.

`reverse_forced_redemption` locks the record first, then calls policies.services.reverse_redemption (after
unenrolling downstream, with no lock held). A reversal done in the ledger instead (Transaction admin or API)
settles the record in the reversal's transaction (`settle_after_ledger_reversal`) unless the record is locked
at that moment; `settle_if_reversed` is the one place that decides whether a redeemed record still stands,
and every write path asks it.
"""

from __future__ import annotations

from contextvars import ContextVar

from django.db import transaction

from common.errors import InvalidInput
from common.locking import bound_lock_wait, lock_errors_as_domain
from forced_redemptions.errors import ForcedRedemptionNotRedeemed, ForcedRedemptionReversed
from forced_redemptions.models import AttemptOutcome, ForcedPolicyRedemption
from forced_redemptions.services.attempts import record_attempt, user_or_none
from policies import settlement
from policies.services import reverse_redemption
from subsidies.errors import AlreadyReversed
from subsidies.models import Reversal, Transaction

# The reason code of the attempt that notes a reversal made in the ledger, not through this app.
REVERSED_IN_LEDGER = "reversed_in_ledger"


def reversal_of(record: ForcedPolicyRedemption) -> Reversal | None:
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
    reversal = reversal_of(record) if record.redeemed_at else None
    if reversal is None:
        return False
    record.reversed_at = reversal.created
    record.save()
    record_attempt(
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
                actor=user_or_none(actor),
                unenrolled_downstream=True,
            )
        except AlreadyReversed:  # reversed in the ledger while we waited for its lock
            settle_if_reversed(current)
            return current
        finally:
            _reversing_here.reset(reversing)
        current.reversed_at = reversal.created
        current.modified_by = user_or_none(actor) or current.modified_by
        current.save()
        return record_attempt(
            current,
            actor,
            AttemptOutcome.REVERSED,
            transaction_uuid=entry.uuid,
            charged_cents=-reversal.quantity,
            message=f"Reversed: refunded {reversal.quantity} cents (transaction {entry.uuid}) and unenrolled the "
            f"learner. Reason: {reason}",
        )
