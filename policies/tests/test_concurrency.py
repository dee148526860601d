"""Concurrent redemptions on PostgreSQL: row locks keep every balance and limit, and every request, exact.

Real threads, each with its own database connection, released together by a barrier. On SQLite these
skip: the test database is one in-memory connection, so there is nothing concurrent to observe.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from common.errors import LockWaitTimeout
from conftest import requires_postgres
from fulfillment.models import Enrollment
from policies import reasons
from policies.errors import RedemptionRefused
from policies.models import PolicyType
from policies.services import redeem
from subsidies.models import Transaction, TransactionState
from subsidies.selectors import balance_cents, policy_spend
from testing.factories import make_scenario
from testing.locks import subsidy_row_locked

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


def _together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads started at once; each result is the return value or the exception raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def work(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as error:  # noqa: BLE001 - the test inspects it
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def _outcomes(results) -> Counter:
    return Counter(type(r).__name__ if not isinstance(r, RedemptionRefused) else r.reason for r in results)


def _redeem_call(s, lms_user_id, content_key):
    return lambda: redeem(policy=s.policy, lms_user_id=lms_user_id, content_key=content_key)


def test_concurrent_learners_never_take_the_subsidy_below_zero():
    s = make_scenario(deposit_cents=30_000, price_cents=10_000)
    learners = [s.add_learner() for _ in range(THREADS)]

    results = _together([_redeem_call(s, learner.lms_user_id, s.run.key) for learner in learners])

    assert _outcomes(results) == {"Redemption": 3, reasons.NOT_ENOUGH_VALUE_IN_SUBSIDY: THREADS - 3}
    assert balance_cents(s.subsidy) == 0
    assert Enrollment.objects.count() == 3
    assert Transaction.objects.filter(state=TransactionState.COMMITTED, quantity__lt=0).count() == 3


def test_concurrent_learners_never_take_a_policy_past_its_spend_limit():
    s = make_scenario(spend_limit_cents=30_000, price_cents=10_000)
    learners = [s.add_learner() for _ in range(THREADS)]

    results = _together([_redeem_call(s, learner.lms_user_id, s.run.key) for learner in learners])

    assert _outcomes(results) == {"Redemption": 3, reasons.POLICY_SPEND_LIMIT_REACHED: THREADS - 3}
    assert policy_spend(s.policy.pk)["spent_cents"] == 30_000
    assert balance_cents(s.subsidy) == 1_000_000 - 30_000


def test_the_same_request_sent_concurrently_makes_one_transaction_and_one_enrollment():
    s = make_scenario()

    results = _together([_redeem_call(s, s.learner.lms_user_id, s.run.key) for _ in range(THREADS)])

    assert _outcomes(results) == {"Redemption": THREADS}
    assert sorted(r.created for r in results) == [False] * (THREADS - 1) + [True]
    assert len({r.transaction.uuid for r in results}) == 1
    assert Transaction.objects.filter(lms_user_id=s.learner.lms_user_id).count() == 1
    assert Enrollment.objects.filter(lms_user_id=s.learner.lms_user_id).count() == 1
    assert balance_cents(s.subsidy) == 1_000_000 - 10_000


@pytest.mark.parametrize(
    ("policy_args", "reason"),
    [
        ({"per_learner_spend_limit_cents": 20_000}, reasons.LEARNER_MAX_SPEND_REACHED),
        (
            {"policy_type": PolicyType.PER_LEARNER_ENROLLMENT, "per_learner_enrollment_limit": 2},
            reasons.LEARNER_MAX_ENROLLMENTS_REACHED,
        ),
    ],
    ids=["spend cap", "enrollment cap"],
)
def test_one_learner_redeeming_different_content_concurrently_never_passes_their_limit(policy_args, reason):
    s = make_scenario(price_cents=10_000, **policy_args)
    runs = [s.run] + [s.add_run(price_cents=10_000) for _ in range(THREADS - 1)]

    results = _together([_redeem_call(s, s.learner.lms_user_id, run.key) for run in runs])

    assert _outcomes(results) == {"Redemption": 2, reason: THREADS - 2}
    assert policy_spend(s.policy.pk, lms_user_id=s.learner.lms_user_id) == {"spent_cents": 20_000, "redemptions": 2}
    assert Enrollment.objects.filter(lms_user_id=s.learner.lms_user_id).count() == 2


def test_a_redemption_that_cannot_get_the_subsidy_lock_in_time_fails_cleanly_and_writes_nothing(settings):
    s = make_scenario()
    with subsidy_row_locked(s.subsidy.pk):
        settings.LOCK_WAIT_TIMEOUT_SECONDS = 0.2
        with pytest.raises(LockWaitTimeout) as timed_out:
            redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)

    assert timed_out.value.reason == "lock_wait_timeout"
    assert not Transaction.objects.filter(lms_user_id=s.learner.lms_user_id).exists()
    assert not Enrollment.objects.exists()
    assert balance_cents(s.subsidy) == 1_000_000
    settings.LOCK_WAIT_TIMEOUT_SECONDS = 5
    assert redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key).created
