""" "Check redeemability" for the values in the add/change form, saved or not. Writes nothing.

The form posts its current values here by fetch, so the page keeps what was typed and shows the
answer in place (a plain POST gets the answer as a page). The answer comes from
forced_redemptions.selectors.check_forced, the dry run of the real redemption.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.template.response import TemplateResponse

from common.money import format_cents
from forced_redemptions.next_steps import explain
from forced_redemptions.permissions import FORCE_REDEEM, VIEW, VIEW_LABEL, can_view
from forced_redemptions.selectors import ForcedCheck, check_forced
from subsidies import selectors as ledger_reads

FRAGMENT_TEMPLATE = "admin/forced_redemptions/forcedpolicyredemption/check_result.html"
PAGE_TEMPLATE = "admin/forced_redemptions/forcedpolicyredemption/check_page.html"


@dataclass
class CheckAnswer:
    """A ForcedCheck with the numbers people read (dollars), for the template."""

    check: ForcedCheck
    policy_name: str
    balance_cents: int
    spend_limit_cents: int | None

    @classmethod
    def of(cls, record, check: ForcedCheck) -> CheckAnswer:
        """The answer for `record`'s check; the balance read when the check did not say it."""
        policy = record.subsidy_access_policy
        balance = check.balance_cents
        if balance is None:
            balance = ledger_reads.balance_cents(policy.subsidy_id)
        return cls(
            check=check,
            policy_name=policy.display_name,
            balance_cents=balance,
            spend_limit_cents=policy.spend_limit_cents,
        )

    @property
    def price(self) -> str:
        return format_cents(self.check.price_cents)

    @property
    def staff_message(self) -> str:
        """For a refusal, which rule said no and what to do next (not the learner's wording)."""
        return self.check.message if self.check.can_redeem else explain(self.check.reason, self.check.message)

    @property
    def balance(self) -> str:
        return format_cents(self.balance_cents)

    @property
    def balance_after(self) -> str:
        if not self.check.can_redeem or self.check.price_cents is None:
            return "-"
        return format_cents(self.balance_cents - self.check.price_cents)

    @property
    def policy_spent(self) -> str:
        return format_cents(self.check.policy_spent_cents)

    @property
    def spend_available(self) -> str:
        if self.check.policy_spend_available_cents is not None:
            return format_cents(self.check.policy_spend_available_cents)
        return "no limit" if self.spend_limit_cents is None else "-"


def check_view(model_admin, request, object_id: str | None = None):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    obj = None
    if object_id is not None:
        obj = model_admin.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such forced redemption.")
    # Checking writes nothing: whoever may read forced redemptions may check one.
    if not can_view(request.user):
        raise PermissionDenied(
            f"Checking redeemability needs the permission “{VIEW_LABEL}” ({VIEW}) or “Can force a redemption” "
            f"({FORCE_REDEEM})."
        )
    form_class = model_admin.get_form(
        request, obj, change=obj is not None, fields=flatten_fieldsets(model_admin.get_fieldsets(request, obj))
    )
    form = form_class(request.POST, instance=obj, check_only=True)
    answer = None
    if form.is_valid():
        record = form.instance  # the posted values applied to an unsaved copy; never saved here
        answer = CheckAnswer.of(record, check_forced(record))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Check redeemability",
        "opts": model_admin.opts,
        "original": obj,
        "form": form,
        "answer": answer,
    }
    fragment = request.headers.get("X-Requested-With") == "XMLHttpRequest"
    return TemplateResponse(request, FRAGMENT_TEMPLATE if fragment else PAGE_TEMPLATE, context)
