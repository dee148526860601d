from common.errors import DomainError


class FulfillmentError(DomainError):
    """The enrollment (or external order) could not be made. Reference ledger code."""

    reason = "fulfillment_error"


class EnrollmentRefused(FulfillmentError):
    """The run refuses the enrollment (closed, past deadline, already enrolled). Reference ledger code."""

    reason = "enrollment_error"


class MissingExecEdData(FulfillmentError):
    """Exec-ed content needs learner data for the external provider; the message names what is missing."""

    reason = "missing_exec_ed_data"
