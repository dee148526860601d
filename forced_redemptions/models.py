"""ADR 0019: a staff-written instruction to force one learner's redemption into one course run.

State is derived, not stored: reversed (reversed_at set) > redeemed (redeemed_at set) > errored
(errored_at set) > pending (its transaction is reserved and waits for the downstream: transaction_uuid
set) > waiting. A reversed record was redeemed and then refunded and unenrolled; it stays as
the audit trail and no longer stands in the way of a new forced redemption of the same three.
Every attempt is kept in ForcedRedemptionAttempt; every change in history.
"""

import uuid

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from common.models import TimeStampedModel


class ForcedState(models.TextChoices):
    WAITING = "waiting"
    PENDING = "pending"
    REDEEMED = "redeemed"
    ERRORED = "errored"
    REVERSED = "reversed"


# The derived state as a query condition: the one definition list filters (admin, API) use.
STATE_CONDITIONS = {
    ForcedState.REVERSED: models.Q(reversed_at__isnull=False),
    ForcedState.REDEEMED: models.Q(redeemed_at__isnull=False, reversed_at__isnull=True),
    ForcedState.ERRORED: models.Q(redeemed_at__isnull=True, errored_at__isnull=False),
    ForcedState.PENDING: models.Q(redeemed_at__isnull=True, errored_at__isnull=True, transaction_uuid__isnull=False),
    ForcedState.WAITING: models.Q(redeemed_at__isnull=True, errored_at__isnull=True, transaction_uuid__isnull=True),
}


# Kept by name: the redemption unit writes a new record's first history row itself (services/attempts.py).
RECORD_HISTORY = HistoricalRecords(excluded_fields=["traceback"])


class ForcedPolicyRedemption(TimeStampedModel):
    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subsidy_access_policy = models.ForeignKey(
        "policies.SubsidyAccessPolicy", on_delete=models.PROTECT, related_name="forced_redemptions"
    )
    lms_user_id = models.PositiveIntegerField(db_index=True)
    course_run_key = models.CharField(max_length=255, db_index=True, help_text="e.g. course-v1:edX+DemoX+1T2042")
    content_price_cents = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="USD cents. Blank = the run's catalog price (for an assigned policy, the assignment's price).",
    )
    price_justification = models.TextField(
        blank=True,
        help_text="Required when the price differs from the run's catalog price: why (e.g. the contract's price).",
    )
    wait_to_redeem = models.BooleanField(default=False, help_text="Save without redeeming now.")
    reason = models.TextField(help_text="Why this redemption is forced (e.g. a support ticket reference).")

    learner_first_name = models.CharField(max_length=150, blank=True, help_text="Exec-ed only.")
    learner_last_name = models.CharField(max_length=150, blank=True, help_text="Exec-ed only.")
    learner_date_of_birth = models.DateField(null=True, blank=True, help_text="Exec-ed only.")
    learner_terms_accepted_at = models.DateTimeField(null=True, blank=True, help_text="Exec-ed only (UTC).")
    learner_data_share_consent = models.BooleanField(
        default=False, help_text="Exec-ed only, when the customer requires data-sharing consent."
    )
    external_order_reference = models.CharField(
        max_length=255, blank=True, help_text="Exec-ed only: an order that already exists at the provider."
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    modified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    redeemed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    transaction_uuid = models.UUIDField(null=True, blank=True, unique=True)
    charged_cents = models.BigIntegerField(null=True, blank=True)
    reversed_at = models.DateTimeField(
        null=True, blank=True, help_text="When its transaction was reversed (refunded and the learner unenrolled)."
    )
    errored_at = models.DateTimeField(null=True, blank=True, db_index=True)
    error_reason = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True, help_text="Unexpected errors only.")
    archived_at = models.DateTimeField(
        null=True, blank=True, help_text="Archived: errored without ever having a transaction; kept, not redeemed."
    )

    history = RECORD_HISTORY

    class Meta:
        ordering = ["-created"]
        permissions = [("force_redeem", "Can force a redemption (redeem a forced policy redemption)")]
        constraints = [
            models.UniqueConstraint(
                fields=["subsidy_access_policy", "lms_user_id", "course_run_key"],
                # A reversed record no longer stands: the same three may be forced again.
                condition=models.Q(redeemed_at__isnull=False, reversed_at__isnull=True),
                name="one_redeemed_forced_redemption_per_policy_learner_run",
            ),
        ]
        indexes = [
            models.Index(fields=["subsidy_access_policy", "lms_user_id", "course_run_key"], name="forced_triple")
        ]

    def __str__(self) -> str:
        return f"Force learner {self.lms_user_id} into {self.course_run_key}"

    @property
    def state(self) -> str:
        if self.reversed_at:
            return ForcedState.REVERSED
        if self.redeemed_at:
            return ForcedState.REDEEMED
        if self.errored_at:
            return ForcedState.ERRORED
        if self.transaction_uuid:
            return ForcedState.PENDING
        return ForcedState.WAITING


class AttemptOutcome(models.TextChoices):
    PENDING = "pending"
    REDEEMED = "redeemed"
    ALREADY_REDEEMED = "already_redeemed"
    ERRORED = "errored"
    REVERSED = "reversed"


class ForcedRedemptionAttempt(models.Model):
    """One try at redeeming (or the reversal of) a forced redemption: who, when, outcome, reason, transaction.

    A reversal's `charged_cents` is negative: the amount refunded.
    """

    forced_redemption = models.ForeignKey(ForcedPolicyRedemption, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    attempted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=32, choices=AttemptOutcome.choices)
    reason_code = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)
    transaction_uuid = models.UUIDField(null=True, blank=True)
    charged_cents = models.BigIntegerField(null=True, blank=True)
    traceback = models.TextField(blank=True)

    class Meta:
        ordering = ["attempted_at", "pk"]

    def __str__(self) -> str:
        return f"{self.outcome} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"
