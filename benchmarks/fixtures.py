"""The benchmark's data, built in seconds: small objects through the real services, bulk rows by bulk_create.

One "world" is shared by the benchmarks: a customer, a catalog, an open and a closed course run, and one
subsidy whose ledger already holds `ledger_size` transactions (committed spends, some reversed, some
failed) under a "history" policy. Each benchmark adds its own policy and learners to that subsidy, so
every redemption it measures runs against a ledger of realistic size.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import Catalog, Course, CourseRun
from customers.models import EnterpriseCustomer, EnterpriseCustomerUser
from policies.models import PolicyType, SubsidyAccessPolicy
from policies.services import save_policy
from subsidies import services as ledger
from subsidies.models import Reversal, Subsidy, Transaction, TransactionState

PRICE_CENTS = 10_000
DEPOSIT_CENTS = 100_000_000_000  # a billion dollars: the subsidy balance never limits a benchmark
HISTORY_LEARNER_BASE = 10_000_000
HISTORY_TX_PER_LEARNER = 10
BATCH = 2_000


@dataclass
class World:
    admin: object
    customer: EnterpriseCustomer
    catalog: Catalog
    open_run: CourseRun
    closed_run: CourseRun
    subsidy: Subsidy
    history_policy: SubsidyAccessPolicy
    ledger_size: int

    @property
    def history_learner(self) -> int:
        """A learner who already has a few redemptions in the big ledger."""
        return HISTORY_LEARNER_BASE


def admin_user():
    user_model = get_user_model()
    user = user_model.objects.filter(username="bench-admin").first()
    return user or user_model.objects.create_superuser("bench-admin", "bench-admin@example.com", "bench-admin-pw")


def build_world(*, ledger_size: int) -> World:
    now = timezone.now()
    admin = admin_user()
    customer = EnterpriseCustomer.objects.create(name="Bench Corp", slug="bench-corp")
    course = Course.objects.create(key="BenchX+Perf101", title="Performance 101")
    open_run = CourseRun.objects.create(
        key="course-v1:BenchX+Perf101+Open",
        course=course,
        start=now + dt.timedelta(days=30),
        enroll_by=now + dt.timedelta(days=20),
        is_enrollable=True,
        price_cents=PRICE_CENTS,
    )
    closed_run = CourseRun.objects.create(
        key="course-v1:BenchX+Perf101+Closed",
        course=course,
        start=now - dt.timedelta(days=30),
        enroll_by=now - dt.timedelta(days=40),
        is_enrollable=False,
        price_cents=PRICE_CENTS,
    )
    catalog = Catalog.objects.create(customer=customer, title="Bench catalog")
    catalog.courses.add(course)
    subsidy = ledger.create_subsidy(
        customer=customer,
        title="Bench subsidy",
        active_datetime=now - dt.timedelta(days=365),
        expiration_datetime=now + dt.timedelta(days=365),
        starting_balance_cents=DEPOSIT_CENTS,
        sales_contract_reference_id="BENCH-1",
    )
    history_policy = add_policy(
        customer=customer,
        catalog=catalog,
        subsidy=subsidy,
        name="History (big ledger)",
        spend_limit_cents=DEPOSIT_CENTS // 2,
        per_learner_spend_limit_cents=100 * PRICE_CENTS,
    )
    world = World(admin, customer, catalog, open_run, closed_run, subsidy, history_policy, ledger_size)
    bulk_ledger(world, count=ledger_size - 1)  # + the deposit = ledger_size transactions
    link_learners(customer, [world.history_learner])
    return world


def add_policy(
    *, customer, catalog, subsidy, name: str, policy_type: str = PolicyType.PER_LEARNER_SPEND, **limits
) -> SubsidyAccessPolicy:
    return save_policy(
        SubsidyAccessPolicy(
            policy_type=policy_type, customer=customer, catalog=catalog, subsidy=subsidy, display_name=name, **limits
        )
    )


def bulk_ledger(world: World, *, count: int) -> None:
    """`count` spends under the history policy: 97% committed, 2% committed then reversed, 1% failed."""
    policy = world.history_policy
    entries, reversals = [], []
    for i in range(count):
        learner = HISTORY_LEARNER_BASE + i // HISTORY_TX_PER_LEARNER
        content_key = f"course-v1:BenchX+History+R{i % HISTORY_TX_PER_LEARNER}"
        failed = i % 100 == 99
        entry = Transaction(
            subsidy=world.subsidy,
            idempotency_key=f"history-{i}",
            quantity=-PRICE_CENTS,
            state=TransactionState.FAILED if failed else TransactionState.COMMITTED,
            lms_user_id=learner,
            lms_user_email=f"learner{learner}@bench.example",
            content_key=content_key,
            parent_content_key="BenchX+History",
            content_title="History",
            subsidy_access_policy_uuid=policy.pk,
            fulfillment_identifier="" if failed else str(uuid.uuid4()),
        )
        entries.append(entry)
        if i % 50 == 7:
            reversals.append(
                Reversal(transaction=entry, quantity=PRICE_CENTS, idempotency_key=f"reversal-{entry.uuid}")
            )
    Transaction.objects.bulk_create(entries, batch_size=BATCH)
    Reversal.objects.bulk_create(reversals, batch_size=BATCH)


def link_learners(customer: EnterpriseCustomer, lms_user_ids) -> None:
    EnterpriseCustomerUser.objects.bulk_create(
        [
            EnterpriseCustomerUser(
                customer=customer,
                lms_user_id=lms_user_id,
                email=f"learner{lms_user_id}@bench.example",
                first_name="Bench",
                last_name=f"Learner{lms_user_id}",
            )
            for lms_user_id in lms_user_ids
        ],
        batch_size=BATCH,
    )
