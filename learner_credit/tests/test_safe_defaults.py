"""Safe by default: DEBUG off unless asked for, no start without a SECRET_KEY, and `check --deploy` clean under
the production environment the README documents."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

# The README's "Deploying" environment, word for word (test_the_readme_documents_it keeps the two in step).
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k7Qw-0m2bXyZ8sT4rV1nC6hJ9dF3gL5pA0eU2iO7yR4tW8qE1zX6cB3vN9mK5jH2",
    "ALLOWED_HOSTS": "credit.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://credit.example.org",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "BEHIND_TLS_PROXY": "true",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=clean | {"DATABASE_URL": "sqlite:////tmp/learner-credit-deploy-check.sqlite3"} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_the_documented_production_environment():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_debug_the_service_refuses_to_start_without_a_secret_key():
    env = {"DEBUG": "false", "SECRET_KEY": ""}
    serving = subprocess.run(
        [sys.executable, "-c", "import learner_credit.wsgi"],
        cwd=settings.BASE_DIR,
        env={k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert serving.returncode != 0
    assert "SECRET_KEY is not set" in serving.stderr
    deploy = _manage("check", "--deploy", env=env)
    assert deploy.returncode != 0
    assert "SECRET_KEY is not set" in deploy.stderr + deploy.stdout
    # Commands that serve nothing still run (a fresh clone's `manage.py check`, `makemigrations --check`).
    assert _manage("check", env=env).returncode == 0


def test_debug_is_off_unless_asked_for():
    show = ("shell", "-c", "from django.conf import settings; print(settings.DEBUG)")
    result = _manage(*show, env={"SECRET_KEY": PRODUCTION_ENV["SECRET_KEY"]})
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr
    asked = _manage(*show, env={"DEBUG": "true"})
    assert asked.stdout.strip().splitlines()[-1] == "True", asked.stderr


def test_the_readme_documents_it():
    readme = (settings.BASE_DIR / "README.md").read_text()
    for name, value in PRODUCTION_ENV.items():
        if name != "SECRET_KEY":
            assert f"{name}={value}" in readme, name
