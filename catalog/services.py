"""Writes about courses, runs and catalogs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import transaction
from django.utils.dateparse import parse_datetime

from catalog.models import Catalog, Course, CourseRun, ProductSource
from common.errors import InvalidInput
from common.services import upsert

_RUN_FIELDS = ("start", "end", "enroll_by")


def _parse_when(value: Any, where: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = parse_datetime(str(value))
    except ValueError:  # well formed but impossible, e.g. February 30th
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidInput(
            f"{where}: {value!r} is not a timezone-aware ISO 8601 datetime (e.g. 2026-01-31T23:59:00Z).",
            field_errors={where: ["Enter a timezone-aware ISO 8601 datetime."]},
        )
    return parsed.astimezone(dt.UTC)


def _validate_course(item: Any, index: int) -> dict[str, Any]:
    where = f"courses[{index}]"
    if not isinstance(item, dict):
        raise InvalidInput(f"{where} must be an object.", field_errors={where: ["Must be an object."]})
    errors: dict[str, list[str]] = {}
    for name in ("key", "title"):
        if not isinstance(item.get(name), str) or not item[name].strip():
            errors[f"{where}.{name}"] = ["This field is required and must be a non-empty string."]
    source = item.get("product_source", ProductSource.EDX)
    if source not in ProductSource.values:
        errors[f"{where}.product_source"] = [f"Must be one of {', '.join(ProductSource.values)}."]
    runs = item.get("runs", [])
    if not isinstance(runs, list):
        errors[f"{where}.runs"] = ["Must be a list."]
        runs = []
    clean_runs = []
    for r_index, run in enumerate(runs):
        r_where = f"{where}.runs[{r_index}]"
        if not isinstance(run, dict):
            errors[r_where] = ["Must be an object."]
            continue
        if not isinstance(run.get("key"), str) or not run["key"].strip():
            errors[f"{r_where}.key"] = ["This field is required and must be a non-empty string."]
        price = run.get("price_cents")
        if not isinstance(price, int) or isinstance(price, bool) or price < 0:
            errors[f"{r_where}.price_cents"] = ["Must be a whole number of cents, 0 or more."]
        try:
            dates = {name: _parse_when(run.get(name), f"{r_where}.{name}") for name in _RUN_FIELDS}
        except InvalidInput as error:
            errors.update(error.field_errors)
            dates = {}
        enrollable = run.get("is_enrollable", True)
        if not isinstance(enrollable, bool):
            errors[f"{r_where}.is_enrollable"] = ["Must be true or false."]
        variant = run.get("variant_id")
        if variant not in (None, ""):
            try:
                variant = uuid.UUID(str(variant))
            except ValueError:
                errors[f"{r_where}.variant_id"] = ["Must be a UUID."]
        clean_runs.append(
            {
                "key": run.get("key"),
                "price_cents": price,
                "is_enrollable": enrollable,
                "variant_id": variant or None,
                **dates,
            }
        )
    if errors:
        raise InvalidInput(f"{where} is invalid.", field_errors=errors)
    return {"key": item["key"], "title": item["title"], "product_source": source, "runs": clean_runs}


@transaction.atomic
def upsert_courses(*, courses: list[Any], catalog: Catalog | None = None) -> dict[str, int]:
    """Create or update courses and their runs, all or nothing; optionally add them to `catalog`.

    Every item is validated before anything is written, so bad input changes nothing.
    """
    if not isinstance(courses, list):
        raise InvalidInput("`courses` must be a list.", field_errors={"courses": ["Must be a list."]})
    clean = []
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(courses):
        try:
            clean.append(_validate_course(item, index))
        except InvalidInput as error:
            errors.update(error.field_errors)
    if errors:
        raise InvalidInput("The course data is invalid; nothing was imported.", field_errors=errors)

    counts = {"courses_created": 0, "courses_updated": 0, "runs_created": 0, "runs_updated": 0}
    for item in clean:
        course, created = upsert(
            Course, key=item["key"], defaults={"title": item["title"], "product_source": item["product_source"]}
        )
        counts["courses_created" if created else "courses_updated"] += 1
        for run in item["runs"]:
            existing = CourseRun.objects.filter(key=run["key"]).exclude(course=course).first()
            if existing is not None:
                raise InvalidInput(
                    f"Run {run['key']!r} already belongs to course {existing.course.key!r}.",
                    field_errors={"runs": [f"{run['key']} belongs to another course."]},
                )
            _, run_created = upsert(
                CourseRun, key=run["key"], defaults={**{k: v for k, v in run.items() if k != "key"}, "course": course}
            )
            counts["runs_created" if run_created else "runs_updated"] += 1
        if catalog is not None:
            catalog.courses.add(course)
    return counts
