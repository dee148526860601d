"""The demo set-up commands of `make run`: safe to run again, with the fixed identifiers docs refer to."""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import CourseRun
from customers.models import EnterpriseCustomer, EnterpriseCustomerUser
from policies import reasons
from policies.models import PolicyType, SubsidyAccessPolicy
from policies.redeemability import can_redeem
from subsidies.models import Deposit
from subsidies.selectors import balance_cents

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("customers", "catalog", "fulfillment", "subsidies", "assignments", "policies")


def _row_counts() -> dict[str, int]:
    """Rows of every model of the domain apps, history tables included."""
    return {
        model._meta.label: model._default_manager.count()
        if not hasattr(model, "all_objects")
        else model.all_objects.count()
        for app in PROJECT_APPS
        for model in apps.get_app_config(app).get_models()
    }


def test_load_demo_twice_leaves_the_same_rows():
    call_command("load_demo", stdout=io.StringIO())
    first = _row_counts()

    call_command("load_demo", stdout=io.StringIO())

    assert _row_counts() == first
    assert balance_cents(SubsidyAccessPolicy.objects.first().subsidy_id) == 1_000_000
    assert Deposit.objects.count() == 1


def test_demo_has_the_documented_identifiers(demo):
    customer = EnterpriseCustomer.objects.get(pk=demo.CUSTOMER_UUID)
    assert (customer.name, customer.slug) == ("Demo University", demo.CUSTOMER_SLUG)
    links = EnterpriseCustomerUser.objects.filter(customer=customer)
    assert sorted(links.filter(active=True).values_list("lms_user_id", flat=True)) == list(demo.LINKED_LEARNERS)
    assert not links.get(lms_user_id=demo.UNLINKED_LEARNER).active
    closed = CourseRun.objects.get(key=demo.CLOSED_RUN)
    assert not closed.is_enrollable and closed.is_past_enroll_by()
    assert CourseRun.objects.get(key=demo.EXEC_ED_RUN).course.is_exec_ed
    policies = {p.display_name: p.policy_type for p in SubsidyAccessPolicy.objects.filter(customer=customer)}
    assert policies == {
        demo.SPEND_POLICY_NAME: PolicyType.PER_LEARNER_SPEND,
        demo.ENROLLMENT_POLICY_NAME: PolicyType.PER_LEARNER_ENROLLMENT,
        demo.ASSIGNED_POLICY_NAME: PolicyType.ASSIGNED,
    }
    assert balance_cents(demo.SUBSIDY_UUID) == demo.DEPOSIT_CENTS


@pytest.mark.parametrize(
    ("lms_user_id", "content_key", "reason"),
    [
        (1001, "course-v1:DemoU+Open101+2099_T1", None),
        (1001, "course-v1:DemoU+Closed101+2024_T1", reasons.BEYOND_ENROLLMENT_DEADLINE),
        (1001, "course-v1:DemoU+Outside301+2099_T1", reasons.CONTENT_NOT_IN_CATALOG),
        (2001, "course-v1:DemoU+Open101+2099_T1", reasons.LEARNER_NOT_IN_ENTERPRISE),
    ],
)
def test_demo_spend_policy_answers_as_the_docs_say(demo, lms_user_id, content_key, reason):
    policy = SubsidyAccessPolicy.objects.get(pk=demo.SPEND_POLICY_UUID)
    assert can_redeem(policy, lms_user_id=lms_user_id, content_key=content_key).reason == reason


def test_ensure_demo_admin_creates_admin_with_the_default_password_and_is_idempotent():
    call_command("ensure_demo_admin", stdout=io.StringIO())
    call_command("ensure_demo_admin", stdout=io.StringIO())

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert admin.check_password("admin")
    assert get_user_model().objects.count() == 1


def test_ensure_demo_admin_honours_demo_admin_password(monkeypatch):
    call_command("ensure_demo_admin", stdout=io.StringIO())
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "s3cret-demo")

    call_command("ensure_demo_admin", stdout=io.StringIO())

    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("s3cret-demo") and not admin.check_password("admin")
