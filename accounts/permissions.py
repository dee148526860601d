"""Who may do what through the API. Plain functions of (user, ...) -> answer; the API raises on "no".

- Staff: an active superuser, or an active `is_staff` user holding the model permission, may act on any
  customer and for any learner.
- Customer admin (a CustomerMembership with role `admin`): reads its customer's provisioning and ledger,
  manages its learner links and groups, allocates content.
- Learner (an ApiIdentity with an `lms_user_id`): checks, redeems and reads credit for itself only.

A request authenticated by an LMS JWT is judged by the token's grants alone (accounts/jwt.py): an
operator is staff with every API permission, `enterprise_admin:<uuid>` an admin of that customer, and
`user_id` the learner it is.
"""

from __future__ import annotations

from uuid import UUID

from accounts.jwt import grants_of
from accounts.models import ApiIdentity, CustomerMembership, MembershipRole


def is_staff_with(user, perm: str) -> bool:
    """An active superuser, or active staff holding `perm` ("app_label.codename")."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if (grants := grants_of(user)) is not None:
        return grants.operator
    return user.is_superuser or (user.is_staff and user.has_perm(perm))


def own_lms_user_id(user) -> int | None:
    """The learner this user is, or None. No query when token authentication already joined it."""
    if not (user and user.is_authenticated):
        return None
    if (grants := grants_of(user)) is not None:
        return grants.lms_user_id
    try:
        return user.api_identity.lms_user_id
    except ApiIdentity.DoesNotExist:
        return None


def _membership_customer_ids(user, **roles) -> set[UUID]:
    if not (user and user.is_authenticated and user.is_active):
        return set()
    return set(CustomerMembership.objects.filter(user_id=user.pk, **roles).values_list("customer_id", flat=True))


def administered_customer_ids(user) -> set[UUID]:
    """Customers this user administers (role `admin`)."""
    if (grants := grants_of(user)) is not None:
        return set(grants.admin_of)
    return _membership_customer_ids(user, role=MembershipRole.ADMIN)


def member_customer_ids(user) -> set[UUID]:
    """Customers this user belongs to in any role (admin or learner)."""
    if (grants := grants_of(user)) is not None:
        return grants.member_customer_ids()
    return _membership_customer_ids(user)


def customer_scope(user, perm: str) -> set[UUID] | None:
    """Customers whose `perm`-guarded records the user may see: None = all (staff), else a set (maybe empty)."""
    if is_staff_with(user, perm):
        return None
    if (grants := grants_of(user)) is not None and grants.admin_of_all:
        return None
    return administered_customer_ids(user)


def may_manage_customer(user, customer_id, perm: str) -> bool:
    """Staff with `perm`, or an admin of this customer."""
    if is_staff_with(user, perm):
        return True
    if (grants := grants_of(user)) is not None:
        return grants.administers(customer_id)
    return CustomerMembership.objects.filter(
        user_id=getattr(user, "pk", None), customer_id=customer_id, role=MembershipRole.ADMIN
    ).exists()
