"""Staff UI for subsidies: the subsidy page (balance, deposits, latest transactions, "Deposit funds").

The ledger lists (transactions with "Reverse", deposits, reversals) are registered by policies.admin.ledger:
they show policy names and reverse through the policies' unit of work, and subsidies sits below policies.
"""

from subsidies.admin.subsidy import SubsidyAdmin

__all__ = ["SubsidyAdmin"]
