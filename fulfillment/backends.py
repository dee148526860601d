"""Enrollment backends: where an enrollment is actually made.

The service talks to one backend, chosen by `settings.FULFILLMENT_BACKEND`. The local backend records
the enrollment in this database. An Open edX LMS backend or an external exec-ed provider backend
implements the same two methods over HTTP; anything it raises must be a `FulfillmentError` so the
redemption fails as a whole.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from catalog.models import CourseRun
from fulfillment.errors import EnrollmentRefused
from fulfillment.models import Enrollment


@dataclass(frozen=True)
class EnrollmentRequest:
    lms_user_id: int
    run: CourseRun
    transaction_uuid: uuid.UUID
    data_sharing_consent_required: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def allow_late_enrollment(self) -> bool:
        return self.metadata.get("allow_late_enrollment") is True

    @property
    def is_exec_ed(self) -> bool:
        return self.run.course.is_exec_ed


class EnrollmentBackend(Protocol):
    def enroll(self, request: EnrollmentRequest) -> Enrollment: ...

    def unenroll(self, enrollment: Enrollment) -> None: ...


class LocalEnrollmentBackend:
    """Records enrollments in this service's own database (the default, and what tests use)."""

    def enroll(self, request: EnrollmentRequest) -> Enrollment:
        order_reference = ""
        if request.is_exec_ed:
            order_reference = request.metadata.get("fallback_external_fulfillment_reference_id") or (
                f"local-order-{request.transaction_uuid}"
            )
        try:
            with transaction.atomic():
                return Enrollment.objects.create(
                    lms_user_id=request.lms_user_id,
                    course_run=request.run,
                    forced=request.allow_late_enrollment,
                    transaction_uuid=request.transaction_uuid,
                    external_order_reference=order_reference,
                )
        except IntegrityError as error:
            raise EnrollmentRefused(
                f"Learner {request.lms_user_id} is already enrolled in {request.run.key}.",
                content_key=request.run.key,
            ) from error

    def unenroll(self, enrollment: Enrollment) -> None:
        enrollment.active = False
        enrollment.save(update_fields=["active", "modified"])


@lru_cache(maxsize=4)
def _backend_for(path: str) -> EnrollmentBackend:
    return import_string(path)()


def get_backend() -> EnrollmentBackend:
    return _backend_for(settings.FULFILLMENT_BACKEND)
