"""JWTs as the Open edX LMS signs them, for tests and the fake LMS's token endpoint.

The LMS signs with HS256 and a shared secret in development and with RS512 and a private RSA key in
production (the services get its public keys as a JWK set). The claims are the LMS's: `preferred_username`,
`user_id`, `email`, `administrator`, `roles` (edx-rbac `"<role>:<context>"` strings), `iss`, `aud`, `exp`,
`iat`, `version`, `scopes`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

DEFAULT_ISSUER = "http://127.0.0.1:18000/oauth2"
DEFAULT_AUDIENCE = "lms-key"


@dataclass
class LmsSigner:
    """Signs LMS tokens; `jwt_auth()` is the service's JWT_AUTH setting that trusts them."""

    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    secret: str = "lms-development-jwt-secret-0123456789"
    key_id: str = "lms-test-key"
    private_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    @property
    def public_jwk_set(self) -> str:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.key_id, "alg": "RS512", "use": "sig"})
        return json.dumps({"keys": [jwk]})

    def claims(
        self,
        *,
        username: str,
        user_id: int | None = None,
        roles: list[str] | tuple[str, ...] = (),
        administrator: bool = False,
        email: str | None = None,
        expires_in: int = 3600,
        **extra,
    ) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "exp": now + expires_in,
            "iat": now,
            "version": "1.2.0",
            "scopes": ["read", "write", "email", "profile"],
            "preferred_username": username,
            "email": email or f"{username}@example.com",
            "administrator": administrator,
            "roles": list(roles) if isinstance(roles, list | tuple) else roles,
            "filters": [],
            "is_restricted": False,
        }
        if user_id is not None:
            claims["user_id"] = user_id
        claims.update(extra)
        return claims

    def token(self, *, signed_with: str = "RS512", **claims) -> str:
        payload = self.claims(**claims)
        if signed_with == "HS256":
            return jwt.encode(payload, self.secret, algorithm="HS256")
        return jwt.encode(payload, self.private_key, algorithm=signed_with, headers={"kid": self.key_id})

    def jwt_auth(self, base: dict, *, secret: bool = True, jwk_set: bool = True) -> dict:
        """`base` (settings.JWT_AUTH) trusting this signer's secret and/or public keys."""
        issuer = {"ISSUER": self.issuer, "AUDIENCE": self.audience, "SECRET_KEY": self.secret if secret else None}
        return {
            **base,
            "JWT_ISSUERS": [issuer],
            "JWT_ISSUER": self.issuer,
            "JWT_AUDIENCE": self.audience,
            "JWT_SECRET_KEY": issuer["SECRET_KEY"],
            "JWT_PUBLIC_SIGNING_JWK_SET": self.public_jwk_set if jwk_set else None,
        }


def split_for_cookies(token: str) -> dict[str, str]:
    """The LMS's two JWT cookies: header.payload, and the signature (kept HttpOnly by the LMS)."""
    header, payload, signature = token.split(".")
    return {"edx-jwt-cookie-header-payload": f"{header}.{payload}", "edx-jwt-cookie-signature": signature}
