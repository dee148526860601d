"""Subsidy access policies: the rules for spending one subsidy on one catalog.

The rules of each policy type live in a strategy class (strategies.py), looked up by `policy_type`.
"""

import uuid

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from common.models import TimeStampedModel


class PolicyType(models.TextChoices):
    PER_LEARNER_ENROLLMENT = "PerLearnerEnrollmentCreditAccessPolicy", "Per-learner enrollment cap"
    PER_LEARNER_SPEND = "PerLearnerSpendCreditAccessPolicy", "Per-learner spend cap"
    ASSIGNED = "AssignedLearnerCreditAccessPolicy", "Assigned learner credit"


class AccessMethod(models.TextChoices):
    DIRECT = "direct"
    ASSIGNED = "assigned"


class LivePolicyManager(models.Manager):
    """Hides soft-deleted policies."""

    def get_queryset(self):
        return super().get_queryset().filter(is_deleted=False)


class SubsidyAccessPolicy(TimeStampedModel):
    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy_type = models.CharField(max_length=64, choices=PolicyType.choices)
    customer = models.ForeignKey("customers.EnterpriseCustomer", on_delete=models.PROTECT, related_name="policies")
    display_name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    retired = models.BooleanField(default=False, help_text="Retired policies refuse every redemption.")
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)
    catalog = models.ForeignKey("catalog.Catalog", on_delete=models.PROTECT, related_name="policies")
    subsidy = models.ForeignKey("subsidies.Subsidy", on_delete=models.PROTECT, related_name="policies")
    access_method = models.CharField(max_length=16, choices=AccessMethod.choices, default=AccessMethod.DIRECT)
    spend_limit_cents = models.PositiveBigIntegerField(null=True, blank=True, help_text="Empty = no limit.")
    per_learner_enrollment_limit = models.PositiveIntegerField(null=True, blank=True)
    per_learner_spend_limit_cents = models.PositiveBigIntegerField(null=True, blank=True)
    late_redemption_allowed_until = models.DateTimeField(
        null=True, blank=True, help_text="Until then, learners may redeem past a run's enrollment deadline."
    )
    groups = models.ManyToManyField(
        "customers.EnterpriseGroup",
        blank=True,
        related_name="policies",
        help_text="Empty = every linked learner.",
    )
    assignment_configuration = models.OneToOneField(
        "assignments.AssignmentConfiguration",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="policy",
    )
    is_deleted = models.BooleanField(default=False, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords(m2m_fields=[groups])

    objects = LivePolicyManager()
    all_objects = models.Manager()

    class Meta:
        verbose_name = "subsidy access policy"
        verbose_name_plural = "subsidy access policies"
        ordering = ["display_name"]
        base_manager_name = "all_objects"
        permissions = [("check_redeemability", "Can check whether a learner can redeem content")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def strategy(self):
        from policies.strategies import strategy_for

        return strategy_for(self.policy_type)

    @property
    def priority(self) -> int:
        return self.strategy.priority

    def is_late_redemption_allowed(self, now=None) -> bool:
        until = self.late_redemption_allowed_until
        return until is not None and (now or timezone.now()) < until

    def clean(self) -> None:
        from policies.validation import validate_policy

        validate_policy(self)
