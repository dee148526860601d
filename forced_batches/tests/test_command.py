"""`manage.py force_redemptions FILE`: preview, dry run, confirmation, run, file errors."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from demo import data as demo_data
from forced_batches.models import BatchState, ForcedRedemptionBatch
from forced_batches.tests.helpers import cohort_policy, csv_bytes, link_cohort
from subsidies.models import Transaction

pytestmark = pytest.mark.django_db(transaction=True)


def _file(tmp_path, rows) -> str:
    path = tmp_path / "cohort.csv"
    path.write_bytes(csv_bytes(rows))
    return str(path)


def _run(*args, **options) -> str:
    out = StringIO()
    call_command("force_redemptions", *args, stdout=out, **options)
    return out.getvalue()


def test_dry_run_previews_and_charges_nothing(demo, tmp_path):
    ids = link_cohort(2)
    policy = cohort_policy()
    rows = [{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]
    rows.append({"lms_user_id": ids[0], "course_run_key": demo_data.OUTSIDE_RUN})
    out = _run(_file(tmp_path, rows), policy=str(policy.pk), reason="SUP-1", dry_run=True)
    assert "cohort.csv: 3 rows, 2 redeemable, 1 refused." in out
    assert "Cohort budget: 2 rows charge $200.00" in out
    assert "line 4 refused (content_not_in_catalog)" in out
    assert "Dry run: nothing was charged." in out
    assert not Transaction.objects.filter(lms_user_id__in=ids).exists()
    assert ForcedRedemptionBatch.objects.get().dry_run


def test_yes_runs_every_redeemable_row_once(demo, tmp_path):
    ids = link_cohort(3)
    policy = cohort_policy()
    path = _file(tmp_path, [{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids])
    out = _run(path, policy=str(policy.pk), reason="SUP-1", yes=True)
    assert "Finished: 3 redeemed, 0 pending, 0 errored, 0 skipped; charged $300.00." in out
    out = _run(path, policy=str(policy.pk), reason="SUP-1", yes=True)  # the same file again
    assert "No row is redeemable; nothing was charged." in out
    assert Transaction.objects.filter(lms_user_id__in=ids).count() == 3


def test_without_a_terminal_or_yes_it_refuses_to_charge(demo, tmp_path, monkeypatch):
    ids = link_cohort(1)
    policy = cohort_policy()
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    path = _file(tmp_path, [{"lms_user_id": ids[0], "course_run_key": demo_data.CLOSED_RUN}])
    with pytest.raises(CommandError, match="Add --yes to confirm"):
        _run(path, policy=str(policy.pk), reason="SUP-1")
    assert not Transaction.objects.filter(lms_user_id=ids[0]).exists()
    assert ForcedRedemptionBatch.objects.get().state == BatchState.CHECKED  # never started


def test_file_errors_and_bad_options_are_command_errors(demo, tmp_path):
    policy = cohort_policy()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"learner,course_run_key\n1,a\n")
    with pytest.raises(CommandError, match="Unknown columns: learner"):
        _run(str(bad), policy=str(policy.pk), reason="SUP-1")
    with pytest.raises(CommandError, match="No file at"):
        _run(str(tmp_path / "missing.csv"), reason="SUP-1")
    with pytest.raises(CommandError, match="No subsidy access policy has the uuid 'nope'"):
        _run(str(bad), policy="nope", reason="SUP-1")
    with pytest.raises(CommandError, match="Give the file a reason"):
        _run(str(bad), policy=str(policy.pk))
    assert not ForcedRedemptionBatch.objects.exists()
