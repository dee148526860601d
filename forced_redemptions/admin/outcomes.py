"""What a save, a "Redeem now" or a "Reverse" did, said exactly, as one admin message per record; and what the
record's state means, for the caution banner of its page.

Messages are for staff: a failure says which rule said no and what to do next (forced_redemptions.next_steps),
and the uuids in them are links to the record and its ledger transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from common.admin import admin_link, transaction_link
from common.money import format_cents
from forced_redemptions.models import AttemptOutcome, ForcedPolicyRedemption, ForcedState
from forced_redemptions.next_steps import explain
from forced_redemptions.services import REVERSED_IN_LEDGER

NOTHING_MOVED = "Nothing was charged and nobody was enrolled; the failure is on the record."


def describe(record: ForcedPolicyRedemption) -> str:
    return f"Learner {record.lms_user_id} into {record.course_run_key}"


def amount(cents: int | None) -> str:
    """Dollars and cents, e.g. "$100.00 (10000 cents)"."""
    return "-" if cents is None else f"{format_cents(cents)} ({cents} cents)"


def record_link(record: ForcedPolicyRedemption) -> SafeString:
    return admin_link("admin:forced_redemptions_forcedpolicyredemption_change", record.pk, record.uuid)


def linked(text: str, record: ForcedPolicyRedemption) -> SafeString:
    """`text`, escaped, with the record's uuid and its transaction's as links to their admin pages."""
    html = str(conditional_escape(text))
    if record.transaction_uuid:
        html = html.replace(str(record.transaction_uuid), str(transaction_link(record.transaction_uuid)))
    html = html.replace(str(record.uuid), str(record_link(record)))
    return mark_safe(html)  # noqa: S308 - escaped above; only links built by format_html were put in


def settled(record: ForcedPolicyRedemption) -> str:
    """How a redeemed record was settled, e.g. "redeemed on ... (transaction ...) and reversed on ..."."""
    text = f"redeemed on {record.redeemed_at:%Y-%m-%d %H:%M} UTC (transaction {record.transaction_uuid})"
    if record.reversed_at:
        text += f" and reversed on {record.reversed_at:%Y-%m-%d %H:%M} UTC"
    return text


def failure(reason: str, message: str) -> str:
    """A failure for staff: which rule said no (not the learner's wording) and the next step."""
    return f"Redemption failed ({reason}): {explain(reason, message)}"


def outcome_message(record: ForcedPolicyRedemption) -> tuple[int, SafeString]:
    """(message level, text) for the record as the service left it.

    `record.last_attempt` is set when this request made an attempt; without one the record was only
    saved (waiting, or already redeemed earlier).
    """
    level, text = _outcome_text(record)
    return level, linked(text, record)


def _outcome_text(record: ForcedPolicyRedemption) -> tuple[int, str]:
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
        return messages.ERROR, f"{who}. {failure(attempt.reason_code, attempt.message)} {NOTHING_MOVED}"
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


# The caution banner of the add/change page, by the record's state.

DEADLINE_ONLY = mark_safe(
    "Only the <strong>enrollment deadline</strong> is bypassed (the run may be closed or past its deadline). "
    "Every other check still applies: the learner must be linked to the customer, the run must be in the "
    "policy's catalog, and the subsidy and the policy's limits must cover the price."
)
TICKET = mark_safe(
    'Put a <strong>ticket reference</strong> in "Reason". Undoing a redemption is a reversal (refund and '
    'unenrollment) with the "Reverse (refund and unenroll)" button of a redeemed record, not an edit.'
)
CONFIRMED_CHARGE = mark_safe(
    'Saving with "Wait to redeem" unticked <strong>charges the subsidy</strong> and enrolls the learner, once you '
    "confirm on the next page, which shows what will be charged."
)


@dataclass
class Banner:
    title: str
    items: list[SafeString] = field(default_factory=list)
    caution: bool = True  # red: saving may charge; otherwise a plain note of what the record is


def banner(record: ForcedPolicyRedemption | None) -> Banner:
    """What the record's page says first: what saving does now, or what happened."""
    if record is None:
        return Banner("Caution: this forces a real redemption", [CONFIRMED_CHARGE, DEADLINE_ONLY, TICKET])
    if record.archived_at:
        return Banner(
            "Archived",
            [
                linked(
                    f"Archived on {record.archived_at:%Y-%m-%d %H:%M} UTC: it errored ({record.error_reason}) and "
                    f"never charged anything. It is kept as the audit trail and is not redeemed or changed; add a "
                    f"new forced redemption to try again.",
                    record,
                )
            ],
            caution=False,
        )
    state = record.state
    if state == ForcedState.REVERSED:
        return Banner(
            "Reversed: settled for good",
            [
                linked(f"This forced redemption was {settled(record)}: refunded and unenrolled.", record),
                mark_safe("It is not redeemed again. To enroll the learner again, add a new forced redemption."),
            ],
            caution=False,
        )
    if state == ForcedState.REDEEMED:
        return Banner(
            "Redeemed",
            [
                linked(
                    f"Redeemed on {record.redeemed_at:%Y-%m-%d %H:%M} UTC: transaction {record.transaction_uuid}, "
                    f"charged {amount(record.charged_cents)}; the learner is enrolled.",
                    record,
                ),
                mark_safe(
                    "Its policy, learner, run, price and exec-ed data are settled; saving changes only the reason "
                    "and the price justification, and charges nothing."
                ),
                mark_safe(
                    'Undo it with <strong>"Reverse (refund and unenroll)"</strong> at the top right, not an edit.'
                ),
            ],
            caution=False,
        )
    if state == ForcedState.PENDING:
        return Banner(
            "Pending: the downstream's answer is not in yet",
            [
                linked(
                    f"Transaction {record.transaction_uuid} is reserved and waits for the LMS (or the exec-ed "
                    f"provider); the record becomes redeemed or errored by itself. Saving charges nothing more.",
                    record,
                )
            ],
            caution=False,
        )
    if state == ForcedState.ERRORED:
        return Banner(
            f"The last attempt failed ({record.error_reason})",
            [
                linked(f"{explain(record.error_reason, record.error_message)} {NOTHING_MOVED}", record),
                mark_safe(
                    'Saving with "Wait to redeem" unticked <strong>tries again</strong>, once you confirm on the next '
                    "page what will be charged."
                ),
                mark_safe(
                    "Not needed any more? If it never had a transaction, archive it with the list's action \"Archive "
                    'errored records that charged nothing".'
                ),
            ],
        )
    return Banner(
        "Caution: waiting to redeem; nothing is charged yet",
        [CONFIRMED_CHARGE, DEADLINE_ONLY, TICKET],
    )


def wait_help(record: ForcedPolicyRedemption | None) -> str:
    """The help of "Wait to redeem", by the record's state."""
    if record is None:
        return (
            "Ticked: saved without charging anything, to redeem later. Unticked: saving shows what will be charged, "
            "then redeems once you confirm."
        )
    if record.archived_at:
        return "Archived: it is not redeemed again."
    state = record.state
    if state == ForcedState.REVERSED:
        return "Reversed: settled for good; it is not redeemed again."
    if state == ForcedState.REDEEMED:
        return f"Redeemed on {record.redeemed_at:%Y-%m-%d %H:%M} UTC: settled; undo it with Reverse."
    if state == ForcedState.PENDING:
        return "Pending: its transaction is reserved; saving charges nothing more either way."
    again = "tries again" if state == ForcedState.ERRORED else "redeems it"
    return (
        f"Ticked: saving keeps it {state} and charges nothing. Unticked: saving {again}, once you confirm what will be "
        f"charged."
    )
