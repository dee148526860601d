"""Undoing a forced redemption from its own admin page: "Reverse (refund and unenroll)", a confirmation page that
asks why, then the refund, the unenrollment and a message that says so. Django test client, real database."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse

from forced_redemptions.models import AttemptOutcome, ForcedPolicyRedemption, ForcedState
from forced_redemptions.services import reverse_forced_redemption
from forced_redemptions.tests.helpers import (
    add_url,
    admin_messages,
    change_url,
    changelist_url,
    confirmed,
    footprint,
    force,
    form_data,
    redeem_now,
    refund_in_the_ledger_only,
    reverse_page_url,
)
from subsidies.models import Reversal, Transaction

TICKET = "SUP-4243: forced into the wrong run"
LINK = 'id="forced-reverse-link"'


def test_a_redeemed_record_offers_the_reverse_button_and_others_do_not(demo, forcer_client):
    redeemed = force()
    waiting = force(lms_user_id=1003, wait_to_redeem=True)

    page = forcer_client.get(change_url(redeemed)).content.decode()

    assert LINK in page and reverse_page_url(redeemed) in page
    assert LINK not in forcer_client.get(change_url(waiting)).content.decode()


def test_the_confirmation_page_shows_what_will_be_refunded_and_writes_nothing(demo, forcer_client):
    record = force()

    page = forcer_client.get(reverse_page_url(record))

    assert page.status_code == 200
    text = page.content.decode()
    assert str(record.transaction_uuid) in text and "$100.00 (10000 cents)" in text
    assert 'name="reason"' in text and "unenrolls the learner" in text
    assert not Reversal.objects.exists() and footprint().active_enrollments == 1


def test_reversing_without_a_reason_asks_for_one_and_reverses_nothing(demo, forcer_client):
    record = force()

    response = forcer_client.post(reverse_page_url(record), {"reason": "  "})

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    record.refresh_from_db()
    assert record.state == ForcedState.REDEEMED and not Reversal.objects.exists()


def test_reversing_refunds_unenrolls_and_says_so(demo, forcer, forcer_client):
    record = force()
    before = footprint()

    response = forcer_client.post(reverse_page_url(record), {"reason": TICKET})

    assert response.status_code == 302 and response.url == change_url(record)
    [(level, text)] = admin_messages(response)
    assert level == "success" and text.startswith("Reversed.")
    assert "$100.00 (10000 cents)" in text and str(record.transaction_uuid) in text and "unenrolled" in text
    record.refresh_from_db()
    assert record.state == ForcedState.REVERSED and record.modified_by == forcer
    attempt = record.attempts.last()
    assert (attempt.outcome, attempt.attempted_by) == (AttemptOutcome.REVERSED, forcer) and TICKET in attempt.message
    after = footprint()
    assert (after.balance_cents, after.active_enrollments) == (before.balance_cents + 10_000, 0)
    assert LogEntry.objects.filter(object_id=str(record.pk), action_flag=CHANGE).count() == 1

    page = forcer_client.get(change_url(record)).content.decode()
    assert ">reversed<" in page and LINK not in page
    assert "field-reversed_at" in page


def test_reversing_twice_or_a_record_never_redeemed_is_refused_with_its_reason(demo, forcer_client):
    record = force()
    waiting = force(lms_user_id=1003, wait_to_redeem=True)
    forcer_client.post(reverse_page_url(record), {"reason": TICKET})

    again = forcer_client.post(reverse_page_url(record), {"reason": TICKET})
    never = forcer_client.post(reverse_page_url(waiting), {"reason": TICKET})

    [(level, text)] = admin_messages(again)
    assert level == "error" and text.startswith("Not reversed:") and "(forced_redemption_reversed)" in text
    [(level, text)] = admin_messages(never)
    assert level == "error" and "(forced_redemption_not_redeemed)" in text
    assert Reversal.objects.count() == 1


def test_after_reversing_the_same_learner_run_and_policy_can_be_forced_again_in_the_admin(demo, forcer_client):
    first = force()
    refused = forcer_client.post(add_url(), form_data())
    assert refused.status_code == 200 and "duplicate_forced_redemption" in str(refused.context["adminform"].form.errors)

    forcer_client.post(reverse_page_url(first), {"reason": TICKET})
    response = confirmed(forcer_client, add_url(), form_data())

    assert response.status_code == 302
    second = ForcedPolicyRedemption.objects.exclude(pk=first.pk).get()
    assert second.state == ForcedState.REDEEMED and second.transaction_uuid != first.transaction_uuid
    assert (footprint().live_transactions, footprint().active_enrollments) == (2, 1)


def test_after_the_transaction_admins_reverse_action_the_same_can_be_forced_again(demo, admin_client):
    first = force()
    admin_client.post(
        reverse("admin:subsidies_transaction_changelist"),
        {
            "action": "reverse_redemptions",
            "_selected_action": [str(first.transaction_uuid)],
            "confirm": "yes",
            "reason": "Refunded from the ledger",
        },
    )
    assert Reversal.objects.filter(transaction_id=first.transaction_uuid).exists()

    response = confirmed(admin_client, add_url(), form_data())

    assert response.status_code == 302, response.context["adminform"].form.errors
    first.refresh_from_db()
    assert first.state == ForcedState.REVERSED
    assert first.attempts.last().message.startswith("Reversed in the ledger")
    second = ForcedPolicyRedemption.objects.exclude(pk=first.pk).get()
    assert second.state == ForcedState.REDEEMED and second.transaction_uuid != first.transaction_uuid


def test_reversing_from_the_page_after_a_ledger_reversal_notes_it_and_refunds_nothing_more(demo, admin_client):
    record = force()
    refund_in_the_ledger_only(Transaction.objects.get(pk=record.transaction_uuid))
    balance = footprint().balance_cents

    response = admin_client.post(reverse_page_url(record), {"reason": TICKET})

    [(level, text)] = admin_messages(response)
    assert level == "info" and text.startswith("Already reversed in the ledger")
    assert footprint().balance_cents == balance


@pytest.mark.parametrize("state", ["redeemed", "reversed"])
def test_the_state_filter_tells_reversed_from_redeemed(demo, forcer_client, state):
    reversed_ = reverse_forced_redemption(record=force(), actor=None, reason=TICKET)
    records = {"reversed": reversed_, "redeemed": force(lms_user_id=1003)}

    response = forcer_client.get(changelist_url(), {"state": state})

    assert list(response.context["cl"].result_list) == [records[state]]
    page = response.content.decode()
    assert f">{state}<" in page and "reversed_at" in page


def test_redeem_now_skips_a_reversed_record_and_says_it_was_reversed(demo, forcer_client):
    record = reverse_forced_redemption(record=force(), actor=None, reason=TICKET)

    response = redeem_now(forcer_client, [record])

    [summary, (level, text)] = admin_messages(response)
    assert summary == ("info", "Redeem now: 0 redeemed, 0 refused, 1 skipped; $0.00 charged.")
    assert level == "info" and text.startswith("Skipped.") and "reversed on" in text
    assert footprint().active_enrollments == 0 and footprint().live_transactions == 1


def test_only_staff_who_may_force_can_reverse(demo, viewer_client, client, staff_user):
    record = force()

    page = viewer_client.get(change_url(record)).content.decode()
    assert LINK not in page
    assert viewer_client.get(reverse_page_url(record)).status_code == 403
    assert viewer_client.post(reverse_page_url(record), {"reason": TICKET}).status_code == 403
    client.force_login(staff_user)
    assert client.post(reverse_page_url(record), {"reason": TICKET}).status_code == 403
    record.refresh_from_db()
    assert record.state == ForcedState.REDEEMED and not Reversal.objects.exists()
    assert footprint().active_enrollments == 1
