"""The published Open edX subsidy client (`edx-enterprise-subsidy-client==2.3.0`), unchanged, against this service.

enterprise-access calls enterprise-subsidy through that client; this service serves enterprise-subsidy's routes,
so the client must work here as it does there. The test builds the client's own virtualenv (it needs Python
3.12; `.venv-subsidy-client`, reused while it holds that version), runs testing/subsidy_client_calls.py in it
against a live server, and checks what every public method returned against what enterprise-subsidy returns
(/api/v1/subsidies/..., /api/v1/transactions/..., /api/v2/subsidies/{uuid}/admin/...).

The client authenticates as the LMS's service users do: a client-credentials grant at the LMS (a fake LMS on
loopback, testing/fakes/lms.py), which answers with an RS512 JWT for an `enterprise_openedx_operator:*` user;
then `Authorization: JWT <token>` on every call. Nothing else is configured for it here: no local user, no
DRF token, no session. Without the LMS's key trusted, the same calls get 401.

Skips when no Python 3.12 is found (pyenv's 3.12.1) unless CI or REQUIRE_SUBSIDY_CLIENT is set, where it fails.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.signals import request_started
from django.db.models import Sum

from demo import data as demo
from fulfillment.models import Enrollment
from subsidies.models import Deposit, Transaction, TransactionState
from testing.subsidy_client import REPO, client_python

CALLS_SCRIPT = REPO / "testing" / "subsidy_client_calls.py"
OPERATOR_CLAIMS = {"username": "enterprise_access_worker", "user_id": 3, "roles": ["enterprise_openedx_operator:*"]}
V1_LEARNER, V2_LEARNER = demo.LINKED_LEARNERS[0], demo.LINKED_LEARNERS[1]
OPEN_RUN_CENTS, CLOSED_RUN_CENTS = 5_000, 10_000  # demo/data.py's prices of OPEN_RUN and CLOSED_RUN
V2_IDEMPOTENCY_KEY = "ledger-for-subsidy-client-test-v2-1"
DEPOSIT_CENTS = 25_000

# enterprise-subsidy's shapes (its serializers; /tmp/contracts/subsidy.md): keys its callers may read.
SUBSIDY_KEYS = {
    "uuid",
    "title",
    "enterprise_customer_uuid",
    "active_datetime",
    "expiration_datetime",
    "unit",
    "reference_id",
    "reference_type",
    "current_balance",
    "starting_balance",
    "internal_only",
    "revenue_category",
    "is_active",
    "total_deposits",
    "created",
    "modified",
}
TRANSACTION_KEYS = {
    "uuid",
    "state",
    "idempotency_key",
    "lms_user_id",
    "lms_user_email",
    "content_key",
    "parent_content_key",
    "content_title",
    "quantity",
    "unit",
    "fulfillment_identifier",
    "subsidy_access_policy_uuid",
    "metadata",
    "created",
    "modified",
    "reversal",
    "external_reference",
    "transaction_status_api_url",
    "courseware_url",
    "course_run_start_date",
}
CONTENT_METADATA_KEYS = {
    "content_title",
    "content_uuid",
    "content_key",
    "course_run_uuid",
    "course_run_key",
    "course_run_start_date",
    "source",
    "content_price",
    "mode",
    "geag_variant_id",
    "enroll_by_date",
}
LEDGER_PAGE_KEYS = {"next", "previous", "count", "num_pages", "current_page", "start", "results", "aggregates"}


@pytest.fixture(scope="session")
def subsidy_client_python() -> Path:
    return client_python()


# --- the service, the LMS, and the run of the client -------------------------------------------------------------


@pytest.fixture
def jwt_issuing_lms(lms_signer):
    """A fake LMS whose token endpoint issues the operator JWTs the service trusts (lms_signer)."""
    from testing.fakes.lms import FakeLms

    lms = FakeLms(jwt_signer=lms_signer, jwt_claims=OPERATOR_CLAIMS, hold_seconds=3.0)
    lms.client_id, lms.client_secret = "enterprise-access-backend-service-key", "enterprise-access-secret"
    lms.start()
    yield lms
    lms.stop()


@pytest.fixture
def requests_to_the_service():
    """What reached the live server: method, path, query and the credentials each request carried."""
    seen: list[dict] = []

    def record(sender, environ=None, **kwargs):
        if environ is not None:
            seen.append(
                {
                    "method": environ.get("REQUEST_METHOD"),
                    "path": environ.get("PATH_INFO"),
                    "query": environ.get("QUERY_STRING", ""),
                    "authorization": environ.get("HTTP_AUTHORIZATION"),
                    "cookie": environ.get("HTTP_COOKIE"),
                }
            )

    request_started.connect(record, weak=False)
    yield seen
    request_started.disconnect(record)


def run_the_client(python: Path, live_server, lms, tmp_path) -> dict:
    spec = {
        "subsidy_url": live_server.url,
        "oauth2_provider_url": lms.url,
        "client_id": lms.client_id,
        "client_secret": lms.client_secret,
        "enterprise_customer_uuid": str(demo.CUSTOMER_UUID),
        "subsidy_uuid": str(demo.SUBSIDY_UUID),
        "subsidy_access_policy_uuid": str(demo.SPEND_POLICY_UUID),
        "v1_redemption": {"lms_user_id": V1_LEARNER, "content_key": demo.OPEN_RUN, "metadata": None},
        "v2_redemption": {
            "lms_user_id": V2_LEARNER,
            "content_key": demo.CLOSED_RUN,
            "metadata": {"allow_late_enrollment": True},
            "idempotency_key": V2_IDEMPOTENCY_KEY,
        },
        "deposit": {
            "desired_deposit_quantity": DEPOSIT_CENTS,
            "sales_contract_reference_id": "SUBSIDY-CLIENT-TEST-001",
            "sales_contract_reference_provider": "salesforce",
            "metadata": {"note": "top-up through the published client"},
            "idempotency_key": "subsidy-client-test-deposit-1",
        },
    }
    # -I: none of the project's paths or PYTHON* variables; a minimal environment (no DJANGO_SETTINGS_MODULE).
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "NO_PROXY": "*", "no_proxy": "*"}
    env["EDX_REST_API_CLIENT_NAME"] = "learner-credit-subsidy-client-test"
    try:
        done = subprocess.run(
            [str(python), "-I", str(CALLS_SCRIPT)],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired as timeout:
        stderr = timeout.stderr.decode() if isinstance(timeout.stderr, bytes) else timeout.stderr or ""
        pytest.fail(f"the client did not finish in 180 s; the last call announced:\n{stderr[-2000:]}")
    assert done.returncode == 0, f"the client's script failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    (tmp_path / "client-report.json").write_text(done.stdout)  # the whole answer, for a failure's post-mortem
    return json.loads(done.stdout)


# --- what enterprise-subsidy answers, method by method ------------------------------------------------------------


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _at(value) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def expect_subsidy(subsidy: dict, *, balance: int) -> None:
    assert subsidy.keys() >= SUBSIDY_KEYS, f"missing {sorted(SUBSIDY_KEYS - subsidy.keys())}"
    assert subsidy["uuid"] == str(demo.SUBSIDY_UUID)
    assert subsidy["enterprise_customer_uuid"] == str(demo.CUSTOMER_UUID)
    assert subsidy["unit"] == "usd_cents"
    assert _int(subsidy["current_balance"]) and subsidy["current_balance"] == balance
    assert _int(subsidy["starting_balance"])
    assert _int(subsidy["total_deposits"]) and subsidy["total_deposits"] >= demo.DEPOSIT_CENTS
    assert subsidy["reference_type"] == "salesforce_opportunity_line_item"
    assert subsidy["is_active"] is True
    assert _at(subsidy["active_datetime"]) <= dt.datetime.now(dt.UTC) <= _at(subsidy["expiration_datetime"])


def expect_subsidy_page(page: dict, *, balance: int) -> None:
    assert {"count", "next", "previous", "results"} <= page.keys(), f"not a page: {sorted(page)}"
    assert all(s["enterprise_customer_uuid"] == str(demo.CUSTOMER_UUID) for s in page["results"])
    ours = [s for s in page["results"] if s["uuid"] == str(demo.SUBSIDY_UUID)]
    assert len(ours) == 1, f"the demo subsidy is not listed once: {page['results']}"
    expect_subsidy(ours[0], balance=balance)


def expect_content(content: dict, *, run_key: str, course_key: str, cents: int, enroll_by: dt.datetime) -> None:
    assert content.keys() == CONTENT_METADATA_KEYS, f"keys {sorted(content)}"
    assert _int(content["content_price"]) and content["content_price"] == cents  # int USD cents, not "100.00"
    assert content["content_key"] == course_key and content["course_run_key"] == run_key
    assert content["source"] == "edX" and content["mode"] == "verified"
    assert _at(content["enroll_by_date"]) == enroll_by


def expect_can_redeem(answer: dict, *, can_redeem: bool, cents: int, transactions: list[str]) -> None:
    assert answer.keys() == {"can_redeem", "content_price", "unit", "all_transactions", "active"}, sorted(answer)
    assert answer["can_redeem"] is can_redeem
    assert _int(answer["content_price"]) and answer["content_price"] == cents
    assert answer["unit"] == "usd_cents" and answer["active"] is True
    assert [t["uuid"] for t in answer["all_transactions"]] == transactions


def expect_redemption(entry: dict, *, learner: int, run_key: str, cents: int, base_url: str) -> None:
    assert entry.keys() >= TRANSACTION_KEYS, f"missing {sorted(TRANSACTION_KEYS - entry.keys())}"
    assert entry["state"] == TransactionState.COMMITTED
    assert _int(entry["quantity"]) and entry["quantity"] == -cents
    assert entry["unit"] == "usd_cents"
    assert entry["lms_user_id"] == learner and entry["content_key"] == run_key
    assert entry["subsidy_access_policy_uuid"] == str(demo.SPEND_POLICY_UUID)
    assert entry["reversal"] is None
    assert entry["transaction_status_api_url"] == f"{base_url}/api/v1/transactions/{entry['uuid']}/"
    learning = django_settings.FRONTEND_APP_LEARNING_URL.rstrip("/")
    assert entry["courseware_url"] == f"{learning}/course/{run_key}/home"


def expect_ledger_page(page: dict, *, includes: list[str], remaining: int, total: int) -> None:
    assert page.keys() >= LEDGER_PAGE_KEYS, f"missing {sorted(LEDGER_PAGE_KEYS - page.keys())}"
    listed = {entry["uuid"] for entry in page["results"]}
    assert set(includes) <= listed, f"{includes} not all in {sorted(listed)}"
    assert page["aggregates"] == {"unit": "usd_cents", "remaining_subsidy_balance": remaining, "total_quantity": total}


def expect_not_implemented(outcome: dict) -> None:
    assert not outcome["ok"] and outcome["error"].startswith("NotImplementedError"), outcome
    assert outcome["url"] is None  # no HTTP call was made


# --- the tests ------------------------------------------------------------------------------------------------------


def test_the_published_subsidy_client_succeeds_on_every_method_with_only_a_jwt(
    subsidy_client_python, transactional_db, live_server, demo, jwt_issuing_lms, requests_to_the_service, tmp_path
):
    report = run_the_client(subsidy_client_python, live_server, jwt_issuing_lms, tmp_path)
    calls = report["calls"]
    base = live_server.url
    api = f"{base}/api/v1"
    S = str(demo.SUBSIDY_UUID)
    assert report["versions"]["edx-enterprise-subsidy-client"] == "2.3.0"
    assert report["factory"] == {"1": "EnterpriseSubsidyAPIClient", "2": "EnterpriseSubsidyAPIClientV2"}

    v1_uuid = (calls["v1.create_subsidy_transaction"].get("result") or {}).get("uuid")
    v2_uuid = (calls["v2.create_subsidy_transaction"].get("result") or {}).get("uuid")
    after_v1 = demo.DEPOSIT_CENTS - OPEN_RUN_CENTS
    after_v2 = after_v1 - CLOSED_RUN_CENTS
    open_run = {"run_key": demo.OPEN_RUN, "course_key": "DemoU+Open101", "enroll_by": demo.utc(2099, 1, 10)}
    closed_run = {"run_key": demo.CLOSED_RUN, "course_key": "DemoU+Closed101", "enroll_by": demo.utc(2024, 2, 1)}

    def ok(name: str):
        outcome = calls[name]
        assert outcome["ok"], (
            f"{outcome.get('method')} {outcome.get('url')} -> {outcome.get('status')}: "
            + str(outcome.get("body") or outcome.get("error"))[:1500]
        )
        return outcome["result"]

    def expect_late_redemption(entry: dict) -> None:
        expect_redemption(entry, learner=V2_LEARNER, run_key=demo.CLOSED_RUN, cents=CLOSED_RUN_CENTS, base_url=base)
        assert entry["idempotency_key"] == V2_IDEMPOTENCY_KEY
        assert entry["metadata"].get("allow_late_enrollment") is True, entry["metadata"]

    def same_transaction(name: str, uuid: str | None):
        result = ok(name)
        assert uuid is not None and result["uuid"] == uuid, (result.get("uuid"), uuid)

    expectations = {
        # v1 (EnterpriseSubsidyAPIClient)
        "v1.get_subsidy_aggregates_by_learner_url": lambda n: ok(n) == f"{api}/subsidies/{S}/aggregates-by-learner",
        "v1.get_content_metadata_url": lambda n: ok(n) == f"{api}/content-metadata/{demo.OPEN_RUN}/",
        "v1.list_subsidies": lambda n: expect_subsidy_page(ok(n), balance=demo.DEPOSIT_CENTS),
        "v1.retrieve_subsidy": lambda n: expect_subsidy(ok(n), balance=demo.DEPOSIT_CENTS),
        "v1.get_subsidy_content_data": lambda n: expect_content(ok(n), cents=OPEN_RUN_CENTS, **open_run),
        "v1.can_redeem": lambda n: expect_can_redeem(ok(n), can_redeem=True, cents=OPEN_RUN_CENTS, transactions=[]),
        "v1.create_subsidy_transaction": lambda n: expect_redemption(
            ok(n), learner=V1_LEARNER, run_key=demo.OPEN_RUN, cents=OPEN_RUN_CENTS, base_url=base
        ),
        "v1.retrieve_subsidy_transaction": lambda n: (
            same_transaction(n, v1_uuid),
            expect_redemption(ok(n), learner=V1_LEARNER, run_key=demo.OPEN_RUN, cents=OPEN_RUN_CENTS, base_url=base),
        ),
        "v1.can_redeem (after)": lambda n: expect_can_redeem(
            ok(n), can_redeem=False, cents=OPEN_RUN_CENTS, transactions=[v1_uuid]
        ),
        # No state filter on v1: the initial deposit is listed too.
        "v1.list_subsidy_transactions": lambda n: expect_ledger_page(
            ok(n), includes=[v1_uuid], remaining=after_v1, total=after_v1
        ),
        "v1.get_subsidy_aggregates_by_learner_data": lambda n: ok(n) == [{"lms_user_id": V1_LEARNER, "total": 1}],
        "v1.reverse_subsidy_transaction": lambda n: expect_not_implemented(calls[n]),
        # v2 (EnterpriseSubsidyAPIClientV2): 8 methods inherited from v1 (still /api/v1/), 3 of its own.
        "v2.get_subsidy_aggregates_by_learner_url": lambda n: ok(n) == f"{api}/subsidies/{S}/aggregates-by-learner",
        "v2.get_content_metadata_url": lambda n: ok(n) == f"{api}/content-metadata/{demo.CLOSED_RUN}/",
        "v2.list_subsidies": lambda n: expect_subsidy_page(ok(n), balance=after_v1),
        "v2.retrieve_subsidy": lambda n: expect_subsidy(ok(n), balance=after_v1),
        "v2.get_subsidy_content_data": lambda n: expect_content(ok(n), cents=CLOSED_RUN_CENTS, **closed_run),
        # The subsidy's answer is its balance only: the closed run's deadline is the policies' business.
        "v2.can_redeem": lambda n: expect_can_redeem(ok(n), can_redeem=True, cents=CLOSED_RUN_CENTS, transactions=[]),
        "v2.create_subsidy_transaction": lambda n: expect_late_redemption(ok(n)),
        "v2.create_subsidy_transaction (repeat)": lambda n: (
            same_transaction(n, v2_uuid),
            expect_late_redemption(ok(n)),
        ),
        "v2.retrieve_subsidy_transaction": lambda n: (
            same_transaction(n, v2_uuid),
            expect_redemption(
                ok(n), learner=V2_LEARNER, run_key=demo.CLOSED_RUN, cents=CLOSED_RUN_CENTS, base_url=base
            ),
        ),
        "v2.can_redeem (after)": lambda n: expect_can_redeem(
            ok(n), can_redeem=False, cents=CLOSED_RUN_CENTS, transactions=[v2_uuid]
        ),
        # state=committed,pending,created: both redemptions and the (committed) initial deposit.
        "v2.list_subsidy_transactions": lambda n: expect_ledger_page(
            ok(n), includes=[v1_uuid, v2_uuid], remaining=after_v2, total=after_v2
        ),
        "v2.get_subsidy_aggregates_by_learner_data": lambda n: (
            ok(n) == [{"lms_user_id": V1_LEARNER, "total": 1}, {"lms_user_id": V2_LEARNER, "total": 1}]
        ),
        "v2.reverse_subsidy_transaction": lambda n: expect_not_implemented(calls[n]),
        "v2.create_subsidy_deposit": lambda n: expect_deposit(ok(n)),
    }

    # Every public method of both classes was called, and each answered as enterprise-subsidy does.
    for version in ("v1", "v2"):
        called = {name.split(" ")[0].split(".", 1)[1] for name in calls if name.startswith(f"{version}.")}
        assert called == set(report["public_methods"][version]), f"{version}: the client has methods not called"
    assert calls.keys() == expectations.keys()
    failures = []
    for name, expect in expectations.items():
        try:
            if expect(name) is False:
                raise AssertionError(f"got {calls[name].get('result')!r}")
        except AssertionError as error:
            failures.append(f"{name}: {error}")
    assert not failures, "the client got answers enterprise-subsidy would not give:\n" + "\n\n".join(failures)

    # The ledger: each redemption charged exactly once (the v2 repeat charged nothing), one enrollment each.
    for learner, run_key, cents in (
        (V1_LEARNER, demo.OPEN_RUN, OPEN_RUN_CENTS),
        (V2_LEARNER, demo.CLOSED_RUN, CLOSED_RUN_CENTS),
    ):
        charges = Transaction.objects.filter(subsidy_id=demo.SUBSIDY_UUID, lms_user_id=learner, content_key=run_key)
        assert [(t.state, t.quantity) for t in charges] == [(TransactionState.COMMITTED, -cents)]
        assert Enrollment.objects.filter(lms_user_id=learner, course_run__key=run_key, active=True).count() == 1
    assert Enrollment.objects.get(lms_user_id=V2_LEARNER, course_run__key=demo.CLOSED_RUN).forced
    assert Deposit.objects.filter(subsidy_id=demo.SUBSIDY_UUID, desired_deposit_quantity=DEPOSIT_CENTS).count() == 1
    balance = Transaction.objects.filter(subsidy_id=demo.SUBSIDY_UUID).exclude(state=TransactionState.FAILED)
    assert balance.aggregate(total=Sum("quantity"))["total"] == after_v2 + DEPOSIT_CENTS

    # Only the LMS's JWT: every request carried `Authorization: JWT <a token the fake LMS issued>`, no cookie.
    issued = set(jwt_issuing_lms.issued_jwts)
    assert issued, "the client never asked the LMS for a token"
    assert requests_to_the_service, "nothing reached the service"
    credentials = {(r["authorization"] or "").partition(" ")[0] for r in requests_to_the_service}
    assert credentials == {"JWT"}
    assert all(r["authorization"].partition(" ")[2] in issued for r in requests_to_the_service)
    assert not any(r["cookie"] for r in requests_to_the_service)


def expect_deposit(deposit: dict) -> None:
    assert deposit["desired_deposit_quantity"] == DEPOSIT_CENTS
    assert deposit["sales_contract_reference_id"] == "SUBSIDY-CLIENT-TEST-001"
    assert deposit["sales_contract_reference_provider"] == "salesforce"
    transaction = deposit.get("transaction", deposit.get("transaction_uuid"))
    assert Transaction.objects.filter(pk=transaction, quantity=DEPOSIT_CENTS).exists()
    assert Deposit.objects.filter(pk=deposit["uuid"], subsidy_id=demo.SUBSIDY_UUID).exists()


@pytest.mark.parametrize("service_trusts", ["no LMS key (JWT off)", "another LMS's key"])
def test_without_the_lms_key_trusted_every_call_of_the_client_is_refused_with_401(
    subsidy_client_python,
    transactional_db,
    live_server,
    demo,
    settings,
    requests_to_the_service,
    tmp_path,
    service_trusts,
):
    from testing.fakes.lms import FakeLms
    from testing.lms_jwt import LmsSigner

    lms_key, other_key = LmsSigner(), LmsSigner()
    if service_trusts == "another LMS's key":
        settings.JWT_AUTH = other_key.jwt_auth(settings.JWT_AUTH)
    else:
        settings.JWT_AUTH = lms_key.jwt_auth(settings.JWT_AUTH, secret=False, jwk_set=False)
    lms = FakeLms(jwt_signer=lms_key, jwt_claims=OPERATOR_CLAIMS, hold_seconds=3.0).start()
    try:
        calls = run_the_client(subsidy_client_python, live_server, lms, tmp_path)["calls"]
    finally:
        lms.stop()

    made_no_request = {name for name, outcome in calls.items() if outcome["ok"] or outcome["url"] is None}
    assert made_no_request == {
        f"{version}.{name}"
        for version in ("v1", "v2")
        for name in ("get_subsidy_aggregates_by_learner_url", "get_content_metadata_url", "reverse_subsidy_transaction")
    }
    refused = {name: (o["status"], o["method"], o["url"]) for name, o in calls.items() if name not in made_no_request}
    assert len(refused) == 20 and {status for status, _, _ in refused.values()} == {401}, refused
    assert all(r["authorization"].startswith("JWT ") for r in requests_to_the_service)
    assert not Transaction.objects.filter(lms_user_id__in=(V1_LEARNER, V2_LEARNER)).exists()
    assert not Deposit.objects.filter(desired_deposit_quantity=DEPOSIT_CENTS).exists()
