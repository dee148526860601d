"""Reads about batches: their counts and preview totals (a few grouped queries whatever the size), and the
results, streamed a chunk at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import Count, Q, Sum

from forced_batches.models import BatchRow, ForcedRedemptionBatch, Outcome, Verdict
from forced_redemptions.models import ForcedState
from subsidies import selectors as ledger_reads


@dataclass
class PolicyTotal:
    """What the redeemable rows of one policy will charge, against its subsidy's balance and its spend limit."""

    policy_uuid: str
    policy_name: str
    rows: int
    charge_cents: int
    balance_cents: int
    spend_limit_cents: int | None
    spent_cents: int


@dataclass
class BatchSummary:
    total: int = 0
    checked: int = 0
    redeemable: int = 0
    refused: int = 0
    redeemed: int = 0
    pending: int = 0
    errored: int = 0
    skipped: int = 0
    charged_cents: int = 0
    to_charge_cents: int = 0
    refused_by_reason: dict[str, int] = field(default_factory=dict)
    policies: list[PolicyTotal] = field(default_factory=list)

    @property
    def run(self) -> int:
        return self.redeemed + self.pending + self.errored + self.skipped

    @property
    def percent_done(self) -> int:
        return 100 if not self.total else round(100 * self.run / self.total)

    @property
    def percent_checked(self) -> int:
        return 100 if not self.total else round(100 * self.checked / self.total)

    def counts(self) -> dict[str, int]:
        return {
            "total": self.total,
            "checked": self.checked,
            "redeemable": self.redeemable,
            "refused": self.refused,
            "redeemed": self.redeemed,
            "pending": self.pending,
            "errored": self.errored,
            "skipped": self.skipped,
        }


_NUMBERS = ("checked", "redeemable", "refused", "redeemed", "pending", "errored", "skipped", "charged", "to_charge")


def _numbers(prefix: str = "") -> dict:
    """The counts and sums of a batch's rows, as aggregates over its rows (`prefix` "rows__": annotations of
    batches). A run row is as its forced redemption is now: a pending one settles later, when the downstream
    answers."""

    def q(**lookups) -> Q:
        return Q(**{f"{prefix}{name}": value for name, value in lookups.items()})

    run = q(outcome=Outcome.RUN)
    redeemed = run & q(forced_redemption__redeemed_at__isnull=False)
    errored = run & q(forced_redemption__redeemed_at__isnull=True, forced_redemption__errored_at__isnull=False)
    pending = run & q(forced_redemption__redeemed_at__isnull=True, forced_redemption__errored_at__isnull=True)
    row = f"{prefix}pk" if prefix else "pk"
    return {
        "checked": Count(row, filter=~q(verdict=Verdict.UNCHECKED)),
        "redeemable": Count(row, filter=q(verdict=Verdict.REDEEMABLE)),
        "refused": Count(row, filter=q(verdict=Verdict.REFUSED)),
        "redeemed": Count(row, filter=redeemed),
        "pending": Count(row, filter=pending),
        "errored": Count(row, filter=errored),
        "skipped": Count(row, filter=q(outcome=Outcome.SKIPPED)),
        "charged": Sum(f"{prefix}forced_redemption__charged_cents", filter=redeemed),
        "to_charge": Sum(f"{prefix}price_cents", filter=q(verdict=Verdict.REDEEMABLE)),
    }


def with_numbers(batches):
    """Batches annotated with their rows' counts and sums in the same query (a list's one query, not one per
    batch); `summary` reads them from there."""
    return batches.annotate(**{f"numbers_{name}": expression for name, expression in _numbers("rows__").items()})


def _summary_of(batch: ForcedRedemptionBatch, numbers: dict) -> BatchSummary:
    return BatchSummary(
        total=batch.total_rows,
        **{name: numbers[name] for name in ("checked", "redeemable", "refused", "redeemed", "pending", "errored")},
        skipped=numbers["skipped"],
        charged_cents=numbers["charged"] or 0,
        to_charge_cents=numbers["to_charge"] or 0,
    )


def state_of(batch: ForcedRedemptionBatch) -> str:
    """The batch's state as stored now (another process may have cancelled it)."""
    return ForcedRedemptionBatch.objects.filter(pk=batch.pk).values_list("state", flat=True).first()


def list_summary(batch: ForcedRedemptionBatch) -> BatchSummary:
    """The counts of a batch read through `with_numbers` (no refusals by reason, no policy totals)."""
    return _summary_of(batch, {name: getattr(batch, f"numbers_{name}") for name in _NUMBERS})


def summary(batch: ForcedRedemptionBatch, *, with_policies: bool = True) -> BatchSummary:
    rows = BatchRow.objects.filter(batch=batch)
    result = _summary_of(batch, rows.aggregate(**_numbers()))
    by_reason = rows.filter(verdict=Verdict.REFUSED).values("check_reason").annotate(n=Count("pk")).order_by("-n")
    result.refused_by_reason = {item["check_reason"]: item["n"] for item in by_reason}
    if with_policies:
        result.policies = _policy_totals(rows)
    return result


def _policy_totals(rows) -> list[PolicyTotal]:
    grouped = (
        rows.filter(verdict=Verdict.REDEEMABLE)
        .values(
            "subsidy_access_policy",
            "subsidy_access_policy__display_name",
            "subsidy_access_policy__subsidy",
            "subsidy_access_policy__spend_limit_cents",
        )
        .annotate(n=Count("pk"), charge=Sum("price_cents"))
        .order_by("subsidy_access_policy__display_name")
    )
    totals = []
    for item in grouped:
        policy_uuid = item["subsidy_access_policy"]
        ledger = ledger_reads.running_totals(subsidy=item["subsidy_access_policy__subsidy"], policy_uuid=policy_uuid)
        totals.append(
            PolicyTotal(
                policy_uuid=str(policy_uuid),
                policy_name=item["subsidy_access_policy__display_name"],
                rows=item["n"],
                charge_cents=item["charge"] or 0,
                balance_cents=ledger.balance_cents,
                spend_limit_cents=item["subsidy_access_policy__spend_limit_cents"],
                spent_cents=ledger.policy_spend["spent_cents"],
            )
        )
    return totals


RESULT_COLUMNS = (
    "line",
    "lms_user_id",
    "email",
    "course_run_key",
    "subsidy_access_policy_uuid",
    "verdict",
    "check_reason",
    "check_message",
    "price_cents",
    "outcome",
    "outcome_reason",
    "outcome_message",
    "charged_cents",
    "forced_redemption_uuid",
    "transaction_uuid",
)


def row_outcome(row: BatchRow) -> str:
    """What happened to a row: redeemed, reversed, pending, errored (as its forced redemption is now), skipped,
    or "" (not run yet)."""
    if row.outcome != Outcome.RUN or row.forced_redemption is None:
        return row.outcome
    return str(row.forced_redemption.state)


def result_rows(batch: ForcedRedemptionBatch, *, chunk: int = 500) -> Iterator[list]:
    """Every row with its verdict and outcome (as its forced redemption is now), in line order, streamed."""
    rows = BatchRow.objects.filter(batch=batch).select_related("forced_redemption").order_by("line")
    for row in rows.iterator(chunk_size=chunk):
        record = row.forced_redemption
        outcome = row_outcome(row)
        if record is not None:
            reason, message = record.error_reason, record.error_message
            if outcome in (ForcedState.REDEEMED, ForcedState.REVERSED):
                message = f"Redeemed: charged {record.charged_cents} cents (transaction {record.transaction_uuid})."
            elif outcome == ForcedState.PENDING:
                message = "Reserved; the enrollment is being made downstream."
        else:
            reason, message = row.outcome_reason, row.outcome_message
        yield [
            row.line,
            row.lms_user_id or "",
            row.email,
            row.course_run_key,
            row.subsidy_access_policy_id or "",
            row.verdict,
            row.check_reason,
            row.check_message,
            "" if row.price_cents is None else row.price_cents,
            outcome,
            reason,
            message,
            "" if record is None or record.charged_cents is None else record.charged_cents,
            row.record_uuid if record is not None else "",
            (record.transaction_uuid or "") if record is not None else "",
        ]
