"""A member of the "Forced redemption operators" group (a migration makes it; this module's tests run in a
transaction so the group is there) finds the upload from the forced-redemption list and runs a batch."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from demo import data as demo_data
from forced_batches.models import BatchState, ForcedRedemptionBatch
from forced_batches.tests.helpers import cohort_policy, csv_bytes, link_cohort
from subsidies.models import Transaction

pytestmark = pytest.mark.django_db

UPLOAD = "/admin/forced_batches/forcedredemptionbatch/add/"


def test_an_operator_finds_the_upload_and_runs_a_batch(
    demo, client, django_user_model, django_capture_on_commit_callbacks
):
    operator = django_user_model.objects.create_user("operator", "operator@example.com", "pw", is_staff=True)
    operator.groups.add(Group.objects.get(name="Forced redemption operators"))
    client.force_login(operator)
    listing = client.get(reverse("admin:forced_redemptions_forcedpolicyredemption_changelist")).content.decode()
    assert f'href="{UPLOAD}" id="forced-from-file-link"' in listing

    ids = link_cohort(1)
    policy = cohort_policy()
    content = csv_bytes([{"lms_user_id": ids[0], "course_run_key": demo_data.CLOSED_RUN}])
    with django_capture_on_commit_callbacks(execute=True):  # the check, queued on commit (inline here)
        response = client.post(
            UPLOAD,
            {"file": SimpleUploadedFile("a.csv", content), "reason": "SUP-1", "subsidy_access_policy": policy.pk},
        )
    assert response.status_code == 302
    batch = ForcedRedemptionBatch.objects.get()
    assert batch.state == BatchState.CHECKED
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:forced_batches_forcedredemptionbatch_start", args=[batch.pk]))
    assert Transaction.objects.filter(lms_user_id=ids[0]).count() == 1
