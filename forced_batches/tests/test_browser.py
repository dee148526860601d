"""Staff forcing a file of redemptions in a real browser (Playwright drives Debian's Chromium against a live
server): upload, the preview with a refused row, the confirmation, the progress bar, the results CSV.

Skips without Chromium unless REQUIRE_BROWSER is set (CI). With UPDATE_SCREENSHOTS=1 the screenshots become the
guide's (docs/images/forced-batch-*.png); otherwise they go to a temporary directory.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from demo import data as demo_data
from forced_batches import runner
from forced_batches.models import BatchState, ForcedRedemptionBatch
from forced_batches.tests.helpers import cohort_email, cohort_policy, csv_bytes, link_cohort, upload
from subsidies.models import Transaction

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

pytestmark = pytest.mark.browser


@pytest.fixture
def page(chromium_page):
    return chromium_page


def _screenshot(page, tmp_path: Path, name: str) -> None:
    target = IMAGES / name if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 0


def _log_in(page, live_server, user, next_url: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={next_url}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")


def test_staff_upload_preview_confirm_and_download_the_results(live_server, demo, superuser, page, tmp_path):
    from playwright.sync_api import expect

    ids = link_cohort(5)
    policy = cohort_policy()
    rows = [{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids[:4]]
    rows.append({"email": cohort_email(ids[4]), "course_run_key": demo_data.CLOSED_RUN})
    rows.append({"lms_user_id": ids[0], "course_run_key": demo_data.OUTSIDE_RUN})  # refused: not in the catalog
    file = tmp_path / "spring-cohort.csv"
    file.write_bytes(csv_bytes(rows))

    _log_in(page, live_server, superuser, "/admin/forced_batches/forcedredemptionbatch/")
    page.click("#forced-batch-upload-link")
    expect(page.locator("h1")).to_have_text("Force redemptions from a file")
    page.set_input_files("#id_file", str(file))
    page.select_option("#id_subsidy_access_policy", label=str(policy))
    page.fill("#id_reason", "SUP-7001: the spring cohort missed the closed run")
    page.click("input[name=_upload]")

    expect(page.locator("ul.messagelist li")).to_contain_text(
        "Read 6 rows from spring-cohort.csv and checked them; nothing was charged"
    )
    expect(page.locator("#batch-refused")).to_contain_text("content_not_in_catalog")
    expect(page.locator("#batch-refused-summary")).to_contain_text("1 refused")
    expect(page.locator("#batch-totals")).to_contain_text("$500.00")
    start = page.locator("#batch-start")
    expect(start).to_have_text("Redeem 5 and charge $500.00")
    assert not Transaction.objects.filter(lms_user_id__in=ids).exists()  # the preview charged nothing
    _screenshot(page, tmp_path, "forced-batch-preview.png")

    start.click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text(
        "Finished. 5 redeemed, 1 skipped (refused by the check, not charged); charged $500.00."
    )
    expect(page.locator("#batch-progress")).to_have_attribute("value", "100")
    expect(page.locator('[data-count="redeemed"]')).to_have_text("5")
    _screenshot(page, tmp_path, "forced-batch-finished.png")

    with page.expect_download() as download:
        page.click("#batch-results")
    results = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["outcome"] for r in results] == ["redeemed"] * 5 + ["skipped"]
    for lms_user_id in ids:
        assert Transaction.objects.filter(lms_user_id=lms_user_id, content_key=demo_data.CLOSED_RUN).count() == 1


def test_the_progress_bar_follows_a_batch_running_in_the_background(live_server, demo, superuser, page, tmp_path):
    """The page of a running batch polls its progress and shows the finished batch once the worker is done."""
    from playwright.sync_api import expect

    ids = link_cohort(30)
    policy = cohort_policy()
    batch = upload(csv_bytes([{"lms_user_id": i, "course_run_key": demo_data.CLOSED_RUN} for i in ids]), policy=policy)
    ForcedRedemptionBatch.objects.filter(pk=batch.pk).update(state=BatchState.RUNNING, started_by=superuser)

    _log_in(page, live_server, superuser, f"/admin/forced_batches/forcedredemptionbatch/{batch.pk}/change/")
    expect(page.locator("#batch-state")).to_contain_text("running")
    expect(page.locator("#batch-progress")).to_have_attribute("value", "0")

    runner.run_batch(batch.pk, chunk=5)  # what the worker does; the page is polling meanwhile

    expect(page.locator("#batch-state")).to_contain_text("finished", timeout=20_000)
    expect(page.locator('[data-count="redeemed"]')).to_have_text("30")
    expect(page.locator("#batch-progress")).to_have_attribute("value", "100")
