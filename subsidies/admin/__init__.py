"""Staff UI for subsidies and their ledger.

`subsidy` holds the subsidy page (balance, deposits, latest transactions, "Deposit funds");
`ledger` the read-only ledger lists (transactions with the "Reverse" action, deposits, reversals).
"""

from subsidies.admin.ledger import DepositAdmin, ReversalAdmin, TransactionAdmin
from subsidies.admin.subsidy import SubsidyAdmin

__all__ = ["DepositAdmin", "ReversalAdmin", "SubsidyAdmin", "TransactionAdmin"]
