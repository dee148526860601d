"""The subsidy page: balance, deposits, the latest transactions, and "Deposit funds".

A subsidy may hold 100,000 transactions, so the page shows the latest few read-only and links to the
Transaction list filtered by the subsidy instead of using an inline.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from common.admin import HistoryAdmin, add_domain_error
from common.errors import DomainError
from common.money import format_cents
from subsidies import selectors
from subsidies.models import Subsidy
from subsidies.services import deposit

LATEST_TRANSACTIONS = 25
LATEST_DEPOSITS = 25


def transactions_url(subsidy_pk) -> str:
    return reverse("admin:subsidies_transaction_changelist") + f"?subsidy__uuid__exact={subsidy_pk}"


class DepositForm(forms.Form):
    # Field names match subsidies.services.deposit's field errors, so they land on the right field.
    desired_deposit_quantity = forms.IntegerField(
        label="Amount (cents)",
        max_value=2**63 - 1,
        help_text="Whole USD cents, e.g. 100000 for $1,000.00.",
    )
    sales_contract_reference_id = forms.CharField(label="Sales contract reference id", max_length=255)
    sales_contract_reference_provider = forms.CharField(label="Provider", max_length=255, required=False)
    # Generated when the form is shown: submitting the same form twice records one deposit.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)


@admin.register(Subsidy)
class SubsidyAdmin(HistoryAdmin):
    list_display = (
        "title",
        "customer",
        "active_datetime",
        "expiration_datetime",
        "active_now",
        "balance",
        "total_deposits",
    )
    list_filter = ("customer",)
    list_select_related = ("customer",)
    search_fields = ("title", "uuid", "customer__name", "customer__slug")
    date_hierarchy = "expiration_datetime"
    autocomplete_fields = ("customer",)
    actions = ("deposit_funds",)
    readonly_fields = (
        "uuid",
        "unit",
        "balance",
        "total_deposits",
        "deposit_list",
        "latest_transactions",
        "created",
        "modified",
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                balance_total=selectors.balance_cents_expression(),
                deposits_total=selectors.total_deposits_cents_expression(),
            )
        )

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ("uuid", "customer", "title", "unit")}),
            ("Active window (UTC)", {"fields": ("active_datetime", "expiration_datetime")}),
        ]
        if obj is not None:
            fieldsets.append(
                ("Ledger", {"fields": ("balance", "total_deposits", "deposit_list", "latest_transactions")})
            )
            fieldsets.append(("Record", {"fields": ("created", "modified")}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        # Policies and the ledger belong to the subsidy's customer; moving it would break both.
        return (*self.readonly_fields, "customer") if obj is not None else self.readonly_fields

    # Columns and read-only fields. The list reads the annotations; a change page reads the selectors.

    @admin.display(description="active now", boolean=True)
    def active_now(self, obj: Subsidy) -> bool:
        return obj.is_active()

    @admin.display(description="balance", ordering="balance_total")
    def balance(self, obj: Subsidy) -> str:
        return format_cents(obj.balance_total if hasattr(obj, "balance_total") else selectors.balance_cents(obj))

    @admin.display(description="total deposits", ordering="deposits_total")
    def total_deposits(self, obj: Subsidy) -> str:
        total = obj.deposits_total if hasattr(obj, "deposits_total") else selectors.total_deposits_cents(obj)
        return format_cents(total)

    @admin.display(description="deposits")
    def deposit_list(self, obj: Subsidy):
        rows = obj.deposits.select_related("created_by").order_by("-created")[:LATEST_DEPOSITS]
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{d.created:%Y-%m-%d %H:%M}",
                    format_cents(d.desired_deposit_quantity),
                    d.sales_contract_reference_id,
                    d.sales_contract_reference_provider or "-",
                    d.created_by or "-",
                )
                for d in rows
            ),
        )
        if not body:
            return "No deposits yet."
        url = reverse("admin:subsidies_deposit_changelist") + f"?subsidy__uuid__exact={obj.pk}"
        return format_html(
            "<table><thead><tr><th>created</th><th>amount</th><th>sales contract</th><th>provider</th>"
            "<th>by</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All deposits of this subsidy</a></p>',
            body,
            url,
        )

    @admin.display(description=f"latest {LATEST_TRANSACTIONS} transactions")
    def latest_transactions(self, obj: Subsidy):
        rows = selectors.transactions_for(obj).order_by("-created")[:LATEST_TRANSACTIONS]
        body = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    f"{t.created:%Y-%m-%d %H:%M}",
                    reverse("admin:subsidies_transaction_change", args=[t.pk]),
                    str(t.pk)[:8],
                    t.state,
                    format_cents(t.quantity),
                    t.lms_user_id or "-",
                    t.content_key or ("deposit" if t.quantity > 0 else "-"),
                    "reversed" if hasattr(t, "reversal") else "",
                )
                for t in rows
            ),
        )
        link = format_html('<p><a href="{}">All transactions of this subsidy</a></p>', transactions_url(obj.pk))
        if not body:
            return format_html("No transactions yet.{}", link)
        return format_html(
            "<table><thead><tr><th>created</th><th>uuid</th><th>state</th><th>amount</th><th>learner</th>"
            "<th>content</th><th></th></tr></thead><tbody>{}</tbody></table>{}",
            body,
            link,
        )

    # "Deposit funds": a changelist action and a button on the change page, both leading to one form.

    def has_deposit_permission(self, request) -> bool:
        return request.user.has_perm("subsidies.add_deposit")

    @admin.action(description="Deposit funds", permissions=["deposit"])
    def deposit_funds(self, request, queryset):
        subsidies = list(queryset[:2])
        if len(subsidies) != 1:
            self.message_user(request, "Choose exactly one subsidy to deposit funds into.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:subsidies_subsidy_deposit", args=[subsidies[0].pk]))

    def get_urls(self):
        deposit_url = path(
            "<path:object_id>/deposit/",
            self.admin_site.admin_view(self.deposit_view),
            name="subsidies_subsidy_deposit",
        )
        return [deposit_url, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_deposit": self.has_deposit_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def deposit_view(self, request, object_id):
        if not self.has_deposit_permission(request):
            raise PermissionDenied
        subsidy = self.get_object(request, unquote(object_id))
        if subsidy is None:
            raise Http404("No such subsidy.")
        if request.method == "POST":
            form = DepositForm(request.POST)
            if form.is_valid():
                response = self._deposit(request, subsidy, form)
                if response is not None:
                    return response
        else:
            form = DepositForm(initial={"idempotency_key": uuid.uuid4().hex})
        context = {
            **self.admin_site.each_context(request),
            "title": f"Deposit funds into {subsidy}",
            "opts": self.opts,
            "original": subsidy,
            "form": form,
            "balance": format_cents(selectors.balance_cents(subsidy)),
        }
        return TemplateResponse(request, "admin/subsidies/subsidy/deposit_form.html", context)

    def _deposit(self, request, subsidy: Subsidy, form: DepositForm):
        data = form.cleaned_data
        try:
            made, created = deposit(
                subsidy=subsidy,
                quantity_cents=data["desired_deposit_quantity"],
                sales_contract_reference_id=data["sales_contract_reference_id"],
                sales_contract_reference_provider=data["sales_contract_reference_provider"],
                idempotency_key=f"admin-deposit-{data['idempotency_key']}",
                actor=request.user,
            )
        except DomainError as error:
            add_domain_error(form, error)
            return None
        balance = format_cents(selectors.balance_cents(subsidy))
        if created:
            self.log_change(request, subsidy, f"Deposited {made.desired_deposit_quantity} cents ({made}).")
            self.message_user(
                request,
                f"Deposited {format_cents(made.desired_deposit_quantity)} into {subsidy} "
                f"(sales contract {made.sales_contract_reference_id}). New balance: {balance}.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                f"This deposit was already recorded; nothing more was added. Balance: {balance}.",
                messages.WARNING,
            )
        return HttpResponseRedirect(reverse("admin:subsidies_subsidy_change", args=[subsidy.pk]))
