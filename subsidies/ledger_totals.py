"""Running totals of the ledger (`LedgerTotal`), kept by database triggers.

Why triggers: a balance must be the sum of the ledger rows whatever wrote them (a service, the admin,
a data fix, a test building rows by hand), and summing 100,000 rows on every redemption costs ~100 ms.
A trigger adds each change to the totals inside the writing statement's transaction, so the totals
cannot drift from the rows; the ledger services write while holding the subsidy lock (first in the lock
order), so what they read under that lock is exact.

Each transaction contributes, while it is not failed, `quantity + its reversal's quantity` to its
subsidy's row and to its policy's row, and one redemption to its policy's row while not reversed. On
insert a totals row is created if needed; on update the old contribution is taken away and the new
one added; on delete it is taken away. SQLite runs these per row; PostgreSQL per statement, over the
statement's transition tables (linear in a bulk write). On SQLite a delete only updates totals rows that
still exist, so a test database flush (DELETE FROM every table) leaves nothing behind.

SQLite drops a table's triggers when a migration rebuilds the table, so `ensure_installed` runs after
every `migrate` (post_migrate) and rebuilds the totals from the rows when it had to reinstall them.
"""

from __future__ import annotations

from django.db import connection as default_connection

_TABLE = "subsidies_ledgertotal"
_TRIGGERS = (
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

# --- PostgreSQL: the same rules per statement, over its transition tables -----------------------------------
# Per statement rather than per row: a bulk insert of N ledger rows then updates each totals row once,
# instead of N times in one transaction (each update of a row walks the chain of its earlier versions).

_PG_TX_NEW = """
    SELECT n.subsidy_id, n.subsidy_access_policy_uuid AS policy_uuid, n.quantity + COALESCE(r.quantity, 0) AS net,
           CASE WHEN r.uuid IS NULL THEN 1 ELSE 0 END AS redeemed
      FROM new_rows n LEFT JOIN subsidies_reversal r ON r.transaction_id = n.uuid
     WHERE n.state <> 'failed'"""
_PG_TX_OLD = """
    SELECT o.subsidy_id, o.subsidy_access_policy_uuid, -(o.quantity + COALESCE(r.quantity, 0)),
           CASE WHEN r.uuid IS NULL THEN -1 ELSE 0 END
      FROM old_rows o LEFT JOIN subsidies_reversal r ON r.transaction_id = o.uuid
     WHERE o.state <> 'failed'"""
_PG_REVERSAL_NEW = """
    SELECT t.subsidy_id, t.subsidy_access_policy_uuid AS policy_uuid, n.quantity AS net, -1 AS redeemed
      FROM new_rows n JOIN subsidies_transaction t ON t.uuid = n.transaction_id
     WHERE t.state <> 'failed'"""
_PG_REVERSAL_OLD = """
    SELECT t.subsidy_id, t.subsidy_access_policy_uuid, -o.quantity, 1
      FROM old_rows o JOIN subsidies_transaction t ON t.uuid = o.transaction_id
     WHERE t.state <> 'failed'"""

_PG_APPLY = """
    WITH delta (subsidy_id, policy_uuid, net, redeemed) AS ({delta}),
    per_subsidy AS (
        INSERT INTO subsidies_ledgertotal (subsidy_id, policy_uuid, net_cents, redemptions)
        SELECT subsidy_id, NULL, SUM(net), 0 FROM delta GROUP BY subsidy_id HAVING SUM(net) <> 0
        ON CONFLICT (subsidy_id) WHERE policy_uuid IS NULL
        DO UPDATE SET net_cents = subsidies_ledgertotal.net_cents + EXCLUDED.net_cents
    )
    INSERT INTO subsidies_ledgertotal (subsidy_id, policy_uuid, net_cents, redemptions)
    SELECT subsidy_id, policy_uuid, SUM(net), SUM(redeemed) FROM delta WHERE policy_uuid IS NOT NULL
     GROUP BY subsidy_id, policy_uuid HAVING SUM(net) <> 0 OR SUM(redeemed) <> 0
    ON CONFLICT (subsidy_id, policy_uuid) WHERE policy_uuid IS NOT NULL
    DO UPDATE SET net_cents = subsidies_ledgertotal.net_cents + EXCLUDED.net_cents,
                  redemptions = subsidies_ledgertotal.redemptions + EXCLUDED.redemptions"""

_PG_EVENTS = {  # event: (transition tables, transaction delta, reversal delta)
    "insert": ("NEW TABLE AS new_rows", _PG_TX_NEW, _PG_REVERSAL_NEW),
    "update": (
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        f"{_PG_TX_NEW} UNION ALL {_PG_TX_OLD}",
        f"{_PG_REVERSAL_NEW} UNION ALL {_PG_REVERSAL_OLD}",
    ),
    "delete": ("OLD TABLE AS old_rows", _PG_TX_OLD, _PG_REVERSAL_OLD),
}


def _postgresql() -> list[str]:
    statements = [  # the first, per-row version of these triggers
        "DROP TRIGGER IF EXISTS subsidies_tx_totals ON subsidies_transaction",
        "DROP TRIGGER IF EXISTS subsidies_reversal_totals ON subsidies_reversal",
        "DROP TRIGGER IF EXISTS subsidies_tx_totals_update ON subsidies_transaction",
        "DROP FUNCTION IF EXISTS subsidies_transaction_totals(), subsidies_reversal_totals()",
        "DROP FUNCTION IF EXISTS subsidies_ledger_totals_add(uuid, uuid, bigint, bigint, boolean)",
    ]
    for event, (tables, tx_delta, reversal_delta) in _PG_EVENTS.items():
        for name, table, delta in (
            (f"subsidies_tx_totals_{event}", "subsidies_transaction", tx_delta),
            (f"subsidies_reversal_totals_{event}", "subsidies_reversal", reversal_delta),
        ):
            statements += [
                f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN {_PG_APPLY.format(delta=delta)}; RETURN NULL; END $$""",
                f"DROP TRIGGER IF EXISTS {name} ON {table}",
                f"""CREATE TRIGGER {name} AFTER {event.upper()} ON {table} REFERENCING {tables}
                    FOR EACH STATEMENT EXECUTE FUNCTION {name}()""",
            ]
    return statements


POSTGRESQL = _postgresql()

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
            for name in _TRIGGERS:
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
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {row[0] for row in cursor.fetchall()}
    if set(_TRIGGERS) - present:
        install(connection)
        rebuild(connection)
