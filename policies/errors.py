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
