"""WSGI entry point (gunicorn, and runserver through WSGI_APPLICATION).

Serving without DEBUG needs a SECRET_KEY of the environment's: without one the service refuses to start.
"""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "learner_credit.settings")
if not settings.DEBUG and not settings.SECRET_KEY_IS_SET:
    raise ImproperlyConfigured(settings.SECRET_KEY_MISSING)
application = get_wsgi_application()
