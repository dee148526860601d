from common.errors import Conflict, DomainError, NotFound


class SubsidyNotFound(NotFound):
    reason = "subsidy_not_found"


class InactiveSubsidy(DomainError):
    reason = "inactive_subsidy_creation_error"


class TransactionCreationError(DomainError):
    reason = "transaction_creation_error"


class InvalidRequestedPrice(DomainError):
    reason = "invalid_requested_price"


class AlreadyReversed(Conflict):
    reason = "already_reversed"


class NotReversible(DomainError):
    reason = "not_reversible"
