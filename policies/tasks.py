"""Background work of the redemption unit: fulfillment retries and the reconciler (Celery tasks).

Each task is safe to run twice or concurrently: a try claims its job first (settlement.py), and a job
whose claim is held or that is settled is left alone.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from fulfillment.models import FulfillmentJob, JobState
from policies import settlement

logger = logging.getLogger(__name__)


def fulfil_and_schedule(transaction_uuid) -> settlement.Attempted:
    """One try of a pending transaction's fulfillment; if its outcome is still unknown, queue the next.
    What the redeem request does after the reservation, and what each scheduled try does."""
    attempted = settlement.attempt_fulfilment(transaction_uuid)
    if attempted.claimed and attempted.pending and attempted.job is not None:
        schedule_fulfilment(attempted.job)
    return attempted


@shared_task(name="policies.tasks.fulfil_transaction")
def fulfil_transaction(transaction_uuid: str) -> str:
    """One scheduled try of a pending transaction's fulfillment."""
    return fulfil_and_schedule(transaction_uuid).transaction.state


@shared_task(name="policies.tasks.reconcile_fulfillment")
def reconcile_fulfillment() -> dict[str, int]:
    """Periodic: every pending job that is due (its message lost, its worker dead, its lease lapsed)."""
    counts = settlement.reconcile()
    if any(counts.values()):
        logger.info("Reconciled fulfillment jobs: %s", counts)
    return counts


def schedule_fulfilment(job: FulfillmentJob) -> None:
    """Queue the job's next try at its `next_attempt_at`. Inline (no broker) nothing is queued: the job
    waits for `manage.py reconcile_fulfillment` (cron) or staff, and is listed as pending in the admin."""
    if settings.CELERY_TASK_ALWAYS_EAGER or job.state != JobState.PENDING:
        return
    try:
        fulfil_transaction.apply_async((str(job.transaction_uuid),), eta=job.next_attempt_at)
    except Exception:  # noqa: BLE001 - the broker is down: the reconciler finds the job when it is due
        logger.exception("Could not queue the next try of %s; the reconciler will find it", job.transaction_uuid)
