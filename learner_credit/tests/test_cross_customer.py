"""No list, whatever its filters, shows a customer admin or a learner anything of another customer.

Two customers, A and B, each with a catalog holding a course of its own, a subsidy, a policy, a learner, a
redemption and a forced redemption. A's admin and A's learner ask every list endpoint of the schema, with
no filter and with every filter set to B's ids; B's identifiers must appear in no answer. Course and run
listings are public catalog data by design: what must not show is which courses B's catalog holds.
"""

from __future__ import annotations

import pytest
import yaml
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import MembershipRole
from accounts.services import provision_api_user
from forced_redemptions.services import create_forced_redemption
from policies.services import redeem
from testing.factories import make_scenario

pytestmark = pytest.mark.django_db

PUBLIC_WITHOUT_FILTER = {"/api/v1/courses/", "/api/v1/course-runs/"}


def _list_operations() -> list[tuple[str, list[str]]]:
    schema = yaml.safe_load((settings.BASE_DIR / "openapi.yaml").read_text())
    operations = []
    for path, methods in schema["paths"].items():
        get = methods.get("get")
        if get is None or not (get.get("responses", {}).get("200", {}).get("content")):
            continue
        content = get["responses"]["200"]["content"]
        if "application/json" not in content:
            continue  # a download (a batch's results.csv): one record's, never a list
        body = content["application/json"]["schema"]
        is_list = body.get("type") == "array" or "$ref" in body and "Paginated" in body["$ref"]
        if is_list:
            operations.append((path, [p["name"] for p in get.get("parameters", []) if p.get("in") == "query"]))
    return operations


@pytest.fixture
def two_customers():
    a, b = make_scenario(), make_scenario()
    for s in (a, b):
        redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)
        s.forced = create_forced_redemption(
            actor=None,
            subsidy_access_policy=s.policy,
            lms_user_id=s.learner.lms_user_id,
            course_run_key=s.run.key,
            reason="cross-customer check",
            wait_to_redeem=True,
        )
    return a, b


def _b_values(b) -> dict[str, str]:
    """What to put in each filter, and what must never come back."""
    return {
        "enterprise_customer_uuid": str(b.customer.uuid),
        "customer": str(b.customer.uuid),
        "customer_uuid": str(b.customer.uuid),
        "catalog_uuid": str(b.catalog.uuid),
        "subsidy_uuid": str(b.subsidy.uuid),
        "policy": str(b.policy.uuid),
        "subsidy_access_policy_uuid": str(b.policy.uuid),
        "lms_user_id": str(b.learner.lms_user_id),
        "email": b.learner.email,
        "course_key": b.run.course.key,
        "course_run_key": b.run.key,
        "content_key": b.run.key,
    }


def _secrets(b) -> list[str]:
    return [
        str(b.customer.uuid),
        str(b.catalog.uuid),
        str(b.subsidy.uuid),
        str(b.policy.uuid),
        str(b.forced.uuid),
        b.learner.email,
    ]


@pytest.mark.parametrize("role", [MembershipRole.ADMIN, MembershipRole.LEARNER])
def test_no_list_shows_another_customers_records(two_customers, role):
    a, b = two_customers
    _, token = provision_api_user(
        username=f"a-{role}",
        customer=a.customer,
        role=role,
        lms_user_id=a.learner.lms_user_id if role == MembershipRole.LEARNER else None,
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    values, secrets = _b_values(b), _secrets(b)
    asked = 0
    for path, params in _list_operations():
        for concrete, query in _requests(path, params, a, b, values):
            response = client.get(concrete, query)
            asked += 1
            assert response.status_code < 500, (concrete, query, response.status_code)
            text = response.content.decode()
            # Courses are public; which courses another customer's catalog holds is not.
            private = [*secrets, b.run.course.key] if "catalog_uuid" in query else secrets
            leaked = [s for s in private if s in text]
            assert not leaked, f"GET {concrete} {query} shows {leaked} of another customer ({response.status_code})"
    assert asked > 20


def _requests(path: str, params: list[str], a, b, values: dict[str, str]):
    """The path with A's ids in it (the caller's own) and with B's, each with no filter and with each filter."""
    targets = {str(a.customer.uuid): a, str(b.customer.uuid): b}
    for owner in targets.values():
        concrete = path.replace("{customer_uuid}", str(owner.customer.uuid)).replace(
            "{subsidy_uuid}", str(owner.subsidy.uuid)
        )
        filters = [p for p in params if p in values]
        if path not in PUBLIC_WITHOUT_FILTER and path != "/api/v1/policy-redemption/credits_available/":
            yield concrete, {}
        for name in filters:
            query = {name: values[name]}
            if path == "/api/v1/policy-redemption/credits_available/":
                query.setdefault("enterprise_customer_uuid", str(owner.customer.uuid))
            yield concrete, query
        if path.endswith("/can-redeem/"):
            yield concrete, {"content_key": b.run.key}
