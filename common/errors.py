"""The base of every domain exception.

Services raise these; adapters (admin, API, commands) translate them into messages and HTTP codes in
one place each. Every error carries a stable machine `reason` code and a human `message`.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal or failure the domain understands. `reason` is stable; `message` is for people."""

    reason: str = "domain_error"
    http_status: int = 422

    def __init__(self, message: str, *, reason: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.details = details

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    """A referenced thing does not exist (unknown learner, unknown run, ...)."""

    reason = "not_found"
    http_status = 404


class InvalidInput(DomainError):
    """Input that fails validation. `field_errors` maps field names to lists of messages."""

    reason = "invalid_input"
    http_status = 400

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field_errors = field_errors or {}


class Conflict(DomainError):
    reason = "conflict"
    http_status = 409


class LockWaitTimeout(DomainError):
    """A row lock could not be had within LOCK_WAIT_TIMEOUT_SECONDS. Safe to retry.

    429 with Retry-After, as the reference answers a locked ledger or policy (its callers retry on it)."""

    reason = "lock_wait_timeout"
    http_status = 429
