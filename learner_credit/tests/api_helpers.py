"""Clients for API tests: real users, real tokens, real HTTP through DRF's APIClient (no forced auth)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import ApiIdentity, CustomerMembership, MembershipRole


def client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    client.user = user
    return client


def make_user(username: str, *, perms: tuple[str, ...] = (), is_staff: bool = False, is_superuser: bool = False):
    user = get_user_model().objects.create_user(
        username, f"{username}@example.com", "pw", is_staff=is_staff, is_superuser=is_superuser
    )
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def superuser_client(username: str = "root-api") -> APIClient:
    return client_for(make_user(username, is_staff=True, is_superuser=True))


def staff_client(*perms: str, username: str = "staff-api") -> APIClient:
    return client_for(make_user(username, perms=perms, is_staff=True))


def learner_client(lms_user_id: int, *, username: str | None = None) -> APIClient:
    user = make_user(username or f"learner-{lms_user_id}")
    ApiIdentity.objects.create(user=user, lms_user_id=lms_user_id)
    return client_for(user)


def customer_admin_client(customer, *, username: str | None = None) -> APIClient:
    user = make_user(username or f"admin-{customer.slug}")
    CustomerMembership.objects.create(user=user, customer=customer, role=MembershipRole.ADMIN)
    return client_for(user)


def assert_error(response, status: int, reason: str | None = None, *fields: str) -> dict:
    """The common error body: status, reason code and (for 400s) the named fields."""
    assert response.status_code == status, (response.status_code, response.content[:2000])
    body = response.json()
    if reason is not None:
        assert body["reason"] == reason, body
    assert body["detail"], body
    for field in fields:
        assert field in body.get("field_errors", {}), (field, body)
    return body
