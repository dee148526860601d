"""Running a started batch: the redeemable rows, a chunk at a time in line order, until none is left or the
batch is cancelled. Each row makes one forced redemption with its attempt on record, through
forced_redemptions.services.bulk.force_many: the rows it can take in bulk (the same checks, what they share
read once), every other row through create_forced_redemption itself.

Exactly once per row: a row's record has the uuid `BatchRow.record_uuid`, so a row run again (the
batch restarted, a worker that died after the record committed but before the row did, a second worker)
finds its record and takes its outcome instead of redeeming again; two runners racing for one row meet at
the row's lock (PostgreSQL: the second skips the locked rows) and at the record's primary key.

With the local fulfillment backend a chunk (LOCAL_CHUNK rows) is one database transaction, which holds the
subsidy's lock for those rows; a row is all or nothing (its enrollment, transaction, record and attempt are
written together or not at all). With a remote backend each row is its own transaction, so the downstream
call is made after its reservation commits, as for a single forced redemption.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from common.errors import LockWaitTimeout
from forced_batches import selectors
from forced_batches.checks import record_fields
from forced_batches.models import BatchRow, BatchState, ForcedRedemptionBatch, Outcome, Verdict
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.services.bulk import force_many
from fulfillment.backends import get_backend

logger = logging.getLogger(__name__)

LOCAL_CHUNK = 50
LOCK_RETRIES = 5  # chunks in a row that met a lock wait timeout before the runner stops (the batch stays running)


def run_batch(batch_uuid, *, chunk: int | None = None) -> ForcedRedemptionBatch:
    """Run what is left of a running batch. Safe to call twice, concurrently, or after a crash."""
    batch = ForcedRedemptionBatch.objects.select_related("started_by").get(pk=batch_uuid)
    if batch.state != BatchState.RUNNING:
        return batch
    _skip_refused(batch)
    size = chunk or (1 if get_backend().remote else LOCAL_CHUNK)
    contents: dict = {}  # the runs and their catalog membership, read once for the batch
    timeouts = 0
    while selectors.state_of(batch) == BatchState.RUNNING:
        try:
            if not _run_chunk(batch, size, contents):
                break
            timeouts = 0
        except _LockBusy:
            timeouts += 1
            if timeouts >= LOCK_RETRIES:
                logger.warning("Batch %s: the subsidy stayed locked; start the batch again to run the rest", batch.pk)
                break
    left = BatchRow.objects.filter(batch=batch, outcome=Outcome.NONE)
    if not left.exists():
        ForcedRedemptionBatch.objects.filter(pk=batch.pk, state=BatchState.RUNNING).update(
            state=BatchState.FINISHED, finished_at=timezone.now(), modified=timezone.now()
        )
    return ForcedRedemptionBatch.objects.get(pk=batch.pk)


def _skip_refused(batch: ForcedRedemptionBatch) -> None:
    """Rows the check refused are never run: one statement says so for all of them."""
    BatchRow.objects.filter(batch=batch, verdict=Verdict.REFUSED, outcome=Outcome.NONE).update(
        outcome=Outcome.SKIPPED,
        outcome_reason=F("check_reason"),
        outcome_message=Concat(Value("Not run: the check refused it. "), F("check_message")),
        processed_at=timezone.now(),
    )


def _run_chunk(batch: ForcedRedemptionBatch, size: int, contents: dict) -> int:
    """Run up to `size` rows in one transaction; a lock wait timeout rolls all of it back (_LockBusy)."""
    try:
        with transaction.atomic():
            rows = list(
                BatchRow.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("subsidy_access_policy__customer", "subsidy_access_policy__subsidy")
                .filter(batch=batch, outcome=Outcome.NONE, verdict=Verdict.REDEEMABLE)
                .order_by("line")[:size]
            )
            if not rows:
                return 0
            uuids = [row.record_uuid for row in rows]
            made = set(ForcedPolicyRedemption.objects.filter(pk__in=uuids).values_list("pk", flat=True))
            todo = [row for row in rows if row.record_uuid not in made]
            results = force_many(
                actor=batch.started_by,
                rows=[(row.record_uuid, record_fields(row, file_reason=batch.reason)) for row in todo],
                contents=contents,
            )
            for row, result in zip(todo, results, strict=True):
                if not result.made:
                    _skip(row, result.error.reason, f"Not run: {result.error.message}")
            ran = made | {result.record_uuid for result in results if result.made}
            # One statement for the chunk: each row points at its record, which says how it went.
            BatchRow.objects.filter(batch=batch, record_uuid__in=ran).update(
                outcome=Outcome.RUN, forced_redemption_id=F("record_uuid"), processed_at=timezone.now()
            )
    except LockWaitTimeout:
        raise _LockBusy from None
    return len(rows)


class _LockBusy(Exception):
    pass


def _skip(row: BatchRow, reason: str, message: str) -> None:
    row.outcome, row.outcome_reason, row.outcome_message = Outcome.SKIPPED, reason, message
    row.processed_at = timezone.now()
    row.save(update_fields=["outcome", "outcome_reason", "outcome_message", "processed_at"])
