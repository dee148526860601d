"""REST adapter for forced redemptions (ADR 0019): same services, behaviour and errors as the admin.

Reading and the dry-run checks need `can_view`; every write, redeem and reverse need `can_force`
(forced_redemptions/permissions.py).
Creating a record that redeems at once (and `PATCH` with `redeem_now`) first runs the pre-charge check
(forced_redemptions.selectors.require_redeemable_input): input no redemption can accept (an unknown or
unlinked learner, a run unknown or outside the policy's catalog, missing exec-ed data) is a 422 naming the
reason, the fields and the next step, and nothing is saved; refusals about money or limits are attempts on
record (201 with an errored record), as before.
`POST .../redeem/` answers 200 with the record when it is redeemed (now or already), 422 with the reason
code and the record when the attempt failed (the attempt is on record either way), 409 for an archived
record, and 429 with Retry-After when a row lock could not be had in time.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import (
    MAX_TEXT_CHARS,
    CentsField,
    ErrorSerializer,
    LmsUserIdField,
    StrictSerializer,
    error_body,
    error_response,
    errors,
    status_for_reason,
    validated_query,
)
from forced_redemptions.models import (
    STATE_CONDITIONS,
    AttemptOutcome,
    ForcedPolicyRedemption,
    ForcedRedemptionAttempt,
    ForcedState,
)
from forced_redemptions.permissions import can_force, can_view
from forced_redemptions.selectors import check_forced, forced_redemptions, require_redeemable_input
from forced_redemptions.services import (
    EDITABLE_FIELDS,
    create_forced_redemption,
    redeem_forced,
    reverse_forced_redemption,
    saving_redeems,
    update_forced_redemption,
    validate_fields,
)
from policies.models import SubsidyAccessPolicy


def _require_force(request) -> None:
    if not can_force(request.user):
        raise PermissionDenied("Only staff with the forced_redemptions.force_redeem permission may force redemptions.")


def _require_view(request) -> None:
    if not can_view(request.user):
        raise PermissionDenied("Only staff allowed to view forced redemptions may read them.")


class AttemptSerializer(serializers.ModelSerializer):
    attempted_by = serializers.CharField(source="attempted_by.username", default=None, allow_null=True)

    class Meta:
        model = ForcedRedemptionAttempt
        fields = [
            "id",
            "attempted_at",
            "attempted_by",
            "outcome",
            "reason_code",
            "message",
            "transaction_uuid",
            "charged_cents",
        ]
        read_only_fields = fields


class ForcedRedemptionSerializer(serializers.ModelSerializer):
    enterprise_customer_uuid = serializers.UUIDField(source="subsidy_access_policy.customer_id")
    learner_email = serializers.EmailField(allow_null=True, default=None)
    state = serializers.ChoiceField(choices=ForcedState.choices)
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    modified_by = serializers.CharField(source="modified_by.username", default=None, allow_null=True)
    last_attempt = serializers.SerializerMethodField()

    class Meta:
        model = ForcedPolicyRedemption
        fields = [
            "uuid",
            "subsidy_access_policy",
            "enterprise_customer_uuid",
            "lms_user_id",
            "learner_email",
            "course_run_key",
            "content_price_cents",
            "price_justification",
            "wait_to_redeem",
            "reason",
            "learner_first_name",
            "learner_last_name",
            "learner_date_of_birth",
            "learner_terms_accepted_at",
            "learner_data_share_consent",
            "external_order_reference",
            "state",
            "redeemed_at",
            "transaction_uuid",
            "charged_cents",
            "reversed_at",
            "errored_at",
            "error_reason",
            "error_message",
            "archived_at",
            "created_by",
            "modified_by",
            "created",
            "modified",
            "last_attempt",
        ]
        read_only_fields = fields

    @extend_schema_field(AttemptSerializer(allow_null=True))
    def get_last_attempt(self, record):
        attempt = getattr(record, "last_attempt", None)
        if attempt is None:
            attempts = list(record.attempts.all())
            attempt = attempts[-1] if attempts else None
        return AttemptSerializer(attempt).data if attempt is not None else None


class ForcedRedemptionDetailSerializer(ForcedRedemptionSerializer):
    attempts = AttemptSerializer(many=True, read_only=True)

    class Meta(ForcedRedemptionSerializer.Meta):
        fields = [*ForcedRedemptionSerializer.Meta.fields, "attempts"]
        read_only_fields = fields


# --- input ---------------------------------------------------------------------------------------------------


class _ForcedFieldsSerializer(StrictSerializer):
    subsidy_access_policy = serializers.PrimaryKeyRelatedField(
        queryset=SubsidyAccessPolicy.objects.all(), help_text="The policy (uuid) to redeem under."
    )
    lms_user_id = LmsUserIdField()
    course_run_key = serializers.CharField(max_length=255, help_text="e.g. course-v1:edX+DemoX+1T2042")
    content_price_cents = CentsField(
        required=False, allow_null=True, help_text="Empty = the run's price (an assigned policy: the assignment's)."
    )
    price_justification = serializers.CharField(
        max_length=MAX_TEXT_CHARS,
        required=False,
        allow_blank=True,
        help_text="Required when content_price_cents differs from the run's catalog price: why.",
    )
    reason = serializers.CharField(
        max_length=MAX_TEXT_CHARS, help_text="Why this redemption is forced (e.g. a ticket)."
    )
    learner_first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    learner_last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    learner_date_of_birth = serializers.DateField(
        required=False, allow_null=True, input_formats=["iso-8601"], help_text="YYYY-MM-DD; the learner 13 to 119."
    )
    learner_terms_accepted_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        input_formats=["iso-8601"],
        help_text="ISO 8601, e.g. 2026-01-31T12:00:00Z (UTC without an offset); not in the future.",
    )
    learner_data_share_consent = serializers.BooleanField(required=False)
    external_order_reference = serializers.CharField(max_length=255, required=False, allow_blank=True)


class ForcedRedemptionCreateSerializer(_ForcedFieldsSerializer):
    wait_to_redeem = serializers.BooleanField(required=False, default=False, help_text="Save without redeeming.")


class ForcedRedemptionUpdateSerializer(ForcedRedemptionCreateSerializer):
    redeem_now = serializers.BooleanField(required=False, default=False, help_text="Redeem right after saving.")


class ForcedRedemptionCheckSerializer(_ForcedFieldsSerializer):
    reason = serializers.CharField(max_length=MAX_TEXT_CHARS, required=False, allow_blank=True, default="")


class ForcedCheckSerializer(serializers.Serializer):
    can_redeem = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True, help_text="The reason code when it cannot be redeemed.")
    message = serializers.CharField()
    price_cents = serializers.IntegerField(allow_null=True)
    balance_cents = serializers.IntegerField(allow_null=True)
    policy_spent_cents = serializers.IntegerField(allow_null=True)
    policy_spend_available_cents = serializers.IntegerField(allow_null=True)


class ForcedRedemptionQuerySerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=ForcedState.choices, required=False)
    policy = serializers.UUIDField(required=False, help_text="Subsidy access policy uuid.")
    lms_user_id = LmsUserIdField(required=False)
    course_run_key = serializers.CharField(required=False, max_length=255)
    customer = serializers.UUIDField(required=False, help_text="Enterprise customer uuid.")


class RedeemFailedSerializer(ErrorSerializer):
    forced_redemption = ForcedRedemptionDetailSerializer()


# --- views ---------------------------------------------------------------------------------------------------


def _records():
    attempts = Prefetch("attempts", queryset=ForcedRedemptionAttempt.objects.select_related("attempted_by"))
    return forced_redemptions().prefetch_related(attempts)


def _record(uuid) -> ForcedPolicyRedemption:
    return get_object_or_404(_records(), pk=uuid)


def _refuse_what_cannot_redeem(fields: dict, record: ForcedPolicyRedemption | None = None) -> None:
    """Before saving values that redeem at once: bad fields are a 400 and input no redemption can accept a 422,
    both before anything is written (the same checks as the admin's form)."""
    validate_fields(fields)
    candidate = ForcedPolicyRedemption(**fields)
    if record is not None:
        candidate.uuid = record.uuid
    require_redeemable_input(candidate)


def _detail(record: ForcedPolicyRedemption) -> dict:
    fresh = _record(record.pk)
    fresh.last_attempt = getattr(record, "last_attempt", None)
    return ForcedRedemptionDetailSerializer(fresh).data


@extend_schema_view(
    get=extend_schema(
        summary="List forced redemptions",
        parameters=[ForcedRedemptionQuerySerializer],
        responses={200: ForcedRedemptionSerializer(many=True), **errors(400)},
    ),
    post=extend_schema(
        summary="Create a forced redemption; it is redeemed at once unless wait_to_redeem",
        description="201 once the record is saved, whatever the redemption's outcome: read `state` and "
        "`last_attempt`. Unless `wait_to_redeem`, input no redemption can accept (an unknown or unlinked learner, "
        "a run unknown or outside the policy's catalog, missing exec-ed data) is a 422 whose `reason` is the "
        "refusal's code (`learner_not_in_enterprise`, `content_not_in_catalog`, `missing_exec_ed_data`, ...), "
        "`field_errors` the fields to fix and `detail` the next step; nothing is saved.",
        request=ForcedRedemptionCreateSerializer,
        responses={201: ForcedRedemptionDetailSerializer, **errors(400, 409, 422)},
    ),
)
class ForcedRedemptionList(generics.ListCreateAPIView):
    serializer_class = ForcedRedemptionSerializer

    def get_queryset(self):
        query = validated_query(ForcedRedemptionQuerySerializer, self.request)
        queryset = _records()
        if query.get("state"):
            queryset = queryset.filter(STATE_CONDITIONS[query["state"]])
        if query.get("policy"):
            queryset = queryset.filter(subsidy_access_policy_id=query["policy"])
        if query.get("lms_user_id"):
            queryset = queryset.filter(lms_user_id=query["lms_user_id"])
        if query.get("course_run_key"):
            queryset = queryset.filter(course_run_key=query["course_run_key"])
        if query.get("customer"):
            queryset = queryset.filter(subsidy_access_policy__customer_id=query["customer"])
        return queryset

    def get(self, request, *args, **kwargs):
        _require_view(request)
        return super().get(request, *args, **kwargs)

    def post(self, request):
        _require_force(request)
        serializer = ForcedRedemptionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        if not fields.get("wait_to_redeem"):
            _refuse_what_cannot_redeem(fields)
        record = create_forced_redemption(actor=request.user, **fields)
        return Response(_detail(record), status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary="Read a forced redemption with every attempt",
        responses={200: ForcedRedemptionDetailSerializer, **errors(404)},
    ),
    patch=extend_schema(
        summary="Change a forced redemption (a redeemed one's learner, policy, run and price are settled)",
        description="With `redeem_now` on a waiting or errored record, input no redemption can accept is a 422 "
        "as for a create, and nothing changes. An archived record is a 409.",
        request=ForcedRedemptionUpdateSerializer,
        responses={200: ForcedRedemptionDetailSerializer, **errors(400, 404, 409, 422)},
    ),
)
class ForcedRedemptionDetail(APIView):
    def get(self, request, uuid):
        _require_view(request)
        return Response(ForcedRedemptionDetailSerializer(_record(uuid)).data)

    def patch(self, request, uuid):
        _require_force(request)
        record = _record(uuid)
        serializer = ForcedRedemptionUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        redeem_now = changes.pop("redeem_now", False)
        if redeem_now and saving_redeems(record, wait_to_redeem=False):
            _refuse_what_cannot_redeem({f: getattr(record, f) for f in EDITABLE_FIELDS} | changes, record)
        record = update_forced_redemption(record=record, actor=request.user, redeem_now=redeem_now, **changes)
        return Response(_detail(record))


class ForcedRedemptionRedeem(APIView):
    @extend_schema(
        summary="Redeem now (exactly once; every attempt is recorded)",
        request=None,
        responses={
            200: ForcedRedemptionDetailSerializer,
            422: OpenApiResponse(RedeemFailedSerializer, description="The attempt failed; `reason` says why."),
            429: OpenApiResponse(RedeemFailedSerializer, description="Lock wait timeout; retry after Retry-After."),
            **errors(404, 409),
        },
    )
    def post(self, request, uuid):
        _require_force(request)
        record = redeem_forced(record=_record(uuid), actor=request.user)
        data = _detail(record)
        attempt = record.last_attempt
        if attempt.outcome == AttemptOutcome.ERRORED:
            body = error_body(attempt.reason_code, attempt.message) | {"forced_redemption": data}
            return error_response(status_for_reason(attempt.reason_code), body)
        return Response(data)


class ReverseForcedSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=MAX_TEXT_CHARS, help_text="Why it is undone (e.g. a support ticket).")


class ForcedRedemptionReverse(APIView):
    @extend_schema(
        operation_id="forced_redemptions_reverse",
        summary="Undo a redeemed forced redemption: refund and unenroll, on record",
        request=ReverseForcedSerializer,
        responses={200: ForcedRedemptionDetailSerializer, **errors(400, 404, 409, 429, 503)},
    )
    def post(self, request, uuid):
        _require_force(request)
        record = _record(uuid)
        serializer = ReverseForcedSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = reverse_forced_redemption(record=record, actor=request.user, **serializer.validated_data)
        return Response(_detail(record))


class ForcedRedemptionCheck(APIView):
    @extend_schema(
        operation_id="forced_redemptions_check",
        summary="Dry run: would redeeming this record succeed now? Writes nothing",
        request=None,
        responses={200: ForcedCheckSerializer, **errors(404)},
    )
    def post(self, request, uuid):
        _require_view(request)
        return Response(ForcedCheckSerializer(check_forced(_record(uuid)).as_dict()).data)


class ForcedRedemptionCheckUnsaved(APIView):
    @extend_schema(
        operation_id="forced_redemptions_check_unsaved",
        summary="Dry run for values not saved yet. Writes nothing",
        request=ForcedRedemptionCheckSerializer,
        responses={200: ForcedCheckSerializer, **errors(400)},
    )
    def post(self, request):
        _require_view(request)
        serializer = ForcedRedemptionCheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = ForcedPolicyRedemption(**serializer.validated_data)
        return Response(ForcedCheckSerializer(check_forced(record).as_dict()).data)
