"""A redemption in phases when fulfillment happens in another system (docs/adr-0001-redemption-in-phases.rst).

1. reserve (services.reserve_redemption): under the row locks, every check, the `pending` transaction
   (its amount counts against balance and limits at once), the assignment accepted, and a durable
   FulfillmentJob; commit.
2. fulfil (`attempt_fulfilment`): claim the job with a lease (committed), then call the downstream with
   no transaction open and no lock held. Idempotent by the transaction uuid: a retry of the same
   transaction never enrolls twice or opens a second order.
3. settle (`_settle`): in one transaction, `committed` with the downstream's reference, or `failed` on a
   definitive refusal (the money is free again, the assignment given back); an unknown outcome leaves it
   pending with the next try scheduled by backoff. Every downstream answer is kept (DownstreamCall).

With the local backend the same three phases run inside the reserve's own database transaction: there is
no network call to wait for and nothing to retry. The enrollment is written first (`fulfil_inline`), so the
ledger entry is written once, already settled.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from assignments import services as assignment_services
from common import events
from common.errors import Conflict, DomainError, LockWaitTimeout
from common.locking import bound_lock_wait, lock_errors_as_domain
from fulfillment import services as fulfillment
from fulfillment.backends import (
    EnrollmentRequest,
    FulfillmentProgress,
    FulfillmentResult,
    Unenrollment,
    get_backend,
)
from fulfillment.errors import DownstreamUnavailable, FulfillmentError
from fulfillment.models import DownstreamCall, Enrollment, FulfillmentJob, JobState
from policies.signals import redemption_settled, redemption_settling
from subsidies import services as ledger
from subsidies.models import Transaction, TransactionState

logger = logging.getLogger(__name__)

MARKED_FAILED = "marked_failed_by_staff"


@dataclass
class Attempted:
    """What one fulfilment attempt came to: the transaction as it now stands, and its job."""

    transaction: Transaction
    job: FulfillmentJob | None
    claimed: bool
    error: DomainError | None = None  # the refusal that failed it, or why its outcome is still unknown

    @property
    def pending(self) -> bool:
        return self.transaction.state == TransactionState.PENDING


def failure_message(error: DomainError) -> str:
    """The refusal's message, with the downstream's status and body excerpt when it came from one."""
    status, body = error.details.get("http_status"), error.details.get("body_excerpt")
    if status is None and not body:
        return error.message
    system = str(error.details.get("system") or "downstream").upper()
    return f"{error.message} [{system} HTTP {status or '-'}: {body or '(no body)'}]"


def fulfil_inline(request: EnrollmentRequest) -> tuple[str, FulfillmentError | None]:
    """Fulfil with a backend that is not remote, inside the reservation's transaction, before its ledger
    entry is written: the fulfillment identifier (the enrollment made), or the refusal (nothing written;
    the caller writes the entry and settles it failed)."""
    try:
        result = get_backend().fulfil(request, FulfillmentProgress())
        enrollment = fulfillment.record_enrollment(request, external_order_reference=result.external_order_reference)
    except FulfillmentError as error:
        return "", error
    return result.fulfillment_identifier or str(enrollment.pk), None


def open_job(request: EnrollmentRequest) -> FulfillmentJob:
    """The reserve phase's durable promise to fulfil (written with the pending transaction)."""
    return FulfillmentJob.objects.create(
        transaction_uuid=request.transaction_uuid,
        lms_user_id=request.lms_user_id,
        course_run=request.run,
        customer_uuid=request.customer_uuid,
        next_attempt_at=timezone.now(),
    )


def attempt_fulfilment(transaction_uuid: uuid.UUID, *, whenever: bool = False) -> Attempted:
    """Claim the transaction's job, call the downstream, settle. Outside any database transaction.

    Only one caller at a time holds the claim (a lease committed before the call), so concurrent tries of
    the same transaction make one downstream call. `whenever`: do not wait for the job's next scheduled
    try (staff "retry now", the operator's reconcile); a live lease is still respected.
    """
    if connection.in_atomic_block:
        raise RuntimeError("attempt_fulfilment must run outside any database transaction (no lock held).")
    now = timezone.now()
    claimable = FulfillmentJob.objects.filter(pk=transaction_uuid, state=JobState.PENDING).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    if not whenever:
        claimable = claimable.filter(next_attempt_at__lte=now)
    lease = now + dt.timedelta(seconds=settings.FULFILLMENT_LEASE_SECONDS)
    claimed = claimable.update(claimed_until=lease, attempts=F("attempts") + 1) == 1
    if not claimed:
        job = FulfillmentJob.objects.filter(pk=transaction_uuid).first()
        return Attempted(Transaction.objects.get(pk=transaction_uuid), job, claimed=False)

    job = FulfillmentJob.objects.select_related("course_run__course").get(pk=transaction_uuid)
    entry = Transaction.objects.get(pk=transaction_uuid)
    request = EnrollmentRequest(
        lms_user_id=job.lms_user_id,
        run=job.course_run,
        transaction_uuid=entry.uuid,
        metadata=entry.metadata or {},
        customer_uuid=job.customer_uuid,
        price_cents=-entry.quantity,
    )
    progress = FulfillmentProgress(external_order_reference=job.external_order_reference, attempt=job.attempts)
    result: FulfillmentResult | None = None
    error: DomainError | None = None
    try:
        result = get_backend().fulfil(request, progress)
    except (FulfillmentError, DownstreamUnavailable) as known:
        error = known
    except Exception as unexpected:  # noqa: BLE001 - an unknown outcome: retried, and on record
        logger.exception("Fulfilment of transaction %s raised unexpectedly", transaction_uuid)
        error = DownstreamUnavailable(f"Unexpected error ({type(unexpected).__name__}): {unexpected}")
    try:
        return _settle(transaction_uuid, request, progress, result, error)
    except LockWaitTimeout:
        # The claim lapses with its lease and the reconciler tries again (the downstream is idempotent).
        logger.warning("Settling transaction %s waited too long for a lock; it stays pending", transaction_uuid)
        return Attempted(Transaction.objects.get(pk=transaction_uuid), job, claimed=True)


def _settle(transaction_uuid, request, progress, result, error) -> Attempted:
    with lock_errors_as_domain(), transaction.atomic():
        entry, job = _lock_for_settling(transaction_uuid)
        _keep_calls(job.transaction_uuid, progress, attempt=job.attempts)
        job.external_order_reference = progress.external_order_reference
        job.claimed_until = None
        if job.state != JobState.PENDING or entry.state != TransactionState.PENDING:
            job.save()  # settled meanwhile (staff marked it failed): this answer is on record, nothing else
            return Attempted(entry, job, claimed=True)
        if result is not None:
            try:
                _settle_committed(entry, request, result)
            except FulfillmentError as refused:  # e.g. enrolled meanwhile through another transaction
                error = refused
        if isinstance(error, FulfillmentError):
            settle_failed(entry, error)
        elif error is not None:
            job.last_error_reason, job.last_error_message = error.reason, failure_message(error)
            job.next_attempt_at = timezone.now() + dt.timedelta(seconds=retry_delay_seconds(job.attempts))
            job.save()
            return Attempted(entry, job, claimed=True, error=error)
        _close_job(job, entry, error)
        return Attempted(entry, job, claimed=True, error=error)


def _lock_for_settling(transaction_uuid) -> tuple[Transaction, FulfillmentJob | None]:
    """The settle phase's locks, in the documented order: what receivers of redemption_settling lock (a forced
    record), the subsidy, then the transaction and its job. Inside the caller's transaction."""
    bound_lock_wait()
    redemption_settling.send(sender=Transaction, transaction_uuid=transaction_uuid)
    subsidy_id = Transaction.objects.filter(pk=transaction_uuid).values_list("subsidy_id", flat=True).get()
    ledger.lock_subsidy(subsidy_id)
    entry = Transaction.objects.select_for_update().get(pk=transaction_uuid)
    return entry, FulfillmentJob.objects.select_for_update().filter(pk=transaction_uuid).first()


def _close_job(job: FulfillmentJob, entry: Transaction, error: DomainError | None) -> None:
    """The job follows its settled transaction; receivers of redemption_settled learn of it, same transaction."""
    job.state = JobState.SUCCEEDED if entry.state == TransactionState.COMMITTED else JobState.FAILED
    job.fulfillment_identifier = entry.fulfillment_identifier
    if error is not None:
        job.last_error_reason, job.last_error_message = error.reason, failure_message(error)
    job.settled_at = timezone.now()
    job.save()
    redemption_settled.send(sender=Transaction, entry=entry, error=error)


def unenroll_downstream(entry: Transaction) -> None:
    """A reversal's downstream step, before any lock is taken: cancel what the redemption made elsewhere.

    Nothing to do with the local backend, for a transaction that is not committed, or one fulfilled
    before the backend was remote. Raises FulfillmentError or DownstreamUnavailable (nothing refunded yet).
    """
    backend = get_backend()
    if not backend.remote or entry.state != TransactionState.COMMITTED:
        return
    job = FulfillmentJob.objects.filter(pk=entry.uuid).first()
    if job is None:
        return
    enrollment = Enrollment.objects.select_related("course_run__course").filter(transaction_uuid=entry.uuid).first()
    target = Unenrollment(
        transaction_uuid=entry.uuid,
        customer_uuid=job.customer_uuid,
        fulfillment_identifier=job.fulfillment_identifier or entry.fulfillment_identifier,
        external_order_reference=job.external_order_reference,
        is_exec_ed=bool(enrollment and enrollment.course_run.course.is_exec_ed),
    )
    progress = FulfillmentProgress(attempt=job.attempts)
    try:
        backend.unenroll(target, progress)
    finally:
        _keep_calls(entry.uuid, progress, attempt=0)


def _keep_calls(transaction_uuid, progress: FulfillmentProgress, *, attempt: int) -> None:
    for c in progress.calls:
        events.downstream_call(
            transaction_uuid=transaction_uuid,
            system=c.system,
            operation=c.operation,
            outcome=c.outcome,
            http_status=c.http_status,
            duration_ms=c.duration_ms,
            attempt=attempt,
        )
    DownstreamCall.objects.bulk_create(
        DownstreamCall(
            transaction_uuid=transaction_uuid,
            attempt=attempt,
            system=c.system,
            operation=c.operation,
            outcome=c.outcome,
            http_status=c.http_status,
            body_excerpt=c.body_excerpt,
            error=c.error,
            duration_ms=c.duration_ms,
        )
        for c in progress.calls
    )


def _settle_committed(entry: Transaction, request: EnrollmentRequest, result: FulfillmentResult) -> None:
    enrollment = fulfillment.record_enrollment(request, external_order_reference=result.external_order_reference)
    ledger.commit_redemption(entry, fulfillment_identifier=result.fulfillment_identifier or str(enrollment.pk))


def settle_failed(entry: Transaction, error: DomainError) -> None:
    message = failure_message(error)
    ledger.fail_redemption(entry, reason=error.reason, message=message)
    assignment_services.release_after_failed_redemption(
        transaction_uuid=entry.uuid, reason=error.reason, message=message
    )


def retry_delay_seconds(attempts: int) -> float:
    """Exponential backoff from FULFILLMENT_RETRY_BASE_SECONDS, capped at FULFILLMENT_RETRY_MAX_SECONDS."""
    base, cap = settings.FULFILLMENT_RETRY_BASE_SECONDS, settings.FULFILLMENT_RETRY_MAX_SECONDS
    return min(cap, base * 2 ** max(0, attempts - 1))


def needs_attention_q() -> Q:
    """Pending jobs past FULFILLMENT_MAX_ATTEMPTS tries: shown to staff (the reconciler keeps trying)."""
    return Q(state=JobState.PENDING, attempts__gte=settings.FULFILLMENT_MAX_ATTEMPTS)


def due_jobs(*, whenever: bool = False, limit: int | None = None) -> list[uuid.UUID]:
    """Pending jobs whose next try is due (or all pending ones, `whenever`), unclaimed or with a lapsed lease."""
    now = timezone.now()
    jobs = FulfillmentJob.objects.filter(state=JobState.PENDING).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    if not whenever:
        jobs = jobs.filter(next_attempt_at__lte=now)
    uuids = jobs.order_by("next_attempt_at").values_list("transaction_uuid", flat=True)
    return list(uuids[:limit] if limit else uuids)


def try_jobs(transaction_uuids, *, whenever: bool) -> dict[str, int]:
    """One try of each job; counts by what its transaction came to ("skipped": a try was under way elsewhere,
    or it was settled). The reconciler's and staff's "Retry now"."""
    counts = {"committed": 0, "failed": 0, "pending": 0, "skipped": 0}
    for transaction_uuid in transaction_uuids:
        attempted = attempt_fulfilment(transaction_uuid, whenever=whenever)
        key = attempted.transaction.state if attempted.claimed else "skipped"
        counts[key if key in counts else "skipped"] += 1
    return counts


def reconcile(*, whenever: bool = False, limit: int | None = None) -> dict[str, int]:
    """Try every due pending job once (all of them, `whenever`): what the periodic task and the operator's
    `manage.py reconcile_fulfillment` run. Returns counts by outcome."""
    return try_jobs(due_jobs(whenever=whenever, limit=limit), whenever=whenever)


def mark_failed(*, transaction_uuid: uuid.UUID, actor=None, note: str = "") -> Transaction:
    """Staff settle a pending redemption as failed (they know the downstream did not enroll). Frees its money."""
    error = FulfillmentError(
        f"Marked failed by {actor or 'staff'}: {note or 'the downstream did not fulfil it'}. Nothing is charged.",
        reason=MARKED_FAILED,
    )
    with lock_errors_as_domain(), transaction.atomic():
        entry, job = _lock_for_settling(transaction_uuid)
        if entry.state != TransactionState.PENDING or job is None or job.state != JobState.PENDING:
            return entry
        if job.claimed_until and job.claimed_until > timezone.now():
            raise Conflict(
                f"A try of transaction {transaction_uuid} is under way (until {job.claimed_until:%H:%M:%S} UTC); "
                f"wait for its answer before marking it failed."
            )
        settle_failed(entry, error)
        _close_job(job, entry, error)
        return entry
