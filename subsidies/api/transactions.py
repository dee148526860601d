"""The ledger's transactions in the reference system's shape (enterprise-subsidy's TransactionSerializer).

One serializer for v1 and v2, as in the reference: our fields (`subsidy_uuid`, `failure_*`) and the
reference's links (`transaction_status_api_url`, `courseware_url`), the run's start and the exec-ed order.
A list reads the runs and the orders of its page in one query each (TransactionListSerializer).
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from edx_rest_framework_extensions.paginators import DefaultPagination
from rest_framework import generics, serializers

from catalog.selectors import run_starts
from common.api import LmsUserIdField, errors, validated_query
from fulfillment.selectors import provider_orders
from fulfillment.services import carries_exec_ed_data
from subsidies import selectors
from subsidies.api.subsidies import subsidy_for
from subsidies.models import Reversal, Subsidy, Transaction, TransactionState


class ReversalSerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField(help_text="A reversal is written committed, in one unit with its refund.")
    metadata = serializers.SerializerMethodField()

    class Meta:
        model = Reversal
        fields = ["uuid", "state", "quantity", "idempotency_key", "reason", "metadata", "created", "modified"]
        read_only_fields = fields

    def get_state(self, reversal) -> str:
        return TransactionState.COMMITTED

    def get_metadata(self, reversal) -> dict:
        return {"reason": reversal.reason} if reversal.reason else {}


class TransactionListSerializer(serializers.ListSerializer):
    """A page of transactions: the runs' start dates and the exec-ed orders read once for the whole page."""

    def to_representation(self, data):
        entries = list(data.all() if hasattr(data, "all") else data)
        self.child.context["run_starts"] = run_starts({entry.content_key for entry in entries if entry.content_key})
        self.child.context["provider_orders"] = provider_orders(
            entry.uuid for entry in entries if carries_exec_ed_data(entry.metadata)
        )
        return [self.child.to_representation(entry) for entry in entries]


class TransactionSerializer(serializers.ModelSerializer):
    subsidy_uuid = serializers.UUIDField(source="subsidy_id")
    unit = serializers.SerializerMethodField()
    reversal = serializers.SerializerMethodField()
    external_reference = serializers.SerializerMethodField(help_text="The exec-ed provider's order uuid, if any.")
    transaction_status_api_url = serializers.SerializerMethodField(help_text="Poll this for the state.")
    courseware_url = serializers.SerializerMethodField(help_text="Where the learner starts the course.")
    course_run_start_date = serializers.SerializerMethodField()

    class Meta:
        model = Transaction
        list_serializer_class = TransactionListSerializer
        fields = [
            "uuid",
            "subsidy_uuid",
            "state",
            "idempotency_key",
            "lms_user_id",
            "lms_user_email",
            "content_key",
            "parent_content_key",
            "content_title",
            "quantity",
            "unit",
            "fulfillment_identifier",
            "subsidy_access_policy_uuid",
            "metadata",
            "failure_reason",
            "failure_message",
            "created",
            "modified",
            "reversal",
            "external_reference",
            "transaction_status_api_url",
            "courseware_url",
            "course_run_start_date",
        ]
        read_only_fields = fields

    def get_unit(self, entry) -> str:
        return "usd_cents"

    @extend_schema_field(ReversalSerializer(allow_null=True))
    def get_reversal(self, entry):
        if self.context.get("just_created"):
            return None  # a transaction written in this request has no reversal yet
        try:
            return ReversalSerializer(entry.reversal).data
        except Reversal.DoesNotExist:
            return None

    def get_external_reference(self, entry) -> list[str]:
        orders = self.context.get("provider_orders")
        if orders is None:
            orders = provider_orders([entry.uuid]) if carries_exec_ed_data(entry.metadata) else {}
        return orders.get(entry.uuid, [])

    def get_transaction_status_api_url(self, entry) -> str:
        return public_url(self.context.get("request"), f"/api/v1/transactions/{entry.uuid}/")

    def get_courseware_url(self, entry) -> str | None:
        if not entry.content_key:
            return None
        return f"{settings.FRONTEND_APP_LEARNING_URL.rstrip('/')}/course/{quote(entry.content_key, safe=':+')}/home"

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_course_run_start_date(self, entry):
        starts = self.context.get("run_starts")
        if starts is None:
            starts = run_starts({entry.content_key} if entry.content_key else set())
        start = starts.get(entry.content_key)
        return serializers.DateTimeField().to_representation(start) if start else None


def public_url(request, path: str) -> str:
    """An absolute URL of this service: ENTERPRISE_SUBSIDY_URL when set (behind a proxy), else the request's."""
    if settings.ENTERPRISE_SUBSIDY_URL:
        return settings.ENTERPRISE_SUBSIDY_URL.rstrip("/") + path
    return request.build_absolute_uri(path) if request is not None else path


class LedgerPagination(DefaultPagination):
    """edx-drf-extensions' pages (`num_pages`, `current_page`, `start`, `page_size`), as the reference's ledger
    lists, with `aggregates` over the whole filtered list when asked (`include_aggregates=true`)."""

    page_size = settings.REST_FRAMEWORK["PAGE_SIZE"]

    def paginate_queryset(self, queryset, request, view=None):
        self.aggregates = None
        if validated_query(TransactionQuerySerializer, request)["include_aggregates"]:
            self.aggregates = {
                "unit": "usd_cents",
                # set by the view's get_queryset: the list is one subsidy's
                "remaining_subsidy_balance": selectors.balance_cents(view.ledger_subsidy_id),
                "total_quantity": selectors.net_cents(queryset),
            }
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        if self.aggregates is not None:
            response.data["aggregates"] = self.aggregates
        return response

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["aggregates"] = {
            "type": "object",
            "description": "With include_aggregates=true: over the whole filtered list, in USD cents.",
            "properties": {
                "unit": {"type": "string"},
                "remaining_subsidy_balance": {"type": "integer"},
                "total_quantity": {"type": "integer"},
            },
        }
        return schema


class TransactionQuerySerializer(serializers.Serializer):
    include_aggregates = serializers.BooleanField(required=False, default=False)
    lms_user_id = LmsUserIdField(required=False)
    content_key = serializers.CharField(required=False, max_length=255)
    subsidy_access_policy_uuid = serializers.UUIDField(required=False)
    state = serializers.ListField(
        child=serializers.ChoiceField(choices=TransactionState.choices),
        required=False,
        help_text="Repeatable; states are OR'd.",
    )


def transactions_matching(subsidy: Subsidy, request):
    """The subsidy's transactions filtered by the validated query string."""
    query = validated_query(TransactionQuerySerializer, request)
    queryset = selectors.transactions_for(subsidy)
    if query.get("lms_user_id"):
        queryset = queryset.filter(lms_user_id=query["lms_user_id"])
    if query.get("content_key"):
        queryset = queryset.filter(content_key=query["content_key"])
    if query.get("subsidy_access_policy_uuid"):
        queryset = queryset.filter(subsidy_access_policy_uuid=query["subsidy_access_policy_uuid"])
    if query.get("state"):
        queryset = queryset.filter(state__in=query["state"])
    return queryset


@extend_schema_view(
    get=extend_schema(summary="Read a transaction", responses={200: TransactionSerializer, **errors(404)})
)
class TransactionDetail(generics.RetrieveAPIView):
    serializer_class = TransactionSerializer

    def get_object(self):
        subsidy = subsidy_for(
            self.request, self.kwargs["subsidy_uuid"], "subsidies.view_transaction", "read transactions"
        )
        return get_object_or_404(selectors.transactions_for(subsidy), pk=self.kwargs["transaction_uuid"])
