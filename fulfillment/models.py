"""Enrollments: the result of fulfilling a redemption."""

import uuid

from django.db import models

from common.models import TimeStampedModel


class Enrollment(TimeStampedModel):
    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lms_user_id = models.PositiveIntegerField(db_index=True)
    course_run = models.ForeignKey("catalog.CourseRun", on_delete=models.PROTECT, related_name="enrollments")
    active = models.BooleanField(default=True)
    forced = models.BooleanField(default=False, help_text="Enrolled past the run's enrollability or deadline.")
    transaction_uuid = models.UUIDField(unique=True, null=True, blank=True)
    external_order_reference = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["lms_user_id", "course_run"],
                condition=models.Q(active=True),
                name="one_active_enrollment_per_learner_run",
            ),
        ]

    def __str__(self) -> str:
        return f"learner {self.lms_user_id} in {self.course_run.key}"


class JobState(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class FulfillmentJob(TimeStampedModel):
    """The durable promise to fulfil one pending ledger transaction downstream (LMS, exec-ed provider).

    Written in the same database transaction as the pending transaction (the reserve phase), so a
    reservation is never without its job. A worker claims it (`claimed_until`, a lease, committed before
    the network call, so no database lock is held while waiting), calls the downstream, and settles.
    An unknown outcome leaves it pending with `next_attempt_at`; after `FULFILLMENT_MAX_ATTEMPTS` tries
    it is shown to staff as needing attention, and the reconciler keeps trying at the longest backoff.
    """

    transaction_uuid = models.UUIDField(primary_key=True)
    lms_user_id = models.PositiveIntegerField()
    course_run = models.ForeignKey("catalog.CourseRun", on_delete=models.PROTECT, related_name="+")
    customer_uuid = models.UUIDField()
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    # What each downstream step gave, so a retry repeats only what is not done yet.
    external_order_reference = models.CharField(max_length=255, blank=True)
    fulfillment_identifier = models.CharField(max_length=255, blank=True)
    last_error_reason = models.CharField(max_length=64, blank=True)
    last_error_message = models.TextField(blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="job_due")]

    def __str__(self) -> str:
        return f"Fulfil {self.transaction_uuid} ({self.state})"


class DownstreamCall(models.Model):
    """One call to another system (LMS, exec-ed provider), with its answer: every response on record.

    Keeps the status and an excerpt of the body, never the request's personal data.
    """

    transaction_uuid = models.UUIDField(db_index=True)
    system = models.CharField(max_length=16)  # "lms" | "geag"
    operation = models.CharField(max_length=32)  # "enroll" | "allocate" | "unenroll" | "cancel_order"
    attempt = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    outcome = models.CharField(max_length=16)  # "succeeded" | "refused" | "unknown"
    http_status = models.PositiveIntegerField(null=True, blank=True)
    body_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.system} {self.operation} {self.outcome} ({self.http_status or '-'})"
