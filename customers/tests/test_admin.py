"""The customers admin: customers, learner links and groups."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from customers.models import EnterpriseCustomer, EnterpriseCustomerUser, EnterpriseGroup
from testing.admin_checks import assert_constant_queries
from testing.factories import CustomerFactory, GroupFactory, LearnerFactory

CUSTOMERS = reverse("admin:customers_enterprisecustomer_changelist")
LEARNERS = reverse("admin:customers_enterprisecustomeruser_changelist")
GROUPS = reverse("admin:customers_enterprisegroup_changelist")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_admin_site_is_titled(admin_client, db):
    response = admin_client.get(reverse("admin:index"))
    assert b"Learner credit administration" in response.content


def test_customer_pages_render_and_link_to_their_learners(admin_client, demo):
    listing = admin_client.get(CUSTOMERS)
    assert listing.status_code == 200
    assert b"Demo University" in listing.content
    learners_link = f"{LEARNERS}?customer__uuid__exact={demo.CUSTOMER_UUID}"
    assert learners_link.encode() in listing.content
    assert b"6 learner link(s)" in listing.content

    page = admin_client.get(reverse("admin:customers_enterprisecustomer_change", args=[demo.CUSTOMER_UUID]))
    assert page.status_code == 200
    assert learners_link.encode() in page.content
    assert admin_client.get(reverse("admin:customers_enterprisecustomer_add")).status_code == 200

    linked = admin_client.get(learners_link)
    assert linked.context["cl"].result_count == 6


def test_customers_search_by_name_and_slug(admin_client, demo):
    CustomerFactory(name="Other Org", slug="other-org")
    assert admin_client.get(CUSTOMERS, {"q": "demo-university"}).context["cl"].result_count == 1
    assert admin_client.get(CUSTOMERS, {"q": "Other"}).context["cl"].result_count == 1


def test_learner_links_search_by_lms_user_id_and_email(admin_client, demo):
    by_id = admin_client.get(LEARNERS, {"q": "1002"})
    assert [link.lms_user_id for link in by_id.context["cl"].result_list] == [1002]

    by_email = admin_client.get(LEARNERS, {"q": "learner1004@"})
    assert [link.lms_user_id for link in by_email.context["cl"].result_list] == [1004]

    # A non-numeric term is no error for the numeric lms_user_id.
    nothing = admin_client.get(LEARNERS, {"q": "zzz-no-such-learner"})
    assert nothing.status_code == 200
    assert nothing.context["cl"].result_count == 0


def test_learner_links_filter_by_linked_and_group(admin_client, demo):
    unlinked = admin_client.get(LEARNERS, {"active__exact": "0"})
    assert [link.lms_user_id for link in unlinked.context["cl"].result_list] == [demo.UNLINKED_LEARNER]

    group = EnterpriseGroup.objects.create(customer_id=demo.CUSTOMER_UUID, name="Sales")
    EnterpriseCustomerUser.objects.get(lms_user_id=1003).groups.add(group)
    in_group = admin_client.get(LEARNERS, {"groups__uuid__exact": str(group.pk)})
    assert [link.lms_user_id for link in in_group.context["cl"].result_list] == [1003]


def test_learner_link_page_offers_only_its_customers_groups(admin_client, demo):
    own = EnterpriseGroup.objects.create(customer_id=demo.CUSTOMER_UUID, name="Sales")
    foreign = GroupFactory(name="Elsewhere")
    link = EnterpriseCustomerUser.objects.get(lms_user_id=1001)

    page = admin_client.get(reverse("admin:customers_enterprisecustomeruser_change", args=[link.pk]))

    assert page.status_code == 200
    choices = list(page.context["adminform"].form.fields["groups"].queryset)
    assert own in choices and foreign not in choices


def test_linking_a_learner_in_the_admin_records_history(admin_client, demo):
    data = {
        "customer": str(demo.CUSTOMER_UUID),
        "lms_user_id": "1006",
        "email": "learner1006@demo-university.example",
        "first_name": "New",
        "last_name": "Learner",
        "active": "on",
    }

    response = admin_client.post(reverse("admin:customers_enterprisecustomeruser_add"), data)

    assert response.status_code == 302
    link = EnterpriseCustomerUser.objects.get(lms_user_id=1006)
    assert link.history.count() == 1


def test_group_pages_render(admin_client, demo):
    group = EnterpriseGroup.objects.create(customer_id=demo.CUSTOMER_UUID, name="Sales")
    listing = admin_client.get(GROUPS, {"q": "Sales"})
    assert listing.context["cl"].result_count == 1
    assert admin_client.get(reverse("admin:customers_enterprisegroup_change", args=[group.pk])).status_code == 200


def test_customers_autocomplete_serves_other_admins(admin_client, demo):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "policies", "model_name": "subsidyaccesspolicy", "field_name": "customer", "term": "Demo"},
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["Demo University"]


def test_view_only_staff_cannot_revert_history(client, staff_user, demo):
    """simple_history alone would let a view-only user POST an old version back."""
    customer = EnterpriseCustomer.objects.get(pk=demo.CUSTOMER_UUID)
    first = customer.history.earliest()
    customer.name = "Renamed"
    customer.save()
    staff_user.user_permissions.add(Permission.objects.get(codename="view_enterprisecustomer"))
    client.force_login(staff_user)
    url = reverse("admin:customers_enterprisecustomer_simple_history", args=[customer.pk, first.history_id])

    assert client.get(url).status_code == 200
    assert client.post(url, {"name": "Demo University"}).status_code == 403
    assert EnterpriseCustomer.objects.get(pk=customer.pk).name == "Renamed"


@pytest.mark.parametrize("url", [CUSTOMERS, LEARNERS, GROUPS])
def test_customer_lists_cost_the_same_queries_for_1_or_20_rows(admin_client, db, url):
    customer = CustomerFactory()
    group = GroupFactory(customer=customer)
    LearnerFactory(customer=customer).groups.add(group)

    def grow():
        for _ in range(19):
            other = CustomerFactory()
            other_group = GroupFactory(customer=other)
            LearnerFactory(customer=other).groups.add(other_group)

    assert_constant_queries(admin_client, url, grow, rows=20)
