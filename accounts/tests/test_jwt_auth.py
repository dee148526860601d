"""The LMS's JWTs authenticate API callers (edx-drf-extensions), and their roles are our permissions."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from learner_credit.tests.api_helpers import assert_error, make_user
from testing.lms_jwt import split_for_cookies

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


def jwt_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"JWT {token}")
    return client


def test_an_rs512_token_in_the_header_authenticates_the_learner_it_names(lms_signer):
    customer = "00000000-0000-4000-8000-000000000001"
    token = lms_signer.token(username="ada", user_id=1001, roles=[f"enterprise_learner:{customer}"])

    body = jwt_client(token).get(ME).json()

    assert body["username"] == "ada"
    assert body["lms_user_id"] == 1001
    assert body["is_staff"] is False
    assert body["memberships"] == [
        {"enterprise_customer_uuid": "00000000-0000-4000-8000-000000000001", "role": "learner"}
    ]


def test_an_hs256_token_signed_with_the_shared_secret_authenticates(lms_signer):
    token = lms_signer.token(signed_with="HS256", username="bob", user_id=1002)

    assert jwt_client(token).get(ME).json()["lms_user_id"] == 1002


def test_the_lms_jwt_cookies_authenticate_and_a_cookie_post_needs_the_csrf_token(lms_signer):
    token = lms_signer.token(username="cleo", user_id=1003)
    client = APIClient(enforce_csrf_checks=True)
    for name, value in split_for_cookies(token).items():
        client.cookies[name] = value

    assert client.get(ME).json()["lms_user_id"] == 1003
    # Without the CSRF token the cookie does not authenticate a write, and the answer says why.
    body = assert_error(client.post(ME, {}, format="json"), 403, "permission_denied")
    assert body["detail"].startswith("CSRF Failed")

    csrf = client.get("/csrf/api/v1/token").json()["csrfToken"]
    allowed = client.post(ME, {}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert allowed.status_code == 405  # past authentication and CSRF: /me/ only reads


@pytest.mark.parametrize(
    "make_token, detail",
    [
        (lambda s: s.token(username="x", user_id=1, expires_in=-60), "expired"),
        (lambda s: s.token(username="x", user_id=1, iss="https://evil.example.com/oauth2"), "issued by"),
        (lambda s: s.token(username="x", user_id=1, aud="another-service"), "audience"),
        (lambda s: s.token(username="x", user_id=1)[:-6] + "AAAAAA", "signature"),  # tampered with
        (lambda s: "not.a.jwt", "malformed"),
        (lambda s: "garbage", "malformed"),
        (lambda s: s.token(username="x", user_id="1001"), "user_id"),
        (lambda s: s.token(username="x", user_id=1, roles="enterprise_openedx_operator:*"), "roles"),
        (lambda s: s.token(username="x", user_id=1, administrator="yes"), "administrator"),
        (lambda s: s.token(username="", user_id=1), "username"),
    ],
    ids=[
        "expired",
        "wrong-issuer",
        "wrong-audience",
        "bad-signature",
        "malformed",
        "not-three-parts",
        "user-id-string",
        "roles-not-list",
        "administrator-not-bool",
        "no-username",
    ],
)
def test_a_bad_token_is_a_json_401_and_creates_nothing(lms_signer, django_user_model, make_token, detail):
    users_before = django_user_model.objects.count()

    response = jwt_client(make_token(lms_signer)).get(ME)

    body = assert_error(response, 401)
    assert body["reason"] == "authentication_failed", body
    assert detail.lower() in body["detail"].lower()
    assert django_user_model.objects.count() == users_before


def test_a_token_signed_by_another_key_is_refused(lms_signer):
    from testing.lms_jwt import LmsSigner

    stranger = LmsSigner(issuer=lms_signer.issuer, audience=lms_signer.audience, secret="another-secret")
    assert_error(jwt_client(stranger.token(username="x", user_id=1)).get(ME), 401, "authentication_failed")
    assert_error(
        jwt_client(stranger.token(signed_with="HS256", username="x", user_id=1)).get(ME), 401, "authentication_failed"
    )


def test_with_no_lms_key_configured_jwt_is_off(settings, lms_signer):
    token = lms_signer.token(username="ada", user_id=1001)
    settings.JWT_AUTH = lms_signer.jwt_auth(settings.JWT_AUTH, secret=False, jwk_set=False)

    assert_error(jwt_client(token).get(ME), 401, "not_authenticated")


def test_a_local_account_sharing_the_username_lends_the_token_none_of_its_rights(lms_signer):
    make_user("root", is_staff=True, is_superuser=True)
    token = lms_signer.token(username="root", user_id=1005)

    body = jwt_client(token).get(ME).json()
    assert body["is_staff"] is False and body["is_superuser"] is False
    listed = jwt_client(token).get("/api/v2/subsidies/")
    assert listed.status_code == 200 and listed.json()["results"] == []


def test_an_inactive_user_is_refused(lms_signer):
    user = make_user("gone")
    user.is_active = False
    user.save()

    assert_error(jwt_client(lms_signer.token(username="gone", user_id=1)).get(ME), 401, "authentication_failed")
