"""Staff users for the forced-redemption tests: one who may force, one who may only look."""

import pytest

from forced_redemptions.tests.helpers import grant


@pytest.fixture
def forcer(db, django_user_model):
    """Staff with `force_redeem`, and view on policies (the policy autocomplete asks the policy admin)."""
    user = django_user_model.objects.create_user("forcer", "forcer@example.com", "pw", is_staff=True)
    return grant(user, "forced_redemptions.force_redeem", "policies.view_subsidyaccesspolicy")


@pytest.fixture
def viewer(db, django_user_model):
    """Staff who may view forced redemptions, not force them."""
    user = django_user_model.objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    return grant(user, "forced_redemptions.view_forcedpolicyredemption", "policies.view_subsidyaccesspolicy")


@pytest.fixture
def forcer_client(client, forcer):
    client.force_login(forcer)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client
