"""The list's columns and the page's read-only fields: the state badge, money, the attempts inline, and links to
every record a forced redemption touches (learner link, run, policy, ledger transaction, enrollment, assignment).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from assignments.models import LearnerContentAssignment
from catalog.selectors import find_course_run
from common.admin import admin_link, transaction_link
from common.money import format_cents
from customers.selectors import learner_link
from forced_redemptions.admin.outcomes import amount
from forced_redemptions.models import ForcedPolicyRedemption, ForcedRedemptionAttempt, ForcedState
from forced_redemptions.permissions import can_view
from fulfillment.models import Enrollment

_STATE_COLOURS = {
    ForcedState.REDEEMED: "#2e7d32",
    ForcedState.ERRORED: "#c62828",
    ForcedState.WAITING: "#8a6d00",
    ForcedState.PENDING: "#1565c0",
    ForcedState.REVERSED: "#546e7a",
}


def state_badge(record: ForcedPolicyRedemption):
    state = record.state
    badge = format_html('<strong class="forced-state" style="color: {}">{}</strong>', _STATE_COLOURS[state], state)
    if record.archived_at:
        return format_html('{} <span class="forced-archived">(archived)</span>', badge)
    return badge


class AttemptInline(admin.TabularInline):
    """Every attempt, oldest first, read-only: the audit trail of what was tried and what happened."""

    model = ForcedRedemptionAttempt
    extra = 0
    can_delete = False
    fields = ("attempted_at", "attempted_by", "outcome", "reason_code", "message", "attempt_transaction", "charged")
    readonly_fields = fields
    ordering = ("attempted_at", "pk")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("attempted_by")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return can_view(request.user)

    @admin.display(description="transaction")
    def attempt_transaction(self, attempt: ForcedRedemptionAttempt):
        return transaction_link(attempt.transaction_uuid)

    @admin.display(description="charged")
    def charged(self, attempt: ForcedRedemptionAttempt) -> str:
        return format_cents(attempt.charged_cents)


# The "Linked records" fieldset of a saved record.
LINK_FIELDS = (
    "learner_link",
    "course_run_link",
    "policy_link",
    "ledger_transaction",
    "enrollment_link",
    "assignment_link",
)


class ForcedColumnsMixin:
    """Display methods of ForcedPolicyRedemptionAdmin (list columns and read-only fields)."""

    @admin.display(description="policy", ordering="subsidy_access_policy__display_name")
    def policy(self, obj: ForcedPolicyRedemption) -> str:
        return obj.subsidy_access_policy.display_name

    @admin.display(description="customer", ordering="subsidy_access_policy__customer__name")
    def customer(self, obj: ForcedPolicyRedemption) -> str:
        return obj.subsidy_access_policy.customer.name

    @admin.display(description="learner", ordering="lms_user_id")
    def learner(self, obj: ForcedPolicyRedemption) -> str:
        email = getattr(obj, "learner_email", None)
        return f"{obj.lms_user_id} · {email}" if email else f"{obj.lms_user_id} · (not linked)"

    @admin.display(description="price")
    def price(self, obj: ForcedPolicyRedemption) -> str:
        if obj.charged_cents is not None:
            return format_cents(obj.charged_cents)
        if obj.content_price_cents is not None:
            return format_cents(obj.content_price_cents)
        return "list price"

    @admin.display(description="state")
    def state_label(self, obj: ForcedPolicyRedemption):
        return state_badge(obj)

    @admin.display(description="transaction")
    def ledger_transaction(self, obj: ForcedPolicyRedemption):
        return transaction_link(obj.transaction_uuid)

    @admin.display(description="charged")
    def charged(self, obj: ForcedPolicyRedemption) -> str:
        return amount(obj.charged_cents)

    @admin.display(description="traceback")
    def traceback_text(self, obj: ForcedPolicyRedemption):
        return format_html("<pre>{}</pre>", obj.traceback) if obj.traceback else "-"

    # Linked records.

    @admin.display(description="learner")
    def learner_link(self, obj: ForcedPolicyRedemption):
        link = learner_link(customer=obj.subsidy_access_policy.customer_id, lms_user_id=obj.lms_user_id)
        if link is None:
            return f"learner {obj.lms_user_id} (not linked to {obj.subsidy_access_policy.customer.name})"
        name = f" · {link.full_name}" if link.full_name else ""
        unlinked = "" if link.active else " (unlinked)"
        return admin_link("admin:customers_enterprisecustomeruser_change", link.pk, f"{link}{name}{unlinked}")

    @admin.display(description="course run")
    def course_run_link(self, obj: ForcedPolicyRedemption):
        run = find_course_run(obj.course_run_key)
        if run is None:
            return f"{obj.course_run_key} (unknown run)"
        return admin_link("admin:catalog_courserun_change", run.pk, f"{run.course.title} · {run.key}")

    @admin.display(description="policy")
    def policy_link(self, obj: ForcedPolicyRedemption):
        policy = obj.subsidy_access_policy
        return admin_link("admin:policies_subsidyaccesspolicy_change", policy.pk, policy.display_name)

    @admin.display(description="enrollment")
    def enrollment_link(self, obj: ForcedPolicyRedemption):
        if obj.transaction_uuid is None:
            return "-"
        enrollment = Enrollment.objects.select_related("course_run").filter(transaction_uuid=obj.transaction_uuid)
        enrollment = enrollment.first()
        if enrollment is None:
            return "-"
        active = "" if enrollment.active else " (unenrolled)"
        return admin_link("admin:fulfillment_enrollment_change", enrollment.pk, f"{enrollment}{active}")

    @admin.display(description="assignment")
    def assignment_link(self, obj: ForcedPolicyRedemption):
        if obj.transaction_uuid is None:
            return "-"
        assignment = LearnerContentAssignment.objects.filter(transaction_uuid=obj.transaction_uuid).first()
        if assignment is None:
            assigned = obj.subsidy_access_policy.assignment_configuration_id is not None
            return "-" if assigned else "- (not an assigned policy)"
        return admin_link("admin:assignments_learnercontentassignment_change", assignment.pk, assignment)
