"""System checks of the service's own settings (Django's own cover the rest of `check --deploy`)."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def secret_key_is_set(app_configs, **kwargs):
    """Without DEBUG, SECRET_KEY comes from the environment (a throwaway one would sign nothing for long)."""
    if settings.DEBUG or settings.SECRET_KEY_IS_SET:
        return []
    return [Error(settings.SECRET_KEY_MISSING, id="learner_credit.E001")]
