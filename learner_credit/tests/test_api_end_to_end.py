"""The issue's "done when": a staff script provisions everything and forces a redemption using only the
API; a learner token checks and redeems for itself and is refused for anyone else."""

from __future__ import annotations

import pytest

from learner_credit.tests.api_helpers import assert_error, learner_client, staff_client, superuser_client

pytestmark = pytest.mark.django_db

LEARNER = 7_001
OTHER_LEARNER = 7_002
OPEN_RUN = "course-v1:ScriptU+Open+2099"
CLOSED_RUN = "course-v1:ScriptU+Closed+2020"


def _ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.content[:2000])
    return response.json()


def _provision(api) -> dict:
    customer = _ok(api.post("/api/v1/customers/", {"name": "Script University", "slug": "script-u"}), 201)
    cid = customer["uuid"]
    for lms_user_id in (LEARNER, OTHER_LEARNER):
        link = {"lms_user_id": lms_user_id, "email": f"l{lms_user_id}@script.example", "first_name": "Sam"}
        _ok(api.post(f"/api/v1/customers/{cid}/learners/", link), 201)
    catalog = _ok(api.post("/api/v1/catalogs/", {"enterprise_customer_uuid": cid, "title": "Script catalog"}), 201)
    courses = [
        {
            "key": "ScriptU+Open",
            "title": "Open course",
            "runs": [{"key": OPEN_RUN, "price_cents": 5_000, "enroll_by": "2099-01-01T00:00:00Z"}],
        },
        {
            "key": "ScriptU+Closed",
            "title": "Closed course",
            "runs": [
                {"key": CLOSED_RUN, "price_cents": 7_000, "enroll_by": "2020-01-01T00:00:00Z", "is_enrollable": False}
            ],
        },
    ]
    counts = _ok(api.post("/api/v1/courses/bulk-upsert/", {"courses": courses, "catalog_uuid": catalog["uuid"]}))
    assert counts == {"courses_created": 2, "courses_updated": 0, "runs_created": 2, "runs_updated": 0}
    subsidy = _ok(
        api.post(
            "/api/v2/subsidies/",
            {
                "enterprise_customer_uuid": cid,
                "title": "Script credit",
                "active_datetime": "2020-01-01T00:00:00Z",
                "expiration_datetime": "2099-12-31T00:00:00Z",
            },
        ),
        201,
    )
    sid = subsidy["uuid"]
    deposit = {"desired_deposit_quantity": 100_000, "sales_contract_reference_id": "SO-1", "idempotency_key": "d1"}
    _ok(api.post(f"/api/v2/subsidies/{sid}/admin/deposits/", deposit), 201)
    assert _ok(api.get(f"/api/v2/subsidies/{sid}/"))["current_balance"] == 100_000
    policy = _ok(
        api.post(
            "/api/v1/subsidy-access-policies/",
            {
                "policy_type": "PerLearnerSpendCreditAccessPolicy",
                "enterprise_customer_uuid": cid,
                "display_name": "Script budget",
                "catalog_uuid": catalog["uuid"],
                "subsidy_uuid": sid,
                "spend_limit_cents": 50_000,
                "per_learner_spend_limit_cents": 20_000,
            },
        ),
        201,
    )
    return {"customer": cid, "catalog": catalog["uuid"], "subsidy": sid, "policy": policy["uuid"]}


def test_staff_script_provisions_and_forces_a_redemption_using_only_the_api():
    api = superuser_client()
    ids = _provision(api)

    forced = _ok(
        api.post(
            "/api/v1/forced-redemptions/",
            {
                "subsidy_access_policy": ids["policy"],
                "lms_user_id": LEARNER,
                "course_run_key": CLOSED_RUN,
                "reason": "Ticket 42: enrollment closed before the learner could enroll",
                "wait_to_redeem": True,
            },
        ),
        201,
    )
    assert forced["state"] == "waiting" and forced["attempts"] == []
    check = _ok(api.post(f"/api/v1/forced-redemptions/{forced['uuid']}/check/"))
    assert check["can_redeem"] is True and check["price_cents"] == 7_000

    redeemed = _ok(api.post(f"/api/v1/forced-redemptions/{forced['uuid']}/redeem/"))
    assert redeemed["state"] == "redeemed" and redeemed["charged_cents"] == 7_000

    again = _ok(api.post(f"/api/v1/forced-redemptions/{forced['uuid']}/redeem/"))
    assert again["transaction_uuid"] == redeemed["transaction_uuid"]
    record = _ok(api.get(f"/api/v1/forced-redemptions/{forced['uuid']}/"))
    assert [a["outcome"] for a in record["attempts"]] == ["redeemed", "already_redeemed"]
    assert record["attempts"][0]["attempted_by"] == api.user.username

    ledger = _ok(api.get(f"/api/v2/subsidies/{ids['subsidy']}/admin/transactions/?lms_user_id={LEARNER}"))
    assert [t["uuid"] for t in ledger["results"]] == [redeemed["transaction_uuid"]]
    assert ledger["results"][0]["metadata"]["allow_late_enrollment"] is True
    assert _ok(api.get(f"/api/v2/subsidies/{ids['subsidy']}/"))["current_balance"] == 100_000 - 7_000


def test_learner_token_checks_and_redeems_for_itself_and_is_refused_for_anyone_else():
    ids = _provision(superuser_client())
    learner = learner_client(LEARNER)
    can_redeem = f"/api/v1/policy-redemption/enterprise-customer/{ids['customer']}/can-redeem/"

    [answer] = _ok(learner.get(can_redeem, {"content_key": OPEN_RUN}))
    assert answer["can_redeem"] is True
    assert answer["redeemable_subsidy_access_policy"]["uuid"] == ids["policy"]
    assert answer["list_price"] == {"usd": 50.0, "usd_cents": 5_000}

    redeem = f"/api/v1/policy-redemption/{ids['policy']}/redeem/"
    first = _ok(learner.post(redeem, {"content_key": OPEN_RUN}, format="json"))
    repeat = _ok(learner.post(redeem, {"lms_user_id": LEARNER, "content_key": OPEN_RUN}, format="json"))
    assert first["uuid"] == repeat["uuid"] and first["state"] == "committed" and first["quantity"] == -5_000

    [after] = _ok(learner.get(can_redeem, {"content_key": OPEN_RUN}))
    assert after["has_successful_redemption"] is True and after["can_redeem"] is False

    body = assert_error(learner.get(can_redeem, {"content_key": OPEN_RUN, "lms_user_id": OTHER_LEARNER}), 403)
    assert f"learner {LEARNER} only" in body["detail"]
    assert_error(learner.post(redeem, {"lms_user_id": OTHER_LEARNER, "content_key": OPEN_RUN}, format="json"), 403)
    credits = f"/api/v1/policy-redemption/credits_available/?enterprise_customer_uuid={ids['customer']}"
    assert_error(learner.get(f"{credits}&lms_user_id={OTHER_LEARNER}"), 403)
    [credit] = _ok(learner.get(credits))
    assert credit["remaining_balance_per_user"] == 20_000 - 5_000

    # Nor may it provision or force anything.
    assert_error(learner.post("/api/v1/customers/", {"name": "x", "slug": "x"}), 403, "permission_denied")
    assert_error(learner.get("/api/v1/forced-redemptions/"), 403, "permission_denied")


def test_staff_without_the_model_permission_is_refused():
    api = staff_client()
    assert_error(api.post("/api/v1/customers/", {"name": "x", "slug": "x"}), 403, "permission_denied")
    assert _ok(api.get("/api/v1/customers/"))["results"] == []
