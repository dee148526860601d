"""A redemption is one unit of work: charge, enrollment and assignment update commit together or not at all."""

from __future__ import annotations

import pytest

from assignments.models import ActionType, AssignmentState, LearnerContentAssignment
from fulfillment.errors import EnrollmentRefused
from fulfillment.models import Enrollment
from policies import reasons
from policies.errors import RedemptionRefused
from policies.models import PolicyType
from policies.services import allocate, derive_idempotency_key, redeem, reverse_redemption
from subsidies.errors import AlreadyReversed, InvalidRequestedPrice, NotReversible
from subsidies.models import Transaction, TransactionState
from subsidies.selectors import balance_cents, policy_spend
from testing.factories import make_scenario

pytestmark = pytest.mark.django_db


def _redeem(s, **kwargs):
    return redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key, **kwargs)


def _enroll_outside_the_service(s) -> Enrollment:
    """The learner is already enrolled in the run: the local backend refuses a second active enrollment."""
    return Enrollment.objects.create(lms_user_id=s.learner.lms_user_id, course_run=s.run)


def test_redemption_charges_exactly_the_price_enrolls_and_commits_with_metadata():
    s = make_scenario(price_cents=12_345)

    result = _redeem(s, metadata={"source": "learner portal"})

    entry = result.transaction
    assert result.created is True
    assert entry.state == TransactionState.COMMITTED
    assert entry.quantity == -12_345
    assert balance_cents(s.subsidy) == 1_000_000 - 12_345
    assert entry.metadata == {"source": "learner portal"}
    assert (entry.lms_user_id, entry.lms_user_email, entry.content_key) == (
        s.learner.lms_user_id,
        s.learner.email,
        s.run.key,
    )
    assert (entry.parent_content_key, entry.content_title) == (s.run.course.key, s.run.course.title)
    assert entry.subsidy_access_policy_uuid == s.policy.pk
    assert entry.idempotency_key == derive_idempotency_key(s.policy, s.learner.lms_user_id, s.run.key)
    enrollment = Enrollment.objects.get(lms_user_id=s.learner.lms_user_id, course_run=s.run)
    assert enrollment.active and not enrollment.forced
    assert enrollment.transaction_uuid == entry.uuid
    assert entry.fulfillment_identifier == str(enrollment.pk)


def test_repeating_a_redemption_returns_the_same_transaction_and_charges_nothing_more():
    s = make_scenario()
    first = _redeem(s)

    again = _redeem(s)

    assert again.created is False
    assert again.transaction.uuid == first.transaction.uuid
    assert Transaction.objects.filter(lms_user_id=s.learner.lms_user_id).count() == 1
    assert Enrollment.objects.filter(lms_user_id=s.learner.lms_user_id).count() == 1
    assert balance_cents(s.subsidy) == 1_000_000 - 10_000


def test_fulfillment_failure_after_the_ledger_entry_leaves_no_charge_and_a_failed_transaction():
    s = make_scenario()
    outside = _enroll_outside_the_service(s)
    key_before = derive_idempotency_key(s.policy, s.learner.lms_user_id, s.run.key)

    with pytest.raises(EnrollmentRefused) as refused:
        _redeem(s, metadata={"note": "kept on the failed entry"})

    assert refused.value.reason == "enrollment_error"
    assert balance_cents(s.subsidy) == 1_000_000
    assert policy_spend(s.policy.pk)["spent_cents"] == 0
    assert list(Enrollment.objects.filter(lms_user_id=s.learner.lms_user_id)) == [outside]
    failed = Transaction.objects.get(lms_user_id=s.learner.lms_user_id)
    assert failed.state == TransactionState.FAILED
    assert failed.failure_reason == "enrollment_error"
    assert "already enrolled" in failed.failure_message
    assert failed.metadata == {"note": "kept on the failed entry"}
    assert failed.idempotency_key == key_before


def test_fulfillment_failure_gives_the_allocation_back_and_says_so_in_its_timeline():
    s = make_scenario(policy_type=PolicyType.ASSIGNED)
    allocate(policy=s.policy, learner_emails=[s.learner.email], content_key=s.run.key, content_price_cents=10_000)
    assignment = LearnerContentAssignment.objects.get()
    actions_before = list(assignment.actions.values_list("action_type", flat=True))
    _enroll_outside_the_service(s)

    with pytest.raises(EnrollmentRefused):
        _redeem(s)

    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.ALLOCATED
    assert assignment.transaction_uuid is None
    timeline = list(assignment.actions.values_list("action_type", "error_reason"))
    assert timeline == [(a, "") for a in actions_before] + [("redeemed", ""), ("errored", "enrollment_error")]
    assert balance_cents(s.subsidy) == 1_000_000


def test_retry_after_fulfillment_failure_gets_a_new_idempotency_key():
    s = make_scenario()
    outside = _enroll_outside_the_service(s)
    with pytest.raises(EnrollmentRefused):
        _redeem(s)
    failed = Transaction.objects.get(lms_user_id=s.learner.lms_user_id)
    outside.active = False
    outside.save()

    retry = _redeem(s)

    assert retry.created is True
    assert retry.transaction.uuid != failed.uuid
    assert retry.transaction.idempotency_key != failed.idempotency_key
    assert retry.transaction.state == TransactionState.COMMITTED
    assert balance_cents(s.subsidy) == 1_000_000 - 10_000
    assert _redeem(s).transaction.uuid == retry.transaction.uuid


def test_retry_after_a_reversal_gets_a_new_idempotency_key_and_charges_again():
    s = make_scenario()
    first = _redeem(s).transaction
    reverse_redemption(entry=first, reason="refund requested")

    second = _redeem(s)

    assert second.created is True
    assert second.transaction.idempotency_key != first.idempotency_key
    assert balance_cents(s.subsidy) == 1_000_000 - 10_000
    assert Enrollment.objects.get(lms_user_id=s.learner.lms_user_id, active=True).transaction_uuid == (
        second.transaction.uuid
    )


def test_balance_ignores_failed_entries_and_adds_back_reversals():
    s = make_scenario(price_cents=10_000)
    kept = _redeem(s).transaction
    refunded = redeem(policy=s.policy, lms_user_id=s.add_learner().lms_user_id, content_key=s.run.key).transaction
    unlucky = s.add_learner()
    Enrollment.objects.create(lms_user_id=unlucky.lms_user_id, course_run=s.run)
    with pytest.raises(EnrollmentRefused):
        redeem(policy=s.policy, lms_user_id=unlucky.lms_user_id, content_key=s.run.key)
    reverse_redemption(entry=refunded)

    assert Transaction.objects.filter(state=TransactionState.FAILED).count() == 1
    assert balance_cents(s.subsidy) == 1_000_000 - 10_000
    assert policy_spend(s.policy.pk) == {"spent_cents": 10_000, "redemptions": 1}
    assert kept.state == TransactionState.COMMITTED


def test_reversal_refunds_unenrolls_and_marks_the_assignment_reversed():
    s = make_scenario(policy_type=PolicyType.ASSIGNED)
    allocate(policy=s.policy, learner_emails=[s.learner.email], content_key=s.run.key, content_price_cents=10_000)
    entry = _redeem(s).transaction

    reversal = reverse_redemption(entry=entry, reason="wrong course")

    assert reversal.quantity == 10_000 and reversal.reason == "wrong course"
    assert balance_cents(s.subsidy) == 1_000_000
    assert not Enrollment.objects.get(transaction_uuid=entry.uuid).active
    assignment = LearnerContentAssignment.objects.get()
    assert assignment.state == AssignmentState.REVERSED
    assert assignment.actions.last().action_type == ActionType.REVERSED
    with pytest.raises(RedemptionRefused) as refused:
        _redeem(s)
    assert refused.value.reason == reasons.LEARNER_ASSIGNMENT_REVERSED


def test_a_second_reversal_is_refused_and_refunds_nothing_more():
    s = make_scenario()
    entry = _redeem(s).transaction
    reverse_redemption(entry=entry)

    with pytest.raises(AlreadyReversed):
        reverse_redemption(entry=entry)

    assert balance_cents(s.subsidy) == 1_000_000


def test_a_failed_transaction_cannot_be_reversed():
    s = make_scenario()
    _enroll_outside_the_service(s)
    with pytest.raises(EnrollmentRefused):
        _redeem(s)

    with pytest.raises(NotReversible):
        reverse_redemption(entry=Transaction.objects.get(state=TransactionState.FAILED))

    assert balance_cents(s.subsidy) == 1_000_000


def test_a_learner_cannot_open_a_closed_run_by_sending_allow_late_enrollment():
    """Only a forced redemption or the policy's late-redemption window may enroll late."""
    s = make_scenario(run_fields={"is_enrollable": False})

    with pytest.raises(EnrollmentRefused):
        _redeem(s, metadata={"allow_late_enrollment": True})

    assert not Transaction.objects.filter(lms_user_id=s.learner.lms_user_id).exists()
    assert not Enrollment.objects.exists()


def test_forced_redemption_into_a_closed_run_enrolls_and_charges_once():
    s = make_scenario(run_fields={"is_enrollable": False})

    first = _redeem(s, forced=True)
    again = _redeem(s, forced=True)

    assert first.created and not again.created
    assert first.transaction.metadata["allow_late_enrollment"] is True
    assert Enrollment.objects.get(lms_user_id=s.learner.lms_user_id).forced
    assert balance_cents(s.subsidy) == 1_000_000 - 10_000


@pytest.mark.parametrize("price", [-1, 10.5, True, "100"])
def test_an_invalid_price_override_is_refused_before_anything_is_written(price):
    s = make_scenario()

    with pytest.raises(InvalidRequestedPrice):
        _redeem(s, price_cents=price)

    assert not Transaction.objects.filter(lms_user_id=s.learner.lms_user_id).exists()
    assert balance_cents(s.subsidy) == 1_000_000


def test_a_price_override_is_what_gets_charged():
    s = make_scenario()
    assert _redeem(s, price_cents=0, forced=True).transaction.quantity == 0
