"""Running a started batch: each redeemable row through create_forced_redemption, the one forced-redemption
unit (one forced record per row, its attempt on record), in line order, until none is left or it is cancelled.

Exactly once per row: a row's record has the uuid `BatchRow.record_uuid`, so a row run again (the
batch restarted, a worker that died after the record committed but before the row did, a second worker)
finds its record and takes its outcome instead of redeeming again; two runners racing for one row meet at
the row's lock (PostgreSQL: the second skips the locked rows) and at the record's primary key.

With the local fulfillment backend, rows run a chunk per database transaction, each row its own savepoint
(all or nothing per row); the chunk shares the transaction's begin and commit and the subsidy's lock,
which it holds for the chunk (a few dozen rows). With a remote backend each row is its own transaction,
so the downstream call is made after its reservation commits, as for a single forced redemption.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from common.errors import DomainError, LockWaitTimeout
from forced_batches.checks import record_fields
from forced_batches.models import BatchRow, BatchState, ForcedRedemptionBatch, Outcome, Verdict
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.services import create_forced_redemption
from fulfillment.backends import get_backend

logger = logging.getLogger(__name__)

LOCAL_CHUNK = 25
LOCK_RETRIES = 5  # chunks in a row that met a lock wait timeout before the runner stops (the batch stays running)


def run_batch(batch_uuid, *, chunk: int | None = None) -> ForcedRedemptionBatch:
    """Run what is left of a running batch. Safe to call twice, concurrently, or after a crash."""
    batch = ForcedRedemptionBatch.objects.select_related("started_by").get(pk=batch_uuid)
    if batch.state != BatchState.RUNNING:
        return batch
    _skip_refused(batch)
    size = chunk or (1 if get_backend().remote else LOCAL_CHUNK)
    timeouts = 0
    while _state(batch) == BatchState.RUNNING:
        try:
            if not _run_chunk(batch, size):
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


def _run_chunk(batch: ForcedRedemptionBatch, size: int) -> int:
    with transaction.atomic():
        rows = list(
            BatchRow.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subsidy_access_policy__customer", "subsidy_access_policy__subsidy")
            .filter(batch=batch, outcome=Outcome.NONE, verdict=Verdict.REDEEMABLE)
            .order_by("line")[:size]
        )
        if not rows:
            return 0
        made = set(
            ForcedPolicyRedemption.objects.filter(pk__in=[row.record_uuid for row in rows]).values_list("pk", flat=True)
        )
        ran, busy = [], False
        for row in rows:
            try:
                if row.record_uuid in made or _redeem(batch, row):
                    ran.append(row.pk)
            except LockWaitTimeout:
                busy = True  # this row and the rest of the chunk stay unrun, for the next try
                break
        # One statement for the chunk: each row points at its record, which says how it went.
        BatchRow.objects.filter(pk__in=ran).update(
            outcome=Outcome.RUN, forced_redemption_id=F("record_uuid"), processed_at=timezone.now()
        )
    if busy:
        raise _LockBusy
    return len(rows)


class _LockBusy(Exception):
    pass


def _redeem(batch: ForcedRedemptionBatch, row: BatchRow) -> bool:
    """Make the row's forced redemption; False (and the row skipped) when it is refused before any write."""
    fields = record_fields(row, file_reason=batch.reason)
    try:
        create_forced_redemption(actor=batch.started_by, record_uuid=row.record_uuid, **fields)
        return True
    except LockWaitTimeout:
        raise
    except DomainError as error:  # refused before anything was written (e.g. force-redeemed meanwhile)
        _skip(row, error.reason, f"Not run: {error.message}")
    except IntegrityError:  # another runner made this row's record meanwhile (its savepoint is rolled back)
        if ForcedPolicyRedemption.objects.filter(pk=row.record_uuid).exists():
            return True
        logger.exception("Batch %s line %s: the record could not be written", batch.pk, row.line)
        _skip(row, "unexpected_error", "Not run: the record could not be written; nothing was charged.")
    return False


def _skip(row: BatchRow, reason: str, message: str) -> None:
    row.outcome, row.outcome_reason, row.outcome_message = Outcome.SKIPPED, reason, message
    row.processed_at = timezone.now()
    row.save(update_fields=["outcome", "outcome_reason", "outcome_message", "processed_at"])


def _state(batch) -> str:
    return ForcedRedemptionBatch.objects.filter(pk=batch.pk).values_list("state", flat=True).first()
