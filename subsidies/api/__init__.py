"""REST adapter for subsidies and their ledger: our provisioning (subsidies.py), the reference's
transaction shape (transactions.py) and enterprise-subsidy's v1 routes (reference_v1.py)."""

from subsidies.api import reference_v1  # noqa: F401
from subsidies.api.subsidies import (  # noqa: F401
    DepositList,
    SubsidyDetail,
    SubsidyList,
    SubsidySerializer,
    subsidy_for,
)
from subsidies.api.transactions import (  # noqa: F401
    TransactionDetail,
    TransactionQuerySerializer,
    TransactionSerializer,
    transactions_matching,
)
