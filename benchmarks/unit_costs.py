"""What one redemption unit costs: its rate, its statements, its SQL floor, its Python, its time under the lock.

Benchmark 6 (learner redemptions in process, sequential) and the lock timing shared with benchmark 1.

Time under the subsidy lock bounds one subsidy's rate: every redemption of a subsidy queues for its row. It is
measured from the statement that takes the lock (PostgreSQL: the subsidy's `SELECT ... FOR UPDATE`; SQLite:
`BEGIN IMMEDIATE`, which takes the database's write lock) to the end of the commit that releases it (an
`on_commit` callback), over a separate pass so the timing hook does not slow the measured rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from benchmarks.fixtures import World, add_policy, link_learners
from benchmarks.measures import percentile, sql_floor
from benchmarks.report import ERROR, INFO, Metric
from subsidies import selectors as ledger_reads
from subsidies.models import Transaction, TransactionState

# Each benchmark links its own learners: 1 uses 30-31 million, 4 40 million, 2 50 million, 5 60 million.
LEARNER_BASE = 70_000_000


def _takes_the_lock(sql: str) -> bool:
    if connection.vendor == "sqlite":
        return sql.startswith("BEGIN")
    return '"subsidies_subsidy"' in sql and "FOR UPDATE" in sql and sql.lstrip().startswith("SELECT")


def time_under_lock(unit: Callable[[int], object], learners: list[int]) -> dict:
    """Run `unit(learner)` for each learner; milliseconds from taking the subsidy lock to the commit that frees it."""
    held: list[float] = []
    state = {"since": None, "armed": False}

    def released():
        held.append((time.perf_counter() - state["since"]) * 1000)
        state["since"], state["armed"] = None, False

    def timer(execute, sql, params, many, context):
        if state["since"] is None and _takes_the_lock(sql):
            state["since"] = time.perf_counter()
        elif state["since"] is not None and not state["armed"] and connection.in_atomic_block:
            # SQLite's BEGIN runs before the atomic block is entered: arm the callback on the next statement.
            state["armed"] = True
            transaction.on_commit(released)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(timer):
        for learner in learners:
            state["since"], state["armed"] = None, False
            unit(learner)
    if not held:
        return {"mean_ms": None, "p50_ms": None, "units": len(learners), "windows": 0}
    return {
        "mean_ms": round(sum(held) / len(learners), 3),  # per unit, however many lock windows it has
        "p50_ms": round(percentile(held, 50), 3),  # per window
        "units": len(learners),
        "windows": len(held),
    }


def measure_unit(
    bench: int,
    name: str,
    unit: Callable[[int], object],
    learners: list[int],
    *,
    max_seconds: float,
    succeeded: Callable[[object], bool],
) -> tuple[list[Metric], dict]:
    """Rate, statements, SQL floor, Python per unit and time under the lock of `unit`, one learner per call.

    `learners` are fresh, linked learners; the first 10 warm up, one is captured for its statements, most are
    timed, 100 are kept for the lock pass and one for the floor.
    """
    warmup, lock_pass = learners[:10], learners[-101:-1]
    timed, spare = learners[11:-101], learners[-1]
    for learner in warmup:
        unit(learner)
    with CaptureQueriesContext(connection) as queries:
        unit(learners[10])
    failures = 0
    done, start = 0, time.perf_counter()
    for learner in timed:
        if not succeeded(unit(learner)):
            failures += 1
        done += 1
        if time.perf_counter() - start > max_seconds:
            break
    elapsed = time.perf_counter() - start
    rate = done / elapsed
    lock = time_under_lock(unit, lock_pass)
    floor = sql_floor(lambda: unit(spare), repeats=max(20, min(done, 300)))
    python_ms = round(1000 / rate - floor["ms_per_unit"], 3)
    details = {
        "units": done,
        "seconds": round(elapsed, 3),
        "failures": failures,
        "statements": len(queries),
        "sql_floor_ms": floor["ms_per_unit"],
        "python_ms_per_unit": python_ms,
        "lock": lock,
        "statement_log": [q["sql"][:160] for q in queries.captured_queries],
    }
    metrics = [
        Metric(bench, f"{name}_per_s", _LABELS[name], rate, "/s", status=INFO if not failures else ERROR),
        Metric(bench, f"{name}_statements", "  SQL statements per unit", len(queries)),
        Metric(bench, f"{name}_python_ms", "  Python per unit (time less its SQL floor)", python_ms, "ms"),
        Metric(bench, f"{name}_lock_ms", "  time under the subsidy lock per unit", lock["mean_ms"], "ms"),
    ]
    return metrics, details


_LABELS = {
    "learner_unit": "learner redemptions in process, sequential",
    "forced_unit": "forced redemptions in process (unit costs)",
}


def learner_redemptions(world: World, *, count: int, max_seconds: float) -> list[Metric]:
    """Benchmark 6: `redeem` for one new learner after another into the open run, on the big ledger's subsidy."""
    from policies.services import redeem

    policy = add_policy(
        customer=world.customer,
        catalog=world.catalog,
        subsidy=world.subsidy,
        name="Bench 6: learner redemptions in process",
        spend_limit_cents=10_000_000_000,
        per_learner_spend_limit_cents=1_000_000,
    )
    learners = [LEARNER_BASE + i for i in range(count + 112)]
    link_learners(world.customer, learners)
    balance_before = ledger_reads.balance_cents(world.subsidy)

    def unit(lms_user_id: int):
        return redeem(policy=policy, lms_user_id=lms_user_id, content_key=world.open_run.key)

    metrics, details = measure_unit(
        6,
        "learner_unit",
        unit,
        learners,
        max_seconds=max_seconds,
        succeeded=lambda result: result.transaction.state == TransactionState.COMMITTED,
    )
    charged = Transaction.objects.filter(subsidy_access_policy_uuid=policy.pk, state=TransactionState.COMMITTED)
    count_charged = charged.count()
    spent = balance_before - ledger_reads.balance_cents(world.subsidy)
    consistent = spent == count_charged * world.open_run.price_cents and not details["failures"]
    metrics[0].details = details | {"charged": count_charged, "consistent": consistent}
    if not consistent:
        metrics[0].status = ERROR
    return metrics
