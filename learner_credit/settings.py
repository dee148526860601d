"""Settings for the learner-credit service, read from the environment (django-environ).

`DATABASE_URL` chooses the database; without it an embedded SQLite file is used, opened with
IMMEDIATE transactions so that concurrent writers queue for the write lock instead of failing
half-way through a redemption.
"""

import secrets
from pathlib import Path

import environ
import structlog
from corsheaders.defaults import default_headers as cors_default_headers

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost", "testserver"]),
    LOCK_WAIT_TIMEOUT_SECONDS=(float, 5.0),
)

# Off unless asked for (`make run` asks). Without DEBUG the service needs a real SECRET_KEY: serving refuses
# to start without one (wsgi.py) and `check --deploy` reports it (common/checks.py). Management commands that
# serve nothing (migrations, checks, the schema) run with a throwaway key of their own process.
DEBUG = env("DEBUG")
SECRET_KEY = env("SECRET_KEY", default="")
SECRET_KEY_IS_SET = bool(SECRET_KEY)
SECRET_KEY_MISSING = (
    'SECRET_KEY is not set. Set it (a long random string, e.g. from `python -c "import secrets; '
    'print(secrets.token_urlsafe(50))"`), or set DEBUG=true for local development.'
)
if not SECRET_KEY:
    SECRET_KEY = ("dev-only-insecure-key-for-debug-" + "0" * 32) if DEBUG else secrets.token_urlsafe(50)
ALLOWED_HOSTS = env("ALLOWED_HOSTS")

# Behind TLS in production (README, "Deploying"); off by default so plain-HTTP local runs and tests work.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_prometheus",
    "django_structlog",
    "corsheaders",
    "csrf",  # edx-drf-extensions: GET /csrf/api/v1/token, which Open edX frontends call before a POST
    "common",
    "customers",
    "accounts",
    "catalog",
    "fulfillment",
    "subsidies",
    "assignments",
    "policies",
    "forced_redemptions",
    "forced_batches",
    "demo",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "common.middleware.ApiJsonErrorsMiddleware",
    "common.input_safety.UnsafeRequestMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Joins the LMS's two JWT cookies into the one JwtAuthentication reads (accounts/authentication.py).
    "edx_rest_framework_extensions.auth.jwt.middleware.JwtAuthCookieMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "learner_credit.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "learner_credit.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if env("TEST_DATABASE_NAME", default=""):
    # Lets several test runs share one PostgreSQL server without trampling each other's test database.
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME")}
# Reuse a connection across requests (health-checked first): a new PostgreSQL connection per request
# costs a server process start, more than a whole redemption (see BENCHMARKS.md).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Every lock wait is bounded from the connection's first statement on, so a redemption unit needs no
    # `SET LOCAL lock_timeout` round trip of its own (common/locking.py sets one only when the setting
    # differs from this, e.g. a test's shorter timeout).
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = (
        f"{_options.get('options', '')} -c lock_timeout={int(env('LOCK_WAIT_TIMEOUT_SECONDS') * 1000)}"
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL: readers do not block the writer, and a commit appends to one log instead of rewriting pages.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL"}
    )

# Bounds on what one caller can make the service keep: a transaction's metadata (JSON, bytes), and failed
# redemption tries of one content for one learner under one policy within 24 hours (then 429).
MAX_METADATA_BYTES = env.int("MAX_METADATA_BYTES", default=16_384)
MAX_FAILED_REDEMPTIONS_PER_DAY = env.int("MAX_FAILED_REDEMPTIONS_PER_DAY", default=10)

# How long a redemption waits for a row lock before giving up with a retryable error.
LOCK_WAIT_TIMEOUT_SECONDS = env("LOCK_WAIT_TIMEOUT_SECONDS")

# The enrollment backend fulfillment uses (fulfillment/backends.py): "local" (this database only), "lms"
# (the Open edX LMS, and GEAG for exec-ed runs, over HTTP), or a dotted path.
FULFILLMENT_BACKEND = env("FULFILLMENT_BACKEND", default="local")
LMS_URL = env("LMS_URL", default="")
LMS_OAUTH2_CLIENT_ID = env("LMS_OAUTH2_CLIENT_ID", default="")
LMS_OAUTH2_CLIENT_SECRET = env("LMS_OAUTH2_CLIENT_SECRET", default="")
# Every downstream call (LMS, GEAG, their token endpoints) has these timeouts; the read timeout is also
# how long a redeem waits for the LMS before it answers with the transaction still pending.
LMS_CONNECT_TIMEOUT_SECONDS = env.float("LMS_CONNECT_TIMEOUT_SECONDS", default=3.05)
LMS_READ_TIMEOUT_SECONDS = env.float("LMS_READ_TIMEOUT_SECONDS", default=5.0)
GEAG_API_URL = env("GEAG_API_URL", default="")
GEAG_OAUTH2_PROVIDER_URL = env("GEAG_OAUTH2_PROVIDER_URL", default="")
GEAG_OAUTH2_CLIENT_ID = env("GEAG_OAUTH2_CLIENT_ID", default="")
GEAG_OAUTH2_CLIENT_SECRET = env("GEAG_OAUTH2_CLIENT_SECRET", default="")
# Retries of a fulfillment whose outcome is unknown: exponential backoff from BASE up to MAX seconds; after
# MAX_ATTEMPTS tries the job is shown to staff as needing attention (and still retried at MAX).
FULFILLMENT_RETRY_BASE_SECONDS = env.float("FULFILLMENT_RETRY_BASE_SECONDS", default=10.0)
FULFILLMENT_RETRY_MAX_SECONDS = env.float("FULFILLMENT_RETRY_MAX_SECONDS", default=3600.0)
FULFILLMENT_MAX_ATTEMPTS = env.int("FULFILLMENT_MAX_ATTEMPTS", default=8)
# How long one try holds its claim on a job: longer than a try can take (token + GEAG + LMS calls).
FULFILLMENT_LEASE_SECONDS = env.float("FULFILLMENT_LEASE_SECONDS", default=60.0)

# Background work (Celery): fulfillment retries, the reconciler and waiting forced redemptions. With no
# broker configured, tasks run inline and nothing is scheduled (cron runs the management commands).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="learner_credit")
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves the message for another one
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
# A broker that is down must not hold a redeem request for long: the reconciler finds what was not queued.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_BEAT_SCHEDULE = {
    "reconcile-fulfillment": {
        "task": "policies.tasks.reconcile_fulfillment",
        "schedule": env.float("RECONCILE_EVERY_SECONDS", default=60.0),
    },
    "redeem-waiting-forced-redemptions": {
        "task": "forced_redemptions.tasks.redeem_waiting",
        "schedule": env.float("REDEEM_WAITING_EVERY_SECONDS", default=300.0),
    },
    "resume-forced-redemption-batches": {
        "task": "forced_batches.tasks.resume_batches",
        "schedule": env.float("RESUME_BATCHES_EVERY_SECONDS", default=60.0),
    },
}

# edx-django-utils (used by the downstream clients) reports to no telemetry backend here.
OPENEDX_TELEMETRY = []

# Tokens of downstream clients are cached here (edx-django-utils' TieredCache uses the default cache).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="learner-credit@localhost")

# --- the Open edX LMS's JWTs (README, "Using it from Open edX") ---------------------------------------------
# On when the LMS's signing key is configured: JWT_SECRET_KEY (HS256, a development LMS) and/or
# JWT_PUBLIC_SIGNING_JWK_SET (a JSON JWK set of public keys, RS512, a production LMS). Verified by
# edx-drf-extensions against JWT_ISSUER and JWT_AUDIENCE; the claims' rights are read in accounts/jwt.py.
JWT_ISSUER = env("JWT_ISSUER", default="http://localhost:18000/oauth2")
JWT_AUDIENCE = env("JWT_AUDIENCE", default="lms-key")
JWT_SECRET_KEY = env("JWT_SECRET_KEY", default="")
JWT_PUBLIC_SIGNING_JWK_SET = env("JWT_PUBLIC_SIGNING_JWK_SET", default="")
JWT_AUTH = {
    "JWT_ISSUERS": [{"ISSUER": JWT_ISSUER, "AUDIENCE": JWT_AUDIENCE, "SECRET_KEY": JWT_SECRET_KEY or None}],
    "JWT_ISSUER": JWT_ISSUER,
    "JWT_AUDIENCE": JWT_AUDIENCE,
    # Never Django's SECRET_KEY, which drf-jwt would fall back to: only the LMS's key verifies its tokens.
    "JWT_SECRET_KEY": JWT_SECRET_KEY or None,
    "JWT_PUBLIC_SIGNING_JWK_SET": JWT_PUBLIC_SIGNING_JWK_SET or None,
    "JWT_ALGORITHM": "HS256",
    "JWT_DECODE_HANDLER": "edx_rest_framework_extensions.auth.jwt.decoder.jwt_decode_handler",
    "JWT_VERIFY_EXPIRATION": True,
    "JWT_LEEWAY": env.int("JWT_LEEWAY_SECONDS", default=1),
    "JWT_AUTH_HEADER_PREFIX": "JWT",
    "JWT_AUTH_COOKIE": "edx-jwt-cookie",
    "JWT_AUTH_COOKIE_HEADER_PAYLOAD": env("JWT_AUTH_COOKIE_HEADER_PAYLOAD", default="edx-jwt-cookie-header-payload"),
    "JWT_AUTH_COOKIE_SIGNATURE": env("JWT_AUTH_COOKIE_SIGNATURE", default="edx-jwt-cookie-signature"),
    "JWT_PAYLOAD_GET_USERNAME_HANDLER": lambda payload: payload.get("preferred_username") or payload.get("username"),
}
EDX_DRF_EXTENSIONS = {
    # Only the email is copied onto the user; rights (is_staff included) are read from each token, not stored.
    "JWT_PAYLOAD_USER_ATTRIBUTE_MAPPING": {"email": "email"},
}
# Links in the reference's transaction shape: this service's public base URL (else each request's host), and the
# learning MFE, where `courseware_url` points (`{FRONTEND_APP_LEARNING_URL}/course/{run key}/home`).
ENTERPRISE_SUBSIDY_URL = env("ENTERPRISE_SUBSIDY_URL", default="")
FRONTEND_APP_LEARNING_URL = env("FRONTEND_APP_LEARNING_URL", default="http://localhost:2000")
# Open edX frontends (the learner portal) call from their own origin with the JWT cookies.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_ALLOW_HEADERS = (*cors_default_headers, "use-jwt-cookie")  # sent by @edx/frontend-platform
CORS_URLS_REGEX = r"^/(api|csrf)/.*$"

REST_FRAMEWORK = {
    # Token first: an unauthenticated request gets 401 with `WWW-Authenticate: Token`, not a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "accounts.authentication.LmsJwtAuthentication",  # off (passes) unless the LMS's key is configured
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["common.input_safety.SafeJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Learner credit API",
    "DESCRIPTION": (
        "Learner redemption (Open edX enterprise-access v1 shapes), the subsidy ledger (enterprise-subsidy v2 "
        "shapes), provisioning for staff and forced redemptions (ADR 0019). Money is integer USD cents. "
        "Authenticate with `Authorization: Token <key>` or a session. Every error body is "
        "`{reason, detail, field_errors?, metadata?}`, except a refused learner redeem (422), which is the "
        "reference list `[{reason, user_message, metadata, policy_uuids}]`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc served from this service (drf-spectacular-sidecar), not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]",
    # The schema describes /api/ (not /csrf/, edx-drf-extensions' token view for Open edX frontends).
    "PREPROCESSING_HOOKS": ["common.api.only_api_endpoints"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.api.strict_request_bodies",
    ],
    "ENUM_NAME_OVERRIDES": {
        "TransactionStateEnum": "subsidies.models.TransactionState",
        "ForcedStateEnum": "forced_redemptions.models.ForcedState",
        "AssignmentStateEnum": "assignments.models.AssignmentState",
        "AttemptOutcomeEnum": "forced_redemptions.models.AttemptOutcome",
        "PolicyTypeEnum": "policies.models.PolicyType",
        "AccessMethodEnum": "policies.models.AccessMethod",
        "ProductSourceEnum": "catalog.models.ProductSource",
        "MembershipRoleEnum": "accounts.models.MembershipRole",
        "BatchStateEnum": "forced_batches.models.BatchState",
    },
}

# Logs are JSON lines (structlog through the standard library): one per domain event (common/events.py) with
# its transaction, policy, learner and reason, and one per request (django-structlog, with a request id).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processor": structlog.processors.JSONRenderer(),
            "foreign_pre_chain": [
                structlog.contextvars.merge_contextvars,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.stdlib.add_logger_name,
                structlog.stdlib.add_log_level,
            ],
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
    "loggers": {
        "learner_credit.events": {"level": env("EVENTS_LOG_LEVEL", default="INFO")},
        "django_structlog": {"level": env("REQUEST_LOG_LEVEL", default="ERROR")},
        # Django logs every 4xx as a warning; refusals are already one event line each (above).
        "django.request": {"level": env("DJANGO_REQUEST_LOG_LEVEL", default="ERROR")},
        # getsmarter-api-clients logs a failed allocation's whole payload (the learner's name, email, date of
        # birth); our DownstreamCall rows keep what is needed without it.
        "getsmarter_api_clients": {"handlers": [], "level": "CRITICAL", "propagate": False},
        # edx-drf-extensions logs a traceback for every refused JWT; the caller's 401 says why already.
        "edx_rest_framework_extensions.auth.jwt": {"level": env("JWT_LOG_LEVEL", default="CRITICAL")},
    },
}
# Request log lines carry a request id, not the user: binding the user would load the session from the
# database in the middleware itself, where a database outage could no longer be answered with a 503.
DJANGO_STRUCTLOG_USER_ID_FIELD = None

structlog.configure(
    processors=[
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.filter_by_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    cache_logger_on_first_use=True,
)
