"""Staff UI for enrollments: read-only. Enrollments change only through redemptions and reversals."""

from django.contrib import admin

from common.admin import ReadOnlyAdminMixin, transaction_link
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
        return transaction_link(obj.transaction_uuid)
