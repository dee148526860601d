"""System checks of the service's own settings (Django's own cover the rest of `check --deploy`)."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def secret_key_is_set(app_configs, **kwargs):
    """Without DEBUG, SECRET_KEY comes from the environment (a throwaway one would sign nothing for long)."""
    if settings.DEBUG or settings.SECRET_KEY_IS_SET:
        return []
    return [Error(settings.SECRET_KEY_MISSING, id="learner_credit.E001")]


@register(Tags.security)
def jwt_keys_are_usable(app_configs, **kwargs):
    """A JWK set that does not parse would refuse every LMS token at request time; say so at start."""
    jwk_set = settings.JWT_PUBLIC_SIGNING_JWK_SET
    if not jwk_set:
        return []
    from jwt import PyJWKSet
    from jwt.exceptions import PyJWKError, PyJWKSetError

    try:
        PyJWKSet.from_json(jwk_set)
    except (PyJWKError, PyJWKSetError, ValueError, TypeError) as error:
        return [
            Error(
                f"JWT_PUBLIC_SIGNING_JWK_SET is not a usable JSON JWK set: {error}",
                hint='Give the LMS\'s public keys as JSON: {"keys": [{"kty": "RSA", "n": "...", "e": "AQAB", ...}]}.',
                id="learner_credit.E002",
            )
        ]
    return []
