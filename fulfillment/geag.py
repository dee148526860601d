"""The exec-ed provider: GetSmarter's Enterprise API Gateway (GEAG), through getsmarter-api-clients.

An allocation (`POST {GEAG_API_URL}/enterprise_allocations`) is the order for one learner in one exec-ed
run: its `paymentReference` is our transaction uuid, its one order item the run's variant id at the
price charged. 200 answers `{"orderUuid": ...}`. GEAG refuses a second order with the same payment
reference (400, error code 10174): for a retry of the same transaction that means the first one was
made, so it counts as success. A reversal cancels the order (`.../enterprise_allocations/cancel`).

The library logs the request payload (the learner's personal data) when a call fails, so its logger
is silenced in settings; our own record of each call keeps the status and the response body only.
"""

from __future__ import annotations

from functools import lru_cache

import requests
from django.conf import settings
from getsmarter_api_clients.geag import GetSmarterEnterpriseApiClient

from fulfillment.backends import EnrollmentRequest, FulfillmentProgress
from fulfillment.errors import DownstreamUnavailable
from fulfillment.http import call, json_body, raise_if_outcome_unknown, refused, unavailable

SYSTEM = "geag"
DUPLICATE_ORDER_CODE = 10174


class _TimedClient(GetSmarterEnterpriseApiClient):
    """The library's client with a timeout on every call and a token failure raised, not swallowed."""

    def __init__(self, *args, timeout: tuple[float, float], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.timeout = timeout

    def _get_access_token(self):
        token = super()._get_access_token()
        if not token:  # the library logs the failure and returns None
            raise DownstreamUnavailable("The GEAG token endpoint did not give an access token.", system=SYSTEM)
        return token

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


class GeagClient:
    def __init__(self, *, api_url: str, provider_url: str, client_id: str, client_secret: str, timeout) -> None:
        self._client = _TimedClient(
            client_id=client_id,
            client_secret=client_secret,
            provider_url=provider_url.rstrip("/"),
            api_url=api_url.rstrip("/"),
            timeout=timeout,
        )

    def allocate(self, progress: FulfillmentProgress, request: EnrollmentRequest) -> str:
        """Place the learner's order; returns GEAG's order uuid ("" when GEAG says it exists already)."""
        meta = request.metadata
        price = round(request.price_cents / 100, 2)

        def send() -> requests.Response:
            return self._client.create_enterprise_allocation(
                payment_reference=str(request.transaction_uuid),
                enterprise_customer_uuid=str(request.customer_uuid),
                first_name=meta.get("geag_first_name"),
                last_name=meta.get("geag_last_name"),
                email=meta.get("geag_email"),
                date_of_birth=meta.get("geag_date_of_birth"),
                terms_accepted_at=meta.get("geag_terms_accepted_at"),
                data_share_consent=str(meta.get("geag_data_share_consent", True)).lower(),
                currency="USD",
                order_items=[
                    {
                        "productId": str(request.run.variant_id or ""),
                        "quantity": 1,
                        "normalPrice": price,
                        "discount": 0.0,
                        "finalPrice": price,
                    }
                ],
                should_raise=False,
            )

        response, record = call(progress, system=SYSTEM, operation="allocate", send=send)
        raise_if_outcome_unknown(response, record)
        body = json_body(response, record)
        if 200 <= response.status_code < 300:
            if not body.get("orderUuid"):
                raise unavailable(record, f"answered {response.status_code} without an orderUuid")
            record.outcome = "succeeded"
            return str(body["orderUuid"])
        errors = body.get("errors") if isinstance(body.get("errors"), list) else []
        if any(isinstance(e, dict) and e.get("code") == DUPLICATE_ORDER_CODE for e in errors):
            record.outcome = "succeeded"
            return str(body.get("orderUuid") or "")
        message = (
            f"The exec-ed provider refused the order for {request.run.key} (HTTP {response.status_code}). "
            f"Nothing was charged."
        )
        raise refused(record, message)

    def cancel(self, progress: FulfillmentProgress, *, order_uuid: str) -> None:
        def send() -> requests.Response:
            return self._client.cancel_enterprise_allocation(order_uuid, should_raise=False)

        response, record = call(progress, system=SYSTEM, operation="cancel_order", send=send)
        raise_if_outcome_unknown(response, record)
        if not 200 <= response.status_code < 300:
            raise refused(
                record, f"The exec-ed provider refused to cancel order {order_uuid} (HTTP {response.status_code})."
            )
        record.outcome = "succeeded"


def is_configured() -> bool:
    return bool(
        settings.GEAG_API_URL
        and settings.GEAG_OAUTH2_PROVIDER_URL
        and settings.GEAG_OAUTH2_CLIENT_ID
        and settings.GEAG_OAUTH2_CLIENT_SECRET
    )


@lru_cache(maxsize=4)
def _client_for(api_url, provider_url, client_id, secret, timeout) -> GeagClient:
    return GeagClient(
        api_url=api_url, provider_url=provider_url, client_id=client_id, client_secret=secret, timeout=timeout
    )


def get_client() -> GeagClient:
    return _client_for(
        settings.GEAG_API_URL,
        settings.GEAG_OAUTH2_PROVIDER_URL,
        settings.GEAG_OAUTH2_CLIENT_ID,
        settings.GEAG_OAUTH2_CLIENT_SECRET,
        (settings.LMS_CONNECT_TIMEOUT_SECONDS, settings.LMS_READ_TIMEOUT_SECONDS),
    )
