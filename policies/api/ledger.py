"""Ledger writes in the reference system's enterprise-subsidy v2 shapes, routed through the policies.

Creating a transaction is a redemption (policies.services.redeem): the same checks, locks, idempotency
and fulfillment as the learner path. Reversing one refunds and unenrolls (reverse_redemption).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import errors
from policies.api.serializers import ReverseSerializer, TransactionCreateSerializer
from policies.services import create_ledger_transaction, reverse_redemption
from subsidies import selectors as ledger_reads
from subsidies.api import (
    TransactionQuerySerializer,
    TransactionSerializer,
    reference_v1,
    subsidy_for,
    transactions_matching,
)
from subsidies.api.transactions import LedgerPagination

CREATE_PERM = "subsidies.add_transaction"


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


@extend_schema_view(
    get=extend_schema(
        summary="List a subsidy's transactions (filters repeatable where noted)",
        parameters=[TransactionQuerySerializer],
        responses={200: TransactionSerializer(many=True), **errors(400, 404)},
    ),
    post=extend_schema(
        summary="Redeem through the ledger (201 new, 200 existing)",
        request=TransactionCreateSerializer,
        responses={201: TransactionSerializer, 200: TransactionSerializer, **errors(400, 404, 422, 429)},
    ),
)
class TransactionList(generics.ListCreateAPIView):
    serializer_class = TransactionSerializer
    pagination_class = LedgerPagination

    def get_queryset(self):
        subsidy = subsidy_for(
            self.request, self.kwargs["subsidy_uuid"], "subsidies.view_transaction", "read transactions"
        )
        self.ledger_subsidy_id = subsidy.pk
        return transactions_matching(subsidy, self.request)

    def post(self, request, subsidy_uuid):
        subsidy = subsidy_for(request, subsidy_uuid, CREATE_PERM, "create transactions")
        data = _valid_create_body(request)
        if data.get("subsidy_uuid") not in (None, subsidy.pk):
            raise _invalid("subsidy_uuid", "Not the subsidy of this URL; leave it out or send the same uuid.")
        return _create(request, subsidy, data)


def _valid_create_body(request) -> dict:
    serializer = TransactionCreateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _create(request, subsidy, data) -> Response:
    """One redemption through the ledger, for v1 and v2 alike."""
    metadata = dict(data.get("metadata") or {})
    late_enrollment = metadata.pop("allow_late_enrollment", False) is True
    result = create_ledger_transaction(
        subsidy=subsidy,
        policy_uuid=data["subsidy_access_policy_uuid"],
        lms_user_id=data["lms_user_id"],
        content_key=data["content_key"],
        metadata=metadata,
        idempotency_key=data.get("idempotency_key") or None,
        requested_price_cents=data.get("requested_price_cents"),
        late_enrollment=late_enrollment,
    )
    code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    context = {"just_created": result.created, "request": request}
    return Response(TransactionSerializer(result.transaction, context=context).data, status=code)


@extend_schema_view(
    post=extend_schema(
        operation_id="v1_transactions_create",
        summary="enterprise-subsidy v1: redeem through the ledger (operators; 201 new, 200 existing)",
        request=TransactionCreateSerializer,
        responses={201: TransactionSerializer, 200: TransactionSerializer, **errors(400, 404, 422, 429)},
    ),
)
class V1TransactionList(reference_v1.TransactionList):
    """GET lists (subsidies/api/reference_v1.py); POST redeems, with the subsidy named in the body."""

    def post(self, request):
        data = _valid_create_body(request)
        if data.get("subsidy_uuid") is None:
            raise _invalid("subsidy_uuid", "This field is required.")
        subsidy = subsidy_for(request, data["subsidy_uuid"], CREATE_PERM, "create transactions")
        return _create(request, subsidy, data)


class TransactionReverse(APIView):
    """Refund a committed redemption and unenroll the learner."""

    @extend_schema(
        summary="Reverse (refund and unenroll) a committed redemption",
        request=ReverseSerializer,
        responses={200: TransactionSerializer, **errors(400, 404, 409, 422, 429, 503)},
    )
    def post(self, request, subsidy_uuid, transaction_uuid):
        subsidy = subsidy_for(request, subsidy_uuid, "subsidies.add_reversal", "reverse transactions")
        entry = get_object_or_404(ledger_reads.transactions_for(subsidy), pk=transaction_uuid)
        serializer = ReverseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reverse_redemption(entry=entry, reason=serializer.validated_data["reason"], actor=request.user)
        entry = ledger_reads.transactions_for(subsidy).get(pk=entry.pk)
        return Response(TransactionSerializer(entry).data)
