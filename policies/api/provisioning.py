"""Policies CRUD (`/api/v1/subsidy-access-policies/`) and assignment allocation, for staff.

Writes go through policies.services.save_policy (validation under the subsidy lock) and
soft_delete_policy; a customer admin reads its customer's policies and may allocate under them.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import require_customer, require_staff
from accounts.permissions import customer_scope
from common.api import errors, validated_query
from policies.api.serializers import AllocateSerializer, AllocationResultSerializer, PolicySerializer
from policies.errors import PolicyNotFound
from policies.models import PolicyType, SubsidyAccessPolicy
from policies.services import allocate, save_policy, soft_delete_policy

# Model field names in save_policy's errors -> this API's field names.
POLICY_FIELD_ALIASES = {
    "customer": "enterprise_customer_uuid",
    "catalog": "catalog_uuid",
    "subsidy": "subsidy_uuid",
    "groups": "group_uuids",
}


class PolicyQuerySerializer(serializers.Serializer):
    enterprise_customer_uuid = serializers.UUIDField(required=False)
    active = serializers.BooleanField(required=False, allow_null=True, default=None)
    policy_type = serializers.ChoiceField(choices=PolicyType.choices, required=False)


def _save(serializer: PolicySerializer) -> SubsidyAccessPolicy:
    data = dict(serializer.validated_data)
    groups = data.pop("groups", None)
    policy = serializer.instance or SubsidyAccessPolicy()
    for name, value in data.items():
        setattr(policy, name, value)
    return save_policy(policy, groups=groups)


def live_policy(policy_uuid) -> SubsidyAccessPolicy:
    policy = SubsidyAccessPolicy.objects.select_related("subsidy").filter(pk=policy_uuid).first()
    if policy is None:
        raise PolicyNotFound(f"No subsidy access policy {policy_uuid}.")
    return policy


@extend_schema_view(
    get=extend_schema(
        summary="List policies (staff: all; customer admins: their own)",
        parameters=[PolicyQuerySerializer],
        responses={200: PolicySerializer(many=True), **errors(400)},
    ),
    post=extend_schema(summary="Create a policy", responses={201: PolicySerializer, **errors(400, 429, 503)}),
)
class PolicyList(generics.ListCreateAPIView):
    serializer_class = PolicySerializer
    field_error_aliases = POLICY_FIELD_ALIASES

    def get_queryset(self):
        query = validated_query(PolicyQuerySerializer, self.request)
        scope = customer_scope(self.request.user, "policies.view_subsidyaccesspolicy")
        queryset = SubsidyAccessPolicy.objects.select_related("subsidy").prefetch_related("groups")
        if scope is not None:
            queryset = queryset.filter(customer_id__in=scope)
        if query.get("enterprise_customer_uuid"):
            queryset = queryset.filter(customer_id=query["enterprise_customer_uuid"])
        if query.get("active") is not None:
            queryset = queryset.filter(active=query["active"])
        if query.get("policy_type"):
            queryset = queryset.filter(policy_type=query["policy_type"])
        return queryset

    def post(self, request):
        require_staff(request, "policies.add_subsidyaccesspolicy", "create policies")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = _save(serializer)
        return Response(PolicySerializer(policy).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="Read a policy", responses={200: PolicySerializer, **errors(404)}),
    put=extend_schema(summary="Replace a policy", responses={200: PolicySerializer, **errors(400, 404, 429, 503)}),
    patch=extend_schema(summary="Change a policy", responses={200: PolicySerializer, **errors(400, 404, 429, 503)}),
    delete=extend_schema(
        summary="Soft-delete a policy (it stops all redemption; its history stays)",
        responses={204: OpenApiResponse(description="Deleted."), **errors(404)},
    ),
)
class PolicyDetail(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = PolicySerializer
    field_error_aliases = POLICY_FIELD_ALIASES

    def get_object(self):
        policy = live_policy(self.kwargs["policy_uuid"])
        action = {"GET": "view", "PUT": "change", "PATCH": "change", "DELETE": "delete"}.get(
            self.request.method, "view"
        )
        perm = f"policies.{action}_subsidyaccesspolicy"
        if action == "view":
            require_customer(self.request, policy.customer_id, perm, "read this policy")
        else:
            require_staff(self.request, perm, f"{action} policies")
        return policy

    def perform_update(self, serializer):
        serializer.instance = _save(serializer)

    def perform_destroy(self, instance):
        soft_delete_policy(instance)


class AllocateView(APIView):
    """Allocate content to learners under an assigned policy (all or nothing)."""

    field_error_aliases = {"policy": "policy_uuid"}

    @extend_schema(
        operation_id="policy_allocation_allocate",
        summary="Allocate a course run to learners under an assigned policy",
        request=AllocateSerializer,
        responses={202: AllocationResultSerializer, **errors(400, 404, 422, 429, 503)},
    )
    def post(self, request, policy_uuid):
        policy = live_policy(policy_uuid)
        require_customer(request, policy.customer_id, "assignments.add_learnercontentassignment", "allocate")
        serializer = AllocateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = allocate(policy=policy, **serializer.validated_data)
        return Response(AllocationResultSerializer(outcome).data, status=status.HTTP_202_ACCEPTED)
