"""The documented way to serve the service (README, "Deploying"): `gunicorn -c gunicorn.conf.py learner_credit.wsgi`.

Threaded workers, one per CPU: a request waiting on the LMS holds no lock and lets the others run, and a
client that sends its request slowly holds one thread, not a whole worker (learner_credit/tests/
test_slow_clients.py). Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = 30  # a worker silent this long is restarted
graceful_timeout = 30
keepalive = 5
# Bounds on what one client can make a worker hold or read.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
