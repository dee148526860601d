"""ADR 0019 through the Django admin, as staff use it (Django test client, real database)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assignments.models import AssignmentState, LearnerContentAssignment
from demo import data as demo_data
from forced_redemptions.models import AttemptOutcome, ForcedPolicyRedemption, ForcedState
from forced_redemptions.tests.helpers import (
    REASON,
    add_url,
    admin_messages,
    assigned_policy,
    change_data,
    change_url,
    changelist_url,
    check_existing_url,
    check_url,
    confirmation_post,
    confirmed,
    footprint,
    force,
    form_data,
    redeem_now,
    spend_policy,
)
from fulfillment.models import Enrollment
from subsidies.models import Transaction

REDEEM_NOW = "redeem_now"


def _writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def _only_record() -> ForcedPolicyRedemption:
    return ForcedPolicyRedemption.objects.get()


# The add page and saving.


def test_add_page_shows_the_caution_banner_and_the_check_button(demo, forcer_client):
    response = forcer_client.get(add_url())

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="forced-caution"' in page and "charges the subsidy" in page and "ticket reference" in page
    assert "Only the <strong>enrollment deadline</strong> is bypassed" in page
    assert 'id="forced-check-button"' in page
    assert "admin-autocomplete" in page  # the policy is chosen with the autocomplete widget


def test_saving_a_forced_redemption_into_a_closed_run_redeems_it_and_says_so(demo, forcer, forcer_client):
    response = confirmed(forcer_client, add_url(), form_data())

    assert response.status_code == 302
    record = _only_record()
    assert record.state == ForcedState.REDEEMED
    [(level, text)] = admin_messages(response)
    assert level == "success"
    assert str(record.transaction_uuid) in text and "$100.00 (10000 cents)" in text
    assert record.created_by == record.modified_by == forcer
    [attempt] = record.attempts.all()
    assert (attempt.outcome, attempt.attempted_by) == (AttemptOutcome.REDEEMED, forcer)
    assert LogEntry.objects.filter(object_id=str(record.pk), action_flag=ADDITION).count() == 1
    assert footprint() == footprint().__class__(1, 0, 1, demo_data.DEPOSIT_CENTS - 10_000)
    assert Enrollment.objects.get(transaction_uuid=record.transaction_uuid).forced


def test_save_and_continue_shows_the_redeemed_record_with_its_attempt(demo, forcer_client):
    response = confirmed(forcer_client, add_url(), form_data(_continue="Save and continue editing") | {"_save": ""})
    record = _only_record()
    assert response["Location"] == change_url(record)

    page = forcer_client.get(response["Location"]).content.decode()

    assert "redeemed" in page and str(record.transaction_uuid) in page
    assert "Redeemed: transaction" in page  # the attempts inline


def test_wait_to_redeem_saves_only_and_says_so(demo, forcer_client):
    before = footprint()

    response = forcer_client.post(add_url(), form_data(wait=True))

    record = _only_record()
    assert record.state == ForcedState.WAITING and not record.attempts.exists()
    [(level, text)] = admin_messages(response)
    assert level == "warning" and text.startswith("Saved, waiting to redeem.")
    assert footprint() == before


def _bogus_backend(settings):
    settings.FULFILLMENT_BACKEND = "fulfillment.backends.NoSuchBackend"


def _already_enrolled(settings):
    from catalog.models import CourseRun

    Enrollment.objects.create(lms_user_id=1002, course_run=CourseRun.objects.get(key=demo_data.CLOSED_RUN))


# Failures a redemption meets after its input passed (money, the downstream, a bug): the attempt is on record.
ADMIN_FAILURES = [
    (
        "insufficient-funds",
        {"price": 2_000_000, "price_justification": "SUP-1: contract"},
        None,
        "not_enough_value_in_subsidy",
    ),
    ("already-enrolled", {}, _already_enrolled, "enrollment_error"),
    ("unexpected-error", {}, _bogus_backend, "unexpected_error"),
]


@pytest.mark.parametrize(
    ("values", "setup", "reason"), [c[1:] for c in ADMIN_FAILURES], ids=[c[0] for c in ADMIN_FAILURES]
)
def test_a_failed_redemption_is_saved_with_its_reason_and_shown_as_an_error(
    demo, settings, forcer_client, values, setup, reason
):
    if setup:
        setup(settings)
    before = footprint()

    response = confirmed(forcer_client, add_url(), form_data(**values))

    assert response.status_code == 302
    record = _only_record()
    assert (record.state, record.error_reason) == (ForcedState.ERRORED, reason)
    assert [a.reason_code for a in record.attempts.all()] == [reason]
    [(level, text)] = admin_messages(response)
    assert level == "error" and f"({reason})" in text and "Next step:" in text
    assert "You can&#x27;t enroll" not in text and "You can't enroll" not in text  # staff are told, not learners
    after = footprint()
    assert (after.live_transactions, after.active_enrollments, after.balance_cents) == (
        before.live_transactions,
        before.active_enrollments,
        before.balance_cents,
    )
    if reason == "unexpected_error":
        page = forcer_client.get(change_url(record)).content.decode()
        assert "Traceback" in page and "NoSuchBackend" in page


def test_a_retired_policy_fails_with_policy_expired(demo, forcer_client):
    policy = spend_policy()
    policy.retired = True
    policy.save()

    confirmed(forcer_client, add_url(), form_data())

    assert _only_record().error_reason == "policy_expired"
    assert footprint().live_transactions == 0


def test_past_the_deadline_of_an_enrollable_run_is_forced_through_the_admin(demo, forcer_client):
    from catalog.models import CourseRun

    CourseRun.objects.filter(key=demo_data.OPEN_RUN).update(
        enroll_by=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), is_enrollable=True
    )

    confirmed(forcer_client, add_url(), form_data(run_key=demo_data.OPEN_RUN))

    assert _only_record().state == ForcedState.REDEEMED
    assert footprint(run_key=demo_data.OPEN_RUN).active_enrollments == 1


def test_exec_ed_data_from_the_collapsed_fieldset_is_sent_to_fulfillment(demo, forcer_client):
    page = forcer_client.get(add_url()).content.decode()
    assert "collapse" in page and "Executive education" in page

    confirmed(
        forcer_client,
        add_url(),
        form_data(
            run_key=demo_data.EXEC_ED_RUN,
            terms_accepted_at=dt.datetime(2026, 1, 31, 12, 0),
            learner_first_name="Grace",
            learner_last_name="Hopper",
            learner_date_of_birth="1990-12-09",
        ),
    )

    record = _only_record()
    assert record.state == ForcedState.REDEEMED
    metadata = Transaction.objects.get(uuid=record.transaction_uuid).metadata
    assert (metadata["geag_first_name"], metadata["geag_terms_accepted_at"]) == ("Grace", "2026-01-31T12:00:00Z")


def test_an_assigned_policy_through_the_admin_allocates_and_accepts(demo, forcer_client, mailoutbox):
    confirmed(forcer_client, add_url(), form_data(policy=assigned_policy()))

    record = _only_record()
    assert record.state == ForcedState.REDEEMED
    assignment = LearnerContentAssignment.objects.get()
    assert (assignment.state, assignment.transaction_uuid) == (AssignmentState.ACCEPTED, record.transaction_uuid)
    assert mailoutbox == []


# Form errors: nothing saved.


def test_a_duplicate_of_a_redeemed_forced_redemption_is_a_form_error(demo, forcer_client):
    existing = force()

    response = forcer_client.post(add_url(), form_data())

    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert any("already force-redeemed" in e and str(existing.uuid) in e for e in errors)
    assert "duplicate_forced_redemption" in str(errors)
    assert ForcedPolicyRedemption.objects.count() == 1
    assert footprint().live_transactions == 1


@pytest.mark.parametrize(
    ("values", "field"),
    [({"reason": "  "}, "reason"), ({"lms_user_id": "0"}, "lms_user_id"), ({"price": "-5"}, "content_price_cents")],
    ids=["blank-reason", "zero-learner", "negative-price"],
)
def test_bad_input_is_a_field_error_and_writes_nothing(demo, forcer_client, values, field):
    response = forcer_client.post(add_url(), form_data(**values))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field]
    assert not ForcedPolicyRedemption.objects.exists()
    assert footprint().live_transactions == 0


def test_a_double_submitted_confirmation_redeems_once(demo, forcer_client):
    page = forcer_client.post(add_url(), form_data())
    data = confirmation_post(page)

    first = forcer_client.post(add_url(), data)
    second = forcer_client.post(add_url(), data)

    assert first.status_code == 302 and second.status_code == 200  # the second is the duplicate form error
    assert "already force-redeemed" in str(second.context["adminform"].form.non_field_errors())
    assert ForcedPolicyRedemption.objects.count() == 1
    assert (footprint().live_transactions, footprint().active_enrollments) == (1, 1)


# The change page.


def test_saving_an_errored_record_after_fixing_it_redeems_it(demo, forcer_client):
    record = force(content_price_cents=2_000_000)
    assert record.state == ForcedState.ERRORED

    response = confirmed(forcer_client, change_url(record), change_data(record, price=""))

    record.refresh_from_db()
    assert record.state == ForcedState.REDEEMED and record.content_price_cents is None
    assert [a.outcome for a in record.attempts.all()] == [AttemptOutcome.ERRORED, AttemptOutcome.REDEEMED]
    assert admin_messages(response)[0][0] == "success"


def test_a_redeemed_record_is_read_only_where_it_is_settled(demo, forcer_client):
    record = force()

    response = forcer_client.get(change_url(record))

    form = response.context["adminform"].form
    assert {"subsidy_access_policy", "lms_user_id", "course_run_key", "content_price_cents"}.isdisjoint(form.fields)
    assert "reason" in form.fields
    assert 'id="forced-check-button"' not in response.content.decode()


def test_resaving_a_redeemed_record_twice_charges_nothing_more(demo, forcer_client):
    record = force()

    for _ in range(2):
        response = forcer_client.post(change_url(record), change_data(record, price=1, reason=REASON + " (edited)"))
        assert response.status_code == 302
        [(level, text)] = admin_messages(response)
        assert level == "info" and text.startswith("Already redeemed.")

    record.refresh_from_db()
    assert record.content_price_cents is None  # a posted settled field is ignored
    assert record.reason.endswith("(edited)")
    assert (footprint().live_transactions, footprint().active_enrollments) == (1, 1)
    assert record.attempts.count() == 1


def test_a_double_submitted_change_form_redeems_once(demo, forcer_client):
    record = force(wait_to_redeem=True)
    data = confirmation_post(forcer_client.post(change_url(record), change_data(record, wait=False)))

    responses = [forcer_client.post(change_url(record), data) for _ in range(2)]

    assert [r.status_code for r in responses] == [302, 302]
    assert (footprint().live_transactions, footprint().active_enrollments) == (1, 1)


# "Redeem now".


def test_redeem_now_redeems_waiting_and_errored_records_and_skips_redeemed_ones(demo, forcer_client):
    waiting = force(wait_to_redeem=True)
    errored = force(lms_user_id=1003, content_price_cents=2_000_000)
    ForcedPolicyRedemption.objects.filter(pk=errored.pk).update(content_price_cents=None)  # fixed since
    redeemed = force(lms_user_id=1004)

    response = redeem_now(forcer_client, [waiting, errored, redeemed])

    assert response.status_code == 302
    shown = admin_messages(response)
    assert shown[0] == ("success", "Redeem now: 2 redeemed, 0 refused, 1 skipped; $200.00 charged.")
    assert [level for level, _ in shown[1:]] == ["success", "success", "info"]  # oldest first
    assert shown[3][1].startswith("Skipped.") and str(redeemed.transaction_uuid) in shown[3][1]
    for record in (waiting, errored, redeemed):
        record.refresh_from_db()
        assert record.state == ForcedState.REDEEMED
    assert redeemed.attempts.count() == 1


def test_redeem_now_twice_gives_one_transaction_and_one_enrollment(demo, forcer_client):
    record = force(wait_to_redeem=True)

    for _ in range(2):
        redeem_now(forcer_client, [record])

    assert (footprint().live_transactions, footprint().active_enrollments) == (1, 1)
    assert record.attempts.count() == 1


def test_redeem_now_reports_a_failure_with_its_reason(demo, forcer_client):
    record = force(lms_user_id=demo_data.UNLINKED_LEARNER, wait_to_redeem=True)

    response = redeem_now(forcer_client, [record])

    [(summary_level, summary), (level, text)] = admin_messages(response)
    assert (summary_level, summary) == ("warning", "Redeem now: 0 redeemed, 1 refused, 0 skipped; $0.00 charged.")
    assert level == "error" and "(learner_not_in_enterprise)" in text
    assert "Next step: link the learner to the customer" in text


# "Check redeemability".


def _counts():
    return (
        ForcedPolicyRedemption.objects.count(),
        Transaction.objects.count(),
        Enrollment.objects.count(),
        LearnerContentAssignment.objects.count(),
        LogEntry.objects.count(),
        ForcedPolicyRedemption.history.count(),
    )


@pytest.mark.parametrize("policy", [spend_policy, assigned_policy], ids=["spend", "assigned"])
def test_check_redeemability_answers_for_unsaved_values_and_writes_nothing(demo, forcer_client, policy):
    before = _counts()

    with CaptureQueriesContext(connection) as queries:
        response = forcer_client.post(check_url(), form_data(policy=policy(), reason=""))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Redeemable" in page and "$100.00" in page and "$10,000.00" in page  # price and subsidy balance
    assert _writes(queries) == []
    assert _counts() == before


def test_check_redeemability_shows_the_reason_it_would_fail(demo, forcer_client):
    response = forcer_client.post(
        check_url(), form_data(lms_user_id=demo_data.UNLINKED_LEARNER), HTTP_X_REQUESTED_WITH="XMLHttpRequest"
    )

    page = response.content.decode()
    assert "<html" not in page  # the fragment the button puts into the page
    assert "Not redeemable" in page and "learner_not_in_enterprise" in page
    assert "not associated with the organization" in page


def test_check_redeemability_lists_what_to_fix_first(demo, forcer_client):
    response = forcer_client.post(check_url(), form_data(lms_user_id="abc"))

    assert "Fix these values first" in response.content.decode()


def test_check_redeemability_on_a_saved_record_uses_the_changed_values_without_saving_them(demo, forcer_client):
    record = force(wait_to_redeem=True, lms_user_id=demo_data.UNLINKED_LEARNER)
    before = _counts()

    with CaptureQueriesContext(connection) as queries:
        response = forcer_client.post(check_existing_url(record), change_data(record, lms_user_id=1002))

    assert "Redeemable" in response.content.decode()
    assert _writes(queries) == [] and _counts() == before
    record.refresh_from_db()
    assert record.lms_user_id == demo_data.UNLINKED_LEARNER


def test_check_redeemability_only_answers_posts(demo, forcer_client):
    assert forcer_client.get(check_url()).status_code == 405


# The list.


def test_the_list_shows_policy_customer_learner_run_price_and_state(demo, forcer_client):
    force()
    force(lms_user_id=demo_data.UNLINKED_LEARNER)
    force(lms_user_id=1003, wait_to_redeem=True)

    page = forcer_client.get(changelist_url()).content.decode()

    for text in (
        demo_data.SPEND_POLICY_NAME,
        "Demo University",
        "1002 · learner1002@demo-university.example",
        demo_data.CLOSED_RUN,
        "$100.00",
        ">redeemed<",
        ">errored<",
        ">waiting<",
    ):
        assert text in page


@pytest.mark.parametrize(
    "term",
    [
        lambda r: str(r.pk),
        lambda r: str(r.subsidy_access_policy_id),
        lambda r: "1003",
        lambda r: "learner1003@demo-university",
        lambda r: "DemoU+Closed101",
    ],
    ids=["uuid", "policy-uuid", "lms-user-id", "learner-email", "run-key"],
)
def test_search_finds_a_record(demo, forcer_client, term):
    wanted = force(lms_user_id=1003, wait_to_redeem=True)
    force(lms_user_id=1004, run_key=demo_data.OPEN_RUN, wait_to_redeem=True)

    response = forcer_client.get(changelist_url(), {"q": term(wanted)})

    found = list(response.context["cl"].result_list)
    assert wanted in found
    if term(wanted) != str(wanted.subsidy_access_policy_id):
        assert found == [wanted]


@pytest.mark.parametrize("state", ["waiting", "redeemed", "errored"])
def test_the_state_filter(demo, forcer_client, state):
    records = {
        "redeemed": force(),
        "errored": force(lms_user_id=demo_data.UNLINKED_LEARNER),
        "waiting": force(lms_user_id=1003, wait_to_redeem=True),
    }

    response = forcer_client.get(changelist_url(), {"state": state})

    assert list(response.context["cl"].result_list) == [records[state]]


def test_the_list_costs_the_same_queries_for_1_and_20_rows(demo, forcer_client):
    force()
    forcer_client.get(changelist_url())  # warm caches (content types, ...)
    with CaptureQueriesContext(connection) as one:
        forcer_client.get(changelist_url())
    for lms_user_id in range(1003, 1006):
        force(lms_user_id=lms_user_id)
    for _ in range(8):
        force(lms_user_id=demo_data.UNLINKED_LEARNER)
        force(lms_user_id=1003, wait_to_redeem=True, run_key=demo_data.OPEN_RUN)

    with CaptureQueriesContext(connection) as twenty:
        response = forcer_client.get(changelist_url())

    assert len(response.context["cl"].result_list) == 20
    assert len(twenty.captured_queries) == len(one.captured_queries)


# Permissions.


def test_staff_with_only_the_view_permission_can_look_but_not_force(demo, viewer_client):
    record = force(wait_to_redeem=True)

    assert viewer_client.get(changelist_url()).status_code == 200
    page = viewer_client.get(change_url(record))
    assert page.status_code == 200
    assert 'id="forced-check-button"' not in page.content.decode() and 'name="_save"' not in page.content.decode()
    assert viewer_client.get(add_url()).status_code == 403
    assert viewer_client.post(add_url(), form_data(lms_user_id=1003)).status_code == 403
    assert viewer_client.post(change_url(record), change_data(record)).status_code == 403
    assert viewer_client.post(check_url(), form_data()).status_code == 200  # checking writes nothing
    history = reverse("admin:forced_redemptions_forcedpolicyredemption_history", args=[record.pk])
    assert viewer_client.get(history).status_code == 200
    listing = viewer_client.get(changelist_url())
    assert REDEEM_NOW not in listing.context["cl"].model_admin.get_actions(listing.wsgi_request)
    viewer_client.post(changelist_url(), {"action": REDEEM_NOW, "_selected_action": [str(record.pk)]})
    record.refresh_from_db()
    assert record.state == ForcedState.WAITING
    assert footprint().live_transactions == 0


def test_staff_without_any_permission_cannot_even_look(demo, client, staff_user):
    client.force_login(staff_user)

    assert client.get(changelist_url()).status_code == 403


def test_staff_with_the_force_permission_can_force(demo, forcer_client):
    assert forcer_client.get(add_url()).status_code == 200
    assert confirmed(forcer_client, add_url(), form_data()).status_code == 302
    assert _only_record().state == ForcedState.REDEEMED


def test_only_a_never_tried_record_can_be_deleted(demo, forcer_client):
    waiting = force(wait_to_redeem=True)
    errored = force(lms_user_id=demo_data.UNLINKED_LEARNER)
    delete = "admin:forced_redemptions_forcedpolicyredemption_delete"
    assert forcer_client.post(reverse(delete, args=[errored.pk]), {"post": "yes"}).status_code == 403
    assert forcer_client.post(reverse(delete, args=[waiting.pk]), {"post": "yes"}).status_code == 302
    assert list(ForcedPolicyRedemption.objects.all()) == [errored]
