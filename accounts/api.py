"""REST adapter for accounts: who am I, and the permission checks every other app's API uses.

The checks raise DRF's PermissionDenied / ValidationError, which the one exception handler
(common/api.py) renders; the rules themselves are plain functions in accounts/permissions.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.jwt import grants_of
from accounts.models import CustomerMembership, MembershipRole
from accounts.permissions import is_staff_with, may_manage_customer, own_lms_user_id
from common.api import errors


def require_staff(request, perm: str, action: str = "do this") -> None:
    if not is_staff_with(request.user, perm):
        raise PermissionDenied(f"Only staff with the {perm} permission may {action}.")


def require_customer(request, customer_id, perm: str, action: str = "do this for this customer") -> None:
    """Staff with `perm`, or an admin of `customer_id`."""
    if not may_manage_customer(request.user, customer_id, perm):
        raise PermissionDenied(f"Only staff with the {perm} permission or an admin of this customer may {action}.")


def acting_lms_user_id(
    request,
    requested: int | None,
    *,
    staff_perm: str,
    customer_id=None,
    is_learner_of: Callable[[int, Any], bool] | None = None,
    field: str = "lms_user_id",
) -> int:
    """The learner this request acts for. A learner acts only for itself: naming another learner is a 403.

    Staff with `staff_perm` may name anyone; with `customer_id`, so may an admin of that customer, and a
    learner acting for itself must be a learner of that customer (`is_learner_of(lms_user_id, customer_id)`,
    the caller's, since links are the customers app's and accounts does not import it), so that it cannot
    list another customer's policies.
    """
    own = own_lms_user_id(request.user)
    if requested is None:
        if own is None:
            raise ValidationError({field: ["Required: this account is not a learner, so name the learner."]})
        requested = own
    if requested == own:
        if customer_id is not None:
            _require_learner_of(request.user, own, customer_id, staff_perm, is_learner_of)
        return own
    if is_staff_with(request.user, staff_perm):
        return requested
    if customer_id is not None and may_manage_customer(request.user, customer_id, staff_perm):
        return requested
    if own is None:
        raise PermissionDenied(f"This account is not learner {requested} and may not act for another learner.")
    raise PermissionDenied(f"This token acts for learner {own} only; it may not act for learner {requested}.")


def _require_learner_of(user, lms_user_id: int, customer_id, staff_perm: str, is_learner_of) -> None:
    if is_learner_of is None:
        raise TypeError("acting_lms_user_id(customer_id=...) needs is_learner_of")
    if is_learner_of(lms_user_id, customer_id):
        return
    if may_manage_customer(user, customer_id, staff_perm):
        return
    raise PermissionDenied(
        f"Learner {lms_user_id} is not a learner of this customer; only its learners, its admins and staff "
        f"with the {staff_perm} permission may ask about its credit."
    )


class MembershipSerializer(serializers.ModelSerializer):
    enterprise_customer_uuid = serializers.UUIDField(source="customer_id")

    class Meta:
        model = CustomerMembership
        fields = ["enterprise_customer_uuid", "role"]


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
    is_superuser = serializers.BooleanField()
    lms_user_id = serializers.IntegerField(allow_null=True, help_text="The learner this account acts as, if any.")
    memberships = MembershipSerializer(many=True)


class MeView(APIView):
    """Who the caller is: its learner identity and customer memberships."""

    @extend_schema(operation_id="me", responses={200: MeSerializer, **errors()})
    def get(self, request):
        user = request.user
        grants = grants_of(user)
        if grants is None:
            data = {
                "username": user.get_username(),
                "is_staff": user.is_staff,
                "is_superuser": user.is_superuser,
                "lms_user_id": own_lms_user_id(user),
                "memberships": CustomerMembership.objects.filter(user=user),
            }
        else:  # an LMS JWT: what its claims grant, nothing stored
            memberships = [{"customer_id": c, "role": MembershipRole.ADMIN} for c in sorted(grants.admin_of)]
            memberships += [
                {"customer_id": c, "role": MembershipRole.LEARNER} for c in sorted(grants.learner_of - grants.admin_of)
            ]
            data = {
                "username": user.get_username(),
                "is_staff": grants.operator,
                "is_superuser": False,
                "lms_user_id": grants.lms_user_id,
                "memberships": memberships,
            }
        return Response(MeSerializer(data).data)
