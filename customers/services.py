"""Writes about customers and learner links."""

from __future__ import annotations

from django.db import transaction

from customers.models import EnterpriseCustomer, EnterpriseCustomerUser


@transaction.atomic
def link_learner(
    *,
    customer: EnterpriseCustomer,
    lms_user_id: int,
    email: str,
    first_name: str = "",
    last_name: str = "",
    active: bool = True,
) -> EnterpriseCustomerUser:
    """Create or update a learner's link to the customer (idempotent)."""
    link, _ = EnterpriseCustomerUser.objects.update_or_create(
        customer=customer,
        lms_user_id=lms_user_id,
        defaults={"email": email, "first_name": first_name, "last_name": last_name, "active": active},
    )
    return link
