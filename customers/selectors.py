"""Reads about customers and learner links."""

from __future__ import annotations

from customers.errors import LearnerNotFound
from customers.models import EnterpriseCustomer, EnterpriseCustomerUser


def learner_link(*, customer: EnterpriseCustomer | str, lms_user_id: int) -> EnterpriseCustomerUser | None:
    """The learner's link to the customer (active or not), or None if the learner was never linked."""
    customer_id = getattr(customer, "pk", customer)
    return EnterpriseCustomerUser.objects.filter(customer_id=customer_id, lms_user_id=lms_user_id).first()


def learner_exists(lms_user_id: int) -> bool:
    """Whether the service knows this learner at all (linked to any customer, active or not)."""
    return EnterpriseCustomerUser.objects.filter(lms_user_id=lms_user_id).exists()


def require_known_learner(lms_user_id: int) -> None:
    if not learner_exists(lms_user_id):
        raise LearnerNotFound(
            f"No learner with lms_user_id {lms_user_id} is known to this service.",
            lms_user_id=lms_user_id,
        )
