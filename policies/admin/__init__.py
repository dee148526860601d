"""Staff UI for subsidy access policies.

`policy` is the policy list and page (saves through policies.services.save_policy, deletes softly);
`tools` holds the read-only "Check redeemability" view and the "Allocate content" form of assigned
policies, both reached from the policy admin's own URLs.
"""

from policies.admin.policy import SubsidyAccessPolicyAdmin

__all__ = ["SubsidyAccessPolicyAdmin"]
