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
from subsidies.api import TransactionQuerySerializer, TransactionSerializer, subsidy_for, transactions_matching


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
        responses={201: TransactionSerializer, 200: TransactionSerializer, **errors(400, 404, 422, 503)},
    ),
)
class TransactionList(generics.ListCreateAPIView):
    serializer_class = TransactionSerializer

    def get_queryset(self):
        subsidy = subsidy_for(
            self.request, self.kwargs["subsidy_uuid"], "subsidies.view_transaction", "read transactions"
        )
        return transactions_matching(subsidy, self.request)

    def post(self, request, subsidy_uuid):
        subsidy = subsidy_for(request, subsidy_uuid, "subsidies.add_transaction", "create transactions")
        serializer = TransactionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = create_ledger_transaction(
            subsidy=subsidy,
            policy_uuid=data["subsidy_access_policy_uuid"],
            lms_user_id=data["lms_user_id"],
            content_key=data["content_key"],
            metadata=data["metadata"],
            idempotency_key=data.get("idempotency_key"),
            requested_price_cents=data.get("requested_price_cents"),
        )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        context = {"just_created": result.created}
        return Response(TransactionSerializer(result.transaction, context=context).data, status=code)


class TransactionReverse(APIView):
    """Refund a committed redemption and unenroll the learner."""

    @extend_schema(
        summary="Reverse (refund and unenroll) a committed redemption",
        request=ReverseSerializer,
        responses={200: TransactionSerializer, **errors(400, 404, 409, 422, 503)},
    )
    def post(self, request, subsidy_uuid, transaction_uuid):
        subsidy = subsidy_for(request, subsidy_uuid, "subsidies.add_reversal", "reverse transactions")
        entry = get_object_or_404(ledger_reads.transactions_for(subsidy), pk=transaction_uuid)
        serializer = ReverseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reverse_redemption(entry=entry, reason=serializer.validated_data["reason"], actor=request.user)
        entry = ledger_reads.transactions_for(subsidy).get(pk=entry.pk)
        return Response(TransactionSerializer(entry).data)
