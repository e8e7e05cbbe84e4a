"""What differs between the databases a ledger can live in, and what every backend shares.

`Backend` is the protocol a database module (`sqlite.py`, `postgres.py`) implements; the
facade (`facade.py`) speaks to the database through it alone. `Cursor` wraps a backend's
cursor in the one statement style the facade writes: `?` placeholders, `{p}` before the name
of each of our tables (the schema, where there is one) and `{events}` for eventsourcing's
table of stored events.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import urlparse
from uuid import UUID

from ..errors import LedgerError, StoreError

LOCK_TIMEOUT_ENV = "REFERRAL_LEDGER_LOCK_TIMEOUT"
PAGE = 1000
# Events an import checks and writes at a time, in its one transaction: fewer, larger
# statements. Measured, 20,000 events into PostgreSQL: 1.87-1.95 s with pages of 1,000,
# 1.66-1.80 s with 5,000; 200,000 into SQLite: 18.4 s of CPU and a peak of 83 MB with 1,000,
# 17.8 s and 106 MB with 5,000 (a catch-up holds more than either).
WRITE_PAGE = 5000


class Backend(Protocol):
    """One database a ledger can be kept in, opened for one ledger.

    A module defines a class with these members; `open` makes an instance for one `--db`,
    and the `Store` calls `attach` once eventsourcing's recorder is built from `env`.
    """

    name: ClassVar[str]  # "sqlite", "postgresql"
    # the types `schema.TABLES` names: {"uuid": ..., "blob": ...}
    column_types: ClassVar[dict[str, str]]
    # what follows a text column in ORDER BY for code point order (as Python compares strings)
    text_order: ClassVar[str]
    env: dict[str, str]  # eventsourcing's settings for this ledger
    url: str  # the path or URL, for messages
    read_only: bool
    datastore: Any  # eventsourcing's datastore, once attached
    events_table: str  # eventsourcing's table of stored events, as a statement names it
    prefix: str  # what goes before the name of each of our tables in a statement

    @classmethod
    def accepts(cls, db: str | None) -> bool:
        """Whether this backend keeps the ledger `--db` names (None: the default ledger)."""
        ...

    @classmethod
    def open(cls, db: str | None, *, create: bool) -> Backend:
        """Check what `db` names, creating nothing unless `create`; raise `LedgerError` or
        `StoreError` with a message for the user when it cannot be a ledger."""
        ...

    def attach(self, recorder: Any) -> None:
        """Take eventsourcing's recorder (built from `env`): its datastore and table name."""
        ...

    def sql(self, statement: str) -> str:
        """A statement in the facade's style (see `render`) in this database's own."""
        ...

    def read(self) -> AbstractContextManager[Any]:
        """A driver cursor for reads; driver errors become `StoreError`."""
        ...

    def stream(self, statement: str, params: Sequence[Any], page: int) -> Iterator[Any]:
        """The rows of one SELECT (already `sql`), `page` at a time, from one snapshot."""
        ...

    def write(self, *, lock: bool) -> AbstractContextManager[Any]:
        """A driver cursor in one transaction holding the ledger's write lock (with `lock`,
        where the database needs it taken); committed at the end, rolled back on an error.
        Driver errors become `ConflictError` (a unique key taken), `busy` or `StoreError`."""
        ...

    def lock_schema(self, cur: Cursor) -> None:
        """Inside a write: keep any other process from creating the tables at the same time."""
        ...

    def list_tables(self, cur: Cursor, names: set[str]) -> set[str]:
        """Which of these tables and indexes exist."""
        ...

    def create_event_tables(self, cur: Cursor, recorder: Any) -> None:
        """eventsourcing's own tables (and types, functions), inside our transaction."""
        ...

    def columns(self, cur: Cursor, table: str) -> set[str]:
        """The names of the columns of one of our tables (an `rl_…` name)."""
        ...

    def recorded_by(self, cur: Cursor) -> str:
        """Inside a write: who stores its events (`recorded_by`)."""
        ...

    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """A condition that `column` is one of `values`, and its parameters."""
        ...

    def insert(
        self,
        cur: Cursor,
        table: str,
        rows: Sequence[Sequence[Any]],
        unless: str,
        types: Sequence[str],
    ) -> None:
        """Insert many rows at once (see `Cursor.insert`)."""
        ...

    def replace_rows(
        self, cur: Cursor, projection: str, parts: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Delete the rl_rows of these parts of a projection, and insert `rows`."""
        ...

    def originator(self, value: UUID) -> Any:
        """An aggregate's id as the events table stores it."""
        ...

    def values(self, row: Any) -> Sequence[Any]:
        """A row's values, in the order of its columns."""
        ...

    def after_forget(self) -> bool:
        """After a commit that deleted personal data: make sure no copy of it is left in the
        database's files; True when one may be left until other processes close the ledger."""
        ...

    def analyze(self, tables: Sequence[str]) -> None:
        """Refresh the planner's statistics of these tables ("events" or `rl_…` names) after
        a large write, where the database needs it; never fails."""
        ...

    def files(self) -> list[Path]:
        """The files the ledger lives in (whether or not each exists now), if any."""
        ...


def render(backend: Backend, statement: str) -> str:
    """A statement written for the facade, for `backend`'s database."""
    statement = statement.replace("{p}", backend.prefix)
    return backend.sql(statement.replace("{events}", backend.events_table))


class Cursor:
    """A cursor that speaks one placeholder style on every database."""

    def __init__(self, raw: Any, backend: Backend):
        self.raw = raw
        self.backend = backend

    def sql(self, statement: str) -> str:
        return render(self.backend, statement)

    def run(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.raw.execute(self.sql(statement), tuple(params))

    def many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.raw.executemany(self.sql(statement), rows)

    def insert(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        *,
        unless: str = "",
        types: Sequence[str] = (),
    ) -> None:
        """Insert rows, every column given in order (`table` may name the columns after it);
        `unless` is an ON CONFLICT clause, `types` the columns' PostgreSQL types that it needs.
        Each backend does it its fastest way (see their `insert`)."""
        if rows:
            self.backend.insert(self, table, rows, unless, types)

    def one(self, statement: str, params: Sequence[Any] = ()) -> Any:
        self.raw.execute(self.sql(statement), tuple(params))
        return self.raw.fetchone()

    def all(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        self.raw.execute(self.sql(statement), tuple(params))
        return list(self.raw.fetchall())

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.run(statement, params)


def lock_timeout() -> int:
    """Seconds a write waits for another writer's lock before giving up with an error."""
    value = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not value:
        return 30
    if not value.isdigit() or int(value) < 1:
        raise LedgerError(f"{LOCK_TIMEOUT_ENV} must be a whole number of seconds, at least 1")
    return int(value)


def busy(exc: BaseException) -> StoreError:
    """The error of a write that waited for the write lock longer than `lock_timeout()`."""
    return StoreError(
        f"the ledger is busy: another process held its write lock for more than "
        f"{lock_timeout()} s ({exc}); try again (or raise {LOCK_TIMEOUT_ENV})"
    )


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parsed = urlparse(url)
    if not parsed.password:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return parsed._replace(netloc=netloc).geturl()
