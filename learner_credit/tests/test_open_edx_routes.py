"""The routes Open edX's callers use, in the reference's shapes, authenticated by the LMS's JWTs.

enterprise-subsidy v1 (subsidies, can_redeem, aggregates, content metadata, transactions), the v2 ledger's
create and list semantics, enterprise-access's roles, and JSON errors under /api/ whatever DEBUG is.
"""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from demo import data as demo_data
from learner_credit.tests.api_helpers import assert_error
from subsidies.models import Transaction

pytestmark = pytest.mark.django_db

V1 = "/api/v1"
OPERATOR = ["enterprise_openedx_operator:*"]
ADMIN = [f"enterprise_admin:{demo_data.CUSTOMER_UUID}"]
LEARNER = [f"enterprise_learner:{demo_data.CUSTOMER_UUID}"]
LEARNER_ID = demo_data.LINKED_LEARNERS[0]


def jwt(signer, *, roles, username="caller", user_id=None) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"JWT {signer.token(username=username, user_id=user_id, roles=roles)}")
    return client


def ledger_url(subsidy=demo_data.SUBSIDY_UUID) -> str:
    return f"/api/v2/subsidies/{subsidy}/admin/transactions/"


def create_body(**overrides) -> dict:
    return {
        "subsidy_uuid": str(demo_data.SUBSIDY_UUID),
        "lms_user_id": LEARNER_ID,
        "content_key": demo_data.OPEN_RUN,
        "subsidy_access_policy_uuid": str(demo_data.SPEND_POLICY_UUID),
        "metadata": None,
        **overrides,
    }


def test_a_customer_admin_token_reads_its_subsidies_in_the_reference_shape(demo, lms_signer):
    admin = jwt(lms_signer, roles=ADMIN)

    page = admin.get(f"{V1}/subsidies/", {"enterprise_customer_uuid": str(demo_data.CUSTOMER_UUID)}).json()
    assert page["count"] == 1 and page["page_count"] == 1
    [subsidy] = page["results"]
    assert subsidy["uuid"] == str(demo_data.SUBSIDY_UUID)
    assert subsidy["current_balance"] == subsidy["starting_balance"] == demo_data.DEPOSIT_CENTS
    assert {"reference_id", "reference_type", "internal_only", "revenue_category", "is_active"} <= set(subsidy)
    assert admin.get(f"{V1}/subsidies/{demo_data.SUBSIDY_UUID}/").json()["unit"] == "usd_cents"
    # A learner is no admin: the reference answers 403 too.
    assert_error(
        jwt(lms_signer, roles=LEARNER, user_id=LEARNER_ID).get(f"{V1}/subsidies/{demo_data.SUBSIDY_UUID}/"), 403
    )
    # Another customer's admin sees nothing of this one.
    stranger = jwt(lms_signer, roles=["enterprise_admin:00000000-0000-4000-8000-00000000abcd"])
    assert stranger.get(f"{V1}/subsidies/").json()["results"] == []


def test_subsidy_can_redeem_and_aggregates_follow_the_ledger(demo, lms_signer):
    operator = jwt(lms_signer, roles=OPERATOR)
    url = f"{V1}/subsidies/{demo_data.SUBSIDY_UUID}/can_redeem/"
    query = {"lms_user_id": LEARNER_ID, "content_key": demo_data.OPEN_RUN}

    before = operator.get(url, query).json()
    assert before == {
        "can_redeem": True,
        "content_price": 5_000,
        "unit": "usd_cents",
        "all_transactions": [],
        "active": True,
    }
    created = operator.post(f"{V1}/transactions/", create_body())
    assert created.status_code == 201, created.content
    after = operator.get(url, query).json()
    assert after["can_redeem"] is False and [t["uuid"] for t in after["all_transactions"]] == [created.json()["uuid"]]

    aggregates = operator.get(f"{V1}/subsidies/{demo_data.SUBSIDY_UUID}/aggregates-by-learner").json()
    assert aggregates == [{"lms_user_id": LEARNER_ID, "total": 1}]
    other_policy = {"subsidy_access_policy_uuid": str(demo_data.ENROLLMENT_POLICY_UUID)}
    assert operator.get(f"{V1}/subsidies/{demo_data.SUBSIDY_UUID}/aggregates-by-learner", other_policy).json() == []
    assert_error(operator.get(url, {"lms_user_id": LEARNER_ID}), 400, "invalid_input", "content_key")


def test_content_metadata_gives_price_in_cents_and_the_enrollment_deadline(demo, lms_signer):
    learner = jwt(lms_signer, roles=LEARNER, user_id=LEARNER_ID)
    query = {"enterprise_customer_uuid": str(demo_data.CUSTOMER_UUID)}

    run = learner.get(f"{V1}/content-metadata/{demo_data.EXEC_ED_RUN}/", query).json()
    assert run["content_price"] == 150_000 and run["source"] == "2u" and run["mode"] == "paid-executive-education"
    assert run["enroll_by_date"].startswith("2099-01-20") and run["geag_variant_id"] == str(
        demo_data.EXEC_ED_VARIANT_UUID
    )
    course = learner.get(f"{V1}/content-metadata/DemoU+Open101/", query).json()
    assert course["content_key"] == "DemoU+Open101" and course["course_run_key"] == demo_data.OPEN_RUN
    assert_error(learner.get(f"{V1}/content-metadata/{demo_data.OPEN_RUN}/"), 400, "invalid_input")
    assert_error(learner.get(f"{V1}/content-metadata/{demo_data.OUTSIDE_RUN}/", query), 404)
    assert_error(learner.get(f"{V1}/content-metadata/course-v1:No+Such+Run/", query), 404)


def test_a_learner_reads_only_its_own_transactions(demo, lms_signer):
    operator = jwt(lms_signer, roles=OPERATOR)
    mine = operator.post(f"{V1}/transactions/", create_body()).json()
    theirs = operator.post(f"{V1}/transactions/", create_body(lms_user_id=demo_data.LINKED_LEARNERS[1])).json()
    learner = jwt(lms_signer, roles=LEARNER, user_id=LEARNER_ID, username="learner")

    listed = learner.get(f"{V1}/transactions/", {"subsidy_uuid": str(demo_data.SUBSIDY_UUID)}).json()
    assert [t["uuid"] for t in listed["results"]] == [mine["uuid"]]
    detail = learner.get(f"{V1}/transactions/{mine['uuid']}/").json()
    assert detail["transaction_status_api_url"] == f"http://testserver/api/v1/transactions/{mine['uuid']}/"
    assert detail["courseware_url"].endswith(f"/course/{demo_data.OPEN_RUN}/home")
    assert detail["course_run_start_date"].startswith("2099-01-15")
    assert_error(learner.get(f"{V1}/transactions/{theirs['uuid']}/"), 404)
    own = learner.get(f"/api/v2/subsidies/{demo_data.SUBSIDY_UUID}/transactions/").json()
    assert [t["uuid"] for t in own["results"]] == [mine["uuid"]]
    assert_error(operator.get(f"/api/v2/subsidies/{demo_data.SUBSIDY_UUID}/transactions/"), 404)
    assert_error(learner.get(f"{V1}/transactions/"), 400, "invalid_input", "subsidy_uuid")


def test_the_ledger_list_pages_and_aggregates_as_the_reference(demo, lms_signer):
    operator = jwt(lms_signer, roles=OPERATOR)
    for learner in demo_data.LINKED_LEARNERS[:3]:
        assert operator.post(ledger_url(), create_body(lms_user_id=learner)).status_code == 201

    page = operator.get(
        ledger_url(), {"page_size": 2, "include_aggregates": "True", "state": ["committed", "pending", "created"]}
    ).json()
    assert len(page["results"]) == 2 and page["num_pages"] == 2 and page["current_page"] == 1 and page["next"]
    assert page["aggregates"] == {
        "unit": "usd_cents",
        "remaining_subsidy_balance": demo_data.DEPOSIT_CENTS - 3 * 5_000,
        "total_quantity": demo_data.DEPOSIT_CENTS - 3 * 5_000,  # the starting deposit is committed too
    }
    assert "aggregates" not in operator.get(ledger_url()).json()


def test_an_operator_enrolls_late_into_the_closed_run_with_allow_late_enrollment(demo, lms_signer):
    operator = jwt(lms_signer, roles=OPERATOR)
    body = create_body(content_key=demo_data.CLOSED_RUN, metadata={"allow_late_enrollment": True})

    refused = operator.post(ledger_url(), create_body(content_key=demo_data.CLOSED_RUN))
    assert refused.status_code == 422, refused.content
    created = operator.post(ledger_url(), {**body, "idempotency_key": "ticket-77"})
    assert created.status_code == 201, created.content
    assert created.json()["state"] == "committed" and created.json()["idempotency_key"] == "ticket-77"
    assert created.json()["metadata"]["allow_late_enrollment"] is True


def test_the_callers_idempotency_key_returns_its_transaction_or_is_refused_for_another_request(demo, lms_signer):
    operator = jwt(lms_signer, roles=OPERATOR)
    first = operator.post(ledger_url(), create_body(idempotency_key="k-1"))
    assert first.status_code == 201, first.content

    again = operator.post(ledger_url(), create_body(idempotency_key="k-1"))
    assert again.status_code == 200 and again.json()["uuid"] == first.json()["uuid"]
    for change in (
        {"lms_user_id": demo_data.LINKED_LEARNERS[1]},
        {"content_key": demo_data.EXEC_ED_RUN},
        {"requested_price_cents": 1_000},
    ):
        body = assert_error(operator.post(ledger_url(), create_body(idempotency_key="k-1", **change)), 422)
        assert body["reason"] == "idempotency_key_mismatch", body
    # Same learner and content under a new key: the live redemption, not a second charge.
    same = operator.post(ledger_url(), create_body(idempotency_key="k-2"))
    assert same.status_code == 200 and same.json()["uuid"] == first.json()["uuid"]
    assert Transaction.objects.filter(lms_user_id=LEARNER_ID, content_key=demo_data.OPEN_RUN).count() == 1
    wrong_subsidy = create_body(subsidy_uuid="00000000-0000-4000-8000-000000000999")
    assert_error(operator.post(ledger_url(), wrong_subsidy), 400, "invalid_input", "subsidy_uuid")


def test_only_an_operator_creates_ledger_transactions(demo, lms_signer):
    for roles in (ADMIN, LEARNER):
        caller = jwt(lms_signer, roles=roles, user_id=LEARNER_ID)
        assert_error(caller.post(ledger_url(), create_body()), 403)
        assert_error(caller.post(f"{V1}/transactions/", create_body()), 403)
    administrator = APIClient()
    token = lms_signer.token(username="lms-staff", administrator=True)
    administrator.credentials(HTTP_AUTHORIZATION=f"JWT {token}")
    assert administrator.post(ledger_url(), create_body()).status_code == 201
    assert not Transaction.objects.filter(lms_user_id=LEARNER_ID).exclude(state="committed").exists()


@pytest.mark.parametrize("debug", [False, True])
def test_every_error_under_api_is_json_whatever_debug_is(client, debug):
    with override_settings(DEBUG=debug):
        response = client.get("/api/v1/no-such-route/")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")
    assert response.json()["reason"] == "not_found"
