"""What a failed forced redemption means for the staff who forced it, and what they do next.

The reason codes of policies/reasons.py carry the reference system's *learner* messages ("You can't enroll
right now because ..."); staff need to know which of the policy's rules said no and which record to fix.
The admin (messages, caution banner, confirmation pages) and the API's 422s read this one table.
"""

from __future__ import annotations

from policies import reasons

# What failed, said to staff, for the refusals whose recorded message is written for learners.
STAFF_SUMMARIES = {
    reasons.POLICY_EXPIRED: "the policy is inactive, retired or deleted",
    reasons.LEARNER_NOT_IN_ENTERPRISE: "the learner is not linked to the policy's customer (never linked, or unlinked)",
    reasons.LEARNER_NOT_IN_ENTERPRISE_GROUP: "the learner is linked to the customer but in none of the policy's groups",
    reasons.CONTENT_NOT_IN_CATALOG: "the run's course is not in the policy's catalog",
    reasons.BEYOND_ENROLLMENT_DEADLINE: "the run's enrollment deadline has passed",
    reasons.SUBSIDY_EXPIRED: "the subsidy is outside its active window (expired, or not active yet)",
    reasons.NOT_ENOUGH_VALUE_IN_SUBSIDY: "the subsidy's balance is below the price",
    reasons.POLICY_SPEND_LIMIT_REACHED: "the price would take the policy past its spend limit",
    reasons.LEARNER_MAX_ENROLLMENTS_REACHED: "the learner has used the policy's per-learner enrollment limit",
    reasons.LEARNER_MAX_SPEND_REACHED: "the price would take the learner past the policy's per-learner spend limit",
    reasons.LEARNER_NOT_ASSIGNED_CONTENT: "the learner has no assignment of this run under the assigned policy",
    reasons.LEARNER_ASSIGNMENT_CANCELLED: "the learner's assignment of this run was cancelled",
    reasons.LEARNER_ASSIGNMENT_FAILED: "the learner's assignment of this run errored",
    reasons.LEARNER_ASSIGNMENT_EXPIRED: "the learner's assignment of this run expired",
    reasons.LEARNER_ASSIGNMENT_REVERSED: "the learner's assignment of this run was reversed (refunded)",
}

_ALLOCATE_AGAIN = "allocate the run to the learner again (the policy's Allocate page), then redeem again."

NEXT_STEPS = {
    reasons.POLICY_EXPIRED: "choose an active policy of the customer, or reactivate this one (Subsidy access "
    "policies).",
    reasons.LEARNER_NOT_IN_ENTERPRISE: "link the learner to the customer (Customers → Learner links), or check the "
    "LMS user id.",
    reasons.LEARNER_NOT_IN_ENTERPRISE_GROUP: "add the learner to one of the policy's groups (Customers → Groups), or "
    "choose a policy without groups.",
    reasons.CONTENT_NOT_IN_CATALOG: "add the course to the policy's catalog (Catalog → Catalogs), or choose a policy "
    "whose catalog has it.",
    reasons.BEYOND_ENROLLMENT_DEADLINE: "forcing skips the deadline, so this should not happen: tell the developers.",
    reasons.SUBSIDY_EXPIRED: "extend the subsidy's active window, or use a policy on an active subsidy.",
    reasons.NOT_ENOUGH_VALUE_IN_SUBSIDY: "top up the subsidy (a deposit), or use a policy on a subsidy with enough "
    "balance; then redeem again.",
    reasons.POLICY_SPEND_LIMIT_REACHED: "raise the policy's spend limit, or use another policy; then redeem again.",
    reasons.LEARNER_MAX_ENROLLMENTS_REACHED: "raise the policy's per-learner enrollment limit, or use another policy.",
    reasons.LEARNER_MAX_SPEND_REACHED: "raise the policy's per-learner spend limit, or use another policy.",
    reasons.LEARNER_NOT_ASSIGNED_CONTENT: _ALLOCATE_AGAIN,
    reasons.LEARNER_ASSIGNMENT_CANCELLED: _ALLOCATE_AGAIN,
    reasons.LEARNER_ASSIGNMENT_FAILED: _ALLOCATE_AGAIN,
    reasons.LEARNER_ASSIGNMENT_EXPIRED: _ALLOCATE_AGAIN,
    reasons.LEARNER_ASSIGNMENT_REVERSED: _ALLOCATE_AGAIN,
    "learner_not_found": "check the LMS user id; a learner must be linked to the customer (Customers → Learner links) "
    "before anything can be forced for them.",
    "content_not_found": "check the course run key (Catalog → Course runs), or import the run first.",
    "missing_exec_ed_data": "fill in the Executive education fields, or give the external order reference of an order "
    "that already exists at the provider.",
    "invalid_requested_price": "enter the price as a whole number of cents, 0 or more (blank: the catalog price).",
    "duplicate_forced_redemption": "nothing, if the learner should stay enrolled; to force it again, reverse the "
    "standing one first.",
    "enrollment_error": "if the learner is already enrolled in the run there is nothing to do; otherwise fix what the "
    "message names, then redeem again.",
    "fulfillment_error": "read the provider's answer in the message (Fulfillment jobs keeps every call), fix the "
    "cause, then redeem again.",
    "downstream_unavailable": "the LMS or the provider did not answer: redeem again later.",
    "lock_wait_timeout": "another redemption held the subsidy at that moment: redeem again in a minute.",
    "too_many_failed_redemptions": "fix the cause of the earlier failures (see the attempts) before trying again.",
    "transaction_creation_error": "the ledger refused the transaction: fix what the message names, then redeem again.",
    "inactive_subsidy_creation_error": "the subsidy is not active: extend its active window, or use another policy.",
    "marked_failed_by_staff": "staff marked the downstream enrollment failed: redeem again to try with a new "
    "transaction.",
    "unexpected_error": "this is a bug: the traceback is on the record; tell the developers.",
}


def next_step(reason: str | None) -> str:
    """What staff do about a failure with this reason code ("" for a code without advice)."""
    return NEXT_STEPS.get(reason or "", "")


def staff_summary(reason: str | None, message: str) -> str:
    """What failed, for staff: the rule's staff wording when the recorded message is the learner's, else the message."""
    summary = STAFF_SUMMARIES.get(reason or "")
    return f"{summary[:1].upper()}{summary[1:]}." if summary else message


def explain(reason: str | None, message: str) -> str:
    """What failed and what to do next, in one sentence pair: the admin's messages and the API's 422s."""
    step = next_step(reason)
    text = staff_summary(reason, message)
    return f"{text} Next step: {step}" if step else text
