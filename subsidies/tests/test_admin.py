"""The subsidies admin: the subsidy page, "Deposit funds", and the read-only ledger with "Reverse"."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from fulfillment.models import Enrollment
from subsidies import selectors
from subsidies.models import Deposit, Reversal, Subsidy, Transaction
from subsidies.services import deposit
from testing.admin_checks import RedemptionWorld, assert_constant_queries
from testing.factories import CustomerFactory, make_subsidy

SUBSIDIES = reverse("admin:subsidies_subsidy_changelist")
TRANSACTIONS = reverse("admin:subsidies_transaction_changelist")
DEPOSITS = reverse("admin:subsidies_deposit_changelist")
REVERSALS = reverse("admin:subsidies_reversal_changelist")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def deposit_url(subsidy_pk) -> str:
    return reverse("admin:subsidies_subsidy_deposit", args=[subsidy_pk])


def subsidy_url(subsidy_pk) -> str:
    return reverse("admin:subsidies_subsidy_change", args=[subsidy_pk])


# The subsidy list and page


def test_subsidy_list_shows_balance_and_deposits(admin_client, demo):
    response = admin_client.get(SUBSIDIES)

    assert response.status_code == 200
    [subsidy] = response.context["cl"].result_list
    assert (subsidy.balance_total, subsidy.deposits_total) == (demo.DEPOSIT_CENTS, demo.DEPOSIT_CENTS)
    assert b"$10,000.00" in response.content
    assert admin_client.get(SUBSIDIES, {"q": "Demo University"}).context["cl"].result_count == 1


def test_listed_balances_agree_with_the_ledger_selectors(admin_client, db):
    """The list's annotations and subsidies.selectors are one rule: redemptions, refunds and failures included."""
    world = RedemptionWorld()
    entries = world.redeem(3)
    from policies.services import reverse_redemption

    reverse_redemption(entry=entries[0])
    Transaction.objects.create(subsidy=world.subsidy, idempotency_key="failed-1", quantity=-999, state="failed")

    [row] = [s for s in admin_client.get(SUBSIDIES).context["cl"].result_list if s.pk == world.subsidy.pk]

    assert row.balance_total == selectors.balance_cents(world.subsidy) == 1_000_000 - 2 * 10_000
    assert row.deposits_total == selectors.total_deposits_cents(world.subsidy) == 1_000_000


def test_subsidy_page_shows_balance_deposits_and_the_latest_transactions_only(admin_client, demo):
    subsidy = Subsidy.objects.get(pk=demo.SUBSIDY_UUID)
    for n in range(30):
        deposit(subsidy=subsidy, quantity_cents=100, sales_contract_reference_id=f"TOPUP-{n}")

    page = admin_client.get(subsidy_url(subsidy.pk))

    assert page.status_code == 200
    html = page.content.decode()
    assert "$10,030.00" in html  # balance and total deposits
    assert "DEMO-CONTRACT-001" not in html  # the 25 latest deposits only: the first is older
    assert "TOPUP-29" in html
    assert f"{TRANSACTIONS}?subsidy__uuid__exact={subsidy.pk}" in html
    assert len(set(re.findall(r"/admin/subsidies/transaction/[0-9a-f-]{36}/change/", html))) == 25
    assert deposit_url(subsidy.pk) in html  # the "Deposit funds" button


def test_subsidy_add_page_renders_and_customer_is_fixed_afterwards(admin_client, demo):
    assert admin_client.get(reverse("admin:subsidies_subsidy_add")).status_code == 200
    page = admin_client.get(subsidy_url(demo.SUBSIDY_UUID))
    assert "customer" not in page.context["adminform"].form.fields


# Deposit funds


def test_deposit_action_leads_to_the_form_and_deposits_through_the_service(admin_client, demo):
    chosen = admin_client.post(SUBSIDIES, {"action": "deposit_funds", "_selected_action": [str(demo.SUBSIDY_UUID)]})
    assert chosen.status_code == 302 and chosen.url == deposit_url(demo.SUBSIDY_UUID)

    form_page = admin_client.get(chosen.url)
    assert form_page.status_code == 200
    key = form_page.context["form"].initial["idempotency_key"]
    data = {
        "desired_deposit_quantity": "250000",
        "sales_contract_reference_id": "SO-4242",
        "sales_contract_reference_provider": "salesforce",
        "idempotency_key": key,
    }

    response = admin_client.post(chosen.url, data)

    assert response.status_code == 302 and response.url == subsidy_url(demo.SUBSIDY_UUID)
    assert any("New balance: $12,500.00" in m for m in messages_of(response))
    made = Deposit.objects.get(sales_contract_reference_id="SO-4242")
    assert made.desired_deposit_quantity == 250_000 and made.created_by.username == "root"
    assert selectors.balance_cents(demo.SUBSIDY_UUID) == 1_250_000

    again = admin_client.post(chosen.url, data)  # a double submit of the same form
    assert any("already recorded" in m for m in messages_of(again))
    assert Deposit.objects.filter(sales_contract_reference_id="SO-4242").count() == 1


@pytest.mark.parametrize(
    ("amount", "reference", "field"),
    [
        ("0", "SO-1", "desired_deposit_quantity"),
        ("-5", "SO-1", "desired_deposit_quantity"),
        ("abc", "SO-1", "desired_deposit_quantity"),
        ("12.5", "SO-1", "desired_deposit_quantity"),
        ("100", "", "sales_contract_reference_id"),
        ("100", "   ", "sales_contract_reference_id"),
    ],
)
def test_bad_deposit_input_reshows_the_form_with_the_field_error_and_writes_nothing(
    admin_client, demo, amount, reference, field
):
    before = (Deposit.objects.count(), Transaction.objects.count())
    data = {"desired_deposit_quantity": amount, "sales_contract_reference_id": reference, "idempotency_key": "k1"}

    response = admin_client.post(deposit_url(demo.SUBSIDY_UUID), data)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert (Deposit.objects.count(), Transaction.objects.count()) == before


def test_deposit_action_wants_exactly_one_subsidy(admin_client, demo):
    other = make_subsidy(customer=CustomerFactory())
    response = admin_client.post(
        SUBSIDIES, {"action": "deposit_funds", "_selected_action": [str(demo.SUBSIDY_UUID), str(other.pk)]}
    )
    assert response.status_code == 302 and response.url == SUBSIDIES
    assert any("exactly one subsidy" in m for m in messages_of(response))


def test_depositing_needs_the_add_deposit_permission(client, staff_user, demo):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_subsidy"))
    client.force_login(staff_user)
    assert client.get(subsidy_url(demo.SUBSIDY_UUID)).status_code == 200
    assert client.get(deposit_url(demo.SUBSIDY_UUID)).status_code == 403
    data = {"desired_deposit_quantity": "100", "sales_contract_reference_id": "SO-1", "idempotency_key": "k"}
    assert client.post(deposit_url(demo.SUBSIDY_UUID), data).status_code == 403
    assert Deposit.objects.count() == 1


# The ledger: transactions, reversal, deposits


def test_transaction_list_filters_and_searches(admin_client, demo):
    world = RedemptionWorld()
    first, second = world.redeem(2)

    def result(**query):
        return {t.uuid for t in admin_client.get(TRANSACTIONS, query).context["cl"].result_list}

    assert result(**{"subsidy__uuid__exact": str(world.subsidy.pk)}) >= {first.uuid, second.uuid}
    assert result(policy=str(world.policy.pk)) == {first.uuid, second.uuid}
    assert result(state__exact="committed") >= {first.uuid, second.uuid}
    assert result(state__exact="failed") == set()
    assert result(q=str(first.uuid)) == {first.uuid}
    assert result(q=str(first.lms_user_id)) == {first.uuid}
    assert result(q=world.run.key) == {first.uuid, second.uuid}
    assert result(q=first.idempotency_key) == {first.uuid}
    assert result(q="no-such-thing") == set()
    assert result(policy="not-a-uuid") == set()


def test_transactions_are_read_only(admin_client, demo):
    entry = Transaction.objects.filter(subsidy_id=demo.SUBSIDY_UUID).first()
    page = admin_client.get(reverse("admin:subsidies_transaction_change", args=[entry.pk]))
    assert page.status_code == 200
    assert admin_client.get(reverse("admin:subsidies_transaction_add")).status_code == 403
    assert admin_client.get(reverse("admin:subsidies_transaction_delete", args=[entry.pk])).status_code == 403
    assert admin_client.post(reverse("admin:subsidies_transaction_change", args=[entry.pk]), {}).status_code == 403


def test_reverse_action_confirms_then_refunds_and_unenrolls(admin_client, db):
    world = RedemptionWorld()
    [entry] = world.redeem(1)
    selected = {"action": "reverse_redemptions", "_selected_action": [str(entry.uuid)]}

    confirm = admin_client.post(TRANSACTIONS, selected)
    assert confirm.status_code == 200
    assert str(entry.uuid).encode() in confirm.content
    assert not Reversal.objects.exists()

    done = admin_client.post(TRANSACTIONS, {**selected, "confirm": "yes", "reason": "Learner asked for a refund"})

    assert done.status_code == 302
    reversal = Reversal.objects.get(transaction=entry)
    assert (reversal.quantity, reversal.reason, reversal.created_by.username) == (
        10_000,
        "Learner asked for a refund",
        "root",
    )
    assert not Enrollment.objects.get(transaction_uuid=entry.uuid).active
    assert selectors.balance_cents(world.subsidy) == 1_000_000
    assert any("refunded $100.00" in m and "unenrolled" in m for m in messages_of(done))

    page = admin_client.get(reverse("admin:subsidies_transaction_change", args=[entry.uuid]))
    assert b"Learner asked for a refund" in page.content


def test_reverse_action_reports_each_row_that_cannot_be_reversed(admin_client, db):
    world = RedemptionWorld()
    done, fresh = world.redeem(2)
    admin_client.post(
        TRANSACTIONS, {"action": "reverse_redemptions", "_selected_action": [str(done.uuid)], "confirm": "yes"}
    )
    deposit_entry = Deposit.objects.get(subsidy=world.subsidy).transaction
    selected = [str(done.uuid), str(fresh.uuid), str(deposit_entry.uuid)]

    response = admin_client.post(
        TRANSACTIONS, {"action": "reverse_redemptions", "_selected_action": selected, "confirm": "yes"}
    )

    assert response.status_code == 302
    shown = messages_of(response)
    assert any(str(done.uuid) in m and "already_reversed" in m for m in shown)
    assert any(str(deposit_entry.uuid) in m and "not_reversible" in m for m in shown)
    assert any(str(fresh.uuid) in m and "refunded" in m for m in shown)
    assert Reversal.objects.count() == 2


def test_reversing_needs_the_add_reversal_permission(client, staff_user, db):
    world = RedemptionWorld()
    [entry] = world.redeem(1)
    staff_user.user_permissions.add(Permission.objects.get(codename="view_transaction"))
    client.force_login(staff_user)

    listing = client.get(TRANSACTIONS)
    assert listing.status_code == 200
    assert b"reverse_redemptions" not in listing.content
    client.post(
        TRANSACTIONS, {"action": "reverse_redemptions", "_selected_action": [str(entry.uuid)], "confirm": "yes"}
    )
    assert not Reversal.objects.exists()


def test_deposit_and_reversal_lists_render_read_only(admin_client, db):
    world = RedemptionWorld()
    [entry] = world.redeem(1)
    from policies.services import reverse_redemption

    reversal = reverse_redemption(entry=entry, reason="test")
    assert admin_client.get(DEPOSITS, {"q": "TEST-1"}).context["cl"].result_count == 1
    assert admin_client.get(REVERSALS, {"q": str(entry.lms_user_id)}).context["cl"].result_count == 1
    assert admin_client.get(reverse("admin:subsidies_reversal_change", args=[reversal.pk])).status_code == 200
    made = Deposit.objects.get(subsidy=world.subsidy)
    assert admin_client.get(reverse("admin:subsidies_deposit_change", args=[made.pk])).status_code == 200
    assert admin_client.get(reverse("admin:subsidies_deposit_add")).status_code == 403
    assert admin_client.get(reverse("admin:subsidies_reversal_add")).status_code == 403


# No N+1


def test_subsidy_list_costs_the_same_queries_for_1_or_20_rows(admin_client, db):
    RedemptionWorld().redeem(1)

    def grow():
        for _ in range(19):
            RedemptionWorld().redeem(1)

    assert_constant_queries(admin_client, SUBSIDIES, grow, rows=20)


def test_ledger_lists_cost_the_same_queries_for_1_or_20_rows(admin_client, db):
    from policies.services import reverse_redemption

    world = RedemptionWorld()
    [first] = world.redeem(1)
    reverse_redemption(entry=first)

    def grow():
        for entry in world.redeem(19):
            reverse_redemption(entry=entry)
        for _ in range(19):
            make_subsidy(customer=world.customer)

    admin_client.get(TRANSACTIONS)
    admin_client.get(DEPOSITS)
    admin_client.get(REVERSALS)
    from testing.admin_checks import get_counting_queries

    before = [get_counting_queries(admin_client, url)[0] for url in (TRANSACTIONS, DEPOSITS, REVERSALS)]
    grow()
    after = [get_counting_queries(admin_client, url) for url in (TRANSACTIONS, DEPOSITS, REVERSALS)]

    assert [count for count, _ in after] == before
    # 20 redemptions + 20 deposit entries; 20 deposits; 20 reversals
    assert [response.context["cl"].result_count for _, response in after] == [40, 20, 20]
