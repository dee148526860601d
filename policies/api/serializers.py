"""Serializers of the policies API: policies, assignments, redemption requests and answers."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey
from rest_framework import serializers

from assignments.models import LearnerContentAssignment
from catalog.models import Catalog
from common.api import MAX_TEXT_CHARS, CentsField, LmsUserIdField, MetadataField, StrictFieldsMixin, StrictSerializer
from customers.models import EnterpriseCustomer, EnterpriseGroup
from policies.models import SubsidyAccessPolicy
from subsidies.api import TransactionSerializer
from subsidies.api.transactions import public_url
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


class ReferencePolicySerializer(serializers.ModelSerializer):
    """A policy as enterprise-access shows it in can-redeem (amounts in USD cents, its names)."""

    policy_redemption_url = serializers.SerializerMethodField(help_text="POST here to redeem (absolute).")
    is_late_redemption_allowed = serializers.SerializerMethodField()
    enterprise_customer_uuid = serializers.UUIDField(source="customer_id")
    catalog_uuid = serializers.UUIDField(source="catalog_id")
    subsidy_uuid = serializers.UUIDField(source="subsidy_id")
    spend_limit = serializers.IntegerField(source="spend_limit_cents", allow_null=True, help_text="USD cents.")
    per_learner_spend_limit = serializers.IntegerField(
        source="per_learner_spend_limit_cents", allow_null=True, help_text="USD cents."
    )
    assignment_configuration = serializers.UUIDField(source="assignment_configuration_id", allow_null=True)
    learner_credit_request_config = serializers.SerializerMethodField(help_text="Always null: no requests here.")

    class Meta:
        model = SubsidyAccessPolicy
        fields = [
            "uuid",
            "policy_redemption_url",
            "is_late_redemption_allowed",
            "policy_type",
            "enterprise_customer_uuid",
            "display_name",
            "description",
            "active",
            "learner_credit_request_config",
            "retired",
            "retired_at",
            "catalog_uuid",
            "subsidy_uuid",
            "access_method",
            "spend_limit",
            "assignment_configuration",
            "late_redemption_allowed_until",
            "per_learner_enrollment_limit",
            "per_learner_spend_limit",
        ]
        read_only_fields = fields

    def get_policy_redemption_url(self, policy) -> str:
        return public_url(self.context.get("request"), f"/api/v1/policy-redemption/{policy.pk}/redeem/")

    def get_is_late_redemption_allowed(self, policy) -> bool:
        return policy.is_late_redemption_allowed()

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_learner_credit_request_config(self, policy):
        return None


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


class ContentKeyField(serializers.CharField):
    """A course run key, as enterprise-access reads one (edx-opaque-keys' CourseKey): else a 400 naming it."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 255)
        kwargs.setdefault("help_text", "A course run key, e.g. course-v1:edX+DemoX+2T2024.")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            CourseKey.from_string(value)
        except InvalidKeyError as error:
            raise serializers.ValidationError(
                f"Invalid content_key: {value} (a course run key looks like course-v1:Org+Course+Run)."
            ) from error
        return value


class RedeemSerializer(StrictSerializer):
    lms_user_id = LmsUserIdField(required=False, help_text="Defaults to the caller's own learner identity.")
    content_key = ContentKeyField()
    metadata = MetadataField(required=False, default=dict, validators=[_no_reserved_keys])


class CanRedeemQuerySerializer(serializers.Serializer):
    content_key = serializers.ListField(child=ContentKeyField(), min_length=1, max_length=100, help_text="Repeatable.")
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
    redeemable_subsidy_access_policy = ReferencePolicySerializer(allow_null=True)
    can_redeem = serializers.BooleanField()
    reasons = ReasonSerializer(many=True)
    display_reason = ReasonSerializer(allow_null=True)


class CreditsQuerySerializer(serializers.Serializer):
    enterprise_customer_uuid = serializers.UUIDField()
    lms_user_id = LmsUserIdField(required=False, help_text="Defaults to the caller's own learner identity.")


class AssignmentActionSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Actions are numbered here (the reference gives them a uuid).")
    action_type = serializers.CharField()
    completed_at = serializers.DateTimeField(allow_null=True)
    error_reason = serializers.CharField(allow_null=True, allow_blank=True)
    learner_acknowledged = serializers.BooleanField()
    created = serializers.DateTimeField()
    modified = serializers.DateTimeField()


class CreditAssignmentSerializer(AssignmentSerializer):
    """An assignment in credits_available, as enterprise-access lists the ones the learner has not acknowledged."""

    assignment_configuration = serializers.UUIDField(source="assignment_configuration_id")
    parent_content_key = serializers.SerializerMethodField()
    is_assigned_course_run = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()
    learner_acknowledged = serializers.SerializerMethodField()

    class Meta(AssignmentSerializer.Meta):
        fields = [
            "uuid",
            "assignment_configuration",
            "learner_email",
            "lms_user_id",
            "content_key",
            "parent_content_key",
            "is_assigned_course_run",
            "content_title",
            "content_quantity",
            "state",
            "transaction_uuid",
            "actions",
            "learner_acknowledged",
            "created",
            "modified",
        ]
        read_only_fields = fields

    def get_parent_content_key(self, assignment) -> str | None:
        return self.context.get("parent_keys", {}).get(assignment.content_key)

    def get_is_assigned_course_run(self, assignment) -> bool:
        return True  # content is allocated by run here

    @extend_schema_field(AssignmentActionSerializer(many=True))
    def get_actions(self, assignment):
        return [
            {
                "id": action.pk,
                "action_type": action.action_type,
                "completed_at": action.completed_at,
                "error_reason": action.error_reason or None,
                "learner_acknowledged": False,
                "created": action.created,
                "modified": action.modified,
            }
            for action in assignment.actions.all()
        ]

    def get_learner_acknowledged(self, assignment) -> bool:
        return False


class CreditSerializer(ReferencePolicySerializer):
    remaining_balance_per_user = serializers.IntegerField(
        allow_null=True, help_text="USD cents the learner may still spend under a per-learner spend cap."
    )
    remaining_balance = serializers.IntegerField(help_text="USD cents left to spend under this policy.")
    subsidy_expiration_date = serializers.DateTimeField()
    learner_content_assignments = serializers.SerializerMethodField()
    learner_requests = serializers.SerializerMethodField(help_text="Always empty: no requests here.")
    group_associations = serializers.SerializerMethodField()

    class Meta(ReferencePolicySerializer.Meta):
        fields = [
            *ReferencePolicySerializer.Meta.fields,
            "remaining_balance_per_user",
            "remaining_balance",
            "subsidy_expiration_date",
            "learner_content_assignments",
            "learner_requests",
            "group_associations",
        ]
        read_only_fields = fields

    @extend_schema_field(CreditAssignmentSerializer(many=True))
    def get_learner_content_assignments(self, policy):
        return CreditAssignmentSerializer(policy.learner_content_assignments, many=True, context=self.context).data

    def get_learner_requests(self, policy) -> list[dict]:
        return []

    def get_group_associations(self, policy) -> list[str]:
        return [str(group.pk) for group in policy.groups.all()]


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
