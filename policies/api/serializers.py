"""Serializers of the policies API: policies, assignments, redemption requests and answers."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from assignments.models import LearnerContentAssignment
from catalog.models import Catalog
from common.api import MAX_TEXT_CHARS, CentsField, LmsUserIdField, MetadataField, StrictFieldsMixin, StrictSerializer
from customers.models import EnterpriseCustomer, EnterpriseGroup
from policies.models import SubsidyAccessPolicy
from subsidies.api import TransactionSerializer
from subsidies.models import Subsidy

MAX_COUNT = 2_147_483_647  # a PositiveIntegerField on every database

# Set by the redemption itself (forcing, late window), never by a caller.
RESERVED_METADATA_KEYS = ("allow_late_enrollment", "forced_redemption_uuid", "forced_redemption_reason")


def _no_reserved_keys(metadata: dict) -> dict:
    reserved = sorted(set(metadata) & set(RESERVED_METADATA_KEYS))
    if reserved:
        raise serializers.ValidationError(f"Reserved keys may not be sent: {', '.join(reserved)}.")
    return metadata


class PolicySerializer(StrictFieldsMixin, serializers.ModelSerializer):
    enterprise_customer_uuid = serializers.PrimaryKeyRelatedField(
        source="customer", queryset=EnterpriseCustomer.objects.all()
    )
    catalog_uuid = serializers.PrimaryKeyRelatedField(source="catalog", queryset=Catalog.objects.all())
    subsidy_uuid = serializers.PrimaryKeyRelatedField(source="subsidy", queryset=Subsidy.objects.all())
    group_uuids = serializers.SlugRelatedField(
        source="groups",
        slug_field="uuid",
        queryset=EnterpriseGroup.objects.all(),
        many=True,
        required=False,
        help_text="Only learners in one of these groups may redeem; empty = every linked learner.",
    )
    spend_limit_cents = CentsField(required=False, allow_null=True, help_text="Empty = no limit.")
    per_learner_spend_limit_cents = CentsField(required=False, allow_null=True)
    per_learner_enrollment_limit = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_COUNT, help_text="Redemptions per learner."
    )
    assignment_configuration_uuid = serializers.UUIDField(
        source="assignment_configuration_id", read_only=True, allow_null=True
    )
    priority = serializers.IntegerField(read_only=True, help_text="0 wins over 1.")
    subsidy_expiration_datetime = serializers.DateTimeField(source="subsidy.expiration_datetime", read_only=True)

    class Meta:
        model = SubsidyAccessPolicy
        fields = [
            "uuid",
            "policy_type",
            "enterprise_customer_uuid",
            "display_name",
            "description",
            "active",
            "retired",
            "catalog_uuid",
            "subsidy_uuid",
            "access_method",
            "spend_limit_cents",
            "per_learner_enrollment_limit",
            "per_learner_spend_limit_cents",
            "late_redemption_allowed_until",
            "group_uuids",
            "assignment_configuration_uuid",
            "priority",
            "subsidy_expiration_datetime",
            "created",
            "modified",
        ]
        read_only_fields = ["uuid", "created", "modified"]

    def validate(self, attrs):
        if self.instance is not None:
            for name, api_name in (("policy_type", "policy_type"), ("customer", "enterprise_customer_uuid")):
                if name in attrs and attrs[name] != getattr(self.instance, name):
                    raise serializers.ValidationError({api_name: ["Cannot change once the policy exists."]})
        customer = attrs.get("customer", getattr(self.instance, "customer", None))
        foreign = [str(g.pk) for g in attrs.get("groups", []) if customer is not None and g.customer_id != customer.pk]
        if foreign:
            raise serializers.ValidationError({"group_uuids": [f"Groups of another customer: {', '.join(foreign)}."]})
        return attrs


class AssignmentSerializer(serializers.ModelSerializer):
    assignment_configuration_uuid = serializers.UUIDField(source="assignment_configuration_id")

    class Meta:
        model = LearnerContentAssignment
        fields = [
            "uuid",
            "assignment_configuration_uuid",
            "learner_email",
            "lms_user_id",
            "content_key",
            "content_title",
            "content_quantity",
            "state",
            "transaction_uuid",
            "created",
            "modified",
        ]
        read_only_fields = fields


class AllocateSerializer(StrictSerializer):
    learner_emails = serializers.ListField(child=serializers.EmailField(), min_length=1, max_length=1000)
    content_key = serializers.CharField(max_length=255, help_text="The course run key to allocate.")
    content_price_cents = CentsField(help_text="Price allocated per learner, USD cents.")


class AllocationResultSerializer(serializers.Serializer):
    updated = AssignmentSerializer(many=True)
    created = AssignmentSerializer(many=True)
    no_change = AssignmentSerializer(many=True)


class RedeemSerializer(StrictSerializer):
    lms_user_id = LmsUserIdField(required=False, help_text="Defaults to the caller's own learner identity.")
    content_key = serializers.CharField(max_length=255, help_text="The course run key.")
    metadata = MetadataField(required=False, default=dict, validators=[_no_reserved_keys])


class CanRedeemQuerySerializer(serializers.Serializer):
    content_key = serializers.ListField(
        child=serializers.CharField(max_length=255), min_length=1, max_length=100, help_text="Repeatable."
    )
    lms_user_id = LmsUserIdField(required=False, help_text="Staff (or the customer's admins) only.")


class PriceSerializer(serializers.Serializer):
    usd = serializers.DecimalField(max_digits=20, decimal_places=2, coerce_to_string=False)
    usd_cents = serializers.IntegerField()

    @staticmethod
    def of(cents: int | None) -> dict | None:
        return None if cents is None else {"usd": Decimal(cents) / 100, "usd_cents": cents}


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()
    user_message = serializers.CharField()
    metadata = serializers.DictField()
    policy_uuids = serializers.ListField(child=serializers.UUIDField())


class CanRedeemResultSerializer(serializers.Serializer):
    content_key = serializers.CharField()
    list_price = PriceSerializer(allow_null=True)
    redemptions = TransactionSerializer(many=True)
    has_successful_redemption = serializers.BooleanField()
    redeemable_subsidy_access_policy = PolicySerializer(allow_null=True)
    can_redeem = serializers.BooleanField()
    reasons = ReasonSerializer(many=True)
    display_reason = ReasonSerializer(allow_null=True)


class CreditsQuerySerializer(serializers.Serializer):
    enterprise_customer_uuid = serializers.UUIDField()
    lms_user_id = LmsUserIdField(required=False, help_text="Defaults to the caller's own learner identity.")


class CreditSerializer(PolicySerializer):
    remaining_balance_per_user = serializers.IntegerField(
        allow_null=True, help_text="USD cents the learner may still spend under a per-learner spend cap."
    )
    remaining_balance = serializers.IntegerField(help_text="USD cents left to spend under this policy.")
    subsidy_expiration_date = serializers.DateTimeField()

    class Meta(PolicySerializer.Meta):
        fields = [
            *PolicySerializer.Meta.fields,
            "remaining_balance_per_user",
            "remaining_balance",
            "subsidy_expiration_date",
        ]
        read_only_fields = fields


def _no_caller_reserved_keys(metadata: dict | None) -> dict | None:
    """The ledger's callers are operators: `allow_late_enrollment` is theirs to send; the forcing keys are not."""
    reserved = sorted(set(metadata or {}) & (set(RESERVED_METADATA_KEYS) - {"allow_late_enrollment"}))
    if reserved:
        raise serializers.ValidationError(f"Reserved keys may not be sent: {', '.join(reserved)}.")
    late = (metadata or {}).get("allow_late_enrollment", False)
    if not isinstance(late, bool):
        raise serializers.ValidationError("allow_late_enrollment must be true or false.")
    return metadata


class TransactionCreateSerializer(StrictSerializer):
    """The body enterprise-subsidy's client sends (v1 and v2): `subsidy_uuid` is the URL's on v2."""

    subsidy_uuid = serializers.UUIDField(required=False, help_text="Required on v1; on v2, if sent, the URL's.")
    lms_user_id = LmsUserIdField()
    content_key = serializers.CharField(max_length=255)
    subsidy_access_policy_uuid = serializers.UUIDField()
    idempotency_key = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        help_text="The transaction's key: a repeat returns that transaction (200); the same key for another "
        "learner, content or price is refused (422). Without one the ledger derives a key from (policy, learner, "
        "content, earlier failures), so repeats are exactly-once anyway.",
    )
    requested_price_cents = CentsField(required=False, allow_null=True, help_text="At most the run's list price.")
    metadata = MetadataField(
        required=False,
        allow_null=True,
        default=dict,
        validators=[_no_caller_reserved_keys],
        help_text='`{"allow_late_enrollment": true}` enrolls past the run\'s deadline (the operator decides).',
    )


class ReverseSerializer(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_TEXT_CHARS)
