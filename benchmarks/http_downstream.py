"""Benchmark 5: learner redemptions over HTTP with FULFILLMENT_BACKEND=lms, against the fake LMS on loopback.

Three runs, one subsidy, 8 clients: the LMS answering at once (0 ms) and after 200 ms, served by gunicorn
with 8 threads per worker; and 200 ms again with sync workers (one request per worker at a time). No lock
is held while the LMS is called (docs/adr-0001-redemption-in-phases.rst), so with 200 ms the rate is
bounded by how many requests the server runs at once, not by the subsidy's lock: at most 8 / 0.2 s = 40/s
with 8 clients and threads, 2 / 0.2 s = 10/s with 2 sync workers. Afterwards: every committed transaction
has exactly one enrollment at the LMS, none is left pending, and no learner was charged twice.
"""

from __future__ import annotations

import time
from collections import Counter

from django.db import connection

from benchmarks.fixtures import PRICE_CENTS, World, add_policy, link_learners
from benchmarks.http_load import REDEEM_PATH, Gunicorn, Load, _token_for
from benchmarks.report import ERROR, INFO, PASS, Metric
from policies.models import PolicyType
from subsidies.models import Transaction, TransactionState
from testing.fakes.lms import FakeLms

LEARNER_BASE = 60_000_000
THREADS = 8


def lms_redemptions(world: World, *, learners: int, clients: int, max_seconds: float, workers: int) -> list[Metric]:
    metrics: list[Metric] = []
    for index, (latency_ms, threads) in enumerate(((0, THREADS), (200, THREADS), (200, 1))):
        metrics += _one_run(
            world,
            latency_ms=latency_ms,
            threads=threads,
            first_learner=LEARNER_BASE + index * learners,
            learners=learners,
            clients=clients,
            max_seconds=max_seconds,
            workers=workers,
        )
    return metrics


def _one_run(world, *, latency_ms, threads, first_learner, learners, clients, max_seconds, workers) -> list[Metric]:
    policy = add_policy(
        customer=world.customer,
        catalog=world.catalog,
        subsidy=world.subsidy,
        name=f"Bench 5: LMS at {latency_ms} ms, {threads} threads",
        policy_type=PolicyType.PER_LEARNER_ENROLLMENT,
        spend_limit_cents=learners * PRICE_CENTS * 2,
        per_learner_enrollment_limit=5,
    )
    ids = [first_learner + i for i in range(learners)]
    link_learners(world.customer, ids)
    token = _token_for(world.admin)
    connection.close()
    lms = FakeLms(latency_seconds=latency_ms / 1000).start()
    env = {
        "FULFILLMENT_BACKEND": "lms",
        "LMS_URL": lms.url,
        "LMS_OAUTH2_CLIENT_ID": lms.client_id,
        "LMS_OAUTH2_CLIENT_SECRET": lms.client_secret,
        "CELERY_BROKER_URL": "",  # retries (there should be none) are left to the reconciler
    }
    path = REDEEM_PATH.format(policy=policy.pk)
    try:
        with Gunicorn(workers=workers, threads=threads, env=env) as server:
            warm = Load(
                port=server.port, token=token, path=path, content_key=world.open_run.key, jobs=[1] * 16, max_seconds=30
            )
            warm.run(clients)
            load = Load(
                port=server.port,
                token=token,
                path=path,
                content_key=world.open_run.key,
                jobs=ids,
                max_seconds=max_seconds,
            )
            started = time.perf_counter()
            load.run(clients)
            wall = time.perf_counter() - started
    finally:
        lms.stop()

    statuses = Counter(str(r[1]) for r in load.results)
    ok = [r for r in load.results if r[1] in (200, 201)]
    rate = len(ok) / wall if wall else 0.0
    live = Transaction.objects.filter(subsidy_access_policy_uuid=policy.pk).exclude(state=TransactionState.FAILED)
    committed = live.filter(state=TransactionState.COMMITTED).count()
    pending = live.filter(state=TransactionState.PENDING).count()
    enrolled = sum(1 for e in lms.enrollments.values() if first_learner <= e.user_id < first_learner + learners)
    lms_calls = len(lms.calls_to("enroll"))
    duplicates = len(live) - len({t.lms_user_id for t in live}) + max(0, lms_calls - committed)
    consistent = committed == enrolled == len(ok) and pending == 0
    details = {
        "requests": len(load.results),
        "seconds": round(wall, 3),
        "statuses": dict(statuses),
        "committed": committed,
        "pending": pending,
        "lms_enrollments": enrolled,
        "lms_enroll_calls": lms_calls,
        "gunicorn": f"{workers} workers x {threads} threads",
        "clients": clients,
        "concurrency_bound_per_s": round(clients / (latency_ms / 1000), 1) if latency_ms else None,
    }
    key = f"http_lms_{latency_ms}ms_per_s" if threads > 1 else f"http_lms_{latency_ms}ms_sync_per_s"
    label = f"learner redemptions, LMS at {latency_ms} ms" + ("" if threads > 1 else ", sync workers")
    return [
        Metric(
            5,
            key,
            label,
            rate,
            "/s",
            "",
            INFO if consistent else ERROR,
            details,
        ),
        Metric(
            5,
            f"{key}_duplicates",
            "  duplicate charges or LMS calls",
            duplicates,
            "",
            "0",
            PASS if duplicates == 0 and consistent else ERROR,
        ),
    ]
