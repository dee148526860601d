"""Staff UI for assignment configurations and learner assignments.

Assignments move through their states only by services (allocation from the policy admin, redemption,
reversal), so they are read-only here apart from the "Cancel" action; the action timeline is shown
read-only under each assignment.
"""

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html

from assignments.models import (
    AssignmentConfiguration,
    AssignmentState,
    LearnerContentAssignment,
    LearnerContentAssignmentAction,
)
from assignments.services import cancel, lock_assignment
from common.admin import HistoryAdmin, ReadOnlyAdminMixin, transaction_link
from common.errors import DomainError
from common.locking import bound_lock_wait, lock_errors_as_domain
from common.money import format_cents


@admin.register(AssignmentConfiguration)
class AssignmentConfigurationAdmin(HistoryAdmin):
    list_display = ("__str__", "customer", "active", "policy_link", "allocated_count", "assignment_count", "created")
    list_filter = ("active", "customer")
    ordering = ("-created",)
    list_select_related = ("customer", "policy")
    search_fields = ("uuid", "customer__name", "customer__slug")
    autocomplete_fields = ("customer",)
    fields = ("uuid", "customer", "active", "policy_link", "assignments_link", "created", "modified")
    readonly_fields = ("uuid", "policy_link", "assignments_link", "created", "modified")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                assignments_total=Count("assignments"),
                allocated_total=Count("assignments", filter=Q(assignments__state=AssignmentState.ALLOCATED)),
            )
        )

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "customer") if obj is not None else self.readonly_fields

    @admin.display(description="policy")
    def policy_link(self, obj: AssignmentConfiguration):
        policy = getattr(obj, "policy", None) if obj.pk else None
        if policy is None:
            return "-"
        url = reverse("admin:policies_subsidyaccesspolicy_change", args=[policy.pk])
        return format_html('<a href="{}">{}</a>', url, policy)

    @admin.display(description="assignments")
    def assignments_link(self, obj: AssignmentConfiguration):
        if obj.pk is None:
            return "-"
        url = (
            reverse("admin:assignments_learnercontentassignment_changelist")
            + f"?assignment_configuration__uuid__exact={obj.pk}"
        )
        return format_html('<a href="{}">{} assignment(s)</a>', url, obj.assignments_total)

    @admin.display(description="allocated", ordering="allocated_total")
    def allocated_count(self, obj: AssignmentConfiguration) -> int:
        return obj.allocated_total

    @admin.display(description="assignments", ordering="assignments_total")
    def assignment_count(self, obj: AssignmentConfiguration) -> int:
        return obj.assignments_total


class ActionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LearnerContentAssignmentAction
    fields = ("created", "action_type", "completed_at", "error_reason", "note")
    readonly_fields = fields
    extra = 0
    ordering = ("created",)
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline"


@admin.register(LearnerContentAssignment)
class LearnerContentAssignmentAdmin(ReadOnlyAdminMixin, HistoryAdmin):
    list_display = ("learner_email", "lms_user_id", "content_key", "state", "price", "customer", "created")
    list_filter = ("state", "assignment_configuration__customer")
    list_select_related = ("assignment_configuration__customer",)
    search_fields = ("learner_email", "lms_user_id__exact", "content_key", "uuid", "transaction_uuid")
    date_hierarchy = "created"
    actions = ("cancel_allocated",)
    fields = (
        "uuid",
        "assignment_configuration",
        "learner_email",
        "lms_user_id",
        "content_key",
        "content_title",
        "price",
        "state",
        "transaction_link",
        "created",
        "modified",
    )
    readonly_fields = fields
    inlines = (ActionInline,)

    @admin.display(description="price", ordering="content_quantity")
    def price(self, obj: LearnerContentAssignment) -> str:
        return format_cents(-obj.content_quantity)

    @admin.display(description="customer", ordering="assignment_configuration__customer__name")
    def customer(self, obj: LearnerContentAssignment):
        return obj.assignment_configuration.customer

    @admin.display(description="transaction")
    def transaction_link(self, obj: LearnerContentAssignment):
        return transaction_link(obj.transaction_uuid)

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("assignments.change_learnercontentassignment")

    @admin.action(description="Cancel (allocated assignments only)", permissions=["cancel"])
    def cancel_allocated(self, request, queryset):
        cancelled = skipped = 0
        for pk in queryset.values_list("pk", flat=True):
            try:
                with transaction.atomic(), lock_errors_as_domain():
                    bound_lock_wait()
                    # Locked, so a redemption of the same assignment either finishes first or waits.
                    assignment = lock_assignment(pk)
                    if assignment.state != AssignmentState.ALLOCATED:
                        skipped += 1
                        continue
                    cancel(assignment)
            except DomainError as error:
                self.message_user(request, f"Assignment {pk}: not cancelled. {error.message}", messages.ERROR)
                continue
            cancelled += 1
            self.log_change(request, assignment, "Cancelled.")
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} assignment(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"Left {skipped} assignment(s) alone: only allocated assignments can be cancelled.",
                messages.WARNING,
            )
