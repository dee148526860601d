"""Many forced redemptions under one policy as one step of a batch (issue 13): the same checks as
`reserve_redemption`, each row's own, with what the rows share taken and read once.

`reserve_forced_many` takes the subsidy's and the policy's locks once, reads the running totals once, and
the learners' links (locked), ledgers and active enrollments in one query each; then judges each row with
the redemption's own `evaluate` and `check_enrollable`, carrying what the rows before it take from the
balance and the spend limit; and writes the rows it accepts in one INSERT per table (enrollments, then
their transactions, written committed as the local backend's single unit writes them). It runs in the
caller's transaction, which also writes the rows' forced-redemption records: all of it commits together
or not at all, so each row is all or nothing.

What it does not handle it hands back untouched (`deferred`), for the caller to run through the single
unit one by one: a remote fulfillment backend (its downstream call follows the commit), an assigned policy
(allocation writes an assignment per row), a policy with groups, an exec-ed run, a learner twice in the
step, a learner without an active link, already enrolled in the run or with a live or repeatedly failed
transaction for it, and every row the checks refuse (the single unit records the refusal on its record).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from common.errors import DomainError
from common.locking import bound_lock_wait, lock_errors_as_domain
from customers.models import EnterpriseCustomerUser
from fulfillment import services as fulfillment
from fulfillment.backends import get_backend
from fulfillment.models import Enrollment
from policies.errors import TooManyFailedRedemptions
from policies.models import SubsidyAccessPolicy
from policies.redeemability import ContentRead, build_context, evaluate
from policies.services.redemption import (
    _LOCKED_POLICY,
    _bounded_metadata,
    _refuse_after_repeated_failures,
    enrollment_request,
    idempotency_key,
    redemption_entry,
)
from policies.strategies import reads_and_writes_nothing_of_its_own
from subsidies import selectors as ledger_reads
from subsidies import services as ledger
from subsidies.models import Transaction


@dataclass
class ForcedItem:
    """One row to force: the learner, the content as the caller read it, the price asked, its metadata."""

    key: Any  # the caller's name for the row
    lms_user_id: int
    content: ContentRead
    price_cents: int | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reserved:
    item: ForcedItem
    transaction: Transaction


def reserve_forced_many(
    policy: SubsidyAccessPolicy, items: list[ForcedItem]
) -> tuple[list[Reserved], list[ForcedItem]]:
    """Reserve, enroll and charge the rows it can (see the module); returns (reserved, deferred).

    Call it inside a transaction (atomic block) that the caller commits; nothing here commits. Raises only
    LockWaitTimeout (nothing written); a refusal of a row is a deferral, never an error.
    """
    if get_backend().remote or not reads_and_writes_nothing_of_its_own(policy.strategy) or not items:
        return [], list(items)
    with lock_errors_as_domain():
        bound_lock_wait()
        subsidy = ledger.lock_subsidy(policy.subsidy_id)
        locked = _LOCKED_POLICY.first(pk=policy.pk)
        if locked is None:
            return [], list(items)
        locked.subsidy = subsidy
        return _Step(locked, items).run()


class _Step:
    def __init__(self, policy: SubsidyAccessPolicy, items: list[ForcedItem]) -> None:
        self.policy = policy
        self.items = items
        totals = ledger_reads.running_totals_of(policy)
        self.balance = totals.balance_cents
        self.spent = totals.policy_spend["spent_cents"]
        self.redemptions = totals.policy_spend["redemptions"]
        ids = sorted({item.lms_user_id for item in items})
        # Lock order: subsidy, policy (taken), then the learners' links, in one statement.
        links = EnterpriseCustomerUser.objects.select_for_update().filter(customer_id=policy.customer_id)
        self.links = {link.lms_user_id: link for link in links.filter(lms_user_id__in=ids).order_by("pk")}
        self.ledgers = ledger_reads.learner_ledgers(policy.pk, ids)
        runs = {item.content.run.pk for item in items if item.content.run is not None}
        enrolled = Enrollment.objects.filter(active=True, course_run_id__in=runs, lms_user_id__in=ids)
        self.enrolled = set(enrolled.values_list("lms_user_id", "course_run_id"))
        self.now = timezone.now()

    def run(self) -> tuple[list[Reserved], list[ForcedItem]]:
        accepted: list[tuple[ForcedItem, Enrollment, Transaction]] = []
        deferred: list[ForcedItem] = []
        counts: dict[int, int] = {}
        for item in self.items:
            counts[item.lms_user_id] = counts.get(item.lms_user_id, 0) + 1
        for item in self.items:
            made = self._accept(item) if counts[item.lms_user_id] == 1 else None
            if made is None:
                deferred.append(item)
            else:
                accepted.append((item, *made))
        if accepted:
            # Enrollment first, then its transaction written settled: the order of the single local unit.
            Enrollment.objects.bulk_create([enrollment for _, enrollment, _ in accepted])
            Transaction.objects.bulk_create([entry for _, _, entry in accepted])
        return [Reserved(item, entry) for item, _, entry in accepted], deferred

    def _accept(self, item: ForcedItem) -> tuple[Enrollment, Transaction] | None:
        policy, content = self.policy, item.content
        run, link = content.run, self.links.get(item.lms_user_id)
        if run is None or run.course.is_exec_ed or content.policy_has_groups or link is None or not link.active:
            return None
        if (item.lms_user_id, run.pk) in self.enrolled:
            return None
        learner = self.ledgers.get(item.lms_user_id, ledger_reads.LearnerLedger(()))
        key = idempotency_key(policy, item.lms_user_id, run.key, settled=learner.settled_uuids(run.key))
        if learner.live_uuid_with_key(policy.subsidy_id, key) or learner.live_uuid_for_content(
            policy.subsidy_id, run.key
        ):
            return None
        try:
            _refuse_after_repeated_failures(learner, item.lms_user_id, run.key)
        except TooManyFailedRedemptions:
            return None
        link.in_groups = False
        ctx = build_context(
            policy,
            lms_user_id=item.lms_user_id,
            content_key=run.key,
            forced=True,
            price_cents=item.price_cents,
            link=link,
            content=content,
            now=self.now,
            totals=ledger_reads.RunningTotals(
                self.balance, {"spent_cents": self.spent, "redemptions": self.redemptions}
            ),
            learner_spend=learner.spend(),
        )
        verdict = evaluate(ctx)
        if not verdict.can_redeem:
            return None
        request = enrollment_request(ctx, _bounded_metadata(item.metadata), verdict.price_cents)
        try:
            fulfillment.check_enrollable(request)
        except DomainError:
            return None
        enrollment = fulfillment.new_enrollment(request)
        # Written settled, as the single local unit writes it: enrolled first, then the committed entry.
        entry = ledger.new_redemption(**redemption_entry(ctx, request, key), fulfillment_identifier=str(enrollment.pk))
        self.balance -= verdict.price_cents
        self.spent += verdict.price_cents
        self.redemptions += 1
        self.enrolled.add((item.lms_user_id, run.pk))
        return enrollment, entry
