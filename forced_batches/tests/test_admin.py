"""The batch admin through Django's test client: upload, preview, confirm, progress, results, cancel."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from demo import data as demo_data
from forced_batches.models import BatchState, ForcedRedemptionBatch
from forced_batches.tests.helpers import cohort_policy, csv_bytes, link_cohort, upload
from subsidies.models import Transaction

pytestmark = pytest.mark.django_db(transaction=True)

UPLOAD = "/admin/forced_batches/forcedredemptionbatch/add/"


def _page(batch, action: str = "change") -> str:
    return reverse(f"admin:forced_batches_forcedredemptionbatch_{action}", args=[batch.pk])


def _upload(client, content: bytes, policy, **fields):
    data = {"file": SimpleUploadedFile("cohort.csv", content), "reason": "SUP-7001", "subsidy_access_policy": policy.pk}
    return client.post(UPLOAD, data | fields)


def test_upload_preview_confirm_and_results(demo, forcer_client):
    ids = link_cohort(3)
    policy = cohort_policy()
    rows = [{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]
    rows.append({"lms_user_id": ids[0], "course_run_key": demo_data.OUTSIDE_RUN})
    response = _upload(forcer_client, csv_bytes(rows), policy)
    batch = ForcedRedemptionBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == _page(batch)

    page = forcer_client.get(_page(batch)).content.decode()
    assert "Redeem 3 and charge $300.00" in page
    assert "content_not_in_catalog" in page and "1 refused" in page
    assert not Transaction.objects.filter(lms_user_id__in=ids).exists()

    assert forcer_client.get(_page(batch, "start")).status_code == 405  # only the confirm button's POST
    response = forcer_client.post(_page(batch, "start"), follow=True)
    text = response.content.decode()
    assert "Finished. 3 redeemed, 1 skipped (refused by the check, not charged); charged $300.00." in text
    assert Transaction.objects.filter(lms_user_id__in=ids, content_key=demo_data.CLOSED_RUN).count() == 3
    assert "Redeem 3 and charge" not in text  # a finished batch has no confirm button

    progress = forcer_client.get(_page(batch, "progress")).json()
    assert progress["state"] == "finished" and progress["counts"]["redeemed"] == 3 and progress["percent_done"] == 100
    results = b"".join(forcer_client.get(_page(batch, "results")).streaming_content).decode().splitlines()
    assert results[0].startswith("line,lms_user_id,email") and len(results) == 5


def test_a_bad_file_is_a_form_error_and_stores_nothing(demo, forcer_client):
    policy = cohort_policy()
    response = _upload(forcer_client, b"learner,course_run_key\n1,a\n", policy)
    assert response.status_code == 200
    assert "Unknown columns: learner" in response.content.decode()
    assert not ForcedRedemptionBatch.objects.exists()


def test_viewers_see_batches_but_cannot_upload_start_or_cancel(demo, forcer, viewer_client):
    ids = link_cohort(1)
    policy = cohort_policy()
    batch = upload(csv_bytes([{"lms_user_id": ids[0], "course_run_key": demo_data.CLOSED_RUN}]), policy=policy,
                   actor=forcer)  # fmt: skip
    page = viewer_client.get(_page(batch))
    assert page.status_code == 200 and "Redeem 1 and charge" not in page.content.decode()
    response = viewer_client.get(UPLOAD)
    assert response.status_code == 403 and "forced_redemptions.force_redeem" in response.content.decode()
    assert viewer_client.post(_page(batch, "start")).status_code == 403
    assert viewer_client.post(_page(batch, "cancel")).status_code == 403
    assert ForcedRedemptionBatch.objects.get().state == BatchState.CHECKED
    assert not Transaction.objects.filter(lms_user_id=ids[0]).exists()


def test_cancel_from_the_page(demo, forcer_client):
    ids = link_cohort(2)
    policy = cohort_policy()
    _upload(forcer_client, csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]), policy)
    batch = ForcedRedemptionBatch.objects.get()
    text = forcer_client.post(_page(batch, "cancel"), follow=True).content.decode()
    assert "Cancelled. 0 redeemed before it stopped; 2 skipped, not charged." in text
    assert "Not started" in forcer_client.post(_page(batch, "start"), follow=True).content.decode()
    assert not Transaction.objects.filter(lms_user_id__in=ids).exists()


def test_the_list_and_the_rows_pages(demo, forcer_client):
    ids = link_cohort(1)
    policy = cohort_policy()
    _upload(forcer_client, csv_bytes([{"lms_user_id": ids[0], "course_run_key": demo_data.CLOSED_RUN}]), policy)
    batch = ForcedRedemptionBatch.objects.get()
    forcer_client.post(_page(batch, "start"))
    listing = forcer_client.get(reverse("admin:forced_batches_forcedredemptionbatch_changelist")).content.decode()
    assert "cohort.csv" in listing and "finished" in listing
    rows = forcer_client.get(reverse("admin:forced_batches_batchrow_changelist") + f"?batch__uuid__exact={batch.pk}")
    text = rows.content.decode()
    assert rows.status_code == 200 and "/admin/forced_redemptions/forcedpolicyredemption/" in text


def test_a_check_that_stopped_is_resumed_from_the_page(demo, forcer_client):
    ids = link_cohort(2)
    policy = cohort_policy()
    batch = upload(csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]), policy=policy,
                   queue=False)  # fmt: skip
    page = forcer_client.get(_page(batch)).content.decode()
    assert "Check the rows that are left" in page and "Redeem 2 and charge" not in page
    forcer_client.post(_page(batch, "check"))
    batch.refresh_from_db()
    assert batch.state == BatchState.CHECKED
    assert "Redeem 2 and charge $200.00" in forcer_client.get(_page(batch)).content.decode()
