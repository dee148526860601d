"""Every refusal reason of DOMAIN.md, reached through `can_redeem` and through `redeem`, and their order.

Each case starts from a learner who could redeem (testing.factories.make_scenario) and breaks one thing.
Both paths must give the same reason code and user message, and a refused redemption writes nothing.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from assignments.models import AssignmentState
from fulfillment.models import Enrollment
from policies import reasons
from policies.errors import RedemptionRefused
from policies.models import PolicyType, SubsidyAccessPolicy
from policies.redeemability import can_redeem
from policies.services import allocate, redeem, save_policy, soft_delete_policy
from subsidies.models import Subsidy, Transaction
from subsidies.selectors import balance_cents
from testing.factories import CourseRunFactory, GroupFactory, LearnerFactory, make_assignment, make_scenario

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def _inactive(s):
    s.policy.active = False
    save_policy(s.policy)


def _retired(s):
    s.policy.retired = True
    save_policy(s.policy)


def _soft_deleted(s):
    soft_delete_policy(s.policy)


def _never_linked(s):
    return {"lms_user_id": 999_999}


def _unlinked(s):
    s.learner.active = False
    s.learner.save()


def _linked_to_another_customer_only(s):
    stranger = LearnerFactory()  # its own customer
    return {"lms_user_id": stranger.lms_user_id}


def _not_in_group(s):
    save_policy(s.policy, groups=[GroupFactory(customer=s.customer)])


def _unknown_run(s):
    return {"content_key": "course-v1:Nobody+Nothing+1T2042"}


def _run_outside_catalog(s):
    return {"content_key": CourseRunFactory().key}


def _past_deadline(s):
    s.run.enroll_by = timezone.now() - DAY
    s.run.save()


def _subsidy_not_active_yet(s):
    now = timezone.now()
    Subsidy.objects.filter(pk=s.subsidy.pk).update(active_datetime=now + DAY, expiration_datetime=now + 365 * DAY)


def _subsidy_expired(s):
    now = timezone.now()
    Subsidy.objects.filter(pk=s.subsidy.pk).update(active_datetime=now - 365 * DAY, expiration_datetime=now - DAY)


def _price_above_balance(s):
    s.run.price_cents = 2_000_000  # the subsidy holds 1_000_000
    s.run.save()


def _learner_already_spent(s):
    """The learner redeemed another 10_000 run under the same policy."""
    redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.add_run(price_cents=10_000).key)


def _policy_already_spent(s):
    """Another learner redeemed 10_000 under the same policy."""
    redeem(policy=s.policy, lms_user_id=s.add_learner().lms_user_id, content_key=s.add_run(price_cents=10_000).key)


def _other_learner_allocated(s):
    allocate(policy=s.policy, learner_emails=[s.add_learner().email], content_key=s.run.key, content_price_cents=10_000)


def _assignment_in(state):
    def arrange(s):
        make_assignment(policy=s.policy, learner=s.learner, run=s.run, state=state)

    return arrange


def _nothing(s):
    return None


ASSIGNED = {"policy_type": PolicyType.ASSIGNED}

# (id, scenario arguments, arrangers, expected reason)
CASES = [
    ("inactive policy", {}, [_inactive], reasons.POLICY_EXPIRED),
    ("retired policy", {}, [_retired], reasons.POLICY_EXPIRED),
    ("soft-deleted policy", {}, [_soft_deleted], reasons.POLICY_EXPIRED),
    ("learner never linked", {}, [_never_linked], reasons.LEARNER_NOT_IN_ENTERPRISE),
    ("learner link inactive", {}, [_unlinked], reasons.LEARNER_NOT_IN_ENTERPRISE),
    ("learner of another customer", {}, [_linked_to_another_customer_only], reasons.LEARNER_NOT_IN_ENTERPRISE),
    ("learner outside the policy's groups", {}, [_not_in_group], reasons.LEARNER_NOT_IN_ENTERPRISE_GROUP),
    ("unknown run", {}, [_unknown_run], reasons.CONTENT_NOT_IN_CATALOG),
    ("run outside the catalog", {}, [_run_outside_catalog], reasons.CONTENT_NOT_IN_CATALOG),
    ("past enroll_by", {}, [_past_deadline], reasons.BEYOND_ENROLLMENT_DEADLINE),
    (
        "late window already over",
        {"late_redemption_allowed_until": timezone.now() - DAY},
        [_past_deadline],
        reasons.BEYOND_ENROLLMENT_DEADLINE,
    ),
    ("subsidy not active yet", {}, [_subsidy_not_active_yet], reasons.SUBSIDY_EXPIRED),
    ("subsidy expired", {}, [_subsidy_expired], reasons.SUBSIDY_EXPIRED),
    ("price above balance", {}, [_price_above_balance], reasons.NOT_ENOUGH_VALUE_IN_SUBSIDY),
    ("spend limit", {"spend_limit_cents": 15_000}, [_policy_already_spent], reasons.POLICY_SPEND_LIMIT_REACHED),
    (
        "assigned spend limit counts other learners' allocations",
        {**ASSIGNED, "spend_limit_cents": 15_000},
        [_other_learner_allocated, _assignment_in(AssignmentState.ALLOCATED)],
        reasons.POLICY_SPEND_LIMIT_REACHED,
    ),
    (
        "enrollment cap",
        {"policy_type": PolicyType.PER_LEARNER_ENROLLMENT, "per_learner_enrollment_limit": 1},
        [_learner_already_spent],
        reasons.LEARNER_MAX_ENROLLMENTS_REACHED,
    ),
    (
        "per-learner spend cap",
        {"per_learner_spend_limit_cents": 15_000},
        [_learner_already_spent],
        reasons.LEARNER_MAX_SPEND_REACHED,
    ),
    ("nothing assigned", ASSIGNED, [_nothing], reasons.LEARNER_NOT_ASSIGNED_CONTENT),
    ("assigned to someone else", ASSIGNED, [_other_learner_allocated], reasons.LEARNER_NOT_ASSIGNED_CONTENT),
    (
        "assignment cancelled",
        ASSIGNED,
        [_assignment_in(AssignmentState.CANCELLED)],
        reasons.LEARNER_ASSIGNMENT_CANCELLED,
    ),
    ("assignment errored", ASSIGNED, [_assignment_in(AssignmentState.ERRORED)], reasons.LEARNER_ASSIGNMENT_FAILED),
    ("assignment expired", ASSIGNED, [_assignment_in(AssignmentState.EXPIRED)], reasons.LEARNER_ASSIGNMENT_EXPIRED),
    ("assignment reversed", ASSIGNED, [_assignment_in(AssignmentState.REVERSED)], reasons.LEARNER_ASSIGNMENT_REVERSED),
]

# Two faults at once: the check that comes first in DOMAIN.md's order gives the reason.
ORDER_CASES = [
    ("inactive policy before unknown learner", {}, [_inactive, _never_linked], reasons.POLICY_EXPIRED),
    (
        "unlinked learner before foreign content",
        {},
        [_unlinked, _run_outside_catalog],
        reasons.LEARNER_NOT_IN_ENTERPRISE,
    ),
    (
        "group before foreign content",
        {},
        [_not_in_group, _run_outside_catalog],
        reasons.LEARNER_NOT_IN_ENTERPRISE_GROUP,
    ),
    (
        "foreign content before expired subsidy",
        {},
        [_run_outside_catalog, _subsidy_expired],
        reasons.CONTENT_NOT_IN_CATALOG,
    ),
    ("deadline before expired subsidy", {}, [_past_deadline, _subsidy_expired], reasons.BEYOND_ENROLLMENT_DEADLINE),
    ("expired subsidy before balance", {}, [_subsidy_expired, _price_above_balance], reasons.SUBSIDY_EXPIRED),
    (
        "balance before spend limit",
        {"spend_limit_cents": 5_000},
        [_price_above_balance],
        reasons.NOT_ENOUGH_VALUE_IN_SUBSIDY,
    ),
    (
        "spend limit before per-learner spend cap",
        {"spend_limit_cents": 15_000, "per_learner_spend_limit_cents": 15_000},
        [_learner_already_spent],
        reasons.POLICY_SPEND_LIMIT_REACHED,
    ),
    (
        "spend limit before the assignment check",
        {**ASSIGNED, "spend_limit_cents": 15_000},
        [_other_learner_allocated],
        reasons.POLICY_SPEND_LIMIT_REACHED,
    ),
    (
        "spend limit before a cancelled assignment",
        {**ASSIGNED, "spend_limit_cents": 15_000},
        [_other_learner_allocated, _assignment_in(AssignmentState.CANCELLED)],
        reasons.POLICY_SPEND_LIMIT_REACHED,
    ),
]


def _arrange(scenario_args, arrangers):
    s = make_scenario(**scenario_args)
    target = {"lms_user_id": s.learner.lms_user_id, "content_key": s.run.key}
    for arrange in arrangers:
        target.update(arrange(s) or {})
    policy = SubsidyAccessPolicy.all_objects.get(pk=s.policy.pk)
    return s, policy, target


def _reason_via(path: str, policy, target) -> str:
    """The reason code `path` gives; a refused redemption must leave the ledger and enrollments untouched."""
    if path == "can_redeem":
        verdict = can_redeem(policy, **target)
        assert verdict.can_redeem is False
        assert verdict.user_message == reasons.user_message(verdict.reason)
        return verdict.reason
    before = (Transaction.objects.count(), Enrollment.objects.count(), balance_cents(policy.subsidy_id))
    with pytest.raises(RedemptionRefused) as refused:
        redeem(policy=policy, **target)
    assert (Transaction.objects.count(), Enrollment.objects.count(), balance_cents(policy.subsidy_id)) == before
    assert refused.value.message == reasons.user_message(refused.value.reason)
    assert refused.value.message.startswith("You can't enroll right now because ")
    return refused.value.reason


def test_the_cases_cover_every_reason_code():
    assert {case[-1] for case in CASES} == set(reasons.ALL_REASONS)


@pytest.mark.parametrize("path", ["can_redeem", "redeem"])
@pytest.mark.parametrize(("scenario_args", "arrangers", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refusal_gives_the_reason_code(path, scenario_args, arrangers, reason):
    _, policy, target = _arrange(scenario_args, arrangers)
    assert _reason_via(path, policy, target) == reason


@pytest.mark.parametrize("path", ["can_redeem", "redeem"])
@pytest.mark.parametrize(
    ("scenario_args", "arrangers", "reason"), [c[1:] for c in ORDER_CASES], ids=[c[0] for c in ORDER_CASES]
)
def test_first_failing_check_in_domain_order_wins(path, scenario_args, arrangers, reason):
    _, policy, target = _arrange(scenario_args, arrangers)
    assert _reason_via(path, policy, target) == reason


def test_learner_in_one_of_the_policys_groups_can_redeem():
    s = make_scenario()
    group = GroupFactory(customer=s.customer)
    s.learner.groups.add(group)
    save_policy(s.policy, groups=[GroupFactory(customer=s.customer), group])
    assert can_redeem(s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key).can_redeem
    assert redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key).created


def test_late_redemption_window_skips_the_deadline_check_and_enrolls_late():
    s = make_scenario(late_redemption_allowed_until=timezone.now() + DAY)
    _past_deadline(s)
    verdict = can_redeem(s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)
    assert verdict.can_redeem, verdict.reason
    result = redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)
    assert result.transaction.metadata["allow_late_enrollment"] is True
    assert Enrollment.objects.get(transaction_uuid=result.transaction.uuid).active


def test_forced_redemption_skips_only_the_deadline_check():
    s = make_scenario()
    _past_deadline(s)
    target = {"lms_user_id": s.learner.lms_user_id, "content_key": s.run.key}
    assert can_redeem(s.policy, forced=True, **target).can_redeem
    result = redeem(policy=s.policy, forced=True, **target)
    assert result.created and Enrollment.objects.get(transaction_uuid=result.transaction.uuid).forced

    _subsidy_expired(s)
    other = s.add_run()
    policy = SubsidyAccessPolicy.objects.get(pk=s.policy.pk)
    verdict = can_redeem(policy, forced=True, lms_user_id=s.learner.lms_user_id, content_key=other.key)
    assert verdict.reason == reasons.SUBSIDY_EXPIRED


def test_can_redeem_reports_price_and_balances_without_writing():
    s = make_scenario(spend_limit_cents=50_000)
    verdict = can_redeem(s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)
    assert verdict.as_dict() | {"detail": ""} == {
        "can_redeem": True,
        "reason": None,
        "user_message": None,
        "price_cents": 10_000,
        "balance_cents": 1_000_000,
        "policy_spent_cents": 0,
        "policy_spend_available_cents": 50_000,
        "detail": "",
    }
    assert not Transaction.objects.filter(lms_user_id=s.learner.lms_user_id).exists()
