"""WSGI entry point (used by gunicorn in benchmarks and deployments)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "learner_credit.settings")
application = get_wsgi_application()
