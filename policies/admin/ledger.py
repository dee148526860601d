"""The subsidies app's ledger, read-only: transactions, deposits and reversals are written only by services.

Registered from policies, not subsidies, so that apps depend downwards only. The one write here is the
"Reverse (refund and unenroll)" action, which calls the policies' reversal unit of work: refunding a
redemption also unenrolls the learner and updates their assignment, so it is a policies use case rather
than a bare ledger entry (subsidies.services.reverse only refunds).
"""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import OuterRef, Subquery
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from common.admin import ReadOnlyAdminMixin
from common.errors import DomainError
from common.money import format_cents
from fulfillment.models import Enrollment
from policies.models import SubsidyAccessPolicy
from policies.services import reverse_redemption
from subsidies.models import Deposit, Reversal, Transaction

MAX_REVERSALS_PER_ACTION = 100


class PolicyFilter(admin.SimpleListFilter):
    """Transactions refer to their policy by uuid (the ledger sits below policies); list them by name."""

    title = "policy"
    parameter_name = "policy"

    def lookups(self, request, model_admin):
        return [
            (str(pk), name)
            for pk, name in SubsidyAccessPolicy.all_objects.order_by("display_name").values_list("pk", "display_name")
        ]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            policy_uuid = uuid.UUID(self.value())
        except ValueError:
            return queryset.none()
        return queryset.filter(subsidy_access_policy_uuid=policy_uuid)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "short_uuid",
        "created",
        "subsidy",
        "state",
        "amount",
        "lms_user_id",
        "content_key",
        "policy",
        "reversed",
    )
    list_filter = ("state", "subsidy", PolicyFilter)
    list_select_related = ("subsidy", "reversal")
    search_fields = ("uuid", "lms_user_id__exact", "content_key", "=idempotency_key")
    date_hierarchy = "created"
    show_full_result_count = False  # a ledger may hold 100,000 rows; one count is enough
    actions = ("reverse_redemptions",)
    fieldsets = (
        (None, {"fields": ("uuid", "subsidy", "state", "amount", "idempotency_key", "created", "modified")}),
        (
            "Redemption",
            {
                "fields": (
                    "lms_user_id",
                    "lms_user_email",
                    "content_key",
                    "parent_content_key",
                    "content_title",
                    "policy",
                    "fulfillment_identifier",
                    "enrollment",
                    "metadata",
                )
            },
        ),
        ("Outcome", {"fields": ("reversed", "reversal_details", "failure_reason", "failure_message")}),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    def get_queryset(self, request):
        policy_name = SubsidyAccessPolicy.all_objects.filter(pk=OuterRef("subsidy_access_policy_uuid")).values(
            "display_name"
        )
        return super().get_queryset(request).annotate(policy_name=Subquery(policy_name[:1]))

    @admin.display(description="uuid", ordering="uuid")
    def short_uuid(self, obj: Transaction) -> str:
        return str(obj.uuid)[:8]

    @admin.display(description="amount", ordering="quantity")
    def amount(self, obj: Transaction) -> str:
        return format_cents(obj.quantity)

    @admin.display(description="policy", ordering="policy_name")
    def policy(self, obj: Transaction):
        if obj.subsidy_access_policy_uuid is None:
            return "-"
        url = reverse("admin:policies_subsidyaccesspolicy_change", args=[obj.subsidy_access_policy_uuid])
        return format_html(
            '<a href="{}">{}</a>', url, getattr(obj, "policy_name", None) or obj.subsidy_access_policy_uuid
        )

    @admin.display(description="reversed", boolean=True)
    def reversed(self, obj: Transaction) -> bool:
        return hasattr(obj, "reversal")

    @admin.display(description="reversal")
    def reversal_details(self, obj: Transaction):
        if not hasattr(obj, "reversal"):
            return "-"
        r = obj.reversal
        when = f"{r.created:%Y-%m-%d %H:%M}"
        return f"{format_cents(r.quantity)} refunded {when} by {r.created_by or '-'}: {r.reason or '-'}"

    @admin.display(description="enrollment")
    def enrollment(self, obj: Transaction):
        found = Enrollment.objects.filter(transaction_uuid=obj.pk).first()
        if found is None:
            return "-"
        url = reverse("admin:fulfillment_enrollment_change", args=[found.pk])
        return format_html('<a href="{}">{}</a> ({})', url, found, "active" if found.active else "inactive")

    # Reverse (refund and unenroll): a confirmation page, then one reversal unit of work per row.

    def has_reverse_permission(self, request) -> bool:
        return request.user.has_perm("subsidies.add_reversal")

    @admin.action(description="Reverse (refund and unenroll)", permissions=["reverse"])
    def reverse_redemptions(self, request, queryset):
        entries = list(queryset.select_related("subsidy", "reversal")[: MAX_REVERSALS_PER_ACTION + 1])
        if len(entries) > MAX_REVERSALS_PER_ACTION:
            self.message_user(
                request,
                f"Choose at most {MAX_REVERSALS_PER_ACTION} transactions to reverse at once; nothing was reversed.",
                messages.WARNING,
            )
            return None
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Reverse redemptions?",
                "opts": self.opts,
                "entries": entries,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/subsidies/transaction/reverse_confirmation.html", context)
        reason = request.POST.get("reason", "").strip() or f"Reversed in the admin by {request.user}"
        for entry in entries:
            self._reverse_one(request, entry, reason)
        return None

    def _reverse_one(self, request, entry: Transaction, reason: str) -> None:
        label = f"Transaction {entry.uuid}"
        try:
            reversal = reverse_redemption(entry=entry, reason=reason, actor=request.user)
        except DomainError as error:
            self.message_user(request, f"{label}: not reversed. {error.message} ({error.reason})", messages.ERROR)
            return
        self.log_change(request, entry, f"Reversed: refunded {reversal.quantity} cents and unenrolled.")
        self.message_user(
            request,
            f"{label}: refunded {format_cents(reversal.quantity)} to {entry.subsidy}; learner {entry.lms_user_id} "
            f"unenrolled from {entry.content_key}.",
            messages.SUCCESS,
        )


@admin.register(Deposit)
class DepositAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created",
        "subsidy",
        "amount",
        "sales_contract_reference_id",
        "sales_contract_reference_provider",
        "created_by",
    )
    list_filter = ("subsidy", "sales_contract_reference_provider")
    list_select_related = ("subsidy", "created_by")
    search_fields = ("sales_contract_reference_id", "subsidy__title", "transaction__idempotency_key")
    date_hierarchy = "created"
    fields = (
        "uuid",
        "subsidy",
        "transaction",
        "amount",
        "sales_contract_reference_id",
        "sales_contract_reference_provider",
        "created_by",
        "created",
    )
    readonly_fields = fields

    @admin.display(description="amount", ordering="desired_deposit_quantity")
    def amount(self, obj: Deposit) -> str:
        return format_cents(obj.desired_deposit_quantity)


@admin.register(Reversal)
class ReversalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created", "transaction", "learner", "content_key", "amount", "reason", "created_by")
    list_filter = ("transaction__subsidy",)
    list_select_related = ("transaction", "created_by")
    search_fields = ("transaction__uuid", "transaction__lms_user_id__exact", "transaction__content_key", "reason")
    date_hierarchy = "created"
    fields = ("uuid", "transaction", "amount", "idempotency_key", "reason", "created_by", "created")
    readonly_fields = fields

    @admin.display(description="amount", ordering="quantity")
    def amount(self, obj: Reversal) -> str:
        return format_cents(obj.quantity)

    @admin.display(description="learner", ordering="transaction__lms_user_id")
    def learner(self, obj: Reversal):
        return obj.transaction.lms_user_id

    @admin.display(description="content", ordering="transaction__content_key")
    def content_key(self, obj: Reversal) -> str:
        return obj.transaction.content_key
