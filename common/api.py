"""What every app's REST adapter shares: the one exception handler, error bodies and strict input fields.

Every error the API returns has the same body: `{"reason", "detail", "field_errors"?, "metadata"?}` with
the HTTP status the domain error declares (DomainError.http_status). Endpoints that follow the reference
system's refusal shape (learner redeem) set `refusals_as_reference_list = True` on the view and get
`[{"reason", "user_message", "metadata", "policy_uuids"}]` for a 422 instead.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxLengthValidator
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import set_rollback

from common.errors import DomainError, LockWaitTimeout
from common.input_safety import database_unavailable
from common.models import MAX_LMS_USER_ID

# A ceiling for any amount of money: $10 trillion, exact in a JSON float and far inside BIGINT.
MAX_CENTS = 10**15
RETRY_AFTER_SECONDS = 1


class ApiConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The change conflicts with existing data."
    default_code = "conflict"


_DRF_REASONS = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "malformed_request",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "invalid_input",
}


# --- error bodies ---------------------------------------------------------------------------------------


def error_body(
    reason: str,
    detail: str,
    *,
    field_errors: dict[str, list[str]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": reason, "detail": detail}
    if field_errors:
        body["field_errors"] = field_errors
    if metadata:
        body["metadata"] = metadata
    return body


def error_response(http_status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A response for an error; 429s and 503s always say when to retry."""
    headers = dict(headers or {})
    if http_status in (status.HTTP_429_TOO_MANY_REQUESTS, status.HTTP_503_SERVICE_UNAVAILABLE):
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return Response(body, status=http_status, headers=headers)


def status_for_reason(reason: str) -> int:
    """The HTTP status of a failure known only by its reason code (e.g. a recorded forced-redemption attempt)."""
    if reason == LockWaitTimeout.reason:
        return LockWaitTimeout.http_status
    return status.HTTP_422_UNPROCESSABLE_ENTITY


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID | dt.datetime | dt.date):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def domain_metadata(error: DomainError) -> dict[str, Any]:
    """The error's details as JSON: numbers of a refusal verdict, ids of a conflicting record, ..."""
    metadata: dict[str, Any] = {}
    for key, value in error.details.items():
        if hasattr(value, "as_dict"):
            metadata.update({k: _plain(v) for k, v in value.as_dict().items() if v not in (None, "")})
        else:
            metadata[key] = _plain(value)
    metadata.pop("can_redeem", None)
    metadata.pop("reason", None)
    metadata.pop("user_message", None)
    return metadata


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"courses[0].runs[1].price_cents": [...]}, the services' naming."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                name = prefix or "non_field_errors"
            elif isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in flatten_errors(value, name).items():
                out.setdefault(field, []).extend(messages)
    elif isinstance(detail, list | tuple) and any(isinstance(item, Mapping | list | tuple) for item in detail):
        for index, item in enumerate(detail):
            if item:
                out.update(flatten_errors(item, f"{prefix}[{index}]"))
    elif isinstance(detail, list | tuple):
        out[prefix or "non_field_errors"] = [str(item) for item in detail]
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


# --- the one exception handler ---------------------------------------------------------------------------


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every domain and framework error to one JSON shape.

    Anything not recognised here is a bug and stays a 500.
    """
    view = context.get("view")
    if isinstance(exc, DomainError):
        set_rollback()
        return _domain_response(exc, view, context.get("kwargs") or {})
    exc = _as_api_exception(exc)
    if exc is None:
        return None
    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    reason = next((code for cls, code in _DRF_REASONS.items() if isinstance(exc, cls)), exc.default_code)
    if isinstance(exc, exceptions.ValidationError):
        field_errors = flatten_errors(exc.detail)
        fields = ", ".join(sorted(field_errors))
        body = error_body(reason, f"The input is invalid: {fields}.", field_errors=field_errors)
        if view is not None and getattr(view, "field_error_aliases", None):
            body["field_errors"] = _aliased(body["field_errors"], view.field_error_aliases)
    else:
        body = error_body(reason, str(exc.detail))
    return error_response(exc.status_code, body, headers)


def _as_api_exception(exc: Exception) -> exceptions.APIException | None:
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, Http404):
        return exceptions.NotFound(str(exc) or None)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(_django_errors(exc))
    if isinstance(exc, ProtectedError | RestrictedError):
        objects = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        names = sorted({str(obj._meta.verbose_name_plural) for obj in objects})
        return ApiConflict(f"Other records still refer to this one ({', '.join(names)}); nothing was deleted.")
    if isinstance(exc, IntegrityError):
        return ApiConflict("The change conflicts with existing data; nothing was saved.")
    return database_unavailable(exc)


def _django_errors(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return {name: get_error_detail(DjangoValidationError(errors)) for name, errors in exc.error_dict.items()}
    return get_error_detail(exc)


def _aliased(field_errors: dict[str, list[str]], aliases: dict[str, str]) -> dict[str, list[str]]:
    return {aliases.get(name, name): messages for name, messages in field_errors.items()}


def _domain_response(error: DomainError, view, kwargs: dict[str, Any]) -> Response:
    field_errors = getattr(error, "field_errors", None) or None
    if field_errors and view is not None and getattr(view, "field_error_aliases", None):
        field_errors = _aliased(field_errors, view.field_error_aliases)
    metadata = domain_metadata(error)
    if error.http_status == 422 and getattr(view, "refusals_as_reference_list", False):
        policy_uuid = kwargs.get("policy_uuid")
        body: Any = [
            {
                "reason": error.reason,
                "user_message": error.message,
                "metadata": metadata,
                "policy_uuids": [str(policy_uuid)] if policy_uuid else [],
            }
        ]
    else:
        body = error_body(error.reason, error.message, field_errors=field_errors, metadata=metadata)
    return error_response(error.http_status, body)


# --- plain Django views for URLs no DRF view resolved ---------------------------------------------------


def not_found(request, exception=None):
    """handler404: JSON under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "No API endpoint or record at this address."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request):
    """handler500: JSON under /api/ (the error itself is logged by Django)."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", "Internal error; nothing is known to have changed."), status=500)
    from django.views.defaults import server_error as django_server_error

    return django_server_error(request)


# --- strict input -----------------------------------------------------------------------------------------


MAX_TEXT_CHARS = 4_000
_TOO_LONG = f"Ensure this field has no more than {MAX_TEXT_CHARS} characters."


class StrictFieldsMixin:
    """Refuse unknown fields (400 naming them) instead of silently ignoring a typo, and a change to a read-only one.

    `Meta.read_only_fields` holds for declared fields too (DRF applies it to generated fields only, so a
    declared field listed there stayed writable: a PATCH could rewrite a record's identity).
    """

    def get_fields(self):
        fields = super().get_fields()
        for name in getattr(getattr(self, "Meta", None), "read_only_fields", ()):
            field = fields.get(name)
            if field is not None and not field.read_only:
                field.read_only, field.required = True, False
        for field in fields.values():
            # Text without a column limit of its own (reasons, descriptions) is bounded all the same.
            if isinstance(field, serializers.CharField) and field.max_length is None and not field.read_only:
                field.max_length = MAX_TEXT_CHARS
                field.validators.append(MaxLengthValidator(MAX_TEXT_CHARS, message=_TOO_LONG))
        return fields

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
            changed = self._read_only_changes(data)
            if changed:
                raise serializers.ValidationError({name: ["This field cannot be changed."] for name in changed})
            not_text = [
                name
                for name, field in self.fields.items()
                if isinstance(field, serializers.CharField)
                and not field.read_only
                and data.get(name) is not None
                and not isinstance(data[name], str)
            ]
            if not_text:
                raise serializers.ValidationError({name: ["Must be a string."] for name in not_text})
        return super().to_internal_value(data)

    def _read_only_changes(self, data: Mapping) -> list[str]:
        """Read-only fields sent with a value other than the record's (sending them back unchanged is fine)."""
        instance = getattr(self, "instance", None)
        if instance is None:
            return []  # a create ignores read-only values, as DRF does
        changed = []
        for name, field in self.fields.items():
            if not field.read_only or name not in data or isinstance(field, serializers.DateTimeField):
                continue
            try:
                current = field.to_representation(field.get_attribute(instance))
            except Exception:  # noqa: BLE001 - a computed field we cannot compare: it is ignored, as DRF does
                continue
            if str(data[name]) != str(current):
                changed.append(name)
        return sorted(changed)


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    pass


class LmsUserIdField(serializers.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_LMS_USER_ID)
        kwargs.setdefault("help_text", "The learner's LMS user id.")
        super().__init__(**kwargs)


class CentsField(serializers.IntegerField):
    """A non-negative amount of USD cents."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_CENTS)
        super().__init__(**kwargs)


def _reject_nul(value: Any, where: str = "") -> None:
    if isinstance(value, str) and "\x00" in value:
        raise serializers.ValidationError(f"Text may not contain NUL characters{where}.")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _reject_nul(key, where)
            _reject_nul(item, where)
    elif isinstance(value, list):
        for item in value:
            _reject_nul(item, where)


@extend_schema_field({"type": "object", "additionalProperties": True})
class MetadataField(serializers.JSONField):
    """A JSON object that any database can store (PostgreSQL jsonb refuses NUL characters)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        _reject_nul(value)
        return value


def validated_query(serializer_class: type[serializers.Serializer], request) -> dict[str, Any]:
    """Validate query parameters with a serializer: bad values are a 400 naming the parameter."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- schema documentation of errors -------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Stable machine code, e.g. `invalid_input`, `policy_expired`.")
    detail = serializers.CharField(help_text="What went wrong, for people.")
    field_errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per-field messages (400 only).",
    )
    metadata = serializers.DictField(required=False, help_text="Numbers or ids that explain the error.")


_ERROR_DESCRIPTIONS = {
    400: "Invalid input; `field_errors` names each bad field.",
    401: "Not authenticated (send `Authorization: Token <key>` or a session cookie).",
    403: "Authenticated, but not allowed to do this (for this customer or learner).",
    404: "Not found.",
    409: "Conflicts with the current state (duplicate, settled or protected record).",
    422: "Refused by a domain rule; `reason` says which.",
    429: "A row lock could not be had in time (`lock_wait_timeout`; retry after `Retry-After` seconds), or "
    "redeeming this content for this learner failed too often lately (`too_many_failed_redemptions`); "
    "nothing changed.",
    503: "The database is unavailable; nothing changed. Retry after `Retry-After` seconds.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """`extend_schema(responses=...)` entries for error statuses (401 and 403 are always included)."""
    wanted = sorted({401, 403, *codes})
    return {code: OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS[code]) for code in wanted}


def only_api_endpoints(endpoints):
    """drf-spectacular preprocessing hook: document the REST API under /api/ only."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/")]


def strict_request_bodies(result, generator, request, public):
    """drf-spectacular postprocessing hook: request bodies refuse unknown fields, so say so in the schema."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result
