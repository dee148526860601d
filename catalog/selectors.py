"""Reads about courses, runs and catalogs."""

from __future__ import annotations

import datetime as dt

from catalog.errors import ContentNotFound
from catalog.models import Catalog, Course, CourseRun


def find_course_run(key: str) -> CourseRun | None:
    """The run with this key (with its course), or None."""
    return CourseRun.objects.select_related("course").filter(key=key).first()


def get_course_run(key: str) -> CourseRun:
    """The run with this key (with its course), or ContentNotFound."""
    run = find_course_run(key)
    if run is None:
        raise ContentNotFound(f"No course run with key {key!r} exists in the catalog service.", content_key=key)
    return run


def catalog_contains_run(catalog: Catalog | str, run: CourseRun) -> bool:
    """A catalog includes a run when it includes the run's course."""
    catalog_id = getattr(catalog, "pk", catalog)
    return Catalog.courses.through.objects.filter(catalog_id=catalog_id, course_id=run.course_id).exists()


def run_starts(keys: set[str]) -> dict[str, dt.datetime | None]:
    """The start of each of these runs, by key, in one query (a run unknown here is absent)."""
    if not keys:
        return {}
    return dict(CourseRun.objects.filter(key__in=keys).values_list("key", "start"))


def run_in_customer_catalogs(customer_id, content_key: str) -> CourseRun:
    """The run a key names (a course key: the run it advertises) if one of the customer's catalogs holds it;
    else ContentNotFound."""
    run = CourseRun.objects.select_related("course").filter(key=content_key).first()
    if run is None and (course := Course.objects.filter(key=content_key).first()) is not None:
        run = advertised_run(course)
    if run is None:
        raise ContentNotFound(f"No course or course run {content_key!r} is known here.", content_key=content_key)
    if not Catalog.objects.filter(customer_id=customer_id, courses=run.course_id).exists():
        raise ContentNotFound(
            f"{content_key!r} is not in any catalog of customer {customer_id}.", content_key=content_key
        )
    return run


def advertised_run(course: Course) -> CourseRun | None:
    """The run a course shows: the first enrollable one by start date, else its latest."""
    runs = CourseRun.objects.select_related("course").filter(course=course)
    return runs.filter(is_enrollable=True).order_by("start").first() or runs.order_by("-start").first()
