"""Periodic work of forced redemptions (Celery beat; cron can run the same command instead)."""

from __future__ import annotations

from io import StringIO

from celery import shared_task
from django.core.management import call_command


@shared_task(name="forced_redemptions.tasks.redeem_waiting")
def redeem_waiting() -> str:
    """Redeem the waiting forced redemptions: `manage.py redeem_waiting_forced_redemptions`, on a schedule."""
    out = StringIO()
    call_command("redeem_waiting_forced_redemptions", stdout=out)
    return out.getvalue().splitlines()[-1] if out.getvalue() else ""
