"""Reason codes and user messages for refused redemptions: the reference system's strings, kept."""

POLICY_EXPIRED = "policy_expired"
LEARNER_NOT_IN_ENTERPRISE = "learner_not_in_enterprise"
LEARNER_NOT_IN_ENTERPRISE_GROUP = "learner_not_in_enterprise_group"
CONTENT_NOT_IN_CATALOG = "content_not_in_catalog"
BEYOND_ENROLLMENT_DEADLINE = "beyond_enrollment_deadline"
SUBSIDY_EXPIRED = "subsidy_expired"
NOT_ENOUGH_VALUE_IN_SUBSIDY = "not_enough_value_in_subsidy"
POLICY_SPEND_LIMIT_REACHED = "policy_spend_limit_reached"
LEARNER_MAX_ENROLLMENTS_REACHED = "learner_max_enrollments_reached"
LEARNER_MAX_SPEND_REACHED = "learner_max_spend_reached"
LEARNER_NOT_ASSIGNED_CONTENT = "reason_learner_not_assigned_content"
LEARNER_ASSIGNMENT_CANCELLED = "reason_learner_assignment_cancelled"
LEARNER_ASSIGNMENT_FAILED = "reason_learner_assignment_failed"
LEARNER_ASSIGNMENT_EXPIRED = "reason_learner_assignment_expired"
LEARNER_ASSIGNMENT_REVERSED = "reason_learner_assignment_reversed"

_PREFIX = "You can't enroll right now because "

USER_MESSAGES = {
    POLICY_EXPIRED: _PREFIX + "this learner credit budget is no longer available.",
    LEARNER_NOT_IN_ENTERPRISE: _PREFIX + "your account is not associated with the organization.",
    LEARNER_NOT_IN_ENTERPRISE_GROUP: _PREFIX + "your account is not in a group that can use this budget.",
    CONTENT_NOT_IN_CATALOG: _PREFIX + "this course is not in your organization's catalog.",
    BEYOND_ENROLLMENT_DEADLINE: _PREFIX + "the enrollment deadline for this course has passed.",
    SUBSIDY_EXPIRED: _PREFIX + "your organization's learner credit has expired or is not active yet.",
    NOT_ENOUGH_VALUE_IN_SUBSIDY: _PREFIX + "your organization doesn't have enough funds.",
    POLICY_SPEND_LIMIT_REACHED: _PREFIX + "your organization's budget for this spending has been used up.",
    LEARNER_MAX_ENROLLMENTS_REACHED: _PREFIX + "you have reached the number of enrollments your organization allows.",
    LEARNER_MAX_SPEND_REACHED: _PREFIX + "you have reached the spend limit your organization set for you.",
    LEARNER_NOT_ASSIGNED_CONTENT: _PREFIX + "this course has not been assigned to you.",
    LEARNER_ASSIGNMENT_CANCELLED: _PREFIX + "your assignment for this course was cancelled.",
    LEARNER_ASSIGNMENT_FAILED: _PREFIX + "your assignment for this course failed; contact your administrator.",
    LEARNER_ASSIGNMENT_EXPIRED: _PREFIX + "your assignment for this course has expired.",
    LEARNER_ASSIGNMENT_REVERSED: _PREFIX + "your enrollment from this assignment was refunded.",
}

ALL_REASONS = tuple(USER_MESSAGES)


def user_message(reason: str) -> str:
    return USER_MESSAGES[reason]
