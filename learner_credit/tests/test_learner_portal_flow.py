"""The learner portal's redeem flow, replayed as frontend-app-learner-portal-enterprise makes it.

The portal holds only the LMS's two JWT cookies (no Authorization header) and sends `USE-JWT-COOKIE: true`;
before a POST it fetches a CSRF token from the service's /csrf/api/v1/token and sends it as X-CSRFToken. It
reads `redeemable_subsidy_access_policy.policy_redemption_url` from can-redeem, POSTs the redemption there,
polls `transaction_status_api_url` while the state is `pending`, and sends the browser to `courseware_url`
once it is `committed`. Here the LMS is slow on the first enroll, so the transaction is pending until the
reconciler (cron, or the Celery beat) settles it.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from demo import data as demo_data
from policies import settlement
from subsidies.models import Transaction
from testing.lms_jwt import split_for_cookies

pytestmark = pytest.mark.django_db(transaction=True)  # the downstream is called outside any transaction

LEARNER_ID = demo_data.LINKED_LEARNERS[0]


def portal_browser(signer) -> APIClient:
    token = signer.token(username="ada", user_id=LEARNER_ID, roles=[f"enterprise_learner:{demo_data.CUSTOMER_UUID}"])
    browser = APIClient(enforce_csrf_checks=True, HTTP_USE_JWT_COOKIE="true")
    for name, value in split_for_cookies(token).items():
        browser.cookies[name] = value
    return browser


def path_of(url: str) -> str:
    assert url.startswith("http://testserver/"), url
    return url.removeprefix("http://testserver")


def test_the_learner_portal_redeems_with_its_jwt_cookies_and_follows_the_transaction(demo, lms_signer, lms_backend):
    browser = portal_browser(lms_signer)
    can_redeem = f"/api/v1/policy-redemption/enterprise-customer/{demo_data.CUSTOMER_UUID}/can-redeem/"

    [answer] = browser.get(can_redeem, {"content_key": demo_data.OPEN_RUN}).json()
    policy = answer["redeemable_subsidy_access_policy"]
    assert answer["can_redeem"] is True and answer["list_price"] == {"usd": 50.0, "usd_cents": 5_000}
    assert policy["policy_redemption_url"].endswith(f"/api/v1/policy-redemption/{policy['uuid']}/redeem/")

    csrf = browser.get("/csrf/api/v1/token").json()["csrfToken"]
    body = {"lms_user_id": LEARNER_ID, "content_key": demo_data.OPEN_RUN, "metadata": {}}
    no_csrf = browser.post(path_of(policy["policy_redemption_url"]), body, format="json")
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["detail"]
    lms_backend.fail_next("timeout")  # the LMS does not answer in time: the outcome is unknown
    redeemed = browser.post(path_of(policy["policy_redemption_url"]), body, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert redeemed.status_code == 200, redeemed.content
    transaction = redeemed.json()
    assert transaction["state"] == "pending"

    status_url = path_of(transaction["transaction_status_api_url"])
    assert browser.get(status_url).json()["state"] == "pending"  # the portal polls every second
    settlement.reconcile(whenever=True)  # what the beat (or cron) does
    polled = browser.get(status_url).json()
    assert polled["state"] == "committed" and polled["uuid"] == transaction["uuid"]
    assert polled["courseware_url"] == f"http://localhost:2000/course/{demo_data.OPEN_RUN}/home"

    [after] = browser.get(can_redeem, {"content_key": demo_data.OPEN_RUN}).json()
    assert after["has_successful_redemption"] is True and after["can_redeem"] is False
    assert after["redemptions"][0]["transaction_status_api_url"] == transaction["transaction_status_api_url"]
    assert Transaction.objects.filter(lms_user_id=LEARNER_ID, content_key=demo_data.OPEN_RUN).count() == 1
    assert len(lms_backend.enrollments_of(LEARNER_ID)) == 1


def test_an_expired_cookie_is_a_json_401_not_a_500(demo, lms_signer):
    browser = APIClient()
    for name, value in split_for_cookies(lms_signer.token(username="ada", user_id=LEARNER_ID, expires_in=-5)).items():
        browser.cookies[name] = value

    response = browser.get(
        f"/api/v1/policy-redemption/credits_available/?enterprise_customer_uuid={demo_data.CUSTOMER_UUID}"
    )

    assert response.status_code == 401 and response.json()["reason"] == "not_authenticated"
