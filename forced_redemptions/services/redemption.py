"""Forcing a redemption (ADR 0019): create, change and redeem.

`redeem_forced` is the one path every adapter (admin save, admin action, API, management command) uses. It
locks the record first, then reserves through policies.services.reserve_redemption(forced=True), which takes
the ledger locks in the documented order, and writes the outcome so far and one attempt in the same
transaction. With a remote fulfillment backend the downstream call follows after that commits, and the
settlement writes the final outcome on the record (`settle_after_fulfilment`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import traceback as tb
import uuid
from typing import Any

from django.db import transaction
from django.db.models import Exists

from catalog.selectors import get_course_run
from common.errors import DomainError, InvalidInput, LockWaitTimeout
from common.locking import bound_lock_wait, lock_errors_as_domain
from common.prepared import PreparedRead
from customers.selectors import learner_link, require_known_learner
from forced_redemptions.errors import ForcedRedemptionArchived, SettledForcedRedemption
from forced_redemptions.models import STATE_CONDITIONS, ForcedPolicyRedemption, ForcedState
from forced_redemptions.services.attempts import (
    note_already_redeemed,
    note_failure,
    note_pending,
    note_success,
    user_or_none,
)
from forced_redemptions.services.reversal import settle_if_reversed
from forced_redemptions.services.validation import (
    EDITABLE_FIELDS,
    SETTLED_FIELDS,
    ensure_not_duplicate,
    standing_redemptions,
    validate_fields,
)
from fulfillment.backends import FALLBACK_ORDER_KEY
from fulfillment.services import TERMS_FORMAT
from policies import reasons
from policies.errors import RedemptionRefused
from policies.redeemability import ContentRead, content_query, read_content
from policies.services import Reservation, complete_redemption, reserve_redemption
from subsidies.models import Transaction, TransactionState

logger = logging.getLogger(__name__)


_CONTENT_AND_STANDING = PreparedRead(
    lambda policy_pk, catalog_id, key, lms_user_id: content_query(
        policy_pk,
        catalog_id,
        key,
        standing=Exists(standing_redemptions(policy_id=policy_pk, lms_user_id=lms_user_id, course_run_key=key)),
    ),
    policy_pk=uuid.uuid4(),
    catalog_id=uuid.uuid4(),
    key="course-v1:A+B+C",
    lms_user_id=1,
)


def create_forced_redemption(*, actor, record_uuid: uuid.UUID | None = None, **fields: Any) -> ForcedPolicyRedemption:
    """Save a new forced redemption; unless `wait_to_redeem`, redeem it right away, in the same transaction.

    `record_uuid` names the record in advance (a batch row does, so that a row retried after a crash finds the
    record it made instead of making a second one); a record of that uuid already saved is an IntegrityError.

    One transaction, one commit: the record, the redemption (its own savepoint inside `redeem_forced`)
    and the outcome and attempt, which are written whether the redemption succeeds or fails.
    """
    validate_fields(fields)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(
            f"Unknown fields: {', '.join(sorted(unknown))}.", field_errors={f: ["Unknown field."] for f in unknown}
        )
    three = {
        "policy_id": fields["subsidy_access_policy"].pk,
        "lms_user_id": fields["lms_user_id"],
        "course_run_key": fields["course_run_key"],
    }
    with transaction.atomic():
        record = ForcedPolicyRedemption(created_by=user_or_none(actor), modified_by=user_or_none(actor), **fields)
        if record_uuid is not None:
            record.uuid = record_uuid
        if record.wait_to_redeem:
            ensure_not_duplicate(**three)
            record.save()
            return record
        # The run, its catalog membership and whether a standing record of the same three exists: one query.
        content = read_content(
            record.subsidy_access_policy,
            record.course_run_key,
            prepared=_CONTENT_AND_STANDING,
            extra_names=("standing",),
            lms_user_id=record.lms_user_id,
        )
        if content.extra.get("standing", True):  # (an unknown run reads no row: ask the long way)
            ensure_not_duplicate(**three)
        # Not saved yet, so no one else can see or lock it: no record lock. The record is inserted once,
        # with its outcome, then its attempt (one history row, "created" with the outcome it ended with).
        record, reservation = _attempt_redemption(record, actor, content=content)
    return _complete(record, reservation)


def update_forced_redemption(*, record: ForcedPolicyRedemption, actor, redeem_now: bool = False, **changes: Any):
    """Change a record. Once redeemed, its policy, learner, run and price are settled."""
    with transaction.atomic():
        current = ForcedPolicyRedemption.objects.select_for_update().get(pk=record.pk)
        refuse_if_archived(current)
        if current.redeemed_at:
            touched = [f for f in SETTLED_FIELDS if f in changes and _value(changes[f]) != _value(getattr(current, f))]
            if touched:
                raise SettledForcedRedemption(
                    f"This forced redemption was redeemed on {current.redeemed_at:%Y-%m-%d %H:%M} UTC; "
                    f"{', '.join(touched)} can no longer change. Undo it with a reversal, not an edit.",
                )
        merged = {f: getattr(current, f) for f in EDITABLE_FIELDS} | changes
        validate_fields(merged)
        if not current.redeemed_at:
            ensure_not_duplicate(
                policy_id=merged["subsidy_access_policy"].pk,
                lms_user_id=merged["lms_user_id"],
                course_run_key=merged["course_run_key"],
                exclude_pk=current.pk,
            )
        for name, value in changes.items():
            setattr(current, name, value)
        current.modified_by = user_or_none(actor)
        current.save()
    if redeem_now and not current.redeemed_at:
        current = redeem_forced(record=current, actor=actor)
    return current


def refuse_if_archived(record: ForcedPolicyRedemption) -> None:
    if record.archived_at:
        raise ForcedRedemptionArchived(
            f"This forced redemption was archived on {record.archived_at:%Y-%m-%d %H:%M} UTC (it errored and never "
            f"charged anything); it is kept as the audit trail and not redeemed or changed. Add a new one instead.",
        )


def _value(value):
    return getattr(value, "pk", value)


def redeem_forced(*, record: ForcedPolicyRedemption, actor) -> ForcedPolicyRedemption:
    """Redeem a forced redemption exactly once, recording the attempt whatever happens.

    The reservation is made holding the record's lock; with a remote fulfillment backend the downstream
    call follows after that commits (policies.settlement), and its settlement writes the outcome on the
    record (`settle_after_fulfilment`). Returns the refreshed record; `record.last_attempt` is the latest
    attempt. Raises no domain error but ForcedRedemptionArchived (an archived record is not tried, and no
    attempt is written): the outcome is on the record (adapters read `state`, `error_reason`, `error_message`).
    """
    try:
        with lock_errors_as_domain(), transaction.atomic():
            bound_lock_wait()
            current = ForcedPolicyRedemption.objects.select_for_update().get(pk=record.pk)
            refuse_if_archived(current)
            if current.redeemed_at:
                settle_if_reversed(current)
                return note_already_redeemed(current, actor)
            if current.state == ForcedState.PENDING:
                return note_pending(current, actor, Transaction.objects.get(pk=current.transaction_uuid), again=True)
            current, reservation = _attempt_redemption(current, actor)
    except LockWaitTimeout as error:
        with transaction.atomic():
            current = ForcedPolicyRedemption.objects.get(pk=record.pk)
            return note_failure(current, actor, error)
    return _complete(current, reservation)


def _attempt_redemption(
    record: ForcedPolicyRedemption, actor, *, content: ContentRead | None = None
) -> tuple[ForcedPolicyRedemption, Reservation | None]:
    """Reserve and write the outcome so far on the record (saving it) and one attempt. The caller's
    transaction holds the record's lock, or the record is new and unsaved. The reservation runs in its own
    savepoint, so a refusal has written nothing else by the time it is noted. Returns the reservation still
    to complete (after the caller commits) when the downstream is remote."""
    try:
        reservation = _reserve(record, content)
    except DomainError as error:
        return note_failure(record, actor, error), None
    except Exception as error:  # noqa: BLE001 - an unexpected error must still be on record
        logger.exception("Forced redemption %s failed unexpectedly; its traceback is on the record", record.uuid)
        return note_failure(record, actor, error, trace=tb.format_exc()), None
    entry = reservation.transaction
    if reservation.failure is not None:
        return note_failure(record, actor, reservation.failure), None
    if entry.state == TransactionState.PENDING:
        return note_pending(record, actor, entry), reservation
    return note_success(record, actor, entry), None


def _complete(record: ForcedPolicyRedemption, reservation: Reservation | None) -> ForcedPolicyRedemption:
    """The fulfil and settle phases, after the reservation committed; the settlement notes the outcome."""
    if reservation is None:
        return record
    with contextlib.suppress(DomainError):  # a refusal is on the record already (settle_after_fulfilment)
        complete_redemption(reservation)
    current = ForcedPolicyRedemption.objects.get(pk=record.pk)
    current.last_attempt = current.attempts.order_by("-attempted_at", "-pk").first()
    return current


def _reserve(record: ForcedPolicyRedemption, content: ContentRead | None) -> Reservation:
    policy = record.subsidy_access_policy
    if content is None:
        content = read_content(policy, record.course_run_key)
    if content.run is None:  # an unknown learner says so first, then the unknown run
        require_known_learner(record.lms_user_id)
        get_course_run(record.course_run_key)  # raises ContentNotFound
    run = content.run
    try:
        reservation = reserve_redemption(
            policy=policy,
            lms_user_id=record.lms_user_id,
            content_key=run.key,
            metadata=redemption_metadata(record, is_exec_ed=run.course.is_exec_ed),
            forced=True,
            price_cents=record.content_price_cents,
            content=content,  # already read: the unit does not read it again
            forced_by=str(record.uuid),  # the assignment's timeline names this record
        )
    except RedemptionRefused as refusal:
        if refusal.reason == reasons.LEARNER_NOT_IN_ENTERPRISE:
            require_known_learner(record.lms_user_id)  # a learner unknown everywhere is LearnerNotFound
        raise
    if not reservation.created:
        other = ForcedPolicyRedemption.objects.filter(transaction_uuid=reservation.transaction.uuid).exclude(
            pk=record.pk
        )
        if other.exists():
            ensure_not_duplicate(
                policy_id=policy.pk, lms_user_id=record.lms_user_id, course_run_key=run.key, exclude_pk=record.pk
            )
    return reservation


def redemption_metadata(record: ForcedPolicyRedemption, *, is_exec_ed: bool) -> dict[str, Any]:
    """What travels on the ledger transaction: provenance, plus the exec-ed provider's learner data."""
    metadata: dict[str, Any] = {"forced_redemption_uuid": str(record.uuid), "forced_redemption_reason": record.reason}
    if not is_exec_ed:
        return metadata
    link = learner_link(customer=record.subsidy_access_policy.customer_id, lms_user_id=record.lms_user_id)
    exec_ed = {
        "geag_first_name": record.learner_first_name or (link.first_name if link else ""),
        "geag_last_name": record.learner_last_name or (link.last_name if link else ""),
        "geag_email": link.email if link else "",
        "geag_date_of_birth": record.learner_date_of_birth.isoformat() if record.learner_date_of_birth else "",
        "geag_terms_accepted_at": (
            record.learner_terms_accepted_at.astimezone(dt.UTC).strftime(TERMS_FORMAT)
            if record.learner_terms_accepted_at
            else ""
        ),
        "geag_data_share_consent": record.learner_data_share_consent,
    }
    if record.external_order_reference:
        exec_ed[FALLBACK_ORDER_KEY] = record.external_order_reference
    return metadata | exec_ed


def settle_lock_records(sender, *, transaction_uuid, **kwargs) -> None:
    """Receiver of redemption_settling: lock the pending record of the transaction first (lock order)."""
    list(_pending_records(transaction_uuid))


def settle_after_fulfilment(sender, *, entry: Transaction, error=None, **kwargs) -> None:
    """Receiver of redemption_settled: the downstream's outcome on the pending record, in the same transaction."""
    for record in _pending_records(entry.uuid):
        if error is None:
            note_success(record, None, entry)
        else:
            note_failure(record, None, error)


def _pending_records(transaction_uuid):
    return ForcedPolicyRedemption.objects.select_for_update().filter(
        STATE_CONDITIONS[ForcedState.PENDING], transaction_uuid=transaction_uuid
    )
