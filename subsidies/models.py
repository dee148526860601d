"""A subsidy and its ledger: transactions, reversals and deposits, all in integer USD cents.

Balance = sum of the quantities of the non-failed transactions plus their reversals (selectors.py).
The subsidy row is the ledger's lock: every write that changes the balance locks it first.
"""

import uuid

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from common.models import TimeStampedModel


class RevenueCategory(models.TextChoices):
    BULK_ENROLLMENT_PREPAY = "bulk-enrollment-prepay", "Bulk enrollment prepay"
    PARTNER_NO_REV_PREPAY = "partner-no-rev-prepay", "Partner no-revenue prepay"


class Subsidy(TimeStampedModel):
    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey("customers.EnterpriseCustomer", on_delete=models.PROTECT, related_name="subsidies")
    title = models.CharField(max_length=255)
    active_datetime = models.DateTimeField()
    expiration_datetime = models.DateTimeField()
    unit = models.CharField(max_length=16, default="usd_cents", editable=False)
    # What the reference system's callers read of a subsidy (enterprise-subsidy v1): the sales contract it
    # came from, the deposit it started with, and how finance books it.
    reference_id = models.CharField(max_length=255, blank=True, help_text="The sales contract (e.g. Salesforce) id.")
    reference_type = models.CharField(max_length=64, default="salesforce_opportunity_line_item", editable=False)
    starting_balance = models.BigIntegerField(default=0, editable=False, help_text="USD cents deposited at creation.")
    internal_only = models.BooleanField(default=False, help_text="A test or internal subsidy, not a customer's.")
    revenue_category = models.CharField(
        max_length=32, choices=RevenueCategory.choices, default=RevenueCategory.BULK_ENROLLMENT_PREPAY
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "subsidies"
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expiration_datetime__gt=models.F("active_datetime")),
                name="subsidy_expires_after_it_starts",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.active_datetime <= now < self.expiration_datetime


class TransactionState(models.TextChoices):
    CREATED = "created"
    PENDING = "pending"
    COMMITTED = "committed"
    FAILED = "failed"


class Transaction(TimeStampedModel):
    """One ledger entry. Negative quantity = spend, positive = deposit."""

    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subsidy = models.ForeignKey(Subsidy, on_delete=models.PROTECT, related_name="transactions")
    idempotency_key = models.CharField(max_length=255)
    quantity = models.BigIntegerField(help_text="USD cents; negative = spend.")
    state = models.CharField(max_length=16, choices=TransactionState.choices, default=TransactionState.CREATED)
    lms_user_id = models.PositiveIntegerField(null=True, blank=True)
    lms_user_email = models.EmailField(blank=True)
    content_key = models.CharField(max_length=255, blank=True)
    parent_content_key = models.CharField(max_length=255, blank=True)
    content_title = models.CharField(max_length=255, blank=True)
    subsidy_access_policy_uuid = models.UUIDField(null=True, blank=True)
    fulfillment_identifier = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    failure_reason = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["subsidy", "idempotency_key"], name="uniq_idempotency_key_per_ledger"),
        ]
        indexes = [
            models.Index(fields=["subsidy_access_policy_uuid", "lms_user_id"], name="tx_policy_learner"),
            models.Index(fields=["subsidy", "state"], name="tx_subsidy_state"),
            models.Index(fields=["lms_user_id", "content_key"], name="tx_learner_content"),
        ]

    def __str__(self) -> str:
        return f"{self.uuid} ({self.quantity} cents, {self.state})"


class Reversal(TimeStampedModel):
    """The refund of a transaction: at most one per transaction, opposite quantity."""

    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="reversal")
    quantity = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=255, unique=True)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"Reversal of {self.transaction_id}"


class Deposit(TimeStampedModel):
    """Money put into a subsidy: a positive committed transaction with its sales reference."""

    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subsidy = models.ForeignKey(Subsidy, on_delete=models.PROTECT, related_name="deposits")
    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="deposit")
    desired_deposit_quantity = models.PositiveBigIntegerField()
    sales_contract_reference_id = models.CharField(max_length=255)
    sales_contract_reference_provider = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.desired_deposit_quantity} cents ({self.sales_contract_reference_id})"


class LedgerTotal(models.Model):
    """Running sums of one ledger, so a balance or a policy's spend is one row read, not a sum over the ledger.

    One row for the whole subsidy (`policy_uuid` empty: `net_cents` is its balance) and one per policy
    spending from it (`net_cents` is minus the policy's spend, `redemptions` its live, unreversed
    redemptions). Same rule as the selectors' sums: non-failed transactions plus their reversals.

    Kept by database triggers (migration 0002) on every insert, update and delete of a transaction or a
    reversal, inside the writing transaction, so no code path can leave it out of step with the rows; the
    ledger services write while holding the subsidy lock, so the totals read under that lock are exact.
    `selectors.ledger_totals_drift()` compares them with the real sums (tests/test_ledger_totals.py).
    """

    subsidy = models.ForeignKey(Subsidy, on_delete=models.CASCADE, related_name="totals")
    policy_uuid = models.UUIDField(null=True, blank=True)
    net_cents = models.BigIntegerField(default=0)
    redemptions = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subsidy"], condition=models.Q(policy_uuid__isnull=True), name="one_ledger_total_per_subsidy"
            ),
            models.UniqueConstraint(
                fields=["subsidy", "policy_uuid"],
                condition=models.Q(policy_uuid__isnull=False),
                name="one_ledger_total_per_subsidy_policy",
            ),
        ]
        indexes = [models.Index(fields=["policy_uuid"], name="ledger_total_policy")]

    def __str__(self) -> str:
        return f"{self.subsidy_id} / {self.policy_uuid or 'all'}: {self.net_cents} cents"
