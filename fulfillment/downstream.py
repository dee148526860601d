"""`FULFILLMENT_BACKEND=lms`: enroll in the Open edX LMS; for exec-ed runs, order at GEAG first.

The same order as enterprise-subsidy: an exec-ed run is an order at the provider and then an LMS
enrollment of the same transaction. If the LMS then refuses, the order is cancelled before the
redemption fails, so nothing is left behind at either system. An order that already exists
(`fallback_external_fulfillment_reference_id`, or one made by an earlier try) is not placed again.
"""

from __future__ import annotations

import contextlib

from fulfillment import geag, lms
from fulfillment.backends import (
    EnrollmentRequest,
    FulfillmentProgress,
    FulfillmentResult,
    Unenrollment,
)
from fulfillment.errors import DownstreamUnavailable, FulfillmentError
from fulfillment.selectors import UNKNOWN_ORDER_PREFIX, is_provider_order


class OpenEdxBackend:
    remote = True

    def check_configured(self, request: EnrollmentRequest) -> None:
        """Refuse before anything is charged when the systems this run needs are not configured."""
        if not lms.is_configured():
            raise FulfillmentError(
                "FULFILLMENT_BACKEND is lms but LMS_URL, LMS_OAUTH2_CLIENT_ID or LMS_OAUTH2_CLIENT_SECRET is not "
                "set; nothing was charged."
            )
        if request.is_exec_ed and not request.fallback_order_reference:
            if not geag.is_configured():
                raise FulfillmentError(
                    f"{request.run.key} is exec-ed content and the exec-ed provider (GEAG_API_URL, "
                    f"GEAG_OAUTH2_*) is not configured; nothing was charged."
                )
            if not request.run.variant_id:
                raise FulfillmentError(
                    f"{request.run.key} is exec-ed content without the provider's variant id; nothing was charged."
                )

    def fulfil(self, request: EnrollmentRequest, progress: FulfillmentProgress) -> FulfillmentResult:
        if request.is_exec_ed and not progress.external_order_reference:
            progress.external_order_reference = request.fallback_order_reference or (
                geag.get_client().allocate(progress, request) or f"{UNKNOWN_ORDER_PREFIX}{request.transaction_uuid}"
            )
        try:
            identifier = lms.get_client().enroll(
                progress,
                customer_uuid=request.customer_uuid,
                lms_user_id=request.lms_user_id,
                course_run_key=request.run.key,
                transaction_uuid=request.transaction_uuid,
                force_enrollment=request.allow_late_enrollment,
            )
        except FulfillmentError:
            self._cancel_order_we_placed(request, progress)
            raise
        return FulfillmentResult(
            fulfillment_identifier=identifier, external_order_reference=progress.external_order_reference
        )

    def _cancel_order_we_placed(self, request: EnrollmentRequest, progress: FulfillmentProgress) -> None:
        order = progress.external_order_reference
        if not request.is_exec_ed or not order or order == request.fallback_order_reference:
            return
        if not is_provider_order(order):
            return  # GEAG did not tell us the order's uuid; the call log says so for staff
        # Its answer is in progress.calls; the redemption's own refusal is what the caller reports.
        with contextlib.suppress(FulfillmentError, DownstreamUnavailable):
            geag.get_client().cancel(progress, order_uuid=order)

    def unenroll(self, target: Unenrollment, progress: FulfillmentProgress) -> None:
        order = target.external_order_reference
        if target.is_exec_ed and is_provider_order(order):
            geag.get_client().cancel(progress, order_uuid=order)
        if target.fulfillment_identifier:
            lms.get_client().cancel_fulfillment(progress, fulfillment_identifier=target.fulfillment_identifier)
