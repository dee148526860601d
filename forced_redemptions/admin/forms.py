"""The add/change form: field checks, then the services' own pre-write checks as form errors.

The services run the same checks again when the admin saves (under a lock, where they count); running
them here first is what turns a duplicate or a bad value into a form error instead of a failed save.
"""

from __future__ import annotations

from typing import Any

from django import forms

from common.admin import add_domain_error
from common.errors import DomainError
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.services import EDITABLE_FIELDS, ensure_not_duplicate, validate_fields


class ForcedRedemptionForm(forms.ModelForm):
    """`check_only=True` is the "Check redeemability" mode: only the fields the check needs must be valid."""

    class Meta:
        model = ForcedPolicyRedemption
        fields = EDITABLE_FIELDS

    def __init__(self, *args, check_only: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.check_only = check_only
        if check_only and "reason" in self.fields:
            self.fields["reason"].required = False  # the check writes nothing, so it needs no justification

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values the services take (the editable fields this form shows)."""
        return {name: self.cleaned_data[name] for name in EDITABLE_FIELDS if name in self.fields}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.check_only or self.errors:
            return data
        values = self.service_fields()
        if not self.instance._state.adding:
            # A change: the read-only (settled) fields keep the record's values.
            values = {name: getattr(self.instance, name) for name in EDITABLE_FIELDS} | values
        try:
            validate_fields(values)
            if not self.instance.redeemed_at:
                ensure_not_duplicate(
                    policy_id=values["subsidy_access_policy"].pk,
                    lms_user_id=values["lms_user_id"],
                    course_run_key=values["course_run_key"],
                    exclude_pk=self.instance.pk,
                )
        except DomainError as error:
            add_domain_error(self, error)
        return data
