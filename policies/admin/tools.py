"""Two staff tools of the policy admin.

- "Check redeemability": learner + content key → each policy's verdict, reason code, user message,
  price and balances. It answers through policies.selectors / policies.redeemability, the same code
  the redemption unit runs, and writes nothing (a GET form).
- "Allocate content" (assigned policies): learner emails + content key + price → policies.services.allocate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from common.admin import add_domain_error
from common.errors import DomainError
from common.money import format_cents
from customers.models import EnterpriseCustomer
from policies.models import PolicyType, SubsidyAccessPolicy
from policies.redeemability import Verdict, can_redeem
from policies.selectors import verdicts_for
from policies.services import allocate
from subsidies import selectors as ledger_reads

CHECK_PERMISSION = "policies.check_redeemability"


class PolicyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: SubsidyAccessPolicy) -> str:
        deleted = " (deleted)" if obj.is_deleted else ""
        return f"{obj.display_name} · {obj.customer}{deleted}"


class RedeemabilityForm(forms.Form):
    customer = forms.ModelChoiceField(
        queryset=EnterpriseCustomer.objects.all(),
        required=False,
        help_text="Check every live policy of this customer, best-ranked first.",
    )
    policy = PolicyChoiceField(
        queryset=SubsidyAccessPolicy.all_objects.select_related("customer"),
        required=False,
        help_text="Or check one policy.",
    )
    lms_user_id = forms.IntegerField(label="LMS user id", min_value=0, max_value=2**31 - 1)
    content_key = forms.CharField(label="Content key", max_length=255, help_text="A course run key.")

    def clean(self):
        data = super().clean()
        customer, policy = data.get("customer"), data.get("policy")
        if customer is None and policy is None and not self.has_error("customer") and not self.has_error("policy"):
            raise ValidationError("Choose a customer or a policy.")
        if customer is not None and policy is not None and policy.customer_id != customer.pk:
            self.add_error("policy", "This policy belongs to another customer.")
        return data


@dataclass
class VerdictRow:
    policy: SubsidyAccessPolicy
    verdict: Verdict
    balance_cents: int
    policy_spent_cents: int

    @property
    def price(self) -> str:
        return format_cents(self.verdict.price_cents)

    @property
    def balance(self) -> str:
        return format_cents(self.balance_cents)

    @property
    def spent(self) -> str:
        return format_cents(self.policy_spent_cents)

    @property
    def spend_available(self) -> str:
        if self.verdict.policy_spend_available_cents is not None:
            return format_cents(self.verdict.policy_spend_available_cents)
        return "no limit" if self.policy.spend_limit_cents is None else "-"


def _row(policy: SubsidyAccessPolicy, verdict: Verdict) -> VerdictRow:
    # A verdict refused before the money checks carries no balances; staff still want to see them.
    balance = (
        verdict.balance_cents if verdict.balance_cents is not None else ledger_reads.balance_cents(policy.subsidy_id)
    )
    spent = verdict.policy_spent_cents
    if spent is None:
        spent = ledger_reads.policy_spend(policy.pk)["spent_cents"]
    return VerdictRow(policy=policy, verdict=verdict, balance_cents=balance, policy_spent_cents=spent)


def check_redeemability_view(model_admin, request):
    if not (request.user.is_superuser or request.user.has_perm(CHECK_PERMISSION)):
        raise PermissionDenied(
            f"Checking redeemability needs the permission “Can check whether a learner can redeem content” "
            f"({CHECK_PERMISSION})."
        )
    asked = "lms_user_id" in request.GET or "content_key" in request.GET
    form = RedeemabilityForm(request.GET if asked else None, initial=request.GET.dict())
    rows: list[VerdictRow] | None = None
    if asked and form.is_valid():
        data = form.cleaned_data
        lookup = {"lms_user_id": data["lms_user_id"], "content_key": data["content_key"].strip()}
        if data["policy"] is not None:
            rows = [_row(data["policy"], can_redeem(data["policy"], **lookup))]
        else:
            rows = [_row(policy, verdict) for policy, verdict in verdicts_for(data["customer"].pk, **lookup)]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Check redeemability",
        "opts": model_admin.opts,
        "form": form,
        "rows": rows,
    }
    return TemplateResponse(request, "admin/policies/subsidyaccesspolicy/check_redeemability.html", context)


class AllocateForm(forms.Form):
    # Field names match policies.services.allocate's field errors.
    learner_emails = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
        help_text="One or more learner emails, separated by commas, spaces or new lines.",
    )
    content_key = forms.CharField(max_length=255, help_text="A course run key in the policy's catalog.")
    content_price_cents = forms.IntegerField(
        label="Price (cents)", max_value=2**63 - 1, help_text="Whole USD cents the assignment holds."
    )

    def clean_learner_emails(self) -> list[str]:
        emails = [e for e in re.split(r"[\s,;]+", self.cleaned_data["learner_emails"]) if e]
        bad = []
        for email in emails:
            try:
                validate_email(email)
            except ValidationError:
                bad.append(email)
        if bad:
            raise ValidationError(f"Not an email address: {', '.join(bad)}")
        return emails


def allocate_view(model_admin, request, object_id):
    policy = model_admin.get_object(request, unquote(object_id))
    if policy is None:
        raise Http404("No such policy.")
    if not model_admin.has_change_permission(request, policy):
        raise PermissionDenied(
            "Allocating content needs the permission “Can change subsidy access policy” "
            "(policies.change_subsidyaccesspolicy)."
        )
    if policy.policy_type != PolicyType.ASSIGNED:
        raise Http404("Only an assigned learner credit policy allocates content.")
    form = AllocateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            outcome = allocate(
                policy=policy,
                learner_emails=data["learner_emails"],
                content_key=data["content_key"].strip(),
                content_price_cents=data["content_price_cents"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            counts = {name: len(items) for name, items in outcome.items()}
            model_admin.log_change(request, policy, f"Allocated {data['content_key']}: {counts}.")
            model_admin.message_user(
                request,
                f"Allocated {data['content_key']}: {counts['created']} created, {counts['updated']} updated, "
                f"{counts['no_change']} unchanged.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:policies_subsidyaccesspolicy_change", args=[policy.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Allocate content under {policy}",
        "opts": model_admin.opts,
        "original": policy,
        "form": form,
    }
    return TemplateResponse(request, "admin/policies/subsidyaccesspolicy/allocate_form.html", context)
