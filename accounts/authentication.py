"""How API callers authenticate: our own tokens, and the Open edX LMS's JWTs.

Token authentication reads the caller's learner identity in the same query: every learner request needs
both the user and its `lms_user_id`; one join instead of two round trips.
"""

from __future__ import annotations

import time

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from edx_rest_framework_extensions.auth.jwt.authentication import JwtAuthentication
from edx_rest_framework_extensions.auth.jwt.decoder import unsafe_jwt_decode_handler
from rest_framework import authentication, exceptions
from rest_framework.permissions import SAFE_METHODS

from accounts.jwt import MalformedClaims, grants_from_claims


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        model = self.get_model()
        token = model.objects.select_related("user", "user__api_identity").filter(key=key).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return (token.user, token)


def jwt_configured() -> bool:
    """JWT is on when the LMS's signing key is: a shared secret (HS256) or a public JWK set (RS512)."""
    jwt_auth = settings.JWT_AUTH
    return bool(jwt_auth.get("JWT_PUBLIC_SIGNING_JWK_SET") or jwt_auth["JWT_ISSUERS"][0].get("SECRET_KEY"))


class LmsJwtAuthentication(JwtAuthentication):
    """The LMS's JWTs (`Authorization: JWT <token>` or its two JWT cookies), verified by edx-drf-extensions.

    The user is the Django user named by the token's `preferred_username` (created on first sight, as every
    Open edX service does); what it may do is read from the token's claims for this request only
    (accounts/jwt.py). A token whose claims have the wrong types is refused like a badly signed one.
    """

    def authenticate(self, request):
        if not jwt_configured():
            return None
        try:
            result = super().authenticate(request)
        except exceptions.AuthenticationFailed as error:
            raise exceptions.AuthenticationFailed(_why_refused(request, error)) from error
        if result is None and request.method not in SAFE_METHODS and self.is_authenticating_with_jwt_cookie(request):
            # The library forgives a cookie write without the CSRF token (another login may still apply);
            # say what is missing rather than "not authenticated".
            self.enforce_csrf(request)
        return result

    def authenticate_credentials(self, payload):
        try:
            grants = grants_from_claims(payload)
        except MalformedClaims as error:
            raise exceptions.AuthenticationFailed(str(error)) from error
        user = super().authenticate_credentials(payload)
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        user.jwt_grants = grants
        return user


def _why_refused(request, error: exceptions.AuthenticationFailed) -> str:
    """The library says "Invalid token." for most failures; say which check failed, from the claims it bore."""
    if str(error.detail) not in ("Invalid token.", "Error decoding signature."):
        return str(error.detail)
    try:
        claims = unsafe_jwt_decode_handler(JwtAuthentication.get_token_from_request(request))
    except Exception:  # noqa: BLE001 - any decoding failure means the same thing: not a JWT
        return "The JWT is malformed: it is not three base64url parts with a JSON payload."
    issuer = settings.JWT_AUTH["JWT_ISSUERS"][0]
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp < time.time():
        return "The JWT has expired; get a new one from the LMS."
    if claims.get("iss") != issuer["ISSUER"]:
        return f"The JWT was issued by {claims.get('iss')!r}, not by the LMS trusted here ({issuer['ISSUER']!r})."
    if claims.get("aud") != issuer["AUDIENCE"]:
        return f"The JWT is for audience {claims.get('aud')!r}, not {issuer['AUDIENCE']!r}."
    return "The JWT's signature does not verify with the LMS keys this service is configured with."


class LmsJwtScheme(OpenApiAuthenticationExtension):
    """How the schema names the LMS's JWT: `Authorization: JWT <token>` (or the LMS's two JWT cookies)."""

    target_class = "accounts.authentication.LmsJwtAuthentication"
    name = "lmsJwt"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`JWT <token>` signed by the Open edX LMS (or its cookies `edx-jwt-cookie-header-payload` "
            "and `edx-jwt-cookie-signature`, with `X-CSRFToken` on writes).",
        }
