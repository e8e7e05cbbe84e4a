"""The SQLite backend: a ledger in one file (the default, at `default_db_path()`).

eventsourcing's SQLite recorder holds the connection; writes take SQLite's write lock with
`BEGIN IMMEDIATE`, on a connection of our own settings (synchronous writes, deleted pages
zeroed). A file is looked at through a read-only connection before it is opened, so that a
file that is not a ledger is never changed.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

from ..errors import ConflictError, LedgerError, StoreError
from ..provenance import local_identity
from .backend import Cursor, busy, lock_timeout

SQLITE_MAGIC = b"SQLite format 3\x00"
# What a ledger keeps beside its SQLite file; an output option must never name one of them.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def default_db_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("referral-ledger")) / "ledger.db"


class SQLiteBackend:
    """A ledger in a SQLite file."""

    name: ClassVar[str] = "sqlite"
    column_types: ClassVar[dict[str, str]] = {"uuid": "TEXT", "blob": "BLOB"}
    text_order: ClassVar[str] = ""  # SQLite compares text by its bytes: code point order

    def __init__(self, env: dict[str, str], url: str, *, read_only: bool = False):
        self.env = env
        self.url = url
        self.read_only = read_only
        self.datastore: Any = None
        self.events_table = ""
        self.prefix = ""

    @classmethod
    def accepts(cls, db: str | None) -> bool:
        """A path, or nothing (the default ledger); never a URL or blank."""
        return db is None or not (_SCHEME.match(db) or not db.strip())

    @classmethod
    def open(cls, db: str | None, *, create: bool) -> SQLiteBackend:
        timeout = lock_timeout()  # a bad setting is an error whatever the ledger
        path = Path(db) if db else default_db_path()
        if path.is_dir():
            raise LedgerError(f"--db {str(path)!r} is a directory, not a ledger file")
        found = sqlite_contents(path)
        if found == "other":
            raise LedgerError(
                f"{str(path)!r} is a SQLite database but not a ledger; it is left untouched"
            )
        if found == "foreign":
            raise LedgerError(f"{str(path)!r} is not a ledger: it is not a SQLite database")
        read_only = False
        if found != "ledger":
            if not create:
                raise LedgerError(f"no ledger at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
            name = path.resolve().as_uri()
        elif _writable(path):
            # `mode=rw`: a ledger that vanished since is an error, never silently recreated
            name = f"{path.resolve().as_uri()}?mode=rw"
        else:
            read_only = True
            name = _read_only_uri(path)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": name,
            "SQLITE_LOCK_TIMEOUT": str(timeout),
            "CREATE_TABLE": "no",  # Store._create_tables does it, in one BEGIN IMMEDIATE
        }
        return cls(env, str(path), read_only=read_only)

    def attach(self, recorder: Any) -> None:
        self.datastore = recorder.datastore
        self.events_table = recorder.events_table_name

    def sql(self, statement: str) -> str:
        return statement

    @contextmanager
    def read(self) -> Iterator[Any]:
        try:
            with self.datastore.transaction(commit=False) as cur:
                yield cur
        except sqlite3.Error as exc:
            raise StoreError(f"reading the ledger failed: {exc}") from None

    def stream(self, statement: str, params: Sequence[Any], page: int) -> Iterator[Any]:
        try:
            with self.datastore.transaction(commit=False) as cur:
                raw = cur.sqlite_cursor
                raw.execute(statement, tuple(params))
                while found := raw.fetchmany(page):
                    yield from found
        except sqlite3.Error as exc:
            raise StoreError(f"reading the ledger failed: {exc}") from None

    @contextmanager
    def write(self, *, lock: bool) -> Iterator[Any]:
        # BEGIN IMMEDIATE takes the write lock whatever `lock` says.
        try:
            with self.datastore.get_connection(commit=True) as conn:
                raw = conn._sqlite_conn
                raw.execute("PRAGMA synchronous=FULL")
                raw.execute("PRAGMA secure_delete=ON")
                cur = raw.cursor()
                cur.execute("BEGIN IMMEDIATE")
                try:
                    yield cur
                    raw.commit()
                except BaseException:
                    raw.rollback()
                    raise
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"another writer got there first ({exc}); try again") from None
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise busy(exc) from None
            raise StoreError(f"writing the ledger failed: {exc}") from None

    def lock_schema(self, cur: Cursor) -> None:
        pass  # BEGIN IMMEDIATE holds the database's one write lock already

    def list_tables(self, cur: Cursor, names: set[str]) -> set[str]:
        marks = ",".join("?" * len(names))
        sql = f"SELECT name FROM sqlite_master WHERE name IN ({marks})"
        return {row["name"] for row in cur.all(sql, tuple(names))}

    def create_event_tables(self, cur: Cursor, recorder: Any) -> None:
        for statement in recorder.create_table_statements:
            cur.raw.execute(statement)

    def columns(self, cur: Cursor, table: str) -> set[str]:
        return {row["name"] for row in cur.all("SELECT name FROM pragma_table_info(?)", (table,))}

    def recorded_by(self, cur: Cursor) -> str:
        # A file has no login: the configured identity, or the operating system's login name.
        return local_identity()

    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        return f"{column} IN ({','.join('?' * len(values))})", tuple(values)

    def insert(
        self,
        cur: Cursor,
        table: str,
        rows: Sequence[Sequence[Any]],
        unless: str,
        types: Sequence[str],
    ) -> None:
        # executemany is fast on SQLite already
        marks = ",".join("?" * len(rows[0]))
        cur.raw.executemany(cur.sql(f"INSERT INTO {table} VALUES ({marks}) {unless}"), rows)

    def replace_rows(
        self, cur: Cursor, projection: str, parts: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        cur.many(
            "DELETE FROM {p}rl_rows WHERE projection = ? AND part = ?",
            [(projection, part) for part in parts],
        )
        cur.many("INSERT INTO {p}rl_rows VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def originator(self, value: UUID) -> Any:
        return value.hex

    def values(self, row: Any) -> Sequence[Any]:
        return row  # a sqlite3.Row: indexed and sliced by position

    def after_forget(self) -> bool:
        """Move the WAL into the database and truncate it, so no old page keeps erased data."""
        with self.datastore.get_connection(commit=True) as conn:
            raw = conn._sqlite_conn
            (timeout,) = raw.execute("PRAGMA busy_timeout").fetchone()
            raw.execute("PRAGMA busy_timeout=3000")
            try:
                busy_now = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                raw.execute(f"PRAGMA busy_timeout={int(timeout)}")
        # A reader in another process can hold old pages in the WAL; SQLite drops them when the
        # last connection closes. `forget` says so rather than wait for it.
        return bool(busy_now)

    def analyze(self, tables: Sequence[str]) -> None:
        pass  # SQLite's planner does without statistics; our queries are written for that

    def files(self) -> list[Path]:
        path = Path(self.url)
        return [path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)]


def sqlite_contents(path: Path) -> str:
    """What a would-be SQLite ledger file holds: "missing", "empty" (no byte, or a database
    with no table), "ledger", "other" (another SQLite database) or "foreign" (not SQLite).
    Read through a read-only connection, so nothing is ever changed."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        raise LedgerError(f"cannot read the ledger at {path}: {exc.strerror}") from None
    if not head:
        return "empty"
    if head != SQLITE_MAGIC:
        return "foreign"
    try:
        with contextlib.closing(sqlite3.connect(_read_only_uri(path), uri=True)) as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot read the ledger at {path}: {exc}") from None
    # Any table of ours makes it a ledger, a damaged one perhaps: `verify` says which table is
    # gone, where "not a ledger" would hide the damage.
    if any(name.startswith("rl_") for name in names):
        return "ledger"
    return "other" if names else "empty"


def ledger_event_ids(path: Path) -> set[str] | None:
    """The ids of the events in the SQLite ledger file at `path`, read through a read-only
    connection so that nothing is changed; None when it is not a SQLite ledger."""
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as conn:
            return {row[0] for row in conn.execute("SELECT event_id FROM rl_log")}
    except sqlite3.Error:
        return None


def _writable(path: Path) -> bool:
    # SQLite writes its -wal, -shm and -journal beside the file. As root, access() still
    # says no on a read-only file system, which is the case that matters.
    return os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK)


def _read_only_uri(path: Path) -> str:
    """A URI that reads `path` without writing anything. A WAL database opened `mode=ro`
    needs its -shm, which a read-only directory cannot grow; without a -wal there is nothing
    beyond the file to read, so the file can be opened as immutable."""
    resolved = path.resolve()
    uri = resolved.as_uri()
    wal = resolved.with_name(resolved.name + "-wal")
    if os.access(resolved.parent, os.W_OK) or wal.exists():
        return f"{uri}?mode=ro"
    return f"{uri}?immutable=1"
