"""The ledger's running totals (LedgerTotal) always equal the sums over the rows, whoever writes the rows."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from fulfillment.errors import FulfillmentError
from fulfillment.models import Enrollment
from policies.services import redeem, reverse_redemption
from subsidies import ledger_totals
from subsidies.models import LedgerTotal, Reversal, Transaction, TransactionState
from subsidies.selectors import RunningTotals, balance_cents, policy_spend, running_totals
from subsidies.services import deposit
from testing.admin_checks import RedemptionWorld
from testing.factories import LearnerFactory, make_policy

pytestmark = pytest.mark.django_db


def summed_balance_cents(subsidy) -> int:
    """DOMAIN.md's definition, summed over the rows: non-failed transactions plus their reversals."""
    live = Transaction.objects.filter(subsidy=subsidy).exclude(state=TransactionState.FAILED)
    refunded = Reversal.objects.filter(transaction__in=live).aggregate(t=Coalesce(Sum("quantity"), 0))["t"]
    return live.aggregate(t=Coalesce(Sum("quantity"), 0))["t"] + refunded


def summed_policy_spend(policy) -> dict[str, int]:
    live = Transaction.objects.filter(subsidy_access_policy_uuid=policy.pk).exclude(state=TransactionState.FAILED)
    row = live.aggregate(
        spent=Coalesce(Sum("quantity"), 0),
        refunded=Coalesce(Sum("reversal__quantity"), 0),
        redemptions=Count("uuid", filter=Q(reversal__isnull=True)),
    )
    return {"spent_cents": -(row["spent"] + row["refunded"]), "redemptions": row["redemptions"]}


def assert_totals_match_rows(world: RedemptionWorld) -> None:
    assert ledger_totals.drift() == []
    assert balance_cents(world.subsidy) == summed_balance_cents(world.subsidy)
    assert policy_spend(world.policy.pk) == summed_policy_spend(world.policy)
    assert running_totals(subsidy=world.subsidy, policy_uuid=world.policy.pk) == RunningTotals(
        summed_balance_cents(world.subsidy), summed_policy_spend(world.policy)
    )


def test_totals_follow_every_ledger_service_deposits_redemptions_failures_and_reversals():
    world = RedemptionWorld()
    assert_totals_match_rows(world)

    entries = world.redeem(3)
    deposit(subsidy=world.subsidy, quantity_cents=5_000, sales_contract_reference_id="TOPUP")
    reverse_redemption(entry=entries[0])
    learner = LearnerFactory(customer=world.customer)
    Enrollment.objects.create(lms_user_id=learner.lms_user_id, course_run=world.run)  # fulfillment will refuse
    with pytest.raises(FulfillmentError):
        redeem(policy=world.policy, lms_user_id=learner.lms_user_id, content_key=world.run.key)

    assert Transaction.objects.filter(state=TransactionState.FAILED).count() == 1
    assert balance_cents(world.subsidy) == 1_000_000 + 5_000 - 2 * 10_000
    assert policy_spend(world.policy.pk) == {"spent_cents": 20_000, "redemptions": 2}
    assert_totals_match_rows(world)


def test_a_rolled_back_unit_of_work_leaves_the_totals_as_they_were():
    world = RedemptionWorld()
    before = list(LedgerTotal.objects.values_list("policy_uuid", "net_cents", "redemptions").order_by("pk"))

    with pytest.raises(RuntimeError), transaction.atomic():
        world.redeem(2)
        raise RuntimeError("roll back")

    assert list(LedgerTotal.objects.values_list("policy_uuid", "net_cents", "redemptions").order_by("pk")) == before
    assert_totals_match_rows(world)


def test_totals_follow_rows_written_by_hand_updated_and_deleted():
    world = RedemptionWorld()
    [spent] = world.redeem(1)
    by_hand = {"subsidy": world.subsidy, "subsidy_access_policy_uuid": world.policy.pk, "lms_user_id": 7}
    pending = Transaction.objects.create(idempotency_key="h-1", quantity=-2_000, state="pending", **by_hand)
    Transaction.objects.create(idempotency_key="h-2", quantity=-4_000, state="failed", **by_hand)
    Transaction.objects.bulk_create(
        [Transaction(idempotency_key=f"h-bulk-{n}", quantity=-100, state="committed", **by_hand) for n in range(5)]
    )
    assert_totals_match_rows(world)

    reversal = Reversal.objects.create(transaction=spent, quantity=10_000, idempotency_key="rev-by-hand")
    assert_totals_match_rows(world)
    Transaction.objects.filter(pk=pending.pk).update(state="failed")  # a queryset update, no save()
    assert_totals_match_rows(world)
    pending.refresh_from_db()
    pending.state, pending.quantity = "committed", -2_500
    pending.save()
    assert_totals_match_rows(world)
    Reversal.objects.filter(pk=reversal.pk).update(quantity=4_000)
    assert_totals_match_rows(world)
    reversal.delete()
    pending.delete()
    assert_totals_match_rows(world)


def test_a_policy_spending_from_two_subsidies_sums_both():
    world = RedemptionWorld()
    world.redeem(2)
    other = make_policy(customer=world.customer, catalog=world.catalog)
    Transaction.objects.create(
        subsidy=other.subsidy,
        idempotency_key="moved",
        quantity=-300,
        state="committed",
        subsidy_access_policy_uuid=world.policy.pk,
    )

    assert (
        policy_spend(world.policy.pk)
        == summed_policy_spend(world.policy)
        == {
            "spent_cents": 20_300,
            "redemptions": 3,
        }
    )
    assert ledger_totals.drift() == []


def test_rebuild_repairs_totals_that_were_tampered_with():
    world = RedemptionWorld()
    world.redeem(2)
    LedgerTotal.objects.filter(subsidy=world.subsidy).update(net_cents=1, redemptions=99)
    assert ledger_totals.drift() != []

    ledger_totals.rebuild()

    assert_totals_match_rows(world)


def test_after_migrate_missing_triggers_are_reinstalled_and_the_totals_rebuilt():
    """SQLite drops a table's triggers when a migration rebuilds the table; post_migrate puts them back."""
    world = RedemptionWorld()
    with connection.cursor() as cursor:
        on_table = " ON subsidies_transaction" if connection.vendor == "postgresql" else ""
        cursor.execute(f"DROP TRIGGER subsidies_tx_totals_insert{on_table}")
    world.redeem(1)  # not counted: the trigger is gone
    assert ledger_totals.drift() != []

    ledger_totals.ensure_installed(connection)

    assert_totals_match_rows(world)
    world.redeem(1)
    assert_totals_match_rows(world)
