"""A fake GetSmarter Enterprise API Gateway (GEAG), as getsmarter-api-clients and enterprise-subsidy use it.

- `POST /oauth2/token` (client credentials, HTTP Basic) -> `{access_token, expires_in, token_type}`;
  calls then send `Authorization: Bearer <token>`.
- `POST /enterprise_allocations`: 200 `{"orderUuid": ...}`; 400 `{"errors": [{"code", "reasons"}]}` on a
  missing field, and with code 10174 for a second order with the same `paymentReference`.
- `POST /enterprise_allocations/cancel` `{"orderUuid"}`: 204; 422 for an unknown order.
"""

from __future__ import annotations

import json
import uuid

from testing.fakes.server import FakeServer

DUPLICATE_ORDER = 10174
REQUIRED = (
    "paymentReference",
    "enterpriseCustomerUuid",
    "firstName",
    "lastName",
    "email",
    "dateOfBirth",
    "termsAcceptedAt",
    "dataShareConsent",
    "currency",
    "orderItems",
)


class FakeGeag(FakeServer):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.orders: dict[str, dict] = {}  # payment reference -> order

    def operation_of(self, method: str, path: str) -> str:
        return {"/enterprise_allocations": "allocate", "/enterprise_allocations/cancel": "cancel"}.get(path, path)

    def route(self, method, path, headers, body):
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return 400, {"errors": [{"code": 400, "reasons": "Body is not JSON."}]}
        if path == "/enterprise_allocations":
            missing = [k for k in REQUIRED if payload.get(k) in (None, "", [])]
            if missing:
                return 400, {"errors": [{"code": 422, "reasons": f"Missing fields: {', '.join(missing)}"}]}
            with self.lock:
                if payload["paymentReference"] in self.orders:
                    return 400, {"errors": [{"code": DUPLICATE_ORDER, "reasons": "Duplicate order."}]}
                order = {"orderUuid": str(uuid.uuid4()), "cancelled": False, **payload}
                self.orders[payload["paymentReference"]] = order
            return 200, {"orderUuid": order["orderUuid"]}
        if path == "/enterprise_allocations/cancel":
            with self.lock:
                for order in self.orders.values():
                    if order["orderUuid"] == payload.get("orderUuid"):
                        order["cancelled"] = True
                        return 204, None
            return 422, {"errors": [{"code": 404, "reasons": "Unknown order."}]}
        return 404, {"errors": [{"code": 404, "reasons": "Not found."}]}
