"""Staff UI for enrollments: read-only. Enrollments change only through redemptions and reversals."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from common.admin import ReadOnlyAdminMixin
from fulfillment.models import Enrollment


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("lms_user_id", "course_run", "active", "forced", "ledger_transaction", "created")
    list_filter = ("active", "forced", "course_run__course__product_source")
    list_select_related = ("course_run",)
    search_fields = ("lms_user_id__exact", "course_run__key", "transaction_uuid", "external_order_reference")
    date_hierarchy = "created"
    show_full_result_count = False
    fields = (
        "uuid",
        "lms_user_id",
        "course_run",
        "active",
        "forced",
        "ledger_transaction",
        "external_order_reference",
        "created",
        "modified",
    )
    readonly_fields = fields

    @admin.display(description="transaction", ordering="transaction_uuid")
    def ledger_transaction(self, obj: Enrollment):
        if obj.transaction_uuid is None:
            return "-"
        url = reverse("admin:subsidies_transaction_change", args=[obj.transaction_uuid])
        return format_html('<a href="{}">{}</a>', url, obj.transaction_uuid)
