"""Shared set-up for the forced-redemption tests: the demo's policies, a `force()` shortcut, and a
footprint of what a learner has in the ledger and in fulfillment (to prove nothing moved)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Permission
from django.db import transaction
from django.urls import reverse

from demo import data as demo_data
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.services import create_forced_redemption
from fulfillment.models import Enrollment
from policies.models import SubsidyAccessPolicy
from subsidies import services as ledger
from subsidies.models import Transaction, TransactionState
from subsidies.selectors import balance_cents

REASON = "SUP-4242: the run closed before the learner could enroll"
PRICE_JUSTIFICATION = "SUP-4242: the contract's price for this learner"
UNKNOWN_RUN = "course-v1:DemoU+Nowhere999+2024_T1"
UNKNOWN_LEARNER = 999_999


def add_url() -> str:
    return reverse("admin:forced_redemptions_forcedpolicyredemption_add")


def changelist_url() -> str:
    return reverse("admin:forced_redemptions_forcedpolicyredemption_changelist")


def check_url() -> str:
    return reverse("admin:forced_redemptions_forcedpolicyredemption_check")


def change_url(record: ForcedPolicyRedemption) -> str:
    return reverse("admin:forced_redemptions_forcedpolicyredemption_change", args=[record.pk])


def check_existing_url(record: ForcedPolicyRedemption) -> str:
    return reverse("admin:forced_redemptions_forcedpolicyredemption_check_existing", args=[record.pk])


def reverse_page_url(record: ForcedPolicyRedemption) -> str:
    return reverse("admin:forced_redemptions_forcedpolicyredemption_reverse", args=[record.pk])


def spend_policy() -> SubsidyAccessPolicy:
    return SubsidyAccessPolicy.objects.get(pk=demo_data.SPEND_POLICY_UUID)


def enrollment_policy() -> SubsidyAccessPolicy:
    return SubsidyAccessPolicy.objects.get(pk=demo_data.ENROLLMENT_POLICY_UUID)


def assigned_policy() -> SubsidyAccessPolicy:
    return SubsidyAccessPolicy.objects.get(pk=demo_data.ASSIGNED_POLICY_UUID)


def force(
    *,
    policy: SubsidyAccessPolicy | None = None,
    lms_user_id: int = 1002,
    run_key: str = demo_data.CLOSED_RUN,
    actor=None,
    **fields: Any,
) -> ForcedPolicyRedemption:
    """create_forced_redemption with the demo's usual values; redeems unless wait_to_redeem=True. A price given
    comes with a justification unless one is given (the rule itself is tested on its own)."""
    if fields.get("content_price_cents") is not None:
        fields.setdefault("price_justification", PRICE_JUSTIFICATION)
    return create_forced_redemption(
        actor=actor,
        subsidy_access_policy=policy or spend_policy(),
        lms_user_id=lms_user_id,
        course_run_key=run_key,
        reason=fields.pop("reason", REASON),
        **fields,
    )


@dataclass(frozen=True)
class Footprint:
    """What moved for one learner and run: live ledger entries, failed ones, enrollments, the balance."""

    live_transactions: int
    failed_transactions: int
    active_enrollments: int
    balance_cents: int


def footprint(*, lms_user_id: int = 1002, run_key: str = demo_data.CLOSED_RUN, subsidy_id=None) -> Footprint:
    entries = Transaction.objects.filter(lms_user_id=lms_user_id, content_key=run_key)
    return Footprint(
        live_transactions=entries.exclude(state=TransactionState.FAILED).count(),
        failed_transactions=entries.filter(state=TransactionState.FAILED).count(),
        active_enrollments=Enrollment.objects.filter(
            lms_user_id=lms_user_id, course_run__key=run_key, active=True
        ).count(),
        balance_cents=balance_cents(subsidy_id or demo_data.SUBSIDY_UUID),
    )


def grant(user, *codenames: str):
    """Give `user` permissions by "app_label.codename"; returns the user re-read (permission cache cleared)."""
    for name in codenames:
        app_label, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return type(user).objects.get(pk=user.pk)


def form_data(
    *,
    policy: SubsidyAccessPolicy | None = None,
    lms_user_id: int | str = 1002,
    run_key: str = demo_data.CLOSED_RUN,
    price: int | str = "",
    wait: bool = False,
    reason: str = REASON,
    attempts: int | None = None,
    terms_accepted_at: dt.datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The add/change form as a browser posts it. `attempts` = rows in the read-only attempts inline (change)."""
    data = {
        "subsidy_access_policy": str((policy or spend_policy()).pk),
        "lms_user_id": str(lms_user_id),
        "course_run_key": run_key,
        "content_price_cents": str(price),
        "reason": reason,
        "learner_first_name": "",
        "learner_last_name": "",
        "price_justification": "",
        "learner_date_of_birth": "",
        "learner_terms_accepted_at": terms_accepted_at.strftime("%Y-%m-%dT%H:%M:%SZ") if terms_accepted_at else "",
        "external_order_reference": "",
        "_save": "Save",
    }
    if wait:
        data["wait_to_redeem"] = "on"
    if attempts is not None:
        data |= {
            "attempts-TOTAL_FORMS": str(attempts),
            "attempts-INITIAL_FORMS": str(attempts),
            "attempts-MIN_NUM_FORMS": "0",
            "attempts-MAX_NUM_FORMS": "1000",
        }
    return data | extra


def change_data(record: ForcedPolicyRedemption, **overrides: Any) -> dict[str, Any]:
    """The change form of `record` as posted unchanged (plus `overrides`)."""
    values = {
        "policy": record.subsidy_access_policy,
        "lms_user_id": record.lms_user_id,
        "run_key": record.course_run_key,
        "price": "" if record.content_price_cents is None else record.content_price_cents,
        "wait": record.wait_to_redeem,
        "reason": record.reason,
        "attempts": record.attempts.count(),
    }
    return form_data(**(values | overrides))


def confirmed(client, url: str, data: dict[str, Any]):
    """Post the add/change form, then click the confirmation page's button as a browser does: the page's own
    hidden values, its button. Returns the confirmation page itself when the post did not lead to one."""
    page = client.post(url, data)
    if page.status_code != 200 or "preview" not in (page.context or {}):
        return page
    return client.post(url, confirmation_post(page))


def confirmation_post(page, button: str = "_confirm") -> dict[str, list[str]]:
    """What the confirmation page's form posts when `button` ("_confirm" or "_back") is clicked."""
    data: dict[str, list[str]] = {}
    for name, value in page.context["carried"]:
        data.setdefault(name, []).append(value)
    data["_confirmed"] = [page.context["preview"].fingerprint]
    data[button] = [page.context["preview"].button if button == "_confirm" else "Go back"]
    return data


def redeem_now(client, records, *, confirm: bool = True, query: str = ""):
    """The "Redeem now" action on `records` (listed with `query`, e.g. "?archived=all"): its page, then (unless
    `confirm=False`) its button's post."""
    url = changelist_url() + query
    selected = [str(r.pk) for r in records]
    page = client.post(url, {"action": "redeem_now", "_selected_action": selected})
    if not confirm or page.status_code != 200:
        return page
    data = {"action": "redeem_now", "post": "yes", "_selected_action": selected}
    data |= {f"expected_{item.record.pk}": item.fingerprint for item in page.context["planned"]}
    return client.post(url, data)


def admin_messages(response) -> list[tuple[str, str]]:
    """(level tag, text) of the messages this request added (not those still stored from earlier requests)."""
    from django.contrib.messages import get_messages

    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)._queued_messages]


def refund_in_the_ledger_only(entry: Transaction) -> None:
    """A refund the forced-redemption app does not hear of (the ledger's bare write), as a ledger reversal
    leaves a record that was locked at that moment (see test_concurrency)."""
    with transaction.atomic():
        ledger.lock_subsidy(entry.subsidy_id)
        ledger.reverse(entry=entry, reason="ledger")
