"""Redeem forced redemptions that are waiting (saved with "wait to redeem", never tried), for operators and cron.

Each record goes through forced_redemptions.services.redeem_forced, the path the admin uses, so a
record redeemed meanwhile by staff counts as "already redeemed" and is not charged twice. Refusals
and failures are outcomes, recorded on the record; the command exits non-zero only when it crashes.
"""

from __future__ import annotations

from collections import Counter

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from forced_redemptions.errors import ForcedRedemptionArchived
from forced_redemptions.models import STATE_CONDITIONS, AttemptOutcome, ForcedPolicyRedemption, ForcedState
from forced_redemptions.selectors import check_forced
from forced_redemptions.services import redeem_forced


class Command(BaseCommand):
    help = (
        "Redeem waiting forced redemptions (never attempted), and with --retry-errored also errored ones. "
        "Prints one line per record and a summary of outcomes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--retry-errored", action="store_true", help="Also retry records whose last try failed.")
        parser.add_argument("--limit", type=int, default=None, help="Handle at most this many records, oldest first.")
        parser.add_argument("--dry-run", action="store_true", help="Only check each record; write nothing.")
        parser.add_argument("--user", default=None, help="Username to record as the one who attempted (optional).")

    def handle(self, *args, **options):
        limit = options["limit"]
        if limit is not None and limit < 1:
            raise CommandError("--limit must be 1 or more.")
        actor = None
        if options["user"]:
            actor = get_user_model().objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"No user named {options['user']!r}.")

        # Waiting ones (and errored ones, if asked); a pending one is being settled by fulfillment already, and an
        # archived one is not redeemed again.
        states = STATE_CONDITIONS[ForcedState.WAITING]
        if options["retry_errored"]:
            states |= STATE_CONDITIONS[ForcedState.ERRORED]
        pending = ForcedPolicyRedemption.objects.filter(states, archived_at__isnull=True).select_related(
            "subsidy_access_policy", "subsidy_access_policy__customer"
        )
        pending = pending.order_by("created", "pk")
        records = list(pending[:limit] if limit else pending)

        if options["dry_run"]:
            self._dry_run(records)
        else:
            self._redeem(records, actor)

    def _dry_run(self, records: list[ForcedPolicyRedemption]) -> None:
        verdicts: Counter[str] = Counter()
        for record in records:
            check = check_forced(record)
            verdict = "redeemable" if check.can_redeem else f"not redeemable ({check.reason})"
            verdicts[verdict] += 1
            self.stdout.write(f"{record.uuid} learner {record.lms_user_id} into {record.course_run_key}: {verdict}")
        self.stdout.write(f"Dry run, nothing written. {len(records)} checked.")
        for verdict, count in sorted(verdicts.items()):
            self.stdout.write(f"  {verdict}: {count}")

    def _redeem(self, records: list[ForcedPolicyRedemption], actor) -> None:
        outcomes: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        for record in records:
            try:
                record = redeem_forced(record=record, actor=actor)
            except ForcedRedemptionArchived:  # archived since it was read: skipped, nothing written
                outcomes["archived"] += 1
                self.stdout.write(f"{record.uuid} learner {record.lms_user_id}: archived meanwhile, skipped")
                continue
            attempt = record.last_attempt
            outcomes[attempt.outcome] += 1
            line = f"{record.uuid} learner {record.lms_user_id} into {record.course_run_key}: {attempt.outcome}"
            if attempt.outcome == AttemptOutcome.ERRORED:
                errors[attempt.reason_code] += 1
                self.stdout.write(self.style.WARNING(f"{line} ({attempt.reason_code}) {attempt.message}"))
            else:
                self.stdout.write(f"{line} transaction {attempt.transaction_uuid}")
        self.stdout.write(f"{len(records)} handled.")
        self.stdout.write(f"  redeemed: {outcomes[AttemptOutcome.REDEEMED]}")
        self.stdout.write(f"  pending downstream: {outcomes[AttemptOutcome.PENDING]}")
        self.stdout.write(f"  errored: {outcomes[AttemptOutcome.ERRORED]}")
        for reason, count in sorted(errors.items()):
            self.stdout.write(f"    {reason}: {count}")
        self.stdout.write(f"  already redeemed: {outcomes[AttemptOutcome.ALREADY_REDEEMED]}")
        if outcomes["archived"]:
            self.stdout.write(f"  archived meanwhile: {outcomes['archived']}")
