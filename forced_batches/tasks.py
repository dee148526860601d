"""The batch's background work (Celery; inline when no broker is configured). Each is safe to run twice:
the check takes the unchecked rows, the run the rows without an outcome (runner.py)."""

from __future__ import annotations

from celery import shared_task

from forced_batches import runner, services


@shared_task(name="forced_batches.tasks.check_batch")
def check_batch(batch_uuid: str) -> str:
    return services.check_batch(batch_uuid).state


@shared_task(name="forced_batches.tasks.run_batch")
def run_batch(batch_uuid: str) -> str:
    return runner.run_batch(batch_uuid).state


@shared_task(name="forced_batches.tasks.resume_batches")
def resume_batches() -> dict[str, int]:
    """Periodic: queue again the checks and runs that a lost message or a dead worker left behind."""
    return services.resume_batches()
