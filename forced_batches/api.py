"""REST adapter for forced-redemption batches (issue 13): upload and check, start, read, cancel, results.

Same services as the admin's "Force redemptions from a file" and `manage.py force_redemptions`. Uploading,
starting and cancelling need `can_force`; reading needs `can_view` (forced_redemptions/permissions.py).
"""

from __future__ import annotations

import csv

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import MAX_TEXT_CHARS, StrictSerializer, errors
from forced_batches import selectors, services
from forced_batches.models import BatchRow, ForcedRedemptionBatch, Verdict
from forced_redemptions.permissions import can_force, can_view
from policies.models import SubsidyAccessPolicy

REFUSED_ROWS_SHOWN = 1_000


def _require_force(request) -> None:
    if not can_force(request.user):
        raise PermissionDenied("Only staff with the forced_redemptions.force_redeem permission may run batches.")


def _require_view(request) -> None:
    if not can_view(request.user):
        raise PermissionDenied("Only staff allowed to view forced redemptions may read batches.")


class CountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    checked = serializers.IntegerField()
    redeemable = serializers.IntegerField()
    refused = serializers.IntegerField(help_text="Refused by the check: never run, never charged.")
    redeemed = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="Reserved, waiting for the downstream's answer.")
    errored = serializers.IntegerField(help_text="Run, and the forced redemption failed (nothing charged).")
    skipped = serializers.IntegerField(help_text="Not run: refused by the check, or the batch was cancelled.")


class PolicyTotalSerializer(serializers.Serializer):
    policy_uuid = serializers.UUIDField()
    policy_name = serializers.CharField()
    rows = serializers.IntegerField(help_text="Redeemable rows under this policy.")
    charge_cents = serializers.IntegerField(help_text="What they will charge in all.")
    balance_cents = serializers.IntegerField(help_text="The subsidy's balance now.")
    spend_limit_cents = serializers.IntegerField(allow_null=True)
    spent_cents = serializers.IntegerField(help_text="What the policy has spent so far.")


class RefusedRowSerializer(serializers.ModelSerializer):
    reason = serializers.CharField(source="check_reason")
    message = serializers.CharField(source="check_message")

    class Meta:
        model = BatchRow
        fields = ["line", "lms_user_id", "email", "course_run_key", "reason", "message"]
        read_only_fields = fields


class BatchSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    started_by = serializers.CharField(source="started_by.username", default=None, allow_null=True)
    cancelled_by = serializers.CharField(source="cancelled_by.username", default=None, allow_null=True)
    counts = serializers.SerializerMethodField()
    to_charge_cents = serializers.SerializerMethodField(help_text="What the redeemable rows will charge in all.")
    charged_cents = serializers.SerializerMethodField(help_text="What the run has charged so far.")
    results_url = serializers.SerializerMethodField()

    class Meta:
        model = ForcedRedemptionBatch
        fields = [
            "uuid",
            "file_name",
            "file_sha256",
            "subsidy_access_policy",
            "reason",
            "state",
            "dry_run",
            "counts",
            "to_charge_cents",
            "charged_cents",
            "results_url",
            "created_by",
            "created",
            "checked_at",
            "started_by",
            "started_at",
            "finished_at",
            "cancelled_by",
            "cancelled_at",
        ]
        read_only_fields = fields

    def _summary(self, batch) -> selectors.BatchSummary:
        if not hasattr(batch, "_summary"):
            if hasattr(batch, "numbers_checked"):  # a list's batch, annotated (selectors.with_numbers)
                batch._summary = selectors.list_summary(batch)
            else:
                batch._summary = selectors.summary(batch, with_policies=self.context.get("with_policies", False))
        return batch._summary

    @extend_schema_field(CountsSerializer)
    def get_counts(self, batch) -> dict:
        return CountsSerializer(self._summary(batch).counts()).data

    def get_to_charge_cents(self, batch) -> int:
        return self._summary(batch).to_charge_cents

    def get_charged_cents(self, batch) -> int:
        return self._summary(batch).charged_cents

    def get_results_url(self, batch) -> str:
        return f"/api/v1/forced-redemption-batches/{batch.pk}/results.csv"


class BatchDetailSerializer(BatchSerializer):
    refused_by_reason = serializers.SerializerMethodField(help_text="Refused rows per reason code.")
    policies = serializers.SerializerMethodField(help_text="Per policy: what its redeemable rows will charge.")
    refused_rows = serializers.SerializerMethodField(help_text=f"The refused rows (the first {REFUSED_ROWS_SHOWN:,}).")
    same_file = serializers.SerializerMethodField(help_text="Other batches of the same file (by its SHA-256).")

    class Meta(BatchSerializer.Meta):
        fields = [*BatchSerializer.Meta.fields, "refused_by_reason", "policies", "refused_rows", "same_file"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_refused_by_reason(self, batch) -> dict[str, int]:
        return self._summary(batch).refused_by_reason

    @extend_schema_field(PolicyTotalSerializer(many=True))
    def get_policies(self, batch) -> list:
        return PolicyTotalSerializer(self._summary(batch).policies, many=True).data

    @extend_schema_field(RefusedRowSerializer(many=True))
    def get_refused_rows(self, batch) -> list:
        rows = BatchRow.objects.filter(batch=batch, verdict=Verdict.REFUSED).order_by("line")[:REFUSED_ROWS_SHOWN]
        return RefusedRowSerializer(rows, many=True).data

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_same_file(self, batch) -> list[dict]:
        others = ForcedRedemptionBatch.objects.filter(file_sha256=batch.file_sha256).exclude(pk=batch.pk)
        return [{"uuid": str(o.pk), "state": o.state, "created": o.created.isoformat()} for o in others[:20]]


class UploadSerializer(StrictSerializer):
    file = serializers.FileField(help_text="CSV, UTF-8, a header line and up to 10,000 rows.")
    subsidy_access_policy = serializers.PrimaryKeyRelatedField(
        queryset=SubsidyAccessPolicy.objects.select_related("customer", "subsidy"),
        required=False,
        allow_null=True,
        help_text="The policy of rows without a subsidy_access_policy_uuid.",
    )
    reason = serializers.CharField(
        max_length=MAX_TEXT_CHARS, help_text="Why these are forced (e.g. a ticket); rows without a reason use it."
    )
    dry_run = serializers.BooleanField(required=False, default=False, help_text="Check only; it cannot be started.")


def _batch(uuid) -> ForcedRedemptionBatch:
    return get_object_or_404(
        ForcedRedemptionBatch.objects.select_related("created_by", "started_by", "cancelled_by"), pk=uuid
    )


def _detail(batch) -> dict:
    return BatchDetailSerializer(_batch(batch.pk), context={"with_policies": True}).data


@extend_schema_view(
    get=extend_schema(
        summary="List forced-redemption batches, newest first", responses={200: BatchSerializer(many=True)}
    ),
    post=extend_schema(
        summary="Upload a CSV of forced redemptions: every row is checked, nothing is charged",
        description="201 with the batch and its preview once checked (with a worker, `state` may still be "
        "`checking`: poll the batch). A file error is 400 `invalid_file` with `field_errors.file`; nothing is stored.",
        request={"multipart/form-data": UploadSerializer},
        responses={201: BatchDetailSerializer, **errors(400)},
    ),
)
class BatchList(generics.ListCreateAPIView):
    serializer_class = BatchSerializer
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        batches = ForcedRedemptionBatch.objects.select_related("created_by", "started_by", "cancelled_by")
        return selectors.with_numbers(batches).order_by("-created")

    def get(self, request, *args, **kwargs):
        _require_view(request)
        return super().get(request, *args, **kwargs)

    def post(self, request):
        _require_force(request)
        serializer = UploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data["file"]
        batch = services.upload_batch(
            file=upload,
            file_name=upload.name,
            actor=request.user,
            reason=data["reason"],
            policy=data.get("subsidy_access_policy"),
            dry_run=data["dry_run"],
        )
        return Response(_detail(batch), status=status.HTTP_201_CREATED)


class BatchDetail(APIView):
    @extend_schema(
        summary="A batch: its state, counts and preview", responses={200: BatchDetailSerializer, **errors(404)}
    )
    def get(self, request, uuid):
        _require_view(request)
        return Response(_detail(_batch(uuid)))


class BatchStart(APIView):
    @extend_schema(
        operation_id="forced_redemption_batches_start",
        summary="Confirm and run a checked batch (again on a running one: runs what is left; never a row twice)",
        request=None,
        responses={200: BatchDetailSerializer, **errors(404, 409)},
    )
    def post(self, request, uuid):
        _require_force(request)
        batch = services.start_batch(batch=_batch(uuid), actor=request.user)
        return Response(_detail(batch))


class BatchCancel(APIView):
    @extend_schema(
        operation_id="forced_redemption_batches_cancel",
        summary="Cancel a batch: rows not run yet are skipped",
        request=None,
        responses={200: BatchDetailSerializer, **errors(404, 409)},
    )
    def post(self, request, uuid):
        _require_force(request)
        batch = services.cancel_batch(batch=_batch(uuid), actor=request.user)
        return Response(_detail(batch))


class _Echo:
    def write(self, value):
        return value


def results_csv_response(batch: ForcedRedemptionBatch) -> StreamingHttpResponse:
    """Every row's verdict and outcome as CSV, streamed (bounded memory at 10,000 rows)."""
    writer = csv.writer(_Echo())
    lines = (writer.writerow(row) for row in _with_header(selectors.result_rows(batch)))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    stem = batch.file_name.rsplit(".", 1)[0] or "batch"
    response["Content-Disposition"] = f'attachment; filename="{stem}-results-{str(batch.pk)[:8]}.csv"'
    return response


def _with_header(rows):
    yield list(selectors.RESULT_COLUMNS)
    yield from rows


class BatchResults(APIView):
    @extend_schema(
        operation_id="forced_redemption_batches_results",
        summary="Every row with its verdict and outcome, as CSV",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR), **errors(404)},
    )
    def get(self, request, uuid):
        _require_view(request)
        return results_csv_response(_batch(uuid))
