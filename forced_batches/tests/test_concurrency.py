"""Two runners of one batch at once, and a learner redeeming on the same subsidy meanwhile (PostgreSQL: real row
locks, a connection per thread). Every row is charged once, the balance is never overdrawn."""

from __future__ import annotations

import pytest

from conftest import requires_postgres
from demo import data as demo_data
from forced_batches import runner, services
from forced_batches.models import BatchRow, BatchState, ForcedRedemptionBatch, Outcome
from forced_batches.tests.helpers import cohort_policy, csv_bytes, link_cohort, upload
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.tests.test_concurrency import _run_together
from policies.services import redeem
from subsidies.models import Transaction
from subsidies.selectors import balance_cents

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@requires_postgres
def test_two_runners_and_a_learner_at_once_charge_each_row_once(demo, superuser):
    ids = link_cohort(40)
    policy = cohort_policy()
    batch = upload(csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]), policy=policy)
    services.start_batch(batch=batch, actor=superuser, queue=False)
    before = balance_cents(demo_data.SUBSIDY_UUID)

    results = _run_together(
        lambda: runner.run_batch(batch.pk, chunk=3),
        lambda: runner.run_batch(batch.pk, chunk=5),
        lambda: redeem(policy=policy, lms_user_id=demo_data.LINKED_LEARNERS[0], content_key=demo_data.OPEN_RUN),
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert ForcedRedemptionBatch.objects.get(pk=batch.pk).state == BatchState.FINISHED
    assert set(BatchRow.objects.filter(batch=batch).values_list("outcome", flat=True)) == {Outcome.RUN}
    for lms_user_id in ids:
        assert Transaction.objects.filter(lms_user_id=lms_user_id, content_key=demo_data.CLOSED_RUN).count() == 1
    assert ForcedPolicyRedemption.objects.filter(subsidy_access_policy=policy).count() == 40
    open_run = Transaction.objects.get(lms_user_id=demo_data.LINKED_LEARNERS[0], content_key=demo_data.OPEN_RUN)
    assert balance_cents(demo_data.SUBSIDY_UUID) == before - 40 * 10_000 + open_run.quantity
