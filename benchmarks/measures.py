"""Benchmarks 0, 1, 3 and 4: run in this process, on the benchmark database."""

from __future__ import annotations

import statistics
import time
import uuid

from django.db import connection, reset_queries, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from benchmarks.fixtures import BATCH, World, add_policy, link_learners
from benchmarks.report import ERROR, INFO, MISS, PASS, Metric, at_least, at_most
from fulfillment.models import Enrollment
from policies.models import SubsidyAccessPolicy
from policies.redeemability import can_redeem
from subsidies import selectors as ledger_reads
from subsidies.models import Transaction, TransactionState


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# 0 ---------------------------------------------------------------------------------------------------------------
def ceiling(*, seconds: float, max_rows: int) -> list[Metric]:
    """The database's own single-row INSERT + COMMIT rate, through the same connection settings."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_ceiling")
        cursor.execute("CREATE TABLE bench_ceiling (id BIGINT PRIMARY KEY, note VARCHAR(64) NOT NULL)")
        for i in range(20):  # warm-up
            with transaction.atomic():
                cursor.execute("INSERT INTO bench_ceiling (id, note) VALUES (%s, %s)", [-1 - i, "warm-up"])
        done, start = 0, time.perf_counter()
        while done < max_rows and time.perf_counter() - start < seconds:
            with transaction.atomic():
                cursor.execute("INSERT INTO bench_ceiling (id, note) VALUES (%s, %s)", [done, f"row {done}"])
            done += 1
        elapsed = time.perf_counter() - start
        cursor.execute("DROP TABLE bench_ceiling")
    return [
        Metric(0, "ceiling_commits_per_s", "ceiling: raw INSERT+COMMIT", done / elapsed, "/s", details={"rows": done})
    ]


# 1 ---------------------------------------------------------------------------------------------------------------
def forced_redemptions(world: World, *, count: int, max_seconds: float) -> list[Metric]:
    """Sequential forced redemptions into a closed run, each the whole unit of work, each a distinct learner."""
    from forced_redemptions.models import ForcedRedemptionAttempt
    from forced_redemptions.services import create_forced_redemption

    policy = add_policy(
        customer=world.customer,
        catalog=world.catalog,
        subsidy=world.subsidy,
        name="Bench 1: forced",
        spend_limit_cents=10_000_000_000,
        per_learner_spend_limit_cents=1_000_000,
    )
    warmup = 10
    learners = [30_000_000 + i for i in range(count + warmup)]
    lock_pass = [31_000_000 + i for i in range(100)]
    link_learners(world.customer, learners + lock_pass)
    run_key = world.closed_run.key
    balance_before = ledger_reads.balance_cents(world.subsidy)

    def force(lms_user_id: int):
        return create_forced_redemption(
            actor=world.admin,
            subsidy_access_policy=policy,
            lms_user_id=lms_user_id,
            course_run_key=run_key,
            reason="BENCH-1: sequential forced redemption",
        )

    failures: dict[str, int] = {}
    for lms_user_id in learners[:warmup]:
        force(lms_user_id)
    with CaptureQueriesContext(connection) as queries:
        force(learners[warmup])
    per_unit_queries = len(queries)
    done, start = 0, time.perf_counter()
    for lms_user_id in learners[warmup + 1 :]:
        record = force(lms_user_id)
        if record.state != "redeemed":
            failures[record.error_reason or record.state] = failures.get(record.error_reason or record.state, 0) + 1
        done += 1
        if time.perf_counter() - start > max_seconds:
            break
    elapsed = time.perf_counter() - start
    from benchmarks.unit_costs import time_under_lock

    lock = time_under_lock(force, lock_pass)
    attempted = warmup + 1 + done + len(lock_pass)

    charged = Transaction.objects.filter(subsidy_access_policy_uuid=policy.pk, state=TransactionState.COMMITTED).count()
    enrolled = Enrollment.objects.filter(course_run=world.closed_run, forced=True, active=True).count()
    attempts = ForcedRedemptionAttempt.objects.filter(forced_redemption__subsidy_access_policy=policy).count()
    balance_after = ledger_reads.balance_cents(world.subsidy)
    consistent = (
        not failures
        and charged == enrolled == attempts == attempted
        and balance_before - balance_after == attempted * world.closed_run.price_cents
    )
    rate = done / elapsed
    spare = learners[-1] + 1  # a learner like the others, redeemed only inside the rolled-back capture
    link_learners(world.customer, [spare])
    floor = sql_floor(lambda: force(spare), repeats=max(20, min(done, 300)))
    details = {
        "redemptions": done,
        "seconds": round(elapsed, 3),
        "queries_per_redemption": per_unit_queries,
        "failures": failures,
        "charged": charged,
        "enrolled": enrolled,
        "attempts": attempts,
        "ledger_transactions": world.ledger_size + attempted,
        "lock": lock,
        "statement_log": [q["sql"][:160] for q in queries.captured_queries],
    }
    return [
        Metric(
            1,
            "forced_redemptions_per_s",
            "forced redemptions, sequential",
            rate,
            "/s",
            ">= 300",
            at_least(rate, 300) if consistent else ERROR,
            details,
        ),
        Metric(1, "forced_queries_per_redemption", "  SQL queries per forced redemption", per_unit_queries),
        Metric(
            1,
            "forced_sql_floor_per_s",
            "  floor: its SQL replayed, no Python",
            floor["per_s"],
            "/s",
            details=floor | {"python_ms_per_unit": round(1000 / rate - floor["ms_per_unit"], 2)},
        ),
        Metric(
            1,
            "forced_python_ms",
            "  Python per unit (time less its SQL floor)",
            round(1000 / rate - floor["ms_per_unit"], 3),
            "ms",
        ),
        Metric(1, "forced_lock_ms", "  time under the subsidy lock per unit", lock["mean_ms"], "ms", details=lock),
    ]


class _RollBack(Exception):
    pass


def sql_floor(unit, *, repeats: int) -> dict:
    """How fast the database alone runs one unit's SQL: the statements one call of `unit()` sends (captured in
    a transaction that is rolled back), replayed `repeats` times through the same connection, each time
    in a transaction that is rolled back. No ORM, no Python between statements and no commit (the ceiling
    measures that), so 1 / floor is the part of a unit no Python change can remove without removing
    statements.
    """
    captured: list[tuple[str, object, bool]] = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params, many))
        return execute(sql, params, many, context)

    try:
        with transaction.atomic(), connection.execute_wrapper(capture):
            unit()
            raise _RollBack
    except _RollBack:
        pass
    # The unit's own transaction ran as a savepoint of the capturing one: replay it as BEGIN ... ROLLBACK.
    if captured and captured[0][0].startswith("SAVEPOINT") and captured[-1][0].startswith("RELEASE SAVEPOINT"):
        captured = captured[1:-1]
    begin = "BEGIN IMMEDIATE" if connection.vendor == "sqlite" else "BEGIN"
    with connection.cursor() as cursor:
        start = time.perf_counter()
        for _ in range(repeats):
            cursor.execute(begin)
            for sql, params, many in captured:
                (cursor.executemany if many else cursor.execute)(sql, params)
            cursor.execute("ROLLBACK")
        elapsed = (time.perf_counter() - start) / repeats
    return {"per_s": 1 / elapsed, "ms_per_unit": round(elapsed * 1000, 3), "statements": len(captured) + 2}


# 3 ---------------------------------------------------------------------------------------------------------------
def can_redeem_latency(world: World, *, samples: int, max_seconds: float = 20.0) -> list[Metric]:
    """can_redeem for a learner of the big ledger's policy: every check runs, including every aggregate."""
    policy = SubsidyAccessPolicy.objects.select_related("subsidy", "customer").get(pk=world.history_policy.pk)
    learner, content_key = world.history_learner, world.open_run.key

    def check():
        return can_redeem(policy, lms_user_id=learner, content_key=content_key)

    verdict = check()
    if not verdict.can_redeem:
        return [Metric(3, "can_redeem_p50_ms", "can_redeem p50", None, "ms", "<= 10", ERROR, {"verdict": str(verdict)})]
    for _ in range(min(50, samples // 5)):
        check()
    with CaptureQueriesContext(connection) as queries:
        check()
    timings: list[float] = []
    deadline = time.perf_counter() + max_seconds
    while len(timings) < samples and time.perf_counter() < deadline:
        start = time.perf_counter()
        check()
        timings.append((time.perf_counter() - start) * 1000)
    p50, p99 = percentile(timings, 50), percentile(timings, 99)
    details = {
        "samples": len(timings),
        "ledger_transactions": Transaction.objects.filter(subsidy=world.subsidy).count(),
    }
    details["queries"] = len(queries)
    return [
        Metric(
            3,
            "can_redeem_p50_ms",
            f"can_redeem p50 ({details['ledger_transactions']:,}-row ledger)",
            p50,
            "ms",
            "<= 10",
            at_most(p50, 10),
            details,
        ),
        Metric(3, "can_redeem_p99_ms", "can_redeem p99", p99, "ms"),
        Metric(3, "can_redeem_queries", "  SQL queries per can_redeem", len(queries)),
    ]


# 4 ---------------------------------------------------------------------------------------------------------------
def admin_changelist(world: World, *, sizes: tuple[int, ...], requests: int) -> list[Metric]:
    """The forced-redemption admin list page, at each size: median time and SQL query count."""
    try:
        url = reverse("admin:forced_redemptions_forcedpolicyredemption_changelist")
    except NoReverseMatch:
        return [
            Metric(
                4,
                "admin_changelist_ms",
                "forced-redemption admin list",
                None,
                "ms",
                "<= 300",
                INFO,
                {"skipped": "the forced-redemption admin is not registered yet"},
            )
        ]
    policy = add_policy(customer=world.customer, catalog=world.catalog, subsidy=world.subsidy, name="Bench 4: admin")
    client = Client()
    client.force_login(world.admin)
    metrics, counts, built = [], {}, 0
    for size in sizes:
        _bulk_forced_records(world, policy, start=built, count=size - built)
        built = size
        times, query_count, status = _time_page(client, url, requests)
        counts[size] = query_count
        median = statistics.median(times)
        details = {"requests": requests, "http_status": status, "max_ms": round(max(times), 1)}
        ok = status == 200
        metrics.append(
            Metric(
                4,
                f"admin_changelist_ms_{size}",
                f"forced admin list, {size:,} records",
                median,
                "ms",
                "<= 300",
                (at_most(median, 300) if ok else ERROR),
                details,
            )
        )
        metrics.append(Metric(4, f"admin_changelist_queries_{size}", "  SQL queries", query_count))
        if size == sizes[-1]:
            query = f"?q={40_000_000 + size // 2}"
            t, q, s = _time_page(client, url + query, max(3, requests // 2))
            metrics.append(
                Metric(
                    4,
                    "admin_changelist_search_ms",
                    f"  search by learner id, {size:,}",
                    statistics.median(t),
                    "ms",
                    details={"queries": q, "http_status": s, "query": query},
                )
            )
    constant = len(set(counts.values())) == 1
    metrics.append(
        Metric(
            4,
            "admin_changelist_queries_constant",
            "  query count constant in rows",
            "yes" if constant else f"no: {counts}",
            target="constant",
            status=PASS if constant else MISS,
        )
    )
    return metrics


def _time_page(client: Client, url: str, requests: int) -> tuple[list[float], int, int]:
    response = client.get(url)  # warm-up (template compilation, caches)
    reset_queries()  # request_started clears the log; an old log would hide this request's queries
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    query_count = len(queries)  # now: the next request's request_started clears the log it reads from
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    return times, query_count, response.status_code


def _bulk_forced_records(world: World, policy, *, start: int, count: int) -> None:
    """`count` records: 80% redeemed, 10% errored, 10% waiting; their learners linked to the customer."""
    from forced_redemptions.models import ForcedPolicyRedemption

    now = timezone.now()
    learners = [40_000_000 + i for i in range(start, start + count)]
    link_learners(world.customer, learners)
    records = []
    for i, lms_user_id in enumerate(learners, start=start):
        kind = i % 10
        redeemed = kind < 8
        records.append(
            ForcedPolicyRedemption(
                subsidy_access_policy=policy,
                lms_user_id=lms_user_id,
                course_run_key=world.closed_run.key if i % 2 else world.open_run.key,
                content_price_cents=None,
                reason=f"BENCH-4 ticket {i}",
                created_by=world.admin,
                modified_by=world.admin,
                redeemed_at=now if redeemed else None,
                transaction_uuid=uuid.uuid4() if redeemed else None,
                charged_cents=world.closed_run.price_cents if redeemed else None,
                errored_at=now if kind == 8 else None,
                error_reason="policy_spend_limit_reached" if kind == 8 else "",
                error_message="You can't enroll right now because the budget is spent." if kind == 8 else "",
            )
        )
    ForcedPolicyRedemption.objects.bulk_create(records, batch_size=BATCH)
