"""Fulfillment in the Open edX LMS (and GEAG for exec-ed), over HTTP against contract-faithful fakes.

For every fault: one enrollment downstream per transaction, money moved if and only if committed,
nothing pending after reconciliation, and the forced record's state true. These tests commit for real
(`transaction=True`): fulfilment refuses to run inside a database transaction.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from assignments.models import AssignmentState, LearnerContentAssignment
from conftest import requires_postgres
from demo import data as demo_data
from forced_redemptions.models import ForcedState
from forced_redemptions.services import create_forced_redemption, redeem_forced
from fulfillment.errors import EnrollmentRefused
from fulfillment.models import DownstreamCall, Enrollment, FulfillmentJob, JobState
from policies import settlement
from policies.models import PolicyType, SubsidyAccessPolicy
from policies.services import allocate, redeem, reverse_redemption
from subsidies.models import Transaction, TransactionState
from subsidies.selectors import balance_cents
from testing.factories import make_scenario

pytestmark = pytest.mark.django_db(transaction=True)

PRICE = 10_000
DEPOSIT = 1_000_000


def _redeem(s, **kwargs):
    return redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key, **kwargs).transaction


def _assert_settled_once(s, fake_lms, entry: Transaction, *, committed: bool) -> None:
    entry.refresh_from_db()
    assert entry.state == (TransactionState.COMMITTED if committed else TransactionState.FAILED)
    lms_enrollments = fake_lms.enrollments_of(s.learner.lms_user_id)
    assert len(lms_enrollments) == (1 if committed else 0)
    assert balance_cents(s.subsidy) == DEPOSIT - (PRICE if committed else 0)
    assert Enrollment.objects.filter(transaction_uuid=entry.uuid, active=True).count() == (1 if committed else 0)
    assert not FulfillmentJob.objects.filter(state=JobState.PENDING).exists()
    assert Transaction.objects.filter(state=TransactionState.PENDING).count() == 0
    if committed:
        assert entry.fulfillment_identifier == lms_enrollments[0].fulfillment_uuid


def test_a_healthy_lms_enrolls_once_and_the_redemption_commits(lms_backend):
    s = make_scenario(price_cents=PRICE)

    entry = _redeem(s)

    assert entry.state == TransactionState.COMMITTED
    [call] = lms_backend.calls_to("enroll")
    assert call["path"] == f"/enterprise/api/v1/enterprise-customer/{s.customer.uuid}/enroll_learners_in_courses/"
    assert call["body"] == {
        "enrollments_info": [
            {
                "user_id": s.learner.lms_user_id,
                "course_run_key": s.run.key,
                "transaction_id": str(entry.uuid),
                "force_enrollment": False,
            }
        ]
    }
    _assert_settled_once(s, lms_backend, entry, committed=True)
    [recorded] = DownstreamCall.objects.filter(transaction_uuid=entry.uuid)
    assert (recorded.system, recorded.operation, recorded.outcome, recorded.http_status) == (
        "lms",
        "enroll",
        "succeeded",
        201,
    )


def test_a_redemption_inside_a_callers_transaction_calls_the_lms_only_after_it_commits(lms_backend):
    s = make_scenario(price_cents=PRICE)

    with transaction.atomic():
        entry = _redeem(s)
        assert entry.state == TransactionState.PENDING
        assert lms_backend.calls_to("enroll") == []  # no call while the transaction (and its locks) is open

    entry.refresh_from_db()
    assert entry.state == TransactionState.COMMITTED
    _assert_settled_once(s, lms_backend, entry, committed=True)


def test_a_repeat_of_the_same_request_returns_the_transaction_and_calls_the_lms_once(lms_backend):
    s = make_scenario(price_cents=PRICE)

    first, second = _redeem(s), _redeem(s)

    assert first.uuid == second.uuid
    assert len(lms_backend.calls_to("enroll")) == 1
    _assert_settled_once(s, lms_backend, first, committed=True)


@pytest.mark.parametrize("fault", ["500", "503", "timeout", "reset", "reset_after", "malformed", "token_down"])
def test_an_unknown_outcome_stays_pending_then_commits_once_after_reconciliation(lms_backend, fault):
    s = make_scenario(price_cents=PRICE)
    lms_backend.fail_next(fault)

    entry = _redeem(s)

    assert entry.state == TransactionState.PENDING
    assert balance_cents(s.subsidy) == DEPOSIT - PRICE  # reserved while pending
    job = FulfillmentJob.objects.get(pk=entry.uuid)
    assert (job.state, job.attempts) == (JobState.PENDING, 1)
    assert job.last_error_reason == "downstream_unavailable"

    assert settlement.reconcile(whenever=True)["committed"] == 1

    _assert_settled_once(s, lms_backend, entry, committed=True)
    assert {c["body"]["enrollments_info"][0]["transaction_id"] for c in lms_backend.calls_to("enroll")} <= {
        str(entry.uuid)
    }  # every try, the same transaction
    assert DownstreamCall.objects.filter(transaction_uuid=entry.uuid).count() >= 2


def test_an_expired_token_is_replaced_and_the_call_made_once_more(lms_backend):
    s = make_scenario(price_cents=PRICE)
    _redeem(make_scenario(price_cents=PRICE))  # a token is issued and cached
    lms_backend.fail_next("expired_token")

    entry = _redeem(s)

    assert entry.state == TransactionState.COMMITTED
    _assert_settled_once(s, lms_backend, entry, committed=True)
    statuses = list(DownstreamCall.objects.filter(transaction_uuid=entry.uuid).values_list("http_status", flat=True))
    assert statuses == [401, 201]


def test_an_lms_refusal_fails_the_redemption_and_frees_the_money(lms_backend):
    s = make_scenario(price_cents=PRICE)
    lms_backend.closed_runs.add(s.run.key)  # the LMS says the run is closed; we thought it open

    with pytest.raises(EnrollmentRefused) as refused:
        _redeem(s)

    entry = Transaction.objects.get(lms_user_id=s.learner.lms_user_id)
    _assert_settled_once(s, lms_backend, entry, committed=False)
    assert entry.failure_reason == "enrollment_error"
    assert "HTTP 409" in entry.failure_message and "failures" in entry.failure_message
    assert "HTTP 409" in refused.value.message
    assert FulfillmentJob.objects.get(pk=entry.uuid).state == JobState.FAILED

    lms_backend.closed_runs.clear()  # the LMS opens the run: a retry is a new transaction, and commits
    retry = _redeem(s)
    assert retry.uuid != entry.uuid and retry.state == TransactionState.COMMITTED


def test_an_lms_that_is_down_leaves_the_redemption_pending_until_it_is_back(lms_backend):
    s = make_scenario(price_cents=PRICE)
    lms_backend.stop()

    entry = _redeem(s)
    assert entry.state == TransactionState.PENDING
    assert settlement.reconcile(whenever=True) == {"committed": 0, "failed": 0, "pending": 1, "skipped": 0}

    lms_backend.start()
    assert settlement.reconcile(whenever=True)["committed"] == 1
    _assert_settled_once(s, lms_backend, entry, committed=True)
    assert settlement.reconcile(whenever=True) == {"committed": 0, "failed": 0, "pending": 0, "skipped": 0}


def _twice_at_once(call) -> list:
    """`call()` in two threads at once, each on its own database connection; their results."""
    results = []

    def run():
        try:
            results.append(call())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@requires_postgres
def test_a_concurrent_double_submit_charges_once_and_calls_the_lms_once(lms_backend):
    s = make_scenario(price_cents=PRICE)
    lms_backend.latency_seconds = 0.3  # the second submit arrives while the first waits for the LMS
    results = _twice_at_once(lambda: _redeem(s).uuid)

    assert len(results) == 2 and len(set(results)) == 1
    assert len(lms_backend.calls_to("enroll")) == 1
    _assert_settled_once(s, lms_backend, Transaction.objects.get(pk=results[0]), committed=True)


@requires_postgres
def test_concurrent_tries_of_one_transaction_make_one_downstream_call(lms_backend):
    s = make_scenario(price_cents=PRICE)
    lms_backend.fail_next("503")
    entry = _redeem(s)
    lms_backend.latency_seconds = 0.3  # both tries overlap
    calls_before = len(lms_backend.calls_to("enroll"))

    results = _twice_at_once(lambda: settlement.attempt_fulfilment(entry.uuid, whenever=True).claimed)

    assert sorted(results) == [False, True]
    assert len(lms_backend.calls_to("enroll")) == calls_before + 1
    _assert_settled_once(s, lms_backend, entry, committed=True)


def test_after_the_bounded_tries_the_job_needs_attention_and_still_resolves(lms_backend, settings):
    settings.FULFILLMENT_MAX_ATTEMPTS = 3
    s = make_scenario(price_cents=PRICE)
    lms_backend.fail_next("503", times=3)

    entry = _redeem(s)
    settlement.reconcile(whenever=True)
    settlement.reconcile(whenever=True)

    assert FulfillmentJob.objects.filter(settlement.needs_attention_q()).get().pk == entry.uuid
    assert settlement.reconcile(whenever=True)["committed"] == 1
    assert not FulfillmentJob.objects.filter(settlement.needs_attention_q()).exists()
    _assert_settled_once(s, lms_backend, entry, committed=True)


def test_staff_can_mark_a_pending_redemption_failed_and_its_money_is_free(lms_backend):
    s = make_scenario(price_cents=PRICE)
    lms_backend.stop()
    entry = _redeem(s)

    settlement.mark_failed(transaction_uuid=entry.uuid, note="the LMS has no record of it")

    entry.refresh_from_db()
    assert (entry.state, entry.failure_reason) == (TransactionState.FAILED, "marked_failed_by_staff")
    assert balance_cents(s.subsidy) == DEPOSIT
    lms_backend.start()
    assert settlement.reconcile(whenever=True)["committed"] == 0
    assert lms_backend.calls_to("enroll") == []


def test_a_refused_assigned_redemption_gives_the_allocation_back(lms_backend):
    s = make_scenario(price_cents=PRICE, policy_type=PolicyType.ASSIGNED)
    allocate(policy=s.policy, learner_emails=[s.learner.email], content_key=s.run.key, content_price_cents=PRICE)
    lms_backend.closed_runs.add(s.run.key)

    with pytest.raises(EnrollmentRefused):
        _redeem(s)

    assignment = LearnerContentAssignment.objects.get()
    assert (assignment.state, assignment.transaction_uuid) == (AssignmentState.ALLOCATED, None)
    assert assignment.actions.last().action_type == "errored"


def test_a_reversal_unenrolls_in_the_lms_then_refunds(lms_backend):
    s = make_scenario(price_cents=PRICE)
    entry = _redeem(s)

    reverse_redemption(entry=entry, reason="ticket 42")

    [lms_enrollment] = lms_backend.enrollments_of(s.learner.lms_user_id)
    assert not lms_enrollment.active
    assert len(lms_backend.calls_to("cancel")) == 1
    assert balance_cents(s.subsidy) == DEPOSIT
    assert not Enrollment.objects.filter(active=True).exists()


def test_a_reversal_refunds_nothing_when_the_lms_cannot_unenroll(lms_backend):
    s = make_scenario(price_cents=PRICE)
    entry = _redeem(s)
    lms_backend.fail_next("503", times=2)

    with pytest.raises(Exception) as failed:
        reverse_redemption(entry=entry, reason="ticket 43")

    assert getattr(failed.value, "reason", "") == "downstream_unavailable"
    assert balance_cents(s.subsidy) == DEPOSIT - PRICE
    assert Enrollment.objects.filter(active=True).count() == 1


# Forced redemption, the "done when".


def _force(superuser, **fields):
    return create_forced_redemption(
        actor=superuser,
        subsidy_access_policy=SubsidyAccessPolicy.objects.get(pk=demo_data.SPEND_POLICY_UUID),
        lms_user_id=1003,
        course_run_key=demo_data.CLOSED_RUN,
        reason="ticket 1003",
        **fields,
    )


def test_forcing_into_the_closed_demo_run_enrolls_once_with_force_enrollment(demo, superuser, lms_backend):
    lms_backend.closed_runs.add(demo_data.CLOSED_RUN)

    record = _force(superuser)

    assert record.state == ForcedState.REDEEMED
    [call] = lms_backend.calls_to("enroll")
    [item] = call["body"]["enrollments_info"]
    assert item == {
        "user_id": 1003,
        "course_run_key": demo_data.CLOSED_RUN,
        "transaction_id": str(record.transaction_uuid),
        "force_enrollment": True,
    }
    assert [a.outcome for a in record.attempts.all()] == ["pending", "redeemed"]


def test_forcing_while_the_lms_is_down_stays_pending_and_commits_once_when_it_is_back(demo, superuser, lms_backend):
    lms_backend.stop()

    record = _force(superuser)
    assert record.state == ForcedState.PENDING
    again = redeem_forced(record=record, actor=superuser)  # staff click again: nothing new
    assert again.state == ForcedState.PENDING and Transaction.objects.filter(lms_user_id=1003).count() == 1

    lms_backend.start()
    settlement.reconcile(whenever=True)

    record.refresh_from_db()
    assert record.state == ForcedState.REDEEMED
    assert len(lms_backend.calls_to("enroll")) == 1
    assert len(lms_backend.enrollments_of(1003)) == 1
    entry = Transaction.objects.get(pk=record.transaction_uuid)
    assert entry.state == TransactionState.COMMITTED
    assert [a.outcome for a in record.attempts.all()] == ["pending", "pending", "redeemed"]


def test_a_forced_redemption_the_lms_refuses_is_errored_with_its_answer(demo, superuser, lms_backend):
    lms_backend.known_user_ids = {1001}

    record = _force(superuser)

    assert record.state == ForcedState.ERRORED
    assert record.error_reason == "enrollment_error"
    assert "HTTP 409" in record.error_message and "invalid_user_ids" in record.error_message
    assert balance_cents(demo_data.SUBSIDY_UUID) == demo_data.DEPOSIT_CENTS
