"""Policy writes. `redemption`: a redemption as one unit of work in phases (reserve, then fulfil and settle
in settlement.py), its reversal and the ledger's "create transaction"; `policy`: saving, deleting and
allocating. Callers import from here."""

from policies.services.policy import allocate, save_policy, soft_delete_policy
from policies.services.redemption import (
    Redemption,
    Reservation,
    complete_redemption,
    create_ledger_transaction,
    derive_idempotency_key,
    idempotency_key,
    redeem,
    reserve_redemption,
    reverse_redemption,
)

__all__ = [
    "Redemption",
    "Reservation",
    "allocate",
    "complete_redemption",
    "create_ledger_transaction",
    "derive_idempotency_key",
    "idempotency_key",
    "redeem",
    "reserve_redemption",
    "reverse_redemption",
    "save_policy",
    "soft_delete_policy",
]
