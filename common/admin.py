"""Admin building blocks shared by every app's admin, and the site's titles."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from common.errors import DomainError, InvalidInput

admin.site.site_header = "Learner credit administration"
admin.site.site_title = "Learner credit administration"
admin.site.index_title = "Learner credit administration"


class HistoryAdmin(SimpleHistoryAdmin):
    """SimpleHistoryAdmin whose "revert" needs change permission.

    The library lets anyone who may *view* an object POST its history form, which saves the old version.
    `allow_revert = False` turns reverting off altogether (for records only services may change).
    """

    allow_revert = True

    def revert_disabled(self, request, obj=None) -> bool:
        return not self.allow_revert or super().revert_disabled(request, obj)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST" and (not self.allow_revert or not self.has_change_permission(request)):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


class ReadOnlyAdminMixin:
    """For records only services write (ledger entries, enrollments, timelines): staff may look, not touch."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def add_domain_error(form: Form, error: DomainError) -> None:
    """Show a domain error on a form: field errors where the form has the field, the message on top."""
    field_errors = error.field_errors if isinstance(error, InvalidInput) else {}
    placed = False
    for name, errors in field_errors.items():
        if name in form.fields:
            for message in errors:
                form.add_error(name, message)
            placed = True
        else:
            form.add_error(None, f"{name}: {'; '.join(errors)}")
    if not placed:
        form.add_error(None, f"{error.message} ({error.reason})")


def message_domain_error(request, error: DomainError, *, prefix: str = "") -> None:
    """Show a domain error as an admin error message, with its stable reason code."""
    messages.error(request, f"{prefix}{error.message} ({error.reason})")


def admin_link(url_name: str, pk, text) -> str:
    """`text` as a link to the admin page named `url_name` for `pk`; by URL name, so any app's admin can link to
    another's records without importing them."""
    return format_html('<a href="{}">{}</a>', reverse(url_name, args=[pk]), text)


def transaction_link(transaction_uuid) -> str:
    """A ledger transaction's uuid as a link to its admin page ("-" without one)."""
    if transaction_uuid is None:
        return "-"
    return admin_link("admin:subsidies_transaction_change", transaction_uuid, transaction_uuid)


def permission_denied(request, exception=None):
    """handler403: in the admin, a page in its style that says which permission is missing; JSON under /api/."""
    reason = str(exception or "") or "Your account does not have the permission this page needs."
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        from common.api import error_body

        return JsonResponse(error_body("permission_denied", reason), status=403)
    if request.path.startswith("/admin/") and getattr(request, "user", None) is not None and request.user.is_staff:
        from django.template.response import TemplateResponse

        context = {**admin.site.each_context(request), "reason": reason}
        return TemplateResponse(request, "admin/403.html", context, status=403).render()
    from django.views.defaults import permission_denied as django_permission_denied

    return django_permission_denied(request, exception)
