"""manage.py redeem_waiting_forced_redemptions: for operators and cron."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from demo import data as demo_data
from forced_redemptions.models import AttemptOutcome, ForcedState
from forced_redemptions.tests.helpers import footprint, force

COMMAND = "redeem_waiting_forced_redemptions"


def _run(*args: str) -> str:
    out = StringIO()
    call_command(COMMAND, *args, stdout=out)
    return out.getvalue()


def _refreshed(*records):
    for record in records:
        record.refresh_from_db()
    return records


def test_redeems_waiting_records_and_leaves_errored_and_redeemed_ones(demo, superuser):
    waiting = force(wait_to_redeem=True)
    refused = force(lms_user_id=demo_data.UNLINKED_LEARNER, wait_to_redeem=True)
    errored = force(lms_user_id=1003, content_price_cents=2_000_000)
    redeemed = force(lms_user_id=1004)

    output = _run("--user", superuser.username)

    waiting, refused, errored, redeemed = _refreshed(waiting, refused, errored, redeemed)
    assert waiting.state == ForcedState.REDEEMED
    assert (refused.state, refused.error_reason) == (ForcedState.ERRORED, "learner_not_in_enterprise")
    assert errored.attempts.count() == 1 and redeemed.attempts.count() == 1  # not touched
    assert waiting.attempts.get().attempted_by == superuser
    assert "2 handled." in output
    assert "  redeemed: 1\n" in output and "  errored: 1\n" in output
    assert "    learner_not_in_enterprise: 1\n" in output and "  already redeemed: 0\n" in output
    assert str(waiting.transaction_uuid) in output


def test_retry_errored_also_retries_failed_records(demo):
    errored = force(content_price_cents=2_000_000)
    type(errored).objects.filter(pk=errored.pk).update(content_price_cents=None)  # the cause was fixed

    output = _run("--retry-errored")

    (errored,) = _refreshed(errored)
    assert errored.state == ForcedState.REDEEMED
    assert [a.outcome for a in errored.attempts.all()] == [AttemptOutcome.ERRORED, AttemptOutcome.REDEEMED]
    assert "  redeemed: 1\n" in output


def test_retry_errored_leaves_archived_records_alone(demo, superuser):
    from forced_redemptions.services import archive_forced_redemption

    archived = archive_forced_redemption(record=force(lms_user_id=demo_data.UNLINKED_LEARNER), actor=superuser)

    output = _run("--retry-errored")

    (archived,) = _refreshed(archived)
    assert archived.attempts.count() == 1 and archived.state == ForcedState.ERRORED
    assert "0 handled." in output


def test_limit_handles_the_oldest_first(demo):
    first = force(wait_to_redeem=True)
    second = force(lms_user_id=1003, wait_to_redeem=True)

    _run("--limit", "1")

    first, second = _refreshed(first, second)
    assert (first.state, second.state) == (ForcedState.REDEEMED, ForcedState.WAITING)


def test_dry_run_checks_and_writes_nothing(demo):
    waiting = force(wait_to_redeem=True)
    refused = force(lms_user_id=demo_data.UNLINKED_LEARNER, wait_to_redeem=True)
    before = footprint()

    output = _run("--dry-run")

    waiting, refused = _refreshed(waiting, refused)
    assert waiting.state == refused.state == ForcedState.WAITING
    assert not waiting.attempts.exists() and not refused.attempts.exists()
    assert footprint() == before
    assert f"{waiting.uuid} learner 1002 into {demo_data.CLOSED_RUN}: redeemable" in output
    assert "not redeemable (learner_not_in_enterprise): 1" in output


def test_running_twice_redeems_once(demo):
    force(wait_to_redeem=True)

    _run()
    output = _run()

    assert "0 handled." in output
    assert (footprint().live_transactions, footprint().active_enrollments) == (1, 1)


def test_an_unexpected_failure_is_an_outcome_not_a_crash(demo, settings):
    settings.FULFILLMENT_BACKEND = "fulfillment.backends.NoSuchBackend"
    record = force(wait_to_redeem=True)

    output = _run()

    (record,) = _refreshed(record)
    assert record.error_reason == "unexpected_error" and record.traceback
    assert "    unexpected_error: 1\n" in output


@pytest.mark.parametrize(("args", "message"), [(["--limit", "0"], "--limit"), (["--user", "nobody"], "nobody")])
def test_bad_arguments_are_refused(demo, args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)
