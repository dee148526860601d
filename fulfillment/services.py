"""Fulfilling a redemption: check the run accepts the enrollment, then record the enrollment made.

The downstream call itself (LMS, exec-ed provider) is the backend's (backends.py); the protocol around
it, reserve / fulfil / settle, is policies.fulfilment's.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone

from common.prepared import insert_new
from fulfillment.backends import EnrollmentRequest, FulfillmentProgress, LocalEnrollmentBackend, get_backend
from fulfillment.errors import EnrollmentRefused, MissingExecEdData
from fulfillment.models import Enrollment

EXEC_ED_REQUIRED = {
    "geag_first_name": "first name",
    "geag_last_name": "last name",
    "geag_email": "email",
    "geag_date_of_birth": "date of birth",
    "geag_terms_accepted_at": "terms accepted at",
}
EXEC_ED_CONSENT = ("geag_data_share_consent", "data-sharing consent")
TERMS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def carries_exec_ed_data(metadata) -> bool:
    """Whether a redemption's metadata holds the exec-ed provider's learner data: every exec-ed redemption does
    (check_enrollable refuses one without), so only these can have a provider order."""
    return isinstance(metadata, dict) and any(key in metadata for key in EXEC_ED_REQUIRED)


def check_enrollable(request: EnrollmentRequest, *, now: dt.datetime | None = None) -> None:
    """Raise unless fulfillment would accept this request. Writes nothing.

    Called before anything is charged so that a refusal costs nothing, and again by `enroll`.
    """
    run = request.run
    if not request.allow_late_enrollment:
        if not run.is_enrollable:
            raise EnrollmentRefused(f"The course run {run.key} is not open for enrollment.", content_key=run.key)
        if run.is_past_enroll_by(now or timezone.now()):
            raise EnrollmentRefused(
                f"The enrollment deadline for {run.key} passed on {run.enroll_by:%Y-%m-%d %H:%M} UTC.",
                content_key=run.key,
            )
    if request.is_exec_ed:
        _check_exec_ed_data(request)
    backend = get_backend()
    backend.check_configured(request)
    if backend.remote:
        # Locally the enrollment's unique constraint refuses a second one when it is written, in the same
        # database transaction; a remote one is written after the downstream call, so ask first.
        existing = Enrollment.objects.filter(lms_user_id=request.lms_user_id, course_run=request.run, active=True)
        if existing.exists():
            raise EnrollmentRefused(
                f"Learner {request.lms_user_id} is already enrolled in {run.key}.", content_key=run.key
            )


def _check_exec_ed_data(request: EnrollmentRequest) -> None:
    meta = request.metadata
    if request.fallback_order_reference:
        return  # the order already exists at the provider
    missing = [label for key, label in EXEC_ED_REQUIRED.items() if not str(meta.get(key) or "").strip()]
    if request.data_sharing_consent_required and meta.get(EXEC_ED_CONSENT[0]) is not True:
        missing.append(EXEC_ED_CONSENT[1])
    if missing:
        raise MissingExecEdData(
            f"{request.run.key} is executive-education content; the provider needs the learner's "
            f"{', '.join(missing)}. Nothing was charged.",
            missing=missing,
        )
    problems = []
    try:
        dt.date.fromisoformat(str(meta["geag_date_of_birth"]))
    except ValueError:
        problems.append("date of birth must be YYYY-MM-DD")
    try:
        dt.datetime.strptime(str(meta["geag_terms_accepted_at"]), TERMS_FORMAT)
    except ValueError:
        problems.append("terms accepted at must look like 2026-01-31T12:00:00Z")
    if problems:
        raise MissingExecEdData(
            f"Exec-ed learner data is malformed: {'; '.join(problems)}. Nothing was charged.", missing=[]
        )


def new_enrollment(request: EnrollmentRequest, *, external_order_reference: str = "") -> Enrollment:
    """The active enrollment a redemption makes, not written yet."""
    now = timezone.now()
    return Enrollment(
        uuid=uuid.uuid4(),
        created=now,
        modified=now,
        lms_user_id=request.lms_user_id,
        course_run=request.run,
        forced=request.allow_late_enrollment,
        transaction_uuid=request.transaction_uuid,
        external_order_reference=external_order_reference,
    )


def record_enrollment(request: EnrollmentRequest, *, external_order_reference: str = "") -> Enrollment:
    """Write the enrollment a redemption made (locally, or downstream and mirrored here).

    One active enrollment per learner and run: a second one is refused (EnrollmentRefused). One statement,
    `INSERT ... ON CONFLICT DO NOTHING RETURNING` (SQLite and PostgreSQL alike): a conflict inserts nothing
    and aborts nothing, so the caller's unit goes on (to settle the redemption failed) without a savepoint.
    """
    enrollment = new_enrollment(request, external_order_reference=external_order_reference)
    if not insert_new(enrollment, on_conflict_do_nothing=True):
        raise EnrollmentRefused(
            f"Learner {request.lms_user_id} is already enrolled in {request.run.key}.",
            content_key=request.run.key,
        )
    return enrollment


def enroll(request: EnrollmentRequest) -> Enrollment:
    """Check and record an enrollment with the local backend's order reference (tests, local tools)."""
    check_enrollable(request)
    result = LocalEnrollmentBackend().fulfil(request, FulfillmentProgress())
    return record_enrollment(request, external_order_reference=result.external_order_reference)


def unenroll(*, transaction_uuid) -> Enrollment | None:
    """Deactivate the enrollment made for a transaction (used by reversals). Idempotent."""
    enrollment = Enrollment.objects.filter(transaction_uuid=transaction_uuid, active=True).first()
    if enrollment is not None:
        enrollment.active = False
        enrollment.save(update_fields=["active", "modified"])
    return enrollment
