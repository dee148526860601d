"""A file of forced redemptions (issue 13): its rows, each checked before anything is charged, then each run
as its own forced redemption (forced_redemptions.services) once staff confirm the preview.

A batch is `checking` while its rows get their verdicts, `checked` while it waits for staff to confirm,
`running` once started, then `finished`, or `cancelled` (rows not yet run are skipped). A row's verdict
(redeemable or refused, with the reason code and message of "Check redeemability") is written by the
check; its outcome by the run: run (its forced redemption, one per row, says whether it was redeemed, is
pending or errored) or skipped (refused by the check, or the batch was cancelled). A row's forced redemption
has the uuid `record_uuid`, derived from the batch and the line when the row is stored, so a row run twice
(a restart, a worker crash, a second worker) finds the record it made instead of making a second one.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from common.models import TimeStampedModel
from common.money import format_cents

MAX_ROWS = 10_000


class BatchState(models.TextChoices):
    CHECKING = "checking", "checking"
    CHECKED = "checked", "checked, waiting for confirmation"
    RUNNING = "running", "running"
    FINISHED = "finished", "finished"
    CANCELLED = "cancelled", "cancelled"


class Verdict(models.TextChoices):
    UNCHECKED = "unchecked", "unchecked"
    REDEEMABLE = "redeemable", "redeemable"
    REFUSED = "refused", "refused"


class Outcome(models.TextChoices):
    NONE = "", "not run"
    RUN = "run", "run (its forced redemption says how it went)"
    SKIPPED = "skipped", "skipped"


class ForcedRedemptionBatch(TimeStampedModel):
    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64, db_index=True, help_text="Of the file as uploaded.")
    subsidy_access_policy = models.ForeignKey(
        "policies.SubsidyAccessPolicy",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The policy of rows that name none.",
    )
    reason = models.TextField(help_text="The reason of rows that give none (e.g. the support ticket).")
    state = models.CharField(max_length=16, choices=BatchState.choices, default=BatchState.CHECKING)
    dry_run = models.BooleanField(default=False, help_text="Checked only; it can never be started.")
    total_rows = models.PositiveIntegerField(default=0)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    check_lease_until = models.DateTimeField(
        null=True, blank=True, help_text="While a worker checks the rows: one check at a time, renewed per chunk."
    )

    class Meta:
        ordering = ["-created"]
        verbose_name = "forced redemption batch"
        verbose_name_plural = "forced redemption batches"

    def __str__(self) -> str:
        return f"{self.file_name} ({self.total_rows} rows, {self.get_state_display()})"


class BatchRow(models.Model):
    batch = models.ForeignKey(ForcedRedemptionBatch, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField(help_text="The line in the file (the header is line 1).")

    # What the row asks for, as resolved from the file.
    subsidy_access_policy = models.ForeignKey(
        "policies.SubsidyAccessPolicy",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Blank: the file named no policy this service knows.",
    )
    lms_user_id = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: the email matched no link.")
    email = models.CharField(max_length=254, blank=True, help_text="As given in the file.")
    course_run_key = models.CharField(max_length=255)
    content_price_cents = models.PositiveBigIntegerField(null=True, blank=True)
    price_justification = models.TextField(blank=True, help_text="Why the price differs from the catalog's.")
    reason = models.TextField()
    learner_first_name = models.CharField(max_length=150, blank=True)
    learner_last_name = models.CharField(max_length=150, blank=True)
    learner_date_of_birth = models.DateField(null=True, blank=True)
    learner_terms_accepted_at = models.DateTimeField(null=True, blank=True)
    learner_data_share_consent = models.BooleanField(default=False)
    external_order_reference = models.CharField(max_length=255, blank=True)

    # The check's verdict (the same as "Check redeemability").
    verdict = models.CharField(max_length=16, choices=Verdict.choices, default=Verdict.UNCHECKED)
    check_reason = models.CharField(max_length=64, blank=True)
    check_message = models.TextField(blank=True)
    price_cents = models.BigIntegerField(null=True, blank=True, help_text="What the check says it would charge.")

    # The run's outcome.
    record_uuid = models.UUIDField(unique=True, help_text="The uuid its forced redemption has (or will have).")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.NONE, blank=True)
    forced_redemption = models.ForeignKey(
        "forced_redemptions.ForcedPolicyRedemption",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    outcome_reason = models.CharField(max_length=64, blank=True, help_text="Why it was skipped.")
    outcome_message = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "line"]
        constraints = [models.UniqueConstraint(fields=["batch", "line"], name="one_row_per_batch_line")]
        indexes = [models.Index(fields=["batch", "verdict", "outcome"], name="batch_row_progress")]

    def __str__(self) -> str:
        who = f"learner {self.lms_user_id}" if self.lms_user_id else (self.email or "unknown learner")
        return f"line {self.line}: {who} in {self.course_run_key}"

    @property
    def price(self) -> str:
        """What the check said it would charge, in dollars."""
        return format_cents(self.price_cents)


def record_uuid_for(batch_uuid: uuid.UUID, line: int) -> uuid.UUID:
    """The uuid of the forced redemption a row makes: the same however often the row runs."""
    return uuid.uuid5(batch_uuid, f"row-{line}")
