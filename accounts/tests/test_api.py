"""Authentication and identity through HTTP: tokens, sessions, 401s, and who-am-I."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import ApiIdentity, CustomerMembership
from learner_credit.tests.api_helpers import assert_error, customer_admin_client, learner_client, make_user
from testing.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_no_credentials_is_a_401_that_says_how_to_authenticate():
    response = APIClient().get("/api/v1/me/")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_a_wrong_token_is_a_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(client.get("/api/v1/me/"), 401, "authentication_failed")


def test_a_token_of_an_inactive_user_is_refused():
    client = learner_client(1234)
    client.user.is_active = False
    client.user.save()
    assert_error(client.get("/api/v1/me/"), 401, "authentication_failed")


def test_me_says_which_learner_the_token_acts_for_and_its_memberships():
    customer = CustomerFactory()
    learner = learner_client(4321)
    CustomerMembership.objects.create(user=learner.user, customer=customer, role="learner")

    body = learner.get("/api/v1/me/").json()

    assert body["lms_user_id"] == 4321
    assert body["is_staff"] is False
    assert body["memberships"] == [{"enterprise_customer_uuid": str(customer.uuid), "role": "learner"}]


def test_a_session_authenticates_too():
    user = make_user("session-user")
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/v1/me/").json()["username"] == "session-user"


def test_customer_admin_membership_shows_in_me():
    customer = CustomerFactory()
    admin = customer_admin_client(customer)
    assert admin.get("/api/v1/me/").json()["memberships"][0]["role"] == "admin"


def test_issue_api_token_command_creates_a_learner_user_and_prints_its_token():
    customer = CustomerFactory()
    out = io.StringIO()
    call_command("issue_api_token", "bench-learner", "--lms-user-id", "9001", "--customer", customer.slug, stdout=out)

    key = out.getvalue().strip()
    token = Token.objects.select_related("user").get(key=key)
    assert token.user.username == "bench-learner"
    assert ApiIdentity.objects.get(user=token.user).lms_user_id == 9001
    assert CustomerMembership.objects.get(user=token.user).customer == customer

    again = io.StringIO()
    call_command("issue_api_token", "bench-learner", "--lms-user-id", "9001", stdout=again)
    assert again.getvalue().strip() == key  # idempotent


def test_an_lms_user_id_belongs_to_one_user_only():
    call_command("issue_api_token", "first", "--lms-user-id", "77", stdout=io.StringIO())
    with pytest.raises(Exception, match="already belongs"):
        call_command("issue_api_token", "second", "--lms-user-id", "77", stdout=io.StringIO())
