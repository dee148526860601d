"""Concurrency helpers for tests that need another connection holding a row lock (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from subsidies.models import Subsidy


@contextmanager
def subsidy_row_locked(subsidy_id) -> Iterator[None]:
    """While the block runs, another connection holds the subsidy row lock (`SELECT ... FOR UPDATE`)."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Subsidy.objects.select_for_update().get(pk=subsidy_id)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=10), "the other connection never got the subsidy lock"
        yield
    finally:
        release.set()
        holder.join(timeout=30)
