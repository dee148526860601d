from common.errors import Conflict, DomainError, InvalidInput


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


class UnredeemableInput(InvalidInput):
    """The record names what cannot be redeemed whatever the moment: an unknown learner or run, a learner not
    linked to the customer (or its groups), a run outside the policy's catalog, missing exec-ed data.

    Found before anything is saved (selectors.require_redeemable_input), so such a mistake is a form error or
    a 422, never an errored record. `reason` is the underlying reason code (e.g. `learner_not_in_enterprise`);
    `field_errors` names the fields to fix.
    """

    reason = "unredeemable_input"
    http_status = 422


class ForcedRedemptionArchived(Conflict):
    """An archived record (errored, never charged) is kept as the audit trail; it is not redeemed or changed."""

    reason = "forced_redemption_archived"


class NotArchivable(Conflict):
    """Only an errored record that never had a transaction may be archived."""

    reason = "forced_redemption_not_archivable"
