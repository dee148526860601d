"""End to end through a real Celery worker on RabbitMQ: a redemption the LMS could not answer at once is
committed by the worker's scheduled retry, and the periodic reconciler's task runs there too.

Needs PostgreSQL (the worker is another process on the same database) and RabbitMQ at CELERY_TEST_BROKER_URL
(default amqp://guest:guest@127.0.0.1:5672//). Skipped without them; with REQUIRE_BROKER=1 (CI) a missing
broker fails instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.db import connection

from learner_credit.celery import app as celery_app
from policies.services import redeem
from policies.tasks import reconcile_fulfillment
from subsidies.models import Transaction, TransactionState
from testing.factories import make_scenario

BROKER_URL = os.environ.get("CELERY_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
ROOT = Path(__file__).resolve().parents[2]


def _broker_reachable() -> bool:
    url = urlparse(BROKER_URL)
    try:
        socket.create_connection((url.hostname, url.port or 5672), timeout=2).close()
        return True
    except OSError:
        return False


def _why_skip() -> str | None:
    if not _broker_reachable():
        return f"no RabbitMQ at {BROKER_URL}"
    return None


pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.broker]


@pytest.fixture
def worker(settings, lms_backend):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker is another process on the same database")
    why = _why_skip()
    if why:
        if os.environ.get("REQUIRE_BROKER") == "1":
            pytest.fail(f"REQUIRE_BROKER=1 but {why}")
        pytest.skip(why)
    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = os.environ | {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "FULFILLMENT_BACKEND": "lms",
        "LMS_URL": settings.LMS_URL,
        "LMS_OAUTH2_CLIENT_ID": settings.LMS_OAUTH2_CLIENT_ID,
        "LMS_OAUTH2_CLIENT_SECRET": settings.LMS_OAUTH2_CLIENT_SECRET,
        "LMS_READ_TIMEOUT_SECONDS": "1",
        "FULFILLMENT_RETRY_BASE_SECONDS": "0.5",
        "FULFILLMENT_RETRY_MAX_SECONDS": "1",
    }
    env.pop("TEST_DATABASE_NAME", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "learner_credit", "worker", "--pool=solo", "-Q", queue]
        + ["--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT,
        env=env,
    )
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.FULFILLMENT_RETRY_BASE_SECONDS = 0.5
    settings.FULFILLMENT_RETRY_MAX_SECONDS = 1.0
    saved = {k: celery_app.conf[k] for k in ("task_always_eager", "broker_url", "task_default_queue")}
    celery_app.conf.update(task_always_eager=False, broker_url=BROKER_URL, task_default_queue=queue)
    try:
        yield process
    finally:
        celery_app.conf.update(saved)
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_for(entry: Transaction, state: str, seconds: float = 45.0) -> Transaction:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        entry.refresh_from_db()
        if entry.state == state:
            return entry
        time.sleep(0.2)
    raise AssertionError(f"transaction {entry.uuid} is {entry.state}, not {state}, after {seconds} s")


def test_the_worker_retries_a_pending_redemption_until_the_lms_is_back(worker, lms_backend):
    s = make_scenario(price_cents=10_000)
    lms_backend.stop()

    entry = redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key).transaction
    assert entry.state == TransactionState.PENDING
    time.sleep(1.5)  # the worker's retries meet a closed port meanwhile
    lms_backend.start()

    _wait_for(entry, TransactionState.COMMITTED)
    assert len(lms_backend.enrollments_of(s.learner.lms_user_id)) == 1
    assert len(lms_backend.calls_to("enroll")) == 1  # the tries while down never reached it


def test_the_reconciler_task_runs_on_the_worker(worker, lms_backend, settings):
    settings.FULFILLMENT_RETRY_BASE_SECONDS = 0.0
    s = make_scenario(price_cents=10_000)
    lms_backend.fail_next("503")
    settings.CELERY_TASK_ALWAYS_EAGER = True  # nothing scheduled for this one: only the reconciler finds it
    entry = redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key).transaction
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert entry.state == TransactionState.PENDING

    reconcile_fulfillment.delay()

    _wait_for(entry, TransactionState.COMMITTED)
    assert len(lms_backend.enrollments_of(s.learner.lms_user_id)) == 1
