"""What a batch refuses, with stable reason codes (common.errors)."""

from __future__ import annotations

from common.errors import Conflict, InvalidInput


class BatchFileRejected(InvalidInput):
    """The file cannot be used at all; `details["file_errors"]` lists why. Nothing was stored."""

    reason = "invalid_file"


class BatchNotStartable(Conflict):
    reason = "batch_not_startable"


class BatchNotCancellable(Conflict):
    reason = "batch_not_cancellable"
