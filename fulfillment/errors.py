from common.errors import DomainError


class FulfillmentError(DomainError):
    """The enrollment (or external order) could not be made. Reference ledger code.

    A definitive refusal: the redemption ends `failed` and nothing is charged. `details` may carry the
    downstream's answer (`system`, `http_status`, `body_excerpt`) for the record.
    """

    reason = "fulfillment_error"


class EnrollmentRefused(FulfillmentError):
    """The run refuses the enrollment (closed, past deadline, already enrolled). Reference ledger code."""

    reason = "enrollment_error"


class MissingExecEdData(FulfillmentError):
    """Exec-ed content needs learner data for the external provider; the message names what is missing."""

    reason = "missing_exec_ed_data"


class DownstreamUnavailable(DomainError):
    """The downstream's answer is unknown (timeout, 5xx, connection reset, malformed body, token endpoint down).

    Not a refusal: the enrollment may or may not have been made, so the redemption stays `pending` and the
    same transaction is tried again (the downstream is idempotent by the transaction uuid).
    """

    reason = "downstream_unavailable"
    http_status = 503
