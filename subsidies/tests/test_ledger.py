"""The ledger: deposits, idempotency keys enforced by the database, and the balance."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.errors import InvalidInput
from subsidies.errors import TransactionCreationError
from subsidies.models import Deposit, Reversal, Transaction, TransactionState
from subsidies.selectors import balance_cents, total_deposits_cents
from subsidies.services import create_subsidy, deposit
from testing.factories import CustomerFactory, make_subsidy

pytestmark = pytest.mark.django_db


@pytest.fixture
def subsidy():
    return make_subsidy(customer=CustomerFactory(), deposit_cents=0)


def _rows():
    return Transaction.objects.count(), Deposit.objects.count()


def test_deposit_adds_a_committed_positive_transaction_with_its_sales_reference(subsidy):
    made, created = deposit(
        subsidy=subsidy,
        quantity_cents=250_000,
        sales_contract_reference_id="SF-0042",
        sales_contract_reference_provider="salesforce",
        metadata={"note": "Q1"},
    )

    assert created is True
    assert made.transaction.state == TransactionState.COMMITTED
    assert made.transaction.quantity == 250_000 and made.transaction.metadata == {"note": "Q1"}
    assert (made.sales_contract_reference_id, made.sales_contract_reference_provider) == ("SF-0042", "salesforce")
    assert balance_cents(subsidy) == total_deposits_cents(subsidy) == 250_000


def test_repeating_a_deposit_with_the_same_idempotency_key_returns_the_first(subsidy):
    first, _ = deposit(subsidy=subsidy, quantity_cents=100_000, sales_contract_reference_id="A", idempotency_key="k-1")

    again, created = deposit(
        subsidy=subsidy, quantity_cents=100_000, sales_contract_reference_id="A", idempotency_key="k-1"
    )

    assert created is False and again.pk == first.pk
    assert balance_cents(subsidy) == 100_000
    assert _rows() == (1, 1)


def test_deposits_without_a_key_are_each_new(subsidy):
    deposit(subsidy=subsidy, quantity_cents=100, sales_contract_reference_id="A")
    deposit(subsidy=subsidy, quantity_cents=100, sales_contract_reference_id="A")
    assert balance_cents(subsidy) == 200


@pytest.mark.parametrize(
    ("quantity", "reference", "field"),
    [
        (0, "A", "desired_deposit_quantity"),
        (-500, "A", "desired_deposit_quantity"),
        (True, "A", "desired_deposit_quantity"),
        (10.5, "A", "desired_deposit_quantity"),
        ("100", "A", "desired_deposit_quantity"),
        (None, "A", "desired_deposit_quantity"),
        (100, "", "sales_contract_reference_id"),
        (100, "   ", "sales_contract_reference_id"),
        (100, None, "sales_contract_reference_id"),
    ],
)
def test_an_invalid_deposit_is_refused_with_nothing_written(subsidy, quantity, reference, field):
    with pytest.raises(InvalidInput) as refused:
        deposit(subsidy=subsidy, quantity_cents=quantity, sales_contract_reference_id=reference)

    assert field in refused.value.field_errors
    assert _rows() == (0, 0)
    assert balance_cents(subsidy) == 0


def test_a_deposit_cannot_reuse_the_key_of_another_kind_of_transaction(subsidy):
    Transaction.objects.create(subsidy=subsidy, idempotency_key="taken", quantity=-100, state=TransactionState.FAILED)

    with pytest.raises(TransactionCreationError):
        deposit(subsidy=subsidy, quantity_cents=100, sales_contract_reference_id="A", idempotency_key="taken")

    assert Deposit.objects.count() == 0


def test_the_database_enforces_one_idempotency_key_per_ledger(subsidy):
    Transaction.objects.create(subsidy=subsidy, idempotency_key="same", quantity=100)

    with pytest.raises(IntegrityError), transaction.atomic():
        Transaction.objects.create(subsidy=subsidy, idempotency_key="same", quantity=100)

    other = make_subsidy(customer=subsidy.customer, deposit_cents=0)
    assert Transaction.objects.create(subsidy=other, idempotency_key="same", quantity=100).pk  # another ledger


def test_the_database_allows_one_reversal_per_transaction(subsidy):
    entry = Transaction.objects.create(subsidy=subsidy, idempotency_key="x", quantity=-100, state="committed")
    Reversal.objects.create(transaction=entry, quantity=100, idempotency_key="r-1")

    with pytest.raises(IntegrityError), transaction.atomic():
        Reversal.objects.create(transaction=entry, quantity=100, idempotency_key="r-2")


def test_balance_counts_every_non_failed_entry_and_the_reversals_of_non_failed_entries(subsidy):
    deposit(subsidy=subsidy, quantity_cents=10_000, sales_contract_reference_id="A")
    spent = Transaction.objects.create(subsidy=subsidy, idempotency_key="a", quantity=-3_000, state="committed")
    Transaction.objects.create(subsidy=subsidy, idempotency_key="b", quantity=-2_000, state="pending")
    Transaction.objects.create(subsidy=subsidy, idempotency_key="c", quantity=-4_000, state="failed")
    assert balance_cents(subsidy) == 10_000 - 3_000 - 2_000

    Reversal.objects.create(transaction=spent, quantity=3_000, idempotency_key="rev-a")
    assert balance_cents(subsidy) == 10_000 - 2_000


def test_create_subsidy_with_a_starting_balance_deposits_it_once():
    now = timezone.now()
    subsidy = create_subsidy(
        customer=CustomerFactory(),
        title="FY27 credit",
        active_datetime=now,
        expiration_datetime=now + dt.timedelta(days=365),
        starting_balance_cents=75_000,
    )
    assert balance_cents(subsidy) == 75_000
    assert Deposit.objects.get().sales_contract_reference_id == "starting-balance"


def test_a_subsidy_must_expire_after_it_becomes_active():
    now = timezone.now()
    with pytest.raises(InvalidInput) as refused:
        create_subsidy(customer=CustomerFactory(), title="Backwards", active_datetime=now, expiration_datetime=now)
    assert "expiration_datetime" in refused.value.field_errors
