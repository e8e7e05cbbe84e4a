"""The only package that touches SQLite or PostgreSQL: every SQL statement of the ledger is here.

Events are stored by eventsourcing (its recorder's `stored_events` table, one aggregate per
referral or person). Beside it, in the same transaction, the store keeps:

- `rl_log`: the ledger's total order — a gapless `seq`, the client `id` (unique: the
  idempotency key), `recorded_at`, `recorded_by` (who stored it; none before 0.2), and the
  SHA-256 hash chain;
- `rl_private` and `rl_keys`: personal values and the per-person secrets that commit to them
  (see `privacy.py`); `forget` deletes rows here and nowhere else;
- `rl_retractions` and `rl_mentions`: small indexes for the rules and the views;
- `rl_types` and `rl_meta`: which plugin defined each stored event type, and how personal
  data is kept (plaintext or encrypted);
- `rl_positions` and `rl_rows`: plugins' derived state and how far it has read;
- on a team ledger (PostgreSQL), `rl_team`: member roles and their handles, and the triggers
  that guard the tables above (`team.py`).

The package is in layers:

- `facade.py`: the `Store`, the same on every database: the chain (`chain_hash`), appending
  (`Pending` in, `Stored` out), reading events back, and the named queries the rest of the
  ledger asks (`verify`'s, the projections', ...). It never asks which database it is on.
- `schema.py` and `rows.py`: the ledger's tables, and the queries of plugins' rows.
- `backend.py`: `Backend`, the protocol of what differs between databases (connecting and
  probing a `--db`, placeholders, transactions and locks, bulk inserts, listing tables, the
  events table's id type, what is left to clean after `forget`, planner statistics), and
  `Cursor`, which speaks one statement style on all of them.
- `sqlite.py` and `postgres.py`: one `Backend` each; `team.py`, PostgreSQL's members.

Adding a third backend is one new module and its tests:

1. Write `ledger/store/NAME.py` with a class that has every member of `Backend` (start from
   `postgres.py`, the closer of the two for a server database); eventsourcing must have a
   recorder for the database (its `env` names the persistence module).
2. Add the class to `BACKENDS` below, before `SQLiteBackend` (which takes any path).
3. Run the tests of the store on it: they take the database from the `db` fixture in
   `tests/conftest.py`; add the new one to its parameters there, and run the suite.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import LedgerError
from .backend import (
    LOCK_TIMEOUT_ENV,
    PAGE,
    WRITE_PAGE,
    Backend,
    Cursor,
    lock_timeout,
    redact,
)
from .facade import (
    ANALYZE_AFTER,
    GENESIS,
    MENTIONED,
    Appender,
    DamagedLedger,
    Kept,
    LedgerApplication,
    OrjsonTranscoder,
    Pending,
    Store,
    Stored,
    chain_hash,
    log_people,
    mode_damage,
)
from .postgres import PostgresBackend
from .schema import DERIVED_TABLES, EVENT_TABLES
from .sqlite import (
    SQLITE_COMPANIONS,
    SQLITE_MAGIC,
    SQLiteBackend,
    default_db_path,
    ledger_event_ids,
    sqlite_contents,
)

# The databases a `--db` can name, asked in order which one keeps it.
BACKENDS: tuple[type[Backend], ...] = (PostgresBackend, SQLiteBackend)

_Cursor = Cursor  # its name before the store became a package

__all__ = [
    "ANALYZE_AFTER",
    "BACKENDS",
    "DERIVED_TABLES",
    "EVENT_TABLES",
    "GENESIS",
    "LOCK_TIMEOUT_ENV",
    "MENTIONED",
    "PAGE",
    "SQLITE_COMPANIONS",
    "SQLITE_MAGIC",
    "WRITE_PAGE",
    "Appender",
    "Backend",
    "Cursor",
    "DamagedLedger",
    "Kept",
    "LedgerApplication",
    "OrjsonTranscoder",
    "Pending",
    "PostgresBackend",
    "SQLiteBackend",
    "Store",
    "Stored",
    "chain_hash",
    "default_db_path",
    "ledger_event_ids",
    "ledger_files",
    "lock_timeout",
    "log_people",
    "mode_damage",
    "open_store",
    "redact",
    "sqlite_contents",
]


def open_store(db: str | None, *, master_key: bytes | None = None, create: bool = False) -> Store:
    """Open the ledger named by a path (SQLite) or a `postgresql://` URL.

    Only with `create` is a missing ledger made; otherwise it is an error, and nothing (no
    file, no directory, no schema) is created."""
    for backend in BACKENDS:
        if backend.accepts(db):
            return Store(backend.open(db, create=create), master_key=master_key)
    raise LedgerError(
        f"--db {db!r} is neither a file path nor a postgresql:// URL naming a database"
    )


def ledger_files(store: Store) -> list[Path]:
    """The files a ledger lives in (whether or not each exists now); none on PostgreSQL."""
    return store.backend.files()
