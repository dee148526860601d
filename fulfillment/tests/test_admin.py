"""The enrollment admin is read-only: enrollments change only through redemptions and reversals."""

from __future__ import annotations

import pytest
from django.urls import reverse

from fulfillment.models import Enrollment
from testing.admin_checks import RedemptionWorld, assert_constant_queries

ENROLLMENTS = reverse("admin:fulfillment_enrollment_changelist")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_enrollments_are_listed_searchable_and_read_only(admin_client, db):
    world = RedemptionWorld()
    first, second = world.redeem(2)
    enrollment = Enrollment.objects.get(transaction_uuid=first.uuid)

    listing = admin_client.get(ENROLLMENTS)
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 2
    by_learner = admin_client.get(ENROLLMENTS, {"q": str(first.lms_user_id)})
    assert list(by_learner.context["cl"].result_list) == [enrollment]
    by_run = admin_client.get(ENROLLMENTS, {"q": world.run.key, "active__exact": "1"})
    assert by_run.context["cl"].result_count == 2

    page = admin_client.get(reverse("admin:fulfillment_enrollment_change", args=[enrollment.pk]))
    assert page.status_code == 200
    assert reverse("admin:subsidies_transaction_change", args=[first.uuid]).encode() in page.content
    assert admin_client.get(reverse("admin:fulfillment_enrollment_add")).status_code == 403
    assert admin_client.post(page.request["PATH_INFO"], {"active": ""}).status_code == 403
    assert admin_client.get(reverse("admin:fulfillment_enrollment_delete", args=[enrollment.pk])).status_code == 403
    assert Enrollment.objects.get(pk=enrollment.pk).active


def test_enrollment_list_costs_the_same_queries_for_1_or_20_rows(admin_client, db):
    world = RedemptionWorld()
    world.redeem(1)
    assert_constant_queries(admin_client, ENROLLMENTS, lambda: world.redeem(19), rows=20)
