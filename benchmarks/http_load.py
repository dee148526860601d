"""Benchmark 2: learner redemptions over HTTP against gunicorn, 8 concurrent clients, one policy running dry.

The server is a real multi-worker gunicorn on a free loopback port, started here with the same
DATABASE_URL and stopped at the end. The load is bounded in count and time. Afterwards the database is
checked for what must never happen: overdraft (policy past its spend limit, subsidy below zero) and
duplicate charges (two live transactions or enrollments for one learner and content).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from django.db import connection
from django.db.models import Count
from django.urls import Resolver404, resolve

from benchmarks.database import RESULTS, ROOT
from benchmarks.fixtures import PRICE_CENTS, World, add_policy, link_learners
from benchmarks.report import ERROR, INFO, MISS, PASS, Metric, at_least
from fulfillment.models import Enrollment
from policies.models import PolicyType
from subsidies import selectors as ledger_reads
from subsidies.models import Transaction, TransactionState

REDEEM_PATH = "/api/v1/policy-redemption/{policy}/redeem/"
LEARNER_BASE = 50_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn learner_credit.wsgi -w N` on 127.0.0.1, as a child process of the benchmark."""

    def __init__(self, *, workers: int, threads: int = 1, env: dict[str, str] | None = None):
        self.workers, self.threads, self.extra_env = workers, threads, env or {}
        self.port = free_port()
        self.log = RESULTS / "gunicorn.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        env = os.environ | {"DEBUG": "False", "LOG_LEVEL": "WARNING"} | self.extra_env
        command = [str(gunicorn), "learner_credit.wsgi", "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}"]
        # Always explicit: gunicorn reads ./gunicorn.conf.py (the deployment's threaded config) by default.
        if self.threads > 1:
            command += ["-k", "gthread", "--threads", str(self.threads)]
        else:
            command += ["-k", "sync", "--threads", "1"]
        command += ["--timeout", "60", "--log-level", "warning"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"gunicorn did not listen on port {self.port} within 30 s; see {self.log}")

    def __exit__(self, *exc) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Load:
    """N client threads sharing one queue of requests; each keeps its HTTP connection open when it can."""

    def __init__(self, *, port: int, token: str, path: str, content_key: str, jobs: list[int], max_seconds: float):
        self.port, self.path, self.content_key = port, path, content_key
        self.headers = {
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.jobs = iter(jobs)
        self.lock = threading.Lock()
        self.results: list[tuple[int, int | str, float, float, bytes]] = []
        self.retries = 0
        self.deadline = time.perf_counter() + max_seconds

    def _next(self) -> int | None:
        with self.lock:
            return next(self.jobs, None) if time.perf_counter() < self.deadline else None

    def _client(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        local = []
        while (learner := self._next()) is not None:
            body = json.dumps({"lms_user_id": learner, "content_key": self.content_key})
            start = time.perf_counter()
            for attempt in range(1, 4):
                try:
                    conn.request("POST", self.path, body=body, headers=self.headers)
                    response = conn.getresponse()
                    payload = response.read()
                    status: int | str = response.status
                except (OSError, http.client.HTTPException) as error:
                    conn.close()
                    payload, status = repr(error).encode(), "connection error"
                if status not in (429, 503) or attempt == 3:
                    break
                with self.lock:
                    self.retries += 1
                time.sleep(float(response.getheader("Retry-After") or 0.1) / 10)  # a lock wait ran out: retry
            local.append((learner, status, start, time.perf_counter(), payload))
        conn.close()
        with self.lock:
            self.results.extend(local)

    def run(self, clients: int) -> None:
        threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def _token_for(user) -> str:
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def learner_redemptions(
    world: World,
    *,
    learners: int,
    limit_fraction: float,
    duplicate_every: int,
    clients: int,
    max_seconds: float,
    workers: int,
) -> list[Metric]:
    limit_redemptions = int(learners * limit_fraction)
    policy = add_policy(
        customer=world.customer,
        catalog=world.catalog,
        subsidy=world.subsidy,
        name="Bench 2: learner redemptions over HTTP",
        policy_type=PolicyType.PER_LEARNER_ENROLLMENT,
        spend_limit_cents=limit_redemptions * PRICE_CENTS,
        per_learner_enrollment_limit=5,
    )
    path = REDEEM_PATH.format(policy=policy.pk)
    try:
        resolve(path)
    except Resolver404:
        skipped = {"skipped": f"POST {REDEEM_PATH} is not routed yet (REST API not merged)"}
        return [
            Metric(2, "http_redemptions_per_s", "learner redemptions over HTTP", None, "/s", ">= 150", INFO, skipped)
        ]

    ids = [LEARNER_BASE + i for i in range(learners)]
    link_learners(world.customer, ids)
    jobs: list[int] = []
    for i, lms_user_id in enumerate(ids):
        jobs.append(lms_user_id)
        if i % duplicate_every == 0:
            jobs.append(lms_user_id)  # the same request again, right behind: a concurrent double submit
    token = _token_for(world.admin)
    content_key = world.open_run.key
    balance_before = ledger_reads.balance_cents(world.subsidy)
    connection.close()  # hold nothing (on SQLite, not even a read) while the server runs

    with Gunicorn(workers=workers) as server:
        warm = Load(
            port=server.port, token=token, path=path, content_key=content_key, jobs=[1] * 4 * clients, max_seconds=30
        )
        warm.run(clients)  # an unknown learner: refused, charges nothing; loads each worker's code paths
        load = Load(
            port=server.port, token=token, path=path, content_key=content_key, jobs=jobs, max_seconds=max_seconds
        )
        started = time.perf_counter()
        load.run(clients)
        wall = time.perf_counter() - started

    metrics = _verdict(world, policy, load, wall, limit_redemptions, balance_before, warm.results)
    metrics[0].details["gunicorn_workers"] = workers
    return metrics


def _verdict(world, policy, load: Load, wall, limit_redemptions, balance_before, warm_results) -> list[Metric]:
    results = load.results
    statuses = Counter(r[1] for r in results)
    ok = [r for r in results if r[1] in (200, 201)]
    refused = [r for r in results if r[1] == 422]
    other = [r for r in results if r[1] not in (200, 201, 422)]
    reasons = Counter(_first_reason(r[4]) for r in refused)
    first = min((r[2] for r in results), default=0.0)
    last_ok = max((r[3] for r in ok), default=first)
    success_rate = len(ok) / (last_ok - first) if ok and last_ok > first else 0.0

    spent = ledger_reads.policy_spend(policy.pk)["spent_cents"]
    balance = ledger_reads.balance_cents(world.subsidy)
    live = Transaction.objects.filter(subsidy_access_policy_uuid=policy.pk).exclude(state=TransactionState.FAILED)
    charged = live.filter(state=TransactionState.COMMITTED).count()
    overdraft = max(0, spent - policy.spend_limit_cents) + max(0, -balance)
    books_agree = balance_before - balance == spent == charged * PRICE_CENTS
    duplicate_tx = live.values("lms_user_id", "content_key").annotate(n=Count("uuid")).filter(n__gt=1).count()
    duplicate_enrollments = (
        Enrollment.objects.filter(course_run=world.open_run, lms_user_id__gte=LEARNER_BASE)
        .values("lms_user_id")
        .annotate(n=Count("uuid"))
        .filter(n__gt=1)
        .count()
    )
    duplicates = duplicate_tx + duplicate_enrollments
    ran_dry = charged == limit_redemptions and len(refused) > 0
    details = {
        "requests": len(results),
        "seconds": round(wall, 3),
        "requests_per_s": round(len(results) / wall, 1) if wall else None,
        "statuses": {str(k): v for k, v in statuses.items()},
        "refusal_reasons": dict(reasons),
        "charged": charged,
        "spend_limit_redemptions": limit_redemptions,
        "policy_spent_cents": spent,
        "policy_spend_limit_cents": policy.spend_limit_cents,
        "balance_agrees_with_charges": books_agree,
        "other_responses": [f"{r[1]}: {r[4][:300]!r}" for r in other[:5]],
        "warm_up_statuses": dict(Counter(str(r[1]) for r in warm_results)),
        "retried_lock_waits": load.retries,
        "spend_limit_reached": ran_dry,
    }
    # An unexpected response or books that disagree is an error; a run too slow to reach the limit is a miss.
    status = ERROR if other or not books_agree else at_least(success_rate, 150) if ran_dry else MISS
    return [
        Metric(
            2,
            "http_redemptions_per_s",
            "learner redemptions over HTTP (8 clients)",
            success_rate,
            "/s",
            ">= 150",
            status,
            details,
        ),
        Metric(2, "http_requests_per_s", "  all requests, incl. refusals", round(len(results) / wall, 1), "/s"),
        Metric(2, "http_refused", "  refused (422), spend limit reached", len(refused)),
        Metric(2, "http_overdraft_cents", "  overdraft (cents)", overdraft, "", "0", PASS if overdraft == 0 else ERROR),
        Metric(
            2, "http_duplicate_charges", "  duplicate charges", duplicates, "", "0", PASS if not duplicates else ERROR
        ),
    ]


def _first_reason(payload: bytes) -> str:
    try:
        body = json.loads(payload)
        first = body[0] if isinstance(body, list) else body
        return str(first.get("reason") or first.get("code") or first)[:80]
    except (ValueError, AttributeError, IndexError, KeyError, TypeError):
        return payload[:80].decode(errors="replace")
