"""The forced-redemption list's filters. Each answers from fixed choices: no query over every record per page."""

from __future__ import annotations

from django.contrib import admin

from forced_redemptions.models import STATE_CONDITIONS, ForcedState
from policies.reasons import ALL_REASONS

# What a forced redemption can fail with: the redemption's refusals, then the tool's and the downstream's.
ERROR_REASONS = (
    *ALL_REASONS,
    "learner_not_found",
    "content_not_found",
    "missing_exec_ed_data",
    "invalid_requested_price",
    "enrollment_error",
    "fulfillment_error",
    "downstream_unavailable",
    "lock_wait_timeout",
    "too_many_failed_redemptions",
    "transaction_creation_error",
    "unexpected_error",
)


class StateFilter(admin.SimpleListFilter):
    """The derived state: reversed > redeemed > errored > pending > waiting (models.STATE_CONDITIONS)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return ForcedState.choices

    def queryset(self, request, queryset):
        condition = STATE_CONDITIONS.get(self.value())
        return queryset if condition is None else queryset.filter(condition)


class ErrorReasonFilter(admin.SimpleListFilter):
    """Errored records by the reason code of their last failure."""

    title = "error reason"
    parameter_name = "error_reason"

    def lookups(self, request, model_admin):
        return [(code, code.replace("_", " ")) for code in ERROR_REASONS]

    def queryset(self, request, queryset):
        return queryset if not self.value() else queryset.filter(error_reason=self.value())


class ArchivedFilter(admin.SimpleListFilter):
    """Archived records (errored, never charged) are hidden unless asked for: "Not archived" is the default."""

    title = "archived"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return [("yes", "Archived only"), ("all", "All")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Not archived",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset
        return queryset.filter(archived_at__isnull=self.value() != "yes")
