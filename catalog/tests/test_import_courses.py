"""`manage.py import_courses <file.json>`: all or nothing, idempotent, and bad input named field by field."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Course, CourseRun
from testing.factories import CatalogFactory, CourseRunFactory

pytestmark = pytest.mark.django_db

VARIANT = "6a1f6a52-5f5c-4d61-9d6c-2d8e6f1f0b11"


def _courses():
    return [
        {
            "key": "ImportX+Data101",
            "title": "Data 101",
            "runs": [
                {
                    "key": "course-v1:ImportX+Data101+2099_T1",
                    "price_cents": 19_900,
                    "start": "2099-01-15T00:00:00Z",
                    "end": "2099-06-30T00:00:00+02:00",
                    "enroll_by": "2099-01-10T23:59:00Z",
                },
                {"key": "course-v1:ImportX+Data101+2024_T1", "price_cents": 9_900, "is_enrollable": False},
            ],
        },
        {
            "key": "ImportX+Lead201",
            "title": "Leadership 201",
            "product_source": "exec-ed",
            "runs": [{"key": "course-v1:ImportX+Lead201+2099_T1", "price_cents": 250_000, "variant_id": VARIANT}],
        },
    ]


def _import(tmp_path, payload, *args):
    path = tmp_path / "courses.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    out = io.StringIO()
    call_command("import_courses", str(path), *args, stdout=out)
    return out.getvalue()


def _snapshot():
    """Every course and run field that an import sets (not the `modified` timestamp)."""
    return (
        list(Course.objects.order_by("key").values_list("key", "title", "product_source")),
        [{k: v for k, v in row.items() if k != "modified"} for row in CourseRun.objects.order_by("key").values()],
    )


def test_import_creates_courses_and_runs(tmp_path):
    out = _import(tmp_path, {"courses": _courses()})

    assert "courses_created=2" in out and "runs_created=3" in out
    run = CourseRun.objects.get(key="course-v1:ImportX+Data101+2099_T1")
    assert run.course.key == "ImportX+Data101" and run.price_cents == 19_900 and run.is_enrollable
    assert run.end == dt.datetime(2099, 6, 29, 22, tzinfo=dt.UTC)
    assert run.enroll_by == dt.datetime(2099, 1, 10, 23, 59, tzinfo=dt.UTC)
    assert not CourseRun.objects.get(key="course-v1:ImportX+Data101+2024_T1").is_enrollable
    exec_ed = CourseRun.objects.get(key="course-v1:ImportX+Lead201+2099_T1")
    assert exec_ed.course.is_exec_ed and exec_ed.variant_id == uuid.UUID(VARIANT)


def test_a_bare_list_of_courses_is_accepted(tmp_path):
    _import(tmp_path, _courses())
    assert Course.objects.count() == 2


def test_reimporting_the_same_file_changes_nothing(tmp_path):
    _import(tmp_path, {"courses": _courses()})
    before = _snapshot()
    history_before = (Course.history.count(), CourseRun.history.count())

    out = _import(tmp_path, {"courses": _courses()})

    assert "courses_created=0" in out and "courses_updated=2" in out and "runs_updated=3" in out
    assert _snapshot() == before
    assert Course.objects.count() == 2 and CourseRun.objects.count() == 3
    assert (Course.history.count(), CourseRun.history.count()) == history_before  # no change, no history entry


def test_reimporting_updates_changed_prices_and_titles(tmp_path):
    _import(tmp_path, {"courses": _courses()})
    changed = _courses()
    changed[0]["title"] = "Data 101 (2nd edition)"
    changed[0]["runs"][0]["price_cents"] = 24_900

    _import(tmp_path, {"courses": changed})

    run = CourseRun.objects.get(key="course-v1:ImportX+Data101+2099_T1")
    assert run.price_cents == 24_900 and run.course.title == "Data 101 (2nd edition)"


def test_import_can_add_the_courses_to_a_catalog(tmp_path):
    catalog = CatalogFactory()
    _import(tmp_path, {"courses": _courses()}, "--catalog", str(catalog.pk))
    assert set(catalog.courses.values_list("key", flat=True)) == {"ImportX+Data101", "ImportX+Lead201"}


def _broken(path: str, value):
    courses = _courses()
    target = courses
    *parents, last = path
    for step in parents:
        target = target[step]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return {"courses": courses}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (_broken((1, "title"), KeyError), "courses[1].title"),
        (_broken((0, "key"), "  "), "courses[0].key"),
        (_broken((1, "product_source"), "mooc"), "courses[1].product_source"),
        (_broken((0, "runs"), "all of them"), "courses[0].runs"),
        (_broken((0, "runs", 1, "key"), KeyError), "courses[0].runs[1].key"),
        (_broken((0, "runs", 1, "price_cents"), -1), "courses[0].runs[1].price_cents"),
        (_broken((0, "runs", 1, "price_cents"), 99.5), "courses[0].runs[1].price_cents"),
        (_broken((0, "runs", 1, "price_cents"), "9900"), "courses[0].runs[1].price_cents"),
        (_broken((0, "runs", 0, "enroll_by"), "2099-01-10T23:59:00"), "courses[0].runs[0].enroll_by"),
        (_broken((0, "runs", 0, "start"), "next spring"), "courses[0].runs[0].start"),
        (_broken((0, "runs", 0, "end"), "2099-02-30T00:00:00Z"), "courses[0].runs[0].end"),
        (_broken((0, "runs", 1, "is_enrollable"), "false"), "courses[0].runs[1].is_enrollable"),
        (_broken((1, "runs", 0, "variant_id"), "not-a-uuid"), "courses[1].runs[0].variant_id"),
        (_broken((1,), "a course"), "courses[1]"),
        ({"courses": "everything"}, "courses"),
        ({"no_courses": []}, "courses"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(tmp_path, payload, field):
    with pytest.raises(CommandError) as refused:
        _import(tmp_path, payload)

    assert f"{field}:" in str(refused.value)
    assert not Course.objects.exists() and not CourseRun.objects.exists()


def test_a_run_that_belongs_to_another_course_is_refused_and_nothing_is_written(tmp_path):
    existing = CourseRunFactory(key="course-v1:ImportX+Lead201+2099_T1")
    before = _snapshot()

    with pytest.raises(CommandError, match="belongs to"):
        _import(tmp_path, {"courses": _courses()})

    assert _snapshot() == before
    assert CourseRun.objects.get().course == existing.course


@pytest.mark.parametrize("payload", ["{not json", ""])
def test_an_unreadable_file_is_refused(tmp_path, payload):
    with pytest.raises(CommandError, match="Cannot read"):
        _import(tmp_path, payload)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_courses", str(tmp_path / "nope.json"))


@pytest.mark.parametrize("catalog", [str(uuid.uuid4()), "not-a-uuid"])
def test_an_unknown_catalog_is_refused_and_nothing_is_written(tmp_path, catalog):
    with pytest.raises(CommandError, match="catalog"):
        _import(tmp_path, {"courses": _courses()}, "--catalog", catalog)
    assert not Course.objects.exists()
