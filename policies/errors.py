from common.errors import DomainError, InvalidInput, NotFound
from policies.reasons import user_message


class PolicyNotFound(NotFound):
    reason = "policy_not_found"


class RedemptionRefused(DomainError):
    """`can_redeem` said no. `reason` is one of policies.reasons; the message is the user message."""

    def __init__(self, reason: str, *, detail: str = "", **details) -> None:
        super().__init__(user_message(reason), reason=reason, **details)
        self.detail = detail


class PolicyInvalid(InvalidInput):
    reason = "invalid_policy"


class TooManyFailedRedemptions(DomainError):
    """Redeeming this content for this learner failed too often lately; the cause needs fixing first."""

    reason = "too_many_failed_redemptions"
    http_status = 429


class IdempotencyKeyMismatch(DomainError):
    """A caller's idempotency key already names a transaction for another learner, content or price."""

    reason = "idempotency_key_mismatch"
