"""Bounded waits for row locks.

Every unit of work that locks rows calls `bound_lock_wait()` first, inside its transaction. On
PostgreSQL every connection is opened with `lock_timeout` from LOCK_WAIT_TIMEOUT_SECONDS (settings.py),
so this runs `SET LOCAL lock_timeout` only when the setting has changed since (tests shorten it); on
SQLite (IMMEDIATE transactions, a single writer at a time) the connection's busy timeout bounds the wait.
`lock_errors_as_domain()` turns the database's "could not get the lock" errors into `LockWaitTimeout`, a
retryable domain error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import OperationalError, connection

from common import events
from common.errors import LockWaitTimeout

_LOCK_MESSAGES = ("lock timeout", "database is locked", "could not obtain lock", "lock_timeout")


def bound_lock_wait() -> None:
    """Limit how long this transaction waits for any row lock (PostgreSQL only), once per transaction.

    Units nest (redeem_forced calls redeem): the `SET LOCAL` runs once per transaction. What marks the
    transaction is the connection's list of on-commit callbacks: Django replaces that list object at
    every commit, rollback and savepoint rollback, which is when PostgreSQL may have undone a `SET LOCAL`
    (a released savepoint keeps it; Django keeps the list). So while it is the same list, it is still set.
    """
    if connection.vendor != "postgresql":
        return
    millis = int(settings.LOCK_WAIT_TIMEOUT_SECONDS * 1000)
    if millis == _connection_lock_timeout_ms():
        return  # the connection was opened with this lock_timeout (settings.py): nothing to set
    if connection.in_atomic_block and getattr(connection, "_lock_wait_bounded_in", None) is connection.run_on_commit:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = {millis}")
    connection._lock_wait_bounded_in = connection.run_on_commit if connection.in_atomic_block else None


def _connection_lock_timeout_ms() -> int | None:
    """The lock_timeout the PostgreSQL connection was opened with (`-c lock_timeout=N` in its options)."""
    match = re.search(r"lock_timeout=(\d+)", connection.settings_dict.get("OPTIONS", {}).get("options", ""))
    return int(match.group(1)) if match else None


def is_lock_wait_error(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, OperationalError) and any(m in text for m in _LOCK_MESSAGES)


@contextmanager
def lock_errors_as_domain() -> Iterator[None]:
    try:
        yield
    except OperationalError as error:
        if is_lock_wait_error(error):
            events.lock_wait_timeout()
            raise LockWaitTimeout(
                "Another redemption is holding the records this one needs; nothing was changed. Try again in a moment.",
            ) from error
        raise
