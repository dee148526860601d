"""Each row's verdict before anything is charged: the dry run "Check redeemability" makes for one record
(forced_redemptions.selectors.check_forced), plus what only a file can get wrong: a learner named by an
email that no link of the customer has, and rows that each fit the balance (or the spend limit) alone but
not together with the rows above them.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Sum
from django.db.models.functions import Lower

from common.errors import InvalidInput
from common.money import format_cents
from customers.models import EnterpriseCustomerUser
from forced_batches.models import BatchRow, Verdict
from forced_redemptions.bulk_selectors import check_forced_many
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.next_steps import STAFF_SUMMARIES, next_step
from forced_redemptions.selectors import ForcedCheck
from forced_redemptions.services import EDITABLE_FIELDS, validate_fields
from policies import reasons

LEARNER_NOT_LINKED = "learner_email_not_linked"
EMAIL_MISMATCH = "learner_email_mismatch"

# What a row gives a forced redemption: all its editable fields but "wait to redeem" (a batch redeems).
ROW_FIELDS = tuple(name for name in EDITABLE_FIELDS if name != "wait_to_redeem")


def record_fields(row: BatchRow, *, file_reason: str) -> dict:
    """The forced redemption a row asks for, as create_forced_redemption takes it."""
    fields = {name: getattr(row, name) for name in ROW_FIELDS}
    fields["reason"] = row.reason or file_reason
    return fields


@dataclass
class Allowance:
    """What the rows judged redeemable so far take from one subsidy's balance and one policy's spend limit."""

    balance_cents: int | None = None
    spend_available_cents: int | None = None
    taken_cents: int = 0


class BatchChecker:
    """Judges a batch's rows in order, carrying what the redeemable rows above take from each balance."""

    def __init__(self, batch) -> None:
        self.batch = batch
        self.contents: dict = {}  # the runs and their catalog membership, read once for the batch
        self.subsidies: dict = {}
        self.policies: dict = {}
        taken = (
            BatchRow.objects.filter(batch=batch, verdict=Verdict.REDEEMABLE)
            .values("subsidy_access_policy", "subsidy_access_policy__subsidy")
            .annotate(total=Sum("price_cents"))
        )
        # A check resumed after a crash starts from what the rows already judged take.
        for item in taken:
            self._subsidy(item["subsidy_access_policy__subsidy"]).taken_cents += item["total"] or 0
            self._policy(item["subsidy_access_policy"]).taken_cents += item["total"] or 0

    def _subsidy(self, key) -> Allowance:
        return self.subsidies.setdefault(key, Allowance())

    def _policy(self, key) -> Allowance:
        return self.policies.setdefault(key, Allowance())

    def judge(self, rows: list[BatchRow]) -> None:
        """Give each row of `rows` (a chunk, in line order, each with its policy) its verdict, in place."""
        self._resolve_emails(rows)
        records: dict[int, ForcedPolicyRedemption] = {}
        for row in rows:
            if row.verdict == Verdict.REFUSED:
                continue  # refused already (its email, or its values when the file was read)
            fields = record_fields(row, file_reason=self.batch.reason)
            try:
                validate_fields(fields)
            except InvalidInput as error:
                messages = [f"{name}: {' '.join(texts)}" for name, texts in error.field_errors.items()]
                _refuse(row, error.reason, " ".join(messages) or error.message)
            else:
                records[row.line] = ForcedPolicyRedemption(**fields)
        by_policy: dict = {}
        for row in rows:
            if row.line in records:
                by_policy.setdefault(row.subsidy_access_policy_id, []).append(row)
        checks: dict[int, ForcedCheck] = {}
        for group in by_policy.values():
            verdicts = check_forced_many([records[row.line] for row in group], contents=self.contents)
            checks.update({row.line: check for row, check in zip(group, verdicts, strict=True)})
        for row in rows:  # in line order: what the rows above take is what this one is measured against
            if row.line in checks:
                self._judge(row, checks[row.line])

    def _judge(self, row: BatchRow, check: ForcedCheck) -> None:
        row.price_cents = check.price_cents
        if not check.can_redeem:
            return _refuse(row, check.reason or "refused", check.message, for_learners=True)
        policy = row.subsidy_access_policy
        subsidy = self._subsidy(policy.subsidy_id)
        spend = self._policy(policy.pk)
        if subsidy.balance_cents is None:
            subsidy.balance_cents = check.balance_cents
        if spend.spend_available_cents is None:
            spend.spend_available_cents = check.policy_spend_available_cents
        price = check.price_cents or 0
        if subsidy.balance_cents is not None and subsidy.taken_cents + price > subsidy.balance_cents:
            return _refuse(
                row,
                reasons.NOT_ENOUGH_VALUE_IN_SUBSIDY,
                f"Alone it fits, but the redeemable rows above it already take {format_cents(subsidy.taken_cents)} of "
                f"the subsidy's {format_cents(subsidy.balance_cents)}; {format_cents(price)} more does not fit. Top up "
                f"the subsidy, or run this row later.",
            )
        if spend.spend_available_cents is not None and spend.taken_cents + price > spend.spend_available_cents:
            return _refuse(
                row,
                reasons.POLICY_SPEND_LIMIT_REACHED,
                f"Alone it fits, but the redeemable rows above it already take {format_cents(spend.taken_cents)} of "
                f"the {format_cents(spend.spend_available_cents)} the policy may still spend; "
                f"{format_cents(price)} more passes its spend limit. Raise the limit, or run this row later.",
            )
        subsidy.taken_cents += price
        spend.taken_cents += price
        row.verdict = Verdict.REDEEMABLE
        row.check_reason = ""
        row.check_message = check.message

    def _resolve_emails(self, rows: list[BatchRow]) -> None:
        """Learners named by email, through the links of the row's customer: one read per customer and chunk."""
        wanted: dict = {}
        for row in rows:
            if row.email and row.verdict != Verdict.REFUSED:
                wanted.setdefault(row.subsidy_access_policy.customer_id, set()).add(row.email.lower())
        links: dict = {}
        for customer_id, emails in wanted.items():
            found = (
                EnterpriseCustomerUser.objects.annotate(email_lower=Lower("email"))
                .filter(customer_id=customer_id, email_lower__in=emails)
                .values_list("email_lower", "lms_user_id")
            )
            for email, lms_user_id in found:
                links.setdefault((customer_id, email), set()).add(lms_user_id)
        for row in rows:
            if not row.email or row.verdict == Verdict.REFUSED:
                continue
            customer = row.subsidy_access_policy.customer
            ids = links.get((customer.pk, row.email.lower()), set())
            if row.lms_user_id is None and len(ids) == 1:
                row.lms_user_id = next(iter(ids))
            elif row.lms_user_id is None and not ids:
                _refuse(
                    row,
                    LEARNER_NOT_LINKED,
                    f"No learner linked to {customer.name} has the email {row.email}. Link the learner to the customer "
                    f"first (Customers → Learner links), or give the lms_user_id.",
                )
            elif row.lms_user_id is None:
                _refuse(
                    row,
                    LEARNER_NOT_LINKED,
                    f"Several learners linked to {customer.name} have the email {row.email} "
                    f"(lms_user_id {', '.join(str(i) for i in sorted(ids))}); give the lms_user_id instead.",
                )
            elif row.lms_user_id not in ids:
                _refuse(
                    row,
                    EMAIL_MISMATCH,
                    f"The email {row.email} is not the email of learner {row.lms_user_id}'s link to {customer.name}; "
                    f"check which learner this row means.",
                )


def _refuse(row: BatchRow, reason: str, message: str, *, for_learners: bool = False) -> None:
    """Refuse the row with a message for staff: what failed, and what to do next."""
    row.verdict = Verdict.REFUSED
    row.check_reason = reason
    if for_learners and reason in STAFF_SUMMARIES:  # a policy rule's message is the learner's ("You can't ...")
        message = f"Refused: {STAFF_SUMMARIES[reason]}."
    step = next_step(reason)
    row.check_message = f"{message} Next step: {step}" if step and "Next step:" not in message else message


def refuse_unreadable(row: BatchRow, problems: list[str]) -> None:
    """A row whose values could not be read (csv_input): refused before any check."""
    _refuse(row, "invalid_row", " ".join(problems))
