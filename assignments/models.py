"""Per-learner allocations of content for assignment-based policies, with an action timeline."""

import uuid

from django.db import models
from simple_history.models import HistoricalRecords

from common.models import TimeStampedModel


class AssignmentConfiguration(TimeStampedModel):
    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        "customers.EnterpriseCustomer", on_delete=models.PROTECT, related_name="assignment_configurations"
    )
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Assignments for {self.customer} ({str(self.uuid)[:8]})"


class AssignmentState(models.TextChoices):
    ALLOCATED = "allocated"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"
    ERRORED = "errored"
    EXPIRED = "expired"
    REVERSED = "reversed"


class LearnerContentAssignment(TimeStampedModel):
    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assignment_configuration = models.ForeignKey(
        AssignmentConfiguration, on_delete=models.PROTECT, related_name="assignments"
    )
    learner_email = models.EmailField()
    lms_user_id = models.PositiveIntegerField(null=True, blank=True, db_index=True)
    content_key = models.CharField(max_length=255)
    content_title = models.CharField(max_length=255, blank=True)
    content_quantity = models.BigIntegerField(help_text="Negative price in USD cents.")
    state = models.CharField(max_length=16, choices=AssignmentState.choices, default=AssignmentState.ALLOCATED)
    transaction_uuid = models.UUIDField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment_configuration", "learner_email", "content_key"],
                name="one_assignment_per_learner_content",
            ),
            models.CheckConstraint(
                condition=models.Q(content_quantity__lte=0), name="assignment_quantity_not_positive"
            ),
        ]
        indexes = [models.Index(fields=["assignment_configuration", "state"], name="assignment_config_state")]

    def __str__(self) -> str:
        return f"{self.learner_email} → {self.content_key} ({self.state})"


class ActionType(models.TextChoices):
    LEARNER_LINKED = "learner_linked"
    ALLOCATED = "allocated"
    NOTIFIED = "notified"
    REDEEMED = "redeemed"
    ERRORED = "errored"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REVERSED = "reversed"


class LearnerContentAssignmentAction(TimeStampedModel):
    """One entry of an assignment's timeline."""

    assignment = models.ForeignKey(LearnerContentAssignment, on_delete=models.CASCADE, related_name="actions")
    action_type = models.CharField(max_length=32, choices=ActionType.choices)
    completed_at = models.DateTimeField(null=True, blank=True)
    error_reason = models.CharField(max_length=255, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["created"]

    def __str__(self) -> str:
        return f"{self.action_type} @ {self.created:%Y-%m-%d %H:%M}"
