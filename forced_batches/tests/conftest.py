"""The forced-redemption tests' staff users: one who may force, one who may only look."""

from forced_redemptions.tests.conftest import forcer, forcer_client, viewer, viewer_client

__all__ = ["forcer", "forcer_client", "viewer", "viewer_client"]
