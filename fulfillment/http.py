"""Calling another system over HTTP: one place that times a call, keeps its answer on record and turns
what went wrong into a domain error (definitive refusal, or unknown outcome)."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from fulfillment.backends import CallRecord, FulfillmentProgress
from fulfillment.errors import DownstreamUnavailable, FulfillmentError

BODY_EXCERPT_CHARS = 500


def excerpt(response: requests.Response | None) -> str:
    if response is None:
        return ""
    text = response.text or ""
    return text[:BODY_EXCERPT_CHARS]


def call(
    progress: FulfillmentProgress, *, system: str, operation: str, send: Callable[[], requests.Response]
) -> tuple[requests.Response, CallRecord]:
    """Send one request. A transport failure (timeout, reset, refused connection, token endpoint down) is
    recorded and raised as DownstreamUnavailable; any HTTP answer is recorded (outcome filled in by the
    caller, which knows what the status means) and returned."""
    started = time.monotonic()
    record = CallRecord(system=system, operation=operation, outcome="unknown")
    progress.calls.append(record)
    try:
        response = send()
    except (requests.RequestException, DownstreamUnavailable) as error:
        record.duration_ms = int((time.monotonic() - started) * 1000)
        response = getattr(error, "response", None)
        record.http_status = getattr(response, "status_code", None)
        record.body_excerpt = excerpt(response)
        record.error = f"{type(error).__name__}: {str(error)[:300]}"
        raise DownstreamUnavailable(
            f"The {system.upper()} could not be reached for {operation} ({type(error).__name__}); the outcome is "
            f"unknown and the same transaction will be tried again.",
            system=system,
            http_status=record.http_status,
            body_excerpt=record.body_excerpt,
        ) from error
    record.duration_ms = int((time.monotonic() - started) * 1000)
    record.http_status = response.status_code
    record.body_excerpt = excerpt(response)
    return response, record


def unavailable(record: CallRecord, why: str) -> DownstreamUnavailable:
    record.outcome = "unknown"
    record.error = why
    return DownstreamUnavailable(
        f"{record.system.upper()} {record.operation}: {why}; the outcome is unknown and the same transaction will "
        f"be tried again.",
        system=record.system,
        http_status=record.http_status,
        body_excerpt=record.body_excerpt,
    )


def json_body(response: requests.Response, record: CallRecord) -> dict:
    try:
        body = response.json()
    except ValueError as error:
        raise unavailable(record, f"answered {response.status_code} with a body that is not JSON") from error
    if not isinstance(body, dict):
        raise unavailable(record, f"answered {response.status_code} with JSON that is not an object")
    return body


# Answers that say nothing about whether the work was done: retry the same request later.
UNKNOWN_STATUSES = (401, 403, 408, 429)


def raise_if_outcome_unknown(response: requests.Response, record: CallRecord) -> None:
    """5xx and the statuses above leave the outcome unknown (401 only after a fresh token was tried)."""
    if response.status_code >= 500 or response.status_code in UNKNOWN_STATUSES:
        raise unavailable(record, f"answered {response.status_code}")


def refused(record: CallRecord, message: str, *, error_class=None) -> Exception:
    """A definitive refusal, carrying the downstream's answer for the record."""
    record.outcome = "refused"
    return (error_class or FulfillmentError)(
        message, system=record.system, http_status=record.http_status, body_excerpt=record.body_excerpt
    )
