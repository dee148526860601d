"""Staff UI for forced redemptions (ADR 0019).

`forced_redemption` holds the admin (list, page, "Redeem now"); `forms` the add/change form;
`check` the "Check redeemability" dry run; `reverse` the "Reverse (refund and unenroll)" page;
`outcomes` the messages that say what a save, a redeem or a reversal did.
"""

from forced_redemptions.admin.forced_redemption import ForcedPolicyRedemptionAdmin

__all__ = ["ForcedPolicyRedemptionAdmin"]
