"""Checks of a forced redemption's fields, and the rule against a second standing one."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from catalog.models import CourseRun
from common.errors import InvalidInput
from common.money import format_cents
from forced_redemptions.errors import DuplicateForcedRedemption
from forced_redemptions.models import ForcedPolicyRedemption, ForcedState
from forced_redemptions.services.reversal import reversal_of, settle_if_reversed
from fulfillment.services import TERMS_FORMAT
from policies.models import SubsidyAccessPolicy

SETTLED_FIELDS = ("subsidy_access_policy", "lms_user_id", "course_run_key", "content_price_cents")

# What the external exec-ed provider needs, kept on the record so a later retry still has it.
EXEC_ED_FIELDS = (
    "learner_first_name",
    "learner_last_name",
    "learner_date_of_birth",
    "learner_terms_accepted_at",
    "learner_data_share_consent",
    "external_order_reference",
)

EDITABLE_FIELDS = (*SETTLED_FIELDS, "price_justification", "wait_to_redeem", "reason", *EXEC_ED_FIELDS)

# A date of birth outside these ages is a typo (a wrong year), not a learner.
MIN_LEARNER_AGE_YEARS = 13
MAX_LEARNER_AGE_YEARS = 120


def validate_fields(fields: dict[str, Any]) -> None:
    """Field-by-field checks that need no lock. Raises InvalidInput naming each bad field."""
    errors: dict[str, list[str]] = {}
    if not isinstance(fields.get("subsidy_access_policy"), SubsidyAccessPolicy):
        errors["subsidy_access_policy"] = ["Choose a subsidy access policy."]
    lms_user_id = fields.get("lms_user_id")
    if not isinstance(lms_user_id, int) or isinstance(lms_user_id, bool) or lms_user_id <= 0:
        errors["lms_user_id"] = ["Enter the learner's LMS user id (a positive whole number)."]
    if not str(fields.get("course_run_key") or "").strip():
        errors["course_run_key"] = ["Enter the course run key, e.g. course-v1:edX+DemoX+1T2042."]
    price = fields.get("content_price_cents")
    if price is not None and (not isinstance(price, int) or isinstance(price, bool) or price < 0):
        errors["content_price_cents"] = ["Enter a whole number of cents, 0 or more, or leave blank for the list price."]
    if not str(fields.get("reason") or "").strip():
        errors["reason"] = ["Say why this redemption is forced (e.g. a support ticket reference)."]
    if "content_price_cents" not in errors and (problem := _unjustified_price(fields)):
        errors["price_justification"] = [problem]
    if problem := _date_of_birth_problem(fields.get("learner_date_of_birth")):
        errors["learner_date_of_birth"] = [problem]
    if problem := _terms_accepted_problem(fields.get("learner_terms_accepted_at")):
        errors["learner_terms_accepted_at"] = [problem]
    if errors:
        raise InvalidInput("The forced redemption is invalid; nothing was saved.", field_errors=errors)


def _unjustified_price(fields: dict[str, Any]) -> str | None:
    """A price other than the run's catalog price needs a justification (a blank price is the catalog's)."""
    price = fields.get("content_price_cents")
    if price is None or str(fields.get("price_justification") or "").strip():
        return None
    runs = CourseRun.objects.filter(key=str(fields.get("course_run_key") or ""))
    catalog_price = runs.values_list("price_cents", flat=True).first()
    if catalog_price is None or catalog_price == price:
        return None  # an unknown run is refused on its own
    return (
        f"The price {format_cents(price)} differs from the run's catalog price {format_cents(catalog_price)}: "
        f"say why (e.g. the contract's price and its ticket), or leave the price blank."
    )


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _date_of_birth_problem(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        return "Enter the date of birth as YYYY-MM-DD, e.g. 1990-12-09."
    today = timezone.now().date()
    if value > today:
        return f"The date of birth {value.isoformat()} is in the future: check the year."
    if value > _years_before(today, MIN_LEARNER_AGE_YEARS):
        return (
            f"With a date of birth of {value.isoformat()} the learner would be under {MIN_LEARNER_AGE_YEARS}: "
            f"check the year."
        )
    if value <= _years_before(today, MAX_LEARNER_AGE_YEARS):
        return (
            f"With a date of birth of {value.isoformat()} the learner would be {MAX_LEARNER_AGE_YEARS} or older: "
            f"check the year."
        )
    return None


def _terms_accepted_problem(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        return "Enter when the learner accepted the terms in ISO 8601, e.g. 2026-01-31T12:00:00Z."
    if value.tzinfo is None:
        return "Give the time the terms were accepted with its time zone (UTC: end it with Z)."
    if value > timezone.now():
        return f"The terms cannot have been accepted in the future ({value.astimezone(dt.UTC).strftime(TERMS_FORMAT)})."
    return None


# The states in which saving a record (with "wait to redeem" unticked) redeems it.
_REDEEMABLE_STATES = (ForcedState.WAITING, ForcedState.ERRORED)


def saving_redeems(record: ForcedPolicyRedemption, *, wait_to_redeem: bool) -> bool:
    """Whether saving `record` with this "wait to redeem" redeems (charges): a new, waiting or errored record
    not archived. Saving a pending, redeemed, reversed or archived one charges nothing."""
    if record.archived_at or (not record._state.adding and record.state not in _REDEEMABLE_STATES):
        return False
    return not wait_to_redeem


def standing_redemptions(*, policy_id, lms_user_id: int, course_run_key: str, exclude_pk=None):
    """Redeemed, unreversed forced redemptions of the same three (maybe reversed in the ledger since)."""
    return ForcedPolicyRedemption.objects.filter(
        subsidy_access_policy_id=policy_id, lms_user_id=lms_user_id, course_run_key=course_run_key, **_STANDING
    ).exclude(pk=exclude_pk)


def standing_pairs(*, policy_id, lms_user_ids, course_run_keys) -> set[tuple[int, str]]:
    """(learner, run) of the standing forced redemptions among these learners and runs under one policy."""
    return set(
        ForcedPolicyRedemption.objects.filter(
            subsidy_access_policy_id=policy_id,
            lms_user_id__in=list(lms_user_ids),
            course_run_key__in=list(course_run_keys),
            **_STANDING,
        ).values_list("lms_user_id", "course_run_key")
    )


_STANDING = {"redeemed_at__isnull": False, "reversed_at__isnull": True}


def ensure_not_duplicate(
    *, policy_id, lms_user_id: int, course_run_key: str, exclude_pk=None, settle: bool = True
) -> None:
    """Refuse a second forced redemption of the same three while a redeemed, unreversed one stands.

    A redeemed record whose transaction was reversed in the ledger no longer stands: it is settled as
    reversed here (unless `settle=False`, for dry runs that write nothing) and the new one may proceed.
    """
    redeemed = standing_redemptions(
        policy_id=policy_id, lms_user_id=lms_user_id, course_run_key=course_run_key, exclude_pk=exclude_pk
    )
    for record in redeemed:
        # Read first, lock only a record that no longer stands: a caller may already hold ledger locks,
        # and a standing record's lock comes before them (see reverse_forced_redemption).
        if reversal_of(record) is None:
            raise DuplicateForcedRedemption(
                f"Learner {lms_user_id} was already force-redeemed into {course_run_key} under this policy "
                f"(forced redemption {record.uuid}, transaction {record.transaction_uuid}). Reverse it first "
                f"(refund and unenroll) if a new redemption is really needed.",
                existing_uuid=str(record.uuid),
            )
        if settle:
            settle_if_reversed(ForcedPolicyRedemption.objects.select_for_update().get(pk=record.pk))
