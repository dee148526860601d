"""ADR 0019 through the services: what forcing does, what it refuses, and that it happens once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assignments.models import AssignmentState, LearnerContentAssignment
from customers.models import EnterpriseCustomer
from demo import data as demo_data
from forced_redemptions.errors import DuplicateForcedRedemption, SettledForcedRedemption
from forced_redemptions.models import AttemptOutcome, ForcedPolicyRedemption, ForcedState
from forced_redemptions.selectors import check_forced
from forced_redemptions.services import redeem_forced, update_forced_redemption
from forced_redemptions.tests.helpers import (
    UNKNOWN_LEARNER,
    UNKNOWN_RUN,
    assigned_policy,
    enrollment_policy,
    footprint,
    force,
    spend_policy,
)
from fulfillment.models import Enrollment
from policies import services as policy_services
from policies.models import PolicyType, SubsidyAccessPolicy
from policies.redeemability import can_redeem
from subsidies.models import Transaction, TransactionState
from testing.factories import make_scenario

EXEC_ED_DATA = {
    "learner_first_name": "Grace",
    "learner_last_name": "Hopper",
    "learner_date_of_birth": dt.date(1990, 12, 9),
    "learner_terms_accepted_at": dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC),
}


def test_forced_redemption_into_closed_run_enrolls_and_charges_once(demo, superuser):
    before = footprint()

    record = force(actor=superuser)

    assert record.state == ForcedState.REDEEMED
    assert record.charged_cents == 10_000
    entry = Transaction.objects.get(uuid=record.transaction_uuid)
    assert entry.state == TransactionState.COMMITTED
    assert entry.quantity == -10_000
    assert entry.metadata["allow_late_enrollment"] is True
    assert entry.metadata["forced_redemption_uuid"] == str(record.uuid)
    enrollment = Enrollment.objects.get(transaction_uuid=entry.uuid)
    assert enrollment.active and enrollment.forced and enrollment.lms_user_id == 1002
    after = footprint()
    assert after.live_transactions == before.live_transactions + 1
    assert after.active_enrollments == 1
    assert after.balance_cents == before.balance_cents - 10_000
    assert record.created_by == record.modified_by == superuser
    [attempt] = record.attempts.all()
    assert (attempt.outcome, attempt.attempted_by, attempt.transaction_uuid) == (
        AttemptOutcome.REDEEMED,
        superuser,
        entry.uuid,
    )


def test_forced_redemption_past_the_enrollment_deadline_enrolls(db):
    past = timezone.now() - dt.timedelta(days=3)
    world = make_scenario(run_fields={"enroll_by": past, "is_enrollable": True})
    refused = can_redeem(world.policy, lms_user_id=world.learner.lms_user_id, content_key=world.run.key)
    assert refused.reason == "beyond_enrollment_deadline"  # the learner's own path is closed

    record = force(policy=world.policy, lms_user_id=world.learner.lms_user_id, run_key=world.run.key)

    assert record.state == ForcedState.REDEEMED
    assert Enrollment.objects.get(transaction_uuid=record.transaction_uuid).forced


@pytest.mark.parametrize("policy", [spend_policy, enrollment_policy], ids=["per-learner-spend", "per-learner-enroll"])
def test_each_direct_policy_type_redeems_a_forced_redemption(demo, policy):
    record = force(policy=policy())
    assert record.state == ForcedState.REDEEMED
    assert footprint().active_enrollments == 1


def test_forced_redemption_still_applies_the_policys_learner_limits(db):
    world = make_scenario(policy_type=PolicyType.PER_LEARNER_ENROLLMENT, per_learner_enrollment_limit=1)
    other = world.add_run()
    force(policy=world.policy, lms_user_id=world.learner.lms_user_id, run_key=world.run.key)

    record = force(policy=world.policy, lms_user_id=world.learner.lms_user_id, run_key=other.key)

    assert (record.state, record.error_reason) == (ForcedState.ERRORED, "learner_max_enrollments_reached")


def test_assigned_policy_allocates_and_accepts_the_learners_assignment_without_mail(
    demo, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        record = force(policy=assigned_policy())

    assert record.state == ForcedState.REDEEMED
    assignment = LearnerContentAssignment.objects.get()
    assert assignment.state == AssignmentState.ACCEPTED
    assert assignment.transaction_uuid == record.transaction_uuid
    assert assignment.content_key == demo_data.CLOSED_RUN
    assert mailoutbox == []


def test_assigned_policy_reuses_the_allocated_assignment_at_its_price(demo):
    policy = assigned_policy()
    [allocated] = policy_services.allocate(
        policy=policy,
        learner_emails=["learner1002@demo-university.example"],
        content_key=demo_data.CLOSED_RUN,
        content_price_cents=7_500,
    )["created"]

    record = force(policy=policy)

    assert record.state == ForcedState.REDEEMED
    assert record.charged_cents == 7_500
    assert LearnerContentAssignment.objects.get().pk == allocated.pk
    allocated.refresh_from_db()
    assert (allocated.state, allocated.transaction_uuid) == (AssignmentState.ACCEPTED, record.transaction_uuid)


def _enrolled_already(run_key=demo_data.CLOSED_RUN, lms_user_id=1002) -> Enrollment:
    from catalog.models import CourseRun

    return Enrollment.objects.create(lms_user_id=lms_user_id, course_run=CourseRun.objects.get(key=run_key))


@pytest.mark.parametrize(
    ("setup", "fields", "reason"),
    [
        (None, {"content_price_cents": 5_000_000}, "not_enough_value_in_subsidy"),
        (_enrolled_already, {}, "enrollment_error"),
    ],
    ids=["refused-after-allocating", "fulfillment-fails-after-allocating"],
)
def test_failed_assigned_redemption_leaves_no_new_assignment_and_sends_nothing(
    demo, mailoutbox, django_capture_on_commit_callbacks, setup, fields, reason
):
    if setup:
        setup()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        record = force(policy=assigned_policy(), **fields)

    assert (record.state, record.error_reason) == (ForcedState.ERRORED, reason)
    assert not LearnerContentAssignment.objects.exists()
    # Nothing waits for the commit but the failed attempt's own event line.
    assert [getattr(c, "func", c).__name__ for c in callbacks] == ["forced_attempt"] and mailoutbox == []


def test_failed_assigned_redemption_leaves_an_existing_allocation_as_it_was(demo):
    policy = assigned_policy()
    policy_services.allocate(
        policy=policy,
        learner_emails=["learner1002@demo-university.example"],
        content_key=demo_data.CLOSED_RUN,
        content_price_cents=7_500,
    )
    _enrolled_already()

    record = force(policy=policy)

    assert record.error_reason == "enrollment_error"
    assignment = LearnerContentAssignment.objects.get()
    assert (assignment.state, assignment.transaction_uuid) == (AssignmentState.ALLOCATED, None)


def test_exec_ed_with_the_learners_data_enrolls_with_a_provider_order(demo):
    record = force(run_key=demo_data.EXEC_ED_RUN, **EXEC_ED_DATA)

    assert record.state == ForcedState.REDEEMED
    entry = Transaction.objects.get(uuid=record.transaction_uuid)
    assert entry.metadata["geag_first_name"] == "Grace"
    assert entry.metadata["geag_date_of_birth"] == "1990-12-09"
    assert entry.metadata["geag_terms_accepted_at"] == "2026-01-31T12:00:00Z"
    assert entry.metadata["geag_email"] == "learner1002@demo-university.example"
    enrollment = Enrollment.objects.get(transaction_uuid=entry.uuid)
    assert enrollment.external_order_reference == f"local-order-{entry.uuid}"


def test_exec_ed_with_an_existing_provider_order_needs_no_learner_data(demo):
    record = force(run_key=demo_data.EXEC_ED_RUN, external_order_reference="GEAG-ORDER-77")

    assert record.state == ForcedState.REDEEMED
    assert Enrollment.objects.get(transaction_uuid=record.transaction_uuid).external_order_reference == "GEAG-ORDER-77"


def test_exec_ed_without_the_learners_data_is_refused_before_anything_is_charged(demo):
    before = footprint(run_key=demo_data.EXEC_ED_RUN)

    record = force(run_key=demo_data.EXEC_ED_RUN)

    assert (record.state, record.error_reason) == (ForcedState.ERRORED, "missing_exec_ed_data")
    assert "date of birth" in record.error_message and "terms accepted at" in record.error_message
    assert footprint(run_key=demo_data.EXEC_ED_RUN) == before
    assert before.failed_transactions == 0


def test_exec_ed_needs_consent_when_the_customer_requires_it(demo):
    EnterpriseCustomer.objects.filter(pk=demo_data.CUSTOMER_UUID).update(data_sharing_consent_required=True)

    refused = force(run_key=demo_data.EXEC_ED_RUN, **EXEC_ED_DATA)
    assert refused.error_reason == "missing_exec_ed_data"
    assert "data-sharing consent" in refused.error_message

    accepted = force(run_key=demo_data.EXEC_ED_RUN, learner_data_share_consent=True, **EXEC_ED_DATA)
    assert accepted.state == ForcedState.REDEEMED
    assert Transaction.objects.get(uuid=accepted.transaction_uuid).metadata["geag_data_share_consent"] is True


def _retire_spend_policy():
    SubsidyAccessPolicy.objects.filter(pk=demo_data.SPEND_POLICY_UUID).update(retired=True)


def _bogus_fulfillment_backend(settings):
    settings.FULFILLMENT_BACKEND = "fulfillment.backends.NoSuchBackend"


FAILURES = [
    # (id, lms_user_id, run key, record fields, set-up, reason code)
    ("unlinked-learner", demo_data.UNLINKED_LEARNER, demo_data.CLOSED_RUN, {}, None, "learner_not_in_enterprise"),
    ("retired-policy", 1002, demo_data.CLOSED_RUN, {}, _retire_spend_policy, "policy_expired"),
    ("unknown-learner", UNKNOWN_LEARNER, demo_data.CLOSED_RUN, {}, None, "learner_not_found"),
    ("unknown-run", 1002, UNKNOWN_RUN, {}, None, "content_not_found"),
    ("run-outside-catalog", 1002, demo_data.OUTSIDE_RUN, {}, None, "content_not_in_catalog"),
    (
        "insufficient-funds",
        1002,
        demo_data.CLOSED_RUN,
        {"content_price_cents": 2_000_000},
        None,
        "not_enough_value_in_subsidy",
    ),
    ("exec-ed-without-data", 1002, demo_data.EXEC_ED_RUN, {}, None, "missing_exec_ed_data"),
    ("already-enrolled", 1002, demo_data.CLOSED_RUN, {}, lambda: _enrolled_already(), "enrollment_error"),
    ("unexpected-error", 1002, demo_data.CLOSED_RUN, {}, "bogus-backend", "unexpected_error"),
]


@pytest.mark.parametrize(
    ("lms_user_id", "run_key", "fields", "setup", "reason"),
    [case[1:] for case in FAILURES],
    ids=[case[0] for case in FAILURES],
)
def test_each_failure_is_recorded_on_the_record_and_its_attempts_and_moves_nothing(
    demo, settings, superuser, lms_user_id, run_key, fields, setup, reason
):
    if setup == "bogus-backend":
        _bogus_fulfillment_backend(settings)
    elif setup:
        setup()
    before = footprint(lms_user_id=lms_user_id, run_key=run_key)

    record = force(lms_user_id=lms_user_id, run_key=run_key, actor=superuser, **fields)

    record.refresh_from_db()
    assert (record.state, record.error_reason) == (ForcedState.ERRORED, reason)
    assert record.error_message and record.errored_at and record.redeemed_at is None
    assert record.transaction_uuid is None and record.charged_cents is None
    [attempt] = record.attempts.all()
    assert (attempt.outcome, attempt.reason_code, attempt.attempted_by) == (AttemptOutcome.ERRORED, reason, superuser)
    assert attempt.message == record.error_message
    after = footprint(lms_user_id=lms_user_id, run_key=run_key)
    assert after.live_transactions == before.live_transactions
    assert after.active_enrollments == before.active_enrollments
    assert after.balance_cents == before.balance_cents
    if reason == "enrollment_error":
        # Fulfillment failed after the ledger entry was opened: it stays, failed, and moved no money.
        assert after.failed_transactions == before.failed_transactions + 1
    else:
        assert after.failed_transactions == before.failed_transactions
    if reason == "unexpected_error":
        assert "Traceback" in record.traceback and "NoSuchBackend" in record.traceback
        assert attempt.traceback == record.traceback
    else:
        assert record.traceback == ""


def test_resaving_or_redeeming_a_redeemed_record_again_charges_nothing(demo, superuser):
    record = force()

    resaved = update_forced_redemption(
        record=record, actor=superuser, redeem_now=True, reason=record.reason + " (noted)"
    )
    again = redeem_forced(record=record, actor=superuser)

    assert resaved.transaction_uuid == again.transaction_uuid == record.transaction_uuid
    assert again.last_attempt.outcome == AttemptOutcome.ALREADY_REDEEMED
    assert again.last_attempt.charged_cents == 0
    assert footprint().live_transactions == 1
    assert footprint().active_enrollments == 1
    assert [a.outcome for a in record.attempts.all()] == [AttemptOutcome.REDEEMED, AttemptOutcome.ALREADY_REDEEMED]


def test_a_retry_after_a_fixed_failure_redeems_once(demo, superuser):
    record = force(content_price_cents=2_000_000)
    assert record.error_reason == "not_enough_value_in_subsidy"

    record = update_forced_redemption(record=record, actor=superuser, redeem_now=True, content_price_cents=None)

    assert record.state == ForcedState.REDEEMED
    assert (record.errored_at, record.error_reason, record.error_message) == (None, "", "")
    assert [a.outcome for a in record.attempts.all()] == [AttemptOutcome.ERRORED, AttemptOutcome.REDEEMED]
    assert footprint().live_transactions == 1


def test_a_retry_after_a_fulfillment_failure_gets_a_new_transaction(demo):
    blocking = _enrolled_already()
    record = force()
    assert record.error_reason == "enrollment_error"
    blocking.active = False
    blocking.save()

    record = redeem_forced(record=record, actor=None)

    assert record.state == ForcedState.REDEEMED
    prints = footprint()
    assert (prints.live_transactions, prints.failed_transactions, prints.active_enrollments) == (1, 1, 1)


def test_a_second_forced_redemption_of_the_same_is_refused_while_one_stands(demo):
    first = force()

    with pytest.raises(DuplicateForcedRedemption) as refused:
        force()

    assert str(first.uuid) in refused.value.message
    assert ForcedPolicyRedemption.objects.count() == 1
    assert footprint().live_transactions == 1


def test_two_waiting_records_of_the_same_redeem_once(demo):
    first, second = force(wait_to_redeem=True), force(wait_to_redeem=True)

    first = redeem_forced(record=first, actor=None)
    second = redeem_forced(record=second, actor=None)

    assert first.state == ForcedState.REDEEMED
    assert (second.state, second.error_reason) == (ForcedState.ERRORED, "duplicate_forced_redemption")
    assert footprint().live_transactions == 1


def test_a_redeemed_record_is_settled(demo, superuser):
    record = force()

    with pytest.raises(SettledForcedRedemption):
        update_forced_redemption(record=record, actor=superuser, content_price_cents=1)

    record.refresh_from_db()
    assert record.content_price_cents is None


def test_wait_to_redeem_saves_without_charging(demo):
    before = footprint()

    record = force(wait_to_redeem=True)

    assert record.state == ForcedState.WAITING
    assert not record.attempts.exists()
    assert footprint() == before


def test_check_forced_answers_without_writing(demo):
    waiting = force(wait_to_redeem=True)

    with CaptureQueriesContext(connection) as queries:
        yes = check_forced(waiting)
        no = check_forced(
            ForcedPolicyRedemption(
                subsidy_access_policy=spend_policy(), lms_user_id=2001, course_run_key=demo_data.CLOSED_RUN
            )
        )

    writes = [
        q["sql"] for q in queries.captured_queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")
    ]
    assert writes == []
    assert (yes.can_redeem, yes.price_cents, yes.balance_cents) == (True, 10_000, demo_data.DEPOSIT_CENTS)
    assert (no.can_redeem, no.reason) == (False, "learner_not_in_enterprise")


def test_a_forced_attempt_is_told_as_an_event_once_it_is_on_record(demo, caplog, django_capture_on_commit_callbacks):
    import logging

    caplog.set_level(logging.INFO, logger="learner_credit.events")
    with django_capture_on_commit_callbacks(execute=True) as told:
        record = force()

    assert told, "the event waits for the commit"
    events = [r.msg for r in caplog.records if isinstance(r.msg, dict)]
    [attempt] = [e for e in events if e.get("event") == "forced_redemption_attempt"]
    assert attempt["forced_redemption_uuid"] == str(record.uuid) and attempt["outcome"] == "redeemed"
