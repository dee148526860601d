"""`manage.py force_redemptions FILE`: force the redemptions of a CSV file, as the admin's "Force redemptions
from a file" does (forced_batches.services), from a shell.

It reads and checks every row first and prints the preview (what will be charged, which rows are refused and
why); with --dry-run it stops there. Otherwise it asks before charging (--yes answers for it), then runs the
rows here, in this process, printing progress, and ends with the counts and the batch's uuid (its results are
in the admin and at /api/v1/forced-redemption-batches/<uuid>/results.csv). Exits non-zero on a file error.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from common.errors import DomainError
from common.money import format_cents
from forced_batches import runner, selectors, services
from forced_batches.models import BatchRow, BatchState, Verdict
from policies.models import SubsidyAccessPolicy

REFUSED_SHOWN = 50


class Command(BaseCommand):
    help = "Force the redemptions listed in a CSV file: check every row, show the preview, confirm, run."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file (UTF-8, a header line, up to 10,000 rows).")
        parser.add_argument("--policy", default=None, help="Policy uuid for rows without subsidy_access_policy_uuid.")
        parser.add_argument(
            "--reason", default="", help="Why (e.g. the ticket); rows without a reason use it. Required."
        )
        parser.add_argument("--dry-run", action="store_true", help="Check and preview only; charge nothing.")
        parser.add_argument("--yes", action="store_true", help="Confirm without asking (for scripts).")
        parser.add_argument("--user", default=None, help="Username to record as the one who forced (optional).")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        actor = self._user(options["user"])
        policy = self._policy(options["policy"])
        try:
            with path.open("rb") as file:
                batch = services.upload_batch(
                    file=file,
                    file_name=path.name,
                    actor=actor,
                    reason=options["reason"],
                    policy=policy,
                    dry_run=options["dry_run"],
                    queue=False,
                )
        except DomainError as error:
            details = getattr(error, "field_errors", {}) or {}
            lines = [message for messages in details.values() for message in messages]
            raise CommandError("\n".join([error.message, *(f"  - {line}" for line in lines)])) from None
        batch = services.check_batch(batch.pk)
        numbers = self._preview(batch)
        if options["dry_run"]:
            self.stdout.write(f"Dry run: nothing was charged. Batch {batch.pk}.")
            return
        if not numbers.redeemable:
            services.cancel_batch(batch=batch, actor=actor)
            self.stdout.write(f"No row is redeemable; nothing was charged. Batch {batch.pk} cancelled.")
            return
        question = f"Redeem {numbers.redeemable} and charge {format_cents(numbers.to_charge_cents)}? [y/N] "
        if not options["yes"] and not self._confirmed(question):
            services.cancel_batch(batch=batch, actor=actor)
            self.stdout.write(f"Not confirmed; nothing was charged. Batch {batch.pk} cancelled.")
            return
        services.start_batch(batch=batch, actor=actor, queue=False)
        batch = runner.run_batch(batch.pk)
        numbers = selectors.summary(batch, with_policies=False)
        self.stdout.write(
            f"{batch.get_state_display().capitalize()}: {numbers.redeemed} redeemed, {numbers.pending} pending, "
            f"{numbers.errored} errored, {numbers.skipped} skipped; charged {format_cents(numbers.charged_cents)}. "
            f"Batch {batch.pk}; results: /api/v1/forced-redemption-batches/{batch.pk}/results.csv"
        )
        if batch.state == BatchState.RUNNING:
            self.stdout.write("Some rows are left (the subsidy stayed locked); run the batch again from the admin.")

    def _preview(self, batch) -> selectors.BatchSummary:
        numbers = selectors.summary(batch)
        self.stdout.write(
            f"{batch.file_name}: {numbers.total} rows, {numbers.redeemable} redeemable, {numbers.refused} refused."
        )
        for total in numbers.policies:
            limit = ""
            if total.spend_limit_cents is not None:
                limit = (
                    f" (spend limit {format_cents(total.spend_limit_cents)}, spent {format_cents(total.spent_cents)})"
                )
            self.stdout.write(
                f"  {total.policy_name}: {total.rows} rows charge {format_cents(total.charge_cents)} of a balance of "
                f"{format_cents(total.balance_cents)}{limit}"
            )
        refused = BatchRow.objects.filter(batch=batch, verdict=Verdict.REFUSED).order_by("line")
        for row in refused[:REFUSED_SHOWN]:
            self.stdout.write(f"  line {row.line} refused ({row.check_reason}): {row.check_message}")
        if numbers.refused > REFUSED_SHOWN:
            self.stdout.write(f"  ... and {numbers.refused - REFUSED_SHOWN} more refused rows (see the results CSV).")
        return numbers

    def _confirmed(self, question: str) -> bool:
        if not sys.stdin.isatty():
            raise CommandError(
                "Not confirmed: stdin is not a terminal. Add --yes to confirm, or --dry-run to only check."
            )
        return input(question).strip().lower() in ("y", "yes")

    def _user(self, username):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        return user

    def _policy(self, value):
        if not value:
            return None
        policy = SubsidyAccessPolicy.objects.select_related("customer", "subsidy").filter(pk=_uuid(value)).first()
        if policy is None:
            raise CommandError(f"No subsidy access policy has the uuid {value!r}.")
        return policy


def _uuid(value: str):
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
