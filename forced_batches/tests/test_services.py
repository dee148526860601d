"""The batch services end to end on the real database, inline (no broker): upload, check, start, run."""

from __future__ import annotations

import pytest

from demo import data as demo_data
from forced_batches import runner, services
from forced_batches.errors import BatchFileRejected, BatchNotCancellable, BatchNotStartable
from forced_batches.models import BatchRow, BatchState, Outcome, Verdict
from forced_batches.selectors import summary
from forced_batches.tests.helpers import cohort_email, cohort_policy, csv_bytes, link_cohort, upload
from forced_redemptions.models import ForcedPolicyRedemption
from subsidies.models import Transaction

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cohort(demo):
    ids = link_cohort(6)
    return ids, cohort_policy()


def test_a_file_is_checked_then_run_once_confirmed(cohort, superuser):
    ids, policy = cohort
    rows = [{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids[:3]]
    rows.append({"email": cohort_email(ids[3]), "course_run_key": demo_data.CLOSED_RUN})
    rows.append({"email": "nobody@example.com", "course_run_key": demo_data.CLOSED_RUN})
    rows.append({"lms_user_id": ids[5], "course_run_key": demo_data.OUTSIDE_RUN})
    batch = upload(csv_bytes(rows), actor=superuser, policy=policy)

    assert batch.state == BatchState.CHECKED  # inline: checked within the upload
    assert not Transaction.objects.filter(lms_user_id__in=ids).exists()  # nothing charged by the check
    numbers = summary(batch)
    assert numbers.counts() == {
        "total": 6, "checked": 6, "redeemable": 4, "refused": 2,
        "redeemed": 0, "pending": 0, "errored": 0, "skipped": 0,
    }  # fmt: skip
    assert numbers.to_charge_cents == 4 * 10_000
    assert numbers.refused_by_reason == {"learner_email_not_linked": 1, "content_not_in_catalog": 1}
    by_email = BatchRow.objects.get(batch=batch, email=cohort_email(ids[3]))
    assert by_email.lms_user_id == ids[3] and by_email.verdict == Verdict.REDEEMABLE

    batch = services.start_batch(batch=batch, actor=superuser)
    batch.refresh_from_db()
    assert batch.state == BatchState.FINISHED
    numbers = summary(batch)
    assert (numbers.redeemed, numbers.skipped, numbers.charged_cents) == (4, 2, 40_000)
    assert Transaction.objects.filter(lms_user_id__in=ids, content_key=demo_data.CLOSED_RUN).count() == 4
    records = ForcedPolicyRedemption.objects.filter(subsidy_access_policy=policy)
    assert records.count() == 4 and all(r.created_by == superuser for r in records)
    assert {row.forced_redemption_id for row in BatchRow.objects.filter(batch=batch, outcome=Outcome.RUN)} == {
        r.pk for r in records
    }


def test_starting_again_or_running_again_charges_no_row_twice(cohort, superuser):
    ids, policy = cohort
    batch = upload(csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]), policy=policy)
    services.start_batch(batch=batch, actor=superuser)
    services.start_batch(batch=batch, actor=superuser)  # finished: nothing to do
    runner.run_batch(batch.pk)
    assert Transaction.objects.filter(lms_user_id__in=ids).count() == 6
    assert ForcedPolicyRedemption.objects.count() == 6


def test_a_row_whose_record_was_made_before_a_crash_takes_that_record(cohort, superuser):
    """The worker died after the row's forced redemption committed and before the row's outcome did."""
    ids, policy = cohort
    batch = upload(
        csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids[:2]]), policy=policy
    )
    row = BatchRow.objects.get(batch=batch, lms_user_id=ids[0])
    from forced_redemptions.services import create_forced_redemption

    create_forced_redemption(
        actor=superuser, record_uuid=row.record_uuid, subsidy_access_policy=policy, lms_user_id=ids[0],
        course_run_key=demo_data.CLOSED_RUN, reason="made by the crashed run",
    )  # fmt: skip
    services.start_batch(batch=batch, actor=superuser)
    row.refresh_from_db()
    assert row.outcome == Outcome.RUN and row.forced_redemption_id == row.record_uuid
    assert Transaction.objects.filter(lms_user_id=ids[0]).count() == 1
    assert Transaction.objects.filter(lms_user_id=ids[1]).count() == 1


def test_the_same_file_uploaded_again_refuses_the_rows_already_redeemed(cohort, superuser):
    ids, policy = cohort
    content = csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids[:3]])
    services.start_batch(batch=upload(content, policy=policy), actor=superuser)
    again = upload(content, policy=policy)
    assert summary(again).refused_by_reason == {"duplicate_forced_redemption": 3}
    services.start_batch(batch=again, actor=superuser)
    assert Transaction.objects.filter(lms_user_id__in=ids).count() == 3


def test_rows_that_fit_alone_but_not_together_are_refused_in_the_preview(demo, superuser):
    ids = link_cohort(4)
    policy = cohort_policy(spend_limit_cents=25_000)
    batch = upload(csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]), policy=policy)
    verdicts = list(BatchRow.objects.filter(batch=batch).order_by("line").values_list("verdict", "check_reason"))
    assert verdicts == [
        ("redeemable", ""), ("redeemable", ""),
        ("refused", "policy_spend_limit_reached"), ("refused", "policy_spend_limit_reached"),
    ]  # fmt: skip
    assert "rows above it already take $200.00" in BatchRow.objects.get(batch=batch, line=4).check_message


def test_cancel_skips_what_is_left_and_a_cancelled_batch_cannot_start(cohort, superuser):
    ids, policy = cohort
    batch = upload(csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]), policy=policy)
    services.cancel_batch(batch=batch, actor=superuser)
    assert set(BatchRow.objects.filter(batch=batch).values_list("outcome", flat=True)) == {Outcome.SKIPPED}
    with pytest.raises(BatchNotStartable):
        services.start_batch(batch=batch, actor=superuser)
    with pytest.raises(BatchNotCancellable):
        services.cancel_batch(batch=batch, actor=superuser)
    assert not Transaction.objects.filter(lms_user_id__in=ids).exists()


def test_a_dry_run_is_checked_and_cannot_start(cohort, superuser):
    ids, policy = cohort
    batch = upload(csv_bytes([{"lms_user_id": ids[0], "course_run_key": demo_data.CLOSED_RUN}]), policy=policy,
                   dry_run=True)  # fmt: skip
    assert batch.state == BatchState.CHECKED and summary(batch).redeemable == 1
    with pytest.raises(BatchNotStartable):
        services.start_batch(batch=batch, actor=superuser)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "The file is empty"),
        (b"lms_user_id,course_run_key\n", "no rows"),
        (b"lms_user_id\n1001\n", "Missing column: course_run_key"),
        (b"learner,course_run_key\n1001,x\n", "Unknown columns: learner"),
        ("lms_user_id,course_run_key\n1001,caf\u00e9\n".encode("latin-1"), "not UTF-8"),
        (b"lms_user_id,course_run_key\n1001,a\n1001,a\n", "Line 3 repeats line 2"),
        (b"lms_user_id,course_run_key\n1001,a,b\n", "Line 2 has 3 cells"),
    ],
)
def test_a_file_error_stores_nothing(demo, content, expected):
    policy = cohort_policy()
    with pytest.raises(BatchFileRejected) as raised:
        upload(content, policy=policy)
    assert expected in " ".join(raised.value.field_errors["file"])
    from forced_batches.models import ForcedRedemptionBatch

    assert not ForcedRedemptionBatch.objects.exists() and not BatchRow.objects.exists()


def test_unreadable_values_refuse_their_row_and_say_which_column(demo):
    policy = cohort_policy()
    rows = [
        {"lms_user_id": "abc", "course_run_key": demo_data.CLOSED_RUN, "geag_date_of_birth": ""},
        {"lms_user_id": "1001", "course_run_key": demo_data.CLOSED_RUN, "geag_date_of_birth": "30/04/1990"},
        {"lms_user_id": "1002", "course_run_key": demo_data.CLOSED_RUN, "content_price_cents": "100.00"},
    ]
    batch = upload(csv_bytes(rows), policy=policy)
    messages = list(BatchRow.objects.filter(batch=batch).order_by("line").values_list("check_reason", "check_message"))
    assert messages[0] == ("invalid_row", "lms_user_id 'abc' is not a learner id (a positive whole number).")
    assert messages[1][0] == "invalid_row" and "geag_date_of_birth '30/04/1990' is not YYYY-MM-DD" in messages[1][1]
    assert messages[2][0] == "invalid_row" and "content_price_cents '100.00' is not whole cents" in messages[2][1]


def test_ten_thousand_and_one_rows_are_refused(demo):
    policy = cohort_policy()
    content = b"lms_user_id,course_run_key\n" + b"".join(
        f"{i},{demo_data.CLOSED_RUN}\n".encode() for i in range(1, 10_002)
    )
    with pytest.raises(BatchFileRejected) as raised:
        upload(content, policy=policy)
    assert "more than 10,000 rows" in raised.value.message


def test_refusals_speak_to_staff_and_say_what_to_do(cohort):
    ids, policy = cohort
    batch = upload(csv_bytes([{"lms_user_id": ids[0], "course_run_key": demo_data.OUTSIDE_RUN}]), policy=policy)
    row = BatchRow.objects.get(batch=batch)
    assert row.check_reason == "content_not_in_catalog"
    assert row.check_message.startswith("Refused: the run's course is not in the policy's catalog. Next step: add")
    assert "You can't" not in row.check_message


def test_a_price_other_than_the_catalogs_needs_its_justification_column(cohort):
    ids, policy = cohort
    rows = [
        {"lms_user_id": ids[0], "course_run_key": demo_data.CLOSED_RUN, "content_price_cents": "5000",
         "price_justification": ""},
        {"lms_user_id": ids[1], "course_run_key": demo_data.CLOSED_RUN, "content_price_cents": "5000",
         "price_justification": "Contract DEMO-7 price, SUP-7001"},
    ]  # fmt: skip
    batch = upload(csv_bytes(rows), policy=policy)
    first, second = BatchRow.objects.filter(batch=batch).order_by("line")
    assert first.verdict == Verdict.REFUSED and "price_justification" in first.check_message
    assert second.verdict == Verdict.REDEEMABLE and second.price_cents == 5000


def test_ten_thousand_rows_are_stored_with_bounded_memory(demo):
    """The file is read as a stream and stored 500 rows at a time: memory does not grow with the file's
    size beyond the rows' identities (kept to find a row given twice)."""
    import io
    import tracemalloc

    policy = cohort_policy()
    content = b"lms_user_id,course_run_key,reason\n" + b"".join(
        f"{i},{demo_data.CLOSED_RUN},SUP-{i} a reason long enough to matter in memory\n".encode()
        for i in range(1, 10_001)
    )
    tracemalloc.start()
    try:
        batch = services.upload_batch(
            file=io.BytesIO(content), file_name="big.csv", actor=None, reason="SUP-1", policy=policy, queue=False
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert batch.total_rows == BatchRow.objects.filter(batch=batch).count() == 10_000
    assert peak < 4 * len(content), f"peak {peak:,} bytes for a {len(content):,}-byte file"


def test_one_check_at_a_time_and_a_stopped_one_is_resumed(cohort, superuser):
    import datetime as dt

    from django.utils import timezone

    from forced_batches.models import ForcedRedemptionBatch

    ids, policy = cohort
    content = csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids])
    batch = upload(content, policy=policy, queue=False)
    # A check is under way elsewhere (its lease is held): a second one leaves the batch alone.
    ForcedRedemptionBatch.objects.filter(pk=batch.pk).update(check_lease_until=timezone.now() + dt.timedelta(minutes=1))
    assert services.check_batch(batch.pk).state == BatchState.CHECKING
    assert not BatchRow.objects.filter(batch=batch).exclude(verdict="unchecked").exists()
    assert services.resume_batches(stalled_after=dt.timedelta(0)) == {"checks": 0, "runs": 0}

    # That check died: its lease lapses, and the periodic resume checks the batch (inline here).
    ForcedRedemptionBatch.objects.filter(pk=batch.pk).update(check_lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert services.resume_batches(stalled_after=dt.timedelta(0)) == {"checks": 1, "runs": 0}
    batch.refresh_from_db()
    assert batch.state == BatchState.CHECKED and batch.check_lease_until is None
    assert summary(batch).redeemable == 6


def test_a_stalled_run_is_resumed_and_charges_each_row_once(cohort, superuser):
    import datetime as dt

    from forced_batches.models import ForcedRedemptionBatch

    ids, policy = cohort
    batch = upload(csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]), policy=policy)
    services.start_batch(batch=batch, actor=superuser, queue=False)  # started; its message was lost
    runner._run_chunk(ForcedRedemptionBatch.objects.get(pk=batch.pk), 2, {})  # and its worker died after 2 rows

    assert services.resume_batches(stalled_after=dt.timedelta(0)) == {"checks": 0, "runs": 1}
    batch.refresh_from_db()
    assert batch.state == BatchState.FINISHED and summary(batch).redeemed == 6
    assert Transaction.objects.filter(lms_user_id__in=ids).count() == 6
    assert services.resume_batches(stalled_after=dt.timedelta(0)) == {"checks": 0, "runs": 0}
