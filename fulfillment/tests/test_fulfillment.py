"""Fulfillment refuses what the run or the exec-ed provider would refuse, before anything is charged."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from catalog.models import ProductSource
from fulfillment.backends import EnrollmentRequest
from fulfillment.errors import EnrollmentRefused, MissingExecEdData
from fulfillment.models import Enrollment
from fulfillment.services import check_enrollable, enroll, unenroll
from policies.services import redeem
from subsidies.models import Transaction
from subsidies.selectors import balance_cents
from testing.factories import CourseFactory, CourseRunFactory, make_scenario

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
EXEC_ED_DATA = {
    "geag_first_name": "Ada",
    "geag_last_name": "Lovelace",
    "geag_email": "ada@example.com",
    "geag_date_of_birth": "1990-12-10",
    "geag_terms_accepted_at": "2026-01-31T12:00:00Z",
}


def _request(run, **kwargs) -> EnrollmentRequest:
    return EnrollmentRequest(lms_user_id=4242, run=run, transaction_uuid=uuid.uuid4(), **kwargs)


@pytest.mark.parametrize(
    "run_fields",
    [{"is_enrollable": False}, {"enroll_by": timezone.now() - DAY}],
    ids=["not enrollable", "past enroll_by"],
)
def test_closed_run_is_refused_unless_late_enrollment_is_allowed(run_fields):
    run = CourseRunFactory(**run_fields)

    with pytest.raises(EnrollmentRefused) as refused:
        enroll(_request(run))
    assert refused.value.reason == "enrollment_error"
    assert run.key in refused.value.message
    assert not Enrollment.objects.exists()

    enrollment = enroll(_request(run, metadata={"allow_late_enrollment": True}))
    assert enrollment.active and enrollment.forced


def test_only_a_true_allow_late_enrollment_opens_a_closed_run():
    run = CourseRunFactory(is_enrollable=False)
    for not_true in ("true", 1, "yes"):
        with pytest.raises(EnrollmentRefused):
            check_enrollable(_request(run, metadata={"allow_late_enrollment": not_true}))


def test_a_second_active_enrollment_in_the_same_run_is_refused_and_unenroll_makes_room():
    run = CourseRunFactory()
    first = enroll(_request(run))
    with pytest.raises(EnrollmentRefused, match="already enrolled"):
        enroll(_request(run))

    assert unenroll(transaction_uuid=first.transaction_uuid) == first
    assert unenroll(transaction_uuid=first.transaction_uuid) is None  # idempotent
    assert enroll(_request(run)).active


def test_redeeming_a_closed_run_is_refused_before_anything_is_charged():
    s = make_scenario(run_fields={"is_enrollable": False})

    with pytest.raises(EnrollmentRefused):
        redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)

    assert not Transaction.objects.filter(lms_user_id=s.learner.lms_user_id).exists()
    assert not Enrollment.objects.exists()
    assert balance_cents(s.subsidy) == 1_000_000


def _exec_ed_scenario(**customer_fields):
    s = make_scenario(price_cents=150_000, run_fields={"course": CourseFactory(product_source=ProductSource.EXEC_ED)})
    for name, value in customer_fields.items():
        setattr(s.customer, name, value)
    s.customer.save()
    return s


def _redeem(s, metadata):
    return redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key, metadata=metadata)


def _assert_nothing_charged(s):
    assert not Transaction.objects.filter(lms_user_id=s.learner.lms_user_id).exists()
    assert not Enrollment.objects.exists()
    assert balance_cents(s.subsidy) == 1_000_000


def test_exec_ed_without_learner_data_is_refused_naming_each_missing_field_and_charging_nothing():
    s = _exec_ed_scenario()

    with pytest.raises(MissingExecEdData) as refused:
        _redeem(s, {"geag_first_name": "Ada", "geag_email": "  "})

    missing = ["last name", "email", "date of birth", "terms accepted at"]
    assert refused.value.details["missing"] == missing
    assert all(label in refused.value.message for label in missing)
    assert "first name" not in refused.value.message
    assert "Nothing was charged" in refused.value.message
    _assert_nothing_charged(s)


def test_exec_ed_redemption_with_full_data_records_the_provider_order():
    s = _exec_ed_scenario()

    entry = _redeem(s, EXEC_ED_DATA).transaction

    enrollment = Enrollment.objects.get(transaction_uuid=entry.uuid)
    assert enrollment.external_order_reference == f"local-order-{entry.uuid}"
    assert balance_cents(s.subsidy) == 1_000_000 - 150_000


def test_exec_ed_order_that_already_exists_at_the_provider_needs_no_learner_data():
    s = _exec_ed_scenario()

    entry = _redeem(s, {"fallback_external_fulfillment_reference_id": "GEAG-ORDER-77"}).transaction

    assert Enrollment.objects.get(transaction_uuid=entry.uuid).external_order_reference == "GEAG-ORDER-77"


@pytest.mark.parametrize("consent", [None, False, "true", "yes"])
def test_exec_ed_requires_data_sharing_consent_when_the_customer_does(consent):
    s = _exec_ed_scenario(data_sharing_consent_required=True)
    metadata = EXEC_ED_DATA if consent is None else {**EXEC_ED_DATA, "geag_data_share_consent": consent}

    with pytest.raises(MissingExecEdData) as refused:
        _redeem(s, metadata)

    assert refused.value.details["missing"] == ["data-sharing consent"]
    _assert_nothing_charged(s)
    assert _redeem(s, {**EXEC_ED_DATA, "geag_data_share_consent": True}).created


def test_exec_ed_does_not_ask_for_consent_when_the_customer_does_not_require_it():
    s = _exec_ed_scenario(data_sharing_consent_required=False)
    assert _redeem(s, EXEC_ED_DATA).created


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("geag_date_of_birth", "10/12/1990", "date of birth must be YYYY-MM-DD"),
        ("geag_date_of_birth", "1990-02-30", "date of birth must be YYYY-MM-DD"),
        ("geag_terms_accepted_at", "2026-01-31", "terms accepted at must look like"),
        ("geag_terms_accepted_at", "2026-01-31T12:00:00+00:00", "terms accepted at must look like"),
    ],
)
def test_malformed_exec_ed_dates_are_refused_before_anything_is_charged(field, value, complaint):
    s = _exec_ed_scenario()

    with pytest.raises(MissingExecEdData) as refused:
        _redeem(s, {**EXEC_ED_DATA, field: value})

    assert complaint in refused.value.message
    _assert_nothing_charged(s)
