"""What staff and operators do with redemptions waiting for the LMS: the admin's jobs page and the command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from fulfillment.models import FulfillmentJob, JobState
from policies.services import redeem
from subsidies.models import TransactionState
from subsidies.selectors import balance_cents
from testing.factories import make_scenario

pytestmark = pytest.mark.django_db(transaction=True)

JOBS = reverse("admin:fulfillment_fulfillmentjob_changelist")


def _pending(lms, settings, *, tries: int = 1):
    settings.FULFILLMENT_MAX_ATTEMPTS = tries
    s = make_scenario(price_cents=10_000)
    lms.stop()
    entry = redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key).transaction
    assert entry.state == TransactionState.PENDING
    return s, entry


def test_the_jobs_page_lists_what_needs_attention_with_every_answer(admin_client, lms_backend, settings):
    _, entry = _pending(lms_backend, settings)

    listing = admin_client.get(JOBS, {"attention": "needs"})
    page = admin_client.get(reverse("admin:fulfillment_fulfillmentjob_change", args=[entry.uuid]))

    assert listing.status_code == 200 and str(entry.uuid) in listing.content.decode()
    text = page.content.decode()
    assert "ConnectionError" in text and "downstream_unavailable" in text


def test_retry_now_commits_once_the_lms_is_back(admin_client, lms_backend, settings):
    s, entry = _pending(lms_backend, settings)
    lms_backend.start()

    response = admin_client.post(JOBS, {"action": "retry_now", "_selected_action": [str(entry.uuid)]}, follow=True)

    assert "1 committed, 0 failed" in response.content.decode()
    entry.refresh_from_db()
    assert entry.state == TransactionState.COMMITTED
    assert len(lms_backend.enrollments_of(s.learner.lms_user_id)) == 1


def test_mark_failed_frees_the_money(admin_client, lms_backend, settings):
    s, entry = _pending(lms_backend, settings)

    response = admin_client.post(JOBS, {"action": "mark_failed", "_selected_action": [str(entry.uuid)]}, follow=True)

    assert "1 marked failed" in response.content.decode()
    entry.refresh_from_db()
    assert entry.state == TransactionState.FAILED
    assert balance_cents(s.subsidy) == 1_000_000
    assert FulfillmentJob.objects.get().state == JobState.FAILED


def test_reconcile_fulfillment_tries_every_pending_job_whatever_its_schedule(lms_backend, settings):
    settings.FULFILLMENT_RETRY_BASE_SECONDS = 3600.0  # the next scheduled try is an hour away
    s, entry = _pending(lms_backend, settings)
    lms_backend.start()

    due = StringIO()
    call_command("reconcile_fulfillment", "--due", stdout=due)
    everything = StringIO()
    call_command("reconcile_fulfillment", stdout=everything)

    assert due.getvalue().startswith("0 pending job(s) tried")
    assert "1 pending job(s) tried: 1 committed" in everything.getvalue()
    entry.refresh_from_db()
    assert entry.state == TransactionState.COMMITTED
