"""The catalog admin: courses with their runs, runs with price and deadline at a glance, catalogs."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import Course, CourseRun
from testing.admin_checks import assert_constant_queries
from testing.factories import CatalogFactory, CourseFactory, CourseRunFactory

COURSES = reverse("admin:catalog_course_changelist")
RUNS = reverse("admin:catalog_courserun_changelist")
CATALOGS = reverse("admin:catalog_catalog_changelist")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def keys(response) -> list[str]:
    return sorted(run.key for run in response.context["cl"].result_list)


def test_run_list_shows_price_in_dollars_and_the_closed_run_past_its_deadline(admin_client, demo):
    response = admin_client.get(RUNS)

    assert response.status_code == 200
    assert b"$100.00" in response.content  # the closed run's 10000 cents
    assert b"$1,500.00" in response.content  # the exec-ed run
    past = admin_client.get(RUNS, {"past_deadline": "yes"})
    assert keys(past) == [demo.CLOSED_RUN]
    open_runs = admin_client.get(RUNS, {"past_deadline": "no"})
    assert demo.CLOSED_RUN not in keys(open_runs) and demo.OPEN_RUN in keys(open_runs)


def test_run_list_filters_and_searches(admin_client, demo):
    not_enrollable = admin_client.get(RUNS, {"is_enrollable__exact": "0"})
    assert keys(not_enrollable) == [demo.CLOSED_RUN]
    exec_ed = admin_client.get(RUNS, {"course__product_source__exact": "exec-ed"})
    assert keys(exec_ed) == [demo.EXEC_ED_RUN]
    by_key = admin_client.get(RUNS, {"q": "Closed101"})
    assert keys(by_key) == [demo.CLOSED_RUN]
    by_course_title = admin_client.get(RUNS, {"q": "Executive Leadership"})
    assert keys(by_course_title) == [demo.EXEC_ED_RUN]


def test_run_page_renders_with_its_deadline_state(admin_client, demo):
    run = CourseRun.objects.get(key=demo.CLOSED_RUN)
    page = admin_client.get(reverse("admin:catalog_courserun_change", args=[run.pk]))
    assert page.status_code == 200
    assert b"$100.00" in page.content
    assert admin_client.get(reverse("admin:catalog_courserun_add")).status_code == 200


def test_course_page_shows_and_edits_its_runs_inline(admin_client, demo):
    course = Course.objects.get(key="DemoU+Open101")
    url = reverse("admin:catalog_course_change", args=[course.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert demo.OPEN_RUN.encode() in page.content

    run = course.runs.get()
    data = {
        "key": course.key,
        "title": "Open Course 101, revised",
        "product_source": "edx",
        "runs-TOTAL_FORMS": "1",
        "runs-INITIAL_FORMS": "1",
        "runs-MIN_NUM_FORMS": "0",
        "runs-MAX_NUM_FORMS": "1000",
        "runs-0-id": str(run.pk),
        "runs-0-course": str(course.pk),
        "runs-0-key": run.key,
        "runs-0-start_0": "2099-01-15",
        "runs-0-start_1": "00:00:00",
        "runs-0-end_0": "2099-06-30",
        "runs-0-end_1": "00:00:00",
        "runs-0-enroll_by_0": "2099-01-10",
        "runs-0-enroll_by_1": "00:00:00",
        "runs-0-is_enrollable": "on",
        "runs-0-price_cents": "6000",
        "runs-0-variant_id": "",
    }
    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context and response.context["errors"]
    run.refresh_from_db()
    assert run.price_cents == 6000
    assert run.history.count() == 2


def test_a_negative_price_is_a_field_error(admin_client, demo):
    course = Course.objects.get(key="DemoU+Open101")
    data = {"key": "course-v1:DemoU+Open101+2100_T1", "course": str(course.pk), "price_cents": "-1"}

    response = admin_client.post(reverse("admin:catalog_courserun_add"), data)

    assert response.status_code == 200
    assert "price_cents" in response.context["adminform"].form.errors
    assert not CourseRun.objects.filter(key=data["key"]).exists()


def test_course_and_catalog_pages_render_and_search(admin_client, demo):
    assert admin_client.get(COURSES, {"q": "Closed"}).context["cl"].result_count == 1
    assert admin_client.get(COURSES, {"product_source__exact": "exec-ed"}).context["cl"].result_count == 1
    catalogs = admin_client.get(CATALOGS, {"q": "Demo University"})
    assert catalogs.context["cl"].result_count == 1
    page = admin_client.get(reverse("admin:catalog_catalog_change", args=[demo.CATALOG_UUID]))
    assert page.status_code == 200
    chosen = set(page.context["adminform"].form.initial["courses"])
    assert {c.key for c in chosen} == set(demo.CATALOG_COURSES)
    assert admin_client.get(reverse("admin:catalog_course_add")).status_code == 200
    assert admin_client.get(reverse("admin:catalog_catalog_add")).status_code == 200


def test_runs_autocomplete_serves_other_admins(admin_client, demo):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "catalog", "model_name": "courserun", "field_name": "course", "term": "Closed"},
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["DemoU+Closed101"]


def _runs_in_catalogs():
    run = CourseRunFactory()
    CatalogFactory(runs=[run])


@pytest.mark.parametrize("url", [COURSES, RUNS, CATALOGS])
def test_catalog_lists_cost_the_same_queries_for_1_or_20_rows(admin_client, db, url):
    _runs_in_catalogs()

    def grow():
        for _ in range(19):
            _runs_in_catalogs()

    assert_constant_queries(admin_client, url, grow, rows=20)


def test_course_list_counts_each_courses_runs(admin_client, db):
    course = CourseFactory()
    CourseRunFactory.create_batch(3, course=course)
    response = admin_client.get(COURSES)
    assert [c.runs_total for c in response.context["cl"].result_list] == [3]
