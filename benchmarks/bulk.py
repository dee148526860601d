"""Benchmark 7: a forced-redemption batch (issue 13) next to single forced redemptions, in the same run.

Single: `create_forced_redemption` for distinct learners into the closed run, as benchmark 1 does, on the same
database just before. Batch: a file of `rows` distinct learners (half named by email) through the real
services, inline: upload (read and store), check (every row's verdict), run (each row its forced redemption).
Reports rows per second for each phase and for the whole, and the cost of a run row as a fraction of a single
forced redemption (target: at most 0.5). Checks that every row was charged once and the balance moved by
exactly that.
"""

from __future__ import annotations

import io
import time

from benchmarks.fixtures import World, add_policy, link_learners
from benchmarks.report import ERROR, Metric, at_most
from subsidies import selectors as ledger_reads
from subsidies.models import Transaction, TransactionState


def batch_rows(world: World, *, rows: int, singles: int) -> list[Metric]:
    from forced_batches import runner, services
    from forced_batches.models import BatchRow, Outcome
    from forced_batches.selectors import summary
    from forced_redemptions.services import create_forced_redemption

    policy = add_policy(
        customer=world.customer,
        catalog=world.catalog,
        subsidy=world.subsidy,
        name="Bench 7: batch",
        spend_limit_cents=10_000_000_000,
        per_learner_spend_limit_cents=1_000_000,
    )
    single_learners = [80_000_000 + i for i in range(singles + 10)]
    batch_learners = [81_000_000 + i for i in range(rows)]
    link_learners(world.customer, single_learners + batch_learners)
    run_key = world.closed_run.key

    def force(lms_user_id: int):
        return create_forced_redemption(
            actor=world.admin,
            subsidy_access_policy=policy,
            lms_user_id=lms_user_id,
            course_run_key=run_key,
            reason="BENCH-7: single forced redemption",
        )

    for lms_user_id in single_learners[:10]:  # warm-up
        force(lms_user_id)
    start = time.perf_counter()
    for lms_user_id in single_learners[10:]:
        force(lms_user_id)
    single_rate = singles / (time.perf_counter() - start)

    lines = ["lms_user_id,email,course_run_key"]
    for index, lms_user_id in enumerate(batch_learners):
        email = f"learner{lms_user_id}@bench.example" if index % 2 else ""
        lines.append(f"{'' if email else lms_user_id},{email},{run_key}")
    content = ("\n".join(lines) + "\n").encode()
    balance_before = ledger_reads.balance_cents(world.subsidy)

    start = time.perf_counter()
    batch = services.upload_batch(
        file=io.BytesIO(content), file_name="bench.csv", actor=world.admin, reason="BENCH-7", policy=policy, queue=False
    )
    uploaded = time.perf_counter()
    batch = services.check_batch(batch.pk)
    checked = time.perf_counter()
    services.start_batch(batch=batch, actor=world.admin, queue=False)
    batch = runner.run_batch(batch.pk)
    finished = time.perf_counter()

    numbers = summary(batch, with_policies=False)
    charged = Transaction.objects.filter(
        subsidy_access_policy_uuid=policy.pk, state=TransactionState.COMMITTED, lms_user_id__in=batch_learners
    ).values("lms_user_id")
    distinct = charged.distinct().count()
    consistent = (
        numbers.redeemed == rows
        and charged.count() == distinct == rows
        and BatchRow.objects.filter(batch=batch, outcome=Outcome.RUN).count() == rows
        and balance_before - ledger_reads.balance_cents(world.subsidy) == rows * world.closed_run.price_cents
    )
    run_rate = rows / (finished - checked)
    whole_rate = rows / (finished - start)
    row_cost = single_rate / run_rate
    details = {
        "rows": rows,
        "singles": singles,
        "upload_s": round(uploaded - start, 3),
        "check_s": round(checked - uploaded, 3),
        "run_s": round(finished - checked, 3),
        "state": batch.state,
        "counts": numbers.counts(),
        "chunk": runner.LOCAL_CHUNK,
    }
    return [
        Metric(7, "batch_single_forced_per_s", "single forced redemptions (same run)", single_rate, "/s"),
        Metric(
            7, "batch_upload_rows_per_s", f"batch of {rows:,}: rows read and stored", rows / (uploaded - start), "/s"
        ),
        Metric(7, "batch_check_rows_per_s", "  rows checked (the preview)", rows / (checked - uploaded), "/s"),
        Metric(7, "batch_run_rows_per_s", "  rows run (each its forced redemption)", run_rate, "/s", details=details),
        Metric(7, "batch_rows_per_s", "  rows per second, upload to finished", whole_rate, "/s"),
        Metric(
            7,
            "batch_row_cost",
            "  a run row's cost / a single forced's",
            round(row_cost, 3),
            "x",
            "<= 0.5",
            at_most(row_cost, 0.5) if consistent else ERROR,
            details,
        ),
    ]
