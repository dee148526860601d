from common.errors import Conflict, DomainError


class DuplicateForcedRedemption(Conflict):
    """A redeemed, unreversed forced redemption for the same (policy, learner, run) already stands."""

    reason = "duplicate_forced_redemption"


class SettledForcedRedemption(DomainError):
    """A redeemed record's policy, learner, run and price can no longer change (undo = reversal)."""

    reason = "forced_redemption_settled"
    http_status = 409


class ForcePermissionDenied(DomainError):
    reason = "permission_denied"
    http_status = 403


class ForcedRedemptionNotRedeemed(Conflict):
    """Only a redeemed forced redemption can be reversed: until then nothing was charged or enrolled."""

    reason = "forced_redemption_not_redeemed"


class ForcedRedemptionReversed(Conflict):
    """A reversed forced redemption is settled for good: it is neither reversed nor redeemed again."""

    reason = "forced_redemption_reversed"
