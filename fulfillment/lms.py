"""The Open edX LMS, as enterprise-subsidy calls it: edx-enterprise's bulk enrollment and fulfillment cancel.

- enroll: `POST {LMS_URL}/enterprise/api/v1/enterprise-customer/{customer}/enroll_learners_in_courses/` with
  one `enrollments_info` item (`user_id`, `course_run_key`, `transaction_id`, `force_enrollment`). 201 lists
  it under `successes` with its `enterprise_fulfillment_source_uuid`; the LMS keys the fulfillment record by
  the learner's enterprise enrollment, so a repeat for the same learner and run is a success again (201,
  `created: false`), which is what makes a retry of the same transaction safe.
- unenroll: `POST {LMS_URL}/enterprise/api/v1/enterprise-subsidy-fulfillment/{uuid}/cancel-fulfillment`
  (204; 200 when already cancelled).

Authenticated with OAuth2 client credentials (a JWT from `{LMS_URL}/oauth2/access_token`) through
edx-rest-api-client's OAuthAPIClient, which caches the token until shortly before it expires. A 401 means
the LMS no longer accepts the cached token: it is dropped and the call is made once more with a new one.
"""

from __future__ import annotations

import uuid
from functools import lru_cache

from django.conf import settings
from edx_django_utils.cache import TieredCache
from edx_rest_api_client.client import OAuthAPIClient

from fulfillment.backends import FulfillmentProgress
from fulfillment.errors import EnrollmentRefused
from fulfillment.http import call, json_body, raise_if_outcome_unknown, refused, unavailable

SYSTEM = "lms"


class LmsClient:
    def __init__(self, *, base_url: str, client_id: str, client_secret: str, timeout: tuple[float, float]) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client_id = client_id
        self._session = OAuthAPIClient(self.base_url, client_id, client_secret, timeout=timeout)

    def _token_cache_key(self) -> str:
        # edx-rest-api-client's own key for this client's token (client.get_and_cache_oauth_access_token).
        oauth_url = f"{self.base_url}/oauth2/access_token"
        return f"edx_rest_api_client.access_token.jwt.client_credentials.{self._client_id}.{oauth_url}"

    def _post(self, progress: FulfillmentProgress, operation: str, url: str, payload: dict | None):
        def send():
            return self._session.post(url, json=payload, timeout=self.timeout)

        response, record = call(progress, system=SYSTEM, operation=operation, send=send)
        if response.status_code == 401:
            TieredCache.delete_all_tiers(self._token_cache_key())
            response, record = call(progress, system=SYSTEM, operation=operation, send=send)
        return response, record

    def enroll(
        self,
        progress: FulfillmentProgress,
        *,
        customer_uuid: uuid.UUID,
        lms_user_id: int,
        course_run_key: str,
        transaction_uuid: uuid.UUID,
        force_enrollment: bool,
    ) -> str:
        """Enroll one learner; returns the LMS's fulfillment uuid (the transaction's fulfillment identifier)."""
        url = f"{self.base_url}/enterprise/api/v1/enterprise-customer/{customer_uuid}/enroll_learners_in_courses/"
        item = {
            "user_id": lms_user_id,
            "course_run_key": course_run_key,
            "transaction_id": str(transaction_uuid),
            "force_enrollment": force_enrollment,
        }
        response, record = self._post(progress, "enroll", url, {"enrollments_info": [item]})
        raise_if_outcome_unknown(response, record)
        status, who = response.status_code, f"learner {lms_user_id} in {course_run_key}"
        if not (200 <= status < 300 or status == 409):
            raise refused(
                record, f"The LMS refused the enrollment request for {who} (HTTP {status}). Nothing was charged."
            )
        body = json_body(response, record)
        successes = [s for s in body.get("successes") or [] if _is_ours(s, lms_user_id, course_run_key)]
        if successes and successes[0].get("enterprise_fulfillment_source_uuid"):
            record.outcome = "succeeded"
            return str(successes[0]["enterprise_fulfillment_source_uuid"])
        if status == 409 or body.get("failures") or body.get("invalid_user_ids"):
            message = f"The LMS refused to enroll {who} (HTTP {status}). Nothing was charged."
            raise refused(record, message, error_class=EnrollmentRefused)
        if body.get("pending"):
            message = (
                f"The LMS has no account for learner {lms_user_id} (HTTP {status}, enrollment pending); "
                f"nothing was charged."
            )
            raise refused(record, message, error_class=EnrollmentRefused)
        raise unavailable(record, f"answered {status} without this enrollment among its successes")

    def cancel_fulfillment(self, progress: FulfillmentProgress, *, fulfillment_identifier: str) -> None:
        """Unenroll the learner of one LMS fulfillment. Already cancelled is success."""
        url = (
            f"{self.base_url}/enterprise/api/v1/enterprise-subsidy-fulfillment/{fulfillment_identifier}"
            f"/cancel-fulfillment"
        )
        response, record = self._post(progress, "unenroll", url, None)
        raise_if_outcome_unknown(response, record)
        if response.status_code not in (200, 204):
            message = (
                f"The LMS refused to cancel fulfillment {fulfillment_identifier} (HTTP {response.status_code}); "
                f"nothing was refunded."
            )
            raise refused(record, message)
        record.outcome = "succeeded"


def _is_ours(success: dict, lms_user_id: int, course_run_key: str) -> bool:
    return isinstance(success, dict) and (
        success.get("course_run_key") == course_run_key and str(success.get("user_id")) == str(lms_user_id)
    )


def is_configured() -> bool:
    return bool(settings.LMS_URL and settings.LMS_OAUTH2_CLIENT_ID and settings.LMS_OAUTH2_CLIENT_SECRET)


@lru_cache(maxsize=4)
def _client_for(url: str, client_id: str, secret: str, timeout: tuple[float, float]) -> LmsClient:
    return LmsClient(base_url=url, client_id=client_id, client_secret=secret, timeout=timeout)


def get_client() -> LmsClient:
    return _client_for(
        settings.LMS_URL,
        settings.LMS_OAUTH2_CLIENT_ID,
        settings.LMS_OAUTH2_CLIENT_SECRET,
        (settings.LMS_CONNECT_TIMEOUT_SECONDS, settings.LMS_READ_TIMEOUT_SECONDS),
    )
