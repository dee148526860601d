"""Policy invariants, checked by the model's clean() (admin forms) and by the services (API)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.db.models.functions import Coalesce

from policies.models import AccessMethod, PolicyType, SubsidyAccessPolicy
from subsidies import selectors as ledger_reads


def validate_policy(policy: SubsidyAccessPolicy) -> None:
    """Raise django ValidationError with per-field messages. Reads, never writes."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if policy.subsidy_id and policy.customer_id and policy.subsidy.customer_id != policy.customer_id:
        add("subsidy", "The subsidy belongs to another customer.")
    if policy.catalog_id and policy.customer_id and policy.catalog.customer_id != policy.customer_id:
        add("catalog", "The catalog belongs to another customer.")

    assigned = policy.policy_type == PolicyType.ASSIGNED
    if assigned and policy.spend_limit_cents is None:
        add("spend_limit_cents", "An assigned learner credit policy needs a spend limit.")
    if assigned and policy.access_method != AccessMethod.ASSIGNED:
        add("access_method", "An assigned learner credit policy uses the 'assigned' access method.")
    if not assigned and policy.access_method == AccessMethod.ASSIGNED:
        add("access_method", "Only an assigned learner credit policy uses the 'assigned' access method.")
    if policy.per_learner_enrollment_limit is not None and policy.policy_type != PolicyType.PER_LEARNER_ENROLLMENT:
        add(
            "per_learner_enrollment_limit",
            "Only a per-learner enrollment cap policy has an enrollment limit.",
        )
    if policy.per_learner_spend_limit_cents is not None and policy.policy_type != PolicyType.PER_LEARNER_SPEND:
        add(
            "per_learner_spend_limit_cents",
            "Only a per-learner spend cap policy has a per-learner spend limit.",
        )

    if policy.subsidy_id and policy.active and policy.spend_limit_cents is not None:
        others = (
            SubsidyAccessPolicy.objects.filter(subsidy_id=policy.subsidy_id, active=True)
            .exclude(pk=policy.pk)
            .aggregate(total=Coalesce(Sum("spend_limit_cents"), 0))["total"]
        )
        deposits = ledger_reads.total_deposits_cents(policy.subsidy_id)
        if others + policy.spend_limit_cents > deposits:
            add(
                "spend_limit_cents",
                f"The spend limits of the active policies on this subsidy would total "
                f"{others + policy.spend_limit_cents} cents, more than its deposits of {deposits} cents.",
            )

    if not policy._state.adding and policy.spend_limit_cents is not None:
        spent = ledger_reads.policy_spend(policy.pk)["spent_cents"]
        if policy.spend_limit_cents < spent:
            add(
                "spend_limit_cents",
                f"The policy has already spent {spent} cents (pending and committed redemptions); its spend limit "
                f"cannot be lower than that.",
            )

    if not policy._state.adding and not policy.active:
        was_active = SubsidyAccessPolicy.all_objects.filter(pk=policy.pk, active=True).exists()
        if was_active and ledger_reads.policy_spend(policy.pk)["spent_cents"] > 0:
            add("active", "A policy that has spend cannot be deactivated; retire it instead.")

    if errors:
        raise ValidationError(errors)
