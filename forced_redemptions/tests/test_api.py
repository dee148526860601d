"""Forced redemptions (ADR 0019) through HTTP: same services, behaviour and errors as the admin."""

from __future__ import annotations

import pytest
from django.test import override_settings

from conftest import requires_postgres
from demo import data as demo_data
from forced_redemptions.models import ForcedPolicyRedemption, ForcedRedemptionAttempt
from forced_redemptions.tests.helpers import REASON, UNKNOWN_LEARNER, footprint, force, spend_policy
from learner_credit.tests.api_helpers import assert_error, learner_client, staff_client, superuser_client
from testing.locks import subsidy_row_locked

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


def test_creating_redeems_at_once_into_a_closed_run(demo):
    response = _forcer().post(FORCED, _body())

    assert response.status_code == 201, response.content
    record = response.json()
    assert record["state"] == "redeemed" and record["charged_cents"] == 10_000
    assert record["last_attempt"]["outcome"] == "redeemed"
    assert [a["outcome"] for a in record["attempts"]] == ["redeemed"]
    assert record["created_by"] == "forcer-api" and record["learner_email"].startswith("learner1002@")
    assert footprint().live_transactions == 1 and footprint().active_enrollments == 1


def test_wait_to_redeem_saves_without_redeeming_then_redeem_and_repeat_are_200(demo):
    api = _forcer()
    record = api.post(FORCED, _body(wait_to_redeem=True)).json()
    assert record["state"] == "waiting" and record["attempts"] == [] and footprint().live_transactions == 0

    first = api.post(f"{FORCED}{record['uuid']}/redeem/")
    second = api.post(f"{FORCED}{record['uuid']}/redeem/")

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["last_attempt"]["outcome"] == "already_redeemed"
    assert first.json()["transaction_uuid"] == second.json()["transaction_uuid"]
    assert footprint().live_transactions == 1
    detail = api.get(f"{FORCED}{record['uuid']}/").json()
    assert [a["outcome"] for a in detail["attempts"]] == ["redeemed", "already_redeemed"]


def test_a_failed_attempt_is_a_422_with_the_reason_and_the_record(demo):
    api = _forcer()
    record = api.post(FORCED, _body(lms_user_id=UNKNOWN_LEARNER, wait_to_redeem=True)).json()

    response = api.post(f"{FORCED}{record['uuid']}/redeem/")

    assert response.status_code == 422
    body = response.json()
    assert body["reason"] == "learner_not_found" and str(UNKNOWN_LEARNER) in body["detail"]
    assert body["forced_redemption"]["state"] == "errored"
    assert body["forced_redemption"]["attempts"][-1]["reason_code"] == "learner_not_found"
    assert ForcedRedemptionAttempt.objects.filter(outcome="errored").count() == 1


def test_exec_ed_without_learner_data_is_a_422_before_anything_is_saved_or_charged(demo):
    response = _forcer().post(f"{FORCED}", _body(course_run_key=demo_data.EXEC_ED_RUN))

    body = assert_error(response, 422, "missing_exec_ed_data", "learner_date_of_birth", "learner_terms_accepted_at")
    assert "Next step: fill in the Executive education fields" in body["detail"]
    assert not ForcedPolicyRedemption.objects.exists()
    assert footprint(run_key=demo_data.EXEC_ED_RUN).live_transactions == 0


def test_a_second_redeemed_record_for_the_same_learner_run_and_policy_is_a_409(demo):
    api = _forcer()
    api.post(FORCED, _body())
    body = assert_error(api.post(FORCED, _body()), 409, "duplicate_forced_redemption")
    assert body["metadata"]["existing_uuid"]


def test_a_redeemed_record_is_settled_but_its_notes_may_change(demo):
    api = _forcer()
    record = api.post(FORCED, _body()).json()
    url = f"{FORCED}{record['uuid']}/"

    assert_error(api.patch(url, {"content_price_cents": 1}), 409, "forced_redemption_settled")
    assert_error(api.patch(url, {"lms_user_id": 1003}), 409, "forced_redemption_settled")
    assert api.patch(url, {"reason": "Ticket 43"}).json()["reason"] == "Ticket 43"


def test_patch_with_redeem_now_fixes_and_redeems_a_waiting_record(demo):
    api = _forcer()
    record = api.post(FORCED, _body(lms_user_id=UNKNOWN_LEARNER, wait_to_redeem=True)).json()
    assert record["state"] == "waiting"
    url = f"{FORCED}{record['uuid']}/"
    assert_error(api.patch(url, {"redeem_now": True}), 422, "learner_not_found", "lms_user_id")
    assert api.get(url).json()["attempts"] == []  # refused before any attempt

    fixed = api.patch(url, {"lms_user_id": 1002, "redeem_now": True})

    assert fixed.status_code == 200, fixed.content
    assert fixed.json()["state"] == "redeemed"
    assert [a["outcome"] for a in fixed.json()["attempts"]] == ["redeemed"]


def test_check_is_a_dry_run_for_saved_and_unsaved_values(demo):
    api = _forcer()
    record = api.post(FORCED, _body(wait_to_redeem=True)).json()

    saved = api.post(f"{FORCED}{record['uuid']}/check/")
    unsaved = api.post(f"{FORCED}check/", _body(lms_user_id=demo_data.UNLINKED_LEARNER, reason=""))

    assert saved.json()["can_redeem"] is True and saved.json()["price_cents"] == 10_000
    assert (unsaved.json()["can_redeem"], unsaved.json()["reason"]) == (False, "learner_not_in_enterprise")
    assert footprint().live_transactions == 0
    assert ForcedPolicyRedemption.objects.count() == 1
    assert not ForcedRedemptionAttempt.objects.exists()


def test_list_filters(demo):
    api = _forcer()
    redeemed = api.post(FORCED, _body()).json()
    waiting = api.post(FORCED, _body(lms_user_id=1003, wait_to_redeem=True)).json()
    errored = api.post(
        FORCED, _body(lms_user_id=1004, content_price_cents=2_000_000, price_justification="SUP-1: contract")
    ).json()
    assert errored["state"] == "errored"

    def uuids(**query):
        return {r["uuid"] for r in api.get(FORCED, query).json()["results"]}

    assert uuids(state="redeemed") == {redeemed["uuid"]}
    assert uuids(state="waiting") == {waiting["uuid"]}
    assert uuids(state="errored") == {errored["uuid"]}
    assert uuids(lms_user_id=1003) == {waiting["uuid"]}
    assert uuids(policy=str(demo_data.SPEND_POLICY_UUID), course_run_key=demo_data.CLOSED_RUN) == {
        redeemed["uuid"],
        waiting["uuid"],
        errored["uuid"],
    }
    assert uuids(customer=str(demo_data.CUSTOMER_UUID)) == uuids()
    assert uuids(customer="00000000-0000-4000-8000-000000000000") == set()
    assert_error(api.get(FORCED, {"state": "lost"}), 400, "invalid_input", "state")


def test_create_input_errors_name_each_field(demo):
    body = {"subsidy_access_policy": "00000000-0000-4000-8000-000000000000", "lms_user_id": -1, "reason": ""}
    api = _forcer()
    assert_error(
        api.post(FORCED, {**body, "learner_date_of_birth": "31/12/1990", "tip": 1}),
        400,
        "invalid_input",
        "tip",
    )
    assert_error(
        api.post(FORCED, {**body, "learner_date_of_birth": "31/12/1990"}),
        400,
        "invalid_input",
        "subsidy_access_policy",
        "lms_user_id",
        "course_run_key",
        "reason",
        "learner_date_of_birth",
    )
    assert not ForcedPolicyRedemption.objects.exists()


def test_viewers_read_but_cannot_force_and_learners_see_nothing(demo):
    record = force(wait_to_redeem=True)
    viewer = staff_client("forced_redemptions.view_forcedpolicyredemption", username="viewer-api")
    assert viewer.get(FORCED).json()["count"] == 1
    assert viewer.get(f"{FORCED}{record.uuid}/").status_code == 200
    assert viewer.post(f"{FORCED}{record.uuid}/check/").status_code == 200
    assert_error(viewer.post(FORCED, _body()), 403, "permission_denied")
    assert_error(viewer.post(f"{FORCED}{record.uuid}/redeem/"), 403, "permission_denied")
    assert_error(viewer.patch(f"{FORCED}{record.uuid}/", {"reason": "x"}), 403, "permission_denied")
    learner = learner_client(1002)
    assert_error(learner.get(f"{FORCED}{record.uuid}/"), 403, "permission_denied")
    assert_error(learner.post(f"{FORCED}{record.uuid}/redeem/"), 403, "permission_denied")
    assert footprint().live_transactions == 0


def test_unknown_records_are_404s(demo):
    api = superuser_client()
    assert_error(api.get(f"{FORCED}00000000-0000-4000-8000-000000000000/"), 404, "not_found")
    assert_error(api.post(f"{FORCED}00000000-0000-4000-8000-000000000000/redeem/"), 404, "not_found")
    assert_error(api.get(f"{FORCED}not-a-uuid/redeem/"), 404, "not_found")


@requires_postgres
@pytest.mark.django_db(transaction=True)
@override_settings(LOCK_WAIT_TIMEOUT_SECONDS=0.2)
def test_a_forced_redemption_that_cannot_get_its_lock_is_a_429_with_retry_after_and_on_record(demo):
    record = force(wait_to_redeem=True)
    api = _forcer()
    with subsidy_row_locked(spend_policy().subsidy_id):
        response = api.post(f"{FORCED}{record.uuid}/redeem/")

    assert response.status_code == 429, response.content
    assert response["Retry-After"] == "1"
    assert response.json()["reason"] == "lock_wait_timeout"
    assert response.json()["forced_redemption"]["attempts"][-1]["reason_code"] == "lock_wait_timeout"
    assert footprint().live_transactions == 0
    assert api.post(f"{FORCED}{record.uuid}/redeem/").json()["state"] == "redeemed"


def test_reversing_refunds_unenrolls_and_frees_the_learner_run_and_policy(demo):
    api = _forcer()
    record = api.post(FORCED, _body()).json()
    url = f"{FORCED}{record['uuid']}/reverse/"

    assert_error(api.post(url, {}), 400, "invalid_input", "reason")
    reversed_ = api.post(url, {"reason": "Ticket 44: wrong run"})

    assert reversed_.status_code == 200, reversed_.content
    assert reversed_.json()["state"] == "reversed" and reversed_.json()["reversed_at"]
    assert [a["outcome"] for a in reversed_.json()["attempts"]] == ["redeemed", "reversed"]
    assert footprint().active_enrollments == 0
    assert_error(api.post(url, {"reason": "again"}), 409, "forced_redemption_reversed")
    assert {r["uuid"] for r in api.get(FORCED, {"state": "reversed"}).json()["results"]} == {record["uuid"]}
    assert api.post(FORCED, _body()).json()["state"] == "redeemed"  # no longer a duplicate


def test_only_a_redeemed_record_can_be_reversed_and_only_by_a_forcer(demo):
    waiting = force(wait_to_redeem=True)
    url = f"{FORCED}{waiting.uuid}/reverse/"
    assert_error(_forcer().post(url, {"reason": "x"}), 409, "forced_redemption_not_redeemed")
    viewer = staff_client("forced_redemptions.view_forcedpolicyredemption", username="viewer-api")
    assert_error(viewer.post(url, {"reason": "x"}), 403, "permission_denied")


def test_a_new_records_history_row_names_who_forced_it_and_holds_its_outcome(demo):
    api = _forcer()
    record = api.post(FORCED, _body()).json()

    [row] = ForcedPolicyRedemption.history.filter(uuid=record["uuid"])
    saved = ForcedPolicyRedemption.objects.get(pk=record["uuid"])
    assert row.history_type == "+" and row.history_user == api.user
    assert (row.redeemed_at, row.transaction_uuid, row.charged_cents, row.reason, row.created_by_id) == (
        saved.redeemed_at,
        saved.transaction_uuid,
        saved.charged_cents,
        saved.reason,
        api.user.pk,
    )
    # A change afterwards is an ordinary save, with its own row.
    api.patch(f"{FORCED}{record['uuid']}/", {"reason": f"{REASON} (ticket 88)"})
    assert [r.history_type for r in ForcedPolicyRedemption.history.filter(uuid=record["uuid"])] == ["~", "+"]
