from common.errors import Conflict, DomainError


class DuplicateForcedRedemption(Conflict):
    """A redeemed forced redemption for the same (policy, learner, run) already stands."""

    reason = "duplicate_forced_redemption"


class SettledForcedRedemption(DomainError):
    """A redeemed record's policy, learner, run and price can no longer change (undo = reversal)."""

    reason = "forced_redemption_settled"
    http_status = 409


class ForcePermissionDenied(DomainError):
    reason = "permission_denied"
    http_status = 403
