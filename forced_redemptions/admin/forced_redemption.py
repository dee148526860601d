"""The forced-redemption admin (ADR 0019): a thin adapter over forced_redemptions.services.

Saving calls create_forced_redemption / update_forced_redemption exactly once (in `save_model`), as
the staff user, and when it would redeem only after its confirmation page (confirm.py); `response_add` /
`response_change` then say what happened instead of Django's generic "was added successfully". Domain
errors that the form can catch become form errors (forms.py). A redeemed record is undone with its
"Reverse (refund and unenroll)" page (reverse.py), not an edit. The list's actions are in redeem_now.py,
its columns and the page's read-only links in columns.py.
"""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils.text import smart_split, unescape_string_literal

from catalog.selectors import find_course_run
from common.admin import HistoryAdmin, message_domain_error
from common.errors import DomainError
from common.models import MAX_LMS_USER_ID
from customers.models import EnterpriseCustomerUser
from forced_redemptions import selectors
from forced_redemptions.admin import redeem_now as actions
from forced_redemptions.admin.check import check_view
from forced_redemptions.admin.columns import LINK_FIELDS, AttemptInline, ForcedColumnsMixin
from forced_redemptions.admin.confirm import BACK, confirmation_step, shown_again
from forced_redemptions.admin.filters import ArchivedFilter, ErrorReasonFilter, StateFilter
from forced_redemptions.admin.forms import ForcedRedemptionForm
from forced_redemptions.admin.outcomes import banner, outcome_message, wait_help
from forced_redemptions.admin.reverse import can_reverse, reverse_view
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.permissions import VIEW, VIEW_LABEL, can_force, can_view, missing_force_permission
from forced_redemptions.services import (
    EXEC_ED_FIELDS,
    SETTLED_FIELDS,
    create_forced_redemption,
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


INPUT_FIELDS = (
    "subsidy_access_policy",
    "lms_user_id",
    "course_run_key",
    "content_price_cents",
    "price_justification",
    "wait_to_redeem",
)
OUTCOME_FIELDS = (
    "uuid",
    "state_label",
    "redeemed_at",
    "charged",
    "reversed_at",
    "errored_at",
    "error_reason",
    "error_message",
    "traceback_text",
    "archived_at",
)
RECORD_FIELDS = ("created_by", "created", "modified_by", "modified")
EXEC_ED_FIELDSET = "Executive education (only for exec-ed runs)"


@admin.register(ForcedPolicyRedemption)
class ForcedPolicyRedemptionAdmin(ForcedColumnsMixin, HistoryAdmin):
    form = ForcedRedemptionForm
    change_form_template = "admin/forced_redemptions/forcedpolicyredemption/change_form.html"
    change_list_template = "admin/forced_redemptions/forcedpolicyredemption/change_list.html"
    autocomplete_fields = ("subsidy_access_policy",)
    inlines = (AttemptInline,)
    actions = ("redeem_now", "archive_errored")
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
        ArchivedFilter,  # archived records are hidden by default
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
        exec_ed = {
            "description": "The external provider needs these unless an order already exists there. "
            "Blank names fall back to the learner's link; consent only when the customer requires it.",
            "fields": EXEC_ED_FIELDS,
        }
        if not self._names_exec_ed_run(request, obj):
            exec_ed["classes"] = ("collapse",)  # open by itself for an exec-ed run (here, and by the page's script)
        fieldsets = [(None, {"fields": (*INPUT_FIELDS, "reason")}), (EXEC_ED_FIELDSET, exec_ed)]
        if obj is not None:
            fieldsets += [
                ("Outcome", {"fields": OUTCOME_FIELDS}),
                ("Linked records", {"fields": LINK_FIELDS}),
                ("Record", {"fields": RECORD_FIELDS}),
            ]
        return fieldsets

    def _names_exec_ed_run(self, request, obj) -> bool:
        """Whether the run posted (a form shown again) or the record's is exec-ed; asked once per request."""
        key = (request.POST.get("course_run_key") if request.method == "POST" else "") or (
            obj.course_run_key if obj is not None else ""
        )
        known = request.__dict__.setdefault("_forced_exec_ed_runs", {})
        if key.strip() and key not in known:
            run = find_course_run(key.strip())
            known[key] = bool(run and run.course.is_exec_ed)
        return known.get(key, False)

    def get_readonly_fields(self, request, obj=None):
        readonly = (*OUTCOME_FIELDS, *LINK_FIELDS, *RECORD_FIELDS)
        if obj is not None and obj.redeemed_at:
            # Settled (DOMAIN.md invariant 5): undoing it is a reversal, not an edit. What was sent to
            # fulfillment (wait flag, exec-ed data) no longer changes either; the reason stays editable.
            readonly += (*SETTLED_FIELDS, "wait_to_redeem", *EXEC_ED_FIELDS)
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs.setdefault("help_texts", {"wait_to_redeem": wait_help(obj)})
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if request.method == "POST" and BACK in request.POST:
            return shown_again(form_class)  # "Go back" from the confirmation page: the values, not saved
        return form_class

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
            path("run-info/", self.admin_site.admin_view(self.run_info_view), name=f"{info}_run_info"),
            path("<path:object_id>/check/", view, name=f"{info}_check_existing"),
            path("<path:object_id>/reverse/", reverse_page, name=f"{info}_reverse"),
            *super().get_urls(),
        ]

    def check_redeemability_view(self, request, object_id=None):
        return check_view(self, request, object_id)

    def reverse_redemption_view(self, request, object_id):
        return reverse_view(self, request, object_id)

    def run_info_view(self, request):
        """Whether a run key names an exec-ed run: the page's script opens the exec-ed fieldset for one."""
        if not can_view(request.user):
            raise PermissionDenied(f"Reading run details needs the permission “{VIEW_LABEL}” ({VIEW}).")
        run = find_course_run(request.GET.get("key", "").strip())
        return JsonResponse({"known": run is not None, "exec_ed": bool(run and run.course.is_exec_ed)})

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        info = f"admin:{self.opts.app_label}_{self.opts.model_name}"
        if add and self.has_add_permission(request):
            context["check_url"] = reverse(f"{info}_check")
        elif obj is not None and not obj.redeemed_at and self.has_change_permission(request, obj):
            context["check_url"] = reverse(f"{info}_check_existing", args=[obj.pk])
        if can_reverse(request, obj):
            context["reverse_url"] = reverse(f"{info}_reverse", args=[obj.pk])
        context["forced_banner"] = banner(obj)
        context["run_info_url"] = reverse(f"{info}_run_info")
        context["exec_ed_fieldset"] = EXEC_ED_FIELDSET
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    # Permissions: forcing is `forced_redemptions.force_redeem` (permissions.can_force); viewing is not.

    def has_force_permission(self, request) -> bool:
        return can_force(request.user)

    def has_add_permission(self, request) -> bool:
        return can_force(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        # An archived record is kept as it is (the audit trail of a mistake): its page is read-only.
        return can_force(request.user) and (obj is None or obj.archived_at is None)

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
            if request.method == "POST" and (page := confirmation_step(self, request, object_id)) is not None:
                return page  # saving would redeem: say what it would do first
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

    # The list's actions (redeem_now.py).

    @admin.action(description="Redeem now (waiting or errored)", permissions=["force"])
    def redeem_now(self, request, queryset):
        return actions.redeem_now(self, request, queryset)

    @admin.action(description="Archive errored records that charged nothing", permissions=["force"])
    def archive_errored(self, request, queryset):
        return actions.archive_errored(self, request, queryset)


def _adopt(obj: ForcedPolicyRedemption, record: ForcedPolicyRedemption) -> None:
    """Make the admin's form instance the record the service wrote, so logging and redirects use it."""
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(record, field.attname))
    obj._state.adding = False
    obj._state.db = record._state.db
    obj.last_attempt = getattr(record, "last_attempt", None)
