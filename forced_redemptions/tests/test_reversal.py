"""Undoing a forced redemption (DOMAIN.md invariant 5): an explicit reversal, refund + unenroll, after which
the same learner, run and policy may be forced again. Through the services, on the real database."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assignments.models import AssignmentState, LearnerContentAssignment
from common.errors import InvalidInput
from demo import data as demo_data
from forced_redemptions.errors import (
    DuplicateForcedRedemption,
    ForcedRedemptionNotRedeemed,
    ForcedRedemptionReversed,
    SettledForcedRedemption,
)
from forced_redemptions.models import AttemptOutcome, ForcedPolicyRedemption, ForcedState
from forced_redemptions.selectors import check_forced
from forced_redemptions.services import redeem_forced, reverse_forced_redemption, update_forced_redemption
from forced_redemptions.tests.helpers import (
    assigned_policy,
    footprint,
    force,
    refund_in_the_ledger_only,
    spend_policy,
)
from fulfillment.models import Enrollment
from policies.services import reverse_redemption
from subsidies.models import Reversal, Transaction

TICKET = "SUP-4243: forced into the wrong run"


def test_reversing_refunds_unenrolls_and_records_the_attempt(demo, superuser):
    record = force()
    before = footprint()

    reversed_ = reverse_forced_redemption(record=record, actor=superuser, reason=TICKET)

    assert reversed_.state == ForcedState.REVERSED and reversed_.reversed_at is not None
    reversal = Reversal.objects.get(transaction_id=record.transaction_uuid)
    assert reversal.quantity == 10_000 and reversal.created_by == superuser and TICKET in reversal.reason
    assert reversed_.reversed_at == reversal.created
    assert not Enrollment.objects.get(transaction_uuid=record.transaction_uuid).active
    after = footprint()
    assert after.balance_cents == before.balance_cents + 10_000
    assert after.active_enrollments == 0
    attempt = reversed_.last_attempt
    assert (attempt.outcome, attempt.attempted_by, attempt.transaction_uuid, attempt.charged_cents) == (
        AttemptOutcome.REVERSED,
        superuser,
        record.transaction_uuid,
        -10_000,
    )
    assert TICKET in attempt.message
    assert [a.outcome for a in record.attempts.all()] == [AttemptOutcome.REDEEMED, AttemptOutcome.REVERSED]
    assert record.history.first().reversed_at == reversed_.reversed_at  # history picks it up
    # Still settled: the record is the audit trail.
    with pytest.raises(SettledForcedRedemption):
        update_forced_redemption(record=reversed_, actor=superuser, content_price_cents=1)


def test_reversing_an_assigned_redemption_marks_the_assignment_reversed(demo):
    record = force(policy=assigned_policy())

    reverse_forced_redemption(record=record, actor=None, reason=TICKET)

    assignment = LearnerContentAssignment.objects.get(transaction_uuid=record.transaction_uuid)
    assert assignment.state == AssignmentState.REVERSED


def test_reversing_twice_is_refused_and_refunds_once(demo, superuser):
    record = force()
    reverse_forced_redemption(record=record, actor=superuser, reason=TICKET)
    balance = footprint().balance_cents

    with pytest.raises(ForcedRedemptionReversed) as refused:
        reverse_forced_redemption(record=record, actor=superuser, reason=TICKET)

    assert refused.value.http_status == 409 and "already reversed" in refused.value.message
    assert footprint().balance_cents == balance
    assert Reversal.objects.count() == 1
    assert record.attempts.count() == 2


@pytest.mark.parametrize("fields", [{"wait_to_redeem": True}, {"lms_user_id": 999_999}], ids=["waiting", "errored"])
def test_only_a_redeemed_record_can_be_reversed(demo, fields):
    record = force(**fields)
    before = footprint(lms_user_id=record.lms_user_id)

    with pytest.raises(ForcedRedemptionNotRedeemed) as refused:
        reverse_forced_redemption(record=record, actor=None, reason=TICKET)

    assert refused.value.http_status == 409 and record.state in refused.value.message
    record.refresh_from_db()
    assert record.reversed_at is None and footprint(lms_user_id=record.lms_user_id) == before


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_reversal_needs_a_reason(demo, reason):
    record = force()

    with pytest.raises(InvalidInput) as refused:
        reverse_forced_redemption(record=record, actor=None, reason=reason)

    assert "reason" in refused.value.field_errors
    record.refresh_from_db()
    assert record.state == ForcedState.REDEEMED and footprint().active_enrollments == 1


def test_after_a_forced_reversal_the_same_can_be_forced_again_with_a_new_transaction(demo, superuser):
    first = force()
    reverse_forced_redemption(record=first, actor=superuser, reason=TICKET)

    second = force(actor=superuser)

    assert second.state == ForcedState.REDEEMED
    assert second.transaction_uuid != first.transaction_uuid
    prints = footprint()
    assert (prints.live_transactions, prints.active_enrollments) == (2, 1)
    assert prints.balance_cents == demo_data.DEPOSIT_CENTS - 10_000
    with pytest.raises(DuplicateForcedRedemption):  # the new one stands until it is reversed in turn
        force()


def test_after_a_reversal_in_the_ledger_the_same_can_be_forced_again_and_the_old_record_says_so(demo, superuser):
    first = force()
    entry = Transaction.objects.get(pk=first.transaction_uuid)
    reversal = reverse_redemption(entry=entry, reason="Refunded from the ledger", actor=superuser)

    second = force()

    first.refresh_from_db()
    assert (first.state, first.reversed_at) == (ForcedState.REVERSED, reversal.created)
    noted = first.attempts.last()
    assert (noted.outcome, noted.attempted_by, noted.charged_cents) == (AttemptOutcome.REVERSED, superuser, -10_000)
    assert "Refunded from the ledger" in noted.message
    assert second.state == ForcedState.REDEEMED and second.transaction_uuid != first.transaction_uuid
    assert footprint().active_enrollments == 1


def test_a_reversal_in_the_ledger_settles_the_forced_record_in_the_same_transaction(demo, superuser):
    record = force()
    entry = Transaction.objects.get(pk=record.transaction_uuid)

    reversal = reverse_redemption(entry=entry, reason="Refunded from the ledger", actor=superuser)

    record.refresh_from_db()
    assert (record.state, record.reversed_at) == (ForcedState.REVERSED, reversal.created)
    assert [(a.outcome, a.reason_code) for a in record.attempts.all()] == [
        (AttemptOutcome.REDEEMED, ""),
        (AttemptOutcome.REVERSED, "reversed_in_ledger"),
    ]
    balance = footprint().balance_cents
    with pytest.raises(ForcedRedemptionReversed):
        reverse_forced_redemption(record=record, actor=superuser, reason=TICKET)
    assert footprint().balance_cents == balance and Reversal.objects.count() == 1


def test_a_forced_reversal_notes_one_reversal_not_a_second_from_the_ledger(demo, superuser):
    record = force()
    reverse_forced_redemption(record=record, actor=superuser, reason=TICKET)
    assert [(a.outcome, a.reason_code) for a in record.attempts.all()] == [
        (AttemptOutcome.REDEEMED, ""),
        (AttemptOutcome.REVERSED, ""),
    ]


def test_reversing_a_record_already_reversed_in_the_ledger_notes_it_and_refunds_nothing_more(demo, superuser):
    record = force()
    refund_in_the_ledger_only(Transaction.objects.get(pk=record.transaction_uuid))
    balance = footprint().balance_cents

    noted = reverse_forced_redemption(record=record, actor=superuser, reason=TICKET)

    assert noted.state == ForcedState.REVERSED
    assert noted.last_attempt.outcome == AttemptOutcome.REVERSED and "in the ledger" in noted.last_attempt.message
    assert footprint().balance_cents == balance and Reversal.objects.count() == 1


def test_without_a_reversal_a_second_forced_redemption_is_still_a_duplicate(demo):
    first = force()
    Enrollment.objects.filter(transaction_uuid=first.transaction_uuid).update(active=False)  # not a reversal

    with pytest.raises(DuplicateForcedRedemption) as refused:
        force()

    assert "Reverse it first" in refused.value.message
    assert ForcedPolicyRedemption.objects.count() == 1


def test_a_reversed_record_is_not_redeemed_again(demo, superuser):
    record = force()
    reverse_forced_redemption(record=record, actor=superuser, reason=TICKET)
    before = footprint()

    again = redeem_forced(record=record, actor=superuser)
    resaved = update_forced_redemption(record=record, actor=superuser, redeem_now=True, reason="noted")

    assert again.state == resaved.state == ForcedState.REVERSED
    attempt = again.last_attempt
    assert (attempt.outcome, attempt.reason_code, attempt.charged_cents) == (
        AttemptOutcome.ALREADY_REDEEMED,
        "forced_redemption_reversed",
        0,
    )
    assert "reversed on" in attempt.message and "not redeemed again" in attempt.message
    assert footprint() == before


def test_a_record_reversed_in_the_ledger_is_not_redeemed_again_either(demo):
    record = force()
    reverse_redemption(entry=Transaction.objects.get(pk=record.transaction_uuid))

    again = redeem_forced(record=record, actor=None)

    assert again.state == ForcedState.REVERSED
    assert [a.outcome for a in again.attempts.all()] == ["redeemed", "reversed", "already_redeemed"]
    assert footprint().active_enrollments == 0


def test_check_forced_of_a_reversed_record_and_after_a_ledger_reversal_writes_nothing(demo):
    first = force()
    refund_in_the_ledger_only(Transaction.objects.get(pk=first.transaction_uuid))
    waiting = force(wait_to_redeem=True, lms_user_id=1003)
    new = ForcedPolicyRedemption(
        subsidy_access_policy=spend_policy(), lms_user_id=1002, course_run_key=demo_data.CLOSED_RUN
    )

    with CaptureQueriesContext(connection) as queries:
        verdict = check_forced(new)

    assert verdict.can_redeem, verdict
    assert not [q for q in queries.captured_queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE")]
    first.refresh_from_db()
    assert first.reversed_at is None  # a dry run settles nothing; redeeming (or any write path) does
    first = redeem_forced(record=first, actor=None)
    assert (check_forced(first).can_redeem, check_forced(first).reason) == (False, "forced_redemption_reversed")
    assert check_forced(waiting).can_redeem


def test_the_database_still_allows_one_standing_redeemed_record_per_policy_learner_and_run(demo):
    first = force()
    same = {
        "subsidy_access_policy": first.subsidy_access_policy,
        "lms_user_id": first.lms_user_id,
        "course_run_key": first.course_run_key,
        "reason": "direct",
    }

    with pytest.raises(IntegrityError), transaction.atomic():
        ForcedPolicyRedemption.objects.create(**same, redeemed_at=timezone.now())

    reverse_forced_redemption(record=first, actor=None, reason=TICKET)
    ForcedPolicyRedemption.objects.create(**same, redeemed_at=timezone.now())  # a reversed one does not stand
    with pytest.raises(IntegrityError), transaction.atomic():
        ForcedPolicyRedemption.objects.create(**same, redeemed_at=timezone.now())
    assert spend_policy().forced_redemptions.filter(reversed_at__isnull=False).count() == 1
