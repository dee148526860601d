"""Reads about enrollments."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from fulfillment.backends import LOCAL_ORDER_PREFIX
from fulfillment.models import Enrollment

# A GEAG order whose uuid GEAG did not give (it reported a duplicate of our payment reference).
UNKNOWN_ORDER_PREFIX = "payment-reference:"


def is_provider_order(reference: str) -> bool:
    """An order uuid the exec-ed provider gave (it can cancel it): not empty, unknown or made up locally."""
    return bool(reference) and not reference.startswith((UNKNOWN_ORDER_PREFIX, LOCAL_ORDER_PREFIX))


def provider_orders(transaction_uuids: Iterable[UUID]) -> dict[UUID, list[str]]:
    """The exec-ed provider's order uuids of these transactions' enrollments (the ledger's external references)."""
    rows = Enrollment.objects.filter(transaction_uuid__in=list(transaction_uuids)).values_list(
        "transaction_uuid", "external_order_reference"
    )
    return {tx: [ref] for tx, ref in rows if is_provider_order(ref)}


def active_enrollment(*, lms_user_id: int, course_run_key: str) -> Enrollment | None:
    return Enrollment.objects.filter(lms_user_id=lms_user_id, course_run__key=course_run_key, active=True).first()
