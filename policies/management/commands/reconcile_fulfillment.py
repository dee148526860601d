"""Try every pending fulfillment job now: for operators, say when the LMS is back after an outage.

Unlike the periodic reconciler (policies.tasks.reconcile_fulfillment), which takes only jobs that are due,
this takes every pending job whatever its age or number of tries (`--due` for the reconciler's choice).
A job whose try is under way elsewhere (a live claim) is skipped, so nothing is called twice at once.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from policies import settlement


class Command(BaseCommand):
    help = "Try every pending fulfillment job once now (LMS / exec-ed provider); print what each came to."

    def add_arguments(self, parser):
        parser.add_argument("--due", action="store_true", help="Only jobs whose next scheduled try is due.")
        parser.add_argument("--limit", type=int, default=None, help="Handle at most this many jobs.")

    def handle(self, *args, **options):
        limit = options["limit"]
        if limit is not None and limit < 1:
            raise CommandError("--limit must be 1 or more.")
        counts = settlement.reconcile(whenever=not options["due"], limit=limit)
        total = sum(counts.values())
        self.stdout.write(
            f"{total} pending job(s) tried: {counts['committed']} committed, {counts['failed']} failed, "
            f"{counts['pending']} still pending (answer unknown), {counts['skipped']} skipped (under way)."
        )
