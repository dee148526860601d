"""The dry run "check redeemability" of many unsaved records at once (a batch's preview): the verdict of
selectors.check_forced for each, with what the records share read once.

For the plain rows (a policy type that reads nothing of its own, no groups, a known run that is not exec-ed,
an active link, no standing forced redemption and no live transaction for the run) it reads the runs, the
links, the learners' ledgers, their enrollments and the running totals once per call and asks the
redemption's own `evaluate` and `check_enrollable`; a plain row already enrolled in the run is refused
(`already_enrolled`: forcing it would fail). Every other row, and every row `evaluate` refuses, gets
check_forced's own answer, so the messages are the same.
"""

from __future__ import annotations

from customers.models import EnterpriseCustomerUser
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.selectors import ForcedCheck, check_forced, verdict_check, verdict_numbers
from forced_redemptions.services.validation import standing_pairs
from fulfillment.models import Enrollment
from policies.redeemability import build_context, evaluate, read_content_once
from policies.strategies import reads_and_writes_nothing_of_its_own
from subsidies import selectors as ledger_reads

ALREADY_ENROLLED = "already_enrolled"


def check_forced_many(
    records: list[ForcedPolicyRedemption], *, contents: dict | None = None, refuse_enrolled: bool = True
) -> list[ForcedCheck]:
    """check_forced of each record (all under one policy, none redeemed), in order. `contents`: a cache of the
    runs' reads the caller may keep across calls (policy, catalog, run key) → ContentRead. `refuse_enrolled=False`:
    exactly check_forced's answers (no `already_enrolled`)."""
    if not records:
        return []
    contents = {} if contents is None else contents
    policy = records[0].subsidy_access_policy
    shared = _Shared(policy, records, contents, refuse_enrolled=refuse_enrolled)
    return [shared.check(record) for record in records]


class _Shared:
    def __init__(self, policy, records, contents: dict, *, refuse_enrolled: bool) -> None:
        self.policy = policy
        self.refuse_enrolled = refuse_enrolled
        self.contents = contents
        ids = {record.lms_user_id for record in records}
        keys = {record.course_run_key for record in records}
        self.plain = reads_and_writes_nothing_of_its_own(policy.strategy)
        self.links = {
            link.lms_user_id: link
            for link in EnterpriseCustomerUser.objects.filter(customer_id=policy.customer_id, lms_user_id__in=ids)
        }
        self.ledgers = ledger_reads.learner_ledgers(policy.pk, ids)
        self.standing = standing_pairs(policy_id=policy.pk, lms_user_ids=ids, course_run_keys=keys)
        runs = [self._content(key).run for key in keys]
        enrolled = Enrollment.objects.filter(
            active=True, lms_user_id__in=ids, course_run_id__in=[run.pk for run in runs if run is not None]
        )
        self.enrolled = set(enrolled.values_list("lms_user_id", "course_run_id"))
        self.totals = ledger_reads.running_totals(subsidy=policy.subsidy_id, policy_uuid=policy.pk)

    def _content(self, key: str):
        return read_content_once(self.contents, self.policy, key)

    def check(self, record: ForcedPolicyRedemption) -> ForcedCheck:
        content = self._content(record.course_run_key)
        run, link = content.run, self.links.get(record.lms_user_id)
        learner = self.ledgers.get(record.lms_user_id, ledger_reads.LearnerLedger(()))
        plain = (
            self.plain
            and run is not None
            and not run.course.is_exec_ed
            and not content.policy_has_groups
            and link is not None
            and link.active
            and (record.lms_user_id, record.course_run_key) not in self.standing
            and learner.live_uuid_for_content(self.policy.subsidy_id, run.key) is None
        )
        if not plain:
            return check_forced(record)
        link.in_groups = False
        ctx = build_context(
            self.policy,
            lms_user_id=record.lms_user_id,
            content_key=run.key,
            forced=True,
            price_cents=record.content_price_cents,
            link=link,
            content=content,
            totals=self.totals,
            learner_spend=learner.spend(),
        )
        verdict = evaluate(ctx)
        if not verdict.can_redeem:
            return check_forced(record)  # its own words for the refusal
        if self.refuse_enrolled and (record.lms_user_id, run.pk) in self.enrolled:
            return ForcedCheck(
                False,
                ALREADY_ENROLLED,
                f"Learner {record.lms_user_id} is already enrolled in {run.key}: there is nothing to force.",
                **verdict_numbers(verdict),
            )
        return verdict_check(record, run, verdict)
