from common.errors import NotFound


class ContentNotFound(NotFound):
    """Matches the reference ledger's `content_not_found` code."""

    reason = "content_not_found"
