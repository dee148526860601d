"""Staff UI for courses, course runs and catalogs.

Runs are what learners enroll in; the "past deadline" column and filter show at a glance which runs
only a forced redemption (or a late-redemption window) can still reach.
"""

from django.contrib import admin
from django.db.models import Count, Q
from django.utils import timezone

from catalog.models import Catalog, Course, CourseRun
from common.admin import HistoryAdmin
from common.money import format_cents


class PastDeadlineFilter(admin.SimpleListFilter):
    title = "past enrollment deadline"
    parameter_name = "past_deadline"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(enroll_by__lt=now)
        if self.value() == "no":
            return queryset.filter(Q(enroll_by__isnull=True) | Q(enroll_by__gte=now))
        return queryset


class CourseRunInline(admin.TabularInline):
    model = CourseRun
    extra = 0
    fields = ("key", "start", "end", "enroll_by", "is_enrollable", "price_cents", "variant_id")
    show_change_link = True


@admin.register(Course)
class CourseAdmin(HistoryAdmin):
    list_display = ("key", "title", "product_source", "run_count", "created")
    ordering = ("key",)  # Meta.ordering does not apply to the aggregated queryset
    list_filter = ("product_source",)
    search_fields = ("key", "title")
    readonly_fields = ("created", "modified")
    inlines = (CourseRunInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(runs_total=Count("runs"))

    @admin.display(description="runs", ordering="runs_total")
    def run_count(self, obj: Course) -> int:
        return obj.runs_total


@admin.register(CourseRun)
class CourseRunAdmin(HistoryAdmin):
    list_display = ("key", "course", "price", "start", "enroll_by", "is_enrollable", "past_deadline")
    list_filter = ("is_enrollable", PastDeadlineFilter, "course__product_source")
    list_select_related = ("course",)
    search_fields = ("key", "course__key", "course__title")
    date_hierarchy = "start"
    autocomplete_fields = ("course",)
    readonly_fields = ("price", "past_deadline", "created", "modified")
    fieldsets = (
        (None, {"fields": ("key", "course", "variant_id")}),
        ("Dates (UTC)", {"fields": ("start", "end", "enroll_by", "past_deadline")}),
        ("Enrollment", {"fields": ("is_enrollable", "price_cents", "price")}),
        ("Record", {"fields": ("created", "modified")}),
    )

    @admin.display(description="price", ordering="price_cents")
    def price(self, obj: CourseRun) -> str:
        return format_cents(obj.price_cents)

    @admin.display(description="past deadline", boolean=True, ordering="enroll_by")
    def past_deadline(self, obj: CourseRun) -> bool:
        return obj.is_past_enroll_by()


@admin.register(Catalog)
class CatalogAdmin(HistoryAdmin):
    list_display = ("title", "customer", "course_count", "created")
    ordering = ("title",)  # Meta.ordering does not apply to the aggregated queryset
    list_filter = ("customer",)
    list_select_related = ("customer",)
    search_fields = ("title", "uuid", "customer__name", "customer__slug")
    autocomplete_fields = ("customer",)
    filter_horizontal = ("courses",)
    readonly_fields = ("uuid", "created", "modified")
    fields = ("uuid", "title", "customer", "courses", "created", "modified")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(courses_total=Count("courses"))

    @admin.display(description="courses", ordering="courses_total")
    def course_count(self, obj: Catalog) -> int:
        return obj.courses_total
