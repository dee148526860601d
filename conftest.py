"""Fixtures shared by every app's tests. Everything runs on the real database."""

import pytest
from django.db import connection

from demo import data as demo_data


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
