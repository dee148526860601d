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
        return f"{self.lms_user_id} in {self.course_run_id}"
