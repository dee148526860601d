"""The policy list and page.

Saving goes through policies.services.save_policy (the model's clean() has already run
policies.validation through the form, so mistakes show per field); deleting is soft
(policies.services.soft_delete_policy), and deleted policies stay visible behind the "deleted" filter.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from assignments import selectors as assignment_selectors
from common.admin import HistoryAdmin, message_domain_error
from common.errors import DomainError
from common.money import format_cents
from customers.models import EnterpriseGroup
from policies.admin.tools import CHECK_PERMISSION, allocate_view, check_redeemability_view
from policies.models import PolicyType, SubsidyAccessPolicy
from policies.services import save_policy, soft_delete_policy
from subsidies import selectors as ledger_reads


class DeletedFilter(admin.SimpleListFilter):
    """Live policies by default; deleted ones (kept for their transactions) on demand."""

    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", "No"), ("yes", "Yes"), ("all", "All")]

    def choices(self, changelist):
        current = self.value() or "no"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "no"
        if value == "all":
            return queryset
        return queryset.filter(is_deleted=(value == "yes"))


@admin.register(SubsidyAccessPolicy)
class SubsidyAccessPolicyAdmin(HistoryAdmin):
    list_display = (
        "display_name",
        "policy_type",
        "customer",
        "subsidy",
        "active",
        "retired",
        "spend_limit",
        "spent",
        "is_deleted",
    )
    list_filter = (DeletedFilter, "policy_type", "active", "retired", "customer")
    list_select_related = ("customer", "subsidy")
    search_fields = ("display_name", "uuid", "customer__name", "customer__slug")
    autocomplete_fields = ("customer", "catalog", "subsidy")
    filter_horizontal = ("groups",)
    readonly_fields = ("uuid", "spend_summary", "assignments", "is_deleted", "deleted_at", "created", "modified")
    # Reverting could move a policy to another subsidy or bring a deleted one back; edit it instead.
    allow_revert = False

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            ("Policy", {"fields": ("display_name", "description", "policy_type", "customer")}),
            ("What it spends on", {"fields": ("subsidy", "catalog", "access_method")}),
            (
                "Limits",
                {"fields": ("spend_limit_cents", "per_learner_enrollment_limit", "per_learner_spend_limit_cents")},
            ),
            ("Availability", {"fields": ("active", "retired", "late_redemption_allowed_until")}),
            ("Who may redeem", {"fields": ("groups",)}),
        ]
        if obj is not None:
            fieldsets.append(("Spend", {"fields": ("spend_summary", "assignments")}))
            fieldsets.append(("Record", {"fields": ("uuid", "is_deleted", "deleted_at", "created", "modified")}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        # Transactions name the policy; its type, customer and subsidy are what they were charged under.
        return (*self.readonly_fields, "policy_type", "customer", "subsidy")

    def get_queryset(self, request):
        return (
            self.model.all_objects.get_queryset()
            .annotate(spent_total=ledger_reads.policy_spent_cents_expression())
            .order_by(*self.model._meta.ordering)
        )

    def get_search_results(self, request, queryset, search_term):
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        if request.path == reverse("admin:autocomplete"):
            queryset = queryset.filter(is_deleted=False)  # other forms can only pick live policies
        return queryset, duplicates

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = EnterpriseGroup.objects.select_related("customer")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None and "groups" in form.base_fields:
            field = form.base_fields["groups"]
            field.queryset = field.queryset.filter(customer_id=obj.customer_id)
        return form

    # Columns and read-only fields.

    @admin.display(description="spend limit", ordering="spend_limit_cents")
    def spend_limit(self, obj: SubsidyAccessPolicy) -> str:
        return "no limit" if obj.spend_limit_cents is None else format_cents(obj.spend_limit_cents)

    @admin.display(description="spent", ordering="spent_total")
    def spent(self, obj: SubsidyAccessPolicy) -> str:
        return format_cents(obj.spent_total)

    @admin.display(description="spend")
    def spend_summary(self, obj: SubsidyAccessPolicy) -> str:
        spend = ledger_reads.policy_spend(obj.pk)
        parts = [f"{format_cents(spend['spent_cents'])} spent in {spend['redemptions']} redemption(s)"]
        if obj.policy_type == PolicyType.ASSIGNED:
            allocated = assignment_selectors.allocated_total_cents(obj.assignment_configuration_id)
            parts.append(f"{format_cents(allocated)} allocated, not yet redeemed")
        if obj.spend_limit_cents is not None:
            parts.append(f"limit {format_cents(obj.spend_limit_cents)}")
        parts.append(f"subsidy balance {format_cents(ledger_reads.balance_cents(obj.subsidy_id))}")
        return "; ".join(parts)

    @admin.display(description="assignments")
    def assignments(self, obj: SubsidyAccessPolicy):
        if obj.assignment_configuration_id is None:
            return "-"
        url = (
            reverse("admin:assignments_learnercontentassignment_changelist")
            + f"?assignment_configuration__uuid__exact={obj.assignment_configuration_id}"
        )
        return format_html('<a href="{}">Assignments of this policy</a>', url)

    # Writes: through the services.

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        save_policy(obj, groups=form.cleaned_data.get("groups"))

    def save_related(self, request, form, formsets, change):
        # save_policy already set the groups (the form's only many-to-many field).
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), **self._tool_context(request)}
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            # save_policy re-validates under the subsidy lock; a concurrent change can still refuse it.
            # The admin's transaction has rolled back, so nothing was written.
            message_domain_error(request, error, prefix="Nothing was saved: ")
            return HttpResponseRedirect(request.get_full_path())

    def delete_model(self, request, obj):
        soft_delete_policy(obj)

    def delete_queryset(self, request, queryset):
        for policy in queryset.filter(is_deleted=False):
            soft_delete_policy(policy)

    def get_deleted_objects(self, objs, request):
        # Nothing cascades: the row stays (transactions refer to it), only redemption stops.
        names = [f"{obj} (kept as deleted; it stops all redemption)" for obj in objs]
        return names, {self.opts.verbose_name_plural: len(names)}, set(), []

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj is not None and obj.is_deleted)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.is_deleted)

    # The tools.

    def _tool_context(self, request) -> dict:
        return {"can_check_redeemability": request.user.has_perm(CHECK_PERMISSION)}

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), **self._tool_context(request)})

    def get_urls(self):
        site = self.admin_site
        return [
            path(
                "check-redeemability/",
                site.admin_view(lambda request: check_redeemability_view(self, request)),
                name="policies_subsidyaccesspolicy_check_redeemability",
            ),
            path(
                "<path:object_id>/allocate/",
                site.admin_view(lambda request, object_id: allocate_view(self, request, object_id)),
                name="policies_subsidyaccesspolicy_allocate",
            ),
            *super().get_urls(),
        ]
