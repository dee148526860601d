"""Helpers for the admin tests: query counting on change lists, and a small ledger with redemptions."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.test.utils import CaptureQueriesContext

from policies.services import redeem
from testing.factories import CatalogFactory, CourseRunFactory, CustomerFactory, LearnerFactory, make_policy


def get_counting_queries(client, url: str):
    """GET `url`; return (number of SQL queries, response). The page must render."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response
    return len(queries.captured_queries), response


def assert_constant_queries(client, url: str, grow: Callable[[], None], *, rows: int | None = None):
    """The change list at `url` costs as many queries after `grow()` adds rows as before (no N+1)."""
    client.get(url)  # warm per-process caches (content types, ...)
    before, _ = get_counting_queries(client, url)
    grow()
    after, response = get_counting_queries(client, url)
    if rows is not None:
        assert response.context["cl"].result_count == rows
    assert after == before, f"{url}: {before} queries with few rows, {after} with many"
    return response


def write_statements(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


class RedemptionWorld:
    """One customer, one run in its catalog, one funded policy; `redeem(n)` makes n real redemptions."""

    def __init__(self, *, price_cents: int = 10_000, spend_limit_cents: int = 1_000_000) -> None:
        self.customer = CustomerFactory()
        self.run = CourseRunFactory(price_cents=price_cents)
        self.catalog = CatalogFactory(customer=self.customer, runs=[self.run])
        self.policy = make_policy(customer=self.customer, catalog=self.catalog, spend_limit_cents=spend_limit_cents)
        self.subsidy = self.policy.subsidy

    def redeem(self, n: int = 1) -> list:
        made = []
        for _ in range(n):
            learner = LearnerFactory(customer=self.customer)
            made.append(
                redeem(policy=self.policy, lms_user_id=learner.lms_user_id, content_key=self.run.key).transaction
            )
        return made
