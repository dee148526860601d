"""Enterprise customers, the learners linked to them, and groups of those learners."""

import uuid

from django.db import models
from simple_history.models import HistoricalRecords

from common.models import TimeStampedModel


class EnterpriseCustomer(TimeStampedModel):
    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=255, unique=True)
    active = models.BooleanField(default=True)
    contact_email = models.EmailField(blank=True)
    data_sharing_consent_required = models.BooleanField(
        default=False,
        help_text="Exec-ed redemptions for this customer must carry the learner's data-sharing consent.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EnterpriseGroup(TimeStampedModel):
    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(EnterpriseCustomer, on_delete=models.PROTECT, related_name="groups")
    name = models.CharField(max_length=255)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["customer", "name"], name="uniq_group_name_per_customer")]

    def __str__(self) -> str:
        return f"{self.name} ({self.customer})"


class EnterpriseCustomerUser(TimeStampedModel):
    """A learner's link to a customer. `active=False` means the learner exists but is unlinked."""

    customer = models.ForeignKey(EnterpriseCustomer, on_delete=models.PROTECT, related_name="learners")
    lms_user_id = models.PositiveIntegerField(db_index=True)
    email = models.EmailField(db_index=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    active = models.BooleanField(default=True, help_text="Linked to the customer.")
    groups = models.ManyToManyField(EnterpriseGroup, blank=True, related_name="members")
    history = HistoricalRecords(m2m_fields=[groups])

    class Meta:
        verbose_name = "learner link"
        ordering = ["customer", "lms_user_id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "lms_user_id"], name="uniq_learner_per_customer"),
        ]

    def __str__(self) -> str:
        return f"learner {self.lms_user_id} <{self.email}>"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
