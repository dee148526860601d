"""Writes about API accounts: a user with a learner identity and/or customer memberships, and a token."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.authtoken.models import Token

from accounts.models import ApiIdentity, CustomerMembership, MembershipRole
from common.errors import InvalidInput


@transaction.atomic
def provision_api_user(
    *, username: str, lms_user_id: int | None = None, customer=None, role: str = MembershipRole.LEARNER
) -> tuple[object, Token]:
    """Create or update an API user (idempotent) and return it with its token.

    With `lms_user_id` the user acts as that learner; with `customer` it becomes a member in `role`.
    """
    if role not in MembershipRole.values:
        raise InvalidInput(f"Unknown role {role!r}.", field_errors={"role": [f"One of {MembershipRole.values}."]})
    user, _ = get_user_model().objects.get_or_create(username=username)
    if lms_user_id is not None:
        taken = ApiIdentity.objects.filter(lms_user_id=lms_user_id).exclude(user=user).first()
        if taken is not None:
            raise InvalidInput(
                f"lms_user_id {lms_user_id} already belongs to {taken.user}.",
                field_errors={"lms_user_id": ["Already taken by another user."]},
            )
        ApiIdentity.objects.update_or_create(user=user, defaults={"lms_user_id": lms_user_id})
    if customer is not None:
        CustomerMembership.objects.update_or_create(user=user, customer=customer, defaults={"role": role})
    token, _ = Token.objects.get_or_create(user=user)
    return user, token
