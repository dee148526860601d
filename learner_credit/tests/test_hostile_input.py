"""Every operation of the schema, sent what no client should send: never a 5xx, never a row written.

For each operation: its path parameters set to hostile segments (NUL, an invalid UTF-8 sequence, a very
long one); and with real ids in the path, bodies whose fields (one at a time) hold a NUL, an unpaired
surrogate, 10,000 characters, a huge number or a wrong type, plus whole bodies nested 100,000 deep, a bare
surrogate string and a list. Authenticated as a superuser, over the demo data, as in the schemathesis run.
"""

from __future__ import annotations

import json

import pytest
import yaml
from django.apps import apps
from django.conf import settings
from rest_framework.test import APIClient

from learner_credit.tests.test_schemathesis import _known_records

pytestmark = pytest.mark.django_db

HOSTILE_SEGMENTS = ["%00", "a%00b", "%ED%A0%80", "x" * 3000]
SURROGATE = '"\\ud800"'  # a JSON string holding a lone surrogate
FIELD_VALUES = [
    '"a\\u0000b"',  # NUL
    SURROGATE,
    json.dumps("x" * 10_000),
    "1" + "0" * 40,  # a number no column holds
    "[1, 2]",  # a wrong type for most fields
    '{"nested": {"\\ud800": 1}}',  # a surrogate in a key
]
WHOLE_BODIES = ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000, SURROGATE, "[]", "null"]


def _schema() -> dict:
    return yaml.safe_load((settings.BASE_DIR / "openapi.yaml").read_text())


def _operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, op


def _request_fields(schema: dict, op: dict) -> list[str]:
    content = (op.get("requestBody") or {}).get("content", {}).get("application/json")
    if not content:
        return []
    body = content["schema"]
    if "$ref" in body:
        body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    return list((body.get("properties") or {}).keys())


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model._base_manager.count() for model in apps.get_models()}


def _fill(path: str, known: dict[str, list]) -> str:
    for name, values in known.items():
        path = path.replace("{" + name + "}", str(values[0]))
    return path.replace("{course_key}", known["course_key"][0]).replace("{run_key}", known["run_key"][0])


def _send(client: APIClient, method: str, path: str, body: str | None):
    kwargs = {"content_type": "application/json", "data": body} if body is not None else {}
    return getattr(client, method)(path, **kwargs)


def test_no_operation_answers_5xx_or_writes_for_hostile_input(demo):
    from rest_framework.authtoken.models import Token

    from learner_credit.tests.api_helpers import make_user

    known = _known_records(demo)
    token = Token.objects.create(user=make_user("hostile-root", is_staff=True, is_superuser=True)).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    schema = _schema()
    before = _row_counts()
    sent, failures = 0, []

    for path, method, op in _operations(schema):
        cases: list[tuple[str, str | None]] = []
        params = [p["name"] for p in op.get("parameters", []) if p.get("in") == "path"]
        for segment in HOSTILE_SEGMENTS:
            hostile_path = path
            for name in params:
                hostile_path = hostile_path.replace("{" + name + "}", segment)
            if params:
                cases.append((hostile_path, "{}" if method in ("post", "put", "patch") else None))
        if method in ("post", "put", "patch") and op.get("requestBody"):
            real = _fill(path, known)
            for field in _request_fields(schema, op):
                cases += [(real, f'{{"{field}": {value}}}') for value in FIELD_VALUES]
            cases += [(real, body) for body in WHOLE_BODIES]
        for target, body in cases:
            response = _send(client, method, target, body)
            sent += 1
            if response.status_code >= 500 or not (400 <= response.status_code < 500):
                failures.append(f"{method.upper()} {target[:80]} {str(body)[:60]} -> {response.status_code}")
            else:
                response.json()  # the error itself renders as JSON

    assert sent > 300
    assert not failures, "\n".join(failures[:60])
    after = _row_counts()
    written = {label: (before[label], after[label]) for label in before if before[label] != after[label]}
    written.pop("authtoken.Token", None)
    assert not written, written
