"""A person forcing a redemption in a real browser: Playwright drives Debian's Chromium against a live server.

Skips when Chromium is not installed, unless REQUIRE_BROWSER is set (CI), where a missing browser fails.
Screenshots the confirmation page and the success page every run; with UPDATE_SCREENSHOTS=1 they become
docs/images/forced-redemption-confirm.png and docs/images/forced-redemption.png, the screenshots of
docs/forcing-a-redemption.md (otherwise they go to a temporary directory, so a test run leaves the git tree clean).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connections

from demo import data as demo_data
from forced_redemptions.models import ForcedPolicyRedemption, ForcedState
from fulfillment.models import Enrollment
from subsidies.models import Transaction

CHROMIUM = "/usr/bin/chromium"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SCREENSHOT = IMAGES / "forced-redemption.png"
CONFIRM_SCREENSHOT = IMAGES / "forced-redemption-confirm.png"

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium_page(monkeypatch):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"REQUIRE_BROWSER is set but {CHROMIUM} is missing (apt-get install -y chromium)")
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()
            # With Playwright's loop running, Django keys connections by context, not by thread: the ones
            # the test opened here are not the ones pytest-django closes, so close them while still here.
            connections.close_all()


def screenshot_path(tmp_path: Path, image: Path = SCREENSHOT) -> Path:
    """The docs' screenshot only when asked for (UPDATE_SCREENSHOTS=1): every run would rewrite it otherwise."""
    return image if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / image.name


def screenshot(page, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


def test_staff_force_a_learner_into_a_closed_run_in_the_browser(live_server, demo, superuser, chromium_page, tmp_path):
    from playwright.sync_api import expect

    page = chromium_page
    page.goto(f"{live_server.url}/admin/login/?next=/admin/forced_redemptions/forcedpolicyredemption/add/")
    page.fill("#id_username", superuser.username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    expect(page.locator("#forced-caution")).to_contain_text("Caution: this forces a real redemption")

    # The policy, through the autocomplete widget as a person picks it.
    page.click(".field-subsidy_access_policy .select2-selection")
    page.fill("input.select2-search__field", "spend-capped")
    page.locator("li.select2-results__option", has_text=demo_data.SPEND_POLICY_NAME).click()
    expect(page.locator("#select2-id_subsidy_access_policy-container")).to_contain_text(demo_data.SPEND_POLICY_NAME)
    page.fill("#id_lms_user_id", "1002")
    # An exec-ed run's key opens the exec-ed fieldset by itself (then the person thinks better of it).
    exec_ed_fieldset = page.locator("details:has(#id_learner_first_name)")
    expect(exec_ed_fieldset).not_to_have_attribute("open", "")
    page.fill("#id_course_run_key", demo_data.EXEC_ED_RUN)
    page.press("#id_course_run_key", "Tab")
    expect(exec_ed_fieldset).to_have_attribute("open", "")
    page.fill("#id_course_run_key", demo_data.CLOSED_RUN)
    page.fill("#id_reason", "SUP-4242: the run closed before the learner could enroll")

    page.click("#forced-check-button")
    answer = page.locator("#forced-check-answer")
    expect(answer).to_contain_text("Redeemable")
    expect(answer).to_contain_text("$100.00")
    assert not ForcedPolicyRedemption.objects.exists()  # the check wrote nothing

    # Saving first shows what will happen; nothing is charged yet.
    page.click("input[name=_continue]")
    summary = page.locator("#forced-confirm-summary")
    expect(summary).to_contain_text("Learner2 Demo")  # the learner's name, from the customer's link
    expect(summary).to_contain_text("learner1002@demo-university.example")
    expect(summary).to_contain_text("Closed Course 101")
    expect(page.locator("#forced-confirm-run-status")).to_contain_text("Closed since 2024-02-01 00:00 UTC")
    confirm = page.locator("#forced-confirm-button")
    expect(confirm).to_have_value("Redeem and charge $100.00")
    assert not ForcedPolicyRedemption.objects.exists()  # the confirmation page wrote nothing
    assert not Transaction.objects.filter(lms_user_id=1002).exists()
    screenshot(page, screenshot_path(tmp_path, CONFIRM_SCREENSHOT))

    confirm.click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Redeemed.")
    expect(page.locator(".field-state_label .readonly")).to_have_text("redeemed")
    expect(page.locator(".field-charged .readonly")).to_have_text("$100.00 (10000 cents)")

    record = ForcedPolicyRedemption.objects.get()
    assert record.state == ForcedState.REDEEMED and record.created_by == superuser
    assert Transaction.objects.filter(lms_user_id=1002, content_key=demo_data.CLOSED_RUN).count() == 1
    assert Enrollment.objects.filter(lms_user_id=1002, course_run__key=demo_data.CLOSED_RUN, active=True).count() == 1
    expect(page.locator("ul.messagelist li.success")).to_contain_text(str(record.transaction_uuid))

    screenshot(page, screenshot_path(tmp_path))
