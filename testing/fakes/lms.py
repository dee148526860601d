"""A fake Open edX LMS: the OAuth2 token endpoint and edx-enterprise's enrollment endpoints.

Contract (edx-enterprise `enterprise/api/v1/views/enterprise_customer.py` and the subsidy fulfillment
viewset), as far as the service uses it:

- `POST /oauth2/access_token` (form: grant_type=client_credentials, client_id, client_secret, token_type=jwt)
  -> 200 `{access_token, expires_in, token_type: "JWT"}`; calls then send `Authorization: JWT <token>`.
  By default the token is an opaque string only this fake accepts. `FakeLms(jwt_signer=LmsSigner(),
  jwt_claims={"username": "subsidy_worker", "roles": ["enterprise_openedx_operator:*"]})` makes it issue
  real LMS JWTs instead (testing/lms_jwt.py, RS512, claims as `LmsSigner.token(**jwt_claims)`), as the real
  LMS does for a service's client credentials: a service that trusts the signer accepts them, and so does
  this fake's own API. Every JWT issued is kept in `issued_jwts`.
- `POST /enterprise/api/v1/enterprise-customer/{uuid}/enroll_learners_in_courses/` with
  `{"enrollments_info": [{user_id|email, course_run_key, transaction_id|license_uuid, force_enrollment?}]}`:
  400 on a malformed item; 201 `{successes, pending, failures}` when every item enrolled; 409 with the
  failures (a run closed to enrollment without `force_enrollment`, an unknown user id in
  `invalid_user_ids`). A success is `{user_id, email, course_run_key, created,
  activation_link, enterprise_fulfillment_source_uuid}`. The fulfillment record is keyed by the learner's
  enrollment in the run: a repeat reuses it (same uuid, `created: false`), taking the new transaction id.
- `POST /enterprise/api/v1/enterprise-subsidy-fulfillment/{uuid}/cancel-fulfillment` -> 204; 200
  `{"detail": "Enrollment is already canceled."}`; 404 for an unknown uuid.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from testing.fakes.server import FakeServer

if TYPE_CHECKING:
    from testing.lms_jwt import LmsSigner

_ENROLL = re.compile(
    r"^/enterprise/api/v1/enterprise-customer/(?P<customer>[0-9a-f-]{36})/enroll_learners_in_courses/$"
)
_CANCEL = re.compile(
    r"^/enterprise/api/v1/enterprise-subsidy-fulfillment/(?P<uuid>[0-9a-f-]{36})/cancel-fulfillment/?$"
)


@dataclass
class LmsEnrollment:
    user_id: int
    course_run_key: str
    customer_uuid: str
    fulfillment_uuid: str
    transaction_id: str
    forced: bool
    active: bool = True
    times_requested: int = 1


class FakeLms(FakeServer):
    token_path = "/oauth2/access_token"
    token_type = "JWT"

    def __init__(
        self,
        *,
        jwt_signer: LmsSigner | None = None,
        jwt_claims: dict[str, Any] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if jwt_claims is not None and jwt_signer is None:
            raise ValueError("jwt_claims need a jwt_signer to sign them")
        self.jwt_signer = jwt_signer
        self.jwt_claims = dict(jwt_claims or {"username": "lms_service_worker"})
        self.issued_jwts: list[str] = []
        self.enrollments: dict[tuple[int, str], LmsEnrollment] = {}
        self.closed_runs: set[str] = set()
        self.known_user_ids: set[int] | None = None  # None: every positive user id has an account

    def issue_token(self, form: dict) -> tuple[int, dict]:
        """The client-credentials grant; with a `jwt_signer`, the token is a JWT signed by it."""
        status, answer = super().issue_token(form)
        if status != 200 or self.jwt_signer is None:
            return status, answer
        claims = {"expires_in": answer["expires_in"], **self.jwt_claims}  # jwt_claims may set the lifetime
        token = self.jwt_signer.token(**claims)
        with self.lock:
            self.tokens.discard(answer["access_token"])  # the opaque one: only the JWT is good
            self.tokens.add(token)
            self.issued_jwts.append(token)
        return 200, {**answer, "access_token": token, "expires_in": claims["expires_in"], "token_type": "JWT"}

    def operation_of(self, method: str, path: str) -> str:
        if _ENROLL.match(path):
            return "enroll"
        if _CANCEL.match(path):
            return "cancel"
        return f"{method} {path}"

    def enrollments_of(self, user_id: int) -> list[LmsEnrollment]:
        with self.lock:
            return [e for e in self.enrollments.values() if e.user_id == user_id]

    def route(self, method, path, headers, body):
        if method == "POST" and (match := _ENROLL.match(path)):
            return self._enroll(match["customer"], body)
        if method == "POST" and (match := _CANCEL.match(path)):
            return self._cancel(match["uuid"])
        return 404, {"detail": "Not found."}

    def _enroll(self, customer_uuid: str, body: bytes):
        try:
            items = json.loads(body)["enrollments_info"]
            assert isinstance(items, list) and items
        except (ValueError, KeyError, TypeError, AssertionError):
            return 400, {"enrollments_info": ["This field is required."]}
        errors = [_item_errors(item) for item in items]
        if any(errors):
            return 400, {"enrollments_info": errors}
        successes, failures, invalid_user_ids = [], [], []
        with self.lock:
            for item in items:
                user_id, run_key = int(item["user_id"]), item["course_run_key"]
                if user_id <= 0 or (self.known_user_ids is not None and user_id not in self.known_user_ids):
                    invalid_user_ids.append(user_id)
                    continue
                if run_key in self.closed_runs and not item.get("force_enrollment"):
                    failures.append({"user_id": user_id, "email": None, "course_run_key": run_key})
                    continue
                existing = self.enrollments.get((user_id, run_key))
                if existing is not None and existing.active:
                    existing.times_requested += 1
                    existing.transaction_id = item["transaction_id"]
                    record, created = existing, False
                else:
                    record = LmsEnrollment(
                        user_id=user_id,
                        course_run_key=run_key,
                        customer_uuid=customer_uuid,
                        fulfillment_uuid=existing.fulfillment_uuid if existing else str(uuid.uuid4()),
                        transaction_id=item["transaction_id"],
                        forced=bool(item.get("force_enrollment")),
                    )
                    self.enrollments[(user_id, run_key)] = record
                    created = True
                successes.append(
                    {
                        "user_id": user_id,
                        "email": f"learner{user_id}@example.com",
                        "course_run_key": run_key,
                        "created": created,
                        "activation_link": None,
                        "enterprise_fulfillment_source_uuid": record.fulfillment_uuid,
                    }
                )
        payload = {"successes": successes, "pending": [], "failures": failures}
        if failures or invalid_user_ids:
            if invalid_user_ids:
                payload["invalid_user_ids"] = invalid_user_ids
            return 409, payload
        return 201, payload

    def _cancel(self, fulfillment_uuid: str):
        with self.lock:
            for record in self.enrollments.values():
                if record.fulfillment_uuid == fulfillment_uuid:
                    if not record.active:
                        return 200, {"detail": "Enrollment is already canceled."}
                    record.active = False
                    return 204, None
        return 404, {"detail": "Not found."}


def _item_errors(item) -> dict:
    if not isinstance(item, dict):
        return {"non_field_errors": ["Invalid data."]}
    errors = {}
    if not item.get("course_run_key"):
        errors["course_run_key"] = ["This field is required."]
    if item.get("user_id") is None and not item.get("email"):
        errors["non_field_errors"] = ["At least one user identifier field [user_id or email] required."]
    if bool(item.get("transaction_id")) == bool(item.get("license_uuid")):
        errors.setdefault("non_field_errors", []).append("Exactly one subsidy info field is required.")
    if "force_enrollment" in item and not isinstance(item["force_enrollment"], bool):
        errors["force_enrollment"] = ["Must be a valid boolean."]
    return errors
