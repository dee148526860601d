"""Call every public method of the published `edx-enterprise-subsidy-client` against a running service.

Run by the client's own Python 3.12 virtualenv (learner_credit/tests/test_subsidy_client.py builds it), never
by the project's: it imports nothing from the project, only the client, exactly as published.

    .venv-subsidy-client/bin/python -I testing/subsidy_client_calls.py SPEC.json   # or the spec on stdin

The spec (JSON):

    {
      "subsidy_url": "http://127.0.0.1:8081",          # ENTERPRISE_SUBSIDY_URL: the service under test
      "oauth2_provider_url": "http://127.0.0.1:8082",  # OAUTH2_PROVIDER_URL: the LMS that issues the JWTs
      "client_id": "...", "client_secret": "...",       # BACKEND_SERVICE_EDX_OAUTH2_KEY / _SECRET
      "enterprise_customer_uuid": "...", "subsidy_uuid": "...", "subsidy_access_policy_uuid": "...",
      "v1_redemption": {"lms_user_id": 1001, "content_key": "...", "metadata": null},
      "v2_redemption": {"lms_user_id": 1002, "content_key": "...", "metadata": {...}, "idempotency_key": "..."},
      "deposit": {"desired_deposit_quantity": 25000, "sales_contract_reference_id": "...",
                  "sales_contract_reference_provider": "...", "metadata": {...}, "idempotency_key": "..."}
    }

Prints one JSON object on stdout:

    {"calls": {"<v1|v2>.<method>[ (note)]": {"ok": true, "result": <the method's return value>}
                                         | {"ok": false, "status": <HTTP status or null>, "body": <text or null>,
                                            "error": <repr>, "method": ..., "url": ...}},
     "public_methods": {"v1": [...], "v2": [...]},   # what the classes offer, to check nothing was left out
     "factory": {"1": "<class name>", "2": "<class name>"},   # get_enterprise_subsidy_api_client(version)
     "versions": {"edx-enterprise-subsidy-client": ..., "edx-rest-api-client": ..., ...}}

Every call is announced on stderr first, so a call that hangs (the client sets no timeout) can be named.
"""

import inspect
import json
import sys
from importlib import metadata as package_metadata
from pathlib import Path


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text() if len(sys.argv) > 1 else sys.stdin.read())

    from django.conf import settings

    # Before the client is imported: its classes build their endpoint URLs from the settings at import time.
    settings.configure(
        ENTERPRISE_SUBSIDY_URL=spec["subsidy_url"],
        OAUTH2_PROVIDER_URL=spec["oauth2_provider_url"],
        BACKEND_SERVICE_EDX_OAUTH2_KEY=spec["client_id"],
        BACKEND_SERVICE_EDX_OAUTH2_SECRET=spec["client_secret"],
        OPENEDX_TELEMETRY=[],
    )

    import requests
    from edx_enterprise_subsidy_client import (
        EnterpriseSubsidyAPIClient,
        EnterpriseSubsidyAPIClientV2,
        get_enterprise_subsidy_api_client,
    )

    calls: dict[str, dict] = {}

    def call(name, method, *args, **kwargs):
        print(f"calling {name}", file=sys.stderr, flush=True)
        try:
            calls[name] = {"ok": True, "result": method(*args, **kwargs)}
        except requests.HTTPError as error:
            response = error.response
            calls[name] = {
                "ok": False,
                "status": response.status_code if response is not None else None,
                "body": response.text if response is not None else None,
                "error": repr(error),
                "method": response.request.method if response is not None else None,
                "url": response.request.url if response is not None else None,
            }
        except Exception as error:  # noqa: BLE001 - every failure is reported, the next call still runs
            request = getattr(error, "request", None)
            calls[name] = {
                "ok": False,
                "status": None,
                "body": None,
                "error": repr(error),
                "method": getattr(request, "method", None),
                "url": getattr(request, "url", None),
            }
        return calls[name].get("result")

    customer = spec["enterprise_customer_uuid"]
    subsidy = spec["subsidy_uuid"]
    policy = spec["subsidy_access_policy_uuid"]

    for version, client in (("v1", EnterpriseSubsidyAPIClient()), ("v2", EnterpriseSubsidyAPIClientV2())):
        redemption = spec[f"{version}_redemption"]
        learner, content = redemption["lms_user_id"], redemption["content_key"]

        call(f"{version}.get_subsidy_aggregates_by_learner_url", client.get_subsidy_aggregates_by_learner_url, subsidy)
        call(f"{version}.get_content_metadata_url", client.get_content_metadata_url, content)
        call(f"{version}.list_subsidies", client.list_subsidies, customer)
        call(f"{version}.retrieve_subsidy", client.retrieve_subsidy, subsidy)
        call(f"{version}.get_subsidy_content_data", client.get_subsidy_content_data, customer, content)
        call(f"{version}.can_redeem", client.can_redeem, subsidy, learner, content)

        create = {"metadata": redemption.get("metadata"), "idempotency_key": redemption.get("idempotency_key")}
        created = call(
            f"{version}.create_subsidy_transaction",
            client.create_subsidy_transaction,
            subsidy,
            learner,
            content,
            policy,
            **create,
        )
        if version == "v2":
            call(
                "v2.create_subsidy_transaction (repeat)",
                client.create_subsidy_transaction,
                subsidy,
                learner,
                content,
                policy,
                **create,
            )
        transaction_uuid = created["uuid"] if isinstance(created, dict) and "uuid" in created else subsidy
        call(f"{version}.retrieve_subsidy_transaction", client.retrieve_subsidy_transaction, transaction_uuid)
        call(f"{version}.can_redeem (after)", client.can_redeem, subsidy, learner, content)
        call(f"{version}.list_subsidy_transactions", client.list_subsidy_transactions, subsidy)
        call(
            f"{version}.get_subsidy_aggregates_by_learner_data",
            client.get_subsidy_aggregates_by_learner_data,
            subsidy,
            policy,
        )
        call(f"{version}.reverse_subsidy_transaction", client.reverse_subsidy_transaction, subsidy, transaction_uuid)
        if version == "v2":
            deposit = spec["deposit"]
            call(
                "v2.create_subsidy_deposit",
                client.create_subsidy_deposit,
                subsidy,
                deposit["desired_deposit_quantity"],
                deposit["sales_contract_reference_id"],
                deposit["sales_contract_reference_provider"],
                metadata=deposit.get("metadata"),
                idempotency_key=deposit.get("idempotency_key"),
            )

    print(
        json.dumps(
            {
                "calls": calls,
                "public_methods": {
                    "v1": _public_methods(EnterpriseSubsidyAPIClient),
                    "v2": _public_methods(EnterpriseSubsidyAPIClientV2),
                },
                "factory": {str(v): type(get_enterprise_subsidy_api_client(v)).__name__ for v in (1, 2)},
                "versions": {
                    name: package_metadata.version(name)
                    for name in ("edx-enterprise-subsidy-client", "edx-rest-api-client", "requests", "Django")
                },
            },
            default=str,
        )
    )
    return 0


def _public_methods(cls) -> list[str]:
    return sorted(name for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_"))


if __name__ == "__main__":
    sys.exit(main())
