"""Loads the demo data set through the real services. Idempotent: run it as often as you like."""

from __future__ import annotations

from django.db import transaction

from catalog.models import Catalog, Course
from catalog.services import upsert_courses
from common.services import upsert
from customers.models import EnterpriseCustomer
from customers.services import link_learner
from demo import data
from policies.models import AccessMethod, PolicyType, SubsidyAccessPolicy
from policies.services import save_policy
from subsidies import services as ledger
from subsidies.models import Subsidy

_POLICIES = [
    (
        data.SPEND_POLICY_UUID,
        data.SPEND_POLICY_NAME,
        PolicyType.PER_LEARNER_SPEND,
        {"spend_limit_cents": 500_000, "per_learner_spend_limit_cents": 200_000},
    ),
    (
        data.ENROLLMENT_POLICY_UUID,
        data.ENROLLMENT_POLICY_NAME,
        PolicyType.PER_LEARNER_ENROLLMENT,
        {"spend_limit_cents": 300_000, "per_learner_enrollment_limit": 3},
    ),
    (
        data.ASSIGNED_POLICY_UUID,
        data.ASSIGNED_POLICY_NAME,
        PolicyType.ASSIGNED,
        {"spend_limit_cents": 200_000, "access_method": AccessMethod.ASSIGNED},
    ),
]


def _courses_for_upsert() -> list[dict]:
    def iso(run: dict) -> dict:
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in run.items()}

    return [{**course, "runs": [iso(run) for run in course["runs"]]} for course in data.COURSES]


@transaction.atomic
def load_demo() -> dict[str, object]:
    customer, _ = upsert(
        EnterpriseCustomer,
        uuid=data.CUSTOMER_UUID,
        defaults={
            "name": "Demo University",
            "slug": data.CUSTOMER_SLUG,
            "contact_email": "admin@demo-university.example",
        },
    )
    for number, lms_user_id in enumerate(data.LINKED_LEARNERS, start=1):
        link_learner(
            customer=customer,
            lms_user_id=lms_user_id,
            email=f"learner{lms_user_id}@demo-university.example",
            first_name=f"Learner{number}",
            last_name="Demo",
        )
    link_learner(
        customer=customer,
        lms_user_id=data.UNLINKED_LEARNER,
        email=f"former{data.UNLINKED_LEARNER}@demo-university.example",
        first_name="Former",
        last_name="Learner",
        active=False,
    )

    upsert_courses(courses=_courses_for_upsert())
    catalog, _ = upsert(
        Catalog, uuid=data.CATALOG_UUID, defaults={"customer": customer, "title": "Demo University catalog"}
    )
    catalog.courses.set(Course.objects.filter(key__in=data.CATALOG_COURSES))

    subsidy = Subsidy.objects.filter(pk=data.SUBSIDY_UUID).first()
    if subsidy is None:
        subsidy = Subsidy.objects.create(
            uuid=data.SUBSIDY_UUID,
            customer=customer,
            title="Demo University learner credit",
            active_datetime=data.utc(2024, 1, 1),
            expiration_datetime=data.utc(2099, 12, 31),
            reference_id="DEMO-CONTRACT-001",
            starting_balance=data.DEPOSIT_CENTS,  # the deposit below
        )
    ledger.deposit(
        subsidy=subsidy,
        quantity_cents=data.DEPOSIT_CENTS,
        sales_contract_reference_id="DEMO-CONTRACT-001",
        sales_contract_reference_provider="demo",
        idempotency_key="demo-initial-deposit",
    )

    for policy_uuid, name, policy_type, limits in _POLICIES:
        if SubsidyAccessPolicy.all_objects.filter(pk=policy_uuid).exists():
            continue
        save_policy(
            SubsidyAccessPolicy(
                uuid=policy_uuid,
                policy_type=policy_type,
                customer=customer,
                display_name=name,
                description=f"Demo policy: {policy_type}.",
                catalog=catalog,
                subsidy=subsidy,
                **limits,
            )
        )
    return {"customer": customer, "catalog": catalog, "subsidy": subsidy}
