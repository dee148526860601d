"""Catalogs, courses and runs through HTTP, above all the all-or-nothing bulk upsert."""

from __future__ import annotations

import pytest

from accounts.models import CustomerMembership, MembershipRole
from catalog.models import Catalog, Course, CourseRun
from learner_credit.tests.api_helpers import (
    assert_error,
    customer_admin_client,
    learner_client,
    staff_client,
    superuser_client,
)
from testing.factories import CatalogFactory, CourseRunFactory, CustomerFactory, make_policy

pytestmark = pytest.mark.django_db

UPSERT = "/api/v1/courses/bulk-upsert/"


def _course(key="Acme+Py101", runs=None, **fields):
    runs = runs if runs is not None else [{"key": f"course-v1:{key}+2099", "price_cents": 9_900}]
    return {"key": key, "title": "Python 101", "runs": runs, **fields}


def test_bulk_upsert_creates_then_updates_courses_and_runs_and_fills_a_catalog():
    catalog = CatalogFactory()
    api = staff_client("catalog.change_course")

    first = api.post(UPSERT, {"courses": [_course()], "catalog_uuid": str(catalog.uuid)})
    run = {"key": "course-v1:Acme+Py101+2099", "price_cents": 12_000, "enroll_by": "2099-01-31T23:59:00+01:00"}
    second = api.post(UPSERT, {"courses": [_course(runs=[run], product_source="exec-ed")]})

    assert first.json() == {"courses_created": 1, "courses_updated": 0, "runs_created": 1, "runs_updated": 0}
    assert second.json() == {"courses_created": 0, "courses_updated": 1, "runs_created": 0, "runs_updated": 1}
    stored = CourseRun.objects.get(key="course-v1:Acme+Py101+2099")
    assert stored.price_cents == 12_000 and stored.course.product_source == "exec-ed"
    assert stored.enroll_by.isoformat() == "2099-01-31T22:59:00+00:00"
    assert list(catalog.courses.values_list("key", flat=True)) == ["Acme+Py101"]


def test_bulk_upsert_is_all_or_nothing_and_names_each_bad_field():
    bad = [
        _course(),
        _course("Acme+Bad", runs=[{"key": "course-v1:Acme+Bad+1", "price_cents": -5, "start": "yesterday"}]),
        {"key": "", "title": "No key"},
    ]
    body = assert_error(
        superuser_client().post(UPSERT, {"courses": bad}),
        400,
        "invalid_input",
        "courses[1].runs[0].price_cents",
        "courses[1].runs[0].start",
        "courses[2].key",
    )
    assert "courses[0].key" not in body["field_errors"]
    assert not Course.objects.exists()


def test_bulk_upsert_refuses_a_run_that_belongs_to_another_course_and_writes_nothing():
    CourseRunFactory(key="course-v1:Shared+1")
    courses = [_course("Acme+New", runs=[{"key": "course-v1:Shared+1", "price_cents": 1}])]
    assert_error(superuser_client().post(UPSERT, {"courses": courses}), 400, "invalid_input", "runs")
    assert not Course.objects.filter(key="Acme+New").exists()


def test_bulk_upsert_refuses_unknown_fields_huge_prices_and_an_unknown_catalog():
    courses = [_course(runs=[{"key": "course-v1:X+1", "price_cents": 10**12, "colour": "red"}])]
    assert_error(
        superuser_client().post(UPSERT, {"courses": courses, "catalog_uuid": "00000000-0000-4000-8000-000000000000"}),
        400,
        "invalid_input",
        "courses[0].runs[0].colour",
        "catalog_uuid",
    )
    assert_error(superuser_client("root2").post(UPSERT, {"courses": []}), 400, "invalid_input", "courses")


def test_only_staff_with_the_permission_may_upsert():
    assert_error(staff_client().post(UPSERT, {"courses": [_course()]}), 403, "permission_denied")
    assert_error(learner_client(3).post(UPSERT, {"courses": [_course()]}), 403, "permission_denied")


def test_any_authenticated_caller_reads_courses_and_runs_and_members_what_their_catalog_holds():
    run = CourseRunFactory()
    catalog = CatalogFactory(runs=[run])
    CourseRunFactory()  # another course, outside the catalog
    learner = learner_client(3)
    stranger = learner_client(4)
    CustomerMembership.objects.create(user=learner.user, customer=catalog.customer, role=MembershipRole.LEARNER)

    assert stranger.get("/api/v1/courses/", {"catalog_uuid": str(catalog.uuid)}).json()["results"] == []
    courses = learner.get("/api/v1/courses/", {"catalog_uuid": str(catalog.uuid)}).json()["results"]
    assert [c["key"] for c in courses] == [run.course.key]
    assert courses[0]["runs"][0]["key"] == run.key
    assert learner.get(f"/api/v1/courses/{run.course.key}/").json()["title"] == run.course.title
    assert learner.get("/api/v1/course-runs/", {"course_key": run.course.key}).json()["count"] == 1
    assert learner.get(f"/api/v1/course-runs/{run.key}/").json()["price_cents"] == run.price_cents
    assert_error(learner.get("/api/v1/course-runs/course-v1:Nope+1/"), 404, "not_found")
    assert_error(learner.get("/api/v1/courses/", {"product_source": "vhs"}), 400, "invalid_input", "product_source")


def test_catalogs_are_created_with_course_keys_changed_and_deleted_by_staff():
    customer = CustomerFactory()
    run = CourseRunFactory()
    api = superuser_client()

    created = api.post(
        "/api/v1/catalogs/",
        {"enterprise_customer_uuid": str(customer.uuid), "title": "Main", "course_keys": [run.course.key]},
    )
    assert created.status_code == 201, created.content
    url = f"/api/v1/catalogs/{created.json()['uuid']}/"
    replaced = api.put(url, {"enterprise_customer_uuid": str(customer.uuid), "title": "Renamed"})
    assert replaced.json()["title"] == "Renamed" and replaced.json()["course_keys"] == [run.course.key]
    assert api.patch(url, {"course_keys": []}).json()["course_keys"] == []
    assert api.get("/api/v1/catalogs/", {"enterprise_customer_uuid": str(customer.uuid)}).json()["count"] == 1
    assert api.delete(url).status_code == 204
    assert not Catalog.objects.exists()


def test_catalog_errors_unknown_course_other_customer_and_in_use():
    catalog = CatalogFactory()
    api = superuser_client()
    url = f"/api/v1/catalogs/{catalog.uuid}/"
    assert_error(api.patch(url, {"course_keys": ["No+Such"]}), 400, "invalid_input", "course_keys")
    other = CustomerFactory()
    assert_error(
        api.patch(url, {"enterprise_customer_uuid": str(other.uuid)}), 400, "invalid_input", "enterprise_customer_uuid"
    )
    make_policy(catalog=catalog)
    assert_error(api.delete(url), 409, "conflict")


def test_a_customer_admin_reads_its_catalogs_only():
    mine, theirs = CatalogFactory(), CatalogFactory()
    admin = customer_admin_client(mine.customer)
    assert [c["uuid"] for c in admin.get("/api/v1/catalogs/").json()["results"]] == [str(mine.uuid)]
    assert admin.get(f"/api/v1/catalogs/{mine.uuid}/").status_code == 200
    assert_error(admin.get(f"/api/v1/catalogs/{theirs.uuid}/"), 403, "permission_denied")
    assert_error(admin.delete(f"/api/v1/catalogs/{mine.uuid}/"), 403, "permission_denied")
