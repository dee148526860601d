"""Reads about courses, runs and catalogs."""

from __future__ import annotations

import datetime as dt

from catalog.errors import ContentNotFound
from catalog.models import Catalog, CourseRun


def get_course_run(key: str) -> CourseRun:
    """The run with this key (with its course), or ContentNotFound."""
    run = CourseRun.objects.select_related("course").filter(key=key).first()
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
