"""What a save, a "Redeem now" or a "Reverse" did, said exactly, as one admin message per record."""

from __future__ import annotations

from django.contrib import messages

from common.money import format_cents
from forced_redemptions.models import AttemptOutcome, ForcedPolicyRedemption
from forced_redemptions.services import REVERSED_IN_LEDGER


def describe(record: ForcedPolicyRedemption) -> str:
    return f"Learner {record.lms_user_id} into {record.course_run_key}"


def amount(cents: int | None) -> str:
    """Dollars and cents, e.g. "$100.00 (10000 cents)"."""
    return "-" if cents is None else f"{format_cents(cents)} ({cents} cents)"


def settled(record: ForcedPolicyRedemption) -> str:
    """How a redeemed record was settled, e.g. "redeemed on ... (transaction ...) and reversed on ..."."""
    text = f"redeemed on {record.redeemed_at:%Y-%m-%d %H:%M} UTC (transaction {record.transaction_uuid})"
    if record.reversed_at:
        text += f" and reversed on {record.reversed_at:%Y-%m-%d %H:%M} UTC"
    return text


def outcome_message(record: ForcedPolicyRedemption) -> tuple[int, str]:
    """(message level, text) for the record as the service left it.

    `record.last_attempt` is set when this request made an attempt; without one the record was only
    saved (waiting, or already redeemed earlier).
    """
    attempt = getattr(record, "last_attempt", None)
    who = describe(record)
    if attempt is not None and attempt.outcome == AttemptOutcome.REDEEMED:
        return messages.SUCCESS, (
            f"Redeemed. {who}: enrolled; transaction {attempt.transaction_uuid}; "
            f"charged {amount(attempt.charged_cents)}."
        )
    if attempt is not None and attempt.outcome == AttemptOutcome.PENDING:
        return messages.WARNING, (
            f"Pending. {who}: {attempt.message} The downstream's answer is not in yet; it is retried by itself "
            f"and staff see it under Fulfillment jobs if it needs attention."
        )
    if attempt is not None and attempt.outcome == AttemptOutcome.ERRORED:
        return messages.ERROR, (
            f"Redemption failed ({attempt.reason_code}). {who}: {attempt.message} "
            f"The failure is recorded on the forced redemption; no money moved and nobody was enrolled."
        )
    if attempt is not None and attempt.outcome == AttemptOutcome.REVERSED:
        if attempt.reason_code == REVERSED_IN_LEDGER:
            return messages.INFO, (
                f"Already reversed in the ledger; now on record here, and nothing was refunded again. {who}: "
                f"{attempt.message}"
            )
        return messages.SUCCESS, (
            f"Reversed. {who}: refunded {amount(-attempt.charged_cents)} to the subsidy (transaction "
            f"{attempt.transaction_uuid}) and unenrolled. The record stays as the audit trail; the same learner, "
            f"run and policy may be forced again."
        )
    if record.reversed_at:
        return messages.INFO, (
            f"Already reversed. {who} was {settled(record)}; a reversed forced redemption is not redeemed again "
            f"and nothing was charged. Add a new forced redemption to enroll the learner again."
        )
    if record.redeemed_at:
        return messages.INFO, (
            f"Already redeemed. {who} was redeemed on {record.redeemed_at:%Y-%m-%d %H:%M} UTC "
            f"(transaction {record.transaction_uuid}, charged {amount(record.charged_cents)}); "
            f"nothing was charged again."
        )
    earlier = f" The last attempt failed ({record.error_reason})." if record.errored_at else ""
    return messages.WARNING, (
        f'Saved, waiting to redeem. {who}: nothing was charged.{earlier} Redeem it with the "Redeem now" '
        f'action, by saving it with "Wait to redeem" unticked, or with manage.py redeem_waiting_forced_redemptions.'
    )
