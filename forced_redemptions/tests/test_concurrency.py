"""Exactly once and no overdraft under concurrency, and a bounded lock wait (PostgreSQL: real row locks).

Each thread has its own database connection, so the test commits for real (transaction=True) and a
Barrier lines the threads up to collide.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection, transaction
from django.test import Client

from conftest import requires_postgres
from demo import data as demo_data
from demo.services import load_demo
from forced_redemptions.errors import ForcedRedemptionReversed
from forced_redemptions.models import AttemptOutcome, ForcedPolicyRedemption, ForcedState
from forced_redemptions.services import redeem_forced, reverse_forced_redemption
from forced_redemptions.tests.helpers import (
    add_url,
    admin_messages,
    confirmation_post,
    confirmed,
    footprint,
    force,
    form_data,
    spend_policy,
)
from policies.services import redeem, reverse_redemption
from subsidies.models import Reversal, Subsidy, Transaction, TransactionState
from subsidies.selectors import balance_cents
from testing.factories import make_scenario
from testing.locks import row_locked, subsidy_row_locked

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True),
]


def _run_together(*jobs: Callable[[], object]) -> list[object]:
    """Run each job in its own thread (own connection), released together; return results or exceptions."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def work(index: int, job: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = job()
        except Exception as error:  # noqa: BLE001 - surfaced to the test through `results`
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    close_old_connections()
    return results


@requires_postgres
def test_two_staff_redeeming_the_same_record_at_once_charge_once(superuser, django_user_model):
    load_demo()
    other = django_user_model.objects.create_superuser("other", "other@example.com", "pw")
    record = force(wait_to_redeem=True)

    results = _run_together(
        lambda: redeem_forced(record=record, actor=superuser), lambda: redeem_forced(record=record, actor=other)
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.last_attempt.outcome for r in results) == [AttemptOutcome.ALREADY_REDEEMED, AttemptOutcome.REDEEMED]
    assert (footprint().live_transactions, footprint().active_enrollments) == (1, 1)


@requires_postgres
def test_two_staff_adding_the_same_forced_redemption_at_once_charge_once(superuser, django_user_model):
    load_demo()
    other = django_user_model.objects.create_superuser("other", "other@example.com", "pw")
    clients = []
    for user in (superuser, other):
        client = Client()
        client.force_login(user)
        clients.append(client)

    # Each sees the confirmation page first (it writes nothing); then both click "Redeem and charge" at once.
    confirmations = [confirmation_post(client.post(add_url(), form_data())) for client in clients]
    responses = _run_together(
        *[lambda c=c, data=data: c.post(add_url(), data) for c, data in zip(clients, confirmations, strict=True)]
    )

    assert not [r for r in responses if isinstance(r, Exception)], responses
    assert ForcedPolicyRedemption.objects.filter(redeemed_at__isnull=False).count() == 1
    assert (footprint().live_transactions, footprint().active_enrollments) == (1, 1)
    # The one that lost says so: a duplicate form error, or a recorded duplicate_forced_redemption.
    loser = [r for r in responses if r.status_code == 200 or any(m[0] == "error" for m in admin_messages(r))]
    assert len(loser) == 1


@requires_postgres
def test_a_forced_and_a_learner_redemption_of_the_same_at_once_make_one_transaction():
    load_demo()
    policy = spend_policy()

    results = _run_together(
        lambda: force(run_key=demo_data.OPEN_RUN),
        lambda: redeem(policy=policy, lms_user_id=1002, content_key=demo_data.OPEN_RUN),
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    forced, learner = results
    assert forced.state == ForcedState.REDEEMED
    assert forced.transaction_uuid == learner.transaction.uuid
    prints = footprint(run_key=demo_data.OPEN_RUN)
    assert (prints.live_transactions, prints.active_enrollments) == (1, 1)


@requires_postgres
def test_concurrent_forced_and_learner_redemptions_never_overdraw_the_subsidy():
    world = make_scenario(price_cents=10_000, deposit_cents=20_000)
    learners = [world.add_learner() for _ in range(3)]

    results = _run_together(
        lambda: force(policy=world.policy, lms_user_id=world.learner.lms_user_id, run_key=world.run.key),
        lambda: force(policy=world.policy, lms_user_id=learners[0].lms_user_id, run_key=world.run.key),
        lambda: force(policy=world.policy, lms_user_id=learners[1].lms_user_id, run_key=world.run.key),
        lambda: redeem(policy=world.policy, lms_user_id=learners[2].lms_user_id, content_key=world.run.key),
    )

    assert balance_cents(world.subsidy) == 0
    live = Transaction.objects.filter(subsidy=world.subsidy, quantity__lt=0).exclude(state=TransactionState.FAILED)
    assert live.count() == 2
    refused = [r for r in results if isinstance(r, ForcedPolicyRedemption) and r.state == ForcedState.ERRORED]
    assert all(r.error_reason == "not_enough_value_in_subsidy" for r in refused)


@requires_postgres
@pytest.mark.parametrize("through", ["services", "admin"])
def test_a_redemption_that_cannot_get_the_subsidy_lock_fails_with_lock_wait_timeout(
    settings, superuser, client, through
):
    load_demo()
    settings.LOCK_WAIT_TIMEOUT_SECONDS = 0.3
    with subsidy_row_locked(demo_data.SUBSIDY_UUID):
        if through == "services":
            record = force(actor=superuser)
        else:
            client.force_login(superuser)
            response = confirmed(client, add_url(), form_data())
            [(level, text)] = admin_messages(response)
            assert level == "error" and "(lock_wait_timeout)" in text
            record = ForcedPolicyRedemption.objects.get()

    record.refresh_from_db()
    assert (record.state, record.error_reason) == (ForcedState.ERRORED, "lock_wait_timeout")
    assert [a.reason_code for a in record.attempts.all()] == ["lock_wait_timeout"]
    assert footprint() == footprint().__class__(0, 0, 0, demo_data.DEPOSIT_CENTS)

    # The lock is gone: a retry goes through.
    assert redeem_forced(record=record, actor=superuser).state == ForcedState.REDEEMED


@requires_postgres
def test_two_staff_reversing_the_same_record_at_once_refund_once(superuser, django_user_model):
    load_demo()
    other = django_user_model.objects.create_superuser("other", "other@example.com", "pw")
    record = force()

    results = _run_together(
        *[lambda u=u: reverse_forced_redemption(record=record, actor=u, reason="SUP-1") for u in (superuser, other)]
    )

    refused = [r for r in results if isinstance(r, Exception)]
    assert [type(r) for r in refused] == [ForcedRedemptionReversed], results
    assert Reversal.objects.count() == 1
    assert footprint() == footprint().__class__(1, 0, 0, demo_data.DEPOSIT_CENTS)
    assert [a.outcome for a in record.attempts.all()] == [AttemptOutcome.REDEEMED, AttemptOutcome.REVERSED]


@requires_postgres
def test_a_ledger_reversal_that_commits_while_a_forced_reversal_waits_settles_the_record_and_refunds_once(superuser):
    load_demo()
    record = force()
    entry = Transaction.objects.get(pk=record.transaction_uuid)
    reversed_in_ledger = threading.Event()

    def reverse_in_the_ledger_holding_the_subsidy_lock():
        try:
            with transaction.atomic():
                Subsidy.objects.select_for_update().get(pk=entry.subsidy_id)
                reverse_redemption(entry=entry, reason="from the ledger", actor=superuser)
                reversed_in_ledger.set()
                time.sleep(0.5)  # the forced reversal is now waiting for the subsidy lock
        finally:
            connection.close()

    ledger = threading.Thread(target=reverse_in_the_ledger_holding_the_subsidy_lock)
    ledger.start()
    try:
        assert reversed_in_ledger.wait(timeout=10)
        with pytest.raises(ForcedRedemptionReversed):  # waits for the record the ledger reversal settled
            reverse_forced_redemption(record=record, actor=superuser, reason="SUP-1")
    finally:
        ledger.join(timeout=30)

    record.refresh_from_db()
    assert record.state == ForcedState.REVERSED
    assert [a.reason_code for a in record.attempts.all()] == ["", "reversed_in_ledger"]
    assert Reversal.objects.count() == 1
    assert footprint().balance_cents == demo_data.DEPOSIT_CENTS


@requires_postgres
def test_a_ledger_reversal_does_not_wait_for_a_locked_forced_record_which_settles_when_next_touched(
    settings, superuser
):
    load_demo()
    record = force()
    entry = Transaction.objects.get(pk=record.transaction_uuid)
    settings.LOCK_WAIT_TIMEOUT_SECONDS = 0.3  # waiting for the record's lock would fail with lock_wait_timeout

    with row_locked(ForcedPolicyRedemption, record.pk):  # e.g. staff saving the record right now
        reverse_redemption(entry=entry, reason="from the ledger", actor=superuser)

    record.refresh_from_db()
    assert record.state == ForcedState.REDEEMED  # it was locked: left as it was, nothing waited
    assert Reversal.objects.count() == 1 and footprint().balance_cents == demo_data.DEPOSIT_CENTS
    touched = redeem_forced(record=record, actor=superuser)
    assert touched.state == ForcedState.REVERSED
    assert [a.reason_code for a in touched.attempts.all()] == ["", "reversed_in_ledger", "forced_redemption_reversed"]
