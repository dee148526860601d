"""Forcing many redemptions in one step (issue 13's batch runner): one forced record per row, with its history
row and its attempt, as create_forced_redemption writes them, for the rows the bulk reservation accepts
(policies.services.bulk); every other row through create_forced_redemption itself, one by one.

What the rows share is read once: the run and its catalog membership (`contents`, a cache the caller keeps
for the whole batch), the rows' standing forced redemptions (one query per step), and everything
`reserve_forced_many` reads under its locks. Call it inside a transaction; a step's bulk writes are in a
savepoint of their own, so if any of them fails (a concurrent enrollment, say) none stays and its rows run
one by one instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from common.errors import DomainError, LockWaitTimeout
from forced_redemptions.models import AttemptOutcome, ForcedPolicyRedemption, ForcedRedemptionAttempt
from forced_redemptions.services.attempts import announce, creation_history, redeemed_message, user_or_none
from forced_redemptions.services.redemption import create_forced_redemption, redemption_metadata
from forced_redemptions.services.validation import standing_pairs, validate_fields
from policies.redeemability import read_content_once
from policies.services.bulk import ForcedItem, reserve_forced_many


@dataclass
class Forced:
    """A row's result: its record was made (`made`), or it was refused before anything was written (`error`)."""

    record_uuid: uuid.UUID
    made: bool
    error: DomainError | None = None


def force_many(*, actor, rows: list[tuple[uuid.UUID, dict[str, Any]]], contents: dict | None = None) -> list[Forced]:
    """Force each row (record uuid, the fields create_forced_redemption takes); results in the rows' order.

    Raises LockWaitTimeout when a lock could not be had (nothing of the step is written); any other refusal
    is the row's result.
    """
    contents = {} if contents is None else contents
    results: dict[uuid.UUID, Forced] = {}
    valid: list[tuple[uuid.UUID, dict[str, Any]]] = []
    for record_uuid, fields in rows:
        try:
            validate_fields(fields)
        except DomainError as error:
            results[record_uuid] = Forced(record_uuid, False, error)
        else:
            valid.append((record_uuid, fields))
    by_policy: dict[Any, list[tuple[uuid.UUID, dict[str, Any]]]] = {}
    for record_uuid, fields in valid:
        by_policy.setdefault(fields["subsidy_access_policy"].pk, []).append((record_uuid, fields))
    one_by_one: list[tuple[uuid.UUID, dict[str, Any]]] = []
    for group in by_policy.values():
        made, rest = _force_in_bulk(actor, group, contents)
        results.update({record_uuid: Forced(record_uuid, True) for record_uuid in made})
        one_by_one += rest
    for record_uuid, fields in one_by_one:
        results[record_uuid] = _force_one(actor, record_uuid, fields)
    return [results[record_uuid] for record_uuid, _ in rows]


def _force_one(actor, record_uuid: uuid.UUID, fields: dict[str, Any]) -> Forced:
    try:
        create_forced_redemption(actor=actor, record_uuid=record_uuid, **fields)
    except LockWaitTimeout:
        raise
    except DomainError as error:
        return Forced(record_uuid, False, error)
    except IntegrityError:  # its savepoint is rolled back; a record of this uuid made meanwhile is the row's
        if ForcedPolicyRedemption.objects.filter(pk=record_uuid).exists():
            return Forced(record_uuid, True)
        raise
    return Forced(record_uuid, True)


def _force_in_bulk(actor, group, contents) -> tuple[list[uuid.UUID], list[tuple[uuid.UUID, dict[str, Any]]]]:
    """(uuids of the records made, rows left for the single unit) for rows under one policy."""
    policy = group[0][1]["subsidy_access_policy"]
    originals = dict(group)
    standing = standing_pairs(
        policy_id=policy.pk,
        lms_user_ids={fields["lms_user_id"] for _, fields in group},
        course_run_keys={fields["course_run_key"] for _, fields in group},
    )
    records: dict[uuid.UUID, ForcedPolicyRedemption] = {}
    items: list[ForcedItem] = []
    rest = []
    for record_uuid, fields in group:
        content = read_content_once(contents, policy, fields["course_run_key"])
        plain = not fields.get("wait_to_redeem") and content.run is not None and not content.run.course.is_exec_ed
        if not plain or (fields["lms_user_id"], fields["course_run_key"]) in standing:
            rest.append((record_uuid, fields))
            continue
        record = ForcedPolicyRedemption(
            uuid=record_uuid, created_by=user_or_none(actor), modified_by=user_or_none(actor), **fields
        )
        records[record_uuid] = record
        items.append(
            ForcedItem(
                key=record_uuid,
                lms_user_id=record.lms_user_id,
                content=content,
                price_cents=record.content_price_cents,
                metadata=redemption_metadata(record, is_exec_ed=False),
            )
        )
    if not items:
        return [], rest
    try:
        with transaction.atomic():
            reserved, deferred = reserve_forced_many(policy, items)
            _write_records([(records[r.item.key], r.transaction) for r in reserved], actor)
    except IntegrityError:  # something the reads could not see (a concurrent enrollment): one by one instead
        return [], rest + [(item.key, originals[item.key]) for item in items]
    rest += [(item.key, originals[item.key]) for item in deferred]
    return [r.item.key for r in reserved], rest


def _write_records(made: list[tuple[ForcedPolicyRedemption, Any]], actor) -> None:
    """The records redeemed, their "created" history rows and their attempts: one INSERT each."""
    if not made:
        return
    now = timezone.now()
    attempts = []
    for record, entry in made:
        record.redeemed_at = now
        record.transaction_uuid = entry.uuid
        record.charged_cents = -entry.quantity
        attempts.append(
            ForcedRedemptionAttempt(
                forced_redemption=record,
                attempted_by=user_or_none(actor),
                outcome=AttemptOutcome.REDEEMED,
                transaction_uuid=entry.uuid,
                charged_cents=record.charged_cents,
                message=redeemed_message(entry),
            )
        )
    records = [record for record, _ in made]
    ForcedPolicyRedemption.objects.bulk_create(records)
    histories = [creation_history(record) for record in records]
    type(histories[0]).objects.bulk_create(histories)
    ForcedRedemptionAttempt.objects.bulk_create(attempts)
    for record, attempt in zip(records, attempts, strict=True):
        announce(record, attempt)
