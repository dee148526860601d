"""A prepared read answers exactly what its queryset answers, on whichever database the suite runs."""

from __future__ import annotations

import uuid

import pytest
from django.db.models import Count, Exists, OuterRef

from common.prepared import PreparedRead
from customers.models import EnterpriseCustomerUser
from testing.factories import CourseRunFactory, CustomerFactory, LearnerFactory

pytestmark = pytest.mark.django_db


def _links(customer_id, lms_user_id):
    return (
        EnterpriseCustomerUser.objects.select_related("customer")
        .filter(customer_id=customer_id, lms_user_id__gte=lms_user_id)
        .annotate(
            group_count=Count("groups"),
            linked_elsewhere=Exists(
                EnterpriseCustomerUser.objects.filter(lms_user_id=OuterRef("lms_user_id")).exclude(
                    customer_id=customer_id
                )
            ),
        )
        .order_by("lms_user_id")
    )


def test_a_prepared_read_returns_the_querysets_instances_with_related_rows_and_annotations():
    customer, other = CustomerFactory(), CustomerFactory()
    for lms_user_id in (5, 6, 7):
        LearnerFactory(customer=customer, lms_user_id=lms_user_id)
    LearnerFactory(customer=other, lms_user_id=6)
    prepared = PreparedRead(_links, customer_id=uuid.uuid4(), lms_user_id=1)

    for customer_id, since in ((customer.pk, 6), (customer.pk, 1), (other.pk, 1), (uuid.uuid4(), 1)):
        expected = list(_links(customer_id, since))
        got = prepared(customer_id=customer_id, lms_user_id=since)
        assert [(o.pk, o.customer.name, o.group_count, o.linked_elsewhere) for o in got] == [
            (o.pk, o.customer.name, o.group_count, o.linked_elsewhere) for o in expected
        ]
        assert all(not o._state.adding for o in got)


def test_a_prepared_values_list_read_returns_the_same_tuples():
    run = CourseRunFactory()

    def build(key):
        return type(run).objects.filter(key=key).values_list("key", "price_cents", "start", "course__key")

    prepared = PreparedRead(build, key="sample")
    assert prepared(key=run.key) == list(build(run.key))
    assert prepared(key="course-v1:No+Such+Run") == []


def test_a_query_whose_sql_depends_on_a_value_cannot_be_prepared():
    def shape_changes(lms_user_id):
        links = EnterpriseCustomerUser.objects.filter(lms_user_id=lms_user_id)
        return links.filter(active=True) if lms_user_id % 2 else links  # the sample and its variant differ

    with pytest.raises(ValueError, match="depends on the value"):
        PreparedRead(shape_changes, lms_user_id=500)(lms_user_id=1)
