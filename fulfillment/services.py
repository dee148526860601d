"""Fulfilling a redemption: check the run accepts the enrollment, then enroll through the backend."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from fulfillment.backends import EnrollmentRequest, get_backend
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


def _check_exec_ed_data(request: EnrollmentRequest) -> None:
    meta = request.metadata
    if meta.get("fallback_external_fulfillment_reference_id"):
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


def enroll(request: EnrollmentRequest) -> Enrollment:
    """Enroll through the configured backend. Must run inside the redemption's transaction."""
    check_enrollable(request)
    return get_backend().enroll(request)


def unenroll(*, transaction_uuid) -> Enrollment | None:
    """Deactivate the enrollment made for a transaction (used by reversals). Idempotent."""
    enrollment = Enrollment.objects.filter(transaction_uuid=transaction_uuid, active=True).first()
    if enrollment is not None:
        get_backend().unenroll(enrollment)
    return enrollment
