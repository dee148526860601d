"""Input no store or renderer can take, refused at the door with a clear 400; a database that is down, a 503.

- JSON bodies (`SafeJSONParser`): nested deeper than MAX_JSON_DEPTH (Python's parser would hit its recursion
  limit), or holding a string with an unpaired surrogate (no UTF-8 encoder takes it, so it could neither be
  stored nor echoed in an error). The error says what was wrong and where, never echoes the value. A NUL
  character (PostgreSQL text and jsonb refuse it) is refused field by field by the serializers (DRF's text
  fields, `common.api.MetadataField`), so the 400 names the field.
- Paths and query strings (`UnsafeRequestMiddleware`): a NUL character anywhere.
- `OperationalError`/`InterfaceError` from the database while serving a request: 503 with `Retry-After`,
  logged as the database being unavailable (the lock-wait case is `common.locking`'s 503 already).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

logger = logging.getLogger("learner_credit.availability")

MAX_JSON_DEPTH = 32
RETRY_AFTER_SECONDS = 5


def _surrogate_problem(value: str) -> str | None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (not valid Unicode)"
    return None


def _check(value: Any, where: str, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels at {where or 'the top'}.")
    if isinstance(value, str):
        problem = _surrogate_problem(value)
        if problem:
            raise exceptions.ParseError(f"A string at {where or 'the top'} {problem}.")
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = _surrogate_problem(key)
            if problem:
                raise exceptions.ParseError(f"A key at {where or 'the top'} {problem}.")
            _check(item, f"{where}.{key}" if where else key, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]", depth + 1)


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from error
        _check(data, "", 0)
        return data


class DatabaseUnavailable(exceptions.APIException):
    status_code = 503
    default_code = "database_unavailable"
    default_detail = "The database is unavailable; nothing was changed. Try again shortly."

    def __init__(self):
        super().__init__()
        self.wait = RETRY_AFTER_SECONDS


def database_unavailable(exc: Exception) -> DatabaseUnavailable | None:
    if isinstance(exc, OperationalError | InterfaceError):
        logger.error("Database unavailable while serving a request: %s: %s", type(exc).__name__, str(exc)[:200])
        return DatabaseUnavailable()
    return None


class UnsafeRequestMiddleware:
    """Refuse a NUL in the path or query string before any view (or database) sees it; answer a database
    outage outside the API (admin pages) with a 503 too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where = None
        if "\x00" in request.path:
            where = "path"
        elif any("\x00" in k or any("\x00" in v for v in vs) for k, vs in request.GET.lists()):
            where = "query string"
        if where is not None:
            return _bad_request(request, f"The {where} contains a NUL character.")
        return self.get_response(request)

    def process_exception(self, request, exception):
        if database_unavailable(exception) is None:
            return None
        message = DatabaseUnavailable.default_detail
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if request.path.startswith("/api/"):
            return JsonResponse({"reason": "database_unavailable", "detail": message}, status=503, headers=headers)
        return HttpResponse(message, status=503, content_type="text/plain", headers=headers)


def _bad_request(request, message: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"reason": "invalid_input", "detail": message}, status=400)
    return HttpResponse(message, status=400, content_type="text/plain")
