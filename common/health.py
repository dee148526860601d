"""`/health/`: readiness (the database, and the broker where one is configured) through django-health-check;
`/health/live/`: liveness (the process answers). `?format=json` names each part and whether it works; the
status is 500 when a part is down."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from health_check.views import HealthCheckView


class ReadinessView(HealthCheckView):
    @property
    def checks(self):
        checks: list = ["health_check.Database"]
        if settings.CELERY_BROKER_URL:
            checks.append(("health_check.contrib.rabbitmq.RabbitMQ", {"namespace": "CELERY"}))
        return checks


def liveness(request):
    return HttpResponse("ok", content_type="text/plain")
