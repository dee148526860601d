"""Running totals of the ledger (`LedgerTotal`), kept by database triggers.

Why triggers: a balance must be the sum of the ledger rows whatever wrote them (a service, the admin,
a data fix, a test building rows by hand), and summing 100,000 rows on every redemption costs ~100 ms.
A row trigger adds each change to the totals inside the writing transaction, so the totals cannot
drift from the rows; the ledger services write while holding the subsidy lock (first in the lock
order), so what they read under that lock is exact.

Each transaction contributes, while it is not failed, `quantity + its reversal's quantity` to its
subsidy's row and to its policy's row, and one redemption to its policy's row while not reversed. On
insert a totals row is created if needed; on update the old contribution is taken away and the new
one added; on delete the contribution is taken away from the rows that still exist (so a test
database flush leaves nothing behind).

SQLite drops a table's triggers when a migration rebuilds the table, so `ensure_installed` runs after
every `migrate` (post_migrate) and rebuilds the totals from the rows when it had to reinstall them.
"""

from __future__ import annotations

from django.db import connection as default_connection

_TABLE = "subsidies_ledgertotal"
_POSTGRESQL_TRIGGERS = ("subsidies_tx_totals", "subsidies_tx_totals_update", "subsidies_reversal_totals")
_SQLITE_TRIGGERS = (
    "subsidies_tx_totals_insert",
    "subsidies_tx_totals_update",
    "subsidies_tx_totals_delete",
    "subsidies_reversal_totals_insert",
    "subsidies_reversal_totals_update",
    "subsidies_reversal_totals_delete",
)

# --- SQLite: one trigger per event; each statement guarded by its WHERE clause -------------------------

_SQLITE_ADD = """
    INSERT INTO subsidies_ledgertotal (subsidy_id, policy_uuid, net_cents, redemptions)
    SELECT {row}.subsidy_id, NULL,
           {row}.quantity + COALESCE((SELECT quantity FROM subsidies_reversal WHERE transaction_id = {row}.uuid), 0), 0
    WHERE {row}.state <> 'failed'
    ON CONFLICT (subsidy_id) WHERE policy_uuid IS NULL DO UPDATE SET net_cents = net_cents + excluded.net_cents;
    INSERT INTO subsidies_ledgertotal (subsidy_id, policy_uuid, net_cents, redemptions)
    SELECT {row}.subsidy_id, {row}.subsidy_access_policy_uuid,
           {row}.quantity + COALESCE((SELECT quantity FROM subsidies_reversal WHERE transaction_id = {row}.uuid), 0),
           CASE WHEN EXISTS (SELECT 1 FROM subsidies_reversal WHERE transaction_id = {row}.uuid) THEN 0 ELSE 1 END
    WHERE {row}.state <> 'failed' AND {row}.subsidy_access_policy_uuid IS NOT NULL
    ON CONFLICT (subsidy_id, policy_uuid) WHERE policy_uuid IS NOT NULL DO UPDATE
        SET net_cents = net_cents + excluded.net_cents, redemptions = redemptions + excluded.redemptions;
"""

_SQLITE_TAKE = """
    UPDATE subsidies_ledgertotal
       SET net_cents = net_cents
           - ({row}.quantity + COALESCE((SELECT quantity FROM subsidies_reversal WHERE transaction_id = {row}.uuid), 0))
     WHERE {row}.state <> 'failed' AND subsidy_id = {row}.subsidy_id AND policy_uuid IS NULL;
    UPDATE subsidies_ledgertotal
       SET net_cents = net_cents - ({row}.quantity
               + COALESCE((SELECT quantity FROM subsidies_reversal WHERE transaction_id = {row}.uuid), 0)),
           redemptions = redemptions
           - CASE WHEN EXISTS (SELECT 1 FROM subsidies_reversal WHERE transaction_id = {row}.uuid) THEN 0 ELSE 1 END
     WHERE {row}.state <> 'failed' AND subsidy_id = {row}.subsidy_id AND policy_uuid = {row}.subsidy_access_policy_uuid;
"""

# A reversal moves its quantity into the totals of its transaction, if that one is not failed.
_SQLITE_REVERSAL = """
    UPDATE subsidies_ledgertotal SET net_cents = net_cents {sign} {row}.quantity
     WHERE policy_uuid IS NULL AND subsidy_id =
           (SELECT subsidy_id FROM subsidies_transaction WHERE uuid = {row}.transaction_id AND state <> 'failed');
    UPDATE subsidies_ledgertotal SET net_cents = net_cents {sign} {row}.quantity, redemptions = redemptions {unsign} 1
     WHERE (subsidy_id, policy_uuid) = (SELECT subsidy_id, subsidy_access_policy_uuid FROM subsidies_transaction
                                        WHERE uuid = {row}.transaction_id AND state <> 'failed');
"""

_TX_CHANGED_SQLITE = (
    "(OLD.state = 'failed') IS NOT (NEW.state = 'failed') OR OLD.quantity IS NOT NEW.quantity "
    "OR OLD.subsidy_id IS NOT NEW.subsidy_id OR OLD.subsidy_access_policy_uuid IS NOT NEW.subsidy_access_policy_uuid"
)

SQLITE = [
    f"""CREATE TRIGGER subsidies_tx_totals_insert AFTER INSERT ON subsidies_transaction
        BEGIN {_SQLITE_ADD.format(row="NEW")} END""",
    f"""CREATE TRIGGER subsidies_tx_totals_update AFTER UPDATE ON subsidies_transaction WHEN {_TX_CHANGED_SQLITE}
        BEGIN {_SQLITE_TAKE.format(row="OLD")} {_SQLITE_ADD.format(row="NEW")} END""",
    f"""CREATE TRIGGER subsidies_tx_totals_delete AFTER DELETE ON subsidies_transaction
        BEGIN {_SQLITE_TAKE.format(row="OLD")} END""",
    f"""CREATE TRIGGER subsidies_reversal_totals_insert AFTER INSERT ON subsidies_reversal
        BEGIN {_SQLITE_REVERSAL.format(row="NEW", sign="+", unsign="-")} END""",
    f"""CREATE TRIGGER subsidies_reversal_totals_update AFTER UPDATE ON subsidies_reversal
        WHEN OLD.quantity IS NOT NEW.quantity OR OLD.transaction_id IS NOT NEW.transaction_id
        BEGIN {_SQLITE_REVERSAL.format(row="OLD", sign="-", unsign="+")}
              {_SQLITE_REVERSAL.format(row="NEW", sign="+", unsign="-")} END""",
    f"""CREATE TRIGGER subsidies_reversal_totals_delete AFTER DELETE ON subsidies_reversal
        BEGIN {_SQLITE_REVERSAL.format(row="OLD", sign="-", unsign="+")} END""",
]

# --- PostgreSQL: the same rules in two plpgsql trigger functions ------------------------------------------

POSTGRESQL = [
    """
CREATE OR REPLACE FUNCTION subsidies_ledger_totals_add(s uuid, p uuid, net bigint, redeemed bigint, upsert boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF upsert THEN
        INSERT INTO subsidies_ledgertotal (subsidy_id, policy_uuid, net_cents, redemptions) VALUES (s, NULL, net, 0)
        ON CONFLICT (subsidy_id) WHERE policy_uuid IS NULL
        DO UPDATE SET net_cents = subsidies_ledgertotal.net_cents + EXCLUDED.net_cents;
        IF p IS NOT NULL THEN
            INSERT INTO subsidies_ledgertotal (subsidy_id, policy_uuid, net_cents, redemptions)
            VALUES (s, p, net, redeemed)
            ON CONFLICT (subsidy_id, policy_uuid) WHERE policy_uuid IS NOT NULL
            DO UPDATE SET net_cents = subsidies_ledgertotal.net_cents + EXCLUDED.net_cents,
                          redemptions = subsidies_ledgertotal.redemptions + EXCLUDED.redemptions;
        END IF;
    ELSE
        UPDATE subsidies_ledgertotal SET net_cents = net_cents + net WHERE subsidy_id = s AND policy_uuid IS NULL;
        UPDATE subsidies_ledgertotal SET net_cents = net_cents + net, redemptions = redemptions + redeemed
         WHERE subsidy_id = s AND policy_uuid = p;
    END IF;
END $$""",
    """
CREATE OR REPLACE FUNCTION subsidies_transaction_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE refund bigint;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.state <> 'failed' THEN
        SELECT quantity INTO refund FROM subsidies_reversal WHERE transaction_id = OLD.uuid;
        PERFORM subsidies_ledger_totals_add(OLD.subsidy_id, OLD.subsidy_access_policy_uuid,
            -(OLD.quantity + COALESCE(refund, 0)), CASE WHEN refund IS NULL THEN -1 ELSE 0 END, false);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.state <> 'failed' THEN
        SELECT quantity INTO refund FROM subsidies_reversal WHERE transaction_id = NEW.uuid;
        PERFORM subsidies_ledger_totals_add(NEW.subsidy_id, NEW.subsidy_access_policy_uuid,
            NEW.quantity + COALESCE(refund, 0), CASE WHEN refund IS NULL THEN 1 ELSE 0 END, true);
    END IF;
    RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION subsidies_reversal_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE s uuid; p uuid;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        SELECT subsidy_id, subsidy_access_policy_uuid INTO s, p FROM subsidies_transaction
         WHERE uuid = OLD.transaction_id AND state <> 'failed';
        IF FOUND THEN
            PERFORM subsidies_ledger_totals_add(s, p, -OLD.quantity, 1, false);
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        SELECT subsidy_id, subsidy_access_policy_uuid INTO s, p FROM subsidies_transaction
         WHERE uuid = NEW.transaction_id AND state <> 'failed';
        IF FOUND THEN
            PERFORM subsidies_ledger_totals_add(s, p, NEW.quantity, -1, false);
        END IF;
    END IF;
    RETURN NULL;
END $$""",
    "DROP TRIGGER IF EXISTS subsidies_tx_totals ON subsidies_transaction",
    """CREATE TRIGGER subsidies_tx_totals AFTER INSERT OR DELETE ON subsidies_transaction
       FOR EACH ROW EXECUTE FUNCTION subsidies_transaction_totals()""",
    "DROP TRIGGER IF EXISTS subsidies_tx_totals_update ON subsidies_transaction",
    """CREATE TRIGGER subsidies_tx_totals_update AFTER UPDATE ON subsidies_transaction FOR EACH ROW
       WHEN ((OLD.state = 'failed') IS DISTINCT FROM (NEW.state = 'failed')
             OR OLD.quantity IS DISTINCT FROM NEW.quantity OR OLD.subsidy_id IS DISTINCT FROM NEW.subsidy_id
             OR OLD.subsidy_access_policy_uuid IS DISTINCT FROM NEW.subsidy_access_policy_uuid)
       EXECUTE FUNCTION subsidies_transaction_totals()""",
    "DROP TRIGGER IF EXISTS subsidies_reversal_totals ON subsidies_reversal",
    """CREATE TRIGGER subsidies_reversal_totals AFTER INSERT OR DELETE OR UPDATE OF quantity, transaction_id
       ON subsidies_reversal FOR EACH ROW EXECUTE FUNCTION subsidies_reversal_totals()""",
]

# --- Rebuilding from the rows (the definition), and checking -----------------------------------------------

_SUMS = """
    SELECT t.subsidy_id, {policy}, SUM(t.quantity + COALESCE(r.quantity, 0)),
           {redemptions}
      FROM subsidies_transaction t LEFT JOIN subsidies_reversal r ON r.transaction_id = t.uuid
     WHERE t.state <> 'failed' {where}
     GROUP BY t.subsidy_id {group}
"""
_SUBSIDY_SUMS = _SUMS.format(policy="NULL", redemptions="0", where="", group="")
_POLICY_SUMS = _SUMS.format(
    policy="t.subsidy_access_policy_uuid",
    redemptions="SUM(CASE WHEN r.uuid IS NULL THEN 1 ELSE 0 END)",
    where="AND t.subsidy_access_policy_uuid IS NOT NULL",
    group=", t.subsidy_access_policy_uuid",
)


def install(connection=default_connection) -> None:
    """Create (or replace) the triggers on this database."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for statement in POSTGRESQL:
                cursor.execute(statement)
        elif connection.vendor == "sqlite":
            for name in _SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            for statement in SQLITE:
                cursor.execute(statement)
        else:
            raise NotImplementedError(
                f"ledger totals triggers are written for PostgreSQL and SQLite, not {connection.vendor}"
            )


def rebuild(connection=default_connection) -> None:
    """Recompute every total from the ledger rows (for migrations and repairs; takes a full pass)."""
    columns = "(subsidy_id, policy_uuid, net_cents, redemptions)"
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {_TABLE}")
        cursor.execute(f"INSERT INTO {_TABLE} {columns} {_SUBSIDY_SUMS}")
        cursor.execute(f"INSERT INTO {_TABLE} {columns} {_POLICY_SUMS}")


def drift(connection=default_connection) -> list[tuple]:
    """(subsidy, policy, kept net, real net, kept redemptions, real redemptions) for every total that is wrong.

    Empty when the totals agree with the rows. A full pass over the ledger: for tests and operators.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"{_SUBSIDY_SUMS} UNION ALL {_POLICY_SUMS}")
        real = {(str(s), str(p) if p else None): (int(n), int(c)) for s, p, n, c in cursor.fetchall()}
        cursor.execute(f"SELECT subsidy_id, policy_uuid, net_cents, redemptions FROM {_TABLE}")
        kept = {(str(s), str(p) if p else None): (int(n), int(c)) for s, p, n, c in cursor.fetchall()}
    wrong = []
    for key in sorted(set(real) | set(kept), key=str):
        have, want = kept.get(key, (0, 0)), real.get(key, (0, 0))
        if have != want:
            wrong.append((*key, have[0], want[0], have[1], want[1]))
    return wrong


def ensure_installed(connection=default_connection) -> None:
    """After `migrate`: if a trigger is missing (SQLite drops them when it rebuilds a table), reinstall the
    triggers and rebuild the totals from the rows."""
    if connection.vendor not in ("postgresql", "sqlite"):
        return
    if _TABLE not in connection.introspection.table_names():
        return  # the ledger is not migrated this far (yet)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            expected = _POSTGRESQL_TRIGGERS
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            expected = _SQLITE_TRIGGERS
        present = {row[0] for row in cursor.fetchall()}
    if set(expected) - present:
        install(connection)
        rebuild(connection)
