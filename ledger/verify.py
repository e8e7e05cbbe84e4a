"""Proof that the stored history is untouched: the whole chain recomputed from stored content.

`Checker` is pure: it is fed the store's raw rows in `seq` order (and the plaintext kept beside
them) and says which rows do not match. `verify_store` reads the rows and feeds it. Every link
is checked against the *stored* hash of the row before it, so one altered row is named alone
instead of breaking every row after it.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from . import merkle
from .aggregates import Person, Referral, person_id, referral_id
from .crypto import ENCRYPTED, data_mode, secret_mode
from .errors import LedgerError
from .events import (
    CORE_TYPES,
    EPOCH,
    format_micros,
    parse_timestamp,
    read_without_plugins,
    to_micros,
)
from .interchange import dumps
from .privacy import commitment, sealed_paths
from .store import GENESIS, MENTIONED, DamagedLedger, chain_hash, log_people, mode_damage

if TYPE_CHECKING:
    from .store import Store

MAX_PROBLEMS = 50
TRUNCATION_WARNING = (
    "without --head or --checkpoint, removal of the newest events cannot be ruled out: "
    "keep the output of `checkpoint` somewhere else and pass it back"
)


@dataclass(frozen=True)
class Problem:
    seq: int | None
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "message": self.message}


@dataclass(frozen=True)
class Checkpoint:
    """A moment someone trusted: the head hash at a `seq`, and (from 0.2 on) the root of the
    Merkle tree of its `tree_size` events (`ledger/merkle.py`)."""

    seq: int
    head: str | None
    tree_size: int | None = None
    tree_root: str | None = None


@dataclass
class Verdict:
    events: int
    head: str | None
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    head_found: bool | None = None  # None: no --head given
    values_checked: bool = True
    checkpoint_ok: bool | None = None  # None: no --checkpoint given
    # The first stored node of the Merkle tree that differs from the one the log gives (None:
    # none does). The tree is derived from the log, so this is no finding against the log: the
    # log's hashes were rewritten after the tree took them, or the tree itself was altered.
    tree_differs: int | None = None
    tree_rebuilt: bool = False
    fast: bool = False  # `verify --fast`: the tree was proved, no event's content read

    @property
    def ok(self) -> bool:
        return (
            not self.problem_count
            and self.head_found is not False
            and (self.checkpoint_ok is not False)
        )

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None

    @property
    def warning(self) -> str | None:
        if self.head_found is None and self.checkpoint_ok is None:
            return TRUNCATION_WARNING
        return None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "first_bad_seq": self.first_bad_seq,
            "problems": [p.as_json() for p in self.problems],
        }
        if self.problem_count > len(self.problems):
            out["more_problems"] = self.problem_count - len(self.problems)
        if self.head_found is not None:
            out["head_found"] = self.head_found
        if self.checkpoint_ok is not None:
            out["checkpoint_ok"] = self.checkpoint_ok
        if self.warning:
            out["warning"] = self.warning
        if not self.values_checked:
            out["values_checked"] = False
        if self.tree_differs is not None:
            out["tree_ok"] = False
        if self.fast:
            out["fast"] = True
        return out

    @property
    def tree_note(self) -> str | None:
        if self.tree_differs is None:
            return None
        return (
            f"the Merkle tree kept beside the log (rl_tree) differs from the log from node "
            f"{self.tree_differs} on: the log's hashes were rewritten after the tree took them, "
            "or the tree was altered; "
            + (
                "it was rebuilt from the log (a checkpoint taken before still catches a rewrite)"
                if self.tree_rebuilt
                else "`audit` checks the whole chain until a writable `verify` rebuilds it"
            )
        )


_KEPT = {ENCRYPTED: "encrypted"}
_FIELDS = frozenset({"timestamp", "record", "originator_topic"})
_INDEX_COLUMNS = ("event_id", "type", "referral", "at_us", "actor", "other")
# The stored topic of each (aggregate, created) pair, spelled once rather than for every row.
_TOPICS: dict[tuple[type, bool], str] = {
    (aggregate, created): f"{aggregate.TOPIC}.{'Created' if created else 'Recorded'}"  # type: ignore[attr-defined]
    for aggregate in (Person, Referral)
    for created in (True, False)
}
# `at` as the ledger writes it (UTC, `Z`, microseconds only when there are any): for such
# text `fromisoformat` and the 1970 bound are all of `parse_timestamp` that can apply.
_WRITTEN_AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?Z")


def _at_micros(value: Any) -> int:
    """`to_micros(parse_timestamp(value, future_ok=True))`, raising as it does.

    Most `at` values are written as the ledger writes them and are read here directly; any
    other text takes `parse_timestamp`, whose cache cannot help a ledger of distinct times.
    """
    if type(value) is str and _WRITTEN_AT.fullmatch(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass  # February 30th and the like: parse_timestamp says why
        else:
            if moment >= EPOCH:
                return to_micros(moment)
    return to_micros(parse_timestamp(value, future_ok=True))


def _hex(value: Any) -> str:
    """An originator id as 32 hex digits: SQLite stores it so, PostgreSQL gives a UUID."""
    return value.hex if isinstance(value, uuid.UUID) else str(value).replace("-", "").lower()


@functools.lru_cache(maxsize=4096)
def _origin(kind: str, key: str) -> str:
    return (person_id if kind == "person" else referral_id)(key).hex


class Checker:
    """Feed it every raw row in `seq` order, then `finish()`."""

    def __init__(
        self,
        transcoder: Any,
        secrets: Mapping[str, bytes | None],
        *,
        head: str | None = None,
        checkpoint: Checkpoint | None = None,
        check_values: bool = True,
    ):
        self.transcoder = transcoder
        self.secrets = secrets
        self.check_values = check_values
        self.want_head = head
        self.checkpoint = checkpoint
        self.verdict = Verdict(events=0, head=None)
        self.seq = 0
        self.prev = GENESIS
        self.last_recorded = 0
        self.versions: dict[str, int] = {}
        # event id -> its aggregate, as `Event.aggregate` gives it: for retractions
        self.origin_of: dict[str, tuple[str, str]] = {}
        self.retractions: dict[str, tuple[int, int]] = {}  # retracted id -> (seq, recorded_us)
        self.private_seen = 0
        self.head_found = False
        self.checkpoint_hash: str | None = None
        # What the log says the other tables must hold, checked in `finish`.
        self.kept_keys: set[str] = set(secrets)
        self.forgotten: set[str] = set()
        self.values_missing: dict[str, list[int]] = {}  # owner -> [first seq, events]
        self.keys_missing: dict[str, list[int]] = {}
        self.values_kept: dict[str, int] = {}  # owner -> first seq with values kept
        self.mentions: set[int] = set()  # hash((handle, referral)): small, and one process
        self.plugin_types: set[str] = set()

    def problem(self, seq: int | None, message: str) -> None:
        self.verdict.problem_count += 1
        if len(self.verdict.problems) < MAX_PROBLEMS:
            self.verdict.problems.append(Problem(seq, message))

    def feed(self, row: Mapping[str, Any], private: tuple[str, bytes | None] | None = None) -> None:
        try:
            seq = int(row["seq"])
        except (TypeError, ValueError):
            self.problem(self.seq + 1, f"seq {row['seq']!r} is not a number")
            seq = self.seq + 1
        if seq != self.seq + 1:
            if seq <= self.seq:
                self.problem(seq, f"seq {seq} comes after seq {self.seq}")
            else:
                missing = f"{self.seq + 1}" if seq == self.seq + 2 else f"{self.seq + 1}-{seq - 1}"
                self.problem(self.seq + 1, f"seq {missing} missing from the log")
        self.seq = max(seq, self.seq)
        self.verdict.events += 1
        stored_hash = str(row["hash"])
        try:
            computed = self._check_row(seq, row, stored_hash, private)
        except Exception as exc:  # noqa: BLE001 - content shaped like nothing the ledger writes
            self.problem(seq, f"stored event cannot be checked: {type(exc).__name__}: {exc}")
            computed = None
        self.prev = stored_hash
        self.verdict.head = stored_hash
        if computed == stored_hash and self.want_head is not None and computed == self.want_head:
            self.head_found = True
        if self.checkpoint is not None and seq == self.checkpoint.seq:
            self.checkpoint_hash = computed

    def _check_row(
        self,
        seq: int,
        row: Mapping[str, Any],
        stored_hash: str,
        private: tuple[str, bytes | None] | None,
    ) -> str | None:
        """Every check of one row; returns the recomputed hash when the content could be read."""
        event_id = str(row["event_id"])
        recorded_us = int(row["recorded_us"])
        if recorded_us < self.last_recorded:
            self.problem(seq, "recorded_at is earlier than the event before it")
        self.last_recorded = recorded_us
        raw_state = row["state"]
        if raw_state is None:
            self.problem(seq, f"event {event_id!r} is in the log but its stored event is missing")
            return None
        state = bytes(raw_state)
        try:
            decoded = self.transcoder.decode(state)
            record = decoded["record"]
            if not isinstance(record, dict):
                raise TypeError("record is not an object")
            canonical = self.transcoder.encode(decoded)
        except Exception as exc:  # noqa: BLE001 - any garbage in the bytes is a finding
            self.problem(seq, f"stored event cannot be read: {type(exc).__name__}: {exc}")
            return None
        if canonical != state:
            self.problem(seq, "stored bytes are not in canonical form (altered formatting)")
        if not decoded.keys() <= _FIELDS:
            extra = set(decoded) - _FIELDS
            self.problem(seq, f"stored event has unexpected fields: {', '.join(sorted(extra))}")
        # format_micros is format_timestamp(from_micros(...)) without the time zone round trip
        recorded_at = format_micros(recorded_us)
        computed = chain_hash(
            self.prev, seq, event_id, recorded_at, dumps(record), _recorded_by(row)
        )
        if computed != stored_hash:
            self.problem(seq, "hash does not match the event's content and position")
        self._check_index(seq, row, record, decoded.get("timestamp"))
        self._note_indexed(record)
        self._check_aggregate(seq, row, record, decoded, recorded_us)
        if private is not None:
            self.private_seen += 1
        self._check_private(seq, record, private)
        return computed

    def _note_indexed(self, record: dict[str, Any]) -> None:
        """What the event puts in the indexes beside the log (as `Store.append` does)."""
        kind = record.get("type")
        if kind == "person-forgotten" and isinstance(record.get("handle"), str):
            self.forgotten.add(record["handle"])
        elif kind not in CORE_TYPES and isinstance(kind, str):
            self.plugin_types.add(kind)
        referral = record.get("referral")
        if referral:
            for name in MENTIONED:
                handle = record.get(name)
                if handle and isinstance(handle, str):
                    self.mentions.add(hash((handle, referral)))

    def _check_index(
        self, seq: int, row: Mapping[str, Any], record: dict[str, Any], timestamp: Any
    ) -> None:
        get = record.get
        kind = get("type")
        try:
            at_us = _at_micros(get("at"))
        except (ValueError, TypeError):
            self.problem(seq, "the event's `at` is not a timestamp")
            return
        if (
            not isinstance(timestamp, datetime)
            or timestamp.utcoffset() is None
            or (to_micros(timestamp) != at_us)
        ):
            self.problem(seq, "stored timestamp differs from the event's `at`")
        actor, other = log_people(record)
        expected = (get("id"), kind, get("referral"), at_us, actor, other)
        # One comparison of the row as stored: a stored at_us equal to the int here is one
        # that int() reads as that int too. Only a mismatch needs the column by column look.
        stored_columns = (
            row["event_id"],
            row["type"],
            row["referral"],
            row["at_us"],
            row["actor"],
            row["other"],
        )
        if stored_columns == expected:
            return
        for column, value in zip(_INDEX_COLUMNS, expected, strict=True):
            stored = row[column]
            if column == "at_us":
                stored = int(stored)
            if stored != value:
                self.problem(seq, f"log column {column} differs from the stored event")

    def _check_aggregate(
        self,
        seq: int,
        row: Mapping[str, Any],
        record: dict[str, Any],
        decoded: dict[str, Any],
        recorded_us: int,
    ) -> None:
        kind = record.get("type")
        event_id = str(record.get("id"))
        model = read_without_plugins(kind)
        owner = model.aggregate(record, lambda retracted: self.origin_of.get(str(retracted)))
        if owner is None:
            if kind == "event-retracted":
                self.problem(seq, "retracts an event that is not earlier in the ledger")
            else:
                self.problem(seq, "stored under another referral or person than its content names")
            return
        self.origin_of[event_id] = owner
        origin = _origin(owner[0], str(owner[1]))
        aggregate: type = Referral if owner[0] == "referral" else Person
        stored_origin = _hex(row["originator_id"])
        version = int(row["originator_version"])
        if stored_origin != origin:
            self.problem(seq, "stored under another referral or person than its content names")
            return
        known = self.versions.get(origin, 0)
        # A request (person-added) starts its aggregate, unless it asks again for a key
        # (adds a handle again) after the first was retracted: then it is recorded on it.
        created = model.creates is not None and known == 0
        if version != known + 1:
            self.problem(seq, f"version {version} of its referral or person, expected {known + 1}")
        self.versions[origin] = max(version, known)
        topic = _TOPICS[aggregate, created]
        if row["topic"] != topic:
            self.problem(seq, f"stored topic {row['topic']!r}, expected {topic!r}")
        if created != ("originator_topic" in decoded) or (
            created and decoded["originator_topic"] != aggregate.TOPIC  # type: ignore[attr-defined]
        ):
            self.problem(seq, "stored originator topic does not fit the event")
        if kind == "event-retracted":
            self.retractions[str(record.get("retracts"))] = (seq, recorded_us)

    def _check_private(
        self, seq: int, record: dict[str, Any], private: tuple[str, bytes | None] | None
    ) -> None:
        if private is None:
            for _path, seal in sealed_paths(record):
                owner = seal.get("owner")
                if isinstance(owner, str):
                    _tally(self.values_missing, owner, seq)
                    break  # one owner to a record
            return
        owner, data = private
        if data == b"":
            return  # its values came erased: nothing kept, no key needed
        self.values_kept.setdefault(owner, seq)
        if owner not in self.kept_keys:
            _tally(self.keys_missing, owner, seq)
            return
        if not self.check_values:
            return
        if owner in self.secrets and self.secrets[owner] is None:
            self.problem(seq, f"the key of {owner!r} is altered: it does not decrypt")
            return
        try:
            if data is None:
                raise ValueError("does not decrypt")
            values = orjson.loads(data)
        except (orjson.JSONDecodeError, ValueError):
            self.problem(seq, "kept personal values cannot be read")
            return
        if not isinstance(values, dict):
            self.problem(seq, "kept personal values cannot be read")
            return
        if not values:
            return  # nothing kept to match against a commitment
        sealed = dict(sealed_paths(record))
        secret = self.secrets.get(owner)
        for path, value in values.items():
            seal = sealed.get(path)
            if seal is None:
                self.problem(seq, f"a personal value is kept for {path!r}, which holds none")
                continue
            if seal.get("owner") != owner:
                self.problem(seq, f"the personal value of {path!r} is kept under another owner")
                continue
            if secret is None:
                self.problem(seq, f"the personal value of {path!r} outlived its owner's key")
                continue
            if commitment(secret, str(record.get("id")), path, value) != seal.get("commitment"):
                self.problem(seq, f"the personal value of {path!r} does not match its commitment")

    def finish(
        self,
        *,
        stored_events: int,
        private_rows: int,
        retraction_rows: Iterable[Mapping[str, Any]] = (),
        mention_rows: Iterable[Mapping[str, Any]] | None = None,
        type_rows: Iterable[Mapping[str, Any]] | None = None,
    ) -> Verdict:
        verdict = self.verdict
        if mention_rows is not None:
            self._check_mentions(mention_rows)
        if type_rows is not None:
            stored_types = {str(r["type"]) for r in type_rows}
            for kind in sorted(self.plugin_types - stored_types):
                self.problem(None, f"the index of plugins' event types (rl_types) misses {kind!r}")
            for kind in sorted(stored_types - self.plugin_types):
                self.problem(
                    None,
                    f"the index of plugins' event types (rl_types) names {kind!r} without cause",
                )
        if stored_events != verdict.events:
            self.problem(
                self.seq + 1 if stored_events > verdict.events else None,
                f"{stored_events} stored events but {verdict.events} in the log: "
                "an event was removed from the log or added beside it",
            )
        if private_rows != self.private_seen:
            self.problem(None, "personal values are kept for events that are not in the log")
        indexed = {
            str(r["retracted_id"]): (int(r["seq"]), int(r["recorded_us"])) for r in retraction_rows
        }
        for retracted, place in self.retractions.items():
            if indexed.pop(retracted, None) != place:
                self.problem(place[0], "the index of retractions misses this retraction")
        for retracted, place in indexed.items():
            self.problem(place[0], f"the index of retractions names {retracted!r} without cause")
        self._check_personal()
        verdict.values_checked = self.check_values
        if self.want_head is not None:
            verdict.head_found = self.head_found
        if self.checkpoint is not None:
            cp = self.checkpoint
            verdict.checkpoint_ok = verdict.events >= cp.seq and (
                cp.seq == 0
                or (self.checkpoint_hash is not None and self.checkpoint_hash == cp.head)
            )
        return verdict

    def _check_personal(self) -> None:
        """Personal values and keys the log says must be kept, and those it says must not.

        Who was forgotten is read from the events: when one of them is altered, what follows
        from it is reported without a seq, so that the first bad seq stays the altered one.
        """
        sound = self.verdict.problem_count == 0
        for owner, (first, count) in sorted(self.values_missing.items()):
            if owner not in self.forgotten:
                self.problem(
                    first if sound else None,
                    f"the personal values of {owner!r} are missing from {count} event(s), "
                    f"with no person-forgotten for {owner!r}",
                )
        for owner, (first, count) in sorted(self.keys_missing.items()):
            if owner not in self.forgotten:
                self.problem(
                    first if sound else None,
                    f"the key of {owner!r} is missing, with no person-forgotten for {owner!r} "
                    f"({count} event(s) keep personal values it commits to)",
                )
        for owner, first in sorted(self.values_kept.items()):
            if owner in self.forgotten:
                self.problem(
                    first if sound else None,
                    f"personal values of {owner!r} outlived their person-forgotten",
                )
        for owner in sorted(self.kept_keys & self.forgotten):
            self.problem(None, f"the key of {owner!r} outlived their person-forgotten")

    def _check_mentions(self, rows: Iterable[Mapping[str, Any]]) -> None:
        stored = {hash((r["handle"], r["referral"])) for r in rows}
        missing = len(self.mentions - stored)
        extra = len(stored - self.mentions)
        if missing:
            self.problem(
                None,
                f"the index of the people in each referral (rl_mentions) misses {missing} "
                "of the log's (person, referral) pairs",
            )
        if extra:
            self.problem(
                None,
                f"the index of the people in each referral (rl_mentions) holds {extra} "
                "(person, referral) pair(s) that no event names",
            )

    def check_privacy_mode(
        self,
        meta: Mapping[str, str],
        mode: str,
        key_rows: Iterable[Mapping[str, Any]],
    ) -> None:
        """The ledger's privacy mode: its meta rows, and the bytes of every stored secret."""
        if self.verdict.events:
            damage = mode_damage(meta.get("privacy"), meta.get("key_check"), mode)
            if damage is not None:
                self.problem(None, damage.replace("its ", "the ledger's ", 1))
        for row in key_rows:
            kept = secret_mode(bytes(row["secret"]))
            if kept != mode:
                self.problem(
                    None,
                    f"the key of {row['handle']!r} is stored {_kept_words(kept)}, "
                    f"but the ledger keeps personal data {_kept_words(mode)}",
                )

    def check_stored_values(self, seq: int | None, event_id: str, data: bytes, mode: str) -> None:
        if data == b"":
            return
        kept = data_mode(data)
        if kept != mode:
            self.problem(
                seq,
                f"the personal values of event {event_id!r} are stored {_kept_words(kept)}, "
                f"but the ledger keeps personal data {_kept_words(mode)}",
            )


def _kept_words(mode: str | None) -> str:
    if mode is None:
        return "in no form this version writes"
    return _KEPT.get(mode, "unencrypted")


def _tally(found: dict[str, list[int]], owner: str, seq: int) -> None:
    if owner in found:
        found[owner][1] += 1
    else:
        found[owner] = [seq, 1]


def damaged_verdict(error: DamagedLedger) -> Verdict:
    """The verdict on a ledger that lost tables of its history: nothing more can be checked."""
    verdict = Verdict(events=0, head=None)
    for name in error.missing:
        verdict.problems.append(Problem(None, f"table {name} is missing from the database"))
    verdict.problem_count = len(verdict.problems)
    return verdict


def verify_store(
    store: Store,
    *,
    head: str | None = None,
    checkpoint: Checkpoint | None = None,
    progress: Callable[[int], None] | None = None,
    rebuild: bool = False,
) -> Verdict:
    """Recompute the whole chain of the ledger in `store`. With `rebuild`, a Merkle tree that
    differs from a sound log is built again from it."""
    vault = store.vault
    kept = store.key_rows()
    # Encrypted personal data can be checked only with the master key; the chain always can.
    values_checked = not vault.encrypted or vault.master_key is not None
    secrets: dict[str, bytes | None] = {}
    for row in kept if values_checked else ():
        try:
            secrets[row["handle"]] = vault.open_secret(row["handle"], bytes(row["secret"]))
        except LedgerError:
            secrets[row["handle"]] = None  # altered: every value it guards is reported
    checker = Checker(
        store.app.mapper.transcoder,
        secrets,
        head=head,
        checkpoint=checkpoint,
        check_values=values_checked,
    )
    checker.kept_keys = {str(row["handle"]) for row in kept}
    trees = TreeCheck(store.tree_rows() if store.tree_head() is not None else iter(()))
    page: list[Any] = []
    for row in store.raw_rows():
        page.append(row)
        if len(page) >= 1000:
            _feed_page(store, checker, page, progress)
            trees.feed(page)
            page = []
    _feed_page(store, checker, page, progress)
    trees.feed(page)
    tables = store.kept()
    checker.check_privacy_mode(tables.meta, vault.mode, kept)
    verdict = checker.finish(
        stored_events=store.stored_event_count(),
        private_rows=tables.private_rows,
        retraction_rows=tables.retractions,
        mention_rows=store.mention_rows(),
        type_rows=tables.types,
    )
    if checkpoint is not None and tree_consistent(store, checkpoint) is False:
        verdict.checkpoint_ok = False  # the tree does not extend the checkpoint's
    verdict.tree_differs = trees.bad
    if trees.bad is not None and rebuild and verdict.ok and not store.read_only:
        store.rebuild_tree()
        verdict.tree_rebuilt = True
    return verdict


class TreeCheck:
    """The Merkle tree kept beside the log, recomputed from the log's rows as `verify` reads
    them and compared with the stored nodes, in position order.

    The tree is derived from the log: nodes the ledger has not stored yet (a read-only ledger
    written by 0.1) are no finding, nor are nodes beyond the log's end (the log's newest rows
    removed: the chain cannot tell either, without a head). A stored node that differs from
    the one the log gives is reported, with what to make of it."""

    def __init__(self, stored: Iterator[Any]):
        self.stored = stored
        self.leaves = 0
        self.edge: list[bytes] = []
        self.last: dict[str, int] = {}
        self.usable = True  # False from a row the tree cannot take (a gap, a hash of no hex)
        self.bad: int | None = None  # the first stored node that differs
        self.compared = True  # False once the stored nodes ran out

    def feed(self, rows: Sequence[Any]) -> None:
        if not self.usable or self.bad is not None or not rows:
            return
        leaves = []
        for row in rows:
            seq, digest, referral = row["seq"], row["hash"], row["referral"]
            if type(seq) is not int or seq != self.leaves + len(leaves) + 1:
                self.usable = False
                break
            try:
                data = bytes.fromhex(digest) if len(digest) == 64 else b""
            except (TypeError, ValueError):
                data = b""
            if not data:
                self.usable = False
                break
            link = self.last.get(referral, 0) if referral else 0
            if referral:
                self.last[referral] = seq
            leaves.append(merkle.leaf_hash(data + link.to_bytes(8, "big")))
        made, self.edge = merkle.grow(self.leaves, self.edge, leaves)
        self.leaves += len(leaves)
        for pos, digest in made:
            if not self.compared:
                return
            kept = next(self.stored, None)
            if kept is None:
                self.compared = False
                return
            if int(kept["pos"]) != pos or bytes(kept["hash"]) != digest:
                self.bad = pos
                return


def tree_consistent(store: Store, checkpoint: Checkpoint) -> bool | None:
    """Whether the stored tree extends the checkpoint's (RFC 9162 consistency proof, O(log n)
    nodes); None when the checkpoint has no tree or the ledger keeps none."""
    if checkpoint.tree_size is None or checkpoint.tree_root is None:
        return None
    head = store.tree_head()
    if head is None:
        return None
    size, root = head
    first, old = checkpoint.tree_size, bytes.fromhex(checkpoint.tree_root)
    if first > size:
        return False
    if first == 0:
        return old == merkle.EMPTY_ROOT
    if first == size:
        return old == root
    ranges = merkle.consistency_ranges(first, size)
    nodes = store.tree_nodes(sorted(merkle.needed(ranges)))
    try:
        proof = [merkle.range_hash(a, b, nodes) for a, b in ranges]
    except KeyError:
        return False
    return merkle.verify_consistency(first, size, old, root, proof)


def _feed_page(
    store: Store, checker: Checker, page: Sequence[Any], progress: Callable[[int], None] | None
) -> None:
    if not page:
        return
    found = store.private_rows([str(r["event_id"]) for r in page])
    private: dict[str, tuple[str, bytes | None]] = {}
    seqs = {str(r["event_id"]): r["seq"] if type(r["seq"]) is int else None for r in page}
    for r in found:
        kept = bytes(r["data"])
        checker.check_stored_values(seqs.get(r["event_id"]), r["event_id"], kept, store.vault.mode)
        data: bytes | None = kept
        if kept and checker.check_values and store.vault.encrypted:  # b"": nothing to open
            try:
                data = store.vault.open_data(
                    checker.secrets.get(r["owner"]), r["event_id"], bytes(r["data"])
                )
            except LedgerError:
                data = None
        private[r["event_id"]] = (r["owner"], data)
    for row in page:
        checker.feed(row, private.get(str(row["event_id"])))
    if progress is not None:
        progress(len(page))


def parse_checkpoint(data: bytes) -> Checkpoint:
    """A checkpoint record as `checkpoint` prints it. Raises ValueError when it is not one."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("not a checkpoint record (expected a JSON object)")  # noqa: TRY004
    seq, head = value.get("seq"), value.get("head")
    if type(seq) is not int or seq < 0:
        raise ValueError("seq: must be a non-negative integer")
    if seq == 0 and head is not None:
        raise ValueError("head: must be null at seq 0")
    if seq > 0 and not (isinstance(head, str) and len(head) == 64):
        raise ValueError("head: must be 64 hex digits")
    if "tree_size" not in value and "tree_root" not in value:
        return Checkpoint(seq, head)  # written before the tree: the head alone
    size, root = value.get("tree_size"), value.get("tree_root")
    if size != seq:
        raise ValueError("tree_size: must be the checkpoint's seq")
    if not (isinstance(root, str) and len(root) == 64 and _is_hex(root)):
        raise ValueError("tree_root: must be 64 hex digits")
    return Checkpoint(seq, head, size, root)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _recorded_by(row: Mapping[str, Any]) -> str | None:
    """Who stored the event (a log of 0.1 has no such column; its events, no one)."""
    try:
        found = row["recorded_by"]
    except (KeyError, IndexError):
        return None
    return None if found is None else str(found)


def fast_verify(store: Store, checkpoint: Checkpoint) -> Verdict:
    """`verify --fast --checkpoint`: that the ledger's Merkle tree extends the checkpoint's
    (RFC 9162 consistency proof), that the log holds as many rows as the tree has leaves, with
    no gap, and that the stored hashes of the checkpoint's event and of the newest event are
    the tree's leaves at their seqs (inclusion proofs), each with the hash the checkpoint
    names for its own: O(log n) nodes and a few rows. Not the events' content: that is the
    whole `verify`'s (or, for one referral, `audit`'s)."""
    verdict = Verdict(events=0, head=None, fast=True)
    found = store.tree_head()
    top, rows = store.log_extent()
    if found is None:
        verdict.problems.append(Problem(None, "the ledger keeps no Merkle tree yet: run verify"))
        verdict.problem_count = 1
        return verdict
    size, root = found
    verdict.events = size
    if top != size or rows != size:
        verdict.problems.append(
            Problem(
                None,
                f"the log has {rows} rows up to seq {top}, the Merkle tree {size} leaves: "
                "run verify without --fast to see which",
            )
        )
        verdict.problem_count = 1
    consistent = tree_consistent(store, checkpoint)
    verdict.checkpoint_ok = bool(consistent)
    wanted = sorted({s for s in (checkpoint.seq, size) if s > 0 and s <= size})
    leaves = store.log_leaves(wanted)
    if size:
        verdict.head = leaves.get(size, (None, None))[0]
    paths = {seq: merkle.inclusion_ranges(seq - 1, size) for seq in wanted}
    nodes = store.tree_nodes(sorted(merkle.needed(r for p in paths.values() for r in p)))
    for seq in wanted:
        digest, previous = leaves.get(seq, (None, 0))
        try:
            proof = [merkle.range_hash(a, b, nodes) for a, b in paths[seq]]
            leaf = merkle.leaf_hash(merkle.leaf_input(str(digest), previous))
        except (KeyError, ValueError):
            proof, leaf = [], b""
        if digest is None or not merkle.verify_inclusion(seq - 1, size, leaf, proof, root):
            verdict.problems.append(
                Problem(seq, "the log's hash at this seq is not the Merkle tree's leaf")
            )
            verdict.problem_count += 1
        if seq == checkpoint.seq and digest != checkpoint.head:
            verdict.checkpoint_ok = False
    return verdict


def audit_chain(
    store: Store,
    key: str,
    *,
    types: Mapping[str, Any] | None = None,
    checkpoint: Checkpoint | None = None,
) -> bool | None:
    """The chain of one referral, checked in time that grows with the referral and with the
    log of the ledger's size; None when this cannot decide (no tree, a tree behind or ahead of
    the log, a proof that fails): the caller then runs `verify_store`, which can.

    True means: every event of the referral and every event of each person its events name
    (the parties and whoever acted) passes the checks `verify` makes of a row (content,
    canonical bytes, position, log columns, aggregate and version, personal values and their
    commitments), each links to the stored hash of the row before it, each stored hash is a
    leaf of the Merkle tree at its seq (RFC 9162 inclusion proof) with the referral's link,
    the log has no gap (its row count and highest seq are the tree's size), each of these
    aggregates has as many stored events as log rows, and, with a checkpoint that has a tree,
    the tree extends the checkpoint's (consistency proof). False: one of the rows fails a
    check `verify` would fail it on too."""
    found = store.tree_head()
    if found is None:
        return None
    size, root = found
    top, rows = store.log_extent()
    if top != size or rows != size:
        return None  # a gap, or a tree behind or ahead of the log: verify says which
    if checkpoint is not None and (
        checkpoint.tree_size is None or tree_consistent(store, checkpoint) is not True
    ):
        return None
    kinds = types if types is not None else CORE_TYPES
    checker = Checker(store.app.mapper.transcoder, {})
    referral = store.aggregate_rows([referral_id(key)])
    if not referral:
        return None
    people: dict[str, None] = {}
    for row in referral:
        try:
            record = orjson.loads(bytes(row["state"]))["record"]
            kind = record.get("type")
            for name in (kinds.get(kind) or read_without_plugins(kind)).people():
                if isinstance(record.get(name), str):
                    people[record[name]] = None
        except Exception:  # noqa: BLE001, S112 - an unreadable row: the checks below report it
            continue
    persons = store.aggregate_rows([person_id(h) for h in people]) if people else []
    every = [*referral, *persons]
    ids = [str(r["event_id"]) for r in every]
    private = _audit_private(store, checker, every, people)
    link = 0
    leaves: list[tuple[int, bytes]] = []
    for row in every:
        seq = row["seq"]
        if type(seq) is not int or (seq > 1 and row["prev_hash"] is None):
            return None
        checker.seq = seq - 1
        checker.prev = str(row["prev_hash"]) if seq > 1 else GENESIS
        checker.last_recorded = int(row["prev_us"]) if seq > 1 else 0
        checker.feed(row, private.get(str(row["event_id"])))
        if checker.verdict.problem_count:
            return False
        if row["referral"] == key:
            previous, link = link, seq
        else:
            previous = 0
        leaves.append((seq, merkle.leaf_hash(merkle.leaf_input(str(row["hash"]), previous))))
    checker._check_personal()
    if checker.verdict.problem_count:
        return False
    counts = store.aggregate_versions([referral_id(key), *(person_id(h) for h in people)])
    logged: dict[str, int] = {}
    for row in every:
        origin = _hex(row["originator_id"])
        logged[origin] = logged.get(origin, 0) + 1
    if any(counts.get(origin, 0) != n for origin, n in logged.items()):
        return False  # a stored event with no row in the log (verify: "stored events")
    if len(set(ids)) != len(ids):
        return None
    paths = {seq: merkle.inclusion_ranges(seq - 1, size) for seq, _ in leaves}
    nodes = store.tree_nodes(sorted(merkle.needed(r for p in paths.values() for r in p)))
    for seq, leaf in leaves:
        try:
            proof = [merkle.range_hash(a, b, nodes) for a, b in paths[seq]]
        except KeyError:
            return None
        if not merkle.verify_inclusion(seq - 1, size, leaf, proof, root):
            return None
    return True


def _audit_private(
    store: Store, checker: Checker, rows: Sequence[Any], people: Mapping[str, None]
) -> dict[str, tuple[str, bytes | None]]:
    """The personal values of these rows, as `_feed_page` gives them to the checker, with the
    secrets of their owners."""
    vault = store.vault
    checker.check_values = not vault.encrypted or vault.master_key is not None
    found = store.private_rows([str(r["event_id"]) for r in rows]) if rows else []
    owners = sorted({str(r["owner"]) for r in found} | set(people))
    keys = store.owner_keys(owners) if owners else []
    checker.kept_keys = {str(r["handle"]) for r in keys}
    secrets: dict[str, bytes | None] = {}
    for row in keys if checker.check_values else ():
        try:
            secrets[row["handle"]] = vault.open_secret(row["handle"], bytes(row["secret"]))
        except LedgerError:
            secrets[row["handle"]] = None
    checker.secrets = secrets
    seqs = {str(r["event_id"]): r["seq"] if type(r["seq"]) is int else None for r in rows}
    private: dict[str, tuple[str, bytes | None]] = {}
    for r in found:
        kept = bytes(r["data"])
        checker.check_stored_values(seqs.get(r["event_id"]), r["event_id"], kept, vault.mode)
        data: bytes | None = kept
        if kept and checker.check_values and vault.encrypted:
            try:
                data = vault.open_data(secrets.get(r["owner"]), r["event_id"], kept)
            except LedgerError:
                data = None
        private[r["event_id"]] = (r["owner"], data)
    return private
