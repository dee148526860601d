"""Operators can watch it: /health/ (which part is down), /metrics (Prometheus, with the domain's own), and one
JSON log line per domain event without personal data."""

from __future__ import annotations

import json
import logging

import pytest

from policies.services import redeem
from testing.factories import make_scenario

pytestmark = pytest.mark.django_db


def test_health_answers_with_the_database_up(client):
    response = client.get("/health/", {"format": "json"})
    assert response.status_code == 200
    assert response.json() == {"Database(alias='default')": "OK"}
    assert client.get("/health/live/").content == b"ok"


def test_health_says_which_part_is_down(client, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"  # configured, and nothing listens there

    response = client.get("/health/", {"format": "json"})

    assert response.status_code == 500
    body = response.json()
    assert body["Database(alias='default')"] == "OK"
    [rabbit] = [value for name, value in body.items() if name.startswith("RabbitMQ")]
    assert "unable to connect" in rabbit.lower()


def test_metrics_show_requests_and_the_domains_counters(client):
    s = make_scenario()
    redeem(policy=s.policy, lms_user_id=s.learner.lms_user_id, content_key=s.run.key)

    text = client.get("/metrics").content.decode()

    assert "django_http_requests_total_by_method_total" in text
    assert 'learner_credit_redemptions_total{outcome="committed",reason="-"}' in text
    assert "learner_credit_redeem_seconds_bucket" in text
    assert "learner_credit_fulfillment_pending_jobs 0.0" in text


def test_each_redemption_is_one_json_log_line_without_metadata_values(caplog):
    s = make_scenario()
    caplog.set_level(logging.INFO, logger="learner_credit.events")

    entry = redeem(
        policy=s.policy,
        lms_user_id=s.learner.lms_user_id,
        content_key=s.run.key,
        metadata={"geag_date_of_birth": "1990-12-09"},
    ).transaction

    lines = [r for r in caplog.records if r.name == "learner_credit.events"]
    [event] = [r.msg for r in lines if isinstance(r.msg, dict) and r.msg.get("event") == "redemption"]
    assert event["transaction_uuid"] == str(entry.uuid)
    assert event["policy_uuid"] == str(s.policy.uuid) and event["lms_user_id"] == s.learner.lms_user_id
    assert event["outcome"] == "committed"
    assert "1990-12-09" not in json.dumps([r.msg for r in lines], default=str)
