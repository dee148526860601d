"""Every batch endpoint and its errors, through the real API (token auth, multipart upload), inline."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from demo import data as demo_data
from forced_batches.models import BatchRow, BatchState, ForcedRedemptionBatch
from forced_batches.tests.helpers import BATCHES, batch_url, cohort_email, cohort_policy, csv_bytes, link_cohort
from forced_redemptions.models import ForcedPolicyRedemption
from learner_credit.tests.api_helpers import assert_error, staff_client
from subsidies.models import Transaction

pytestmark = pytest.mark.django_db(transaction=True)

FORCE = "forced_redemptions.force_redeem"
VIEW = "forced_redemptions.view_forcedpolicyredemption"


def _post_file(api, content: bytes, *, name: str = "cohort.csv", **fields):
    body = {"file": SimpleUploadedFile(name, content, content_type="text/csv"), "reason": "SUP-7001", **fields}
    return api.post(BATCHES, body, format="multipart")


def _results(api, batch_uuid) -> list[dict]:
    response = api.get(batch_url(batch_uuid, "results.csv"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_three_hundred_rows_with_a_few_bad_ones_are_previewed_confirmed_and_each_charged_once(demo):
    """The issue's "done when": which rows are refused and why, what the rest cost, then each charged once."""
    ids = link_cohort(297)
    policy = cohort_policy()
    rows = [{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]
    rows[10] = {"email": cohort_email(ids[10]), "course_run_key": demo_data.CLOSED_RUN}  # by email
    rows += [
        {"lms_user_id": demo_data.UNLINKED_LEARNER, "course_run_key": demo_data.CLOSED_RUN},
        {"lms_user_id": ids[0], "course_run_key": demo_data.OUTSIDE_RUN},
        {"email": "stranger@example.com", "course_run_key": demo_data.CLOSED_RUN},
    ]
    api = staff_client(FORCE)
    response = _post_file(api, csv_bytes(rows), subsidy_access_policy=str(policy.pk))

    assert response.status_code == 201, response.content[:500]
    batch = response.json()
    assert batch["state"] == "checked"
    assert batch["counts"] == {
        "total": 300, "checked": 300, "redeemable": 297, "refused": 3,
        "redeemed": 0, "pending": 0, "errored": 0, "skipped": 0,
    }  # fmt: skip
    assert batch["refused_by_reason"] == {
        "learner_not_in_enterprise": 1, "content_not_in_catalog": 1, "learner_email_not_linked": 1,
    }  # fmt: skip
    assert [row["line"] for row in batch["refused_rows"]] == [299, 300, 301]
    assert batch["to_charge_cents"] == 297 * 10_000
    assert batch["policies"][0]["charge_cents"] == 297 * 10_000 and batch["policies"][0]["rows"] == 297
    assert not Transaction.objects.filter(lms_user_id__in=ids).exists()

    response = api.post(batch_url(batch["uuid"], "start/"))
    assert response.status_code == 200
    done = response.json()
    assert done["state"] == "finished"
    assert done["counts"]["redeemed"] == 297 and done["counts"]["skipped"] == 3
    assert done["charged_cents"] == 297 * 10_000

    assert api.post(batch_url(batch["uuid"], "start/")).json()["counts"]["redeemed"] == 297  # again: nothing more
    for lms_user_id in ids:
        assert Transaction.objects.filter(lms_user_id=lms_user_id, content_key=demo_data.CLOSED_RUN).count() == 1
    assert not Transaction.objects.filter(lms_user_id=demo_data.UNLINKED_LEARNER).exists()
    assert not Transaction.objects.filter(content_key=demo_data.OUTSIDE_RUN).exists()
    assert ForcedPolicyRedemption.objects.filter(subsidy_access_policy=policy).count() == 297

    results = _results(api, batch["uuid"])
    assert len(results) == 300
    assert {r["outcome"] for r in results[:297]} == {"redeemed"}
    assert all(r["transaction_uuid"] and r["charged_cents"] == "10000" for r in results[:297])
    assert [(r["outcome"], r["check_reason"]) for r in results[297:]] == [
        ("skipped", "learner_not_in_enterprise"), ("skipped", "content_not_in_catalog"),
        ("skipped", "learner_email_not_linked"),
    ]  # fmt: skip


def test_reading_a_batch_and_its_results_needs_view_and_running_it_needs_force(demo):
    policy = cohort_policy()
    ids = link_cohort(1)
    forcer = staff_client(FORCE)
    uploaded = _post_file(forcer, csv_bytes([{"lms_user_id": ids[0], "course_run_key": demo_data.CLOSED_RUN}]),
                          subsidy_access_policy=str(policy.pk)).json()  # fmt: skip
    viewer = staff_client(VIEW, username="viewer-api")
    assert viewer.get(batch_url(uploaded["uuid"])).status_code == 200
    assert viewer.get(BATCHES).json()["results"][0]["uuid"] == uploaded["uuid"]
    assert len(_results(viewer, uploaded["uuid"])) == 1
    assert_error(viewer.post(batch_url(uploaded["uuid"], "start/")), 403, "permission_denied")
    assert_error(viewer.post(batch_url(uploaded["uuid"], "cancel/")), 403, "permission_denied")
    assert_error(_post_file(viewer, b"lms_user_id,course_run_key\n1,a\n"), 403, "permission_denied")
    nobody = staff_client(username="nobody-api")
    assert_error(nobody.get(batch_url(uploaded["uuid"])), 403, "permission_denied")
    assert not Transaction.objects.filter(lms_user_id=ids[0]).exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("lms_user_id,course_run_key\n1001,Caf\u00e9\n".encode("cp1252"), "not UTF-8"),
        (b"lms_user_id,price\n1001,100\n", "Missing column: course_run_key"),
        (b"course_run_key\ncourse-v1:A+B+C\n", "Missing column: lms_user_id or email"),
    ],
)
def test_a_bad_file_is_a_400_naming_the_problem_and_stores_nothing(demo, content, expected):
    policy = cohort_policy()
    response = _post_file(staff_client(FORCE), content, subsidy_access_policy=str(policy.pk))
    body = assert_error(response, 400, "invalid_file")
    assert any(expected in message for message in body["field_errors"]["file"]), body
    assert not ForcedRedemptionBatch.objects.exists()


def test_ten_thousand_and_one_rows_are_a_400_when_the_limit_is_ten_thousand(demo):
    policy = cohort_policy()
    content = b"lms_user_id,course_run_key\n" + b"".join(
        f"{i},{demo_data.CLOSED_RUN}\n".encode() for i in range(1, 10_002)
    )
    body = assert_error(
        _post_file(staff_client(FORCE), content, subsidy_access_policy=str(policy.pk)), 400, "invalid_file"
    )
    assert "more than 10,000 rows" in body["field_errors"]["file"][0]
    assert not BatchRow.objects.exists()


def test_upload_input_errors_are_400s(demo):
    api = staff_client(FORCE)
    assert_error(api.post(BATCHES, {"reason": "x"}, format="multipart"), 400, "invalid_input", "file")
    body = assert_error(_post_file(api, b"lms_user_id,course_run_key\n1001,a\n", reason=" "), 400)
    assert "reason" in body["field_errors"]
    body = assert_error(_post_file(api, b"lms_user_id,course_run_key\n1001,a\n"), 400, "invalid_file")
    assert "subsidy_access_policy_uuid" in body["field_errors"]["file"][0]
    assert_error(
        _post_file(api, b"x", subsidy_access_policy="not-a-uuid"), 400, "invalid_input", "subsidy_access_policy"
    )


def test_unknown_batches_are_404s(demo):
    api = staff_client(FORCE)
    missing = "0d3f5e2a-0000-4000-8000-00000000dead"
    for response in (
        api.get(batch_url(missing)),
        api.post(batch_url(missing, "start/")),
        api.post(batch_url(missing, "cancel/")),
        api.get(batch_url(missing, "results.csv")),
    ):
        assert_error(response, 404, "not_found")


def test_cancel_then_start_is_a_409_and_charges_nothing(demo):
    policy = cohort_policy()
    ids = link_cohort(3)
    api = staff_client(FORCE)
    content = csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids])
    uploaded = _post_file(api, content, subsidy_access_policy=str(policy.pk)).json()
    cancelled = api.post(batch_url(uploaded["uuid"], "cancel/")).json()
    assert cancelled["state"] == "cancelled" and cancelled["counts"]["skipped"] == 3
    assert_error(api.post(batch_url(uploaded["uuid"], "start/")), 409, "batch_not_startable")
    assert_error(api.post(batch_url(uploaded["uuid"], "cancel/")), 409, "batch_not_cancellable")
    assert not Transaction.objects.filter(lms_user_id__in=ids).exists()


def test_a_restart_runs_only_what_is_left(demo):
    """A batch whose run stopped halfway (its worker died) is started again: the rest runs, nothing twice."""
    policy = cohort_policy()
    ids = link_cohort(4)
    api = staff_client(FORCE)
    content = csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids])
    uploaded = _post_file(api, content, subsidy_access_policy=str(policy.pk)).json()
    batch = ForcedRedemptionBatch.objects.get(pk=uploaded["uuid"])
    # The state a dead worker leaves: the batch running, two rows run, two not.
    ForcedRedemptionBatch.objects.filter(pk=batch.pk).update(state=BatchState.RUNNING, started_by=api.user)
    from forced_batches import runner

    runner._run_chunk(ForcedRedemptionBatch.objects.get(pk=batch.pk), 2, {})
    assert Transaction.objects.filter(lms_user_id__in=ids).count() == 2

    restarted = api.post(batch_url(batch, "start/")).json()
    assert restarted["state"] == "finished" and restarted["counts"]["redeemed"] == 4
    for lms_user_id in ids:
        assert Transaction.objects.filter(lms_user_id=lms_user_id).count() == 1


def test_the_list_reads_its_batches_counts_in_one_query_however_many(demo):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    policy = cohort_policy()
    ids = link_cohort(3)
    api = staff_client(FORCE)
    content = csv_bytes([{"lms_user_id": ids[0], "course_run_key": demo_data.CLOSED_RUN}])
    _post_file(api, content, subsidy_access_policy=str(policy.pk))

    def listed() -> tuple[int, list]:
        with CaptureQueriesContext(connection) as queries:
            body = api.get(BATCHES).json()
        return len(queries), body["results"]

    one, results = listed()
    assert results[0]["counts"]["redeemable"] == 1 and results[0]["to_charge_cents"] == 10_000
    for lms_user_id in ids[1:]:
        _post_file(api, csv_bytes([{"lms_user_id": lms_user_id, "course_run_key": demo_data.CLOSED_RUN}]),
                   subsidy_access_policy=str(policy.pk))  # fmt: skip
    three, results = listed()
    assert len(results) == 3 and three == one
    assert [r["counts"]["total"] for r in results] == [1, 1, 1]
