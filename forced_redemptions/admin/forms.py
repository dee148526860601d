"""The add/change form: field checks, then the services' own pre-write checks as form errors.

The services run the same checks again when the admin saves (under a lock, where they count); running
them here first is what turns a duplicate, a bad value or an input no redemption can accept (an unknown
or unlinked learner, a run outside the catalog, missing exec-ed data) into a form error instead of a
failed save or an errored record.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.admin.widgets import AdminDateWidget

from common.admin import add_domain_error
from common.errors import DomainError
from forced_redemptions.errors import UnredeemableInput
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.selectors import require_redeemable_input
from forced_redemptions.services import EDITABLE_FIELDS, ensure_not_duplicate, saving_redeems, validate_fields
from fulfillment.services import TERMS_FORMAT

TERMS_EXAMPLE = "2026-01-31T12:00:00Z"


class IsoDateTimeField(forms.Field):
    """An ISO 8601 date and time, e.g. 2026-01-31T12:00:00Z; without an offset it is UTC. Cleaned to aware UTC."""

    widget = forms.TextInput(attrs={"class": "vTextField", "placeholder": TERMS_EXAMPLE})
    default_error_messages = {
        "invalid": f"Enter a date and time in ISO 8601, e.g. {TERMS_EXAMPLE} (UTC unless an offset such as "
        f"+02:00 is given)."
    }

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, dt.datetime):
            parsed = value
        else:
            text = str(value).strip()
            # A date alone is ISO 8601 too, but the time of acceptance is what the provider asks for.
            if len(text) < 16 or text[10] not in "Tt ":
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
            try:
                parsed = dt.datetime.fromisoformat(text)
            except ValueError:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)

    def prepare_value(self, value):
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC).strftime(TERMS_FORMAT)
        return value


class ForcedRedemptionForm(forms.ModelForm):
    """`check_only=True` is the "Check redeemability" mode: only the fields the check needs must be valid."""

    learner_date_of_birth = forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=AdminDateWidget(format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the date of birth as YYYY-MM-DD, e.g. 1990-12-09."},
        help_text="Exec-ed only. YYYY-MM-DD.",
    )
    learner_terms_accepted_at = IsoDateTimeField(
        required=False,
        help_text=f"Exec-ed only. When the learner accepted the provider's terms, ISO 8601 (e.g. {TERMS_EXAMPLE}); "
        f"UTC unless an offset is given.",
    )

    class Meta:
        model = ForcedPolicyRedemption
        fields = EDITABLE_FIELDS
        widgets = {"price_justification": forms.Textarea(attrs={"rows": 2, "cols": 80})}

    def __init__(self, *args, check_only: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.check_only = check_only
        if check_only and "reason" in self.fields:
            self.fields["reason"].required = False  # the check writes nothing, so it needs no justification

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values the services take (the editable fields this form shows)."""
        return {name: self.cleaned_data[name] for name in EDITABLE_FIELDS if name in self.fields}

    @property
    def redeems(self) -> bool:
        """Whether saving these values redeems (charges): "Wait to redeem" unticked on a new, waiting or errored
        record. Saving a pending, redeemed, reversed or archived one charges nothing."""
        data = getattr(self, "cleaned_data", {})
        return saving_redeems(self.instance, wait_to_redeem=data.get("wait_to_redeem", self.instance.wait_to_redeem))

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
                    # A check writes nothing: a record reversed in the ledger is settled by the service, in its
                    # transaction (settling here would lock a row outside any transaction).
                    settle=False,
                )
            if self.redeems:
                require_redeemable_input(ForcedPolicyRedemption(uuid=self.instance.uuid, **values))
        except UnredeemableInput as error:
            self._add_input_errors(error)
        except DomainError as error:
            add_domain_error(self, error)
        return data

    def _add_input_errors(self, error: UnredeemableInput) -> None:
        """Each problem on its field, and what failed with the next step on top."""
        for name, messages in error.field_errors.items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        self.add_error(None, f"{error.message} ({error.reason})")
