"""Enrollment backends: where an enrollment is actually made.

The service talks to one backend, chosen by `settings.FULFILLMENT_BACKEND`:

- `local` (the default): the enrollment is a row in this database, nothing else is called. `remote` is
  False, so a redemption reserves, fulfils and settles in one database transaction.
- `lms`: the Open edX LMS (`fulfillment/lms.py`), and for exec-ed runs first the GetSmarter Enterprise
  API Gateway (`fulfillment/geag.py`), over HTTP. `remote` is True: the reservation commits before the
  call and the call is made with no database lock held (docs/adr-0001-redemption-in-phases.rst).

`fulfil` returns what the downstream gave (`FulfillmentResult`) or raises `FulfillmentError` (a definitive
refusal: the redemption fails) or `DownstreamUnavailable` (the outcome is unknown: it stays pending and the
same transaction is tried again). Every downstream call is appended to `progress.calls`, whatever happens,
and what a step achieved (an exec-ed order) is noted on `progress` so a retry does not repeat it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from catalog.models import CourseRun

FALLBACK_ORDER_KEY = "fallback_external_fulfillment_reference_id"
LOCAL_ORDER_PREFIX = "local-order-"


@dataclass(frozen=True)
class EnrollmentRequest:
    lms_user_id: int
    run: CourseRun
    transaction_uuid: uuid.UUID
    data_sharing_consent_required: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    customer_uuid: uuid.UUID | None = None
    price_cents: int = 0

    @property
    def allow_late_enrollment(self) -> bool:
        return self.metadata.get("allow_late_enrollment") is True

    @property
    def is_exec_ed(self) -> bool:
        return self.run.course.is_exec_ed

    @property
    def fallback_order_reference(self) -> str:
        return str(self.metadata.get(FALLBACK_ORDER_KEY) or "")


@dataclass
class CallRecord:
    """One downstream call and its answer (no request data: it may be personal)."""

    system: str
    operation: str
    outcome: str  # "succeeded" | "refused" | "unknown"
    http_status: int | None = None
    body_excerpt: str = ""
    error: str = ""
    duration_ms: int = 0


@dataclass
class FulfillmentProgress:
    """What the downstream steps of one transaction have achieved so far, carried across retries."""

    external_order_reference: str = ""
    attempt: int = 0
    calls: list[CallRecord] = field(default_factory=list)


@dataclass(frozen=True)
class FulfillmentResult:
    fulfillment_identifier: str  # empty: the local enrollment's uuid is the identifier
    external_order_reference: str = ""


@dataclass(frozen=True)
class Unenrollment:
    """What a reversal must undo downstream."""

    transaction_uuid: uuid.UUID
    customer_uuid: uuid.UUID
    fulfillment_identifier: str
    external_order_reference: str = ""
    is_exec_ed: bool = False


class EnrollmentBackend(Protocol):
    remote: bool

    def check_configured(self, request: EnrollmentRequest) -> None: ...

    def fulfil(self, request: EnrollmentRequest, progress: FulfillmentProgress) -> FulfillmentResult: ...

    def unenroll(self, target: Unenrollment, progress: FulfillmentProgress) -> None: ...


class LocalEnrollmentBackend:
    """Enrollments live in this service's own database (the default, and what `make run` uses)."""

    remote = False

    def check_configured(self, request: EnrollmentRequest) -> None:
        return None

    def fulfil(self, request: EnrollmentRequest, progress: FulfillmentProgress) -> FulfillmentResult:
        order_reference = ""
        if request.is_exec_ed:
            order_reference = request.fallback_order_reference or f"{LOCAL_ORDER_PREFIX}{request.transaction_uuid}"
        return FulfillmentResult(fulfillment_identifier="", external_order_reference=order_reference)

    def unenroll(self, target: Unenrollment, progress: FulfillmentProgress) -> None:
        return None  # the local enrollment row is deactivated by fulfillment.services.unenroll


_ALIASES = {
    "local": "fulfillment.backends.LocalEnrollmentBackend",
    "lms": "fulfillment.downstream.OpenEdxBackend",
}


@lru_cache(maxsize=4)
def _backend_for(path: str) -> EnrollmentBackend:
    return import_string(_ALIASES.get(path, path))()


def get_backend() -> EnrollmentBackend:
    return _backend_for(settings.FULFILLMENT_BACKEND)
