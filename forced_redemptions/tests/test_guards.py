"""The guards before anything is saved or charged, as services: the pre-charge input check
(selectors.require_redeemable_input), the price justification and the exec-ed date rules (validate_fields),
archiving errored records that charged nothing, and the assignment timeline naming the forced redemption."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assignments.models import ActionType, LearnerContentAssignment
from catalog.models import CourseRun
from common.errors import InvalidInput
from customers.models import EnterpriseCustomer, EnterpriseGroup
from demo import data as demo_data
from forced_redemptions.errors import ForcedRedemptionArchived, NotArchivable, UnredeemableInput
from forced_redemptions.models import ForcedPolicyRedemption, ForcedState
from forced_redemptions.selectors import check_forced, require_redeemable_input
from forced_redemptions.services import (
    archive_forced_redemption,
    redeem_forced,
    update_forced_redemption,
    validate_fields,
)
from forced_redemptions.tests.helpers import (
    REASON,
    UNKNOWN_LEARNER,
    UNKNOWN_RUN,
    assigned_policy,
    force,
    spend_policy,
)
from fulfillment.models import Enrollment
from policies import services as policy_services

EXEC_ED_DATA = {
    "learner_first_name": "Grace",
    "learner_last_name": "Hopper",
    "learner_date_of_birth": dt.date(1990, 12, 9),
    "learner_terms_accepted_at": dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC),
}


def _unsaved(**fields) -> ForcedPolicyRedemption:
    values = {
        "subsidy_access_policy": spend_policy(),
        "lms_user_id": 1002,
        "course_run_key": demo_data.CLOSED_RUN,
        "reason": REASON,
    }
    return ForcedPolicyRedemption(**(values | fields))


def _refusal(**fields) -> UnredeemableInput:
    with pytest.raises(UnredeemableInput) as caught:
        require_redeemable_input(_unsaved(**fields))
    return caught.value


# The pre-charge input check.

INPUT_CASES = [
    ("unknown-learner", {"lms_user_id": UNKNOWN_LEARNER}, "learner_not_found", {"lms_user_id"}),
    ("unlinked-learner", {"lms_user_id": demo_data.UNLINKED_LEARNER}, "learner_not_in_enterprise", {"lms_user_id"}),
    ("unknown-run", {"course_run_key": UNKNOWN_RUN}, "content_not_found", {"course_run_key"}),
    ("outside-catalog", {"course_run_key": demo_data.OUTSIDE_RUN}, "content_not_in_catalog", {"course_run_key"}),
    (
        "exec-ed-without-data",  # the names fall back to the learner's link; the dates cannot
        {"course_run_key": demo_data.EXEC_ED_RUN},
        "missing_exec_ed_data",
        {"learner_date_of_birth", "learner_terms_accepted_at"},
    ),
]


@pytest.mark.parametrize(("fields", "reason", "named"), [c[1:] for c in INPUT_CASES], ids=[c[0] for c in INPUT_CASES])
def test_an_input_no_redemption_can_accept_is_refused_on_its_field_with_a_next_step(demo, fields, reason, named):
    with CaptureQueriesContext(connection) as queries:
        error = _refusal(**fields)

    assert (error.reason, error.http_status) == (reason, 422)
    assert set(error.field_errors) == named
    assert "Next step:" in error.message and "Nothing was saved or charged." in error.message
    assert "You can't" not in error.message  # said to staff, not in the learner's words
    assert not [q for q in queries.captured_queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def test_a_learner_outside_the_policys_groups_is_an_input_error(demo):
    customer = EnterpriseCustomer.objects.get(pk=demo_data.CUSTOMER_UUID)
    spend_policy().groups.add(EnterpriseGroup.objects.create(customer=customer, name="Cohort A"))

    error = _refusal()

    assert error.reason == "learner_not_in_enterprise_group" and "Cohort A" not in error.message
    assert "in none of the groups" in error.field_errors["lms_user_id"][0]


def test_every_input_problem_is_named_at_once(demo):
    error = _refusal(lms_user_id=demo_data.UNLINKED_LEARNER, course_run_key=demo_data.OUTSIDE_RUN)

    assert error.reason == "learner_not_in_enterprise"  # the first, in the redemption's own order
    assert error.details["reasons"] == ["learner_not_in_enterprise", "content_not_in_catalog"]
    assert set(error.field_errors) == {"lms_user_id", "course_run_key"}
    assert "link the learner to the customer" in error.message and "add the course to the policy" in error.message


def test_exec_ed_data_problems_name_each_missing_field_even_when_the_money_refuses_first(demo):
    record = _unsaved(course_run_key=demo_data.EXEC_ED_RUN, content_price_cents=2_000_000)
    assert check_forced(record).reason == "not_enough_value_in_subsidy"  # the dry run stops at the money

    with pytest.raises(UnredeemableInput) as caught:
        require_redeemable_input(record)

    assert caught.value.reason == "missing_exec_ed_data"
    assert set(caught.value.field_errors) == {"learner_date_of_birth", "learner_terms_accepted_at"}


def test_consent_is_asked_for_on_its_field_when_the_customer_requires_it(demo):
    EnterpriseCustomer.objects.filter(pk=demo_data.CUSTOMER_UUID).update(data_sharing_consent_required=True)

    error = _refusal(course_run_key=demo_data.EXEC_ED_RUN, **EXEC_ED_DATA)

    assert list(error.field_errors) == ["learner_data_share_consent"]
    require_redeemable_input(
        _unsaved(course_run_key=demo_data.EXEC_ED_RUN, learner_data_share_consent=True, **EXEC_ED_DATA)
    )


@pytest.mark.parametrize(
    "fields",
    [{}, {"content_price_cents": 2_000_000}, {"course_run_key": demo_data.EXEC_ED_RUN, **EXEC_ED_DATA}],
    ids=["redeemable", "not-enough-money-is-no-input-error", "exec-ed-with-data"],
)
def test_input_a_redemption_can_take_passes(demo, fields):
    assert require_redeemable_input(_unsaved(**fields)) is None


# The price justification and the exec-ed dates (validate_fields: every path, admin, API and batch, asks it).


def _fields(**fields) -> dict:
    return {
        "subsidy_access_policy": spend_policy(),
        "lms_user_id": 1002,
        "course_run_key": demo_data.CLOSED_RUN,
        "reason": REASON,
    } | fields


def _field_errors(**fields) -> dict[str, list[str]]:
    try:
        validate_fields(_fields(**fields))
    except InvalidInput as error:
        return error.field_errors
    return {}


def test_a_price_other_than_the_catalog_price_needs_a_justification(demo):
    errors = _field_errors(content_price_cents=5_000)

    assert list(errors) == ["price_justification"]
    assert "$50.00 differs from the run's catalog price $100.00" in errors["price_justification"][0]
    assert _field_errors(content_price_cents=5_000, price_justification="  ") == errors
    assert _field_errors(content_price_cents=5_000, price_justification="SUP-9: contract price") == {}
    assert _field_errors(content_price_cents=10_000) == {}  # the catalog price itself
    assert _field_errors(content_price_cents=None) == {}  # blank: the catalog price


def test_a_forced_redemption_at_another_price_is_not_saved_without_its_justification(demo):
    with pytest.raises(InvalidInput):
        force(content_price_cents=0, price_justification="")

    assert not ForcedPolicyRedemption.objects.exists()
    record = force(content_price_cents=0, price_justification="SUP-9: waived by the contract")
    assert (record.state, record.charged_cents) == (ForcedState.REDEEMED, 0)


def _years_ago(years: int, days: int = 0) -> dt.date:
    today = timezone.now().date()
    return today.replace(year=today.year - years) - dt.timedelta(days=days)


@pytest.mark.parametrize(
    ("born", "problem"),
    [
        (lambda: timezone.now().date() + dt.timedelta(days=1), "in the future"),
        (lambda: _years_ago(13, days=-1), "under 13"),
        (lambda: _years_ago(120), "120 or older"),
        (lambda: dt.datetime(1990, 12, 9, tzinfo=dt.UTC), "YYYY-MM-DD"),
    ],
    ids=["future", "under-13", "120", "not-a-date"],
)
def test_an_implausible_date_of_birth_is_refused(demo, born, problem):
    errors = _field_errors(learner_date_of_birth=born())

    assert problem in errors["learner_date_of_birth"][0]


@pytest.mark.parametrize("born", [lambda: _years_ago(13), lambda: _years_ago(119)], ids=["13", "119"])
def test_a_plausible_date_of_birth_passes(demo, born):
    assert _field_errors(learner_date_of_birth=born()) == {}


def test_terms_accepted_in_the_future_or_without_a_time_zone_are_refused(demo):
    future = timezone.now() + dt.timedelta(hours=1)
    assert "in the future" in _field_errors(learner_terms_accepted_at=future)["learner_terms_accepted_at"][0]
    naive = dt.datetime(2026, 1, 31, 12, 0)
    assert "time zone" in _field_errors(learner_terms_accepted_at=naive)["learner_terms_accepted_at"][0]
    assert _field_errors(learner_terms_accepted_at=timezone.now() - dt.timedelta(minutes=1)) == {}


# Archiving.


def test_an_errored_record_that_charged_nothing_is_archived_and_then_neither_redeemed_nor_changed(demo, superuser):
    record = force(lms_user_id=demo_data.UNLINKED_LEARNER)

    archived = archive_forced_redemption(record=record, actor=superuser)

    assert archived.archived_at is not None and archived.state == ForcedState.ERRORED
    assert archived.history.first().history_user == superuser
    with pytest.raises(ForcedRedemptionArchived):
        redeem_forced(record=archived, actor=superuser)
    with pytest.raises(ForcedRedemptionArchived):
        update_forced_redemption(record=archived, actor=superuser, reason="edited")
    assert archived.attempts.count() == 1  # no attempt for the refused redeem
    assert check_forced(archived).reason == "forced_redemption_archived"  # nor does the dry run say "redeemable"
    with pytest.raises(NotArchivable, match="archived already"):
        archive_forced_redemption(record=archived, actor=superuser)


def test_a_record_that_had_a_transaction_or_is_not_errored_is_not_archived(demo, superuser):
    Enrollment.objects.create(lms_user_id=1002, course_run=CourseRun.objects.get(key=demo_data.CLOSED_RUN))
    refused_downstream = force()  # the enrollment was refused after its ledger entry was written (failed)
    assert refused_downstream.error_reason == "enrollment_error" and refused_downstream.transaction_uuid is None
    waiting = force(lms_user_id=1003, wait_to_redeem=True)
    redeemed = force(lms_user_id=1004)

    for record, problem in [
        (refused_downstream, "had a ledger transaction"),
        (waiting, "it is waiting"),
        (redeemed, "it is redeemed"),
    ]:
        with pytest.raises(NotArchivable, match=problem):
            archive_forced_redemption(record=record, actor=superuser)
        record.refresh_from_db()
        assert record.archived_at is None


# The assignment's timeline says which forced redemption made and redeemed it.


def test_an_assignment_made_by_a_forced_redemption_names_it_in_its_timeline_and_history(demo):
    record = force(policy=assigned_policy())

    assignment = LearnerContentAssignment.objects.get()
    actions = {a.action_type: a.note for a in assignment.actions.all()}
    assert actions[ActionType.ALLOCATED] == f"Allocated by a forced redemption ({record.uuid})."
    assert actions[ActionType.REDEEMED] == f"Redeemed by a forced redemption ({record.uuid})."
    reasons = [h.history_change_reason for h in assignment.history.order_by("history_date")]
    assert reasons == [actions[ActionType.ALLOCATED], actions[ActionType.REDEEMED]]


def test_a_forced_redemption_of_an_existing_allocation_names_itself_when_it_redeems_it(demo):
    policy = assigned_policy()
    policy_services.allocate(
        policy=policy,
        learner_emails=["learner1002@demo-university.example"],
        content_key=demo_data.CLOSED_RUN,
        content_price_cents=7_500,
    )

    record = force(policy=policy)

    assignment = LearnerContentAssignment.objects.get()
    redeemed = assignment.actions.get(action_type=ActionType.REDEEMED)
    assert redeemed.note == f"Redeemed by a forced redemption ({record.uuid})."
    assert assignment.actions.get(action_type=ActionType.ALLOCATED).note == ""  # allocated by staff, not forced
