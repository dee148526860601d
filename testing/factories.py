"""factory-boy factories that build through the real models and services (no mocks)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import factory
from django.utils import timezone

from assignments.models import AssignmentState, LearnerContentAssignment
from catalog.models import Catalog, Course, CourseRun, ProductSource
from customers.models import EnterpriseCustomer, EnterpriseCustomerUser, EnterpriseGroup
from policies.models import AccessMethod, PolicyType, SubsidyAccessPolicy
from policies.services import save_policy
from subsidies import services as ledger
from subsidies.models import Subsidy


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EnterpriseCustomer

    name = factory.Sequence(lambda n: f"Customer {n}")
    slug = factory.Sequence(lambda n: f"customer-{n}")


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EnterpriseGroup

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Group {n}")


class LearnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EnterpriseCustomerUser

    customer = factory.SubFactory(CustomerFactory)
    lms_user_id = factory.Sequence(lambda n: 50_000 + n)
    email = factory.LazyAttribute(lambda o: f"learner{o.lms_user_id}@example.com")
    first_name = "Ada"
    last_name = "Learner"


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course

    key = factory.Sequence(lambda n: f"TestX+Course{n}")
    title = factory.Sequence(lambda n: f"Test course {n}")
    product_source = ProductSource.EDX


class CourseRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CourseRun

    course = factory.SubFactory(CourseFactory)
    key = factory.LazyAttributeSequence(lambda o, n: f"course-v1:{o.course.key}+R{n}")
    start = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=30))
    end = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=120))
    enroll_by = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=20))
    is_enrollable = True
    price_cents = 10_000


class CatalogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Catalog
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    title = factory.Sequence(lambda n: f"Catalog {n}")

    @factory.post_generation
    def runs(self, create, extracted, **kwargs):
        """`CatalogFactory(runs=[run, ...])` includes those runs' courses."""
        for run in extracted or []:
            self.courses.add(run.course)


def make_subsidy(*, customer, deposit_cents: int = 1_000_000, **fields) -> Subsidy:
    """A subsidy active now, funded by one deposit (through the ledger service)."""
    now = timezone.now()
    subsidy = Subsidy.objects.create(
        customer=customer,
        title=fields.pop("title", "Test subsidy"),
        active_datetime=fields.pop("active_datetime", now - dt.timedelta(days=1)),
        expiration_datetime=fields.pop("expiration_datetime", now + dt.timedelta(days=365)),
        **fields,
    )
    if deposit_cents:
        ledger.deposit(subsidy=subsidy, quantity_cents=deposit_cents, sales_contract_reference_id="TEST-1")
    return subsidy


def make_policy(
    *, policy_type: str = PolicyType.PER_LEARNER_SPEND, customer=None, catalog=None, subsidy=None, groups=None, **fields
) -> SubsidyAccessPolicy:
    """A policy saved through `save_policy` (validation included). Builds what it is not given."""
    customer = customer or (subsidy.customer if subsidy else catalog.customer if catalog else CustomerFactory())
    catalog = catalog or CatalogFactory(customer=customer)
    subsidy = subsidy or make_subsidy(customer=customer)
    if policy_type == PolicyType.ASSIGNED:
        fields.setdefault("access_method", AccessMethod.ASSIGNED)
        fields.setdefault("spend_limit_cents", 500_000)
    policy = SubsidyAccessPolicy(
        policy_type=policy_type,
        customer=customer,
        catalog=catalog,
        subsidy=subsidy,
        display_name=fields.pop("display_name", f"Policy {policy_type}"),
        **fields,
    )
    return save_policy(policy, groups=groups)


def make_assignment(
    *, policy: SubsidyAccessPolicy, learner, run, state: str = AssignmentState.ALLOCATED, price_cents=None
) -> LearnerContentAssignment:
    """One learner's assignment under an assigned policy, in any state (set-up for the state reasons)."""
    return LearnerContentAssignment.objects.create(
        assignment_configuration=policy.assignment_configuration,
        learner_email=learner.email,
        lms_user_id=learner.lms_user_id,
        content_key=run.key,
        content_title=run.course.title,
        content_quantity=-(run.price_cents if price_cents is None else price_cents),
        state=state,
    )


@dataclass
class Scenario:
    """A learner who can redeem `run` under `policy`: the starting point most redemption tests change."""

    customer: EnterpriseCustomer
    learner: EnterpriseCustomerUser
    run: CourseRun
    catalog: Catalog
    subsidy: Subsidy
    policy: SubsidyAccessPolicy

    def add_learner(self, **fields) -> EnterpriseCustomerUser:
        return LearnerFactory(customer=self.customer, **fields)

    def add_run(self, **fields) -> CourseRun:
        """Another run, in the policy's catalog."""
        run = CourseRunFactory(**fields)
        self.catalog.courses.add(run.course)
        return run


def make_scenario(
    *,
    policy_type: str = PolicyType.PER_LEARNER_SPEND,
    price_cents: int = 10_000,
    deposit_cents: int = 1_000_000,
    run_fields: dict | None = None,
    subsidy_fields: dict | None = None,
    **policy_fields,
) -> Scenario:
    customer = CustomerFactory()
    learner = LearnerFactory(customer=customer)
    run = CourseRunFactory(price_cents=price_cents, **(run_fields or {}))
    catalog = CatalogFactory(customer=customer, runs=[run])
    subsidy = make_subsidy(customer=customer, deposit_cents=deposit_cents, **(subsidy_fields or {}))
    policy = make_policy(policy_type=policy_type, customer=customer, catalog=catalog, subsidy=subsidy, **policy_fields)
    return Scenario(customer=customer, learner=learner, run=run, catalog=catalog, subsidy=subsidy, policy=policy)
