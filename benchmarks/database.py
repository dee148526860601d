"""The benchmark's own database: a fresh SQLite file, or a dedicated PostgreSQL database it creates and drops.

Chosen before Django starts, through DATABASE_URL (the same variable the service reads), so the
gunicorn workers of benchmark 2 open exactly the same database.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_SQLITE = RESULTS / "bench.sqlite3"
_NEVER_DROP = {"postgres", "template0", "template1"}


class BenchDatabase:
    def __init__(self, url: str | None):
        self.url = url or f"sqlite:///{DEFAULT_SQLITE}"
        parts = urlsplit(self.url)
        self.scheme = parts.scheme
        self.is_postgres = parts.scheme.startswith("postgres")
        self.name = parts.path.lstrip("/") if self.is_postgres else parts.path
        if self.is_postgres and (self.name in _NEVER_DROP or "bench" not in self.name):
            raise SystemExit(
                f"Refusing to use PostgreSQL database {self.name!r}: the benchmark drops and recreates its "
                f"database, so give it a dedicated one whose name contains 'bench', e.g. "
                f"postgres://postgres@127.0.0.1:5432/learner_credit_bench"
            )

    def recreate(self) -> None:
        """Start from an empty database (the benchmark builds all of its data itself)."""
        if self.is_postgres:
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', f'CREATE DATABASE "{self.name}"')
        else:
            path = Path(self.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    def drop(self) -> None:
        if self.is_postgres:
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin_sql(self, *statements: str) -> None:
        import psycopg

        parts = urlsplit(self.url)
        maintenance = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(maintenance, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def export(self) -> None:
        """Make Django (here and in the gunicorn workers) use this database."""
        os.environ["DATABASE_URL"] = self.url


def server_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
        cursor.execute("select sqlite_version()")
        return f"SQLite {cursor.fetchone()[0]}"


def machine_info() -> dict[str, object]:
    import django

    info: dict[str, object] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        meminfo = Path("/proc/meminfo").read_text().split()
        info["memory_gib"] = round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def git_commit() -> str:
    if os.environ.get("BENCH_GIT_COMMIT"):  # a baseline's exported tree (benchmarks/baseline.py) is no checkout
        return os.environ["BENCH_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        # Results files written by earlier runs do not change the code measured.
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"],
            cwd=ROOT,
            capture_output=True,
        )
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"
