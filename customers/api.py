"""REST adapter for customers, their learner links and groups (staff provisioning; customer admins too).

Customers: staff with the model permission create, change and delete; a customer admin reads its own.
Learner links and groups: staff with the model permission, or an admin of the customer.
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from accounts.api import require_customer, require_staff
from accounts.permissions import customer_scope
from common.api import (
    MAX_LMS_USER_ID,
    LmsUserIdField,
    StrictFieldsMixin,
    errors,
    validated_query,
)
from common.errors import Conflict
from customers.models import EnterpriseCustomer, EnterpriseCustomerUser, EnterpriseGroup
from customers.services import link_learner


class CustomerSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = EnterpriseCustomer
        fields = [
            "uuid",
            "name",
            "slug",
            "active",
            "contact_email",
            "data_sharing_consent_required",
            "created",
            "modified",
        ]
        read_only_fields = ["uuid", "created", "modified"]


@extend_schema_view(
    get=extend_schema(
        summary="List customers (staff: all; customer admins: their own)",
        responses={200: CustomerSerializer(many=True), **errors()},
    ),
    post=extend_schema(summary="Create a customer", responses={201: CustomerSerializer, **errors(400, 409)}),
)
class CustomerList(generics.ListCreateAPIView):
    serializer_class = CustomerSerializer

    def get_queryset(self):
        scope = customer_scope(self.request.user, "customers.view_enterprisecustomer")
        queryset = EnterpriseCustomer.objects.all()
        return queryset if scope is None else queryset.filter(pk__in=scope)

    def post(self, request, *args, **kwargs):
        require_staff(request, "customers.add_enterprisecustomer", "create customers")
        return super().post(request, *args, **kwargs)


@extend_schema_view(
    get=extend_schema(summary="Read a customer", responses={200: CustomerSerializer, **errors(404)}),
    put=extend_schema(summary="Replace a customer", responses={200: CustomerSerializer, **errors(400, 404, 409)}),
    patch=extend_schema(summary="Change a customer", responses={200: CustomerSerializer, **errors(400, 404, 409)}),
    delete=extend_schema(
        summary="Delete a customer that nothing refers to yet",
        responses={204: OpenApiResponse(description="Deleted."), **errors(404, 409)},
    ),
)
class CustomerDetail(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = CustomerSerializer
    queryset = EnterpriseCustomer.objects.all()
    lookup_field = "uuid"
    lookup_url_kwarg = "customer_uuid"

    def get_object(self):
        customer = super().get_object()
        action = {"GET": "view", "PUT": "change", "PATCH": "change", "DELETE": "delete"}.get(self.request.method)
        perm = f"customers.{action or 'view'}_enterprisecustomer"
        if action == "view":
            require_customer(self.request, customer.pk, perm, "read this customer")
        else:
            require_staff(self.request, perm, f"{action} customers")
        return customer


# --- learner links -------------------------------------------------------------------------------------------


def _customer_for(request, customer_uuid, perm: str, action: str) -> EnterpriseCustomer:
    customer = get_object_or_404(EnterpriseCustomer, pk=customer_uuid)
    require_customer(request, customer.pk, perm, action)
    return customer


class _GroupsOfCustomerField(serializers.SlugRelatedField):
    """Group uuids, resolved among the groups of the customer in the URL only."""

    def get_queryset(self):
        return EnterpriseGroup.objects.filter(customer_id=self.context["customer"].pk)


class LearnerLinkSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    lms_user_id = LmsUserIdField()
    enterprise_customer_uuid = serializers.UUIDField(source="customer_id", read_only=True)
    group_uuids = _GroupsOfCustomerField(
        source="groups", slug_field="uuid", many=True, required=False, help_text="Replaces the learner's groups."
    )

    class Meta:
        model = EnterpriseCustomerUser
        fields = [
            "lms_user_id",
            "enterprise_customer_uuid",
            "email",
            "first_name",
            "last_name",
            "active",
            "group_uuids",
            "created",
            "modified",
        ]
        read_only_fields = ["created", "modified"]
        validators = []  # (customer, lms_user_id) is an upsert key here, not a uniqueness error


class LearnerQuerySerializer(serializers.Serializer):
    active = serializers.BooleanField(required=False, allow_null=True, default=None)
    email = serializers.EmailField(required=False)
    lms_user_id = LmsUserIdField(required=False)


def _save_link(customer: EnterpriseCustomer, data: dict, current: EnterpriseCustomerUser | None = None):
    fields = ("email", "first_name", "last_name", "active")
    values = {name: data.get(name, getattr(current, name, "" if name != "active" else True)) for name in fields}
    return link_learner(
        customer=customer,
        lms_user_id=data.get("lms_user_id", getattr(current, "lms_user_id", None)),
        groups=data.get("groups"),
        **values,
    )


@extend_schema_view(
    get=extend_schema(
        summary="List a customer's learner links",
        parameters=[LearnerQuerySerializer],
        responses={200: LearnerLinkSerializer(many=True), **errors(400, 404)},
    ),
    post=extend_schema(
        summary="Link a learner to the customer (upsert by lms_user_id)",
        responses={201: LearnerLinkSerializer, 200: LearnerLinkSerializer, **errors(400, 404)},
    ),
)
class LearnerList(generics.ListCreateAPIView):
    serializer_class = LearnerLinkSerializer

    def get_serializer_context(self):
        return super().get_serializer_context() | {"customer": getattr(self, "customer", None)}

    def get_queryset(self):
        query = validated_query(LearnerQuerySerializer, self.request)
        queryset = self.customer.learners.prefetch_related("groups")
        if query.get("active") is not None:
            queryset = queryset.filter(active=query["active"])
        if query.get("email"):
            queryset = queryset.filter(email__iexact=query["email"])
        if query.get("lms_user_id"):
            queryset = queryset.filter(lms_user_id=query["lms_user_id"])
        return queryset

    def get(self, request, customer_uuid):
        self.customer = _customer_for(request, customer_uuid, "customers.view_enterprisecustomeruser", "list learners")
        return super().get(request)

    def post(self, request, customer_uuid):
        self.customer = _customer_for(request, customer_uuid, "customers.add_enterprisecustomeruser", "link learners")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        existed = self.customer.learners.filter(lms_user_id=serializer.validated_data["lms_user_id"]).exists()
        link = _save_link(self.customer, serializer.validated_data)
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(self.get_serializer(link).data, status=code)


class LearnerUpdateSerializer(LearnerLinkSerializer):
    class Meta(LearnerLinkSerializer.Meta):
        read_only_fields = ["lms_user_id", "created", "modified"]


@extend_schema_view(
    get=extend_schema(summary="Read a learner link", responses={200: LearnerLinkSerializer, **errors(404)}),
    patch=extend_schema(
        summary="Change a learner link (email, names, linked or unlinked, groups)",
        request=LearnerUpdateSerializer,
        responses={200: LearnerLinkSerializer, **errors(400, 404)},
    ),
)
class LearnerDetail(generics.GenericAPIView):
    serializer_class = LearnerUpdateSerializer

    def get_serializer_context(self):
        return super().get_serializer_context() | {"customer": getattr(self, "customer", None)}

    def _link(self, customer_uuid, lms_user_id: int, perm: str, action: str) -> EnterpriseCustomerUser:
        self.customer = _customer_for(self.request, customer_uuid, perm, action)
        if lms_user_id > MAX_LMS_USER_ID:
            raise Http404(f"No learner {lms_user_id} is linked to this customer.")
        return get_object_or_404(self.customer.learners, lms_user_id=lms_user_id)

    def get(self, request, customer_uuid, lms_user_id):
        link = self._link(customer_uuid, lms_user_id, "customers.view_enterprisecustomeruser", "read learners")
        return Response(LearnerLinkSerializer(link, context=self.get_serializer_context()).data)

    def patch(self, request, customer_uuid, lms_user_id):
        link = self._link(customer_uuid, lms_user_id, "customers.change_enterprisecustomeruser", "change learners")
        serializer = self.get_serializer(link, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        link = _save_link(self.customer, serializer.validated_data, current=link)
        return Response(LearnerLinkSerializer(link, context=self.get_serializer_context()).data)


# --- groups --------------------------------------------------------------------------------------------------


class GroupSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    enterprise_customer_uuid = serializers.UUIDField(source="customer_id", read_only=True)
    member_lms_user_ids = serializers.SerializerMethodField()

    class Meta:
        model = EnterpriseGroup
        fields = ["uuid", "enterprise_customer_uuid", "name", "member_lms_user_ids", "created", "modified"]
        read_only_fields = ["uuid", "created", "modified"]

    def get_member_lms_user_ids(self, group) -> list[int]:
        return sorted(member.lms_user_id for member in group.members.all())

    def validate_name(self, name: str) -> str:
        others = EnterpriseGroup.objects.filter(customer_id=self.context["customer"].pk, name=name)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError("This customer already has a group with this name.")
        return name


@extend_schema_view(
    get=extend_schema(summary="List a customer's groups", responses={200: GroupSerializer(many=True), **errors(404)}),
    post=extend_schema(summary="Create a group", responses={201: GroupSerializer, **errors(400, 404, 409)}),
)
class GroupList(generics.ListCreateAPIView):
    serializer_class = GroupSerializer

    def get_serializer_context(self):
        return super().get_serializer_context() | {"customer": getattr(self, "customer", None)}

    def get_queryset(self):
        return self.customer.groups.prefetch_related("members")

    def get(self, request, customer_uuid):
        self.customer = _customer_for(request, customer_uuid, "customers.view_enterprisegroup", "list groups")
        return super().get(request)

    def post(self, request, customer_uuid):
        self.customer = _customer_for(request, customer_uuid, "customers.add_enterprisegroup", "create groups")
        return super().post(request)

    def perform_create(self, serializer):
        serializer.save(customer=self.customer)


@extend_schema_view(
    get=extend_schema(summary="Read a group", responses={200: GroupSerializer, **errors(404)}),
    patch=extend_schema(summary="Rename a group", responses={200: GroupSerializer, **errors(400, 404, 409)}),
    delete=extend_schema(
        summary="Delete a group no policy uses",
        responses={204: OpenApiResponse(description="Deleted."), **errors(404, 409)},
    ),
)
class GroupDetail(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = GroupSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_serializer_context(self):
        return super().get_serializer_context() | {"customer": getattr(self, "customer", None)}

    def get_object(self):
        action = {"GET": "view", "PATCH": "change", "DELETE": "delete"}.get(self.request.method, "view")
        self.customer = _customer_for(
            self.request, self.kwargs["customer_uuid"], f"customers.{action}_enterprisegroup", f"{action} groups"
        )
        return get_object_or_404(self.customer.groups, pk=self.kwargs["group_uuid"])

    @transaction.atomic
    def perform_destroy(self, instance):
        if instance.policies.exists():
            # Removing the only group of a policy would open that policy to every linked learner.
            raise Conflict(
                "Policies still restrict redemption to this group; remove it from them first.", reason="group_in_use"
            )
        instance.delete()
