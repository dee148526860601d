"""The batch admin (issue 13): "Force redemptions from a file", the preview staff confirm, the live progress
and the results. A thin adapter over forced_batches.services; a batch changes only through them.

- The add page is the upload form; saving it stores and checks the rows (nothing is charged) and opens
  the batch's page.
- The batch's page is the preview while it waits (totals, refused rows and why, what the rest will charge
  against each balance and spend limit) with a button that says what it does, "Redeem 297 and charge
  $29,700.00"; once started, a progress bar fed by `progress/` (JSON); the results CSV at any time.
- Rows are listed (read-only) per batch, each linked to its forced redemption.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from common.admin import ReadOnlyAdminMixin, add_domain_error
from common.errors import DomainError
from common.money import format_cents
from forced_batches import selectors, services
from forced_batches.api import results_csv_response
from forced_batches.models import BatchRow, BatchState, ForcedRedemptionBatch, Verdict
from forced_redemptions.permissions import can_force, can_view, missing_force_permission
from policies.models import SubsidyAccessPolicy

PREVIEW_ROWS = 200


class UploadForm(forms.Form):
    file = forms.FileField(
        help_text="CSV, UTF-8, up to 10,000 rows. Columns: lms_user_id or email, course_run_key, and optionally "
        "subsidy_access_policy_uuid, content_price_cents, reason and the exec-ed columns (geag_first_name, "
        "geag_last_name, geag_date_of_birth, geag_terms_accepted_at, geag_data_share_consent, "
        "external_order_reference)."
    )
    subsidy_access_policy = forms.ModelChoiceField(
        queryset=SubsidyAccessPolicy.objects.select_related("customer", "subsidy").order_by("display_name"),
        required=False,
        help_text="The policy of rows without a subsidy_access_policy_uuid column value.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why these redemptions are forced (the support ticket); rows without their own reason use it.",
    )
    dry_run = forms.BooleanField(required=False, label="Dry run (check only; the batch can never be started)")


def _state_badge(batch: ForcedRedemptionBatch):
    colours = {
        BatchState.CHECKING: "#8a6d00",
        BatchState.CHECKED: "#1565c0",
        BatchState.RUNNING: "#1565c0",
        BatchState.FINISHED: "#2e7d32",
        BatchState.CANCELLED: "#546e7a",
    }
    return format_html('<strong style="color: {}">{}</strong>', colours[batch.state], batch.get_state_display())


@admin.register(ForcedRedemptionBatch)
class ForcedRedemptionBatchAdmin(admin.ModelAdmin):
    list_display = ("state_label", "file_name", "total_rows", "policy", "dry_run", "created_by", "created")
    list_display_links = ("file_name",)
    list_filter = ("state", "dry_run", "created")
    search_fields = ("file_name", "reason", "file_sha256")
    show_full_result_count = False
    change_list_template = "admin/forced_batches/forcedredemptionbatch/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("subsidy_access_policy", "created_by")

    # Permissions: uploading and running are forcing; reading is viewing forced redemptions.

    def has_add_permission(self, request) -> bool:
        return can_force(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a batch changes only through its buttons (start, cancel)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # it is the audit trail of what was forced from the file

    def has_view_permission(self, request, obj=None) -> bool:
        return can_view(request.user)

    def has_module_permission(self, request) -> bool:
        return can_view(request.user)

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/start/", wrap(self.start_view), name=f"{info}_start"),
            path("<path:object_id>/cancel/", wrap(self.cancel_view), name=f"{info}_cancel"),
            path("<path:object_id>/check/", wrap(self.check_view), name=f"{info}_check"),
            path("<path:object_id>/progress/", wrap(self.progress_view), name=f"{info}_progress"),
            path("<path:object_id>/results.csv", wrap(self.results_view), name=f"{info}_results"),
            *super().get_urls(),
        ]

    # The upload page (the add view).

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied(missing_force_permission("Forcing redemptions from a file"))
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                batch = services.upload_batch(
                    file=data["file"],
                    file_name=data["file"].name,
                    actor=request.user,
                    reason=data["reason"],
                    policy=data["subsidy_access_policy"],
                    dry_run=data["dry_run"],
                )
            except DomainError as error:
                add_domain_error(form, error)
            else:
                self.log_addition(request, batch, f"Uploaded {batch.file_name} ({batch.total_rows} rows).")
                messages.info(
                    request,
                    f"Read {batch.total_rows} rows from {batch.file_name} and checked them; nothing was charged. "
                    f"Review the preview, then confirm.",
                )
                return HttpResponseRedirect(self._url("change", batch))
        context = {
            **self.admin_site.each_context(request),
            "title": "Force redemptions from a file",
            "opts": self.opts,
            "form": form,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/forced_batches/forcedredemptionbatch/upload.html", context)

    # The batch's page: preview, confirmation, progress, results.

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = self._batch(request, object_id)
        numbers = selectors.summary(batch)
        refused = BatchRow.objects.filter(batch=batch, verdict=Verdict.REFUSED).order_by("line")
        redeemable = BatchRow.objects.filter(batch=batch, verdict=Verdict.REDEEMABLE).order_by("line")
        may_force = can_force(request.user)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Forced redemption batch: {batch.file_name}",
            "opts": self.opts,
            "original": batch,
            "batch": batch,
            "summary": numbers,
            "state_label": _state_badge(batch),
            "to_charge": format_cents(numbers.to_charge_cents),
            "charged": format_cents(numbers.charged_cents),
            "policies": [_policy_view(total) for total in numbers.policies],
            "refused_rows": refused[:PREVIEW_ROWS],
            "redeemable_rows": redeemable.select_related("forced_redemption")[:PREVIEW_ROWS],
            "preview_rows": PREVIEW_ROWS,
            "can_start": may_force and batch.state == BatchState.CHECKED and not batch.dry_run and numbers.redeemable,
            "can_restart": may_force and batch.state == BatchState.RUNNING,
            "can_recheck": may_force and batch.state == BatchState.CHECKING and services.check_stalled(batch),
            "check_url": self._url("check", batch),
            "can_cancel": may_force and batch.state in (BatchState.CHECKING, BatchState.CHECKED, BatchState.RUNNING),
            "confirm_label": f"Redeem {numbers.redeemable} and charge {format_cents(numbers.to_charge_cents)}",
            "live": batch.state in (BatchState.CHECKING, BatchState.RUNNING),
            "start_url": self._url("start", batch),
            "cancel_url": self._url("cancel", batch),
            "progress_url": self._url("progress", batch),
            "results_url": self._url("results", batch),
            "rows_url": reverse("admin:forced_batches_batchrow_changelist") + f"?batch__uuid__exact={batch.pk}",
            "forced_url": reverse("admin:forced_redemptions_forcedpolicyredemption_changelist"),
            "same_file": ForcedRedemptionBatch.objects.filter(file_sha256=batch.file_sha256).exclude(pk=batch.pk)[:10],
        }
        return TemplateResponse(request, "admin/forced_batches/forcedredemptionbatch/batch.html", context)

    def start_view(self, request, object_id):
        return self._act(request, object_id, services.start_batch, "started", _run_message)

    def check_view(self, request, object_id):
        """Check the rows a stopped check left (its worker died, or the server stopped mid-request)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        batch = self._batch(request, object_id, force=True)
        batch = services.resume_check(batch)
        self.message_user(request, f"Checking the rows left: {batch.get_state_display()}.", messages.INFO)
        return HttpResponseRedirect(self._url("change", batch))

    def cancel_view(self, request, object_id):
        return self._act(request, object_id, services.cancel_batch, "cancelled", _cancel_message)

    def _act(self, request, object_id, service, done: str, message):
        """POST only: `service` on the batch as the staff user, logged, and what it did (or why not) said."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        batch = self._batch(request, object_id, force=True)
        try:
            batch = service(batch=batch, actor=request.user)
        except DomainError as error:
            messages.error(request, f"Not {done}: {error.message} ({error.reason})")
        else:
            self.log_change(request, batch, f"{done.capitalize()}.")
            batch.refresh_from_db()
            messages.add_message(request, *message(batch))
        return HttpResponseRedirect(self._url("change", batch))

    def progress_view(self, request, object_id):
        batch = self._batch(request, object_id)
        numbers = selectors.summary(batch, with_policies=False)
        return JsonResponse(
            {
                "state": batch.state,
                "state_label": batch.get_state_display(),
                "counts": numbers.counts(),
                "percent_checked": numbers.percent_checked,
                "percent_done": numbers.percent_done,
                "charged": format_cents(numbers.charged_cents),
            }
        )

    def results_view(self, request, object_id):
        return results_csv_response(self._batch(request, object_id))

    # Columns and helpers.

    @admin.display(description="state", ordering="state")
    def state_label(self, batch: ForcedRedemptionBatch):
        return _state_badge(batch)

    @admin.display(description="policy")
    def policy(self, batch: ForcedRedemptionBatch) -> str:
        return batch.subsidy_access_policy.display_name if batch.subsidy_access_policy else "per row"

    def _batch(self, request, object_id, *, force: bool = False) -> ForcedRedemptionBatch:
        if force and not can_force(request.user):
            raise PermissionDenied(missing_force_permission("Running a batch of forced redemptions"))
        if not force and not can_view(request.user):
            raise PermissionDenied("Reading a batch needs the permission to view forced redemptions.")
        batch = self.get_object(request, unquote(object_id))  # None for an unknown or malformed uuid
        if batch is None:
            raise Http404("No such forced redemption batch.")
        return batch

    def _url(self, name: str, batch) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[batch.pk])


def _policy_view(total: selectors.PolicyTotal) -> dict:
    after = total.balance_cents - total.charge_cents
    limit_left = None if total.spend_limit_cents is None else total.spend_limit_cents - total.spent_cents
    return {
        "name": total.policy_name,
        "uuid": total.policy_uuid,
        "rows": total.rows,
        "charge": format_cents(total.charge_cents),
        "balance": format_cents(total.balance_cents),
        "balance_after": format_cents(after),
        "spend_left": "no limit" if limit_left is None else format_cents(limit_left),
        "spend_left_after": "no limit" if limit_left is None else format_cents(limit_left - total.charge_cents),
    }


def _cancel_message(batch: ForcedRedemptionBatch) -> tuple[int, str]:
    numbers = selectors.summary(batch, with_policies=False)
    return messages.WARNING, (
        f"Cancelled. {numbers.redeemed} redeemed before it stopped; {numbers.skipped} skipped, not charged."
    )


def _run_message(batch: ForcedRedemptionBatch) -> tuple[int, str]:
    numbers = selectors.summary(batch, with_policies=False)
    if batch.state == BatchState.RUNNING:
        return messages.INFO, "Started: the rows run in the background; this page shows their progress."
    parts = [
        (numbers.redeemed, "redeemed"),
        (numbers.pending, "pending"),
        (numbers.errored, "errored (nothing charged; see each forced redemption)"),
        (numbers.skipped, "skipped (refused by the check, not charged)"),
    ]
    counted = ", ".join(f"{count} {label}" for count, label in parts if count) or "no row run"
    text = f"{counted}; charged {format_cents(numbers.charged_cents)}."
    return (messages.SUCCESS if not numbers.errored else messages.WARNING), f"Finished. {text}"


@admin.register(BatchRow)
class BatchRowAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("line", "batch_link", "learner", "course_run_key", "verdict", "check_reason", "outcome_now",
                    "outcome_reason", "record")  # fmt: skip
    list_filter = ("verdict", "outcome", "check_reason")
    search_fields = ("email", "course_run_key", "=lms_user_id")
    list_select_related = ("batch", "forced_redemption")
    show_full_result_count = False
    readonly_fields = [field.name for field in BatchRow._meta.fields]

    def has_view_permission(self, request, obj=None) -> bool:
        return can_view(request.user)

    def has_module_permission(self, request) -> bool:
        return can_view(request.user)

    @admin.display(description="batch")
    def batch_link(self, row: BatchRow):
        url = reverse("admin:forced_batches_forcedredemptionbatch_change", args=[row.batch_id])
        return format_html('<a href="{}">{}</a>', url, row.batch.file_name)

    @admin.display(description="learner")
    def learner(self, row: BatchRow) -> str:
        if row.lms_user_id and row.email:
            return f"{row.lms_user_id} · {row.email}"
        return str(row.lms_user_id or row.email)

    @admin.display(description="outcome")
    def outcome_now(self, row: BatchRow) -> str:
        return selectors.row_outcome(row) or "not run"

    @admin.display(description="forced redemption")
    def record(self, row: BatchRow):
        if row.forced_redemption_id is None:
            return "-"
        url = reverse("admin:forced_redemptions_forcedpolicyredemption_change", args=[row.forced_redemption_id])
        return format_html('<a href="{}">{}</a>', url, row.forced_redemption_id)
