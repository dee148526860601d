"""Confirm before money moves, in the admin (Django test client, real database): the add and change forms and
the "Redeem now" action show what will happen, and only their confirm button charges."""

from __future__ import annotations

import pytest

from catalog.models import CourseRun
from customers.models import EnterpriseCustomerUser
from demo import data as demo_data
from forced_redemptions.models import ForcedPolicyRedemption, ForcedState
from forced_redemptions.tests.helpers import (
    PRICE_JUSTIFICATION,
    add_url,
    admin_messages,
    change_data,
    change_url,
    changelist_url,
    confirmation_post,
    footprint,
    force,
    form_data,
    redeem_now,
    refund_in_the_ledger_only,
)
from fulfillment.services import unenroll
from subsidies.models import Transaction


def _nothing_saved_or_charged(before) -> None:
    assert not ForcedPolicyRedemption.objects.exists()
    assert footprint() == before


def test_saving_the_add_form_shows_what_will_happen_and_charges_nothing_yet(demo, forcer_client):
    before = footprint()

    page = forcer_client.post(add_url(), form_data())

    assert page.status_code == 200
    assert page.templates[0].name.endswith("confirm_page.html")
    _nothing_saved_or_charged(before)
    html = page.content.decode()
    for text in (
        "Learner2 Demo",  # the learner's name and email, from the customer's link
        "learner1002@demo-university.example",
        "Closed Course 101",  # the course's title
        "Closed since 2024-02-01 00:00 UTC, its enrollment deadline",
        "marked not enrollable",
        "<strong>$100.00</strong> · catalog price $100.00",
        '$10,000.00 <span class="after">→ $9,900.00 after</span>',  # the subsidy's balance, and after
        '$5,000.00; available $5,000.00 <span class="after">→ $4,900.00 after</span>',  # the policy's spend limit
        'value="Redeem and charge $100.00"',
    ):
        assert text in html, text
    carried = dict(page.context["carried"])
    assert (carried["lms_user_id"], carried["course_run_key"], carried["_save"]) == (
        "1002",
        demo_data.CLOSED_RUN,
        "Save",
    )
    assert "csrfmiddlewaretoken" not in carried


def test_only_the_confirm_button_redeems(demo, forcer_client):
    page = forcer_client.post(add_url(), form_data())

    response = forcer_client.post(add_url(), confirmation_post(page))

    assert response.status_code == 302
    record = ForcedPolicyRedemption.objects.get()
    assert (record.state, record.charged_cents) == (ForcedState.REDEEMED, 10_000)
    assert (footprint().live_transactions, footprint().active_enrollments) == (1, 1)
    assert admin_messages(response)[0][0] == "success"


def test_go_back_shows_the_form_again_with_the_values_and_saves_nothing(demo, forcer_client):
    before = footprint()
    page = forcer_client.post(add_url(), form_data(lms_user_id=1003, reason="SUP-77: typed on the form"))

    back = forcer_client.post(add_url(), confirmation_post(page, "_back"))

    assert back.status_code == 200 and "preview" not in back.context
    form = back.context["adminform"].form
    assert form.is_bound and not form.errors
    assert (form["lms_user_id"].value(), form["reason"].value()) == ("1003", "SUP-77: typed on the form")
    assert "Please correct" not in back.content.decode()
    _nothing_saved_or_charged(before)
    # and saving from there is the same flow again: a confirmation first
    again = forcer_client.post(add_url(), form_data(lms_user_id=1003))
    assert "preview" in again.context


def test_a_confirmation_whose_numbers_changed_meanwhile_is_shown_again_not_charged(demo, forcer_client):
    page = forcer_client.post(add_url(), form_data())
    CourseRun.objects.filter(key=demo_data.CLOSED_RUN).update(price_cents=12_000)  # repriced meanwhile

    stale = forcer_client.post(add_url(), confirmation_post(page))

    assert stale.status_code == 200 and stale.context["changed"]
    assert 'id="forced-confirm-changed"' in stale.content.decode()
    assert 'value="Redeem and charge $120.00"' in stale.content.decode()
    assert not ForcedPolicyRedemption.objects.exists() and footprint().live_transactions == 0
    forcer_client.post(add_url(), confirmation_post(stale))
    assert ForcedPolicyRedemption.objects.get().charged_cents == 12_000


def test_a_replayed_confirmation_charges_once(demo, forcer_client):
    data = confirmation_post(forcer_client.post(add_url(), form_data()))

    responses = [forcer_client.post(add_url(), data) for _ in range(3)]

    assert [r.status_code for r in responses] == [302, 200, 200]
    assert all("already force-redeemed" in str(r.context["adminform"].form.non_field_errors()) for r in responses[1:])
    assert (ForcedPolicyRedemption.objects.count(), footprint().live_transactions) == (1, 1)


def test_saving_with_wait_to_redeem_needs_no_confirmation(demo, forcer_client):
    response = forcer_client.post(add_url(), form_data(wait=True))

    assert response.status_code == 302
    assert ForcedPolicyRedemption.objects.get().state == ForcedState.WAITING


def test_a_change_that_would_redeem_a_waiting_record_is_confirmed_first(demo, forcer_client):
    record = force(wait_to_redeem=True)

    page = forcer_client.post(change_url(record), change_data(record, wait=False))

    assert 'value="Redeem and charge $100.00"' in page.content.decode()
    record.refresh_from_db()
    assert record.state == ForcedState.WAITING and footprint().live_transactions == 0
    forcer_client.post(change_url(record), confirmation_post(page))
    record.refresh_from_db()
    assert record.state == ForcedState.REDEEMED


def test_a_change_of_a_redeemed_records_reason_is_saved_without_confirmation(demo, forcer_client):
    record = force()

    response = forcer_client.post(change_url(record), change_data(record, reason="SUP-4242 (ticket closed)"))

    assert response.status_code == 302
    record.refresh_from_db()
    assert record.reason == "SUP-4242 (ticket closed)" and record.attempts.count() == 1


def test_an_expected_refusal_says_why_and_what_to_do_and_offers_to_try_without_charge(demo, forcer_client):
    page = forcer_client.post(add_url(), form_data(price=2_000_000, price_justification=PRICE_JUSTIFICATION))

    html = page.content.decode()
    assert "This would be refused:" in html and "(not_enough_value_in_subsidy)" in html
    assert "Next step: top up the subsidy" in html
    assert 'value="Try to redeem anyway (expected to be refused; nothing is charged)"' in html
    forcer_client.post(add_url(), confirmation_post(page))
    assert ForcedPolicyRedemption.objects.get().error_reason == "not_enough_value_in_subsidy"
    assert footprint().live_transactions == 0


def test_a_free_redemption_says_so_loudly(demo, forcer_client):
    page = forcer_client.post(add_url(), form_data(price=0, price_justification="SUP-9: waived by the contract"))

    html = page.content.decode()
    assert 'id="forced-confirm-free"' in html and "$0.00: this redemption is free" in html
    assert "$100.00 below the catalog price" in html and "SUP-9: waived by the contract" in html
    assert 'value="Redeem and charge $0.00"' in html


def test_a_price_other_than_the_catalog_price_is_warned_of_with_its_justification(demo, forcer_client):
    page = forcer_client.post(add_url(), form_data(price=5_000, price_justification="SUP-10: partner price"))

    html = page.content.decode()
    assert 'id="forced-confirm-price-differs"' in html and "$50.00 is $50.00 below the catalog price" in html
    assert "SUP-10: partner price" in html and 'id="forced-confirm-free"' not in html


def test_without_a_justification_another_price_is_a_form_error(demo, forcer_client):
    response = forcer_client.post(add_url(), form_data(price=5_000))

    assert "preview" not in response.context
    errors = response.context["adminform"].form.errors["price_justification"]
    assert "differs from the run's catalog price $100.00" in errors[0]
    assert not ForcedPolicyRedemption.objects.exists()


def test_a_learner_unlinked_between_the_page_and_the_confirm_is_a_form_error_and_nothing_is_saved(demo, forcer_client):
    page = forcer_client.post(add_url(), form_data())
    EnterpriseCustomerUser.objects.filter(lms_user_id=1002).update(active=False)

    response = forcer_client.post(add_url(), confirmation_post(page))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "was unlinked from Demo University" in form.errors["lms_user_id"][0]
    assert not ForcedPolicyRedemption.objects.exists() and footprint().live_transactions == 0


# "Redeem now".


def test_redeem_now_first_lists_what_each_record_will_charge_or_why_it_is_skipped(demo, forcer_client):
    waiting = force(wait_to_redeem=True)
    refused = force(lms_user_id=1003, content_price_cents=2_000_000)
    redeemed = force(lms_user_id=1004)
    before = footprint()

    page = redeem_now(forcer_client, [waiting, refused, redeemed], confirm=False)

    assert page.status_code == 200 and footprint() == before
    html = page.content.decode()
    assert 'value="Redeem 1 and charge $100.00"' in html
    plan = {item.record.pk: item.expected for item in page.context["planned"]}
    assert plan[waiting.pk].startswith("Redeems and charges $100.00. Closed since 2024-02-01")
    assert (
        plan[refused.pk].startswith("Tried, and expected to be refused:") and "top up the subsidy" in plan[refused.pk]
    )
    assert plan[redeemed.pk].startswith("Skipped: already redeemed on")
    waiting.refresh_from_db()
    assert waiting.state == ForcedState.WAITING and not waiting.attempts.exists()


def test_redeem_now_confirmed_sums_up_and_says_what_happened_to_each(demo, forcer_client):
    waiting = force(wait_to_redeem=True)
    other = force(lms_user_id=1005, wait_to_redeem=True)
    refused = force(lms_user_id=1003, content_price_cents=2_000_000)
    redeemed = force(lms_user_id=1004)

    response = redeem_now(forcer_client, [waiting, other, refused, redeemed])

    shown = admin_messages(response)
    assert shown[0] == ("warning", "Redeem now: 2 redeemed, 1 refused, 1 skipped; $200.00 charged.")
    assert [level for level, _ in shown[1:]] == ["success", "success", "error", "info"]
    assert "Next step: top up the subsidy" in shown[3][1]


def test_redeem_now_leaves_alone_a_record_whose_outcome_changed_since_the_page(demo, forcer_client):
    record = force(wait_to_redeem=True)
    page = redeem_now(forcer_client, [record], confirm=False)
    [item] = page.context["planned"]
    CourseRun.objects.filter(key=demo_data.CLOSED_RUN).update(price_cents=12_000)

    response = forcer_client.post(
        changelist_url(),
        {
            "action": "redeem_now",
            "post": "yes",
            "_selected_action": [str(record.pk)],
            f"expected_{record.pk}": item.fingerprint,
        },
    )

    shown = admin_messages(response)
    assert shown[0][1] == "Redeem now: 0 redeemed, 0 refused, 1 skipped; $0.00 charged."
    assert shown[1][0] == "warning" and "changed since the page was shown" in shown[1][1] and "$120.00" in shown[1][1]
    record.refresh_from_db()
    assert record.state == ForcedState.WAITING and footprint().live_transactions == 0


@pytest.mark.parametrize("state", ["redeemed", "archived"])
def test_redeem_now_offers_no_charge_for_records_it_would_only_skip(demo, forcer, forcer_client, state):
    from forced_redemptions.services import archive_forced_redemption

    record = force() if state == "redeemed" else force(lms_user_id=demo_data.UNLINKED_LEARNER)
    if state == "archived":
        archive_forced_redemption(record=record, actor=forcer)

    page = redeem_now(forcer_client, [record], confirm=False, query="?archived=all")

    assert 'id="forced-redeem-now-button"' not in page.content.decode()
    assert page.context["planned"][0].expected.startswith("Skipped:")


@pytest.mark.django_db(transaction=True)
def test_the_confirmation_page_after_a_ledger_reversal_settles_and_locks_nothing_until_confirmed(demo, forcer_client):
    # No test transaction around the request here, as in production: a row lock taken while checking the form
    # would fail outside any transaction.
    first = force()
    refund_in_the_ledger_only(Transaction.objects.get(pk=first.transaction_uuid))  # not heard of by the record
    unenroll(transaction_uuid=first.transaction_uuid)

    page = forcer_client.post(add_url(), form_data())

    assert page.status_code == 200 and "preview" in page.context
    first.refresh_from_db()
    assert first.reversed_at is None  # the page wrote nothing; saving settles it
    response = forcer_client.post(add_url(), confirmation_post(page))
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.state == ForcedState.REVERSED
    assert ForcedPolicyRedemption.objects.exclude(pk=first.pk).get().state == ForcedState.REDEEMED


def test_redeem_now_takes_a_bounded_number_of_records_at_a_time(demo, forcer_client, monkeypatch):
    from forced_redemptions.admin import redeem_now as action

    monkeypatch.setattr(action, "MAX_RECORDS", 1)
    records = [force(wait_to_redeem=True), force(lms_user_id=1003, wait_to_redeem=True)]

    response = redeem_now(forcer_client, records, confirm=False)

    assert response.status_code == 302
    [(level, text)] = admin_messages(response)
    assert level == "warning" and "at most 1 records" in text
    assert footprint().live_transactions == 0


def test_the_redeem_now_page_checks_its_records_together(demo, forcer_client):
    """Its page's queries do not grow with the records selected (their checks, runs and links read at once)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from forced_redemptions.tests.helpers import changelist_url, force

    records = [force(lms_user_id=lms_user_id, wait_to_redeem=True) for lms_user_id in (1002, 1003, 1004)]

    def page_queries(selected) -> int:
        with CaptureQueriesContext(connection) as queries:
            page = forcer_client.post(
                changelist_url(), {"action": "redeem_now", "_selected_action": [str(r.pk) for r in selected]}
            )
        assert page.status_code == 200 and "Redeem" in page.content.decode()
        return len(queries)

    assert page_queries(records) == page_queries(records[:1])
