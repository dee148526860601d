"""Archiving errored records that never had a transaction: kept as the audit trail, out of the list's way.

An errored record whose failure moved no money (a refusal before any ledger entry) is only noise once staff
have dealt with it; archiving hides it from the list by default and settles it (it is not redeemed or changed
afterwards). A record that ever had a transaction, even a failed one, stays: the ledger refers to it.
Archiving is not an attempt; the record's history holds who archived it and when.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from common.locking import bound_lock_wait, lock_errors_as_domain
from forced_redemptions.errors import NotArchivable
from forced_redemptions.models import ForcedPolicyRedemption, ForcedState
from forced_redemptions.services.attempts import user_or_none
from subsidies.models import Transaction


def _archive_refusal(record: ForcedPolicyRedemption) -> str | None:
    """Why the record may not be archived, or None if it may."""
    if record.archived_at:
        return f"it was archived already on {record.archived_at:%Y-%m-%d %H:%M} UTC"
    if record.state != ForcedState.ERRORED:
        return f"it is {record.state}; only errored records are archived"
    transaction_uuid = record.transaction_uuid or _ledger_entry_of(record)
    if transaction_uuid is not None:
        return f"it had a ledger transaction ({transaction_uuid}), so it stays in the list"
    return None


def _ledger_entry_of(record: ForcedPolicyRedemption):
    """A transaction any attempt of the record made, even one settled failed (a fulfillment refusal leaves a failed
    ledger entry that neither the record nor its attempt names; its metadata names the record)."""
    attempted = record.attempts.filter(transaction_uuid__isnull=False).values_list("transaction_uuid", flat=True)
    entries = Transaction.objects.filter(
        lms_user_id=record.lms_user_id,
        content_key=record.course_run_key,
        metadata__forced_redemption_uuid=str(record.uuid),
    ).values_list("uuid", flat=True)
    return attempted.first() or entries.first()


def archive_forced_redemption(*, record: ForcedPolicyRedemption, actor) -> ForcedPolicyRedemption:
    """Archive an errored record that never had a transaction; raises NotArchivable (nothing written) otherwise."""
    with lock_errors_as_domain(), transaction.atomic():
        bound_lock_wait()
        current = ForcedPolicyRedemption.objects.select_for_update().get(pk=record.pk)
        if problem := _archive_refusal(current):
            raise NotArchivable(f"Not archived: {problem}.", forced_redemption_uuid=str(current.uuid))
        current.archived_at = timezone.now()
        current.modified_by = user_or_none(actor) or current.modified_by
        current._change_reason = "Archived: errored, never charged"
        current._history_user = user_or_none(actor)  # the history row names who archived it, request or not
        current.save()
    return current
