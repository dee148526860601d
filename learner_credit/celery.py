"""The Celery app: background fulfillment retries, the reconciler and waiting forced redemptions.

Start a worker with `make worker` (and `make beat` for the periodic tasks) against CELERY_BROKER_URL,
e.g. amqp://guest:guest@127.0.0.1:5672//. Without a broker tasks run inline (settings.py).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "learner_credit.settings")

app = Celery("learner_credit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
