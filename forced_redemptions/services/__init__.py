"""Forced-redemption writes (ADR 0019). `redemption`: create, change, redeem and the settlement receivers;
`reversal`: undoing one; `archive`: putting away errored records that never charged; `validation`: field
checks and duplicates; `attempts`: outcomes on record. Callers import from here."""

from forced_redemptions.services.archive import archive_forced_redemption
from forced_redemptions.services.redemption import (
    create_forced_redemption,
    redeem_forced,
    redemption_metadata,
    settle_after_fulfilment,
    settle_lock_records,
    update_forced_redemption,
)
from forced_redemptions.services.reversal import (
    REVERSED_IN_LEDGER,
    reverse_forced_redemption,
    settle_after_ledger_reversal,
    settle_if_reversed,
)
from forced_redemptions.services.validation import (
    EDITABLE_FIELDS,
    EXEC_ED_FIELDS,
    SETTLED_FIELDS,
    ensure_not_duplicate,
    saving_redeems,
    validate_fields,
)

__all__ = [
    "EDITABLE_FIELDS",
    "EXEC_ED_FIELDS",
    "REVERSED_IN_LEDGER",
    "SETTLED_FIELDS",
    "archive_forced_redemption",
    "create_forced_redemption",
    "ensure_not_duplicate",
    "redeem_forced",
    "redemption_metadata",
    "reverse_forced_redemption",
    "saving_redeems",
    "settle_after_fulfilment",
    "settle_after_ledger_reversal",
    "settle_if_reversed",
    "settle_lock_records",
    "update_forced_redemption",
    "validate_fields",
]
