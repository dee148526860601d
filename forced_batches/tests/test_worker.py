"""A batch through a real Celery worker on RabbitMQ and the LMS fake (a real HTTP server on loopback): the
worker checks the rows, staff confirm, the worker runs them, each learner enrolled at the LMS once.

Needs PostgreSQL and RabbitMQ (the worker fixture of policies/tests/test_celery_worker.py says when it skips).
"""

from __future__ import annotations

import time

import pytest

from demo import data as demo_data
from forced_batches import services
from forced_batches.models import BatchState, ForcedRedemptionBatch
from forced_batches.selectors import summary
from forced_batches.tests.helpers import cohort_policy, csv_bytes, link_cohort, upload
from policies.tests.test_celery_worker import worker  # noqa: F401 - the fixture
from subsidies.models import Transaction, TransactionState

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.broker]


def _wait_for_state(batch, state: str, seconds: float = 60.0) -> ForcedRedemptionBatch:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = ForcedRedemptionBatch.objects.get(pk=batch.pk)
        if batch.state == state:
            return batch
        time.sleep(0.2)
    raise AssertionError(f"batch {batch.pk} is {batch.state}, not {state}, after {seconds} s: {summary(batch)}")


def test_the_worker_checks_and_runs_a_batch_and_the_lms_enrolls_each_learner_once(worker, lms_backend, demo):  # noqa: F811
    ids = link_cohort(5)
    policy = cohort_policy()
    rows = [{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]
    rows.append({"lms_user_id": ids[0], "course_run_key": demo_data.OUTSIDE_RUN})
    batch = upload(csv_bytes(rows), policy=policy)
    assert batch.state == BatchState.CHECKING  # queued: the worker checks it

    batch = _wait_for_state(batch, BatchState.CHECKED)
    assert summary(batch).redeemable == 5 and summary(batch).refused == 1
    services.start_batch(batch=batch, actor=None)
    services.start_batch(batch=batch, actor=None)  # twice: a second run of the same rows charges nothing more
    batch = _wait_for_state(batch, BatchState.FINISHED)

    deadline = time.monotonic() + 30
    while summary(batch).pending and time.monotonic() < deadline:
        time.sleep(0.2)
    numbers = summary(batch)
    assert (numbers.redeemed, numbers.skipped, numbers.errored) == (5, 1, 0)
    for lms_user_id in ids:
        assert Transaction.objects.filter(lms_user_id=lms_user_id, state=TransactionState.COMMITTED).count() == 1
        assert len(lms_backend.enrollments_of(lms_user_id)) == 1
    assert len(lms_backend.calls_to("enroll")) == 5
