"""Ledger writes. Anything that changes a balance locks the subsidy row first (see policies/locking)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import IntegrityError, transaction

from common.errors import InvalidInput
from common.locking import bound_lock_wait, lock_errors_as_domain
from common.prepared import PreparedRead, insert_new
from subsidies.errors import AlreadyReversed, NotReversible, TransactionCreationError
from subsidies.models import Deposit, RevenueCategory, Reversal, Subsidy, Transaction, TransactionState

_LOCKED_SUBSIDY = PreparedRead(lambda pk: Subsidy.objects.select_for_update().filter(pk=pk), pk=uuid.uuid4())


def lock_subsidy(subsidy_id: uuid.UUID | str) -> Subsidy:
    """Lock the subsidy row for the rest of the current transaction: the first lock of every unit."""
    subsidy = _LOCKED_SUBSIDY.first(pk=subsidy_id)
    if subsidy is None:
        raise Subsidy.DoesNotExist(f"No subsidy {subsidy_id}.")
    return subsidy


@transaction.atomic
def create_subsidy(
    *,
    customer,
    title: str,
    active_datetime: dt.datetime,
    expiration_datetime: dt.datetime,
    starting_balance_cents: int = 0,
    sales_contract_reference_id: str = "",
    internal_only: bool = False,
    revenue_category: str = RevenueCategory.BULK_ENROLLMENT_PREPAY,
    actor=None,
) -> Subsidy:
    if expiration_datetime <= active_datetime:
        raise InvalidInput(
            "The subsidy must expire after it becomes active.",
            field_errors={"expiration_datetime": ["Must be later than active_datetime."]},
        )
    subsidy = Subsidy.objects.create(
        customer=customer,
        title=title,
        active_datetime=active_datetime,
        expiration_datetime=expiration_datetime,
        reference_id=sales_contract_reference_id,
        starting_balance=starting_balance_cents,
        internal_only=internal_only,
        revenue_category=revenue_category,
    )
    if starting_balance_cents:
        deposit(
            subsidy=subsidy,
            quantity_cents=starting_balance_cents,
            sales_contract_reference_id=sales_contract_reference_id or "starting-balance",
            sales_contract_reference_provider="initial",
            idempotency_key=f"starting-balance-{subsidy.pk}",
            actor=actor,
        )
    return subsidy


def deposit(
    *,
    subsidy: Subsidy,
    quantity_cents: int,
    sales_contract_reference_id: str,
    sales_contract_reference_provider: str = "",
    idempotency_key: str | None = None,
    metadata: dict[str, Any] | None = None,
    actor=None,
) -> tuple[Deposit, bool]:
    """Add funds. Returns (deposit, created); a repeated idempotency key returns the first deposit."""
    if not isinstance(quantity_cents, int) or isinstance(quantity_cents, bool) or quantity_cents <= 0:
        raise InvalidInput(
            "A deposit must be a positive whole number of cents.",
            field_errors={"desired_deposit_quantity": ["Must be a whole number of cents greater than 0."]},
        )
    if not str(sales_contract_reference_id or "").strip():
        raise InvalidInput(
            "A deposit needs a sales contract reference.",
            field_errors={"sales_contract_reference_id": ["This field is required."]},
        )
    key = idempotency_key or f"deposit-{uuid.uuid4()}"
    with lock_errors_as_domain(), transaction.atomic():
        bound_lock_wait()
        lock_subsidy(subsidy.pk)
        existing = Deposit.objects.filter(subsidy=subsidy, transaction__idempotency_key=key).first()
        if existing is not None:
            return existing, False
        if Transaction.objects.filter(subsidy=subsidy, idempotency_key=key).exists():
            raise TransactionCreationError(f"Idempotency key {key!r} is already used by a non-deposit transaction.")
        entry = Transaction.objects.create(
            subsidy=subsidy,
            idempotency_key=key,
            quantity=quantity_cents,
            state=TransactionState.COMMITTED,
            metadata=metadata or {},
        )
        created = Deposit.objects.create(
            subsidy=subsidy,
            transaction=entry,
            desired_deposit_quantity=quantity_cents,
            sales_contract_reference_id=sales_contract_reference_id,
            sales_contract_reference_provider=sales_contract_reference_provider,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        return created, True


def new_redemption(
    *,
    transaction_uuid: uuid.UUID,
    subsidy: Subsidy,
    idempotency_key: str,
    price_cents: int,
    lms_user_id: int,
    lms_user_email: str,
    content_key: str,
    parent_content_key: str,
    content_title: str,
    policy_uuid: uuid.UUID,
    metadata: dict[str, Any],
    fulfillment_identifier: str | None = None,
) -> Transaction:
    """A spend, not written yet: pending, or committed when fulfilled already (`fulfillment_identifier`)."""
    return Transaction(
        uuid=transaction_uuid,
        subsidy=subsidy,
        idempotency_key=idempotency_key,
        quantity=-price_cents,
        state=TransactionState.PENDING if fulfillment_identifier is None else TransactionState.COMMITTED,
        fulfillment_identifier=fulfillment_identifier or "",
        lms_user_id=lms_user_id,
        lms_user_email=lms_user_email,
        content_key=content_key,
        parent_content_key=parent_content_key,
        content_title=content_title,
        subsidy_access_policy_uuid=policy_uuid,
        metadata=metadata,
    )


def open_redemption(**fields: Any) -> Transaction:
    """Write a spend (`new_redemption`'s fields): pending, or already committed when the caller fulfilled it
    first in the same unit (`fulfillment_identifier`, the enrollment made). Caller holds the subsidy lock and
    settles a pending one.

    No savepoint of its own (no SAVEPOINT/RELEASE round trips under the subsidy lock): the
    TransactionCreationError raised here rolls back the caller's unit.
    """
    entry = new_redemption(**fields)
    try:
        insert_new(entry)
    except IntegrityError as error:
        raise TransactionCreationError(
            f"A transaction with idempotency key {entry.idempotency_key!r} already exists in this ledger."
        ) from error
    return entry


def commit_redemption(entry: Transaction, *, fulfillment_identifier: str) -> Transaction:
    entry.state = TransactionState.COMMITTED
    entry.fulfillment_identifier = fulfillment_identifier
    entry.save(update_fields=["state", "fulfillment_identifier", "modified"])
    return entry


def fail_redemption(entry: Transaction, *, reason: str, message: str) -> Transaction:
    """Settle a pending spend as failed: it moves no money from now on (balances ignore failed entries),
    and a retry of the same request derives a new idempotency key."""
    entry.state = TransactionState.FAILED
    entry.failure_reason = reason[:64]
    entry.failure_message = message
    entry.save(update_fields=["state", "failure_reason", "failure_message", "modified"])
    return entry


def reverse(*, entry: Transaction, reason: str = "", actor=None) -> Reversal:
    """Refund a committed spend (one reversal per transaction). Caller holds the subsidy lock."""
    if entry.state != TransactionState.COMMITTED or entry.quantity >= 0:
        raise NotReversible(f"Only a committed spend can be reversed; {entry.uuid} is {entry.state}.")
    if Reversal.objects.filter(transaction=entry).exists():
        raise AlreadyReversed(f"Transaction {entry.uuid} was already reversed.")
    return Reversal.objects.create(
        transaction=entry,
        quantity=-entry.quantity,
        idempotency_key=f"reversal-{entry.uuid}",
        reason=reason,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
