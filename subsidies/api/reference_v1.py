"""enterprise-subsidy's v1 routes, in its shapes, over our ledger: what its published client and
enterprise-access call (`edx-enterprise-subsidy-client`).

Who may call what, as in the reference: a customer's admins (and operators, our staff) read its subsidies,
can_redeem and the per-learner aggregates; a learner of the customer reads the content metadata and its
own transactions. Creating a transaction (POST transactions/) is a redemption: policies/api/ledger.py.
"""

from __future__ import annotations

from django.db.models import Count
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import may_manage_customer, member_customer_ids, own_lms_user_id
from catalog.models import ProductSource
from catalog.selectors import run_in_customer_catalogs
from common.api import LmsUserIdField, errors, validated_query
from customers.selectors import learner_link
from subsidies import selectors
from subsidies.api.subsidies import SubsidyQuerySerializer, SubsidySerializer, readable_subsidies, subsidy_for
from subsidies.api.transactions import (
    LedgerPagination,
    TransactionQuerySerializer,
    TransactionSerializer,
    transactions_matching,
)
from subsidies.models import Subsidy, Transaction, TransactionState

READ_SUBSIDY = "subsidies.view_subsidy"
READ_TRANSACTIONS = "subsidies.view_transaction"


class ReferenceSubsidySerializer(SubsidySerializer):
    """enterprise-subsidy's SubsidySerializer: ours with the reference's fields (amounts in USD cents there too)."""

    class Meta(SubsidySerializer.Meta):
        fields = [
            "uuid",
            "title",
            "enterprise_customer_uuid",
            "active_datetime",
            "expiration_datetime",
            "unit",
            "reference_id",
            "reference_type",
            "current_balance",
            "starting_balance",
            "internal_only",
            "revenue_category",
            "is_active",
            "total_deposits",
            "created",
            "modified",
        ]
        read_only_fields = fields


def _readable_subsidy(request, subsidy_uuid) -> Subsidy:
    return subsidy_for(request, subsidy_uuid, READ_SUBSIDY, "read this subsidy")


class SubsidyPagination(PageNumberPagination):
    """enterprise-subsidy's subsidy pages: `page_size` (up to 100) and `page_count`."""

    page_size = 10
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["page_count"] = self.page.paginator.num_pages
        return response

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["page_count"] = {"type": "integer"}
        return schema


@extend_schema_view(
    get=extend_schema(
        operation_id="v1_subsidies_list",
        summary="enterprise-subsidy v1: a customer's subsidies (its admins, operators)",
        parameters=[SubsidyQuerySerializer],
        responses={200: ReferenceSubsidySerializer(many=True), **errors(400)},
    )
)
class SubsidyList(generics.ListAPIView):
    serializer_class = ReferenceSubsidySerializer
    pagination_class = SubsidyPagination

    def get_queryset(self):
        return readable_subsidies(self.request).order_by("uuid")


@extend_schema_view(
    get=extend_schema(
        operation_id="v1_subsidies_retrieve",
        summary="enterprise-subsidy v1: one subsidy",
        responses={200: ReferenceSubsidySerializer, **errors(404)},
    )
)
class SubsidyDetail(generics.RetrieveAPIView):
    serializer_class = ReferenceSubsidySerializer

    def get_object(self):
        return _readable_subsidy(self.request, self.kwargs["subsidy_uuid"])


class CanRedeemQuery(serializers.Serializer):
    lms_user_id = LmsUserIdField()
    content_key = serializers.CharField(max_length=255)


class SubsidyCanRedeemSerializer(serializers.Serializer):
    can_redeem = serializers.BooleanField()
    content_price = serializers.IntegerField(help_text="USD cents.")
    unit = serializers.CharField()
    all_transactions = TransactionSerializer(many=True)
    active = serializers.BooleanField()


class SubsidyCanRedeem(APIView):
    """Could the subsidy pay for this content for this learner (balance only; the policies say the rest)?"""

    @extend_schema(
        operation_id="v1_subsidies_can_redeem",
        summary="enterprise-subsidy v1: can the subsidy pay for this content for this learner?",
        parameters=[CanRedeemQuery],
        responses={200: SubsidyCanRedeemSerializer, **errors(400, 404)},
    )
    def get(self, request, subsidy_uuid):
        subsidy = _readable_subsidy(request, subsidy_uuid)
        query = validated_query(CanRedeemQuery, request)
        run = run_in_customer_catalogs(subsidy.customer_id, query["content_key"])
        entries = list(
            selectors.transactions_for(subsidy)
            .filter(lms_user_id=query["lms_user_id"], content_key=run.key)
            .order_by("created")
        )
        redeemed = any(selectors.is_redeemed(entry) for entry in entries)
        data = {
            "can_redeem": not redeemed and selectors.balance_cents(subsidy) >= run.price_cents,
            "content_price": run.price_cents,
            "unit": subsidy.unit,
            "all_transactions": TransactionSerializer(entries, many=True, context={"request": request}).data,
            "active": subsidy.is_active(),
        }
        return Response(data)


class AggregatesQuery(serializers.Serializer):
    subsidy_access_policy_uuid = serializers.UUIDField(required=False)


class SubsidyAggregatesByLearner(APIView):
    """How many redemptions each learner holds (committed, not reversed), optionally under one policy."""

    @extend_schema(
        operation_id="v1_subsidies_aggregates_by_learner",
        summary="enterprise-subsidy v1: redemptions per learner (not paginated)",
        parameters=[AggregatesQuery],
        responses={
            200: inline_serializer(
                "LearnerAggregate", {"lms_user_id": serializers.IntegerField(), "total": serializers.IntegerField()}
            ),
            **errors(400, 404),
        },
    )
    def get(self, request, subsidy_uuid):
        subsidy = _readable_subsidy(request, subsidy_uuid)
        query = validated_query(AggregatesQuery, request)
        entries = selectors.transactions_for(subsidy).filter(
            state=TransactionState.COMMITTED, reversal__isnull=True, lms_user_id__isnull=False
        )
        if query.get("subsidy_access_policy_uuid"):
            entries = entries.filter(subsidy_access_policy_uuid=query["subsidy_access_policy_uuid"])
        rows = entries.order_by("lms_user_id").values("lms_user_id").annotate(total=Count("uuid"))
        return Response([{"lms_user_id": row["lms_user_id"], "total": row["total"]} for row in rows])


# --- content metadata ----------------------------------------------------------------------------------------


class ContentMetadataQuery(serializers.Serializer):
    enterprise_customer_uuid = serializers.UUIDField()


class ContentMetadataSerializer(serializers.Serializer):
    content_title = serializers.CharField()
    content_uuid = serializers.UUIDField(allow_null=True, help_text="Always null: courses here have no uuid.")
    content_key = serializers.CharField(help_text="The course's key.")
    course_run_uuid = serializers.UUIDField(allow_null=True, help_text="Always null: runs here have no uuid.")
    course_run_key = serializers.CharField(allow_null=True)
    course_run_start_date = serializers.DateTimeField(allow_null=True)
    source = serializers.ChoiceField(choices=["edX", "2u"])
    content_price = serializers.IntegerField(help_text="USD cents.")
    mode = serializers.CharField()
    geag_variant_id = serializers.UUIDField(allow_null=True)
    enroll_by_date = serializers.DateTimeField(allow_null=True)


class ContentMetadata(APIView):
    """A course or run as enterprise-access reads it before a redemption: its price and its deadline."""

    @extend_schema(
        operation_id="v1_content_metadata",
        summary="enterprise-subsidy v1: price and enrollment deadline of a course or run, in a customer's catalogs",
        parameters=[ContentMetadataQuery],
        responses={200: ContentMetadataSerializer, **errors(400, 404)},
    )
    def get(self, request, content_identifier):
        query = validated_query(ContentMetadataQuery, request)
        customer_id = query["enterprise_customer_uuid"]
        _require_learner_level(request, customer_id, READ_SUBSIDY, "read this customer's content")
        run = run_in_customer_catalogs(customer_id, content_identifier)
        exec_ed = run.course.product_source == ProductSource.EXEC_ED
        data = {
            "content_title": run.course.title,
            "content_uuid": None,
            "content_key": run.course.key,
            "course_run_uuid": None,
            "course_run_key": run.key,
            "course_run_start_date": run.start,
            "source": "2u" if exec_ed else "edX",
            "content_price": run.price_cents,
            "mode": "paid-executive-education" if exec_ed else "verified",
            "geag_variant_id": run.variant_id,
            "enroll_by_date": run.enroll_by,
        }
        return Response(ContentMetadataSerializer(data).data)


# --- transactions (v1) -----------------------------------------------------------------------------------------


class TransactionListQuery(TransactionQuerySerializer):
    subsidy_uuid = serializers.UUIDField()


def _require_learner_level(request, customer_id, perm: str, action: str) -> str:
    """ "admin" (staff, operators, the customer's admins) or "learner" (its learners); else 403."""
    if may_manage_customer(request.user, customer_id, perm):
        return "admin"
    own = own_lms_user_id(request.user)
    is_member = customer_id in member_customer_ids(request.user)
    if own is not None and (is_member or learner_link(customer=customer_id, lms_user_id=own) is not None):
        return "learner"
    raise PermissionDenied(f"Only this customer's learners and admins, and staff with {perm}, may {action}.")


@extend_schema_view(
    get=extend_schema(
        operation_id="v1_transactions_list",
        summary="enterprise-subsidy v1: a subsidy's transactions (a learner sees only its own)",
        parameters=[TransactionListQuery],
        responses={200: TransactionSerializer(many=True), **errors(400, 404)},
    )
)
class TransactionList(generics.ListAPIView):
    serializer_class = TransactionSerializer
    pagination_class = LedgerPagination

    def get_queryset(self):
        query = validated_query(TransactionListQuery, self.request)
        subsidy = get_object_or_404(Subsidy, pk=query["subsidy_uuid"])
        level = _require_learner_level(self.request, subsidy.customer_id, READ_TRANSACTIONS, "read its transactions")
        queryset = transactions_matching(subsidy, self.request)
        if level == "learner":
            queryset = queryset.filter(lms_user_id=own_lms_user_id(self.request.user))
        self.ledger_subsidy_id = subsidy.pk
        return queryset


@extend_schema_view(
    get=extend_schema(
        operation_id="v1_transactions_retrieve",
        summary="enterprise-subsidy v1: one transaction (what the learner portal polls after a redeem)",
        responses={200: TransactionSerializer, **errors(404)},
    )
)
class TransactionDetail(generics.RetrieveAPIView):
    serializer_class = TransactionSerializer

    def get_object(self):
        entry = get_object_or_404(Transaction.objects.select_related("subsidy", "reversal"), pk=self.kwargs["uuid"])
        level = _require_learner_level(
            self.request, entry.subsidy.customer_id, READ_TRANSACTIONS, "read this transaction"
        )
        if level == "learner" and entry.lms_user_id != own_lms_user_id(self.request.user):
            raise NotFound("No such transaction.")  # another learner's: as if it did not exist
        return entry


@extend_schema_view(
    get=extend_schema(
        operation_id="v2_subsidies_learner_transactions",
        summary="enterprise-subsidy v2: the caller's own transactions in a subsidy (a learner's token)",
        parameters=[TransactionQuerySerializer],
        responses={200: TransactionSerializer(many=True), **errors(400, 404)},
    )
)
class LearnerTransactionList(generics.ListAPIView):
    serializer_class = TransactionSerializer
    pagination_class = LedgerPagination

    def get_queryset(self):
        subsidy = get_object_or_404(Subsidy, pk=self.kwargs["subsidy_uuid"])
        own = own_lms_user_id(self.request.user)
        if own is None:
            raise NotFound("This account is not a learner, so it has no transactions of its own.")
        _require_learner_level(self.request, subsidy.customer_id, READ_TRANSACTIONS, "read its transactions")
        self.ledger_subsidy_id = subsidy.pk
        return transactions_matching(subsidy, self.request).filter(lms_user_id=own)
