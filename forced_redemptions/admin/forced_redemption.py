"""The forced-redemption admin (ADR 0019): a thin adapter over forced_redemptions.services.

Saving calls create_forced_redemption / update_forced_redemption exactly once (in `save_model`), as
the staff user; `response_add` / `response_change` then say what happened instead of Django's generic
"was added successfully". Domain errors that the form can catch become form errors (forms.py).
A redeemed record is undone with its "Reverse (refund and unenroll)" page (reverse.py), not an edit.
"""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from common.admin import HistoryAdmin, message_domain_error, transaction_link
from common.errors import DomainError
from common.models import MAX_LMS_USER_ID
from common.money import format_cents
from customers.models import EnterpriseCustomerUser
from forced_redemptions import selectors
from forced_redemptions.admin.check import check_view
from forced_redemptions.admin.filters import ErrorReasonFilter, StateFilter
from forced_redemptions.admin.forms import ForcedRedemptionForm
from forced_redemptions.admin.outcomes import amount, describe, outcome_message, settled
from forced_redemptions.admin.reverse import can_reverse, reverse_view
from forced_redemptions.models import ForcedPolicyRedemption, ForcedRedemptionAttempt, ForcedState
from forced_redemptions.permissions import can_force, can_view, missing_force_permission
from forced_redemptions.services import (
    EXEC_ED_FIELDS,
    SETTLED_FIELDS,
    create_forced_redemption,
    redeem_forced,
    update_forced_redemption,
)


def _search_word(word: str) -> Q:
    """Records that one search word finds (see ForcedRedemptionAdmin.get_search_results)."""
    emails = EnterpriseCustomerUser.objects.filter(email__icontains=word)
    same_customer = emails.filter(
        customer__policies=OuterRef("subsidy_access_policy_id"), lms_user_id=OuterRef("lms_user_id")
    )
    # The run key and the reason (where the ticket reference is) are read for every word anyway: one pass.
    match = (
        Q(course_run_key__icontains=word)
        | Q(reason__icontains=word)
        | (Q(lms_user_id__in=emails.values("lms_user_id")) & Q(Exists(same_customer)))
    )
    try:
        value = uuid.UUID(word)
    except ValueError:
        pass
    else:
        match |= Q(uuid=value) | Q(subsidy_access_policy_id=value) | Q(transaction_uuid=value)
    if word.isascii() and word.isdigit() and int(word) <= MAX_LMS_USER_ID:
        match |= Q(lms_user_id=int(word))
    return match


INPUT_FIELDS = ("subsidy_access_policy", "lms_user_id", "course_run_key", "content_price_cents", "wait_to_redeem")
OUTCOME_FIELDS = (
    "uuid",
    "state_label",
    "redeemed_at",
    "ledger_transaction",
    "charged",
    "reversed_at",
    "errored_at",
    "error_reason",
    "error_message",
    "traceback_text",
)
RECORD_FIELDS = ("created_by", "created", "modified_by", "modified")


_STATE_COLOURS = {
    ForcedState.REDEEMED: "#2e7d32",
    ForcedState.ERRORED: "#c62828",
    ForcedState.WAITING: "#8a6d00",
    ForcedState.PENDING: "#1565c0",
    ForcedState.REVERSED: "#546e7a",
}


def state_badge(record: ForcedPolicyRedemption):
    state = record.state
    return format_html('<strong class="forced-state" style="color: {}">{}</strong>', _STATE_COLOURS[state], state)


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


@admin.register(ForcedPolicyRedemption)
class ForcedPolicyRedemptionAdmin(HistoryAdmin):
    form = ForcedRedemptionForm
    change_form_template = "admin/forced_redemptions/forcedpolicyredemption/change_form.html"
    autocomplete_fields = ("subsidy_access_policy",)
    inlines = (AttemptInline,)
    actions = ("redeem_now",)
    # Records change only through the services; reverting an old version would bypass them.
    allow_revert = False

    list_display = (
        "state_label",
        "uuid",
        "policy",
        "customer",
        "learner",
        "course_run_key",
        "price",
        "error_reason",
        "redeemed_at",
        "reversed_at",
        "errored_at",
        "created_by",
    )
    list_display_links = ("uuid",)
    list_filter = (
        StateFilter,
        ErrorReasonFilter,
        # Not RelatedOnlyFieldListFilter and no date_hierarchy: each costs a pass over every record on every
        # page view (DISTINCT policy, customer, day); the "created" filter's ranges cost no query.
        "subsidy_access_policy",
        "subsidy_access_policy__customer",
        "created",
        "redeemed_at",
    )
    search_fields = (  # what get_search_results matches, and how (it does not use this list)
        "uuid",
        "subsidy_access_policy__uuid",
        "lms_user_id__exact",
        "course_run_key",
        "learner_email",  # annotated by selectors.forced_redemptions()
        "transaction_uuid",
        "reason",  # the ticket reference staff put there
    )
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        """Each word must match one of `search_fields`, as Django's search does, but each field in the cheap way.

        Django's own search casts every uuid to text and runs `icontains` on the annotated learner-email
        subquery, so every record is read and its subquery run (1.4 s at 100,000 records on PostgreSQL).
        Here uuids match exactly when the word is one, the learner id when it is a number, and an email
        through a semi-join on EnterpriseCustomerUser (a learner id among the matching emails' ids, then
        the same customer), so a search costs about what the matching rows cost.
        """
        words = [
            unescape_string_literal(word) if word[:1] in "\"'" and word[-1:] == word[:1] else word
            for word in smart_split(search_term)
        ]
        for word in filter(None, words):
            queryset = queryset.filter(_search_word(word))
        return queryset, False

    # Pages.

    def get_queryset(self, request):
        queryset = selectors.forced_redemptions()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": (*INPUT_FIELDS, "reason")}),
            (
                "Executive education (only for exec-ed runs)",
                {
                    "classes": ("collapse",),
                    "description": "The external provider needs these unless an order already exists there. "
                    "Blank names fall back to the learner's link; consent only when the customer requires it.",
                    "fields": EXEC_ED_FIELDS,
                },
            ),
        ]
        if obj is not None:
            fieldsets += [("Outcome", {"fields": OUTCOME_FIELDS}), ("Record", {"fields": RECORD_FIELDS})]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        readonly = (*OUTCOME_FIELDS, *RECORD_FIELDS)
        if obj is not None and obj.redeemed_at:
            # Settled (DOMAIN.md invariant 5): undoing it is a reversal, not an edit. What was sent to
            # fulfillment (wait flag, exec-ed data) no longer changes either; the reason stays editable.
            readonly += (*SETTLED_FIELDS, "wait_to_redeem", *EXEC_ED_FIELDS)
        return readonly

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting is per record and only for never-tried ones
        return actions

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view(self.check_redeemability_view)
        reverse_page = self.admin_site.admin_view(self.reverse_redemption_view)
        return [
            path("check/", view, name=f"{info}_check"),
            path("<path:object_id>/check/", view, name=f"{info}_check_existing"),
            path("<path:object_id>/reverse/", reverse_page, name=f"{info}_reverse"),
            *super().get_urls(),
        ]

    def check_redeemability_view(self, request, object_id=None):
        return check_view(self, request, object_id)

    def reverse_redemption_view(self, request, object_id):
        return reverse_view(self, request, object_id)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        info = f"admin:{self.opts.app_label}_{self.opts.model_name}"
        if add and self.has_add_permission(request):
            context["check_url"] = reverse(f"{info}_check")
        elif obj is not None and not obj.redeemed_at and self.has_change_permission(request, obj):
            context["check_url"] = reverse(f"{info}_check_existing", args=[obj.pk])
        if can_reverse(request, obj):
            context["reverse_url"] = reverse(f"{info}_reverse", args=[obj.pk])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    # Permissions: forcing is `forced_redemptions.force_redeem` (permissions.can_force); viewing is not.

    def has_force_permission(self, request) -> bool:
        return can_force(request.user)

    def has_add_permission(self, request) -> bool:
        return can_force(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return can_force(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return can_view(request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Every attempt stays on record, so only a record never tried (nor redeemed) may go.
        if not can_force(request.user):
            return False
        return obj is None or (obj.redeemed_at is None and obj.errored_at is None and not obj.attempts.exists())

    # Saving: exactly one service call per save, as the staff user.

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Django wraps the form view in one transaction; here saving makes its own (the service's), and with
        # the LMS backend it then calls the LMS, which must not happen while a transaction and its locks are
        # open. So the view runs without the wrapper: what it writes, the service writes, atomically.
        if object_id is None and not self.has_add_permission(request):
            raise PermissionDenied(missing_force_permission("Adding a forced redemption"))
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            # The form ran these checks; only a concurrent change gets here, and the service wrote nothing.
            message_domain_error(request, error, prefix="Nothing was saved: ")
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        fields = form.service_fields()
        if change:
            wait = fields.get("wait_to_redeem", obj.wait_to_redeem)
            record = update_forced_redemption(record=obj, actor=request.user, redeem_now=not wait, **fields)
        else:
            record = create_forced_redemption(actor=request.user, **fields)
        _adopt(obj, record)

    def save_related(self, request, form, formsets, change):
        pass  # no many-to-many fields, and the only inline (attempts) is read-only: nothing to save

    def construct_change_message(self, request, form, formsets, add=False):
        return super().construct_change_message(request, form, [], add)  # the read-only attempts never change

    def response_add(self, request, obj, post_url_continue=None):
        return self._response_after_save(request, obj)

    def response_change(self, request, obj):
        return self._response_after_save(request, obj)

    def _response_after_save(self, request, obj):
        level, text = outcome_message(obj)
        self.message_user(request, text, level)
        info = f"admin:{self.opts.app_label}_{self.opts.model_name}"
        if "_continue" in request.POST:
            url = reverse(f"{info}_change", args=[obj.pk])
        elif "_addanother" in request.POST:
            url = reverse(f"{info}_add")
        else:
            url = reverse(f"{info}_changelist")
        preserved = {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}
        return HttpResponseRedirect(add_preserved_filters(preserved, url))

    # The "Redeem now" action.

    @admin.action(description="Redeem now (waiting or errored)", permissions=["force"])
    def redeem_now(self, request, queryset):
        for record in queryset.order_by("created", "pk"):
            if record.redeemed_at:
                self.message_user(
                    request,
                    f"Skipped. {describe(record)} was already {settled(record)}; nothing was charged again.",
                    messages.INFO,
                )
                continue
            record = redeem_forced(record=record, actor=request.user)
            level, text = outcome_message(record)
            self.log_change(request, record, f"Redeem now: {record.last_attempt.outcome}.")
            self.message_user(request, text, level)

    # Columns and read-only fields.

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


def _adopt(obj: ForcedPolicyRedemption, record: ForcedPolicyRedemption) -> None:
    """Make the admin's form instance the record the service wrote, so logging and redirects use it."""
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(record, field.attname))
    obj._state.adding = False
    obj._state.db = record._state.db
    obj.last_attempt = getattr(record, "last_attempt", None)
