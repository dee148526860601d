"""Who an API caller is: a learner identity (`lms_user_id`) and memberships of customers.

A token or session authenticates a Django user; these rows say what that user may do. A learner acts
only for its own `lms_user_id`; a customer admin reads and provisions its customer; staff with the model
permission act for anyone (accounts/permissions.py holds the rules).
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from common.models import TimeStampedModel


class ApiIdentity(TimeStampedModel):
    """The learner a user is. A user without one cannot act as a learner."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_identity")
    lms_user_id = models.PositiveIntegerField(
        null=True, blank=True, unique=True, help_text="The learner this user is; empty for staff and admins."
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "API identity"
        verbose_name_plural = "API identities"
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} (lms_user_id {self.lms_user_id})" if self.lms_user_id else str(self.user)


class MembershipRole(models.TextChoices):
    ADMIN = "admin", "Customer admin"
    LEARNER = "learner", "Learner"


class CustomerMembership(TimeStampedModel):
    """A user's role at one customer. Admins read the customer's ledger and provision its learners."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer_memberships")
    customer = models.ForeignKey("customers.EnterpriseCustomer", on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=16, choices=MembershipRole.choices, default=MembershipRole.LEARNER)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "customer"], name="one_membership_per_user_customer")]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} of {self.customer}"
