"""Confirm before money moves: the page between "Save" and the charge, for an add or change that would redeem.

The form's values travel through the page as hidden inputs; only its confirm button's POST goes on to save and
redeem, and only while what it showed still holds (the price, or the expected refusal): otherwise the page is
shown again with the new numbers. "Go back" shows the form again with the values, saving nothing. Saving with
"Wait to redeem" ticked, or a record that cannot charge any more (pending, redeemed, reversed), needs no
confirmation. A replayed confirmation cannot charge twice: the service refuses a second standing redemption
(a duplicate form error), and a redeemed record is not redeemed again.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.template.response import TemplateResponse
from django.utils import timezone

from catalog.models import CourseRun
from catalog.selectors import find_course_run
from common.money import format_cents
from customers.models import EnterpriseCustomerUser
from customers.selectors import learner_link
from forced_redemptions.admin.check import CheckAnswer
from forced_redemptions.models import ForcedPolicyRedemption
from forced_redemptions.selectors import ForcedCheck, check_forced

logger = logging.getLogger(__name__)

PAGE_TEMPLATE = "admin/forced_redemptions/forcedpolicyredemption/confirm_page.html"
CONFIRM = "_confirm"
BACK = "_back"
CONFIRMED = "_confirmed"  # what the page said would happen (Preview.fingerprint)
_NOT_CARRIED = {"csrfmiddlewaretoken", CONFIRM, BACK, CONFIRMED}
_READ_IT = object()  # Preview.of reads the run or the link itself


@dataclass
class Preview:
    """What redeeming a record would do, read without writing: for the confirmation pages (one record or many)."""

    record: ForcedPolicyRedemption
    answer: CheckAnswer
    run: CourseRun | None
    link: EnterpriseCustomerUser | None
    now: dt.datetime

    @classmethod
    def of(
        cls, record: ForcedPolicyRedemption, *, check: ForcedCheck | None = None, run=_READ_IT, link=_READ_IT
    ) -> Preview:
        """The preview of `record`; a caller that previews many passes what it read for all of them at once."""
        if check is None:
            try:
                check = check_forced(record)
            except Exception as error:  # noqa: BLE001 - a page that cannot tell the outcome says so, never a 500
                logger.exception("The dry run of forced redemption %s failed unexpectedly", record.uuid)
                problem = f"The check could not run ({type(error).__name__}: {error})."
                check = ForcedCheck(False, "unexpected_error", problem)
        policy = record.subsidy_access_policy
        if run is _READ_IT:
            run = find_course_run(record.course_run_key)
        if link is _READ_IT:
            link = learner_link(customer=policy.customer_id, lms_user_id=record.lms_user_id)
        return cls(record=record, answer=CheckAnswer.of(record, check), run=run, link=link, now=timezone.now())

    @property
    def charges(self) -> bool:
        return self.answer.check.can_redeem

    @property
    def price_cents(self) -> int | None:
        return self.answer.check.price_cents if self.charges else None

    @property
    def fingerprint(self) -> str:
        """What the page says will happen, to compare with what would happen when it is confirmed."""
        return f"charge:{self.price_cents}" if self.charges else f"refused:{self.answer.check.reason}"

    @property
    def price(self) -> str:
        return self.answer.price

    @property
    def button(self) -> str:
        if self.charges:
            return f"Redeem and charge {format_cents(self.price_cents)}"
        return "Try to redeem anyway (expected to be refused; nothing is charged)"

    @property
    def refusal(self) -> str:
        return "" if self.charges else f"{self.answer.staff_message} ({self.answer.check.reason})"

    @property
    def learner_name(self) -> str:
        record = self.record
        given = f"{record.learner_first_name} {record.learner_last_name}".strip()
        return given or (self.link.full_name if self.link else "") or "(no name on the learner's link)"

    @property
    def learner_email(self) -> str:
        return self.link.email if self.link else "(not linked)"

    @property
    def catalog_price_cents(self) -> int | None:
        return self.run.price_cents if self.run else None

    @property
    def catalog_price(self) -> str:
        return format_cents(self.catalog_price_cents)

    @property
    def price_differs(self) -> bool:
        price = self.answer.check.price_cents
        return price is not None and self.catalog_price_cents is not None and price != self.catalog_price_cents

    @property
    def price_difference(self) -> str:
        difference = self.answer.check.price_cents - self.catalog_price_cents
        return f"{format_cents(abs(difference))} {'above' if difference > 0 else 'below'} the catalog price"

    @property
    def free(self) -> bool:
        return self.charges and self.price_cents == 0

    @property
    def run_status(self) -> str:
        """Closed, and since when: the enrollment deadline when it passed, and whether the run takes enrollments."""
        run = self.run
        if run is None:
            return "unknown run"
        past = run.is_past_enroll_by(self.now)
        if past:
            days = (self.now - run.enroll_by).days
            since = f"Closed since {run.enroll_by:%Y-%m-%d %H:%M} UTC, its enrollment deadline ({days} days ago)"
            return since + ("; marked not enrollable" if not run.is_enrollable else "") + "."
        if not run.is_enrollable:
            deadline = f" (its enrollment deadline, {run.enroll_by:%Y-%m-%d}, is still ahead)" if run.enroll_by else ""
            return f"Closed: marked not enrollable{deadline}."
        until = f" until {run.enroll_by:%Y-%m-%d %H:%M} UTC" if run.enroll_by else ""
        return f"Open for enrollment{until}: the learner could enroll without forcing."

    @property
    def balance_after(self) -> str:
        return self.answer.balance_after

    @property
    def spend_limit(self) -> str:
        limit = self.answer.spend_limit_cents
        return "no limit" if limit is None else format_cents(limit)

    @property
    def spend_available_after(self) -> str:
        available = self.answer.check.policy_spend_available_cents
        if not self.charges or available is None:
            return self.answer.spend_available
        return format_cents(available - self.price_cents)

    @property
    def exec_ed(self) -> bool:
        return bool(self.run and self.run.course.is_exec_ed)


def confirmation_step(model_admin, request, object_id: str | None):
    """On a POST of the add/change form: the confirmation page when saving would redeem and was not confirmed
    (or what was confirmed no longer holds). None lets the admin go on: show the form's errors, or save."""
    if BACK in request.POST:
        return None  # the form is shown again with the values (ForcedPolicyRedemptionAdmin.get_form)
    obj = None
    if object_id is not None:
        obj = model_admin.get_object(request, unquote(object_id))
        if obj is None or not model_admin.has_change_permission(request, obj):
            return None  # the admin answers these as it always does
    fieldsets = model_admin.get_fieldsets(request, obj)
    form_class = model_admin.get_form(request, obj, change=obj is not None, fields=flatten_fieldsets(fieldsets))
    form = form_class(request.POST, instance=obj)
    if not form.is_valid() or not form.redeems:
        return None
    preview = Preview.of(form.instance)  # the posted values on an unsaved copy; nothing is saved here
    confirmed = request.POST.get(CONFIRMED)
    if CONFIRM in request.POST and confirmed == preview.fingerprint:
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"{preview.button}?" if preview.charges else "This redemption would be refused",
        "opts": model_admin.opts,
        "original": obj,
        "preview": preview,
        "changed": CONFIRM in request.POST,
        "carried": [
            (name, value) for name, values in request.POST.lists() if name not in _NOT_CARRIED for value in values
        ],
        "confirm_name": CONFIRM,
        "back_name": BACK,
        "confirmed_name": CONFIRMED,
    }
    return TemplateResponse(request, PAGE_TEMPLATE, context)


def shown_again(form_class):
    """The form class of "Go back": bound to the carried values and shown again with them, never saved."""

    class ShownAgain(form_class):
        def is_valid(self) -> bool:
            return False  # the admin then renders the bound form (with any errors it has) instead of saving

    return ShownAgain
