"""Reads about enrollments."""

from __future__ import annotations

from fulfillment.models import Enrollment


def active_enrollment(*, lms_user_id: int, course_run_key: str) -> Enrollment | None:
    return Enrollment.objects.filter(lms_user_id=lms_user_id, course_run__key=course_run_key, active=True).first()
