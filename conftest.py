"""Fixtures shared by every app's tests. Everything runs on the real database."""

import pytest
from django.conf import settings
from django.db import connection

from demo import data as demo_data

# Tests create many users; the production hasher (PBKDF2, deliberately slow) took most of the suite's time.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def demo(db):
    """The demo data set, loaded through the real services; returns the demo.data module."""
    from demo.services import load_demo

    load_demo()
    return demo_data


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_user("staff", "staff@example.com", "pw", is_staff=True)


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")


requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL row locks and concurrent connections; SQLite tests use one in-memory connection",
)


@pytest.fixture
def fake_lms():
    """A fake Open edX LMS on loopback (testing/fakes/lms.py), stopped after the test."""
    from testing.fakes.lms import FakeLms

    lms = FakeLms(hold_seconds=3.0).start()
    yield lms
    lms.stop()


@pytest.fixture
def fake_geag():
    """A fake GetSmarter Enterprise API Gateway on loopback (testing/fakes/geag.py)."""
    from testing.fakes.geag import FakeGeag

    geag = FakeGeag(hold_seconds=3.0).start()
    yield geag
    geag.stop()


@pytest.fixture
def lms_backend(settings, monkeypatch, fake_lms, fake_geag):
    """FULFILLMENT_BACKEND=lms against the fakes, with short timeouts and retries due at once."""
    from django.core.cache import cache
    from edx_django_utils.cache import RequestCache

    # oauthlib (under getsmarter-api-clients) refuses a token endpoint that is not https; the fake is plain http.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")

    settings.FULFILLMENT_BACKEND = "lms"
    settings.LMS_URL = fake_lms.url
    settings.LMS_OAUTH2_CLIENT_ID = fake_lms.client_id
    settings.LMS_OAUTH2_CLIENT_SECRET = fake_lms.client_secret
    settings.GEAG_API_URL = fake_geag.url
    settings.GEAG_OAUTH2_PROVIDER_URL = fake_geag.url
    settings.GEAG_OAUTH2_CLIENT_ID = fake_geag.client_id
    settings.GEAG_OAUTH2_CLIENT_SECRET = fake_geag.client_secret
    settings.LMS_CONNECT_TIMEOUT_SECONDS = 1.0
    settings.LMS_READ_TIMEOUT_SECONDS = 1.0
    settings.FULFILLMENT_RETRY_BASE_SECONDS = 0.0
    cache.clear()
    RequestCache.clear_all_namespaces()
    yield fake_lms
    cache.clear()
    RequestCache.clear_all_namespaces()


@pytest.fixture(scope="session")
def _lms_signer():
    from testing.lms_jwt import LmsSigner

    return LmsSigner()  # one RSA key per run: generating one costs ~0.1 s


@pytest.fixture
def lms_signer(settings, _lms_signer):
    """An LMS that signs JWTs (testing/lms_jwt.py), with the service configured to trust its keys."""
    settings.JWT_AUTH = _lms_signer.jwt_auth(settings.JWT_AUTH)
    return _lms_signer
