"""Saving a policy goes through `save_policy`, which refuses invalid policies field by field and saves nothing."""

from __future__ import annotations

import pytest

from policies.errors import PolicyInvalid
from policies.models import AccessMethod, PolicyType, SubsidyAccessPolicy
from policies.services import redeem, reverse_redemption, save_policy, soft_delete_policy
from subsidies.services import deposit
from testing.factories import CatalogFactory, CustomerFactory, GroupFactory, make_policy, make_scenario, make_subsidy

pytestmark = pytest.mark.django_db


def _refused(policy, **kwargs) -> dict[str, list[str]]:
    before = list(SubsidyAccessPolicy.all_objects.values_list("pk", "active", "spend_limit_cents"))
    with pytest.raises(PolicyInvalid) as refused:
        save_policy(policy, **kwargs)
    assert list(SubsidyAccessPolicy.all_objects.values_list("pk", "active", "spend_limit_cents")) == before
    return refused.value.field_errors


def _new_policy(subsidy, **fields) -> SubsidyAccessPolicy:
    return SubsidyAccessPolicy(
        policy_type=fields.pop("policy_type", PolicyType.PER_LEARNER_SPEND),
        customer=subsidy.customer,
        catalog=fields.pop("catalog", None) or CatalogFactory(customer=subsidy.customer),
        subsidy=subsidy,
        display_name=fields.pop("display_name", "Another budget"),
        **fields,
    )


def test_spend_limits_of_active_policies_may_not_exceed_the_subsidys_deposits():
    subsidy = make_subsidy(customer=CustomerFactory(), deposit_cents=100_000)
    make_policy(subsidy=subsidy, spend_limit_cents=60_000)

    errors = _refused(_new_policy(subsidy, spend_limit_cents=50_000))

    assert "110000 cents" in errors["spend_limit_cents"][0] and "100000 cents" in errors["spend_limit_cents"][0]
    assert save_policy(_new_policy(subsidy, spend_limit_cents=40_000)).pk  # exactly the deposits


def test_inactive_and_deleted_policies_do_not_count_against_the_deposits():
    subsidy = make_subsidy(customer=CustomerFactory(), deposit_cents=100_000)
    first = make_policy(subsidy=subsidy, spend_limit_cents=60_000)
    dormant = save_policy(_new_policy(subsidy, spend_limit_cents=50_000, active=False))

    dormant.active = True
    assert "spend_limit_cents" in _refused(dormant)

    soft_delete_policy(first)
    dormant = SubsidyAccessPolicy.objects.get(pk=dormant.pk)
    dormant.active = True
    assert save_policy(dormant).active


def test_a_new_deposit_makes_room_for_a_higher_spend_limit():
    subsidy = make_subsidy(customer=CustomerFactory(), deposit_cents=100_000)
    policy = make_policy(subsidy=subsidy, spend_limit_cents=100_000)
    policy.spend_limit_cents = 150_000
    assert "spend_limit_cents" in _refused(policy)

    deposit(subsidy=subsidy, quantity_cents=50_000, sales_contract_reference_id="TOP-UP-1")
    policy = SubsidyAccessPolicy.objects.get(pk=policy.pk)
    policy.spend_limit_cents = 150_000
    assert save_policy(policy).spend_limit_cents == 150_000


def test_an_assigned_policy_needs_a_spend_limit_and_the_assigned_access_method():
    subsidy = make_subsidy(customer=CustomerFactory())

    errors = _refused(_new_policy(subsidy, policy_type=PolicyType.ASSIGNED))

    assert errors["spend_limit_cents"] == ["An assigned learner credit policy needs a spend limit."]
    assert "access_method" in errors


def test_an_assigned_policy_gets_its_assignment_configuration_when_saved():
    subsidy = make_subsidy(customer=CustomerFactory())
    policy = save_policy(
        _new_policy(
            subsidy, policy_type=PolicyType.ASSIGNED, access_method=AccessMethod.ASSIGNED, spend_limit_cents=1_000
        )
    )
    assert policy.assignment_configuration.customer == subsidy.customer


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"access_method": AccessMethod.ASSIGNED}, "access_method"),
        ({"per_learner_enrollment_limit": 2}, "per_learner_enrollment_limit"),
        (
            {"policy_type": PolicyType.PER_LEARNER_ENROLLMENT, "per_learner_spend_limit_cents": 5_000},
            "per_learner_spend_limit_cents",
        ),
        ({"display_name": ""}, "display_name"),
        ({"policy_type": "NoSuchPolicy"}, "policy_type"),
    ],
)
def test_limits_and_access_method_must_fit_the_policy_type(fields, field):
    subsidy = make_subsidy(customer=CustomerFactory())
    assert field in _refused(_new_policy(subsidy, **fields))


def test_a_policy_with_spend_cannot_be_deactivated():
    s = make_scenario()
    redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)
    s.policy.active = False

    errors = _refused(s.policy)

    assert errors["active"] == ["A policy that has spend cannot be deactivated; retire it instead."]
    s.policy.refresh_from_db()
    s.policy.retired = True
    assert save_policy(s.policy).retired


def test_a_policy_whose_only_spend_was_reversed_can_be_deactivated():
    s = make_scenario()
    reverse_redemption(
        entry=redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key).transaction
    )
    s.policy.active = False
    assert save_policy(s.policy).active is False


def test_a_policy_without_spend_can_be_deactivated():
    s = make_scenario()
    s.policy.active = False
    assert save_policy(s.policy).active is False


def test_catalog_and_subsidy_must_belong_to_the_policys_customer():
    subsidy = make_subsidy(customer=CustomerFactory())
    foreign_subsidy = make_subsidy(customer=CustomerFactory())

    policy = _new_policy(subsidy, catalog=CatalogFactory())
    policy.subsidy = foreign_subsidy
    errors = _refused(policy)

    assert errors["catalog"] == ["The catalog belongs to another customer."]
    assert errors["subsidy"] == ["The subsidy belongs to another customer."]


def test_groups_must_belong_to_the_policys_customer():
    subsidy = make_subsidy(customer=CustomerFactory())
    foreign_group = GroupFactory(name="Elsewhere")

    errors = _refused(_new_policy(subsidy, spend_limit_cents=1_000), groups=[foreign_group])

    assert errors["groups"] == ["Not groups of this policy's customer: Elsewhere."]


def test_a_policy_without_a_subsidy_is_refused_field_by_field():
    catalog = CatalogFactory()
    policy = SubsidyAccessPolicy(
        policy_type=PolicyType.PER_LEARNER_SPEND, customer=catalog.customer, catalog=catalog, display_name="No money"
    )
    assert "subsidy" in _refused(policy)


def test_soft_delete_hides_the_policy_but_keeps_its_row():
    s = make_scenario()
    entry = redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key).transaction

    soft_delete_policy(s.policy)

    assert not SubsidyAccessPolicy.objects.filter(pk=s.policy.pk).exists()
    kept = SubsidyAccessPolicy.all_objects.get(pk=s.policy.pk)
    assert kept.is_deleted and kept.deleted_at is not None
    assert entry.subsidy_access_policy_uuid == kept.pk
