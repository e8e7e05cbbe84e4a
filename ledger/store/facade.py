"""The store's facade: stored events, their order and chain, personal data, plugins' rows.

Everything here is the same on every database: the chain (`chain_hash`), what an append
writes and in which order, how events and rows are read back. What differs between databases
(connecting, placeholders, transactions and locks, bulk inserts, listing tables, ...) is
asked of `self.backend`, a `Backend` (see `backend.py`); this module never asks which
database it is on.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import OriginatorVersionError
from eventsourcing.persistence import IntegrityError as ESIntegrityError
from eventsourcing.persistence import OperationalError as ESOperationalError
from eventsourcing.persistence import PersistenceError, Transcoder

from ..aggregates import Person, Referral, person_id, referral_id
from ..crypto import ENCRYPTED, PLAINTEXT, Vault, data_mode, secret_mode
from ..errors import ConflictError, LedgerError, StoreError
from ..events import (
    format_micros,
    format_timestamp,
    from_micros,
    read_without_plugins,
    to_micros,
)
from ..interchange import dumps
from ..privacy import sealed_paths
from ..rules import Located
from . import tree
from .backend import PAGE, WRITE_PAGE, Backend, Cursor, busy, redact, render
from .rows import in_listing_order, only_projections, select_rows
from .schema import DERIVED_TABLES, EVENT_TABLES, TABLES, TREE_TABLES

GENESIS = "0" * 64
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


def chain_hash(
    prev: str,
    seq: int,
    event_id: str,
    recorded_at: str,
    record_bytes: bytes,
    recorded_by: str | None = None,
) -> str:
    """One link of the tamper-evident chain. `recorded_by` (who stored the event, from 0.2 on)
    is covered when the event has one: an event stored by 0.1 has none, and links as it did."""
    digest = hashlib.sha256(prev.encode())
    position = [seq, event_id, recorded_at]
    if recorded_by is not None:
        position.append(recorded_by)
    digest.update(dumps(position))
    digest.update(record_bytes)
    return digest.hexdigest()


@dataclass
class Pending:
    """One validated event, sealed and ready to append."""

    record: dict[str, Any]  # the sealed record: what the chain covers
    # The stored event of its aggregate (see aggregates.py): which one, which of its events,
    # of which class, when (`at`); `originator_topic` the aggregate's class, for its first.
    originator_id: uuid.UUID
    originator_version: int
    topic: str
    at: datetime
    at_us: int
    originator_topic: str | None = None
    private: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None
    new_keys: dict[str, bytes] = field(default_factory=dict)
    forget: str | None = None
    secret: bytes | None = None  # the owner's, to encrypt `private` at rest
    recorded_at: datetime | None = None  # kept on a restore
    recorded_by: str | None = None  # kept on a restore (None: a line written by 0.1)
    expect_seq: int | None = None
    expect_hash: str | None = None
    line: int | None = None
    plugin: tuple[str, str | None] | None = None  # (plugin, distribution) of a plugin's type
    # A restored line whose `hash` was checked against the file's chain: the record's
    # canonical bytes as hashed, and the (prev, seq, recorded_at, recorded_by) they were hashed
    # with. When the ledger's chain gives the same, the append takes the bytes and the hash as
    # they are instead of encoding and hashing the record again (same inputs, same digest).
    checked_bytes: bytes | None = None
    checked_link: tuple[str, int, str, str | None] | None = None

    @property
    def record_bytes(self) -> bytes:
        return self.checked_bytes if self.checked_bytes is not None else dumps(self.record)

    def state(self, record_bytes: bytes) -> bytes:
        """The stored event's state, as eventsourcing's mapper and `OrjsonTranscoder` encode
        the domain event (its attributes but its originator's id and version, keys sorted),
        built around the record's canonical bytes rather than encoding the record again."""
        head = (
            b'{"originator_topic":' + dumps(self.originator_topic) + b","
            if (self.originator_topic is not None)
            else b"{"
        )
        stamp = orjson.dumps(self.at, option=orjson.OPT_UTC_Z)
        return head + b'"record":' + record_bytes + b',"timestamp":' + stamp + b"}"


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
    recorded_by: str | None = None  # who stored it (None: stored by 0.1)

    @property
    def recorded_at(self) -> str:
        return format_micros(self.recorded_us)


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


def _in_chunks(keys: Sequence[Any], size: int = 500) -> Iterator[list[Any]]:
    """The distinct keys, in order, `size` at a time: one query per page (see `one_of`)
    instead of one per key."""
    names = list(dict.fromkeys(keys))
    for start in range(0, len(names), size):
        yield names[start : start + size]


@dataclass
class Kept:
    """What `verify` checks beside the log, read in one go (see `Store.kept`)."""

    private_rows: int
    retractions: list[Any]  # rows: retracted_id, seq, recorded_us
    types: list[Any]  # rows: type
    meta: dict[str, str]


class Store:
    """Stored events, their order and chain, personal data, and plugins' derived rows."""

    def __init__(self, backend: Backend, *, master_key: bytes | None = None):
        self.backend = backend
        self.url = backend.url
        # On a read-only file or file system: reads work; nothing, not even derived rows, is
        # written (see projections.current).
        self.read_only = backend.read_only
        try:
            self.app = LedgerApplication(env=backend.env)
        except Exception as exc:  # noqa: BLE001 — each driver raises its own errors
            raise StoreError(f"cannot open the ledger at {redact(self.url)}: {exc}") from None
        recorder: Any = self.app.recorder
        self.recorder = recorder
        self.provenance = True  # whether rl_log has `recorded_by` (see `_create_tables`)
        backend.attach(recorder)
        self._values = backend.values
        self._writing: Cursor | None = None  # the transaction of `appending`, while it is open
        try:
            self._create_tables()
        except DamagedLedger:
            self.app.close()
            raise
        self.vault = Vault(master_key)
        self.journal_pending = False  # a forget's WAL could not be truncated yet
        self._adopt_privacy_mode()
        self._catch_up_tree()

    @property
    def datastore(self) -> Any:
        """eventsourcing's datastore of this ledger."""
        return self.backend.datastore

    @property
    def events_table(self) -> str:
        """eventsourcing's table of stored events, as a statement names it."""
        return self.backend.events_table

    @property
    def prefix(self) -> str:
        """What goes before the name of each of our tables in a statement."""
        return self.backend.prefix

    # -- plumbing ---------------------------------------------------------------------------

    def _create_tables(self) -> None:
        """Create what is missing, in one transaction that one process at a time may run
        (`Backend.lock_schema`).

        All of it on a new ledger; on an existing one only indexes and derived tables (see
        `DERIVED_TABLES`): a table of its history recreated empty would pass for one that
        never held anything, so its absence raises `DamagedLedger` instead.
        """
        ddl = TABLES.format(p=self.prefix, p_="", **self.backend.column_types)
        bare = TABLES.replace("{p}", "").replace("{p_}", "")
        tables = {*re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", bare)}
        tables.add(self.recorder.events_table_name)
        names = {*re.findall(r"IF NOT EXISTS (\w+)", bare), *tables}
        try:
            with self.read() as reader:
                existing = self.backend.list_tables(reader, names)
                self.provenance = self._has_provenance(reader, existing)
            if (existing >= names and self.provenance) or self.read_only:
                return  # what a read-only ledger lacks, its reads report when they need it
            self._repairable(tables, existing)  # raises DamagedLedger before any write
            with self.write(lock=False) as cur:
                self.backend.lock_schema(cur)
                existing = self.backend.list_tables(cur, names)  # another process's, meanwhile
                if not self._has_provenance(cur, existing):
                    # a ledger of 0.1: its events stay as they are, with no `recorded_by`
                    cur.run("ALTER TABLE {p}rl_log ADD COLUMN recorded_by TEXT")
                self.provenance = True
                if existing >= names:
                    return
                reset = self._repairable(tables, existing)
                self.backend.create_event_tables(cur, self.recorder)
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

    def _has_provenance(self, cur: Cursor, existing: set[str]) -> bool:
        """Whether the log has its `recorded_by` column (a new ledger's will have)."""
        return "rl_log" not in existing or "recorded_by" in self.backend.columns(cur, "rl_log")

    @staticmethod
    def _repairable(tables: set[str], existing: set[str]) -> bool:
        """Whether derived rows must be rebuilt; raises `DamagedLedger` when history is gone."""
        if not existing & tables:
            return False  # a new ledger
        lost = sorted(tables - existing - set(DERIVED_TABLES) - set(TREE_TABLES))
        if lost:
            raise DamagedLedger.of(lost)
        return not existing >= set(DERIVED_TABLES)

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        if self._writing is not None:
            # inside `appending`: its own transaction, which sees the pages it wrote
            yield self._writing
            return
        try:
            with self.backend.read() as raw:
                yield Cursor(raw, self.backend)
        except PersistenceError as exc:
            raise StoreError(f"reading the ledger failed: {exc}") from None

    def stream(self, statement: str, params: Sequence[Any] = (), page: int = PAGE) -> Iterator[Any]:
        """The rows of one SELECT, read `page` at a time as they are asked for, from one
        snapshot: a long listing is never held whole."""
        try:
            yield from self.backend.stream(render(self.backend, statement), tuple(params), page)
        except PersistenceError as exc:
            raise StoreError(f"reading the ledger failed: {exc}") from None

    @contextmanager
    def write(self, *, lock: bool = True) -> Iterator[Cursor]:
        """One write transaction that holds the ledger's write lock from its first statement."""
        if self.read_only:
            raise StoreError(f"the ledger at {self.url} is read-only: nothing can be written to it")
        try:
            with self.backend.write(lock=lock) as raw:
                yield Cursor(raw, self.backend)
        except ESIntegrityError as exc:
            raise ConflictError(f"another writer got there first ({exc}); try again") from None
        except (ESOperationalError, PersistenceError) as exc:
            # eventsourcing's pool wraps the driver's errors: a lock timeout arrives as this
            if "lock timeout" in str(exc) or "database is locked" in str(exc):
                raise busy(exc) from None
            raise StoreError(f"writing the ledger failed: {exc}") from None

    def close(self) -> None:
        self.app.close()

    # -- aggregates ---------------------------------------------------------------------------

    def referral(self, key: str) -> Referral | None:
        if self._writing is not None:  # eventsourcing's repository reads outside it
            return self.aggregates([referral_id(key)]).get(referral_id(key))
        try:
            return self.app.repository.get(referral_id(key))  # type: ignore[return-value]
        except AggregateNotFoundError:
            return None
        except OriginatorVersionError:
            raise _gap("referral", key) from None

    def person(self, handle: str) -> Person | None:
        if self._writing is not None:
            return self.aggregates([person_id(handle)]).get(person_id(handle))
        try:
            return self.app.repository.get(person_id(handle))  # type: ignore[return-value]
        except AggregateNotFoundError:
            return None
        except OriginatorVersionError:
            raise _gap("person", handle) from None

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

    def ids_starting(self, prefix: str, limit: int = 2) -> list[str]:
        """Up to `limit` stored event ids that begin with `prefix`, in `seq` order. (A scan of
        the log: `substr` compares bytes alike on both databases, where a range would follow
        PostgreSQL's collation. Read only by `retract`, for a short id.)"""
        with self.read() as cur:
            rows = cur.all(
                "SELECT event_id FROM {p}rl_log WHERE substr(event_id, 1, ?) = ? "
                "ORDER BY seq LIMIT ?",
                (len(prefix), prefix, limit),
            )
        return [row["event_id"] for row in rows]

    def id_at(self, seq: int) -> str | None:
        """The id of the event stored with this `seq`, if any."""
        with self.read() as cur:
            row = cur.one("SELECT event_id FROM {p}rl_log WHERE seq = ?", (seq,))
        return row["event_id"] if row else None

    def last_live_id(self) -> str | None:
        """The id of the live event (neither a retraction nor retracted) with the highest
        `seq`, if any."""
        with self.read() as cur:
            row = cur.one(
                "SELECT l.event_id FROM {p}rl_log l WHERE l.type <> 'event-retracted' "
                "AND NOT EXISTS (SELECT 1 FROM {p}rl_retractions r "
                "WHERE r.retracted_id = l.event_id) ORDER BY l.seq DESC LIMIT 1"
            )
        return row["event_id"] if row else None

    def member_handles(self) -> dict[str, str]:
        """On a team ledger (see `team.py`): each member role's handle; else nothing."""
        with self.read() as cur:
            if not self.backend.list_tables(cur, {"rl_team"}):
                return {}
            rows = cur.all("SELECT role, handle FROM {p}rl_team")
        return {row["role"]: row["handle"] for row in rows}

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
        return self.backend.one_of(column, values)

    def aggregates(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """The stored ones among these aggregates, rebuilt from their events: a query per 500
        aggregates instead of eventsourcing's one per aggregate."""
        from eventsourcing.persistence import StoredEvent

        found: dict[uuid.UUID, Any] = {}
        unique = list(dict.fromkeys(ids))
        mapper = self.app.mapper
        originator_of = self.backend.originator
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            where, params = self.one_of("originator_id", [originator_of(u) for u in chunk])
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

    def get_many(self, event_ids: Sequence[str]) -> dict[str, Stored]:
        """`get` of many events, by id (those stored): one query per 500 ids."""
        found: dict[str, Stored] = {}
        for chunk in _in_chunks(event_ids):
            where, params = self.one_of("l.event_id", chunk)
            for stored in self._select(f"WHERE {where}", params):
                found[stored.event_id] = stored
        return found

    def secrets(self, handles: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for chunk in _in_chunks(handles):
            where, params = self.one_of("handle", chunk)
            with self.read() as cur:
                rows = cur.all(f"SELECT handle, secret FROM {{p}}rl_keys WHERE {where}", params)
            for row in rows:
                found[row["handle"]] = self.vault.open_secret(row["handle"], bytes(row["secret"]))
        return found

    def all_secrets(self) -> dict[str, bytes]:
        """Every person's secret, opened: by handle."""
        rows = self.key_rows()
        vault = self.vault
        return {
            row["handle"]: vault.open_secret(row["handle"], bytes(row["secret"])) for row in rows
        }

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
        columns += "l.recorded_by, " if self.provenance else "NULL AS recorded_by, "
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
        seq, event_id, recorded_us, digest, state, data, owner, by, secret = self._values(row)[-9:]
        state = bytes(state)
        data = self._private_bytes(event_id, data, owner, secret)
        return Stored(
            int(seq),
            event_id,
            int(recorded_us),
            digest,
            orjson.loads(state)["record"],
            orjson.loads(data) if data is not None else None,
            state,
            by,
        )

    def _private_bytes(
        self, event_id: str, data: Any, owner: str | None, secret: Any
    ) -> bytes | None:
        """An event's row of personal values as read (`data`, its `owner` and, on an encrypted
        ledger, the owner's sealed `secret`), opened: None when there is none, or it came
        erased (an empty row, see `append`)."""
        if data is None or not len(data):
            return None
        if not self.vault.encrypted:
            return bytes(data)
        if secret is not None:
            secret = self.vault.open_secret(owner, bytes(secret))
        return self.vault.open_data(secret, event_id, bytes(data))

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

    def log_referrals(
        self, *, after: int, until: int, page: int = PAGE
    ) -> Iterator[list[tuple[int, str | None]]]:
        """(seq, referral) of each logged event after `after` up to `until`, a page of `seq` at
        a time, from the log alone: a catch-up reads the referrals of a page in bulk first,
        and then needs the whole event (`events_at`) only of the events it does not hold."""
        while after < until:
            upper = min(after + page, until)
            with self.read() as cur:
                rows = cur.all(
                    "SELECT seq, referral FROM {p}rl_log WHERE seq > ? AND seq <= ? ORDER BY seq",
                    (after, upper),
                )
            yield [(int(row["seq"]), row["referral"]) for row in rows]
            after = upper

    def events_at(self, seqs: Sequence[int]) -> list[Stored]:
        """The stored events of these `seq`, in `seq` order: one query per 500."""
        found: list[Stored] = []
        for chunk in _in_chunks(seqs):
            where, params = self.one_of("l.seq", chunk)
            found += self._select(f"WHERE {where} ORDER BY l.seq", params)
        found.sort(key=lambda stored: stored.seq)
        return found

    def latest_events(
        self, limit: int, *, person: str | None = None, referral: str | None = None
    ) -> list[Stored]:
        """The last `limit` stored events, newest first: of one referral, or naming one person
        (filed under them, with or to them, or of a referral that mentions them), or all."""
        where, params = "", ()  # type: tuple[str, tuple[Any, ...]]
        if referral is not None:
            where, params = "WHERE l.referral = ? ", (referral,)
        elif person is not None:
            where = (
                "WHERE l.actor = ? OR l.other = ? OR l.referral IN "
                "(SELECT referral FROM {p}rl_mentions WHERE handle = ?) "
            )
            params = (person, person, person)
        return self._select(where + "ORDER BY l.seq DESC LIMIT ?", (*params, limit))

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

    def people_private(
        self, handles: Sequence[str], types: Sequence[str]
    ) -> dict[str, list[tuple[str, str, int, dict[str, Any] | None]]]:
        """What `people_events` finds, lighter: for each event (by `seq`), its type, id,
        `recorded_us` and personal values (opened; None when it holds none, or they are
        erased), without the stored record. For a table that names many people: who has one
        `person-added` and nothing else needs no more (`View.names`)."""
        found: dict[str, list[tuple[str, str, int, dict[str, Any] | None]]] = {}
        kinds = ",".join("?" * len(types))
        secrets = "k.secret " if self.vault.encrypted else "NULL AS secret "
        keys = "LEFT JOIN {p}rl_keys k ON k.handle = p.owner " if self.vault.encrypted else ""
        for chunk in _in_chunks(handles):
            where, params = self.one_of("l.actor", chunk)
            with self.read() as cur:
                rows = cur.all(
                    "SELECT l.actor, l.type, l.event_id, l.recorded_us, p.data, p.owner, "
                    + secrets
                    + "FROM {p}rl_log l LEFT JOIN {p}rl_private p ON p.event_id = l.event_id "
                    + keys
                    + f"WHERE {where} AND COALESCE(l.referral, '') = '' "
                    f"AND l.type IN ({kinds}) ORDER BY l.seq",
                    (*params, *types),
                )
            for row in rows:
                actor, kind, event_id, recorded_us, data, owner, secret = self._values(row)
                data = self._private_bytes(event_id, data, owner, secret)
                values = orjson.loads(data) if data is not None else None
                found.setdefault(actor, []).append((kind, event_id, int(recorded_us), values))
        return found

    def records_naming(self, handle: str) -> list[tuple[str, dict[str, Any]]]:
        """(id, stored record) of every event that may name this person, in `seq` order: those
        filed under them, those with or to them, and every event of a referral that mentions
        them (a superset: the caller reads the record's people fields). The records are as
        stored, personal values sealed: handles never are. Read when a `person-added` is
        retracted, rarely enough that the scan of the log for `other` is fine."""
        with self.read() as cur:
            rows = cur.all(
                "SELECT l.event_id, s.state FROM {p}rl_log l JOIN {events} s "
                "ON s.originator_id = l.originator_id "
                "AND s.originator_version = l.originator_version "
                "WHERE l.actor = ? OR l.other = ? OR l.referral IN "
                "(SELECT referral FROM {p}rl_mentions WHERE handle = ?) ORDER BY l.seq",
                (handle, handle, handle),
            )
        return [(row["event_id"], orjson.loads(bytes(row["state"]))["record"]) for row in rows]

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

    def declaring(self, handle: str) -> list[str]:
        """The people who declared a connection with this person (retracted ones too), sorted.
        (A scan of the log: no index keeps whom declarations name. Read only when a person's
        company changes, which is rare.)"""
        with self.read() as cur:
            rows = cur.all(
                "SELECT DISTINCT actor FROM {p}rl_log "
                "WHERE type = 'connection-declared' AND other = ? ORDER BY actor",
                (handle,),
            )
        return [row["actor"] for row in rows]

    def handles(self) -> list[str]:
        """Every handle ever added, once, in the order it was first added (a handle whose
        `person-added` was retracted is among them)."""
        with self.read() as cur:
            rows = cur.all("SELECT actor FROM {p}rl_log WHERE type = 'person-added' ORDER BY seq")
        return list(dict.fromkeys(row["actor"] for row in rows))

    def referral_keys(self) -> list[str]:
        """Every referral's key once, in the order it was first requested (a key requested
        again after its request was retracted is not repeated)."""
        with self.read() as cur:
            # sorted here: the database would sort every row of the log by `seq` first
            rows = cur.all("SELECT seq, referral FROM {p}rl_log WHERE type = 'referral-requested'")
        found = sorted(map(self._values, rows), key=itemgetter(0))
        return list(dict.fromkeys(map(itemgetter(1), found)))

    def referral_counts(self, keys: Sequence[str]) -> dict[str, tuple[int | None, int]]:
        """For each of these referrals that has events: the `seq` of its first
        `referral-requested` (retracted or not; None without one) and how many
        `event-retracted` it holds. One query per 500 keys, through the index on
        (referral, seq): what `list` reads beside the kept summaries."""
        found: dict[str, tuple[int | None, int]] = {}
        for chunk in _in_chunks(keys):
            where, params = self.one_of("referral", chunk)
            with self.read() as cur:
                rows = cur.all(
                    "SELECT referral, "
                    "MIN(CASE WHEN type = 'referral-requested' THEN seq END) AS requested, "
                    "SUM(CASE WHEN type = 'event-retracted' THEN 1 ELSE 0 END) AS retractions "
                    f"FROM {{p}}rl_log WHERE {where} GROUP BY referral",
                    params,
                )
            for row in rows:
                requested = row["requested"]
                found[row["referral"]] = (
                    None if requested is None else int(requested),
                    int(row["retractions"] or 0),
                )
        return found

    def part_rows(self, projection: str, parts: Sequence[str]) -> dict[str, list[bytes]]:
        """The `data` of the stored rows of these parts of a projection, by part: one query
        per 500 parts, through the index on (projection, part)."""
        found: dict[str, list[bytes]] = {}
        for chunk in _in_chunks(parts):
            where, params = self.one_of("part", chunk)
            with self.read() as cur:
                rows = cur.all(
                    f"SELECT part, data FROM {{p}}rl_rows WHERE projection = ? AND {where}",
                    (projection, *params),
                )
            for row in rows:
                found.setdefault(row["part"], []).append(bytes(row["data"]))
        return found

    def every_part_row(self, projection: str) -> dict[str, bytes]:
        """`part_rows` of every part of a projection that keeps one row per part, in one
        query: for a listing of all of them (`list`), which holds them all anyway."""
        with self.read() as cur:
            rows = cur.all("SELECT part, data FROM {p}rl_rows WHERE projection = ?", (projection,))
        return {part: bytes(data) for part, data in map(self._values, rows)}

    def person_handles(self) -> list[str]:
        """Every handle a `person-added` was recorded for, once, sorted (retracted and
        forgotten ones too: for shell completion, where a superset is fine)."""
        with self.read() as cur:
            rows = cur.all(
                "SELECT DISTINCT actor FROM {p}rl_log WHERE type = 'person-added' ORDER BY actor"
            )
        return [row["actor"] for row in rows if row["actor"]]

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

    # -- the Merkle tree over the log (see `tree.py`) --------------------------------------------

    def _catch_up_tree(self) -> None:
        """On a writable open: give the tree the leaves of log rows it lacks (all of them on a
        ledger of 0.1, built once). A read-only ledger, or one busy, is left as it is: `audit`
        then checks the whole chain instead."""
        if self.read_only or not self.provenance:
            return
        try:
            with self.read() as cur:
                if not tree.behind(cur):
                    return
            with self.write() as cur:
                tree.catch_up(cur)
        except LedgerError:
            pass  # busy, or the tree's table could not be written: it waits

    def rebuild_tree(self) -> None:
        """Build the tree again from the log (after `verify` found it differs)."""
        with self.write() as cur:
            tree.rebuild(cur)

    def tree_head(self) -> tuple[int, bytes] | None:
        """(size, root) of the stored tree; None when it is missing or damaged, or this role
        may not read it (a team member granted before the tree)."""
        try:
            with self.read() as cur:
                if not self.backend.list_tables(cur, {"rl_tree"}):
                    return None
                return tree.head(cur)
        except LedgerError:
            return None

    def tree_nodes(self, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored hashes of these complete subtrees, (level, index): those kept."""
        with self.read() as cur:
            return tree.nodes(cur, wanted)

    def tree_rows(self) -> Iterator[Any]:
        """Every stored node (`pos`, `hash`) in position order, for `verify`."""
        return self.stream("SELECT pos, hash FROM {p}rl_tree ORDER BY pos")

    def log_extent(self) -> tuple[Any, int]:
        """(the log's highest seq, its number of rows), for `audit`'s check of gaps."""
        with self.read() as cur:
            row = cur.one("SELECT MAX(seq) AS top, COUNT(*) AS n FROM {p}rl_log")
        return row["top"], int(row["n"])

    def log_leaves(self, seqs: Sequence[int]) -> dict[int, tuple[str, int]]:
        """For each of these seqs in the log: its stored hash and the seq of its referral's
        previous event (0: none), what its leaf in the tree commits to."""
        found: dict[int, tuple[str, int]] = {}
        with self.read() as cur:
            for seq in seqs:
                row = cur.one("SELECT hash, referral FROM {p}rl_log WHERE seq = ?", (seq,))
                if row is None:
                    continue
                previous = 0
                if row["referral"]:
                    before = cur.one(
                        "SELECT MAX(seq) AS seq FROM {p}rl_log WHERE referral = ? AND seq < ?",
                        (row["referral"], seq),
                    )
                    previous = int(before["seq"]) if before and before["seq"] is not None else 0
                found[seq] = (str(row["hash"]), previous)
        return found

    def aggregate_rows(self, origins: Sequence[uuid.UUID]) -> list[Any]:
        """The raw rows (as `raw_rows` gives them) of every event stored in the log under these
        aggregates, by (aggregate, version); with the hash and `recorded_us` of the row before
        each (`prev_hash`, `prev_us`: NULL when there is none)."""
        found: list[Any] = []
        originator = self.backend.originator
        for start in range(0, len(origins), 500):
            where, params = self.one_of(
                "l.originator_id", [originator(o) for o in origins[start : start + 500]]
            )
            with self.read() as cur:
                found += cur.all(
                    "SELECT l.*, s.state, s.topic, b.hash AS prev_hash, "
                    "b.recorded_us AS prev_us FROM {p}rl_log l LEFT JOIN {events} s "
                    "ON s.originator_id = l.originator_id "
                    "AND s.originator_version = l.originator_version "
                    "LEFT JOIN {p}rl_log b ON b.seq = l.seq - 1 "
                    f"WHERE {where} ORDER BY l.originator_id, l.originator_version, l.seq",
                    params,
                )
        return found

    def aggregate_versions(self, origins: Sequence[uuid.UUID]) -> dict[str, int]:
        """How many stored events each of these aggregates has in eventsourcing's table, by
        the originator id as 32 hex digits."""
        found: dict[str, int] = {}
        originator = self.backend.originator
        for chunk in _in_chunks([originator(o) for o in origins]):
            where, params = self.one_of("originator_id", chunk)
            with self.read() as cur:
                rows = cur.all(
                    f"SELECT originator_id, COUNT(*) AS n FROM {{events}} WHERE {where} "
                    "GROUP BY originator_id",
                    params,
                )
            for row in rows:
                value = row["originator_id"]
                key = value.hex if isinstance(value, uuid.UUID) else str(value).replace("-", "")
                found[key.lower()] = int(row["n"])
        return found

    def owner_keys(self, handles: Sequence[str]) -> list[Any]:
        """The rows of rl_keys of these people as stored (`handle`, `secret`: sealed)."""
        found: list[Any] = []
        for chunk in _in_chunks(handles):
            where, params = self.one_of("handle", chunk)
            with self.read() as cur:
                found += cur.all(f"SELECT handle, secret FROM {{p}}rl_keys WHERE {where}", params)
        return found

    # -- what `verify` reads beside the log ----------------------------------------------------

    def key_rows(self) -> list[Any]:
        """Every row of rl_keys as stored (`handle`, `secret`: sealed)."""
        with self.read() as cur:
            return cur.all("SELECT handle, secret FROM {p}rl_keys")

    def private_rows(self, event_ids: Sequence[str]) -> list[Any]:
        """The rows of rl_private of these events as stored (`event_id`, `owner`, `data`)."""
        where, params = self.one_of("event_id", event_ids)
        with self.read() as cur:
            return cur.all(
                f"SELECT event_id, owner, data FROM {{p}}rl_private WHERE {where}", params
            )

    def kept(self) -> Kept:
        """How many rows rl_private has, and the rows of rl_retractions, rl_types, rl_meta."""
        with self.read() as cur:
            private_rows = int(cur.one("SELECT COUNT(*) AS n FROM {p}rl_private")["n"])
            retractions = cur.all("SELECT retracted_id, seq, recorded_us FROM {p}rl_retractions")
            types = cur.all("SELECT type FROM {p}rl_types")
            meta = {r["name"]: r["value"] for r in cur.all("SELECT name, value FROM {p}rl_meta")}
        return Kept(private_rows, retractions, types, meta)

    def mention_rows(self) -> Iterator[Any]:
        """Every row of rl_mentions (`handle`, `referral`), read as they are asked for."""
        return self.stream("SELECT handle, referral FROM {p}rl_mentions")

    # -- appending ----------------------------------------------------------------------------

    def append(self, batch: Sequence[Pending], *, restore: bool = False) -> list[Stored]:
        """Append events in one transaction: seq, recorded_at and hash are assigned here."""
        if not batch:
            return []
        with self.appending() as appender:
            if restore and appender.head != 0:
                raise ConflictError("the ledger is no longer empty; import again")
            appender.restore = restore
            return appender.add(batch, keep=True)

    @contextmanager
    def appending(self) -> Iterator[Appender]:
        """One write transaction that takes events a page at a time (`Appender.add`), for an
        import that streams: all or nothing, as `append`, without holding every event.

        While it is open, this store's reads run in its transaction, so they see the pages
        added so far, and nothing another writer commits (the write lock is held throughout).
        """
        with self.write() as cur:
            appender = Appender(self, cur)
            self._writing = cur
            try:
                yield appender
                appender.finish()
            finally:
                self._writing = None
        if appender.forgets:
            # no copy of what was erased may stay in the database's files
            self.journal_pending = self.backend.after_forget()
        if appender.count >= ANALYZE_AFTER:
            self.analyze(EVENT_TABLES)

    def analyze(self, tables: Sequence[str]) -> None:
        """Refresh the planner's statistics of these tables (`rl_…` names, or "events" for the
        stored events) after a large write has committed: an import, or plugins' rows.

        Where the database keeps statistics (PostgreSQL), a planner that takes the tables for
        empty after a large import plans every read as a scan; SQLite's planner does without,
        and our queries are written for that (see `person_events`)."""
        self.backend.analyze(tables)

    def _insert_rows(self, cur: Cursor, rows: _Rows) -> None:
        self._insert_stored_events(cur, rows.events)
        cur.insert("{p}rl_log", rows.log)
        tree.grow_if_allowed(
            cur, [(row[0], row[10], row[3]) for row in rows.log]
        )  # seq, hash, referral
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

    def _insert_stored_events(self, cur: Cursor, stored_events: list[tuple[Any, ...]]) -> None:
        # Straight into eventsourcing's table (its SQLite recorder executes row by row, its
        # PostgreSQL one needs composite types); the rl_log lock already orders writers. Each
        # row is what eventsourcing's mapper makes of the event (see `Pending.state`).
        cur.insert("{events} (originator_id, originator_version, topic, state)", stored_events)

    # -- how personal data is kept: plaintext or encrypted (see crypto.py) ---------------------

    def _privacy_mode(self, cur: Cursor) -> tuple[str | None, str | None]:
        rows = cur.all("SELECT name, value FROM {p}rl_meta WHERE name IN ('privacy', 'key_check')")
        found = {row["name"]: row["value"] for row in rows}
        return found.get("privacy"), found.get("key_check")

    def _kept_mode(self, cur: Cursor) -> str | None:
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

    def _claim_privacy_mode(self, cur: Cursor, *, empty: bool) -> None:
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

    # -- derived state of plugins --------------------------------------------------------------

    def position(self, projection: str) -> tuple[int, str | None]:
        with self.read() as cur:
            row = cur.one(
                "SELECT seq, version FROM {p}rl_positions WHERE projection = ?", (projection,)
            )
        return (int(row["seq"]), row["version"]) if row else (0, None)

    def positions(self, cur: Cursor) -> dict[str, tuple[int, str]]:
        """Inside a write: every projection's position and version, by name."""
        found = cur.all("SELECT projection, seq, version FROM {p}rl_positions")
        return {r["projection"]: (int(r["seq"]), r["version"]) for r in found}

    def positioned(self) -> list[str]:
        """The names of every projection with stored state (a position), enabled or not."""
        with self.read() as cur:
            found = cur.all("SELECT projection FROM {p}rl_positions")
        return [r["projection"] for r in found]

    def set_position(self, cur: Cursor, projection: str, seq: int, version: str) -> None:
        """Inside a write: how far a projection (of this version) has read."""
        cur.run(
            "INSERT INTO {p}rl_positions VALUES (?,?,?) ON CONFLICT (projection) "
            "DO UPDATE SET seq = excluded.seq, version = excluded.version",
            (projection, seq, version),
        )

    def delete_rows(self, cur: Cursor, projection: str) -> None:
        """Inside a write: every row of a projection."""
        cur.run("DELETE FROM {p}rl_rows WHERE projection = ?", (projection,))

    def replace_rows(
        self, cur: Cursor, projection: str, parts: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Inside a write: delete the rows of these parts of a projection, and insert `rows`."""
        self.backend.replace_rows(cur, projection, parts, rows)

    def rows(
        self,
        category: str,
        as_of: int,
        *,
        person: str | None = None,
        referral: str | None = None,
        involving: str | None = None,
        ended: bool = False,
        people: Sequence[str] | None = None,
        projections: Sequence[str] | None = None,
    ) -> list[Any]:
        """The stored rows of a category active at `as_of` (see `rows.select_rows`), as stored;
        of these `projections` alone, unless None."""
        sql, params = select_rows(
            category,
            as_of,
            person,
            referral,
            involving,
            ended,
            "*",
            people,
            projections=projections,
        )
        with self.read() as cur:
            return cur.all(sql, params)

    def listed_rows(
        self,
        category: str,
        as_of: int,
        *,
        person: str | None = None,
        referral: str | None = None,
        involving: str | None = None,
        page: int = PAGE,
        projections: Sequence[str] | None = None,
    ) -> Iterator[Any]:
        """The rows `rows` gives, in the order the read commands list them (see
        `rows.in_listing_order`), read `page` at a time as they are asked for."""
        sql, params = select_rows(
            category, as_of, person, referral, involving, False, "*", projections=projections
        )
        select = in_listing_order(sql, self.backend.text_order)
        return self.stream(select, params, page=page)

    def count_rows(
        self,
        category: str,
        as_of: int,
        *,
        involving: str | None = None,
        projections: Sequence[str] | None = None,
    ) -> int:
        """How many rows `rows` would return, counted in the database."""
        sql, params = select_rows(
            category, as_of, None, None, involving, False, "1 AS one", projections=projections
        )
        with self.read() as cur:
            found_count = cur.one(f"SELECT COUNT(*) AS n FROM ({sql}) AS found", params)
        return int(found_count["n"])

    def row_people(
        self, category: str, kind: str, as_of: int, *, projections: Sequence[str] | None = None
    ) -> list[str]:
        """The persons with a row of `kind` in `category` started by `as_of` (ended or not); of
        these `projections` alone, unless None."""
        only, names = only_projections(projections)
        with self.read() as cur:
            found = cur.all(
                "SELECT DISTINCT person FROM {p}rl_rows WHERE category = ? AND kind = ? "
                "AND start_us <= ? AND person IS NOT NULL" + only,
                (category, kind, as_of, *names),
            )
        return [row["person"] for row in found]

    def projection_row_count(self, projection: str) -> int:
        with self.read() as cur:
            row = cur.one(
                "SELECT COUNT(*) AS n FROM {p}rl_rows WHERE projection = ?", (projection,)
            )
        return int(row["n"])

    def projection_rows(self, projection: str, page: int = PAGE) -> Iterator[Any]:
        """Every row of a projection (its columns after `projection`), in the order of the
        index on (projection, part): read `page` parts at a time, so that a large projection is
        never held in memory whole."""
        after: str | None = None
        while True:
            with self.read() as cur:
                since = "" if after is None else " AND part > ?"
                parts = cur.all(
                    "SELECT DISTINCT part FROM {p}rl_rows WHERE projection = ?"
                    + since
                    + " ORDER BY part LIMIT ?",
                    (projection, page) if after is None else (projection, after, page),
                )
                if not parts:
                    return
                after = parts[-1]["part"]
                found = cur.all(
                    "SELECT part, category, kind, referral, person, owed_to, start_us, end_us, "
                    "data FROM {p}rl_rows WHERE projection = ? AND part >= ? AND part <= ? "
                    "ORDER BY part",
                    (projection, parts[0]["part"], after),
                )
            yield from found


class Appender:
    """The events of one append transaction (see `Store.appending`): each `add` assigns seq,
    recorded_at and hash to a batch and writes its rows, a page at a time."""

    def __init__(self, store: Store, cur: Cursor):
        self.store = store
        self.cur = cur
        row = cur.one("SELECT seq, hash, recorded_us FROM {p}rl_log ORDER BY seq DESC LIMIT 1")
        self.seq, self.prev, self.last_us = (
            (int(row["seq"]), row["hash"], int(row["recorded_us"])) if row else (0, GENESIS, 0)
        )
        self.head = self.seq  # the last seq stored before this transaction
        self.restore = False  # a restore into an empty ledger keeps each line's recorded_at
        store._claim_privacy_mode(cur, empty=self.seq == 0)
        self.now_us = to_micros(datetime.now(UTC))
        self.identity = store.backend.recorded_by(cur)
        self.forgets: list[str] = []
        self.type_rows: dict[str, tuple[str, str, str | None]] = {}
        self.kept: list[tuple[Pending, Stored]] = []  # what `add(keep=True)` returns
        self.count = 0

    def add(self, batch: Sequence[Pending], *, keep: bool = False) -> list[Stored]:
        """Store these events after those added before; with `keep`, return them as stored."""
        store, cur, restore = self.store, self.cur, self.restore
        seq, prev, last_us = self.seq, self.prev, self.last_us
        now_us, identity, vault = self.now_us, self.identity, store.vault
        originator_of = store.backend.originator
        stored: list[Stored] = []
        rows = _Rows()
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
            # A restored line keeps who stored it, as it keeps when (a 0.1 line: no one).
            by = item.recorded_by if restore and item.recorded_at is not None else identity
            # The record's canonical bytes, made once: the chain covers them, and the stored
            # event's state holds them as they are (see `Pending.state`). A restored line's
            # were made, and hashed, when its own hash was checked.
            record_bytes = item.record_bytes
            if item.checked_link == (prev, seq, recorded_at, by) and item.expect_hash is not None:
                digest = item.expect_hash  # chain_hash of these very inputs: checked equal
            else:
                digest = chain_hash(prev, seq, record["id"], recorded_at, record_bytes, by)
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
            originator = originator_of(item.originator_id)
            rows.events.append(
                (
                    originator,
                    item.originator_version,
                    item.topic,
                    item.state(record_bytes),
                )
            )
            actor, other = log_people(record)
            rows.log.append(
                (
                    seq,
                    record["id"],
                    record["type"],
                    record.get("referral"),
                    actor,
                    other,
                    item.at_us,  # the event's `at`
                    recorded_us,
                    originator,
                    item.originator_version,
                    digest,
                    by,
                )
            )
            if item.private:
                data = vault.seal_data(item.secret, record["id"], dumps(item.private))
                rows.private.append((record["id"], item.owner, data))
            # (`"commitment":` in the bytes can only be a key: a quote in a string is escaped)
            elif b'"commitment":' in record_bytes and (erased := _erased_owner(record)) is not None:
                # Its values came erased ({"forgotten": …}): an empty row says so, so that
                # `verify` can tell them from values deleted behind the ledger's back.
                rows.private.append((record["id"], erased, b""))
            for handle, secret in item.new_keys.items():
                rows.keys.append((handle, vault.seal_secret(handle, secret)))
            if record["type"] == "event-retracted":
                rows.retractions.append((record["retracts"], seq, recorded_us))
            if record.get("referral"):
                for name in MENTIONED:
                    if record.get(name):
                        rows.mentions.append((record[name], record["referral"]))
            if item.forget:
                self.forgets.append(item.forget)
            if item.plugin is not None:
                self.type_rows[record["type"]] = (record["type"], *item.plugin)
            if keep:
                out = Stored(
                    seq,
                    record["id"],
                    recorded_us,
                    digest,
                    record,
                    item.private or None,
                    recorded_by=by,
                )
                stored.append(out)
                self.kept.append((item, out))
            if len(rows.log) == WRITE_PAGE:
                # Rows go in a page at a time, inside the one transaction: a large import
                # need not hold every stored event's bytes until its end.
                store._insert_rows(cur, rows)
                rows = _Rows()
        store._insert_rows(cur, rows)
        self.seq, self.prev, self.last_us = seq, prev, last_us
        self.count += len(batch)
        return stored

    def finish(self) -> None:
        """What is written once, at the end of the transaction: the plugins' types, and the
        erasure of the people forgotten in it."""
        cur = self.cur
        if self.type_rows:
            cur.many(
                "INSERT INTO {p}rl_types VALUES (?,?,?) ON CONFLICT (type) DO NOTHING",
                list(self.type_rows.values()),
            )
        for handle in self.forgets:
            cur.run("DELETE FROM {p}rl_private WHERE owner = ?", (handle,))
            cur.run("DELETE FROM {p}rl_keys WHERE handle = ?", (handle,))
        if self.forgets:
            # A plugin's rows may quote what was just erased (a name in a message, a
            # note cut short): drop them all; the next read re-derives them.
            cur.run("DELETE FROM {p}rl_rows")
            cur.run("DELETE FROM {p}rl_positions")
            for item, out in self.kept:
                if item.owner in self.forgets:
                    out.private = None  # erased in this very batch: hooks never see it


def _gap(kind: str, key: str) -> StoreError:
    """An aggregate whose stored events skip a version: one was deleted behind our back."""
    return StoreError(
        f"the ledger is damaged: a stored event of {kind} {key!r} is missing; run verify"
    )


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

    events: list[tuple[Any, ...]] = field(default_factory=list)  # originator, version, topic, state
    log: list[tuple[Any, ...]] = field(default_factory=list)
    private: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    retractions: list[tuple[Any, ...]] = field(default_factory=list)
    mentions: list[tuple[Any, ...]] = field(default_factory=list)
