"""The ledger's own tables, beside eventsourcing's table of stored events.

`TABLES` is written for the facade's `Cursor` (`{p}` before each table's name) with the two
column types that differ between databases, `{uuid}` and `{blob}` (each backend's
`column_types`); index names take `{p_}`, which is always empty (an index lives in its
table's schema).
"""

# The tables an append fills.
EVENT_TABLES = ("events", "rl_log", "rl_private", "rl_keys", "rl_retractions", "rl_mentions")
# Plugins' rows and how far each has read: all derived from the events, so a missing one is
# recreated empty (and the other emptied), and the next read derives them again. Every other
# table holds the ledger's history or what `verify` checks against it: if one is missing, the
# ledger is damaged, and is opened only for `verify` to say so.
DERIVED_TABLES = ("rl_positions", "rl_rows")
# The Merkle tree over the log (see `tree.py`): derived from `rl_log` alone, so neither history
# nor plugins' rows. A ledger without it (one of 0.1) gains it on its first writable open and
# has it built from the log; nothing else is reset.
TREE_TABLES = ("rl_tree",)

TABLES = """
CREATE TABLE IF NOT EXISTS {p}rl_log (
    seq BIGINT PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    referral TEXT,
    actor TEXT,
    other TEXT,
    at_us BIGINT NOT NULL,
    recorded_us BIGINT NOT NULL,
    originator_id {uuid} NOT NULL,
    originator_version BIGINT NOT NULL,
    hash TEXT NOT NULL,
    recorded_by TEXT
);
CREATE INDEX IF NOT EXISTS {p_}rl_log_referral ON {p}rl_log (referral, seq);
CREATE INDEX IF NOT EXISTS {p_}rl_log_actor ON {p}rl_log (actor, type);
CREATE INDEX IF NOT EXISTS {p_}rl_log_origin ON {p}rl_log (originator_id, originator_version);
CREATE TABLE IF NOT EXISTS {p}rl_private (
    event_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    data {blob} NOT NULL
);
CREATE INDEX IF NOT EXISTS {p_}rl_private_owner ON {p}rl_private (owner);
CREATE TABLE IF NOT EXISTS {p}rl_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {p}rl_keys (
    handle TEXT PRIMARY KEY,
    secret {blob} NOT NULL
);
CREATE TABLE IF NOT EXISTS {p}rl_retractions (
    retracted_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    recorded_us BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS {p}rl_mentions (
    handle TEXT NOT NULL,
    referral TEXT NOT NULL,
    PRIMARY KEY (handle, referral)
);
CREATE TABLE IF NOT EXISTS {p}rl_types (
    type TEXT PRIMARY KEY,
    plugin TEXT NOT NULL,
    distribution TEXT
);
CREATE TABLE IF NOT EXISTS {p}rl_tree (
    pos BIGINT PRIMARY KEY,
    hash {blob} NOT NULL
);
CREATE TABLE IF NOT EXISTS {p}rl_positions (
    projection TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {p}rl_rows (
    projection TEXT NOT NULL,
    part TEXT NOT NULL,
    category TEXT NOT NULL,
    kind TEXT NOT NULL,
    referral TEXT,
    person TEXT,
    owed_to TEXT,
    start_us BIGINT NOT NULL,
    end_us BIGINT,
    data {blob} NOT NULL
);
CREATE INDEX IF NOT EXISTS {p_}rl_rows_part ON {p}rl_rows (projection, part);
CREATE INDEX IF NOT EXISTS {p_}rl_rows_open ON {p}rl_rows (category, end_us, start_us);
CREATE INDEX IF NOT EXISTS {p_}rl_rows_person ON {p}rl_rows (person, category);
CREATE INDEX IF NOT EXISTS {p_}rl_rows_owed_to ON {p}rl_rows (owed_to, category);
CREATE INDEX IF NOT EXISTS {p_}rl_rows_referral ON {p}rl_rows (referral, category)
"""
