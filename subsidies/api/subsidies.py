"""REST adapter for subsidies and their ledger, in the reference system's v2 shapes.

Staff with the model permission read and write; a customer admin reads its customer's subsidies, deposits
and transactions. Creating and reversing redemption transactions goes through the policies (see
policies/api/ledger.py), so every redemption invariant holds whichever door it comes through.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from accounts.api import require_customer, require_staff
from accounts.permissions import customer_scope
from common.api import CentsField, MetadataField, StrictSerializer, errors, validated_query
from customers.models import EnterpriseCustomer
from subsidies import selectors
from subsidies.models import Deposit, Subsidy
from subsidies.services import create_subsidy, deposit


class SubsidySerializer(serializers.ModelSerializer):
    enterprise_customer_uuid = serializers.UUIDField(source="customer_id")
    current_balance = serializers.SerializerMethodField(help_text="USD cents spendable now.")
    total_deposits = serializers.SerializerMethodField(help_text="USD cents ever deposited.")
    is_active = serializers.SerializerMethodField()

    class Meta:
        model = Subsidy
        fields = [
            "uuid",
            "enterprise_customer_uuid",
            "title",
            "active_datetime",
            "expiration_datetime",
            "unit",
            "current_balance",
            "total_deposits",
            "is_active",
            "created",
            "modified",
        ]
        read_only_fields = fields

    def get_current_balance(self, subsidy) -> int:
        return selectors.balance_cents(subsidy)

    def get_total_deposits(self, subsidy) -> int:
        return selectors.total_deposits_cents(subsidy)

    def get_is_active(self, subsidy) -> bool:
        return subsidy.is_active()


class SubsidyCreateSerializer(StrictSerializer):
    enterprise_customer_uuid = serializers.PrimaryKeyRelatedField(queryset=EnterpriseCustomer.objects.all())
    title = serializers.CharField(max_length=255)
    active_datetime = serializers.DateTimeField()
    expiration_datetime = serializers.DateTimeField()
    starting_balance_cents = CentsField(required=False, default=0, help_text="Deposited at creation when > 0.")
    sales_contract_reference_id = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class SubsidyQuerySerializer(serializers.Serializer):
    enterprise_customer_uuid = serializers.UUIDField(required=False)


def readable_subsidies(request):
    """The subsidies the caller may read (staff: all; customer admins: their own), filtered by the query."""
    query = validated_query(SubsidyQuerySerializer, request)
    scope = customer_scope(request.user, "subsidies.view_subsidy")
    queryset = Subsidy.objects.all()
    if scope is not None:
        queryset = queryset.filter(customer_id__in=scope)
    if query.get("enterprise_customer_uuid"):
        queryset = queryset.filter(customer_id=query["enterprise_customer_uuid"])
    return queryset


def subsidy_for(request, subsidy_uuid, perm: str, action: str) -> Subsidy:
    """The subsidy in the URL, if the caller may `perm` it (staff) or administers its customer (reads)."""
    subsidy = get_object_or_404(Subsidy, pk=subsidy_uuid)
    if perm.split(".")[1].startswith("view_"):
        require_customer(request, subsidy.customer_id, perm, action)
    else:
        require_staff(request, perm, action)
    return subsidy


@extend_schema_view(
    get=extend_schema(
        summary="List subsidies with balances (staff: all; customer admins: their own)",
        parameters=[SubsidyQuerySerializer],
        responses={200: SubsidySerializer(many=True), **errors(400)},
    ),
    post=extend_schema(
        summary="Create a subsidy, optionally with a starting deposit",
        request=SubsidyCreateSerializer,
        responses={201: SubsidySerializer, **errors(400)},
    ),
)
class SubsidyList(generics.ListCreateAPIView):
    serializer_class = SubsidySerializer

    def get_queryset(self):
        return readable_subsidies(self.request)

    def post(self, request):
        require_staff(request, "subsidies.add_subsidy", "create subsidies")
        serializer = SubsidyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subsidy = create_subsidy(
            customer=data["enterprise_customer_uuid"],
            title=data["title"],
            active_datetime=data["active_datetime"],
            expiration_datetime=data["expiration_datetime"],
            starting_balance_cents=data["starting_balance_cents"],
            sales_contract_reference_id=data["sales_contract_reference_id"],
            actor=request.user,
        )
        return Response(SubsidySerializer(subsidy).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="Read a subsidy with its balance", responses={200: SubsidySerializer, **errors(404)})
)
class SubsidyDetail(generics.RetrieveAPIView):
    serializer_class = SubsidySerializer

    def get_object(self):
        return subsidy_for(self.request, self.kwargs["subsidy_uuid"], "subsidies.view_subsidy", "read this subsidy")


# --- deposits ------------------------------------------------------------------------------------------------


class DepositSerializer(serializers.ModelSerializer):
    subsidy_uuid = serializers.UUIDField(source="subsidy_id")
    transaction_uuid = serializers.UUIDField(source="transaction_id")
    # The reference's names: its ledger is our subsidy.
    ledger = serializers.UUIDField(source="subsidy_id", help_text="The reference's name: the subsidy's ledger.")
    transaction = serializers.UUIDField(source="transaction_id", help_text="The reference's name for transaction_uuid.")
    idempotency_key = serializers.CharField(source="transaction.idempotency_key")
    metadata = serializers.JSONField(source="transaction.metadata")

    class Meta:
        model = Deposit
        fields = [
            "uuid",
            "subsidy_uuid",
            "transaction_uuid",
            "ledger",
            "transaction",
            "desired_deposit_quantity",
            "sales_contract_reference_id",
            "sales_contract_reference_provider",
            "idempotency_key",
            "metadata",
            "created",
        ]
        read_only_fields = fields


class DepositCreateSerializer(StrictSerializer):
    desired_deposit_quantity = CentsField(min_value=1, help_text="USD cents to add.")
    sales_contract_reference_id = serializers.CharField(max_length=255)
    sales_contract_reference_provider = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default=""
    )
    idempotency_key = serializers.CharField(
        max_length=255, required=False, help_text="A repeat with the same key returns the first deposit (200)."
    )
    metadata = MetadataField(required=False, default=dict)


@extend_schema_view(
    get=extend_schema(
        summary="List a subsidy's deposits", responses={200: DepositSerializer(many=True), **errors(404)}
    ),
    post=extend_schema(
        summary="Deposit funds (201 new, 200 repeat of an idempotency key)",
        request=DepositCreateSerializer,
        responses={201: DepositSerializer, 200: DepositSerializer, **errors(400, 404, 422, 429, 503)},
    ),
)
class DepositList(generics.ListCreateAPIView):
    serializer_class = DepositSerializer

    def get_queryset(self):
        subsidy = subsidy_for(self.request, self.kwargs["subsidy_uuid"], "subsidies.view_deposit", "read deposits")
        return Deposit.objects.filter(subsidy=subsidy).select_related("transaction")

    def post(self, request, subsidy_uuid):
        subsidy = subsidy_for(request, subsidy_uuid, "subsidies.add_deposit", "deposit funds")
        serializer = DepositCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        made, created = deposit(
            subsidy=subsidy,
            quantity_cents=data["desired_deposit_quantity"],
            sales_contract_reference_id=data["sales_contract_reference_id"],
            sales_contract_reference_provider=data["sales_contract_reference_provider"],
            idempotency_key=data.get("idempotency_key"),
            metadata=data["metadata"],
            actor=request.user,
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(DepositSerializer(made).data, status=code)
