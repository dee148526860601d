"""Staff UI for customers, learner links and groups.

Plain data with no business rules beyond the model's own constraints, so the admin saves the models
directly. `search_fields` here are what other admins' `autocomplete_fields` for customers rely on.
"""

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from common.admin import HistoryAdmin
from customers.models import EnterpriseCustomer, EnterpriseCustomerUser, EnterpriseGroup


def _learners_url(customer_pk) -> str:
    return reverse("admin:customers_enterprisecustomeruser_changelist") + f"?customer__uuid__exact={customer_pk}"


class GroupFilter(admin.RelatedFieldListFilter):
    """Group choices named with their customer, read in one query (a group's str() reads its customer)."""

    def field_choices(self, field, request, model_admin):
        rows = EnterpriseGroup.objects.order_by("customer__name", "name").values_list("pk", "name", "customer__name")
        return [(pk, f"{name} ({customer})") for pk, name, customer in rows]


@admin.register(EnterpriseCustomer)
class EnterpriseCustomerAdmin(HistoryAdmin):
    list_display = ("name", "slug", "active", "contact_email", "data_sharing_consent_required", "learners")
    list_filter = ("active", "data_sharing_consent_required")
    ordering = ("name",)  # Meta.ordering does not apply to the aggregated queryset
    search_fields = ("name", "slug", "uuid", "contact_email")
    date_hierarchy = "created"
    readonly_fields = ("uuid", "learners", "created", "modified")
    fields = (
        "uuid",
        "name",
        "slug",
        "active",
        "contact_email",
        "data_sharing_consent_required",
        "learners",
        "created",
        "modified",
    )
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(learner_count=Count("learners"))

    @admin.display(description="learners", ordering="learner_count")
    def learners(self, obj: EnterpriseCustomer):
        if obj.pk is None:
            return "-"
        count = getattr(obj, "learner_count", None)
        if count is None:
            count = obj.learners.count()
        return format_html('<a href="{}">{} learner link(s)</a>', _learners_url(obj.pk), count)

    def get_prepopulated_fields(self, request, obj=None):
        # The slug is an identifier other systems use; it is only suggested when the customer is new.
        return self.prepopulated_fields if obj is None else {}


@admin.register(EnterpriseGroup)
class EnterpriseGroupAdmin(HistoryAdmin):
    list_display = ("name", "customer", "member_count", "created")
    ordering = ("name",)
    list_filter = ("customer",)
    list_select_related = ("customer",)
    search_fields = ("name", "customer__name", "customer__slug")
    autocomplete_fields = ("customer",)
    readonly_fields = ("uuid", "created", "modified")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members_total=Count("members"))

    @admin.display(description="members", ordering="members_total")
    def member_count(self, obj: EnterpriseGroup) -> int:
        return obj.members_total


@admin.register(EnterpriseCustomerUser)
class EnterpriseCustomerUserAdmin(HistoryAdmin):
    list_display = ("lms_user_id", "email", "full_name", "customer", "active", "created")
    list_display_links = ("lms_user_id", "email")
    list_filter = ("active", "customer", ("groups", GroupFilter))
    list_select_related = ("customer",)
    # `lms_user_id__exact` compares as text, so a non-numeric search term is no error.
    search_fields = ("lms_user_id__exact", "email", "first_name", "last_name")
    autocomplete_fields = ("customer",)
    filter_horizontal = ("groups",)
    readonly_fields = ("created", "modified")
    fieldsets = (
        (None, {"fields": ("customer", "lms_user_id", "email", "first_name", "last_name", "active")}),
        ("Groups", {"fields": ("groups",)}),
        ("Record", {"fields": ("created", "modified")}),
    )

    @admin.display(description="name", ordering="last_name")
    def full_name(self, obj: EnterpriseCustomerUser) -> str:
        return obj.full_name

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = EnterpriseGroup.objects.select_related("customer")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None and "groups" in form.base_fields:
            # Only the learner's own customer's groups make sense (policies match groups per customer).
            field = form.base_fields["groups"]
            field.queryset = field.queryset.filter(customer_id=obj.customer_id)
        return form

    def get_readonly_fields(self, request, obj=None):
        # A learner link's identity is (customer, lms_user_id); fixing one means unlinking and linking anew.
        if obj is not None:
            return (*self.readonly_fields, "customer", "lms_user_id")
        return self.readonly_fields
