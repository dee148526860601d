"""Every answer under /api/ is JSON, whatever DEBUG is.

With DEBUG on, Django answers an unknown address or an unhandled error with its HTML debug pages instead of
handler404/handler500 (common/api.py). API callers parse JSON; this turns those pages into the common error
body. The error itself is still logged by Django and shown on the console.
"""

from __future__ import annotations

from common.api import not_found, server_error

_JSON_PAGES = {404: not_found, 500: server_error}


class ApiJsonErrorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code in _JSON_PAGES
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return _JSON_PAGES[response.status_code](request)
        return response
