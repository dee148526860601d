"""Reads about subsidies: balances and transactions. All amounts are integer cents."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID, uuid4

from django.db.models import BigIntegerField, Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce

from common.prepared import PreparedRead
from subsidies.models import Deposit, LedgerTotal, Reversal, Subsidy, Transaction, TransactionState

_LIVE = ~Q(state=TransactionState.FAILED)


def _sum(queryset: QuerySet, field: str = "quantity") -> int:
    return queryset.aggregate(total=Coalesce(Sum(field), 0))["total"]


def is_redeemed(entry: Transaction) -> bool:
    """Committed and not refunded: a redemption that stands."""
    if entry.state != TransactionState.COMMITTED:
        return False
    try:
        entry.reversal  # noqa: B018 - raises when there is none
    except Reversal.DoesNotExist:
        return True
    return False


def net_cents(entries: QuerySet[Transaction]) -> int:
    """What these transactions come to with their reversals, whatever their states (the caller filtered them)."""
    row = entries.order_by().aggregate(
        spent=Coalesce(Sum("quantity"), 0), refunded=Coalesce(Sum("reversal__quantity"), 0)
    )
    return row["spent"] + row["refunded"]


def balance_cents(subsidy: Subsidy | UUID | str) -> int:
    """Sum of non-failed transactions plus their reversals: one row read from the running totals.

    The totals are kept by database triggers on every ledger write (subsidies/ledger_totals.py), so this
    equals the sum over the rows; summing them here would cost a pass over the whole ledger.
    """
    subsidy_id = getattr(subsidy, "pk", subsidy)
    totals = LedgerTotal.objects.filter(subsidy_id=subsidy_id, policy_uuid__isnull=True)
    return totals.values_list("net_cents", flat=True).first() or 0


@dataclass(frozen=True)
class RunningTotals:
    balance_cents: int
    policy_spend: dict[str, int]


def running_totals(*, subsidy: Subsidy | UUID | str, policy_uuid: UUID) -> RunningTotals:
    """`balance_cents(subsidy)` and `policy_spend(policy_uuid)` in one read: what every redemption checks."""
    subsidy_id = getattr(subsidy, "pk", subsidy)
    rows = LedgerTotal.objects.filter(
        Q(subsidy_id=subsidy_id, policy_uuid__isnull=True) | Q(policy_uuid=policy_uuid)
    ).values_list("policy_uuid", "net_cents", "redemptions")
    balance = policy_net = redemptions = 0
    for policy, net, redeemed in rows:
        if policy is None:
            balance = net
        else:
            policy_net += net
            redemptions += redeemed
    return RunningTotals(balance, {"spent_cents": -policy_net, "redemptions": redemptions})


def running_totals_annotations(*, subsidy_ref: str, policy_ref: str) -> dict[str, Any]:
    """`running_totals` as annotations, for reading the totals in the same statement as another row.

    The redemption unit reads them in the statement that locks the policy, which starts after the
    subsidy lock is held: every ledger write holds that lock, so the values are current.
    """
    return {
        "ledger_balance_cents": balance_cents_expression(subsidy_ref),
        "ledger_policy_spent_cents": policy_spent_cents_expression(policy_ref),
        "ledger_policy_redemptions": _correlated_sum(
            LedgerTotal.objects.filter(policy_uuid=OuterRef(policy_ref)), "policy_uuid", Sum("redemptions")
        ),
    }


def running_totals_of(annotated) -> RunningTotals:
    """The RunningTotals of a row annotated with `running_totals_annotations`."""
    return RunningTotals(
        annotated.ledger_balance_cents,
        {"spent_cents": annotated.ledger_policy_spent_cents, "redemptions": annotated.ledger_policy_redemptions},
    )


def total_deposits_cents(subsidy: Subsidy | UUID | str) -> int:
    subsidy_id = getattr(subsidy, "pk", subsidy)
    return _sum(Deposit.objects.filter(subsidy_id=subsidy_id), "transaction__quantity")


def policy_spend(policy_uuid: UUID, *, lms_user_id: int | None = None) -> dict[str, int]:
    """Spent cents (positive number) and redemption count under a policy, net of reversals.

    With `lms_user_id`, only that learner's (a sum over their few rows); without, the policy's running
    totals (one row per subsidy the policy spent from).
    """
    if lms_user_id is None:
        row = LedgerTotal.objects.filter(policy_uuid=policy_uuid).aggregate(
            net=Coalesce(Sum("net_cents"), 0), redemptions=Coalesce(Sum("redemptions"), 0)
        )
        return {"spent_cents": -row["net"], "redemptions": row["redemptions"]}
    filters = Q(subsidy_access_policy_uuid=policy_uuid, lms_user_id=lms_user_id) & _LIVE
    row = Transaction.objects.filter(filters).aggregate(
        spent=Coalesce(Sum("quantity"), 0),
        refunded=Coalesce(Sum("reversal__quantity"), 0),
        redemptions=Count("uuid", filter=Q(reversal__isnull=True)),
    )
    return {"spent_cents": -(row["spent"] + row["refunded"]), "redemptions": row["redemptions"]}


class LedgerRow(NamedTuple):
    uuid: UUID
    subsidy_id: UUID
    idempotency_key: str
    state: str
    content_key: str
    quantity: int
    reversal_quantity: int | None
    created: dt.datetime
    failure_reason: str


@dataclass(frozen=True)
class LearnerLedger:
    """One learner's transactions under one policy (any content, any state), read in one query.

    What a redemption needs of them: the learner's spend (the same sums as `policy_spend(policy,
    lms_user_id=...)`), the settled transactions of one content, a live transaction by key, and how often
    redeeming one content failed lately.
    """

    rows: tuple[LedgerRow, ...]

    def spend(self) -> dict[str, int]:
        live = [row for row in self.rows if row.state != TransactionState.FAILED]
        spent = sum(row.quantity for row in live) + sum(row.reversal_quantity or 0 for row in live)
        return {"spent_cents": -spent, "redemptions": sum(1 for row in live if row.reversal_quantity is None)}

    def settled_uuids(self, content_key: str) -> list[UUID]:
        """Failed or reversed transactions of one content: each one makes a retry's idempotency key new."""
        return [
            row.uuid
            for row in self.rows
            if row.content_key == content_key
            and (row.state == TransactionState.FAILED or row.reversal_quantity is not None)
        ]

    def live_uuid_with_key(self, subsidy_id, idempotency_key: str) -> UUID | None:
        for row in self.rows:
            same = row.subsidy_id == subsidy_id and row.idempotency_key == idempotency_key
            if same and row.state != TransactionState.FAILED:
                return row.uuid
        return None

    def live_uuid_for_content(self, subsidy_id, content_key: str) -> UUID | None:
        """The learner's redemption of `content_key` that is neither failed nor reversed, whatever its key."""
        for row in self.rows:
            live = row.state != TransactionState.FAILED and row.reversal_quantity is None
            if live and row.subsidy_id == subsidy_id and row.content_key == content_key:
                return row.uuid
        return None

    def recent_failures(self, content_key: str, *, since: dt.datetime) -> list[LedgerRow]:
        """Failed redemptions of one content since `since`, oldest first."""
        failed = [
            row
            for row in self.rows
            if row.content_key == content_key and row.state == TransactionState.FAILED and row.created >= since
        ]
        return sorted(failed, key=lambda row: row.created)


_LEARNER_LEDGER = PreparedRead(
    lambda policy_uuid, lms_user_id: Transaction.objects.filter(
        subsidy_access_policy_uuid=policy_uuid, lms_user_id=lms_user_id
    ).values_list(*LedgerRow._fields[:6], "reversal__quantity", "created", "failure_reason"),
    policy_uuid=uuid4(),
    lms_user_id=1,
)


def learner_ledger(policy_uuid: UUID, lms_user_id: int) -> LearnerLedger:
    rows = _LEARNER_LEDGER(policy_uuid=policy_uuid, lms_user_id=lms_user_id)
    return LearnerLedger(tuple(LedgerRow(*row) for row in rows))


def learner_ledgers(policy_uuid: UUID, lms_user_ids) -> dict[int, LearnerLedger]:
    """`learner_ledger` of many learners under one policy, in one query (learners without any are left out)."""
    rows: dict[int, list[LedgerRow]] = {}
    found = Transaction.objects.filter(subsidy_access_policy_uuid=policy_uuid, lms_user_id__in=list(lms_user_ids))
    for lms_user_id, *row in found.values_list(
        "lms_user_id", *LedgerRow._fields[:6], "reversal__quantity", "created", "failure_reason"
    ):
        rows.setdefault(lms_user_id, []).append(LedgerRow(*row))
    return {lms_user_id: LearnerLedger(tuple(learner_rows)) for lms_user_id, learner_rows in rows.items()}


def learner_transactions(*, policy_uuids, lms_user_id: int, content_key: str) -> QuerySet[Transaction]:
    """Every transaction (any state) of one learner for one content under the given policies, oldest first.

    `policy_uuids` may be a list or a queryset of policy primary keys.
    """
    return (
        Transaction.objects.filter(
            subsidy_access_policy_uuid__in=policy_uuids, lms_user_id=lms_user_id, content_key=content_key
        )
        .select_related("reversal")
        .order_by("created")
    )


def transactions_for(subsidy: Subsidy | UUID | str) -> QuerySet[Transaction]:
    return Transaction.objects.filter(subsidy_id=getattr(subsidy, "pk", subsidy)).select_related("reversal")


# The same sums as `balance_cents`, `total_deposits_cents` and `policy_spend`, as expressions for
# `.annotate()`, so a list of subsidies or policies costs one query however many rows it shows.


def _correlated_sum(queryset: QuerySet, group_by: str, total) -> Coalesce:
    rows = queryset.order_by().values(group_by).annotate(total=total).values("total")
    return Coalesce(Subquery(rows[:1], output_field=BigIntegerField()), 0, output_field=BigIntegerField())


def balance_cents_expression(subsidy_ref: str = "pk") -> Coalesce:
    """`balance_cents` of the subsidy at `OuterRef(subsidy_ref)`: its running total, not a sum over its ledger."""
    return _correlated_sum(
        LedgerTotal.objects.filter(subsidy_id=OuterRef(subsidy_ref), policy_uuid__isnull=True),
        "subsidy_id",
        Sum("net_cents"),
    )


def total_deposits_cents_expression(subsidy_ref: str = "pk") -> Coalesce:
    """`total_deposits_cents` of the subsidy at `OuterRef(subsidy_ref)`."""
    return _correlated_sum(
        Deposit.objects.filter(subsidy_id=OuterRef(subsidy_ref)), "subsidy_id", Sum("transaction__quantity")
    )


def policy_spent_cents_expression(policy_ref: str = "pk") -> CombinedExpression:
    """`policy_spend(...)["spent_cents"]` of the policy whose uuid is at `OuterRef(policy_ref)` (running totals)."""
    return -_correlated_sum(
        LedgerTotal.objects.filter(policy_uuid=OuterRef(policy_ref)), "policy_uuid", Sum("net_cents")
    )
