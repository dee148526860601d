"""The forced-redemption tests' staff users (one who may force, one who may only look) and their browser."""

from forced_redemptions.tests.conftest import forcer, forcer_client, viewer, viewer_client
from forced_redemptions.tests.test_browser import chromium_page

__all__ = ["chromium_page", "forcer", "forcer_client", "viewer", "viewer_client"]
