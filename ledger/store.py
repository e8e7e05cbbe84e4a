"""The only module that touches SQLite or PostgreSQL.

Events are stored by eventsourcing (its recorder's `stored_events` table, one aggregate per
referral or person). Beside it, in the same transaction, the store keeps:

- `rl_log`: the ledger's total order — a gapless `seq`, the client `id` (unique: the
  idempotency key), `recorded_at`, and the SHA-256 hash chain;
- `rl_private` and `rl_keys`: personal values and the per-person secrets that commit to them
  (see `privacy.py`); `forget` deletes rows here and nowhere else;
- `rl_retractions` and `rl_mentions`: small indexes for the rules and the views;
- `rl_positions` and `rl_rows`: plugins' derived state and how far it has read.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import orjson
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError as ESIntegrityError
from eventsourcing.persistence import OperationalError as ESOperationalError
from eventsourcing.persistence import PersistenceError, Transcoder

from .aggregates import Person, Referral, person_id, referral_id
from .crypto import ENCRYPTED, PLAINTEXT, Vault, data_mode, secret_mode
from .errors import ConflictError, LedgerError, StoreError
from .events import (
    format_micros,
    format_timestamp,
    from_micros,
    read_without_plugins,
    to_micros,
)
from .interchange import dumps
from .privacy import sealed_paths
from .rules import Located

GENESIS = "0" * 64
LOCK_TIMEOUT_ENV = "REFERRAL_LEDGER_LOCK_TIMEOUT"
PAGE = 1000
# A write that stores at least this many events refreshes the planner's statistics (see
# `Store.analyze`). A first import is the case that matters: the tables go from empty to large
# while the planner still believes them empty. Below it, statistics need no refresh so soon, and
# the ANALYZE (a sample of each table, some tens of milliseconds) would be most of a small write.
ANALYZE_AFTER = 1000
# The fields of an event with a referral whose people `rl_mentions` indexes: stored schema,
# which `verify` recomputes, so it does not follow a plugin's `handles`.
MENTIONED = ("by", "referrer", "target", "to", "with")


def log_people(record: Mapping[str, Any]) -> tuple[Any, Any]:
    """The `actor` and `other` columns of an event's row in the log: the person it is filed
    under (as its class says) and whom it is with or to."""
    actor = read_without_plugins(record.get("type")).person_of(record)
    return actor, record.get("with") or record.get("to")
# The tables an append fills.
EVENT_TABLES = ("events", "rl_log", "rl_private", "rl_keys", "rl_retractions", "rl_mentions")
# Plugins' rows and how far each has read: all derived from the events, so a missing one is
# recreated empty (and the other emptied), and the next read derives them again. Every other
# table holds the ledger's history or what `verify` checks against it: if one is missing, the
# ledger is damaged, and is opened only for `verify` to say so.
DERIVED_TABLES = ("rl_positions", "rl_rows")


class DamagedLedger(StoreError):
    """Tables of the ledger's history are missing: refused, except by `verify`, which reports it."""

    missing: tuple[str, ...] = ()

    @classmethod
    def of(cls, missing: Sequence[str]) -> DamagedLedger:
        names = ", ".join(missing)
        table = "table" if len(missing) == 1 else "tables"
        error = cls(f"the ledger is damaged: {table} {names} missing; run verify")
        error.missing = tuple(missing)
        return error


class OrjsonTranscoder(Transcoder):
    """Canonical JSON (sorted keys, UTC `Z`) so that stored bytes can be re-derived exactly."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)

    def decode(self, data: bytes) -> Any:
        value = orjson.loads(data)
        stamp = value.get("timestamp")
        if isinstance(stamp, str):
            value["timestamp"] = datetime.fromisoformat(stamp)
        return value


class LedgerApplication(Application[uuid.UUID]):
    name = "referral_ledger"

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()


def chain_hash(prev: str, seq: int, event_id: str, recorded_at: str, record_bytes: bytes) -> str:
    """One link of the tamper-evident chain."""
    digest = hashlib.sha256(prev.encode())
    digest.update(dumps([seq, event_id, recorded_at]))
    digest.update(record_bytes)
    return digest.hexdigest()


@dataclass
class Pending:
    """One validated event, sealed and ready to append."""

    record: dict[str, Any]  # the sealed record: what the chain covers
    domain_event: Any
    private: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None
    new_keys: dict[str, bytes] = field(default_factory=dict)
    forget: str | None = None
    secret: bytes | None = None  # the owner's, to encrypt `private` at rest
    recorded_at: datetime | None = None  # kept on a restore
    expect_seq: int | None = None
    expect_hash: str | None = None
    line: int | None = None
    plugin: tuple[str, str | None] | None = None  # (plugin, distribution) of a plugin's type

    @property
    def record_bytes(self) -> bytes:
        return dumps(self.record)


@dataclass
class Stored:
    """One stored event as read back: the sealed record and its place in the ledger."""

    seq: int
    event_id: str
    recorded_us: int
    hash: str
    record: dict[str, Any]
    private: dict[str, Any] | None
    state: bytes = b""

    @property
    def recorded_at(self) -> str:
        return format_micros(self.recorded_us)


def default_db_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("referral-ledger")) / "ledger.db"


SQLITE_MAGIC = b"SQLite format 3\x00"
# What a ledger keeps beside its SQLite file; an output option must never name one of them.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")


def open_store(db: str | None, *, master_key: bytes | None = None, create: bool = False) -> Store:
    """Open the ledger named by a path (SQLite) or a `postgresql://` URL.

    Only with `create` is a missing ledger made; otherwise it is an error, and nothing (no
    file, no directory, no schema) is created."""
    if db and db.startswith(("postgresql://", "postgres://")):
        return Store(
            _postgres_env(db, create=create), dialect="postgresql", url=db, master_key=master_key
        )
    if db is not None and (re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", db) or not db.strip()):
        raise LedgerError(
            f"--db {db!r} is neither a file path nor a postgresql:// URL naming a database"
        )
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
    return Store(env, dialect="sqlite", url=str(path), master_key=master_key, read_only=read_only)


def sqlite_contents(path: Path) -> str:
    """What a would-be SQLite ledger file holds: "missing", "empty" (no byte, or a database
    with no table), "ledger", "other" (another SQLite database) or "foreign" (not SQLite).
    Read through a read-only connection, so nothing is ever changed."""
    import contextlib

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


def _writable(path: Path) -> bool:
    import os

    # SQLite writes its -wal, -shm and -journal beside the file. As root, access() still
    # says no on a read-only file system, which is the case that matters.
    return os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK)


def _read_only_uri(path: Path) -> str:
    """A URI that reads `path` without writing anything. A WAL database opened `mode=ro`
    needs its -shm, which a read-only directory cannot grow; without a -wal there is nothing
    beyond the file to read, so the file can be opened as immutable."""
    import os

    resolved = path.resolve()
    uri = resolved.as_uri()
    wal = resolved.with_name(resolved.name + "-wal")
    if os.access(resolved.parent, os.W_OK) or wal.exists():
        return f"{uri}?mode=ro"
    return f"{uri}?immutable=1"


def ledger_files(store: Store) -> list[Path]:
    """The files a SQLite ledger lives in (whether or not each exists now); none on PostgreSQL."""
    if not store.is_sqlite:
        return []
    path = Path(store.url)
    return [path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)]


def lock_timeout() -> int:
    """Seconds a write waits for another writer's lock before giving up with an error."""
    import os

    value = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not value:
        return 30
    if not value.isdigit() or int(value) < 1:
        raise LedgerError(f"{LOCK_TIMEOUT_ENV} must be a whole number of seconds, at least 1")
    return int(value)


def _busy(exc: BaseException) -> StoreError:
    return StoreError(
        f"the ledger is busy: another process held its write lock for more than "
        f"{lock_timeout()} s ({exc}); try again (or raise {LOCK_TIMEOUT_ENV})"
    )


def _postgres_env(url: str, *, create: bool = False) -> dict[str, str]:
    parsed = urlparse(url)
    where = redact(url)
    try:
        port = parsed.port
    except ValueError:
        raise LedgerError(f"--db {where}: the port is not a number from 1 to 65535") from None
    if port == 0:
        raise LedgerError(f"--db {where}: the port is not a number from 1 to 65535")
    host = unquote(parsed.hostname or "")
    if parsed.netloc.rpartition("@")[2] and not _HOST.fullmatch(host):
        raise LedgerError(f"--db {where}: {host!r} is not a host name")
    dbname = unquote(parsed.path.lstrip("/"))
    if not dbname or "/" in dbname or "\x00" in dbname:
        raise LedgerError(
            f"--db {where}: a postgresql:// URL must name a database "
            "(postgresql://[user@]host[:port]/DATABASE[?schema=NAME])"
        )
    try:
        query = parse_qs(parsed.query, keep_blank_values=True, strict_parsing=bool(parsed.query))
    except ValueError:
        raise LedgerError(f"--db {where}: the query part is not NAME=VALUE pairs") from None
    unknown = sorted(set(query) - {"schema"})
    if unknown:
        raise LedgerError(
            f"--db {where}: unknown URL parameter(s) {', '.join(map(repr, unknown))}; "
            "only 'schema' is understood"
        )
    schemas = query.get("schema", ["public"])
    if len(schemas) > 1:
        raise LedgerError(f"--db {where}: 'schema' is given more than once")
    schema = schemas[0]
    if not _SCHEMA.fullmatch(schema):
        raise LedgerError(
            f"--db {where}: schema {schema!r} must be lowercase letters, digits and _, "
            "starting with a letter or _, at most 63 characters"
        )
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": host or "127.0.0.1",
        "POSTGRES_PORT": str(port or 5432),
        "POSTGRES_USER": unquote(parsed.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parsed.password or ""),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_LOCK_TIMEOUT": str(lock_timeout()),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        # A CLI process runs one statement at a time: one connection, a few for nested reads.
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "3",
        "CREATE_TABLE": "no",  # Store._create_tables does it, once, under an advisory lock
    }
    _probe_pg(env, schema, url, create=create)
    return env


def _probe_pg(env: dict[str, str], schema: str, url: str, *, create: bool = False) -> None:
    """Connect once, directly: an unreachable server fails now and clearly, not after the
    pool's retries. A write creates the ledger's schema here; a read finds the ledger or
    stops, creating nothing."""
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
            autocommit=True,
        ) as conn:
            if not create:
                found = conn.execute(
                    "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relname LIKE 'rl\\_%%'",
                    (schema,),
                ).fetchone()
                if found is None:
                    raise LedgerError(f"no ledger at {redact(url)}")
            elif schema != "public":
                try:
                    conn.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                    )
                except psycopg.errors.UniqueViolation:
                    pass  # another process created it at the same moment
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"cannot open the ledger at {redact(url)}: {reason}") from None
    except (ValueError, UnicodeError) as exc:  # psycopg's own check of what it is given
        raise LedgerError(f"--db {redact(url)}: {exc}") from None


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parsed = urlparse(url)
    if not parsed.password:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return parsed._replace(netloc=netloc).geturl()


_TABLES = """
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
    hash TEXT NOT NULL
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


def mode_damage(mode: str | None, check: str | None, kept: str | None) -> str | None:
    """What is wrong with how a non-empty ledger says it keeps personal data, if anything."""
    if mode is None:
        return "its privacy mode (the rl_meta row 'privacy') is missing"
    if mode == ENCRYPTED and check is None:
        return "the check of its master key (the rl_meta row 'key_check') is missing"
    if kept is not None and kept != mode:
        return f"rl_meta says its personal data is {_MODE_WORDS.get(mode, repr(mode))}, " + (
            f"but it is stored {_MODE_WORDS[kept]}"
        )
    return None


_MODE_WORDS = {PLAINTEXT: "unencrypted", ENCRYPTED: "encrypted"}


def _in_chunks(keys: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    """The distinct keys, in order, `size` at a time: one query per page (see `one_of`)
    instead of one per key."""
    names = list(dict.fromkeys(keys))
    for start in range(0, len(names), size):
        yield names[start : start + size]


class Store:
    """Stored events, their order and chain, personal data, and plugins' derived rows."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        dialect: str,
        url: str,
        master_key: bytes | None = None,
        read_only: bool = False,
    ):
        self.dialect = dialect
        self.url = url
        self.is_sqlite = dialect == "sqlite"
        # On a read-only file or file system: reads work; nothing, not even derived rows, is
        # written (see projections.current).
        self.read_only = read_only
        try:
            self.app = LedgerApplication(env=env)
        except (PersistenceError, OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the ledger at {redact(url)}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 — psycopg raises its own errors from the pool
            raise StoreError(f"cannot open the ledger at {redact(url)}: {exc}") from None
        recorder: Any = self.app.recorder
        self.recorder = recorder
        self.datastore: Any = recorder.datastore
        if self.is_sqlite:
            self.events_table = self.recorder.events_table_name
            self.prefix = ""
        else:
            schema = self.datastore.schema
            self.events_table = f'"{schema}"."{self.recorder.events_table_name}"'
            self.prefix = f'"{schema}".'
        try:
            self._create_tables()
        except DamagedLedger:
            self.app.close()
            raise
        self.vault = Vault(master_key)
        self.journal_pending = False  # a forget's WAL could not be truncated yet
        self._adopt_privacy_mode()

    # -- plumbing ---------------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        statement = statement.replace("{p}", self.prefix).replace("{events}", self.events_table)
        return statement if self.is_sqlite else statement.replace("?", "%s")

    def _create_tables(self) -> None:
        """Create what is missing, in one transaction that one process at a time may run:
        `CREATE … IF NOT EXISTS` races between processes on PostgreSQL.

        All of it on a new ledger; on an existing one only indexes and derived tables (see
        `DERIVED_TABLES`): a table of its history recreated empty would pass for one that
        never held anything, so its absence raises `DamagedLedger` instead.
        """
        ddl = _TABLES.format(
            p=self.prefix,
            p_="",
            uuid="TEXT" if self.is_sqlite else "uuid",
            blob="BLOB" if self.is_sqlite else "bytea",
        )
        bare = _TABLES.replace("{p}", "").replace("{p_}", "")
        tables = {*re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", bare)}
        tables.add(self.recorder.events_table_name)
        names = {*re.findall(r"IF NOT EXISTS (\w+)", bare), *tables}
        try:
            existing = self._existing_names(names)
            if existing >= names or self.read_only:
                return  # what a read-only ledger lacks, its reads report when they need it
            reset = self._repairable(tables, existing)
            with self.write(lock=False) as cur:
                if not self.is_sqlite:
                    cur.run(
                        "SELECT pg_advisory_xact_lock(hashtext(?))",
                        (f"referral-ledger:{self.prefix}",),
                    )
                    existing = self._existing_names(names, cur)
                    if existing >= names:
                        return
                    reset = self._repairable(tables, existing)
                self._create_event_tables(cur)
                for statement in ddl.split(";"):
                    if statement.strip():
                        cur.execute(statement)
                if reset:
                    cur.run("DELETE FROM {p}rl_rows")
                    cur.run("DELETE FROM {p}rl_positions")
        except DamagedLedger:
            raise
        except LedgerError as exc:
            raise StoreError(
                f"cannot open the ledger at {redact(self.url)}: {exc.message}"
            ) from None

    @staticmethod
    def _repairable(tables: set[str], existing: set[str]) -> bool:
        """Whether derived rows must be rebuilt; raises `DamagedLedger` when history is gone."""
        if not existing & tables:
            return False  # a new ledger
        lost = sorted(tables - existing - set(DERIVED_TABLES))
        if lost:
            raise DamagedLedger.of(lost)
        return not existing >= set(DERIVED_TABLES)

    def _existing_names(self, names: set[str], cur: Any = None) -> set[str]:
        marks = ",".join("?" * len(names))
        if self.is_sqlite:
            sql = f"SELECT name FROM sqlite_master WHERE name IN ({marks})"
            params: tuple[Any, ...] = tuple(names)
        else:
            sql = (
                "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n "
                f"ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname IN ({marks})"
            )
            params = (self.datastore.schema, *names)
        if cur is not None:
            return {row["name"] for row in cur.all(sql, params)}
        with self.read() as reader:
            return {row["name"] for row in reader.all(sql, params)}

    def _create_event_tables(self, cur: _Cursor) -> None:
        """eventsourcing's own tables, types and functions, inside our transaction."""
        if self.is_sqlite:
            for statement in self.recorder.create_table_statements:
                cur.raw.execute(statement)
            return
        for statement in self.recorder.sql_create_statements:
            if "CREATE TYPE" in statement.as_string():
                cur.raw.execute("SAVEPOINT rl_type")
                try:
                    cur.raw.execute(statement, prepare=False)
                except Exception as exc:
                    if type(exc).__name__ != "DuplicateObject":
                        raise
                    cur.raw.execute("ROLLBACK TO SAVEPOINT rl_type")
                cur.raw.execute("RELEASE SAVEPOINT rl_type")
            else:
                cur.raw.execute(statement, prepare=False)

    @contextmanager
    def read(self) -> Iterator[Any]:
        try:
            if self.is_sqlite:
                with self.datastore.transaction(commit=False) as cur:
                    yield _Cursor(cur, self)
            else:
                # The pool's connections are in autocommit: under READ COMMITTED each statement
                # sees its own snapshot even inside a transaction, so BEGIN and ROLLBACK would
                # only add two round trips to every read.
                with self.datastore.get_connection() as conn, conn.cursor() as cur:
                    yield _Cursor(cur, self)
        except (PersistenceError, sqlite3.Error) as exc:
            raise StoreError(f"reading the ledger failed: {exc}") from None

    def stream(self, statement: str, params: Sequence[Any] = (), page: int = PAGE) -> Iterator[Any]:
        """The rows of one SELECT, read `page` at a time as they are asked for, from one
        snapshot: a long listing is never held whole. On PostgreSQL through a server-side
        cursor, which needs a transaction of its own (our connections are in autocommit)."""
        try:
            if self.is_sqlite:
                with self.datastore.transaction(commit=False) as cur:
                    raw = cur.sqlite_cursor
                    raw.execute(self._sql(statement), tuple(params))
                    while found := raw.fetchmany(page):
                        yield from found
            else:
                with (
                    self.datastore.get_connection() as conn,
                    conn.transaction(),
                    conn.cursor(name="rl_stream") as cur,
                ):
                    cur.itersize = page
                    cur.execute(self._sql(statement), tuple(params))
                    yield from cur
        except (PersistenceError, sqlite3.Error) as exc:
            raise StoreError(f"reading the ledger failed: {exc}") from None

    @contextmanager
    def write(self, *, lock: bool = True) -> Iterator[Any]:
        """One write transaction that holds the ledger's write lock from its first statement."""
        if self.read_only:
            raise StoreError(f"the ledger at {self.url} is read-only: nothing can be written to it")
        try:
            if self.is_sqlite:
                with self.datastore.get_connection(commit=True) as conn:
                    raw = conn._sqlite_conn
                    raw.execute("PRAGMA synchronous=FULL")
                    raw.execute("PRAGMA secure_delete=ON")
                    cur = raw.cursor()
                    cur.execute("BEGIN IMMEDIATE")
                    try:
                        yield _Cursor(cur, self)
                        raw.commit()
                    except BaseException:
                        raw.rollback()
                        raise
            else:
                with (
                    self.datastore.get_connection() as conn,
                    conn.transaction(),
                    conn.cursor() as cur,
                ):
                    if lock:
                        cur.execute(f"SET LOCAL lock_timeout = '{lock_timeout()}s'")
                        cur.execute(f"LOCK TABLE {self.prefix}rl_log IN EXCLUSIVE MODE")
                    yield _Cursor(cur, self)
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"another writer got there first ({exc}); try again") from None
        except ESIntegrityError as exc:
            raise ConflictError(f"another writer got there first ({exc}); try again") from None
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise _busy(exc) from None
            raise StoreError(f"writing the ledger failed: {exc}") from None
        except (ESOperationalError, PersistenceError) as exc:
            # eventsourcing's pool wraps psycopg's errors: LockNotAvailable arrives as this
            if "lock timeout" in str(exc) or "database is locked" in str(exc):
                raise _busy(exc) from None
            raise StoreError(f"writing the ledger failed: {exc}") from None
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                import psycopg

                if isinstance(exc, psycopg.errors.IntegrityError):
                    raise ConflictError(
                        f"another writer got there first ({exc}); try again"
                    ) from None
                if isinstance(exc, psycopg.errors.LockNotAvailable):
                    raise _busy(exc) from None
                raise StoreError(f"writing the ledger failed: {exc}") from None
            raise

    def close(self) -> None:
        self.app.close()

    # -- aggregates ---------------------------------------------------------------------------

    def referral(self, key: str) -> Referral | None:
        try:
            return self.app.repository.get(referral_id(key))  # type: ignore[return-value]
        except AggregateNotFoundError:
            return None

    def person(self, handle: str) -> Person | None:
        try:
            return self.app.repository.get(person_id(handle))  # type: ignore[return-value]
        except AggregateNotFoundError:
            return None

    # -- lookups ------------------------------------------------------------------------------

    def count(self) -> int:
        with self.read() as cur:
            row = cur.one("SELECT COUNT(*) AS n FROM {p}rl_log")
            return int(row["n"])

    def tail(self) -> tuple[int, str | None]:
        with self.read() as cur:
            row = cur.one("SELECT seq, hash FROM {p}rl_log ORDER BY seq DESC LIMIT 1")
        return (int(row["seq"]), row["hash"]) if row else (0, None)

    def locate(self, event_id: str) -> Located | None:
        with self.read() as cur:
            row = cur.one(
                "SELECT type, referral, actor FROM {p}rl_log WHERE event_id = ?", (event_id,)
            )
        if row is None:
            return None
        person = row["actor"] if row["referral"] is None else None
        return Located(event_id, row["type"], row["referral"], person)

    def type_plugin(self, kind: str) -> tuple[str, str | None] | None:
        """The plugin (and its distribution) that defined a stored event type, if one did."""
        with self.read() as cur:
            row = cur.one("SELECT plugin, distribution FROM {p}rl_types WHERE type = ?", (kind,))
        return (row["plugin"], row["distribution"]) if row else None

    def stored_ids(self, event_ids: Sequence[str]) -> set[str]:
        """Which of these ids are stored: one query per 500, for a whole import."""
        found: set[str] = set()
        ids = list(dict.fromkeys(event_ids))
        for start in range(0, len(ids), 500):
            where, params = self.one_of("event_id", ids[start : start + 500])
            with self.read() as cur:
                rows = cur.all(f"SELECT event_id FROM {{p}}rl_log WHERE {where}", params)
            found.update(row["event_id"] for row in rows)
        return found

    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """A condition that `column` is one of `values`, and its parameters: an IN list on
        SQLite; on PostgreSQL one array, as its driver takes long to parse 500 placeholders."""
        if self.is_sqlite:
            return f"{column} IN ({','.join('?' * len(values))})", tuple(values)
        return f"{column} = ANY(?)", (list(values),)

    def aggregates(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """The stored ones among these aggregates, rebuilt from their events: a query per 500
        aggregates instead of eventsourcing's one per aggregate."""
        from eventsourcing.persistence import StoredEvent

        found: dict[uuid.UUID, Any] = {}
        unique = list(dict.fromkeys(ids))
        mapper = self.app.mapper
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            where, params = self.one_of(
                "originator_id", [u.hex if self.is_sqlite else u for u in chunk]
            )
            with self.read() as cur:
                rows = cur.all(
                    "SELECT originator_id, originator_version, topic, state FROM {events} "
                    f"WHERE {where} ORDER BY originator_id, originator_version",
                    params,
                )
            aggregate: Any = None
            for row in rows:
                originator = row["originator_id"]
                if not isinstance(originator, uuid.UUID):
                    originator = uuid.UUID(originator)
                if aggregate is not None and aggregate.id != originator:
                    found[aggregate.id] = aggregate
                    aggregate = None
                event: Any = mapper.to_domain_event(
                    StoredEvent(
                        originator,
                        int(row["originator_version"]),
                        row["topic"],
                        bytes(row["state"]),
                    )
                )
                aggregate = event.mutate(aggregate)
            if aggregate is not None:
                found[aggregate.id] = aggregate
        return found

    def get(self, event_id: str) -> Stored | None:
        rows = self._select("WHERE l.event_id = ?", (event_id,))
        return rows[0] if rows else None

    def secrets(self, handles: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for chunk in _in_chunks(handles):
            where, params = self.one_of("handle", chunk)
            with self.read() as cur:
                rows = cur.all(f"SELECT handle, secret FROM {{p}}rl_keys WHERE {where}", params)
            for row in rows:
                found[row["handle"]] = self.vault.open_secret(row["handle"], bytes(row["secret"]))
        return found

    def retraction_times(self, event_ids: Sequence[str]) -> dict[str, int]:
        """When each of these events was retracted (recorded_at of its retraction), if it was."""
        found: dict[str, int] = {}
        for chunk in _in_chunks(event_ids):
            where, params = self.one_of("retracted_id", chunk)
            with self.read() as cur:
                rows = cur.all(
                    f"SELECT retracted_id, recorded_us FROM {{p}}rl_retractions WHERE {where}",
                    params,
                )
            found.update({row["retracted_id"]: int(row["recorded_us"]) for row in rows})
        return found

    # -- reading events -----------------------------------------------------------------------

    _FROM = (
        "FROM {p}rl_log l JOIN {events} s "
        "ON s.originator_id = l.originator_id AND s.originator_version = l.originator_version "
        "LEFT JOIN {p}rl_private p ON p.event_id = l.event_id "
    )

    def _columns(self) -> str:
        """The columns `_stored` reads, from their tables. The owners' secrets only open
        encrypted personal data: a plaintext ledger's reads skip joining them (a third less
        time reading every event on SQLite)."""
        columns = "l.seq, l.event_id, l.recorded_us, l.hash, s.state, p.data, p.owner, "
        if self.vault.encrypted:
            return (
                columns + "k.secret " + self._FROM + "LEFT JOIN {p}rl_keys k ON k.handle = p.owner "
            )
        return columns + "NULL AS secret " + self._FROM

    def _select(self, where: str, params: tuple[Any, ...] = ()) -> list[Stored]:
        with self.read() as cur:
            rows = cur.all("SELECT " + self._columns() + where, params)
        return [self._stored(row) for row in rows]

    def _stored(self, row: Any) -> Stored:
        # The row ends with `_columns()` (a query may put one before them), read by position:
        # a sqlite3.Row looks each name up column by column, and a replay reads every event.
        values = row[-8:] if self.is_sqlite else tuple(row.values())[-8:]
        seq, event_id, recorded_us, digest, state, data, owner, secret = values
        state = bytes(state)
        if data is not None and not len(data):
            data = None  # values that came erased (see `append`)
        if data is not None and self.vault.encrypted:
            if secret is not None:
                secret = self.vault.open_secret(owner, bytes(secret))
            data = self.vault.open_data(secret, event_id, bytes(data))
        return Stored(
            int(seq),
            event_id,
            int(recorded_us),
            digest,
            orjson.loads(state)["record"],
            orjson.loads(bytes(data)) if data is not None else None,
            state,
        )

    def events(
        self, *, after: int = 0, until: int | None = None, page: int = PAGE
    ) -> Iterator[Stored]:
        """Every stored event in `seq` order, read a page at a time."""
        while True:
            # A page is a range of `seq` (gapless) rather than `LIMIT page`: PostgreSQL, its
            # statistics stale after an import, would join every row after `after` to sort
            # out the first page, and a scan of the whole log would take quadratic time.
            upper = after + page if until is None else min(after + page, until)
            batch = self._select("WHERE l.seq > ? AND l.seq <= ? ORDER BY l.seq", (after, upper))
            yield from batch
            if until is not None and upper >= until:
                return
            if len(batch) < page:
                # The end of the log, or a gap in `seq` (which `verify` reports): go on after it.
                with self.read() as cur:
                    row = cur.one("SELECT MIN(seq) AS next FROM {p}rl_log WHERE seq > ?", (upper,))
                if row is None or row["next"] is None:
                    return
                upper = int(row["next"]) - 1
            after = upper

    def referral_events(self, key: str) -> list[Stored]:
        return self._select("WHERE l.referral = ? ORDER BY l.seq", (key,))

    def referrals_events(self, keys: Sequence[str]) -> dict[str, list[Stored]]:
        """The events of many referrals, by key, in `seq` order: one query per 500 keys."""
        found: dict[str, list[Stored]] = {}
        for chunk in _in_chunks(keys):
            where, params = self.one_of("l.referral", chunk)
            with self.read() as cur:
                rows = cur.all(
                    # by (referral, seq): the rl_log_referral index, not a scan of the whole log
                    "SELECT " + self._columns() + f"WHERE {where} ORDER BY l.referral, l.seq",
                    params,
                )
            for row in rows:
                stored = self._stored(row)
                found.setdefault(stored.record["referral"], []).append(stored)
        return found

    def person_events(self, handle: str, types: Sequence[str]) -> list[Stored]:
        marks = ",".join("?" * len(types))
        return self._select(
            # COALESCE keeps SQLite (no statistics) from scanning every person-level event
            # through the referral index instead of using the actor index.
            f"WHERE l.actor = ? AND COALESCE(l.referral, '') = '' AND l.type IN ({marks}) "
            "ORDER BY l.seq",
            (handle, *types),
        )

    def people_events(
        self, handles: Sequence[str], types: Sequence[str]
    ) -> dict[str, list[Stored]]:
        """`person_events` of many people, by handle: one query per 500 people."""
        found: dict[str, list[Stored]] = {}
        kinds = ",".join("?" * len(types))
        for chunk in _in_chunks(handles):
            where, params = self.one_of("l.actor", chunk)
            with self.read() as cur:
                rows = cur.all(
                    "SELECT l.actor, "
                    + self._columns()
                    + f"WHERE {where} AND COALESCE(l.referral, '') = '' "
                    f"AND l.type IN ({kinds}) ORDER BY l.seq",
                    (*params, *types),
                )
            for row in rows:
                found.setdefault(row["actor"], []).append(self._stored(row))
        return found

    def referrals_of(self, handle: str) -> list[str]:
        with self.read() as cur:
            rows = cur.all("SELECT referral FROM {p}rl_mentions WHERE handle = ?", (handle,))
        return [row["referral"] for row in rows]

    def referrals_of_people(self, handles: Sequence[str]) -> dict[str, list[str]]:
        """`referrals_of` many people, by handle: one query per 500 people."""
        found: dict[str, list[str]] = {}
        for chunk in _in_chunks(handles):
            where, params = self.one_of("handle", chunk)
            with self.read() as cur:
                rows = cur.all(
                    f"SELECT handle, referral FROM {{p}}rl_mentions WHERE {where} "
                    "ORDER BY handle, referral",
                    params,
                )
            for row in rows:
                found.setdefault(row["handle"], []).append(row["referral"])
        return found

    def referral_keys(self) -> list[str]:
        with self.read() as cur:
            rows = cur.all(
                "SELECT referral FROM {p}rl_log WHERE type = 'referral-requested' ORDER BY seq"
            )
        return [row["referral"] for row in rows]

    def raw_rows(self, *, after: int = 0, page: int = PAGE) -> Iterator[Any]:
        """Stored rows exactly as they are, for `verify`: every row, whatever it holds."""
        select = (
            "SELECT l.*, s.state, s.topic FROM {p}rl_log l LEFT JOIN {events} s "
            "ON s.originator_id = l.originator_id "
            "AND s.originator_version = l.originator_version "
        )
        while True:
            # A range of `seq` rather than `LIMIT page`, as in `events()`: PostgreSQL without
            # statistics would otherwise join every row after `after` for each page.
            upper = after + page
            with self.read() as cur:
                rows = cur.all(
                    select + "WHERE l.seq > ? AND l.seq <= ? ORDER BY l.seq", (after, upper)
                )
            yield from rows
            if len(rows) == page:
                after = upper
                continue
            # The end of the log, or a gap in `seq` (which `verify` reports): go on after it.
            with self.read() as cur:
                row = cur.one("SELECT MIN(seq) AS next FROM {p}rl_log WHERE seq > ?", (upper,))
            following = row["next"] if row is not None else None
            if type(following) is int:
                after = following - 1
                continue
            if following is not None:
                # SQLite keeps any value it is given, and sorts text after every number: the
                # rows whose `seq` is no number come last, as they are, for `verify` to report.
                with self.read() as cur:
                    yield from cur.all(select + "WHERE l.seq > ? ORDER BY l.seq", (upper,))
            return

    def stored_event_count(self) -> int:
        with self.read() as cur:
            return int(cur.one("SELECT COUNT(*) AS n FROM {events}")["n"])

    # -- appending ----------------------------------------------------------------------------

    def append(self, batch: Sequence[Pending], *, restore: bool = False) -> list[Stored]:
        """Append events in one transaction: seq, recorded_at and hash are assigned here."""
        stored: list[Stored] = []
        if not batch:
            return stored
        with self.write() as cur:
            row = cur.one("SELECT seq, hash, recorded_us FROM {p}rl_log ORDER BY seq DESC LIMIT 1")
            seq, prev, last_us = (
                (int(row["seq"]), row["hash"], int(row["recorded_us"])) if row else (0, GENESIS, 0)
            )
            if restore and seq != 0:
                raise ConflictError("the ledger is no longer empty; import again")
            self._claim_privacy_mode(cur, empty=seq == 0)
            now_us = to_micros(datetime.now(UTC))
            rows = _Rows()
            forgets = []
            type_rows: dict[str, tuple[str, str, str | None]] = {}
            recorded_at = ""
            recorded_at_us = -1
            for item in batch:
                seq += 1
                record = item.record
                if item.recorded_at is not None and restore:
                    recorded_us = to_micros(item.recorded_at)
                    if recorded_us < last_us:
                        raise LedgerError("recorded_at goes backwards", line=item.line)
                else:
                    recorded_us = max(now_us, last_us)
                last_us = recorded_us
                if recorded_us != recorded_at_us:  # most of a batch shares one moment
                    recorded_at = format_timestamp(from_micros(recorded_us))
                    recorded_at_us = recorded_us
                digest = chain_hash(prev, seq, record["id"], recorded_at, item.record_bytes)
                if item.expect_seq is not None and item.expect_seq != seq:
                    raise LedgerError(
                        f"seq {item.expect_seq} does not follow the ledger (expected {seq})",
                        line=item.line,
                    )
                if item.expect_hash is not None and restore and item.expect_hash != digest:
                    raise LedgerError(
                        "hash does not match the event's content and position", line=item.line
                    )
                prev = digest
                event = item.domain_event
                rows.events.append(self.app.mapper.to_stored_event(event))
                originator = event.originator_id.hex if self.is_sqlite else event.originator_id
                actor, other = log_people(record)
                rows.log.append(
                    (
                        seq,
                        record["id"],
                        record["type"],
                        record.get("referral"),
                        actor,
                        other,
                        to_micros(event.timestamp),  # the event's `at`
                        recorded_us,
                        originator,
                        event.originator_version,
                        digest,
                    )
                )
                if item.private:
                    data = self.vault.seal_data(item.secret, record["id"], dumps(item.private))
                    rows.private.append((record["id"], item.owner, data))
                elif (erased := _erased_owner(record)) is not None:
                    # Its values came erased ({"forgotten": …}): an empty row says so, so that
                    # `verify` can tell them from values deleted behind the ledger's back.
                    rows.private.append((record["id"], erased, b""))
                for handle, secret in item.new_keys.items():
                    rows.keys.append((handle, self.vault.seal_secret(handle, secret)))
                if record["type"] == "event-retracted":
                    rows.retractions.append((record["retracts"], seq, recorded_us))
                if record.get("referral"):
                    for name in MENTIONED:
                        if record.get(name):
                            rows.mentions.append((record[name], record["referral"]))
                if item.forget:
                    forgets.append(item.forget)
                if item.plugin is not None:
                    type_rows[record["type"]] = (record["type"], *item.plugin)
                stored.append(
                    Stored(seq, record["id"], recorded_us, digest, record, item.private or None)
                )
                if len(rows.log) == PAGE:
                    # Rows go in a page at a time, inside the one transaction: a large import
                    # need not hold every stored event's bytes until its end.
                    self._insert_rows(cur, rows)
                    rows = _Rows()
            self._insert_rows(cur, rows)
            if type_rows:
                cur.many(
                    "INSERT INTO {p}rl_types VALUES (?,?,?) ON CONFLICT (type) DO NOTHING",
                    list(type_rows.values()),
                )
            for handle in forgets:
                cur.run("DELETE FROM {p}rl_private WHERE owner = ?", (handle,))
                cur.run("DELETE FROM {p}rl_keys WHERE handle = ?", (handle,))
            if forgets:
                # A plugin's rows may quote what was just erased (a name in a message, a
                # note cut short): drop them all; the next read re-derives them.
                cur.run("DELETE FROM {p}rl_rows")
                cur.run("DELETE FROM {p}rl_positions")
                for item, out in zip(batch, stored, strict=True):
                    if item.owner in forgets:
                        out.private = None  # erased in this very batch: hooks never see it
        if forgets and self.is_sqlite:
            self._scrub_journal()
        elif forgets:
            self._vacuum_erased()
        if len(batch) >= ANALYZE_AFTER:
            self.analyze(EVENT_TABLES)
        return stored

    def analyze(self, tables: Sequence[str]) -> None:
        """Refresh PostgreSQL's statistics of these tables (`rl_…` names, or "events" for the
        stored events) after a large write has committed: an import, or plugins' rows.

        Autovacuum may be off (it is on some servers) or not have come round yet: after a large
        import the planner then takes the tables for empty and plans every read as a scan, a
        join of the log with rl_private and rl_keys a nested loop over all their rows. ANALYZE
        runs here, outside the write transaction, so it never lengthens the write lock; it takes
        a lock that blocks neither readers nor writers. SQLite is left as it is: its planner
        does without statistics, and our queries are written for that (see `person_events`).
        """
        if self.is_sqlite:
            return
        names = ", ".join(
            self.events_table if name == "events" else self.prefix + name for name in tables
        )
        try:
            with self.datastore.get_connection() as conn:  # autocommit, like every read
                conn.execute(f"ANALYZE {names}")
        except Exception:  # noqa: BLE001 — the events are committed; statistics are only a help
            return

    def _insert_rows(self, cur: _Cursor, rows: _Rows) -> None:
        self._insert_stored_events(cur, rows.events)
        cur.insert("{p}rl_log", rows.log)
        cur.insert(
            "{p}rl_keys",
            rows.keys,
            unless="ON CONFLICT (handle) DO NOTHING",
            types=("text", "bytea"),
        )
        cur.insert("{p}rl_private", rows.private)
        cur.insert("{p}rl_retractions", rows.retractions)
        cur.insert(
            "{p}rl_mentions",
            # the same person and referral come back in most events of a referral
            list(dict.fromkeys(rows.mentions)),
            unless="ON CONFLICT DO NOTHING",
            types=("text", "text"),
        )

    def _insert_stored_events(self, cur: _Cursor, stored_events: list[Any]) -> None:
        # Straight into eventsourcing's table (its SQLite recorder executes row by row, its
        # PostgreSQL one needs composite types); the rl_log lock already orders writers.
        cur.insert(
            "{events} (originator_id, originator_version, topic, state)",
            [
                (
                    s.originator_id.hex if self.is_sqlite else s.originator_id,
                    s.originator_version,
                    s.topic,
                    s.state,
                )
                for s in stored_events
            ],
        )

    # -- how personal data is kept: plaintext or encrypted (see crypto.py) ---------------------

    def _privacy_mode(self, cur: _Cursor) -> tuple[str | None, str | None]:
        rows = cur.all("SELECT name, value FROM {p}rl_meta WHERE name IN ('privacy', 'key_check')")
        found = {row["name"]: row["value"] for row in rows}
        return found.get("privacy"), found.get("key_check")

    def _kept_mode(self, cur: _Cursor) -> str | None:
        """The mode the stored bytes show (a secret and a row of values, one each suffices:
        a ledger writes all of them one way); None when nothing personal is stored."""
        found = None
        row = cur.one("SELECT secret FROM {p}rl_keys LIMIT 1")
        if row is not None:
            found = secret_mode(bytes(row["secret"]))
        row = cur.one("SELECT data FROM {p}rl_private WHERE data <> ? LIMIT 1", (b"",))
        if row is not None and found != ENCRYPTED:
            found = data_mode(bytes(row["data"])) or found
        return found

    def _adopt_privacy_mode(self) -> None:
        with self.read() as cur:
            mode, check = self._privacy_mode(cur)
            empty = cur.one("SELECT seq FROM {p}rl_log LIMIT 1") is None
            kept = self._kept_mode(cur)
        if mode is None and empty and kept is None:
            return  # the first write decides
        # Encrypted bytes win over a meta row that says otherwise, or is gone: a client
        # without the key is then refused personal data rather than handed ciphertext.
        self.vault.adopt(ENCRYPTED if kept == ENCRYPTED else (mode or PLAINTEXT), check)

    def _claim_privacy_mode(self, cur: _Cursor, *, empty: bool) -> None:
        """Inside a write: fix the mode on a ledger's first write, refuse a mixed one after."""
        if empty and cur.one("SELECT originator_version FROM {events} LIMIT 1") is not None:
            raise StoreError(
                "the ledger is damaged: its log is empty but events are stored; run verify"
            )
        if not empty:
            mode, check = self._privacy_mode(cur)
            damage = mode_damage(mode, check, self._kept_mode(cur))
            if damage is not None:
                raise StoreError(f"the ledger is damaged: {damage}; run verify")
            self.vault.adopt(mode or PLAINTEXT, check)
            return
        claim = [("privacy", self.vault.mode)]
        if self.vault.master_key is not None:
            claim.append(("key_check", self.vault.check_value()))
        cur.many(
            "INSERT INTO {p}rl_meta VALUES (?,?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            claim,
        )

    def _scrub_journal(self) -> None:
        """Move the WAL into the database and truncate it, so no old page keeps erased data."""
        with self.datastore.get_connection(commit=True) as conn:
            raw = conn._sqlite_conn
            (timeout,) = raw.execute("PRAGMA busy_timeout").fetchone()
            raw.execute("PRAGMA busy_timeout=3000")
            try:
                busy = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                raw.execute(f"PRAGMA busy_timeout={int(timeout)}")
        # A reader in another process can hold old pages in the WAL; SQLite drops them when the
        # last connection closes. `forget` says so rather than wait for it.
        self.journal_pending = bool(busy)

    def _vacuum_erased(self) -> None:
        """Let PostgreSQL prune the deleted rows now rather than at the next autovacuum."""
        with self.datastore.get_connection() as conn:  # autocommit: VACUUM refuses a transaction
            conn.execute(self._sql("VACUUM {p}rl_private, {p}rl_keys, {p}rl_rows"))

    # -- derived state of plugins --------------------------------------------------------------

    def position(self, projection: str) -> tuple[int, str | None]:
        with self.read() as cur:
            row = cur.one(
                "SELECT seq, version FROM {p}rl_positions WHERE projection = ?", (projection,)
            )
        return (int(row["seq"]), row["version"]) if row else (0, None)

    def replace_rows(
        self, cur: _Cursor, projection: str, parts: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Inside a write: delete the rows of these parts of a projection, and insert `rows`."""
        if self.is_sqlite:
            cur.many(
                "DELETE FROM {p}rl_rows WHERE projection = ? AND part = ?",
                [(projection, part) for part in parts],
            )
            cur.many("INSERT INTO {p}rl_rows VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            return
        # psycopg's executemany sends one statement per row: an array and a COPY instead. In
        # this form the planner looks each part up in the (projection, part) index even when
        # it has no statistics yet; with `part = ANY(?)` it would read every row of the
        # projection, for each chunk of a replay.
        cur.run(
            "DELETE FROM {p}rl_rows WHERE (projection, part) IN (SELECT ?::text, unnest(?::text[]))",
            (projection, list(parts)),
        )
        with cur.raw.copy(self._sql("COPY {p}rl_rows FROM STDIN")) as copy:
            for row in rows:
                copy.write_row(row)


def _erased_owner(record: dict[str, Any]) -> str | None:
    """The owner of a record's sealed values, when it has any (all have one owner)."""
    for _path, sealed in sealed_paths(record):
        owner = sealed.get("owner")
        if isinstance(owner, str):
            return owner
    return None


@dataclass
class _Rows:
    """Rows of the tables an append writes, waiting for one `executemany` each."""

    events: list[Any] = field(default_factory=list)  # eventsourcing's StoredEvent
    log: list[tuple[Any, ...]] = field(default_factory=list)
    private: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    retractions: list[tuple[Any, ...]] = field(default_factory=list)
    mentions: list[tuple[Any, ...]] = field(default_factory=list)


class _Cursor:
    """A cursor that speaks one placeholder style on both databases."""

    def __init__(self, raw: Any, store: Store):
        self.raw = raw
        self.store = store

    def run(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.raw.execute(self.store._sql(statement), tuple(params))

    def many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.raw.executemany(self.store._sql(statement), rows)

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

        PostgreSQL gets the rows through COPY, or (with `unless`, which COPY lacks) as one array
        per column: one statement rather than one per row, several times faster for an import.
        SQLite's `executemany` is fast already.
        """
        if not rows:
            return
        if self.store.is_sqlite:
            marks = ",".join("?" * len(rows[0]))
            self.raw.executemany(
                self.store._sql(f"INSERT INTO {table} VALUES ({marks}) {unless}"), rows
            )
        elif unless:
            arrays = ", ".join(f"%s::{kind}[]" for kind in types)
            self.raw.execute(
                self.store._sql(f"INSERT INTO {table} SELECT * FROM unnest({arrays}) {unless}"),
                [list(column) for column in zip(*rows, strict=True)],
            )
        else:
            with self.raw.copy(self.store._sql(f"COPY {table} FROM STDIN")) as copy:
                for row in rows:
                    copy.write_row(row)

    def one(self, statement: str, params: Sequence[Any] = ()) -> Any:
        self.raw.execute(self.store._sql(statement), tuple(params))
        return self.raw.fetchone()

    def all(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        self.raw.execute(self.store._sql(statement), tuple(params))
        return list(self.raw.fetchall())

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.run(statement, params)
