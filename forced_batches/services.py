"""Batch writes: upload (read and store the rows, nothing charged), check, start, cancel (issue 13).

The check and the run go through the background worker (forced_batches.tasks), queued once the write
that asks for them commits; with no broker configured they run inline, in the request (settings.py).
Starting, restarting and cancelling are safe to repeat: the run takes the rows without an outcome, and a
row's forced redemption is made at most once (runner.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import IO

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from common.errors import InvalidInput
from forced_batches import checks, selectors
from forced_batches.csv_input import FileDigest, FileRejected, read_rows
from forced_batches.errors import BatchFileRejected, BatchNotCancellable, BatchNotStartable
from forced_batches.models import BatchRow, BatchState, ForcedRedemptionBatch, Outcome, Verdict, record_uuid_for
from forced_redemptions.services.attempts import user_or_none
from policies.models import SubsidyAccessPolicy

logger = logging.getLogger(__name__)

CHUNK = 500
CHECK_LEASE_SECONDS = 120.0  # longer than one chunk's check can take
STALLED_AFTER = dt.timedelta(minutes=5)


def upload_batch(
    *,
    file: IO[bytes],
    file_name: str,
    actor,
    reason: str,
    policy: SubsidyAccessPolicy | None = None,
    dry_run: bool = False,
    queue: bool = True,
) -> ForcedRedemptionBatch:
    """Store a file's rows as a new batch and queue their check (`queue=False`: the caller checks it, with
    `check_batch`). A file error stores nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            "Give the file a reason (e.g. the support ticket): rows without their own reason use it.",
            field_errors={"reason": ["Say why these redemptions are forced (e.g. a support ticket reference)."]},
        )
    digest = FileDigest()
    try:
        with transaction.atomic():
            batch = ForcedRedemptionBatch.objects.create(
                file_name=(file_name or "upload.csv")[:255],
                subsidy_access_policy=policy,
                reason=reason,
                dry_run=dry_run,
                created_by=user_or_none(actor),
            )
            batch.total_rows = _store_rows(batch, file, policy, digest)
            batch.file_sha256 = digest.sha256
            batch.save(update_fields=["total_rows", "file_sha256", "modified"])
            if queue:
                transaction.on_commit(lambda: _queue("check_batch", batch.pk))
    except FileRejected as rejected:
        raise BatchFileRejected(
            f"The file cannot be used; nothing was stored: {rejected.errors[0]}"
            + (f" (and {len(rejected.errors) - 1} more problems)" if len(rejected.errors) > 1 else ""),
            field_errors={"file": rejected.errors},
        ) from None
    batch.refresh_from_db()
    return batch


def _store_rows(batch, file, policy, digest: FileDigest) -> int:
    policies: dict = {policy.pk: policy} if policy is not None else {}
    pending: list[BatchRow] = []
    count = 0
    for parsed in read_rows(file, default_policy_uuid=policy.pk if policy else None, digest=digest):
        problems = list(parsed.problems)
        row_policy = None
        if parsed.policy_uuid is not None:
            if parsed.policy_uuid not in policies:
                policies[parsed.policy_uuid] = (
                    SubsidyAccessPolicy.objects.select_related("customer", "subsidy")
                    .filter(pk=parsed.policy_uuid)
                    .first()
                )
            row_policy = policies[parsed.policy_uuid]
            if row_policy is None:
                problems.append(f"No subsidy access policy has the uuid {parsed.policy_uuid}.")
        row = BatchRow(
            batch=batch,
            line=parsed.line,
            record_uuid=record_uuid_for(batch.pk, parsed.line),
            subsidy_access_policy=row_policy,
            **parsed.values,
        )
        if problems:
            checks.refuse_unreadable(row, problems)
        pending.append(row)
        count += 1
        if len(pending) >= CHUNK:
            BatchRow.objects.bulk_create(pending)
            pending = []
    BatchRow.objects.bulk_create(pending)
    return count


def check_batch(batch_uuid) -> ForcedRedemptionBatch:
    """Give every unchecked row its verdict, a chunk at a time (resumable), then mark the batch checked.

    One check at a time: it holds a lease on the batch (renewed per chunk), so a second one (a resumed
    check while the first still runs) leaves it alone; a check that died lets its lease lapse."""
    batch = ForcedRedemptionBatch.objects.get(pk=batch_uuid)
    if batch.state != BatchState.CHECKING or not _take_check_lease(batch):
        return batch
    checker = checks.BatchChecker(batch)
    rows = BatchRow.objects.filter(batch=batch).select_related(
        "subsidy_access_policy__customer", "subsidy_access_policy__subsidy"
    )
    last_line = 0
    while True:
        chunk = list(rows.filter(line__gt=last_line).order_by("line")[:CHUNK])
        if not chunk:
            break
        last_line = chunk[-1].line
        unchecked = [row for row in chunk if row.verdict == Verdict.UNCHECKED]
        checker.judge(unchecked)
        BatchRow.objects.bulk_update(
            unchecked, ["verdict", "check_reason", "check_message", "price_cents", "lms_user_id"]
        )
        if selectors.state_of(batch) == BatchState.CANCELLED or not _take_check_lease(batch, renew=True):
            return ForcedRedemptionBatch.objects.get(pk=batch.pk)
    ForcedRedemptionBatch.objects.filter(pk=batch.pk, state=BatchState.CHECKING).update(
        state=BatchState.CHECKED, checked_at=timezone.now(), modified=timezone.now(), check_lease_until=None
    )
    return ForcedRedemptionBatch.objects.get(pk=batch.pk)


def _take_check_lease(batch, *, renew: bool = False) -> bool:
    """Take (or renew) the batch's check lease; False when another check holds it."""
    now = timezone.now()
    free = Q(check_lease_until__isnull=True) | Q(check_lease_until__lt=now)
    if renew:
        free |= Q(check_lease_until=batch.check_lease_until)
    until = now + dt.timedelta(seconds=CHECK_LEASE_SECONDS)
    taken = ForcedRedemptionBatch.objects.filter(free, pk=batch.pk, state=BatchState.CHECKING).update(
        check_lease_until=until
    )
    batch.check_lease_until = until
    return bool(taken)


def check_stalled(batch: ForcedRedemptionBatch) -> bool:
    """A batch still checking whose check holds no lease: it died, or was never queued."""
    now = timezone.now()
    return batch.state == BatchState.CHECKING and (batch.check_lease_until is None or batch.check_lease_until < now)


def resume_check(batch: ForcedRedemptionBatch) -> ForcedRedemptionBatch:
    """Queue the check of what a stopped check left (inline without a broker); nothing if one is running."""
    if check_stalled(batch):
        _queue("check_batch", batch.pk)
    return ForcedRedemptionBatch.objects.get(pk=batch.pk)


def resume_batches(*, stalled_after: dt.timedelta = STALLED_AFTER) -> dict[str, int]:
    """Queue again what a lost message or a dead worker left: checks whose lease lapsed (or that never
    started) and running batches with rows left and no progress for `stalled_after`. Safe to repeat: a
    second check finds the lease held, a second runner takes only rows no one holds."""
    now = timezone.now()
    quiet_since = now - stalled_after
    checks_due = ForcedRedemptionBatch.objects.filter(state=BatchState.CHECKING, created__lt=quiet_since).filter(
        Q(check_lease_until__isnull=True) | Q(check_lease_until__lt=now)
    )
    runs_due = (
        ForcedRedemptionBatch.objects.filter(state=BatchState.RUNNING, started_at__lt=quiet_since)
        .filter(rows__outcome=Outcome.NONE)
        .exclude(rows__processed_at__gte=quiet_since)
        .distinct()
    )
    counts = {"checks": 0, "runs": 0}
    for batch_uuid in checks_due.values_list("pk", flat=True):
        _queue("check_batch", batch_uuid)
        counts["checks"] += 1
    for batch_uuid in runs_due.values_list("pk", flat=True):
        _queue("run_batch", batch_uuid)
        counts["runs"] += 1
    return counts


def start_batch(*, batch: ForcedRedemptionBatch, actor, queue: bool = True) -> ForcedRedemptionBatch:
    """Confirm a checked batch and run it; on a running batch, run what is left (a restart). Never twice a row.
    `queue=False`: the caller runs it (runner.run_batch)."""
    if batch.dry_run:
        raise BatchNotStartable("This batch was a dry run: it was only checked and cannot be started. Upload it again.")
    now = timezone.now()
    with transaction.atomic():
        current = ForcedRedemptionBatch.objects.select_for_update().get(pk=batch.pk)
        if current.state == BatchState.CHECKING:
            raise BatchNotStartable("The rows are still being checked; start it once the preview is complete.")
        if current.state == BatchState.CANCELLED:
            raise BatchNotStartable(f"This batch was cancelled on {current.cancelled_at:%Y-%m-%d %H:%M} UTC.")
        if current.state == BatchState.FINISHED:
            return current
        if current.state == BatchState.CHECKED:
            current.state = BatchState.RUNNING
            current.started_at = now
            current.started_by = user_or_none(actor)
            current.save(update_fields=["state", "started_at", "started_by", "modified"])
        if queue:
            transaction.on_commit(lambda: _queue("run_batch", current.pk))
    return current


def cancel_batch(*, batch: ForcedRedemptionBatch, actor) -> ForcedRedemptionBatch:
    """Stop a batch: rows not run yet are skipped; rows already run stay as they are."""
    now = timezone.now()
    with transaction.atomic():
        current = ForcedRedemptionBatch.objects.select_for_update().get(pk=batch.pk)
        if current.state in (BatchState.FINISHED, BatchState.CANCELLED):
            raise BatchNotCancellable(
                f"This batch is {current.state} already; there is nothing left to cancel.", state=current.state
            )
        current.state = BatchState.CANCELLED
        current.cancelled_at = now
        current.cancelled_by = user_or_none(actor)
        current.save(update_fields=["state", "cancelled_at", "cancelled_by", "modified"])
    # Rows a running chunk holds are written by it first; this then takes only what is left.
    BatchRow.objects.filter(batch=current, outcome=Outcome.NONE).update(
        outcome=Outcome.SKIPPED,
        outcome_reason="batch_cancelled",
        outcome_message=f"Not run: the batch was cancelled on {now:%Y-%m-%d %H:%M} UTC. Nothing was charged.",
        processed_at=now,
    )
    return current


def _queue(task_name: str, batch_uuid) -> None:
    from forced_batches import tasks

    task = getattr(tasks, task_name)
    try:
        task.delay(str(batch_uuid))
    except Exception:  # noqa: BLE001 - the broker is down: the batch waits; starting it again queues it
        logger.exception(
            "Could not queue %s for batch %s; start it again once the broker is back", task_name, batch_uuid
        )
