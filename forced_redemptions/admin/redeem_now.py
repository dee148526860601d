"""The list's actions: "Redeem now", through a page that says what each selected record will charge (or why it
is skipped) before anything is charged; and "Archive errored records that charged nothing".

"Redeem now" first answers with that page (a dry run of each record, forced_redemptions.selectors.check_forced);
its button posts the selection back with `post=yes` and what the page showed for each record, and only then are
the records redeemed, one by one, each by forced_redemptions.services.redeem_forced. A record whose outcome would
now differ from what was shown is left alone (select it again to see the new numbers). Afterwards one summary
message ("2 redeemed, 1 refused, 1 skipped") and one message per record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from catalog.models import CourseRun
from common.admin import message_domain_error
from common.errors import DomainError
from common.money import format_cents
from customers.models import EnterpriseCustomerUser
from forced_redemptions.admin.confirm import Preview
from forced_redemptions.admin.outcomes import describe, linked, outcome_message, settled
from forced_redemptions.bulk_selectors import check_forced_many
from forced_redemptions.models import AttemptOutcome, ForcedPolicyRedemption, ForcedState
from forced_redemptions.services import archive_forced_redemption, redeem_forced

logger = logging.getLogger(__name__)

PAGE_TEMPLATE = "admin/forced_redemptions/forcedpolicyredemption/redeem_now_page.html"
_EXPECTED = "expected_"  # + record pk: what the page showed for the record (Preview.fingerprint, or "skip")
MAX_RECORDS = 200


@dataclass
class Planned:
    """One selected record and what "Redeem now" would do with it: skip it, note it still pending, or try it."""

    record: ForcedPolicyRedemption
    preview: Preview | None = None  # set for a record that is tried
    skip_reason: str = ""

    @property
    def pending(self) -> bool:
        return self.preview is None and not self.skip_reason

    @property
    def fingerprint(self) -> str:
        if self.skip_reason:
            return "skip"
        return "pending" if self.preview is None else self.preview.fingerprint

    @property
    def charges(self) -> bool:
        return self.preview is not None and self.preview.charges

    @property
    def expected(self) -> str:
        if self.skip_reason:
            return f"Skipped: {self.skip_reason}"
        if self.preview is None:
            return "Stays pending: its transaction is reserved and waits for the LMS; nothing is charged again."
        if self.charges:
            return f"Redeems and charges {format_cents(self.preview.price_cents)}. {self.preview.run_status}"
        return f"Tried, and expected to be refused: {self.preview.refusal} Nothing is charged."


def plan(records: list[ForcedPolicyRedemption]) -> list[Planned]:
    """What "Redeem now" would do with each record; the ones it tries are checked together (what they share,
    their runs and learner links, read once), with check_forced's answers."""
    tried = [r for r in records if not (r.archived_at or r.redeemed_at or r.state == ForcedState.PENDING)]
    checks = _checks(tried)
    runs = CourseRun.objects.select_related("course").in_bulk({r.course_run_key for r in tried}, field_name="key")
    links = {
        (link.customer_id, link.lms_user_id): link
        for link in EnterpriseCustomerUser.objects.filter(lms_user_id__in={r.lms_user_id for r in tried})
    }
    planned = []
    for record in records:
        if record.archived_at:
            skip = f"archived on {record.archived_at:%Y-%m-%d %H:%M} UTC; not redeemed again."
            planned.append(Planned(record, skip_reason=skip))
        elif record.redeemed_at:
            planned.append(Planned(record, skip_reason=f"already {settled(record)}; nothing is charged again."))
        elif record.state == ForcedState.PENDING:
            planned.append(Planned(record))  # redeem_forced notes it still pending and charges nothing
        else:
            customer_id = record.subsidy_access_policy.customer_id
            preview = Preview.of(
                record,
                check=checks.get(record.pk),
                run=runs.get(record.course_run_key),
                link=links.get((customer_id, record.lms_user_id)),
            )
            planned.append(Planned(record, preview=preview))
    return planned


def _checks(records: list[ForcedPolicyRedemption]) -> dict:
    """check_forced of each record, by record, read per policy at once; {} (each checked alone) if that fails."""
    by_policy: dict = {}
    for record in records:
        by_policy.setdefault(record.subsidy_access_policy_id, []).append(record)
    try:
        return {
            record.pk: check
            for group in by_policy.values()
            for record, check in zip(group, check_forced_many(group, refuse_enrolled=False), strict=True)
        }
    except Exception:  # noqa: BLE001 - Preview.of checks each alone, and says so if one cannot be checked
        logger.exception("Checking the selected forced redemptions together failed; checking each alone")
        return {}


def redeem_now(model_admin, request, queryset):
    records = list(queryset.order_by("created", "pk")[: MAX_RECORDS + 1])
    if len(records) > MAX_RECORDS:  # each is checked for the page, then again when it runs
        model_admin.message_user(
            request,
            f"Redeem now takes at most {MAX_RECORDS} records at a time, so that its page can check each one; nothing "
            f"was charged. Select fewer, or force them from a file (Forced redemption batches).",
            messages.WARNING,
        )
        return None
    planned = plan(records)
    if request.POST.get("post") != "yes":
        return _confirmation_page(model_admin, request, planned)
    _run(model_admin, request, planned)
    return None  # back to the list, with the messages


def _confirmation_page(model_admin, request, planned: list[Planned]):
    charging = [p for p in planned if p.charges]
    total = sum(p.preview.price_cents for p in charging)
    tried = [p for p in planned if not p.skip_reason and not p.charges]
    if charging:
        button = f"Redeem {len(charging)} and charge {format_cents(total)}"
    elif tried:
        button = f"Try {len(tried)} anyway (nothing is charged)"
    else:
        button = ""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"{button}?" if charging else "Redeem now: nothing would be charged",
        "opts": model_admin.opts,
        "planned": planned,
        "button": button,
        "tried_without_charge": len(tried),
        "skipped": len(planned) - len(charging) - len(tried),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "expected_prefix": _EXPECTED,
    }
    return TemplateResponse(request, PAGE_TEMPLATE, context)


def _run(model_admin, request, planned: list[Planned]) -> None:
    counts = {"redeemed": 0, "pending": 0, "refused": 0, "skipped": 0}
    charged = 0
    notes: list[tuple[int, str]] = []
    for item in planned:
        record = item.record
        shown = request.POST.get(f"{_EXPECTED}{record.pk}")
        if item.skip_reason:
            counts["skipped"] += 1
            notes.append((messages.INFO, linked(f"Skipped. {describe(record)}: {item.skip_reason}", record)))
            continue
        if shown != item.fingerprint:
            counts["skipped"] += 1
            notes.append(
                (
                    messages.WARNING,
                    linked(
                        f"Not redeemed. {describe(record)}: what it would do changed since the page was shown "
                        f"(now: {item.expected}). Select it again to see the new numbers.",
                        record,
                    ),
                )
            )
            continue
        try:
            record = redeem_forced(record=record, actor=request.user)
        except DomainError as error:  # archived meanwhile
            counts["skipped"] += 1
            message_domain_error(request, error, prefix=f"Skipped. {describe(record)}: ")
            continue
        outcome = record.last_attempt.outcome
        model_admin.log_change(request, record, f"Redeem now: {outcome}.")
        if outcome == AttemptOutcome.REDEEMED:
            counts["redeemed"] += 1
            charged += record.charged_cents or 0
        elif outcome == AttemptOutcome.PENDING:
            counts["pending"] += 1
        elif outcome == AttemptOutcome.ERRORED:
            counts["refused"] += 1
        else:
            counts["skipped"] += 1
        notes.append(outcome_message(record))
    summary = ", ".join(f"{n} {what}" for what, n in counts.items() if n or what != "pending")
    level = messages.WARNING if counts["refused"] else messages.SUCCESS if counts["redeemed"] else messages.INFO
    model_admin.message_user(request, f"Redeem now: {summary}; {format_cents(charged)} charged.", level)
    for note_level, text in notes:
        model_admin.message_user(request, text, note_level)


def archive_errored(model_admin, request, queryset) -> None:
    """Archive the selected errored records that never had a transaction; say which others were left alone."""
    archived, left = [], []
    for record in queryset.order_by("created", "pk"):
        try:
            record = archive_forced_redemption(record=record, actor=request.user)
        except DomainError as error:
            left.append((record, error.message))
            continue
        archived.append(record)
        model_admin.log_change(request, record, "Archived: errored, never charged.")
    if archived:
        model_admin.message_user(
            request,
            format_html(
                "Archived {} errored record(s) that charged nothing: {}. They are hidden from the list (filter "
                "“archived”) and not redeemed again.",
                len(archived),
                format_html_join(", ", "{}", ((linked(str(r.uuid), r),) for r in archived)),
            ),
            messages.SUCCESS,
        )
    for record, why in left:
        model_admin.message_user(request, linked(f"Left alone. {describe(record)} ({record.uuid}): {why}", record))
