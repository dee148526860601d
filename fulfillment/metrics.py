"""Prometheus gauges read at scrape time: pending fulfillment jobs and the age of the oldest one."""

from __future__ import annotations

from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

PENDING = ("learner_credit_fulfillment_pending_jobs", "Redemptions waiting for the LMS or GEAG.")
OLDEST = (
    "learner_credit_fulfillment_oldest_pending_seconds",
    "Age of the oldest pending fulfillment job (0 when none).",
)


class PendingFulfillmentCollector:
    def describe(self):
        # Registering asks for the names; answering here keeps the database out of app start-up.
        return [GaugeMetricFamily(*PENDING), GaugeMetricFamily(*OLDEST)]

    def collect(self):
        from fulfillment.models import FulfillmentJob, JobState

        try:
            pending = FulfillmentJob.objects.filter(state=JobState.PENDING).aggregate(
                n=Min("created"), count=Count("pk")
            )
            count = pending["count"]
        except DatabaseError:
            return  # no database: /health/ says so; the metric is absent rather than wrong
        oldest = pending["n"]
        yield GaugeMetricFamily(*PENDING, value=count)
        yield GaugeMetricFamily(*OLDEST, value=(timezone.now() - oldest).total_seconds() if oldest else 0.0)
