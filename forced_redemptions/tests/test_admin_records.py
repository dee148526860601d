"""The admin's guards and its record page (Django test client, real database): input no redemption can accept is
a form error, ISO exec-ed dates, the exec-ed fieldset opening by itself, archiving, the links between a record and
what it touched, the banner that matches the record's state, and messages written for staff."""

from __future__ import annotations

import re

import pytest

from assignments.models import LearnerContentAssignment
from demo import data as demo_data
from forced_redemptions.models import ForcedPolicyRedemption, ForcedState
from forced_redemptions.services import archive_forced_redemption, reverse_forced_redemption
from forced_redemptions.tests.helpers import (
    UNKNOWN_LEARNER,
    UNKNOWN_RUN,
    add_url,
    admin_messages,
    assigned_policy,
    change_data,
    change_url,
    changelist_url,
    confirmed,
    footprint,
    force,
    form_data,
    redeem_now,
)
from fulfillment.models import Enrollment

# Input no redemption can accept: a form error on its field, never a saved errored record.

INPUT_FAILURES = [
    ("unlinked-learner", {"lms_user_id": demo_data.UNLINKED_LEARNER}, "lms_user_id", "learner_not_in_enterprise"),
    ("unknown-learner", {"lms_user_id": UNKNOWN_LEARNER}, "lms_user_id", "learner_not_found"),
    ("unknown-run", {"run_key": UNKNOWN_RUN}, "course_run_key", "content_not_found"),
    ("outside-catalog", {"run_key": demo_data.OUTSIDE_RUN}, "course_run_key", "content_not_in_catalog"),
    ("exec-ed-without-data", {"run_key": demo_data.EXEC_ED_RUN}, "learner_date_of_birth", "missing_exec_ed_data"),
]


@pytest.mark.parametrize(
    ("values", "field", "reason"), [c[1:] for c in INPUT_FAILURES], ids=[c[0] for c in INPUT_FAILURES]
)
def test_input_no_redemption_can_accept_is_a_form_error_and_no_record(demo, forcer_client, values, field, reason):
    before = footprint()

    response = forcer_client.post(add_url(), form_data(**values))

    assert response.status_code == 200 and "preview" not in response.context
    form = response.context["adminform"].form
    assert form.errors[field]
    [summary] = form.non_field_errors()
    assert f"({reason})" in summary and "Next step:" in summary
    assert not ForcedPolicyRedemption.objects.exists()
    assert footprint() == before


def test_saving_a_waiting_record_to_redeem_it_with_bad_input_is_a_form_error_and_no_attempt(demo, forcer_client):
    record = force(lms_user_id=demo_data.UNLINKED_LEARNER, wait_to_redeem=True)

    response = forcer_client.post(change_url(record), change_data(record, wait=False))

    assert response.status_code == 200
    assert "was unlinked from Demo University" in response.context["adminform"].form.errors["lms_user_id"][0]
    record.refresh_from_db()
    assert record.state == ForcedState.WAITING and not record.attempts.exists()


def test_a_waiting_record_may_be_saved_before_its_learner_is_linked(demo, forcer_client):
    response = forcer_client.post(add_url(), form_data(lms_user_id=demo_data.UNLINKED_LEARNER, wait=True))

    assert response.status_code == 302
    assert ForcedPolicyRedemption.objects.get().state == ForcedState.WAITING


# Exec-ed dates: ISO only, plausible.


@pytest.mark.parametrize(
    ("values", "field", "problem"),
    [
        ({"learner_date_of_birth": "09/12/1990"}, "learner_date_of_birth", "YYYY-MM-DD"),
        ({"learner_date_of_birth": "2020-01-01"}, "learner_date_of_birth", "under 13"),
        ({"learner_date_of_birth": "1890-01-01"}, "learner_date_of_birth", "120 or older"),
        ({"learner_terms_accepted_at": "31/01/2026 12:00"}, "learner_terms_accepted_at", "ISO 8601"),
        ({"learner_terms_accepted_at": "2026-01-31"}, "learner_terms_accepted_at", "ISO 8601"),
        ({"learner_terms_accepted_at": "2999-01-31T12:00:00Z"}, "learner_terms_accepted_at", "in the future"),
    ],
    ids=["dob-not-iso", "dob-under-13", "dob-120", "terms-not-iso", "terms-date-only", "terms-future"],
)
def test_exec_ed_dates_are_iso_and_plausible(demo, forcer_client, values, field, problem):
    response = forcer_client.post(add_url(), form_data(run_key=demo_data.EXEC_ED_RUN, **values))

    assert problem in " ".join(response.context["adminform"].form.errors[field])
    assert not ForcedPolicyRedemption.objects.exists()


def test_terms_accepted_with_an_offset_are_kept_in_utc(demo, forcer_client):
    confirmed(
        forcer_client,
        add_url(),
        form_data(
            run_key=demo_data.EXEC_ED_RUN,
            learner_date_of_birth="1990-12-09",
            learner_terms_accepted_at="2026-01-31T14:00:00+02:00",
        ),
    )

    record = ForcedPolicyRedemption.objects.get()
    assert record.state == ForcedState.REDEEMED
    assert record.learner_terms_accepted_at.isoformat() == "2026-01-31T12:00:00+00:00"


def _exec_ed_fieldset_collapsed(page: str) -> bool:
    start = page.index("Executive education (only for exec-ed runs)")
    return "<summary>" in page[start - 400 : start]


def test_the_exec_ed_fieldset_opens_by_itself_for_an_exec_ed_run(demo, forcer_client):
    assert _exec_ed_fieldset_collapsed(forcer_client.get(add_url()).content.decode())
    closed_run = force(wait_to_redeem=True)
    assert _exec_ed_fieldset_collapsed(forcer_client.get(change_url(closed_run)).content.decode())
    exec_ed = force(lms_user_id=1003, run_key=demo_data.EXEC_ED_RUN, wait_to_redeem=True)

    assert not _exec_ed_fieldset_collapsed(forcer_client.get(change_url(exec_ed)).content.decode())
    shown_again = forcer_client.post(add_url(), form_data(run_key=demo_data.EXEC_ED_RUN, learner_first_name="Grace"))
    assert not _exec_ed_fieldset_collapsed(shown_again.content.decode())
    # and the page's script asks this, as the run key is typed:
    info = reverse_run_info()
    assert forcer_client.get(info, {"key": demo_data.EXEC_ED_RUN}).json() == {"known": True, "exec_ed": True}
    assert forcer_client.get(info, {"key": demo_data.CLOSED_RUN}).json() == {"known": True, "exec_ed": False}
    assert forcer_client.get(info, {"key": UNKNOWN_RUN}).json() == {"known": False, "exec_ed": False}


def reverse_run_info() -> str:
    from django.urls import reverse

    return reverse("admin:forced_redemptions_forcedpolicyredemption_run_info")


# Archiving.

ARCHIVE = "archive_errored"


def test_archiving_errored_records_that_charged_nothing_hides_them_and_leaves_the_others(demo, forcer_client):
    junk = force(lms_user_id=demo_data.UNLINKED_LEARNER)
    redeemed = force()

    response = forcer_client.post(changelist_url(), {"action": ARCHIVE, "_selected_action": [junk.pk, redeemed.pk]})

    shown = admin_messages(response)
    assert shown[0][0] == "success" and "Archived 1 errored record(s)" in shown[0][1] and str(junk.pk) in shown[0][1]
    assert "Left alone." in shown[1][1] and "it is redeemed" in shown[1][1]
    junk.refresh_from_db()
    assert junk.archived_at is not None and redeemed.archived_at is None
    listed = list(forcer_client.get(changelist_url()).context["cl"].result_list)
    assert listed == [redeemed]
    assert list(forcer_client.get(changelist_url(), {"archived": "yes"}).context["cl"].result_list) == [junk]
    assert len(forcer_client.get(changelist_url(), {"archived": "all"}).context["cl"].result_list) == 2


def test_an_archived_records_page_is_read_only_and_says_so(demo, forcer, forcer_client):
    record = archive_forced_redemption(record=force(lms_user_id=demo_data.UNLINKED_LEARNER), actor=forcer)

    page = forcer_client.get(change_url(record))

    html = page.content.decode()
    assert "<h2>Archived</h2>" in html and 'name="_save"' not in html and "(archived)" in html
    assert forcer_client.post(change_url(record), change_data(record)).status_code == 403


# What the page links to, and how it names it.


def test_a_redeemed_records_page_links_everything_it_touched_by_readable_names(demo, forcer_client):
    record = force(policy=assigned_policy())
    enrollment = Enrollment.objects.get(transaction_uuid=record.transaction_uuid)
    assignment = LearnerContentAssignment.objects.get()

    html = forcer_client.get(change_url(record)).content.decode()

    for url, label in [
        ("/admin/customers/enterprisecustomeruser/", "learner 1002 &lt;learner1002@demo-university.example&gt;"),
        ("/admin/catalog/courserun/", f"Closed Course 101 · {demo_data.CLOSED_RUN}"),
        (f"/admin/policies/subsidyaccesspolicy/{record.subsidy_access_policy_id}/", demo_data.ASSIGNED_POLICY_NAME),
        (f"/admin/subsidies/transaction/{record.transaction_uuid}/", str(record.transaction_uuid)),
        (f"/admin/fulfillment/enrollment/{enrollment.pk}/", f"learner 1002 in {demo_data.CLOSED_RUN}"),
        (f"/admin/assignments/learnercontentassignment/{assignment.pk}/", "learner1002@demo-university.example →"),
    ]:
        assert re.search(rf'<a href="{re.escape(url)}[^"]*">{re.escape(label)}', html), label


def test_messages_link_the_uuids_they_name(demo, forcer_client):
    response = confirmed(forcer_client, add_url(), form_data())

    record = ForcedPolicyRedemption.objects.get()
    [(_, text)] = admin_messages(response)
    assert f'<a href="/admin/subsidies/transaction/{record.transaction_uuid}/change/">' in text


def test_a_failure_message_says_which_rule_refused_and_the_next_step_not_the_learners_words(demo, forcer_client):
    record = force(lms_user_id=1003, wait_to_redeem=True, content_price_cents=600_000)  # the policy's limit: $5,000

    response = redeem_now(forcer_client, [record])

    text = admin_messages(response)[1][1]
    assert "Redemption failed (policy_spend_limit_reached)" in text and "past its spend limit" in text
    assert "Next step: raise the policy&#x27;s spend limit" in text and "You can" not in text


# The banner and the "Wait to redeem" help say what saving does in the record's state.


def _banner(client, record=None) -> str:
    html = client.get(change_url(record) if record else add_url()).content.decode()
    start = html.index('id="forced-caution"')
    return html[start : html.index("</div>", start)]


def _wait_help(client, record) -> str:
    form = client.get(change_url(record)).context["adminform"].form
    return form._meta.help_texts["wait_to_redeem"]


def test_the_banner_and_the_wait_help_match_the_records_state(demo, forcer, forcer_client):
    waiting = force(lms_user_id=1003, wait_to_redeem=True)
    errored = force(lms_user_id=demo_data.UNLINKED_LEARNER)
    redeemed = force(lms_user_id=1004)
    reversed_ = reverse_forced_redemption(record=force(lms_user_id=1005), actor=forcer, reason="SUP-1: wrong run")

    assert "Caution: this forces a real redemption" in _banner(forcer_client)
    assert "charges the subsidy" in _banner(forcer_client, waiting) and "waiting to redeem" in _banner(
        forcer_client, waiting
    )
    assert "Unticked: saving redeems it" in _wait_help(forcer_client, waiting)
    errored_banner = _banner(forcer_client, errored)
    assert "The last attempt failed (learner_not_in_enterprise)" in errored_banner
    assert "Next step: link the learner to the customer" in errored_banner and "tries again" in errored_banner
    assert "Unticked: saving tries again" in _wait_help(forcer_client, errored)
    redeemed_banner = _banner(forcer_client, redeemed)
    assert "Redeemed on" in redeemed_banner and "Reverse (refund and unenroll)" in redeemed_banner
    assert "charges the subsidy" not in redeemed_banner and str(redeemed.transaction_uuid) in redeemed_banner
    assert "undo it with Reverse" in _wait_help(forcer_client, redeemed)
    reversed_banner = _banner(forcer_client, reversed_)
    assert "settled for good" in reversed_banner and "add a new forced redemption" in reversed_banner
    assert "charges the subsidy" not in reversed_banner
