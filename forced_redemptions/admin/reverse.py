""" "Reverse (refund and unenroll)" for one redeemed forced redemption: a confirmation page asking why, then
forced_redemptions.services.reverse_forced_redemption, then back to the record with a message saying what
happened. Undoing a redemption is this reversal, never an edit (DOMAIN.md invariant 5).
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from common.admin import message_domain_error
from common.api import MAX_TEXT_CHARS
from common.errors import DomainError
from forced_redemptions.admin.outcomes import amount, outcome_message
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.permissions import can_force, missing_force_permission
from forced_redemptions.services import reverse_forced_redemption

PAGE_TEMPLATE = "admin/forced_redemptions/forcedpolicyredemption/reverse_page.html"


class ReverseForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=MAX_TEXT_CHARS,
        help_text="Why it is undone (e.g. a support ticket reference). Kept on the ledger's reversal and the attempt.",
    )


def can_reverse(request, record: ForcedPolicyRedemption | None) -> bool:
    """Whether to offer the button: a redeemed, unreversed record, to whoever may force."""
    return record is not None and bool(record.redeemed_at) and not record.reversed_at and can_force(request.user)


def reverse_view(model_admin, request, object_id: str):
    if not can_force(request.user):
        raise PermissionDenied(missing_force_permission("Reversing a forced redemption"))
    record = model_admin.get_object(request, unquote(object_id))
    if record is None:
        raise Http404("No such forced redemption.")
    change_url = reverse(f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}_change", args=[record.pk])
    form = ReverseForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            record = reverse_forced_redemption(record=record, actor=request.user, reason=form.cleaned_data["reason"])
        except DomainError as error:
            message_domain_error(request, error, prefix="Not reversed: ")
            return HttpResponseRedirect(change_url)
        model_admin.log_change(request, record, record.last_attempt.message)
        level, text = outcome_message(record)
        model_admin.message_user(request, text, level)
        return HttpResponseRedirect(change_url)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Reverse this forced redemption?",
        "opts": model_admin.opts,
        "original": record,
        "form": form,
        "charged": amount(record.charged_cents),
        "change_url": change_url,
    }
    return TemplateResponse(request, PAGE_TEMPLATE, context)
