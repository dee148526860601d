"""Writes about customers and learner links."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from common.services import upsert
from customers.models import EnterpriseCustomer, EnterpriseCustomerUser, EnterpriseGroup


@transaction.atomic
def link_learner(
    *,
    customer: EnterpriseCustomer,
    lms_user_id: int,
    email: str,
    first_name: str = "",
    last_name: str = "",
    active: bool = True,
    groups: Iterable[EnterpriseGroup] | None = None,
) -> EnterpriseCustomerUser:
    """Create or update a learner's link to the customer (idempotent); `groups`, when given, replaces its groups."""
    link, _ = upsert(
        EnterpriseCustomerUser,
        customer=customer,
        lms_user_id=lms_user_id,
        defaults={"email": email, "first_name": first_name, "last_name": last_name, "active": active},
    )
    if groups is not None:
        link.groups.set(groups)
    return link
