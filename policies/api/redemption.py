"""Learner redemption, in the reference system's enterprise-access v1 routes and shapes.

A learner token acts only for its own `lms_user_id`: naming another learner is a 403, not silently
replaced. Staff with the permission (and, for reads, the customer's admins) may name any learner.
"""

from __future__ import annotations

import functools

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import acting_lms_user_id
from accounts.selectors import customer_administrators
from assignments import selectors as assignment_selectors
from catalog.models import CourseRun
from common.api import errors, validated_query
from customers.models import EnterpriseCustomer
from customers.selectors import learner_link
from policies import reasons, selectors
from policies.api.serializers import (
    CanRedeemQuerySerializer,
    CanRedeemResultSerializer,
    CreditSerializer,
    CreditsQuerySerializer,
    PriceSerializer,
    ReasonSerializer,
    RedeemSerializer,
    ReferencePolicySerializer,
)
from policies.errors import PolicyNotFound
from policies.models import SubsidyAccessPolicy
from policies.services import redeem
from subsidies import selectors as ledger_reads
from subsidies.api import TransactionSerializer

CHECK_PERM = "policies.check_redeemability"
REDEEM_FOR_OTHERS_PERM = "subsidies.add_transaction"


def _grouped_reasons(verdicts, administrators: list[dict]) -> list[dict]:
    groups: dict[str, dict] = {}
    metadata = {"enterprise_administrators": administrators}
    for policy, verdict in verdicts:
        if verdict.can_redeem:
            continue
        group = groups.setdefault(
            verdict.reason,
            {"reason": verdict.reason, "user_message": verdict.user_message, "metadata": metadata, "policy_uuids": []},
        )
        group["policy_uuids"].append(str(policy.pk))
    return list(groups.values())


def _display_reason(grouped: list[dict]) -> dict | None:
    """The reason to show: the best-ranked policy's, unless it is only an expired budget and others say more."""
    informative = [g for g in grouped if g["reason"] != reasons.POLICY_EXPIRED]
    return (informative or grouped or [None])[0]


def enterprise_administrators(customer: EnterpriseCustomer) -> list[dict]:
    """Whom a refused learner may ask: the customer's contact address, else its admins (as enterprise-access)."""
    if customer.contact_email:
        return [{"email": customer.contact_email, "lms_user_id": None}]
    return customer_administrators(customer.pk)


def _can_redeem_one(customer: EnterpriseCustomer, lms_user_id: int, content_key: str, request, admins) -> dict:
    run = CourseRun.objects.filter(key=content_key).first()
    redemptions = selectors.learner_redemptions(customer.pk, lms_user_id=lms_user_id, content_key=content_key)
    successful = any(ledger_reads.is_redeemed(entry) for entry in redemptions)
    redeemable, price, grouped = None, run.price_cents if run else None, []
    if not successful:
        verdicts = selectors.verdicts_for(customer.pk, lms_user_id=lms_user_id, content_key=content_key)
        winner = next(((p, v) for p, v in verdicts if v.can_redeem), None)
        if winner is not None:
            redeemable, price = winner[0], winner[1].price_cents
        else:
            grouped = _grouped_reasons(verdicts, admins())
    context = {"request": request}
    return {
        "content_key": content_key,
        "list_price": PriceSerializer.of(price),
        "redemptions": TransactionSerializer(redemptions, many=True, context=context).data,
        "has_successful_redemption": successful,
        "redeemable_subsidy_access_policy": (
            ReferencePolicySerializer(redeemable, context=context).data if redeemable else None
        ),
        "can_redeem": redeemable is not None,
        "reasons": grouped,
        "display_reason": _display_reason(grouped) if redeemable is None and not successful else None,
    }


class CanRedeemView(APIView):
    """For each content key: can the learner redeem it now, under which policy, or why not."""

    @extend_schema(
        operation_id="policy_redemption_can_redeem",
        summary="Can the learner redeem these course runs? (one answer per content_key)",
        parameters=[CanRedeemQuerySerializer],
        responses={200: CanRedeemResultSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, customer_uuid):
        query = validated_query(CanRedeemQuerySerializer, request)
        customer = get_object_or_404(EnterpriseCustomer, pk=customer_uuid)
        lms_user_id = acting_lms_user_id(
            request,
            query.get("lms_user_id"),
            staff_perm=CHECK_PERM,
            customer_id=customer.pk,
            is_learner_of=_is_learner_of,
        )
        keys = list(dict.fromkeys(query["content_key"]))
        admins = functools.cache(lambda: enterprise_administrators(customer))  # read once, only if refused
        return Response([_can_redeem_one(customer, lms_user_id, key, request, admins) for key in keys])


class RedeemView(APIView):
    """Redeem a course run under one policy: charge, enroll, all or nothing; a repeat returns the same."""

    refusals_as_reference_list = True

    @extend_schema(
        operation_id="policy_redemption_redeem",
        summary="Redeem content under a policy (a repeat returns the same transaction)",
        request=RedeemSerializer,
        responses={
            200: TransactionSerializer,
            422: OpenApiResponse(
                ReasonSerializer(many=True), description="Refused: `[{reason, user_message, metadata, policy_uuids}]`."
            ),
            **errors(400, 404, 429, 503),
        },
    )
    def post(self, request, policy_uuid):
        serializer = RedeemSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        policy = SubsidyAccessPolicy.objects.select_related("subsidy", "customer").filter(pk=policy_uuid).first()
        if policy is None:
            raise PolicyNotFound(f"No subsidy access policy {policy_uuid}.")
        lms_user_id = acting_lms_user_id(request, data.get("lms_user_id"), staff_perm=REDEEM_FOR_OTHERS_PERM)
        result = redeem(
            policy=policy, lms_user_id=lms_user_id, content_key=data["content_key"], metadata=data["metadata"]
        )
        context = {"just_created": result.created, "request": request}
        return Response(TransactionSerializer(result.transaction, context=context).data)


class CreditsAvailableView(APIView):
    """The customer's policies the learner can spend now, with what is left."""

    @extend_schema(
        operation_id="policy_redemption_credits_available",
        summary="Policies the learner can spend now, with remaining balances",
        parameters=[CreditsQuerySerializer],
        responses={200: CreditSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request):
        query = validated_query(CreditsQuerySerializer, request)
        customer = get_object_or_404(EnterpriseCustomer, pk=query["enterprise_customer_uuid"])
        lms_user_id = acting_lms_user_id(
            request,
            query.get("lms_user_id"),
            staff_perm=CHECK_PERM,
            customer_id=customer.pk,
            is_learner_of=_is_learner_of,
        )
        rows = []
        for credit in selectors.credits_available(customer.pk, lms_user_id=lms_user_id):
            policy = credit.policy
            policy.remaining_balance = credit.remaining_balance_cents
            policy.remaining_balance_per_user = credit.remaining_balance_per_user_cents
            policy.subsidy_expiration_date = policy.subsidy.expiration_datetime
            policy.learner_content_assignments = assignment_selectors.learner_assignments(
                policy.assignment_configuration_id, lms_user_id=lms_user_id
            )
            rows.append(policy)
        return Response(CreditSerializer(rows, many=True, context={"request": request}).data)


def _is_learner_of(lms_user_id: int, customer_id) -> bool:
    """Linked to the customer, active or not (what acting_lms_user_id asks of a learner acting for itself)."""
    return learner_link(customer=customer_id, lms_user_id=lms_user_id) is not None
