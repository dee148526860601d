#!/usr/bin/env python
"""`make bench`: the service's throughput and latency on the configured database, against its own ceiling.

    python benchmarks/run.py                 # SQLite file benchmarks/results/bench.sqlite3
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/learner_credit_bench python benchmarks/run.py
    python benchmarks/run.py --quick         # small sizes: a smoke run of the harness (< 1 min)
    python benchmarks/run.py --only 3        # one benchmark (0-7); repeat or comma-separate for more
    python benchmarks/run.py --baseline REF --only 1,3,6
                                             # the same benchmarks on commit REF first, then here: one table
                                             # of both with the ratios (benchmarks/baseline.py)

Prints one table and writes benchmarks/results/latest.json. Exits 1 when an invariant is broken
(overdraft, duplicate charge, a redemption that should have succeeded) or a benchmark crashed; a
missed performance target is reported, not failed (use --strict to fail on it too).
See BENCHMARKS.md for what each number means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FULL = {
    "ledger_size": 100_000,
    "ceiling_seconds": 3.0,
    "ceiling_rows": 20_000,
    "forced_count": 2_000,
    "forced_seconds": 40.0,
    "http_learners": 3_000,
    "http_seconds": 60.0,
    "latency_samples": 1_000,
    "admin_sizes": (1_000, 100_000),
    "admin_requests": 7,
    "lms_learners": 1_000,
    "lms_seconds": 40.0,
    "batch_rows": 2_000,
    "batch_singles": 500,
}
ALL = (0, 1, 2, 3, 4, 5, 6, 7)
QUICK = {
    "ledger_size": 10_000,
    "ceiling_seconds": 0.5,
    "ceiling_rows": 2_000,
    "forced_count": 100,
    "forced_seconds": 10.0,
    "http_learners": 300,
    "http_seconds": 45.0,
    "latency_samples": 200,
    "admin_sizes": (1_000, 10_000),
    "admin_requests": 3,
    "lms_learners": 100,
    "lms_seconds": 20.0,
    "batch_rows": 200,
    "batch_singles": 50,
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", action="append", default=[], help="run only benchmark N (0-7); repeatable")
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database afterwards")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a missed target too")
    parser.add_argument(
        "--http-workers",
        type=int,
        default=os.cpu_count() or 2,
        help="gunicorn workers for benchmark 2 (default: one per CPU; see BENCHMARKS.md)",
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the results (default latest.json)")
    parser.add_argument(
        "--baseline",
        metavar="REF",
        default=None,
        help="first run the same benchmarks on git commit REF (built in a scratch worktree), then compare",
    )
    args = parser.parse_args(argv)
    only = {int(n) for item in args.only for n in item.split(",") if n.strip()}
    if only - set(ALL):
        parser.error(f"--only takes benchmark numbers {ALL[0]} to {ALL[-1]}")
    args.selected = sorted(only) if only else list(ALL)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.baseline:
        from benchmarks.baseline import compare_with

        return compare_with(args.baseline, argv if argv is not None else sys.argv[1:])
    sizes = QUICK if args.quick else FULL

    from benchmarks.database import RESULTS, BenchDatabase, git_commit, machine_info

    database = BenchDatabase(os.environ.get("DATABASE_URL"))
    database.recreate()
    database.export()
    os.environ["DEBUG"] = "False"  # as in production: no per-query bookkeeping
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "learner_credit.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from benchmarks import bulk, fixtures, http_downstream, http_load, measures, unit_costs
    from benchmarks.database import server_version
    from benchmarks.report import ERROR, MISS, Metric, table, write_json

    started = time.perf_counter()
    header = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database_vendor": None,
        "database": None,
        "git_commit": git_commit(),
        "quick": args.quick,
        "sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in sizes.items()},
        "machine": machine_info(),
    }
    metrics: list[Metric] = []
    try:
        call_command("migrate", verbosity=0, interactive=False)
        header["database_vendor"] = connection.vendor
        header["database"] = server_version()
        print(f"benchmarks on {header['database']} ({database.url}), quick={args.quick}", flush=True)

        world = None
        if set(args.selected) & {1, 2, 3, 4, 5, 6, 7}:
            step = time.perf_counter()
            world = fixtures.build_world(ledger_size=sizes["ledger_size"])
            print(f"  data: ledger of {sizes['ledger_size']:,} transactions in {time.perf_counter() - step:.1f} s")

        plan = {
            0: lambda: measures.ceiling(seconds=sizes["ceiling_seconds"], max_rows=sizes["ceiling_rows"]),
            1: lambda: measures.forced_redemptions(
                world, count=sizes["forced_count"], max_seconds=sizes["forced_seconds"]
            ),
            2: lambda: http_load.learner_redemptions(
                world,
                learners=sizes["http_learners"],
                limit_fraction=0.6,
                duplicate_every=10,
                clients=8,
                max_seconds=sizes["http_seconds"],
                workers=args.http_workers,
            ),
            3: lambda: measures.can_redeem_latency(world, samples=sizes["latency_samples"]),
            4: lambda: measures.admin_changelist(world, sizes=sizes["admin_sizes"], requests=sizes["admin_requests"]),
            5: lambda: http_downstream.lms_redemptions(
                world,
                learners=sizes["lms_learners"],
                clients=8,
                max_seconds=sizes["lms_seconds"],
                workers=args.http_workers,
            ),
            6: lambda: unit_costs.learner_redemptions(
                world, count=sizes["forced_count"], max_seconds=sizes["forced_seconds"]
            ),
            7: lambda: bulk.batch_rows(world, rows=sizes["batch_rows"], singles=sizes["batch_singles"]),
        }
        # 3 reads the ledger before 1 and 2 add to it, so its ledger is exactly ledger_size rows; 6 runs right after
        # 1, so both measure the unit before the HTTP runs' writes keep the database busy (checkpoints, vacuum).
        # 7 runs after 6, before the HTTP runs too: its single forced redemptions and its batch back to back.
        for number in sorted(args.selected, key=lambda n: {3: 0.5, 6: 1.5, 7: 1.7}.get(n, n)):
            step = time.perf_counter()
            try:
                metrics.extend(plan[number]())
            except Exception as error:  # noqa: BLE001 - report the crash in the table, run the rest
                traceback.print_exc()
                metrics.append(
                    Metric(
                        number,
                        f"bench_{number}_crashed",
                        f"benchmark {number}",
                        None,
                        status=ERROR,
                        details={"error": repr(error)},
                    )
                )
            print(f"  benchmark {number} done in {time.perf_counter() - step:.1f} s", flush=True)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            database.drop()

    metrics.sort(key=lambda m: m.bench)
    header["seconds"] = round(time.perf_counter() - started, 1)
    header["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    ceiling = next((m for m in metrics if m.key == "ceiling_commits_per_s"), None)
    if ceiling and ceiling.value:
        for metric in metrics:
            if metric.unit == "/s" and metric is not ceiling and isinstance(metric.value, float):
                metric.details["fraction_of_ceiling"] = round(metric.value / ceiling.value, 3)
    title = f"Learner credit benchmarks: {header['database']}, {header['machine']['cpus']} CPUs, {header['date']}"
    print()
    print(table(metrics, title=title))
    out = args.json or RESULTS / "latest.json"
    write_json(out, header=header, metrics=metrics)
    print(f"\n(written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}; {header['seconds']} s)")
    failing = {ERROR} | ({MISS} if args.strict else set())
    return 1 if any(m.status in failing for m in metrics) else 0


if __name__ == "__main__":
    sys.exit(main())
