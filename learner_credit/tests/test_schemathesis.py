"""Property-based run of the whole API against its own OpenAPI schema: no input may cause a 5xx.

Schemathesis generates requests for every operation (valid and invalid bodies, parameters and paths) and
sends them to the WSGI app in-process, authenticated as a superuser, over the demo data set. Path
parameters are drawn either at random (mostly 404s) or from records that exist, so the handlers behind
the 404 are exercised too. Bounded: at most MAX_EXAMPLES generated cases per operation.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from learner_credit.tests.api_helpers import make_user

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "12"))

# Filled by the fixture with ids of records that exist; read when strategies are drawn.
KNOWN: dict[str, list] = {}


# Body and query fields that name records: drawn from existing ones half of the time.
FIELD_KNOWN = {
    "enterprise_customer_uuid": "customer_uuid",
    "customer": "customer_uuid",
    "catalog_uuid": "catalog_uuid",
    "subsidy_uuid": "subsidy_uuid",
    "subsidy_access_policy": "policy_uuid",
    "subsidy_access_policy_uuid": "policy_uuid",
    "policy": "policy_uuid",
    "lms_user_id": "lms_user_id",
    "content_key": "run_key",
    "course_run_key": "run_key",
    "course_key": "course_key",
}


def _with_known(values, names: dict[str, str]):
    """A strategy: `values` as generated, or with the fields that name records pointing at existing ones."""
    if not isinstance(values, dict):
        return st.just(values)
    known = {field: KNOWN[kind] for field, kind in names.items() if field in values and KNOWN.get(kind)}
    if not known:
        return st.just(values)
    replaced = {
        field: st.sampled_from(known[field]).map(lambda v, was=values[field]: [v] if isinstance(was, list) else v)
        if field in known
        else st.just(value)
        for field, value in values.items()
    }
    return st.one_of(st.just(values), st.fixed_dictionaries(replaced))


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    return _with_known(path_parameters, {name: name for name in KNOWN})


@schemathesis.hook
def flatmap_query(context, query):
    return _with_known(query, FIELD_KNOWN)


@schemathesis.hook
def flatmap_body(context, body):
    return _with_known(body, {**FIELD_KNOWN, "group_uuids": "group_uuid", "course_keys": "course_key"})


def _known_records(demo) -> dict[str, list]:
    from customers.models import EnterpriseGroup
    from forced_redemptions.services import create_forced_redemption
    from policies.models import SubsidyAccessPolicy
    from policies.services import redeem

    policy = SubsidyAccessPolicy.objects.get(pk=demo.SPEND_POLICY_UUID)
    entry = redeem(policy=policy, lms_user_id=demo.LINKED_LEARNERS[0], content_key=demo.OPEN_RUN).transaction
    group = EnterpriseGroup.objects.create(customer_id=demo.CUSTOMER_UUID, name="Schemathesis group")
    forced = create_forced_redemption(
        actor=None,
        subsidy_access_policy=policy,
        lms_user_id=demo.LINKED_LEARNERS[1],
        course_run_key=demo.CLOSED_RUN,
        reason="schemathesis",
        wait_to_redeem=True,
    )
    runs = [demo.CLOSED_RUN, demo.OPEN_RUN, demo.EXEC_ED_RUN, demo.OUTSIDE_RUN]
    return {
        "customer_uuid": [str(demo.CUSTOMER_UUID)],
        "catalog_uuid": [str(demo.CATALOG_UUID)],
        "subsidy_uuid": [str(demo.SUBSIDY_UUID)],
        "policy_uuid": [str(demo.SPEND_POLICY_UUID), str(demo.ENROLLMENT_POLICY_UUID), str(demo.ASSIGNED_POLICY_UUID)],
        "transaction_uuid": [str(entry.uuid)],
        "group_uuid": [str(group.uuid)],
        "uuid": [str(forced.uuid)],
        "lms_user_id": list(demo.LINKED_LEARNERS),
        "course_key": [course["key"] for course in demo.COURSES],
        "run_key": runs,
    }


@pytest.fixture
def known_records(demo):
    KNOWN.clear()
    KNOWN.update(_known_records(demo))


@pytest.fixture
def keep_test_connection():
    """Requests run inside the test's transaction: the WSGI handler must not close the connection after each
    (Django's own test client disconnects the same signal handlers)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def root_token(db):
    from rest_framework.authtoken.models import Token

    return Token.objects.create(user=make_user("schemathesis-root", is_staff=True, is_superuser=True)).key


# Loaded at collection (no database needed to build the schema); one test per operation. The app is built
# here, not imported from learner_credit.wsgi, which refuses to serve without a SECRET_KEY of the environment's.
application = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases on every run: CI failures reproduce
    database=None,
)
def test_no_operation_answers_a_server_error(case, root_token, known_records, keep_test_connection):
    case.call_and_validate(headers={"Authorization": f"Token {root_token}"}, checks=[not_a_server_error])
