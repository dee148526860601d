"""Fulfillment jobs: redemptions waiting for the LMS or the exec-ed provider, with every answer on record.

Registered from policies (like the ledger): "Retry now" and "Mark failed" are settlement use cases
(policies.settlement), above the fulfillment app. "Needs attention" lists pending jobs past
FULFILLMENT_MAX_ATTEMPTS tries; the reconciler still retries them at the longest backoff.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from common.admin import ReadOnlyAdminMixin, transaction_link
from common.errors import DomainError
from fulfillment.models import DownstreamCall, FulfillmentJob, JobState
from policies import settlement

MAX_JOBS_PER_ACTION = 100


class AttentionFilter(admin.SimpleListFilter):
    title = "attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("needs", f"Needs attention (pending after {settings.FULFILLMENT_MAX_ATTEMPTS} tries)")]

    def queryset(self, request, queryset):
        return queryset.filter(settlement.needs_attention_q()) if self.value() == "needs" else queryset


@admin.register(FulfillmentJob)
class FulfillmentJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "ledger_transaction",
        "state",
        "attempts",
        "lms_user_id",
        "course_run",
        "next_attempt_at",
        "last_error_reason",
        "created",
    )
    list_filter = (AttentionFilter, "state", "last_error_reason")
    list_select_related = ("course_run",)
    search_fields = ("=transaction_uuid", "lms_user_id__exact", "course_run__key")
    date_hierarchy = "created"
    show_full_result_count = False
    actions = ("retry_now", "mark_failed")
    fields = (
        "ledger_transaction",
        "state",
        "lms_user_id",
        "course_run",
        "customer_uuid",
        "attempts",
        "next_attempt_at",
        "claimed_until",
        "external_order_reference",
        "fulfillment_identifier",
        "last_error_reason",
        "last_error_message",
        "settled_at",
        "downstream_calls",
        "created",
        "modified",
    )
    readonly_fields = fields

    @admin.display(description="transaction", ordering="transaction_uuid")
    def ledger_transaction(self, obj: FulfillmentJob):
        return transaction_link(obj.transaction_uuid)

    @admin.display(description="every downstream answer")
    def downstream_calls(self, obj: FulfillmentJob):
        calls = DownstreamCall.objects.filter(transaction_uuid=obj.transaction_uuid)
        if not calls:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            (
                (
                    f"{c.at:%Y-%m-%d %H:%M:%S}",
                    c.attempt,
                    c.system,
                    c.operation,
                    c.outcome,
                    c.http_status or "-",
                    (c.body_excerpt or c.error)[:300],
                )
                for c in calls
            ),
        )
        return format_html(
            "<table><tr><th>at</th><th>try</th><th>call</th><th>outcome</th><th>HTTP</th><th>answer</th></tr>{}"
            "</table>",
            rows,
        )

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("fulfillment.change_fulfillmentjob")

    @admin.action(description="Retry now (one try each, whatever the schedule)", permissions=["change"])
    def retry_now(self, request, queryset):
        pending = queryset.filter(state=JobState.PENDING).values_list("transaction_uuid", flat=True)
        outcomes = settlement.try_jobs(list(pending[:MAX_JOBS_PER_ACTION]), whenever=True)
        self.message_user(
            request,
            f"{outcomes['committed']} committed, {outcomes['failed']} failed, {outcomes['pending']} still pending "
            f"(answer still unknown), {outcomes['skipped']} skipped (a try was under way or it was settled).",
            messages.INFO,
        )

    @admin.action(description="Mark failed (the downstream did not enroll): frees the money", permissions=["change"])
    def mark_failed(self, request, queryset):
        done = 0
        for job in queryset.filter(state=JobState.PENDING)[:MAX_JOBS_PER_ACTION]:
            try:
                settlement.mark_failed(transaction_uuid=job.transaction_uuid, actor=request.user, note="in the admin")
                done += 1
            except DomainError as error:
                self.message_user(
                    request, f"{job.transaction_uuid}: not marked failed. {error.message}", messages.ERROR
                )
        if done:
            self.message_user(request, f"{done} marked failed: their money is free again.", messages.SUCCESS)
