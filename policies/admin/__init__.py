"""Staff UI for subsidy access policies, and the ledger lists that need them.

`policy` is the policy list and page (saves through policies.services.save_policy, deletes softly);
`tools` holds the read-only "Check redeemability" view and the "Allocate content" form of assigned
policies, both reached from the policy admin's own URLs; `ledger` registers the read-only ledger lists
of the subsidies app (transactions with "Reverse", deposits, reversals) here, above both apps, because
they filter and label by policy and reverse through policies.services.reverse_redemption; `fulfillment`
lists the fulfillment jobs (redemptions waiting for the LMS) with "Retry now" and "Mark failed".
"""

from policies.admin.fulfillment import FulfillmentJobAdmin
from policies.admin.ledger import DepositAdmin, ReversalAdmin, TransactionAdmin
from policies.admin.policy import SubsidyAccessPolicyAdmin

__all__ = ["DepositAdmin", "FulfillmentJobAdmin", "ReversalAdmin", "SubsidyAccessPolicyAdmin", "TransactionAdmin"]
