"""Allocating content to learners under an assigned policy, and redeeming what was allocated."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from assignments.models import ActionType, AssignmentState, LearnerContentAssignment, LearnerContentAssignmentAction
from policies import reasons
from policies.errors import PolicyInvalid, RedemptionRefused
from policies.models import PolicyType
from policies.redeemability import can_redeem
from policies.services import allocate, redeem, save_policy, soft_delete_policy
from subsidies.selectors import balance_cents
from testing.factories import CourseRunFactory, make_assignment, make_scenario

pytestmark = pytest.mark.django_db


def _assigned(**kwargs):
    kwargs.setdefault("spend_limit_cents", 100_000)
    return make_scenario(policy_type=PolicyType.ASSIGNED, **kwargs)


def _allocate(s, emails, price=10_000, content_key=None):
    return allocate(
        policy=s.policy, learner_emails=emails, content_key=content_key or s.run.key, content_price_cents=price
    )


def _emails(n):
    return [f"hire{i}@example.com" for i in range(n)]


def _written():
    return (
        list(LearnerContentAssignment.objects.order_by("uuid").values_list("uuid", "state", "content_quantity")),
        LearnerContentAssignmentAction.objects.count(),
    )


def test_allocation_creates_then_reports_no_change_then_updates_a_new_price():
    s = _assigned()

    created = _allocate(s, [s.learner.email, "New.Hire@Example.com"])
    assert [len(created[k]) for k in ("created", "updated", "no_change")] == [2, 0, 0]
    linked = LearnerContentAssignment.objects.get(learner_email=s.learner.email)
    assert linked.lms_user_id == s.learner.lms_user_id and linked.state == AssignmentState.ALLOCATED
    assert linked.content_quantity == -10_000 and linked.content_title == s.run.course.title
    assert LearnerContentAssignment.objects.get(learner_email="new.hire@example.com").lms_user_id is None

    again = _allocate(s, [s.learner.email, "new.hire@example.com"])
    assert [len(again[k]) for k in ("created", "updated", "no_change")] == [0, 0, 2]

    repriced = _allocate(s, [s.learner.email], price=12_000)
    assert [len(repriced[k]) for k in ("created", "updated", "no_change")] == [0, 1, 0]
    linked.refresh_from_db()
    assert linked.content_quantity == -12_000
    assert list(linked.actions.values_list("action_type", flat=True)) == [ActionType.ALLOCATED, ActionType.ALLOCATED]


def test_a_cancelled_assignment_is_allocated_again_as_an_update():
    s = _assigned()
    make_assignment(policy=s.policy, learner=s.learner, run=s.run, state=AssignmentState.CANCELLED)

    outcome = _allocate(s, [s.learner.email])

    assert len(outcome["updated"]) == 1
    assert LearnerContentAssignment.objects.get().state == AssignmentState.ALLOCATED


def test_allocation_beyond_the_subsidy_balance_counting_existing_allocations_is_refused_with_nothing_written():
    s = _assigned(deposit_cents=30_000, spend_limit_cents=30_000)
    _allocate(s, _emails(2))  # 20_000 of 30_000 allocated
    before = _written()

    with pytest.raises(RedemptionRefused) as refused:
        _allocate(s, _emails(4))  # 2 already allocated + 2 more: 40_000

    assert refused.value.reason == reasons.NOT_ENOUGH_VALUE_IN_SUBSIDY
    assert _written() == before
    assert len(_allocate(s, _emails(3))["created"]) == 1  # exactly what fits


def test_allocation_beyond_the_spend_limit_counting_allocations_and_spend_is_refused_with_nothing_written():
    s = _assigned(spend_limit_cents=30_000)
    _allocate(s, [s.learner.email])
    redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)  # 10_000 spent
    _allocate(s, _emails(1))  # 10_000 allocated
    before = _written()

    with pytest.raises(RedemptionRefused) as refused:
        _allocate(s, _emails(3))

    assert refused.value.reason == reasons.POLICY_SPEND_LIMIT_REACHED
    assert _written() == before
    assert balance_cents(s.subsidy) == 1_000_000 - 10_000


def test_raising_the_price_of_an_allocation_counts_only_the_difference():
    s = _assigned(spend_limit_cents=25_000)
    _allocate(s, _emails(2))  # 20_000

    assert len(_allocate(s, _emails(1), price=15_000)["updated"]) == 1  # +5_000: exactly 25_000
    with pytest.raises(RedemptionRefused):
        _allocate(s, _emails(2), price=15_000)  # +5_000 more: 30_000


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"learner_emails": []}, "learner_emails"),
        ({"learner_emails": ["", "  "]}, "learner_emails"),
        ({"content_price_cents": -1}, "content_price_cents"),
        ({"content_price_cents": 10.5}, "content_price_cents"),
        ({"content_price_cents": True}, "content_price_cents"),
        ({"content_key": "course-v1:Nobody+Nothing+1T2042"}, "content_key"),
        ({"content_key": "outside"}, "content_key"),
    ],
)
def test_bad_allocation_input_is_refused_field_by_field_with_nothing_written(kwargs, field):
    s = _assigned()
    if kwargs.get("content_key") == "outside":
        kwargs["content_key"] = CourseRunFactory().key
    arguments = {"learner_emails": ["a@example.com"], "content_key": s.run.key, "content_price_cents": 10_000}

    with pytest.raises(PolicyInvalid) as refused:
        allocate(policy=s.policy, **(arguments | kwargs))

    assert field in refused.value.field_errors
    assert not LearnerContentAssignment.objects.exists()


def test_only_an_assigned_policy_allocates():
    s = make_scenario()
    with pytest.raises(PolicyInvalid) as refused:
        _allocate(s, _emails(1))
    assert "policy" in refused.value.field_errors


@pytest.mark.parametrize("retire", ["inactive", "retired", "deleted"])
def test_a_policy_that_is_no_longer_available_allocates_nothing(retire):
    s = _assigned()
    if retire == "deleted":
        soft_delete_policy(s.policy)
    else:
        setattr(s.policy, "active" if retire == "inactive" else "retired", retire != "inactive")
        save_policy(s.policy)

    with pytest.raises(RedemptionRefused) as refused:
        _allocate(s, _emails(1))

    assert refused.value.reason == reasons.POLICY_EXPIRED
    assert not LearnerContentAssignment.objects.exists()


def test_an_expired_subsidy_allocates_nothing():
    s = _assigned()
    s.subsidy.expiration_datetime = s.subsidy.active_datetime + dt.timedelta(seconds=1)
    s.subsidy.save()

    with pytest.raises(RedemptionRefused) as refused:
        _allocate(s, _emails(1))

    assert refused.value.reason == reasons.SUBSIDY_EXPIRED
    assert not LearnerContentAssignment.objects.exists()


def test_learner_redeeming_an_allocated_assignment_accepts_it_at_the_allocated_price():
    s = _assigned()
    _allocate(s, [s.learner.email.upper()], price=7_500)  # matched by email, case-insensitively

    entry = redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key).transaction

    assignment = LearnerContentAssignment.objects.get()
    assert assignment.state == AssignmentState.ACCEPTED
    assert assignment.transaction_uuid == entry.uuid
    assert assignment.lms_user_id == s.learner.lms_user_id
    assert assignment.actions.last().action_type == ActionType.REDEEMED
    assert entry.quantity == -7_500
    assert balance_cents(s.subsidy) == 1_000_000 - 7_500


def test_allocation_emails_the_learner_only_after_commit(mailoutbox, django_capture_on_commit_callbacks):
    s = _assigned()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _allocate(s, [s.learner.email])
    assert mailoutbox == []
    assert len(callbacks) == 1

    for callback in callbacks:
        callback()
    assert [m.to for m in mailoutbox] == [[s.learner.email]]
    assert s.run.course.title in mailoutbox[0].body
    assert LearnerContentAssignment.objects.get().actions.last().action_type == ActionType.NOTIFIED


def test_allocation_rolled_back_sends_no_email(mailoutbox, django_capture_on_commit_callbacks):
    s = _assigned()

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _allocate(s, [s.learner.email])
        raise RuntimeError("the surrounding unit fails")

    assert callbacks == []
    assert mailoutbox == []
    assert not LearnerContentAssignment.objects.exists()


def test_unchanged_allocation_sends_no_second_email(mailoutbox, django_capture_on_commit_callbacks):
    s = _assigned()
    with django_capture_on_commit_callbacks(execute=True):
        _allocate(s, [s.learner.email])
    with django_capture_on_commit_callbacks(execute=True):
        _allocate(s, [s.learner.email])
    assert len(mailoutbox) == 1


def test_an_accepted_assignment_is_no_longer_redeemable_but_the_repeat_returns_its_transaction():
    """DOMAIN.md: without an *allocated* assignment the reason is reason_learner_not_assigned_content."""
    s = _assigned()
    _allocate(s, [s.learner.email])
    first = redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)

    verdict = can_redeem(s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)
    again = redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)

    assert verdict.reason == reasons.LEARNER_NOT_ASSIGNED_CONTENT
    assert not again.created and again.transaction.uuid == first.transaction.uuid
    assert balance_cents(s.subsidy) == 1_000_000 - 10_000
