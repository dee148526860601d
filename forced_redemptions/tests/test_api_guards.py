"""The guards of `POST /api/v1/forced-redemptions/` and its record's endpoints: input no redemption can accept is
a 422 and nothing is saved; a price other than the catalog's needs its justification; exec-ed dates are ISO and
plausible; an archived record is neither redeemed nor changed."""

from __future__ import annotations

import pytest

from demo import data as demo_data
from forced_redemptions.models import ForcedPolicyRedemption, ForcedRedemptionAttempt
from forced_redemptions.services import archive_forced_redemption
from forced_redemptions.tests.helpers import REASON, UNKNOWN_LEARNER, UNKNOWN_RUN, footprint, force
from learner_credit.tests.api_helpers import assert_error, staff_client

pytestmark = pytest.mark.django_db

FORCED = "/api/v1/forced-redemptions/"


def _forcer():
    return staff_client("forced_redemptions.force_redeem", username="forcer-api")


def _body(**fields) -> dict:
    return {
        "subsidy_access_policy": str(demo_data.SPEND_POLICY_UUID),
        "lms_user_id": 1002,
        "course_run_key": demo_data.CLOSED_RUN,
        "reason": REASON,
        **fields,
    }


INPUT_FAILURES = [
    ("unknown-learner", {"lms_user_id": UNKNOWN_LEARNER}, "learner_not_found", "lms_user_id"),
    ("unlinked-learner", {"lms_user_id": demo_data.UNLINKED_LEARNER}, "learner_not_in_enterprise", "lms_user_id"),
    ("unknown-run", {"course_run_key": UNKNOWN_RUN}, "content_not_found", "course_run_key"),
    ("outside-catalog", {"course_run_key": demo_data.OUTSIDE_RUN}, "content_not_in_catalog", "course_run_key"),
]


@pytest.mark.parametrize(
    ("fields", "reason", "field"), [c[1:] for c in INPUT_FAILURES], ids=[c[0] for c in INPUT_FAILURES]
)
def test_input_no_redemption_can_accept_is_a_422_and_saves_nothing(demo, fields, reason, field):
    before = footprint()

    body = assert_error(_forcer().post(FORCED, _body(**fields)), 422, reason, field)

    assert "Next step:" in body["detail"] and "Nothing was saved or charged." in body["detail"]
    assert body["metadata"]["reasons"] == [reason]
    assert not ForcedPolicyRedemption.objects.exists() and not ForcedRedemptionAttempt.objects.exists()
    assert footprint() == before


def test_with_wait_to_redeem_a_record_is_saved_before_its_learner_is_linked(demo):
    response = _forcer().post(FORCED, _body(lms_user_id=demo_data.UNLINKED_LEARNER, wait_to_redeem=True))

    assert response.status_code == 201 and response.json()["state"] == "waiting"


def test_a_refusal_about_money_is_still_an_errored_record_on_record(demo):
    response = _forcer().post(FORCED, _body(content_price_cents=2_000_000, price_justification="SUP-1: contract"))

    assert response.status_code == 201
    record = response.json()
    assert (record["state"], record["error_reason"]) == ("errored", "not_enough_value_in_subsidy")
    assert record["price_justification"] == "SUP-1: contract"


def test_a_price_other_than_the_catalog_price_needs_a_justification(demo):
    api = _forcer()

    body = assert_error(api.post(FORCED, _body(content_price_cents=5_000)), 400, "invalid_input", "price_justification")

    assert "differs from the run's catalog price $100.00" in body["field_errors"]["price_justification"][0]
    assert not ForcedPolicyRedemption.objects.exists()
    accepted = api.post(FORCED, _body(content_price_cents=5_000, price_justification="SUP-2: partner price"))
    assert accepted.status_code == 201 and accepted.json()["charged_cents"] == 5_000


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"learner_date_of_birth": "30/04/1990"}, "learner_date_of_birth"),
        ({"learner_date_of_birth": "2024-04-30"}, "learner_date_of_birth"),
        ({"learner_terms_accepted_at": "31/01/2026 12:00"}, "learner_terms_accepted_at"),
        ({"learner_terms_accepted_at": "2999-01-31T12:00:00Z"}, "learner_terms_accepted_at"),
    ],
    ids=["dob-not-iso", "dob-too-young", "terms-not-iso", "terms-future"],
)
def test_exec_ed_dates_are_iso_and_plausible(demo, fields, field):
    assert_error(
        _forcer().post(FORCED, _body(course_run_key=demo_data.EXEC_ED_RUN, **fields)), 400, "invalid_input", field
    )

    assert not ForcedPolicyRedemption.objects.exists()


def test_exec_ed_with_iso_dates_redeems(demo):
    response = _forcer().post(
        FORCED,
        _body(
            course_run_key=demo_data.EXEC_ED_RUN,
            learner_date_of_birth="1990-12-09",
            learner_terms_accepted_at="2026-01-31T14:00:00+02:00",
        ),
    )

    assert response.status_code == 201 and response.json()["state"] == "redeemed"
    assert response.json()["learner_terms_accepted_at"] == "2026-01-31T12:00:00Z"


def test_an_archived_record_is_a_409_to_redeem_or_change(demo, superuser):
    record = archive_forced_redemption(record=force(lms_user_id=demo_data.UNLINKED_LEARNER), actor=superuser)
    api = _forcer()

    assert_error(api.post(f"{FORCED}{record.uuid}/redeem/"), 409, "forced_redemption_archived")
    assert_error(api.patch(f"{FORCED}{record.uuid}/", {"reason": "again"}), 409, "forced_redemption_archived")
    assert api.get(f"{FORCED}{record.uuid}/").json()["archived_at"]
    assert record.attempts.count() == 1
