"""Policy writes: saving a policy (validated under the subsidy lock), soft delete, and allocation."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assignments import selectors as assignment_selectors
from assignments import services as assignment_services
from assignments.models import AssignmentConfiguration, AssignmentState
from catalog.models import CourseRun
from catalog.selectors import catalog_contains_run
from common.locking import bound_lock_wait, lock_errors_as_domain
from customers.models import EnterpriseCustomerUser
from policies import reasons
from policies.errors import PolicyInvalid, RedemptionRefused
from policies.models import PolicyType, SubsidyAccessPolicy
from policies.redeemability import policy_refusal, subsidy_refusal
from subsidies import selectors as ledger_reads
from subsidies import services as ledger


def _full_clean(policy: SubsidyAccessPolicy) -> None:
    try:
        policy.full_clean(exclude=["assignment_configuration"])
    except ValidationError as error:
        field_errors = {name: [str(m) for m in msgs] for name, msgs in error.message_dict.items()}
        raise PolicyInvalid("The policy is invalid; nothing was saved.", field_errors=field_errors) from error


def save_policy(policy: SubsidyAccessPolicy, *, groups=None) -> SubsidyAccessPolicy:
    """Validate and save a new or changed policy (the admin and the API both come here).

    Locks the subsidy so two concurrent saves cannot together push spend limits past the deposits.
    An assigned policy gets its assignment configuration here.
    """
    with lock_errors_as_domain(), transaction.atomic():
        bound_lock_wait()
        if policy.subsidy_id is not None:  # without one, full_clean names the missing field
            ledger.lock_subsidy(policy.subsidy_id)
        _full_clean(policy)
        foreign = [g.name for g in groups or () if g.customer_id != policy.customer_id]
        if foreign:
            raise PolicyInvalid(
                "The policy is invalid; nothing was saved.",
                field_errors={"groups": [f"Not groups of this policy's customer: {', '.join(foreign)}."]},
            )
        if not policy.retired:
            policy.retired_at = None
        elif policy.retired_at is None:
            policy.retired_at = timezone.now()
        if policy.policy_type == PolicyType.ASSIGNED and policy.assignment_configuration_id is None:
            policy.assignment_configuration = AssignmentConfiguration.objects.create(customer_id=policy.customer_id)
        policy.save()
        if groups is not None:
            policy.groups.set(groups)
        return policy


def soft_delete_policy(policy: SubsidyAccessPolicy) -> SubsidyAccessPolicy:
    """Deleting a policy keeps its row (transactions refer to it) and stops all redemption."""
    policy.is_deleted = True
    policy.deleted_at = timezone.now()
    policy.save(update_fields=["is_deleted", "deleted_at", "modified"])
    return policy


def allocate(
    *, policy: SubsidyAccessPolicy, learner_emails: list[str], content_key: str, content_price_cents: int
) -> dict[str, list]:
    """Allocate content to learners under an assigned policy, within the subsidy balance and spend limit.

    Existing allocations count as spend. All or nothing. Returns {"created", "updated", "no_change"}.
    """
    if policy.policy_type != PolicyType.ASSIGNED:
        raise PolicyInvalid(
            "Only an assigned learner credit policy allocates content.",
            field_errors={"policy": ["Not an assigned learner credit policy."]},
        )
    errors: dict[str, list[str]] = {}
    emails = [e.strip().lower() for e in learner_emails if isinstance(e, str) and e.strip()]
    if not emails:
        errors["learner_emails"] = ["Give at least one learner email."]
    if not isinstance(content_price_cents, int) or isinstance(content_price_cents, bool) or content_price_cents < 0:
        errors["content_price_cents"] = ["Must be a whole number of cents, 0 or more."]
    run = CourseRun.objects.select_related("course").filter(key=content_key).first()
    if run is None or not catalog_contains_run(policy.catalog_id, run):
        errors["content_key"] = [f"{content_key!r} is not a course run in the policy's catalog."]
    if errors:
        raise PolicyInvalid("The allocation is invalid; nothing was allocated.", field_errors=errors)

    with lock_errors_as_domain(), transaction.atomic():
        bound_lock_wait()
        subsidy = ledger.lock_subsidy(policy.subsidy_id)
        policy = SubsidyAccessPolicy.all_objects.select_for_update().get(pk=policy.pk)
        policy.subsidy = subsidy
        if reason := policy_refusal(policy) or subsidy_refusal(policy, timezone.now()):
            raise RedemptionRefused(reason)
        config_id = policy.assignment_configuration_id
        existing = {
            (a.learner_email.lower()): a
            for a in policy.assignment_configuration.assignments.filter(content_key=content_key)
        }
        needed = 0
        for email in set(emails):
            current = existing.get(email)
            if current is None or current.state not in (AssignmentState.ALLOCATED, AssignmentState.ACCEPTED):
                needed += content_price_cents
            elif current.state == AssignmentState.ALLOCATED:
                needed += content_price_cents + current.content_quantity
        allocated = assignment_selectors.allocated_total_cents(config_id)
        balance = ledger_reads.balance_cents(subsidy)
        if needed + allocated > balance:
            raise RedemptionRefused(reasons.NOT_ENOUGH_VALUE_IN_SUBSIDY)
        spent = ledger_reads.policy_spend(policy.pk)["spent_cents"]
        if spent + allocated + needed > policy.spend_limit_cents:
            raise RedemptionRefused(reasons.POLICY_SPEND_LIMIT_REACHED)
        links = dict(
            EnterpriseCustomerUser.objects.filter(customer_id=policy.customer_id, email__in=emails).values_list(
                "email", "lms_user_id"
            )
        )
        outcome: dict[str, list] = {"created": [], "updated": [], "no_change": []}
        for email in dict.fromkeys(emails):
            assignment, result = assignment_services.allocate(
                configuration=policy.assignment_configuration,
                learner_email=email,
                lms_user_id=links.get(email),
                content_key=run.key,
                content_title=run.course.title,
                price_cents=content_price_cents,
            )
            outcome[result].append(assignment)
        return outcome
