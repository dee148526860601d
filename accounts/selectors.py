"""Reads about API accounts."""

from __future__ import annotations

from accounts.models import ApiIdentity, CustomerMembership, MembershipRole


def customer_administrators(customer_id) -> list[dict]:
    """The customer's admins as the learner portal names them to a refused learner: `{email, lms_user_id}`."""
    memberships = CustomerMembership.objects.filter(customer_id=customer_id, role=MembershipRole.ADMIN).select_related(
        "user"
    )
    admins = []
    for membership in memberships.order_by("user__username"):
        try:
            lms_user_id = membership.user.api_identity.lms_user_id
        except ApiIdentity.DoesNotExist:
            lms_user_id = None
        admins.append({"email": membership.user.email, "lms_user_id": lms_user_id})
    return admins
