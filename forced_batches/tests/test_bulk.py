"""The batch's bulk step (forced_redemptions.services.bulk over policies.services.bulk) writes what the single
unit writes, row for row, and hands every unusual row to the single unit."""

from __future__ import annotations

import pytest

from demo import data as demo_data
from forced_batches import runner, services
from forced_batches.models import BatchRow
from forced_batches.selectors import row_outcome, summary
from forced_batches.tests.helpers import cohort_policy, csv_bytes, link_cohort, upload
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.services import create_forced_redemption
from fulfillment.models import Enrollment
from policies.services import save_policy
from subsidies.models import Transaction, TransactionState
from subsidies.selectors import balance_cents

pytestmark = pytest.mark.django_db(transaction=True)


def _run(rows, policy, actor):
    batch = upload(csv_bytes(rows), policy=policy)
    services.start_batch(batch=batch, actor=actor, queue=False)
    return runner.run_batch(batch.pk)


def _footprint(record: ForcedPolicyRedemption) -> dict:
    entry = Transaction.objects.get(pk=record.transaction_uuid)
    enrollment = Enrollment.objects.get(transaction_uuid=entry.uuid)
    attempt = record.attempts.get()
    return {
        "state": record.state,
        "charged": record.charged_cents,
        "created_by": record.created_by_id,
        "history": list(record.history.values_list("history_type", flat=True)),
        "attempt": (
            attempt.outcome,
            attempt.attempted_by_id,
            attempt.charged_cents,
            attempt.transaction_uuid == entry.uuid,
        ),
        "attempt_message": attempt.message.replace(str(entry.uuid), "T"),
        "entry": (
            entry.state,
            entry.quantity,
            entry.fulfillment_identifier == str(enrollment.pk),
            entry.lms_user_email == f"cohort{record.lms_user_id}@demo-university.example",
        ),
        "metadata": sorted(entry.metadata),
        "forced_uuid": entry.metadata["forced_redemption_uuid"] == str(record.pk),
        "enrollment": (enrollment.active, enrollment.forced),
    }


def test_a_batch_row_is_written_as_a_single_forced_redemption_is(demo, superuser):
    ids = link_cohort(2)
    policy = cohort_policy()
    single = create_forced_redemption(
        actor=superuser, subsidy_access_policy=policy, lms_user_id=ids[0], course_run_key=demo_data.CLOSED_RUN,
        reason="SUP-7001: the spring cohort missed the closed run",
    )  # fmt: skip
    batch = _run([{"lms_user_id": ids[1], "course_run_key": demo_data.CLOSED_RUN}], policy, superuser)
    row = BatchRow.objects.get(batch=batch)
    assert _footprint(row.forced_redemption) == _footprint(single)


def test_rows_the_bulk_step_cannot_take_run_one_by_one_and_say_why(demo, superuser):
    """A learner twice, an exec-ed run without the provider's data, a learner enrolled meanwhile and a balance
    spent meanwhile: each row still gets its own record (or its skip), nothing is charged for a failure."""
    ids = link_cohort(5)
    policy = cohort_policy(spend_limit_cents=4_000_000)
    rows = [
        {"lms_user_id": ids[0], "course_run_key": demo_data.CLOSED_RUN},
        {"lms_user_id": ids[0], "course_run_key": demo_data.OPEN_RUN},  # the same learner again
        {"lms_user_id": ids[1], "course_run_key": demo_data.CLOSED_RUN},
        {"lms_user_id": ids[2], "course_run_key": demo_data.CLOSED_RUN},
        {"lms_user_id": ids[3], "course_run_key": demo_data.CLOSED_RUN},
    ]
    batch = upload(csv_bytes(rows), policy=policy)
    assert summary(batch).redeemable == 5
    # After the check and before the run: learner 2 enrolls in the run by another path.
    from catalog.models import CourseRun

    Enrollment.objects.create(lms_user_id=ids[1], course_run=CourseRun.objects.get(key=demo_data.CLOSED_RUN))
    services.start_batch(batch=batch, actor=superuser, queue=False)
    batch = runner.run_batch(batch.pk)

    outcomes = {row.line: (row_outcome(row), row.forced_redemption) for row in BatchRow.objects.filter(batch=batch)}
    assert [outcomes[line][0] for line in (2, 3, 5, 6)] == ["redeemed", "redeemed", "redeemed", "redeemed"]
    assert outcomes[4][0] == "errored" and outcomes[4][1].error_reason == "enrollment_error"
    assert not Transaction.objects.filter(lms_user_id=ids[1], state=TransactionState.COMMITTED).exists()
    assert Transaction.objects.filter(lms_user_id=ids[0], state=TransactionState.COMMITTED).count() == 2


def test_a_spend_limit_lowered_between_the_check_and_the_run_errors_the_rows_it_no_longer_covers(demo, superuser):
    ids = link_cohort(4)
    policy = cohort_policy()
    batch = upload(csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]), policy=policy)
    assert summary(batch).redeemable == 4
    policy.spend_limit_cents = 25_000  # $250.00: two rows fit, the other two no longer do
    save_policy(policy)
    before = balance_cents(demo_data.SUBSIDY_UUID)

    services.start_batch(batch=batch, actor=superuser, queue=False)
    batch = runner.run_batch(batch.pk)

    numbers = summary(batch)
    assert (numbers.redeemed, numbers.errored, numbers.charged_cents) == (2, 2, 20_000)
    errored = ForcedPolicyRedemption.objects.filter(subsidy_access_policy=policy, errored_at__isnull=False)
    assert set(errored.values_list("error_reason", flat=True)) == {"policy_spend_limit_reached"}
    assert all(record.attempts.get().outcome == "errored" for record in errored)
    assert balance_cents(demo_data.SUBSIDY_UUID) == before - 20_000


def test_the_preview_of_many_says_what_check_redeemability_says_of_each(demo, superuser):
    """check_forced_many against check_forced, record by record, over the cases a file brings."""
    from catalog.models import CourseRun
    from forced_redemptions.bulk_selectors import check_forced_many
    from forced_redemptions.selectors import check_forced

    ids = link_cohort(4)
    policy = cohort_policy()
    create_forced_redemption(
        actor=superuser, subsidy_access_policy=policy, lms_user_id=ids[1], course_run_key=demo_data.CLOSED_RUN,
        reason="standing",
    )  # fmt: skip
    cases = [
        (ids[0], demo_data.CLOSED_RUN, None),  # plain, redeemable
        (ids[1], demo_data.CLOSED_RUN, None),  # already force-redeemed
        (ids[2], demo_data.OUTSIDE_RUN, None),  # not in the catalog
        (ids[2], demo_data.EXEC_ED_RUN, None),  # exec-ed without the provider's data
        (demo_data.UNLINKED_LEARNER, demo_data.CLOSED_RUN, None),  # unlinked
        (999_999, demo_data.CLOSED_RUN, None),  # unknown learner
        (ids[3], "course-v1:Nope+Nope+Nope", None),  # unknown run
        (ids[3], demo_data.OPEN_RUN, 0),  # a $0 price
    ]
    records = [
        ForcedPolicyRedemption(
            subsidy_access_policy=policy, lms_user_id=lms_user_id, course_run_key=key, content_price_cents=price,
            reason="SUP-1", price_justification="contract" if price is not None else "",
        )
        for lms_user_id, key, price in cases
    ]  # fmt: skip
    assert check_forced_many(records) == [check_forced(record) for record in records]

    Enrollment.objects.create(lms_user_id=ids[0], course_run=CourseRun.objects.get(key=demo_data.CLOSED_RUN))
    [enrolled] = check_forced_many(records[:1])
    assert (enrolled.can_redeem, enrolled.reason) == (False, "already_enrolled")
