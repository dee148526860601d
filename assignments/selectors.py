"""Reads about assignments."""

from __future__ import annotations

from uuid import UUID

from django.db.models import Sum
from django.db.models.functions import Coalesce

from assignments.models import AssignmentState, LearnerContentAssignment


def allocated_total_cents(configuration_id: UUID | None) -> int:
    """Cents held by allocated (not yet redeemed) assignments: pending spend against the policy."""
    if configuration_id is None:
        return 0
    total = LearnerContentAssignment.objects.filter(
        assignment_configuration_id=configuration_id, state=AssignmentState.ALLOCATED
    ).aggregate(total=Coalesce(Sum("content_quantity"), 0))["total"]
    return -total


def learner_assignment(
    *, configuration_id: UUID | None, lms_user_id: int, email: str, content_key: str
) -> LearnerContentAssignment | None:
    """The learner's assignment for this content (matched by lms_user_id, else by email)."""
    if configuration_id is None:
        return None
    qs = LearnerContentAssignment.objects.filter(assignment_configuration_id=configuration_id, content_key=content_key)
    return qs.filter(lms_user_id=lms_user_id).first() or qs.filter(learner_email__iexact=email).first()


def learner_assignments(configuration_id: UUID | None, *, lms_user_id: int) -> list[LearnerContentAssignment]:
    """The learner's assignments under one configuration, with their action timelines, oldest first."""
    if configuration_id is None:
        return []
    return list(
        LearnerContentAssignment.objects.filter(assignment_configuration_id=configuration_id, lms_user_id=lms_user_id)
        .prefetch_related("actions")
        .order_by("created")
    )
