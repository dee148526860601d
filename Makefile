# Two commands matter: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PORT ?= 8000
DEMO_ADMIN_PASSWORD ?= admin
# Serving without DEBUG (the benchmarks' gunicorn) needs a SECRET_KEY: a throwaway one unless set.
export SECRET_KEY ?= insecure-throwaway-key-for-tests-and-benchmarks-only-0123456789

.PHONY: run test lint bench venv schema worker beat

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: export DEBUG = true
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	DEMO_ADMIN_PASSWORD='$(DEMO_ADMIN_PASSWORD)' $(PY) manage.py ensure_demo_admin
	@echo ""
	@echo "  Learner credit is starting on http://127.0.0.1:$(PORT)/"
	@echo "  Admin:  http://127.0.0.1:$(PORT)/admin/   login: admin / $(DEMO_ADMIN_PASSWORD)"
	@echo ""
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

test: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) benchmarks/run.py $(BENCH_ARGS)

# Background work (optional): needs CELERY_BROKER_URL, e.g. amqp://guest:guest@127.0.0.1:5672//
worker: $(STAMP)
	$(VENV)/bin/celery -A learner_credit worker --loglevel=INFO --concurrency=$(shell nproc)

beat: $(STAMP)
	$(VENV)/bin/celery -A learner_credit beat --loglevel=INFO

# Regenerate the committed OpenAPI schema (a test fails when it drifts from the code).
schema: $(STAMP)
	$(PY) manage.py spectacular --file openapi.yaml --validate
