"""Concurrency helpers for tests that need another connection holding a row lock (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from django.db import connection, models, transaction

from subsidies.models import Subsidy


@contextmanager
def row_locked(model: type[models.Model], pk) -> Iterator[None]:
    """While the block runs, another connection holds the row's lock (`SELECT ... FOR UPDATE`)."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                model._base_manager.select_for_update().get(pk=pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=10), f"the other connection never got the lock of {model.__name__} {pk}"
        yield
    finally:
        release.set()
        holder.join(timeout=30)


def subsidy_row_locked(subsidy_id) -> AbstractContextManager[None]:
    """While the block runs, another connection holds the subsidy row lock: the first lock of every unit."""
    return row_locked(Subsidy, subsidy_id)
