"""Forgetting a person: their personal data is gone from every view, every export and the
database bytes, while every event, the chain, alerts and flags stay. And, with a master key,
a stolen database file holds no personal data at all."""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from ledger import hookimpl
from ledger.app import Ledger
from ledger.crypto import ENCRYPTED, MASTER_KEY_ENV, Vault
from ledger.errors import LedgerError
from ledger.events import ReferralRequested, format_timestamp, from_micros
from ledger.interchange import dumps
from ledger.plugins import Plugins
from ledger.privacy import commitment, seal, sealed_paths, take_forgotten
from ledger.projections import Projection, catch_up, stored_rows
from ledger.store import GENESIS, chain_hash
from ledger.views import View

# Ana's personal data: what `forget ana` must erase. Each is unique in the ledger.
ANA_NAME = "Anastasia Quillfeather"
ANA_EMAIL = "ana.quillfeather@example.org"
ANA_TITLE = "Principal Zymurgist"
ANA_TEXTS = [
    "we climbed Kilimanjaro in 2019",
    "Staff Brewmaster",
    "to brew at Acme one day",
    "what does a brewer's week look like",
    "ask every Thursday",
    "twelve years of fermentation",
    "following up on my lagering question",
    "interview went okay, nervous about the hops",
]
ANA_DATA = [ANA_NAME, ANA_EMAIL, ANA_TITLE, *ANA_TEXTS]
# Other people's data: must survive untouched.
CAROL_NAME = "Carolina Brightwater"
CAROL_NOTE = "solid person, ambitious about yeast"
BOB_NOTE = "strong candidate, weak on lagers"

AS_OF = "2026-11-25T00:00:00Z"


def story() -> list[dict[str, Any]]:
    """Ana asks Carol for an introduction to Bob at Acme; it goes half well."""
    day = "2026-11-0{}T{}:00:00Z".format
    return [
        {
            "type": "person-added",
            "id": "p-ana",
            "handle": "ana",
            "name": ANA_NAME,
            "email": ANA_EMAIL,
            "title": ANA_TITLE,
            "at": day(1, "08"),
        },
        {
            "type": "person-added",
            "id": "p-carol",
            "handle": "carol",
            "name": CAROL_NAME,
            "company": "Acme",
            "at": day(1, "08"),
        },
        {
            "type": "person-added",
            "id": "p-bob",
            "handle": "bob",
            "name": "Bob Hopwood",
            "company": "Acme",
            "email": "bob@acme.example",
            "at": day(1, "08"),
        },
        {
            "type": "connection-declared",
            "id": "c-ana",
            "by": "ana",
            "with": "carol",
            "kind": "met-once",
            "note": ANA_TEXTS[0],
            "at": day(1, "09"),
        },
        {
            "type": "referral-requested",
            "id": "r-1",
            "referral": "ana-acme",
            "by": "ana",
            "referrer": "carol",
            "company": "Acme",
            "role": ANA_TEXTS[1],
            "goal": ANA_TEXTS[2],
            "preparation": {
                "researched_company": True,
                "questions": [ANA_TEXTS[3]],
                "follow_up_plan": ANA_TEXTS[4],
                "qualifications": ANA_TEXTS[5],
            },
            "at": day(2, "09"),
        },
        {
            "type": "request-vetted",
            "id": "v-1",
            "referral": "ana-acme",
            "by": "carol",
            "decision": "accept",
            "knows_work": False,
            "relationship": "acquaintance",
            "note": CAROL_NOTE,
            "at": day(2, "10"),
        },
        {
            "type": "introduction-made",
            "id": "i-1",
            "referral": "ana-acme",
            "by": "carol",
            "to": "bob",
            "at": day(3, "10"),
        },
        {
            "type": "follow-up-sent",
            "id": "f-1",
            "referral": "ana-acme",
            "by": "ana",
            "to": "bob",
            "note": ANA_TEXTS[6],
            "at": day(4, "10"),
        },
        {
            "type": "interview-held",
            "id": "ih-1",
            "referral": "ana-acme",
            "note": ANA_TEXTS[7],
            "at": day(6, "10"),
        },
        {
            "type": "feedback-given",
            "id": "fb-1",
            "referral": "ana-acme",
            "by": "bob",
            "to": "carol",
            "match": 3,
            "note": BOB_NOTE,
            "at": day(7, "10"),
        },
    ]


def record_story(cli: Any) -> None:
    for event in story():
        cli.record(event)


def forget_ana(cli: Any, *extra: str) -> dict[str, Any]:
    return orjson.loads(cli.ok("forget", "ana", "--yes", "--json", *extra).stdout)


def ledger_files(db: str) -> Iterator[Path]:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(db + suffix)
        if path.exists():
            yield path


def found_in_files(db: str, texts: list[str]) -> dict[str, list[str]]:
    """Which texts appear in the raw bytes of the SQLite file and its journal, and where."""
    found: dict[str, list[str]] = {}
    for path in ledger_files(db):
        data = path.read_bytes()
        hits = [t for t in texts if t.encode() in data]
        if hits:
            found[path.name] = hits
    return found


def chain_recomputed(db: str, master_key: bytes | None = None) -> int:
    """Recompute every link from the stored rows, independently of `verify`; return the count.

    Also checks, for every person not forgotten, that each value still matches its commitment.
    """
    ledger = Ledger(db, master_key=master_key)
    try:
        keys = ledger.all_secrets()
        prev, count = GENESIS, 0
        for row, stored in zip(ledger.store.raw_rows(), ledger.store.events(), strict=True):
            record = orjson.loads(bytes(row["state"]))["record"]
            recorded = format_timestamp(from_micros(int(row["recorded_us"])))
            digest = chain_hash(
                prev, int(row["seq"]), row["event_id"], recorded, dumps(record), row["recorded_by"]
            )
            assert digest == row["hash"], f"link {row['seq']} broken"
            for path, sealed in sealed_paths(record):
                if stored.private is not None and path in stored.private:
                    secret = keys[sealed["owner"]]
                    value = stored.private[path]
                    assert commitment(secret, row["event_id"], path, value) == sealed["commitment"]
            prev, count = digest, count + 1
        return count
    finally:
        ledger.close()


def texts_of(value: Any) -> str:
    return orjson.dumps(value).decode()


# -- forget through the command line ---------------------------------------------------------


def test_forget_erases_a_person_from_views_export_and_the_files(cli):
    record_story(cli)
    before = cli.export()
    alerts_before = cli.json("alerts", "--json", "--as-of", AS_OF)
    flags_before = cli.json("flags", "--json", "--as-of", AS_OF)
    reputation_before = cli.json("reputation", "--json", "--as-of", AS_OF)
    assert alerts_before and flags_before  # the story has something to count

    forgotten = forget_ana(cli, "--by", "carol", "--reason", "asked in writing")
    assert forgotten["type"] == "person-forgotten" and forgotten["handle"] == "ana"
    assert forgotten["seq"] == len(before) + 1

    after = cli.export()
    assert len(after) == len(before) + 1
    text = texts_of(after)
    for value in ANA_DATA:
        assert value not in text
    # Every event stays in place with its hash; only Ana's values became {"forgotten": hex}.
    for old, new in zip(before, after, strict=False):
        assert (new["id"], new["seq"], new["hash"]) == (old["id"], old["seq"], old["hash"])
        owner = _owner(old)
        if owner != "ana":
            assert new == old
            continue
        assert "ana" not in new.get("keys", {})
        for key, value in old.items():
            if key == "keys":
                continue
            if texts_of(value) in [texts_of(v) for v in ANA_DATA] or key == "preparation":
                assert _all_forgotten_or_flags(new[key], value), (key, new[key])
            else:
                assert new[key] == value
    # The reason is Carol's text (she recorded it), so it stays.
    assert after[-1]["reason"] == "asked in writing"
    assert CAROL_NAME in text and CAROL_NOTE in text and BOB_NOTE in text

    verdict = cli.json("verify", "--json")
    assert verdict["ok"] is True and verdict["events"] == len(after)
    assert chain_recomputed(cli.db) == len(after)

    # Alerts, flags and reputation still count what happened, the same way.
    assert cli.json("alerts", "--json", "--as-of", AS_OF) == alerts_before
    assert cli.json("flags", "--json", "--as-of", AS_OF) == flags_before
    assert cli.json("reputation", "--json", "--as-of", AS_OF) == reputation_before
    assert "ana" in {a["person"] for a in alerts_before} | {f["person"] for f in flags_before}

    ledger = Ledger(cli.db)
    try:
        person = View(ledger).person("ana")
        assert person is not None and person["forgotten"] is True
        assert person["name"] == {"forgotten": _sealed(ledger, "p-ana", "name")}
        assert View(ledger).person("carol")["name"] == CAROL_NAME
        assert ledger.person("ana").forgotten
        with ledger.store.read() as cur:
            assert cur.all("SELECT * FROM {p}rl_private WHERE owner = 'ana'") == []
            assert cur.all("SELECT * FROM {p}rl_keys WHERE handle = 'ana'") == []
    finally:
        ledger.close()

    if not cli.db.startswith("postgresql"):
        assert found_in_files(cli.db, ANA_DATA) == {}
        assert CAROL_NOTE.encode() in Path(cli.db).read_bytes()  # the scan can see text
        wal = Path(cli.db + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0


def _owner(event: Mapping[str, Any]) -> str | None:
    if event["type"] == "person-added":
        return event["handle"]
    if event["type"] == "interview-held" and "by" not in event:
        return "ana"  # the requester owns the free text of an event nobody signed
    return event.get("by")


def _all_forgotten_or_flags(new: Any, old: Any) -> bool:
    """Texts became {"forgotten": 64 hex}; booleans (not personal data) stayed."""
    if isinstance(old, dict):
        return all(_all_forgotten_or_flags(new[k], v) for k, v in old.items())
    if isinstance(old, bool):
        return new == old
    return set(new) == {"forgotten"} and re.fullmatch(r"[0-9a-f]{64}", new["forgotten"])


def _sealed(ledger: Ledger, event_id: str, path: str) -> str:
    stored = ledger.store.get(event_id)
    return dict(sealed_paths(stored.record))[path]["commitment"]


def test_the_chain_and_the_event_store_hold_commitments_never_plaintext(cli):
    record_story(cli)
    ledger = Ledger(cli.db)
    try:
        with ledger.store.read() as cur:
            events = cur.all("SELECT state FROM {events}")
            log = cur.all("SELECT * FROM {p}rl_log")
            private = cur.all("SELECT data FROM {p}rl_private")
    finally:
        ledger.close()
    sealed_text = b"".join(bytes(row["state"]) for row in events).decode()
    log_text = texts_of([{k: str(v) for k, v in dict(row).items()} for row in log])
    for value in ANA_DATA + [CAROL_NAME, CAROL_NOTE, BOB_NOTE]:
        assert value not in sealed_text and value not in log_text
    assert '"commitment"' in sealed_text
    assert any(ANA_NAME.encode() in bytes(row["data"]) for row in private)  # kept beside them


def test_forget_asks_first_and_refuses_without_an_answer(cli):
    record_story(cli)
    count = len(cli.export())
    result = cli.refused("forget", "ana")  # no stdin: no confirmation
    assert "--yes" in result.stderr
    result = cli.refused("forget", "ana", input="n\n")
    assert "nothing forgotten" in result.stderr
    assert len(cli.export()) == count
    assert ANA_NAME in texts_of(cli.export())

    result = cli.ok("forget", "ana", input="y\n")
    assert "Forgot ana" in result.stdout
    assert ANA_NAME not in texts_of(cli.export())


def test_forget_refuses_unknown_people_and_cannot_be_repeated_or_undone(cli):
    record_story(cli)
    assert "unknown person" in cli.refused("forget", "nobody", "--yes").stderr
    assert "unknown person" in cli.refused("forget", "ana", "--yes", "--by", "nobody").stderr
    forgotten = forget_ana(cli)
    assert "already forgotten" in cli.refused("forget", "ana", "--yes").stderr
    retract = {
        "type": "event-retracted",
        "by": "carol",
        "retracts": forgotten["id"],
        "reason": "oops",
    }
    assert "cannot be undone" in cli.refused("record", orjson.dumps(retract).decode()).stderr
    # Ana's own reason for leaving is her text: erased with the rest.
    cli.record({"type": "person-added", "handle": "dan", "name": "Dan Eraseme", "at": AS_OF})
    event = orjson.loads(
        cli.ok("forget", "dan", "--yes", "--json", "--reason", "Dan's words").stdout
    )
    assert set(event["reason"]) == {"forgotten"}


def test_export_after_forget_restores_into_an_empty_ledger_with_identical_hashes(cli, db_pair):
    record_story(cli)
    forget_ana(cli)
    exported = cli.ok("export").stdout
    target = db_pair(cli)
    summary = target.json("import", "-", "--json", input=exported)
    assert summary["restored"] is True and summary["stored"] == len(exported.splitlines())
    assert target.ok("export").stdout == exported
    assert target.json("verify", "--json")["ok"] is True
    assert chain_recomputed(target.db) == summary["stored"]
    for value in ANA_DATA:
        assert value not in exported
    assert target.json("alerts", "--json", "--as-of", AS_OF) == cli.json(
        "alerts", "--json", "--as-of", AS_OF
    )


@pytest.fixture
def db_pair(tmp_path):
    """A second, empty ledger on the same backend as `cli`."""
    from conftest import Cli, _drop_schema, _pg_url

    made: list[str] = []

    def make(cli: Any) -> Any:
        if cli.db.startswith("postgresql"):
            schema = "t2_" + secrets.token_hex(6)
            made.append(schema)
            return Cli(_pg_url(schema))
        return Cli(str(tmp_path / "second.db"))

    yield make
    for schema in made:
        _drop_schema(schema)


def test_importing_a_person_forgotten_event_forgets_there_too(cli, db_pair):
    record_story(cli)
    lines_before = cli.ok("export").stdout
    mirror = db_pair(cli)
    mirror.ok("import", "-", input=lines_before)
    assert ANA_NAME in texts_of(mirror.export())

    forget_ana(cli)
    lines_after = cli.ok("export").stdout
    summary = mirror.json("import", "-", "--json", input=lines_after)
    assert summary["stored"] == 1 and summary["unchanged"] == len(lines_before.splitlines())

    mirrored = mirror.export()
    original = cli.export()
    assert mirrored[:-1] == original[:-1]
    for value in ANA_DATA:
        assert value not in texts_of(mirrored)
    assert mirror.json("verify", "--json")["ok"] is True
    if not mirror.db.startswith("postgresql"):
        assert found_in_files(mirror.db, ANA_DATA) == {}


def test_a_forgotten_person_in_an_import_is_never_readable(sqlite_cli):
    cli = sqlite_cli
    events = story()[:4] + [{"type": "person-forgotten", "handle": "ana", "at": AS_OF}]
    lines = "\n".join(orjson.dumps(e).decode() for e in events)
    cli.ok("import", "-", input=lines)
    assert ANA_NAME not in texts_of(cli.export())
    assert found_in_files(cli.db, ANA_DATA) == {}


# -- plugins' derived rows ----------------------------------------------------------------


class Gossip(Projection):
    """A careless third-party projection: it copies names and notes into its rows."""

    name = "gossip"
    category = "gossip"

    def parts(self, event: Mapping[str, Any], view: View) -> list[str]:
        return [event["by"]] if event["type"] == "connection-declared" else []

    def derive(self, part: str, view: View) -> Iterator[dict[str, Any]]:
        for event in view.declarations(part):
            person = view.person(part) or {}
            yield {
                "kind": "said",
                "start": event["at"],
                "person": part,
                "message": f"{person.get('name')} said: {str(event.get('note'))[:20]}",
            }


class GossipPlugin:
    @hookimpl
    def register_projections(self) -> list[Projection]:
        return [Gossip()]


def test_forget_purges_derived_rows_that_quote_erased_text(sqlite_db):
    plugins = Plugins(load_entry_points=False, extra={"gossip": GossipPlugin()})
    ledger = Ledger(sqlite_db, plugins=plugins)
    try:
        for event in story()[:4]:
            ledger.record(event)
        catch_up(ledger)
        (row,) = stored_rows(ledger, "gossip", as_of=2**62)
        assert ANA_NAME in row.data["message"]
        assert found_in_files(sqlite_db, [ANA_NAME]) != {}

        ledger.record({"type": "person-forgotten", "handle": "ana"})
        with ledger.store.read() as cur:
            assert cur.all("SELECT * FROM {p}rl_rows") == []
        assert found_in_files(sqlite_db, ANA_DATA) == {}

        catch_up(ledger)  # re-derived: it still counts what Ana said, not what she said
        (row,) = stored_rows(ledger, "gossip", as_of=2**62)
        assert row.person == "ana" and ANA_NAME not in row.data["message"]
        assert "forgotten" in row.data["message"]
    finally:
        ledger.close()
    assert found_in_files(sqlite_db, ANA_DATA) == {}


# -- encryption at rest -------------------------------------------------------------------


@pytest.fixture
def master_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = secrets.token_hex(32)
    monkeypatch.setenv(MASTER_KEY_ENV, key)
    return key


def test_with_a_master_key_the_database_holds_no_personal_data(cli, master_key):
    record_story(cli)
    exported = cli.export()
    assert exported[0]["name"] == ANA_NAME and "keys" in exported[0]  # the user's own export
    assert CAROL_NOTE in texts_of(exported)
    others = [CAROL_NAME, CAROL_NOTE, BOB_NOTE, "Bob Hopwood", "bob@acme.example"]
    cli.json("alerts", "--json", "--as-of", AS_OF)
    cli.json("flags", "--json", "--as-of", AS_OF)
    # the summaries `list` keeps: the role, personal, is read from its event, not kept
    listed = cli.json("list", "--json")
    assert "Staff Brewmaster" in [s["role"] for s in listed]
    # the names beside the handles in the table, opened with each owner's key
    assert f"({ANA_NAME})" in cli.ok("list").stdout and f"({CAROL_NAME})" in cli.ok("list").stdout

    ledger = Ledger(cli.db, master_key=bytes.fromhex(master_key))
    try:
        with ledger.store.read() as cur:
            tables = {
                name: cur.all(f"SELECT * FROM {{p}}{name}")
                for name in ("rl_private", "rl_keys", "rl_rows", "rl_meta", "rl_log")
            }
            states = cur.all("SELECT state FROM {events}")
    finally:
        ledger.close()
    dumped = repr(tables) + repr(states)
    for value in ANA_DATA + others:
        assert value not in dumped
    meta = {row["name"]: row["value"] for row in tables["rl_meta"]}
    assert meta["privacy"] == ENCRYPTED
    secrets_seen = {row["handle"]: bytes(row["secret"]) for row in tables["rl_keys"]}
    plain = {e["keys"][h] for e in exported for h in e.get("keys", {})}
    assert not {s.hex() for s in secrets_seen.values()} & plain  # secrets are not stored bare

    if not cli.db.startswith("postgresql"):
        assert found_in_files(cli.db, ANA_DATA + others) == {}

    forget_ana(cli)
    assert cli.json("verify", "--json")["ok"] is True
    assert chain_recomputed(cli.db, bytes.fromhex(master_key)) == len(exported) + 1
    assert CAROL_NOTE in texts_of(cli.export())
    assert ANA_NAME not in texts_of(cli.export())


def test_an_encrypted_ledger_refuses_a_missing_wrong_or_malformed_key(cli, master_key, monkeypatch):
    record_story(cli)
    monkeypatch.delenv(MASTER_KEY_ENV)
    assert "encrypted" in cli.refused("export").stderr
    assert (
        "encrypted"
        in cli.refused(
            "record",
            orjson.dumps({"type": "person-added", "handle": "eve", "name": "Eve"}).decode(),
        ).stderr
    )
    # Deriving alerts reads the events, personal data included: refused, not an empty list.
    assert "encrypted" in cli.refused("alerts", "--json", "--as-of", AS_OF).stderr
    monkeypatch.setenv(MASTER_KEY_ENV, master_key)
    alerts = cli.json("alerts", "--json", "--as-of", AS_OF)
    assert alerts
    monkeypatch.delenv(MASTER_KEY_ENV)
    # Rows already derived need no personal data: the history's shape is not secret.
    assert cli.json("alerts", "--json", "--as-of", AS_OF) == alerts
    monkeypatch.setenv(MASTER_KEY_ENV, secrets.token_hex(32))
    assert "not this ledger's master key" in cli.refused("export").stderr
    monkeypatch.setenv(MASTER_KEY_ENV, "not-hex")
    assert "64 hex digits" in cli.refused("export").stderr
    monkeypatch.setenv(MASTER_KEY_ENV, master_key)
    assert cli.export()[0]["name"] == ANA_NAME


def test_forget_works_on_an_encrypted_ledger_without_its_key(cli, master_key, monkeypatch):
    record_story(cli)
    monkeypatch.delenv(MASTER_KEY_ENV)
    forget_ana(cli)
    monkeypatch.setenv(MASTER_KEY_ENV, master_key)
    exported = texts_of(cli.export())
    assert ANA_NAME not in exported and CAROL_NAME in exported


def test_a_plaintext_ledger_refuses_a_master_key_and_export_moves_it_across(
    cli, db_pair, monkeypatch
):
    record_story(cli)
    key = secrets.token_hex(32)
    monkeypatch.setenv(MASTER_KEY_ENV, key)
    assert "created without a master key" in cli.refused("export").stderr
    monkeypatch.delenv(MASTER_KEY_ENV)
    exported = cli.ok("export").stdout

    # Encrypting a ledger is a restore into a new one, with the same hashes.
    monkeypatch.setenv(MASTER_KEY_ENV, key)
    encrypted = db_pair(cli)
    encrypted.ok("import", "-", input=exported)
    assert encrypted.ok("export").stdout == exported
    assert encrypted.json("verify", "--json")["ok"] is True
    if not encrypted.db.startswith("postgresql"):
        assert found_in_files(encrypted.db, ANA_DATA) == {}


def test_the_master_key_can_come_from_a_file(sqlite_cli, tmp_path, monkeypatch):
    cli = sqlite_cli
    key_file = tmp_path / "master.key"
    key_file.write_text(secrets.token_hex(32) + "\n")
    cli.ok("--master-key-file", str(key_file), "record", orjson.dumps(story()[0]).decode())
    assert "encrypted" in cli.refused("export").stderr
    exported = cli.ok("--master-key-file", str(key_file), "export").stdout
    assert ANA_NAME in exported
    monkeypatch.setenv("REFERRAL_LEDGER_MASTER_KEY_FILE", str(key_file))
    assert ANA_NAME in cli.ok("export").stdout
    assert found_in_files(cli.db, [ANA_NAME, ANA_EMAIL, ANA_TITLE]) == {}
    missing = cli.refused("--master-key-file", str(tmp_path / "nope.key"), "export")
    assert "cannot read the master key file" in missing.stderr


def test_encrypted_values_are_bound_to_their_row(sqlite_db):
    key = bytes.fromhex(secrets.token_hex(32))
    ledger = Ledger(sqlite_db, master_key=key)
    try:
        for event in story()[:4]:
            ledger.record(event)
        with ledger.store.write() as cur:  # move Ana's name blob onto her declaration's row
            blob = cur.one("SELECT data FROM {p}rl_private WHERE event_id = 'p-ana'")["data"]
            cur.run("UPDATE {p}rl_private SET data = ? WHERE event_id = 'c-ana'", (blob,))
        with pytest.raises(LedgerError, match="does not decrypt"):
            list(ledger.export())
    finally:
        ledger.close()


def test_the_vault_round_trips_and_keeps_plaintext_ledgers_as_they_are():
    vault = Vault(bytes(range(32)))
    secret = bytes(32)
    sealed = vault.seal_secret("ana", secret)
    assert sealed != secret and vault.open_secret("ana", sealed) == secret
    with pytest.raises(LedgerError):
        vault.open_secret("bob", sealed)  # bound to the handle
    data = vault.seal_data(secret, "e-1", b'{"name":"Ana"}')
    assert b"Ana" not in data and vault.open_data(secret, "e-1", data) == b'{"name":"Ana"}'
    plain = Vault(None)
    assert plain.seal_secret("ana", secret) == secret
    assert plain.seal_data(secret, "e-1", b"x") == b"x"


def test_sealing_leaves_the_event_it_was_given_as_it_was():
    # An import validates its parsed events again when a concurrent writer forces a retry:
    # sealing and reading placeholders must not change them.
    personal = ReferralRequested.personal
    given = {
        "type": "referral-requested",
        "id": "r-1",
        "referral": "r1",
        "role": {"forgotten": "ab" * 32},
        "preparation": {"questions": ["why hops?"], "researched_company": True},
    }
    before = copy.deepcopy(given)
    raw, forgotten = take_forgotten(given, personal)
    assert given == before
    assert forgotten == {"role": "ab" * 32} and raw["role"] == "erased@erased"
    record = copy.deepcopy(raw)
    sealed, private = seal(record, personal, owner="ana", secret=bytes(32), forgotten=forgotten)
    assert record == raw
    assert private == {"preparation.questions": ["why hops?"]}
    assert sealed["role"] == {"commitment": "ab" * 32, "owner": "ana"}
    assert sealed["preparation"]["questions"]["owner"] == "ana"
    assert sealed["preparation"]["researched_company"] is True


def test_an_import_result_shows_the_events_as_they_were_stored_even_after_a_forget(sqlite_db):
    ledger = Ledger(sqlite_db)
    try:
        result = ledger.import_lines([orjson.dumps(event) for event in story()[:3]])
        ledger.record({"type": "person-forgotten", "handle": "ana", "at": AS_OF})
        assert (result.count, result.first_seq, result.last_seq) == (3, 1, 3)
        ana = result.stored[0]  # built on first use, from what the import stored
        assert ana["name"] == ANA_NAME and ana["seq"] == 1 and set(ana["keys"]) == {"ana"}
        assert ANA_NAME not in orjson.dumps(list(ledger.export())).decode()
    finally:
        ledger.close()


def test_erased_pages_are_zeroed_not_left_in_free_space(sqlite_db):
    """Long notes spill into overflow pages, and deleting many rows frees whole pages: neither
    keeps the text (secure_delete), so no VACUUM is needed."""
    import sqlite3

    ledger = Ledger(sqlite_db, plugins=Plugins(load_entry_points=False))
    try:
        for event in story()[:3]:
            ledger.record(event)
        lines = []
        for i in range(120):
            by, other = ("ana", "bob") if i % 2 else ("bob", "ana")
            mark = f"ANA-SECRET-{i:03d} " if by == "ana" else "bob's own words "
            note = (mark + "lorem ipsum dolor " * (20 + 13 * (i % 17)))[:4000]
            lines.append(
                orjson.dumps(
                    {
                        "type": "connection-declared",
                        "by": by,
                        "with": other,
                        "kind": "friend",
                        "note": note,
                        "at": AS_OF,
                    }
                )
            )
        ledger.import_lines(lines)
        assert found_in_files(sqlite_db, ["ANA-SECRET-001"]) != {}
        ledger.record({"type": "person-forgotten", "handle": "ana"})
    finally:
        ledger.close()
    with sqlite3.connect(sqlite_db) as conn:
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 0  # pages were freed
    data = b"".join(path.read_bytes() for path in ledger_files(sqlite_db))
    assert b"ANA-SECRET-" not in data and ANA_NAME.encode() not in data
    assert b"bob's own words" in data


def test_forget_truncates_the_write_ahead_log_while_others_have_the_ledger_open(sqlite_db):
    """Closing the last connection would clean the WAL anyway; forget must not count on it."""
    plugins = Plugins(load_entry_points=False)
    reader = Ledger(sqlite_db, plugins=plugins)
    writer = Ledger(sqlite_db, plugins=plugins)
    try:
        for event in story():
            writer.record(event)
        assert reader.person("ana") is not None  # the reader's connection is open, idle
        assert found_in_files(sqlite_db, [ANA_NAME]) != {}
        writer.record({"type": "person-forgotten", "handle": "ana"})
        assert not writer.store.journal_pending
        writer.close()
        assert Path(sqlite_db + "-wal").exists()  # still in use by the reader
        assert found_in_files(sqlite_db, ANA_DATA) == {}
    finally:
        reader.close()


def test_forget_warns_when_a_reader_holds_old_pages(sqlite_cli):
    import sqlite3

    cli = sqlite_cli
    record_story(cli)
    reader = sqlite3.connect(cli.db, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM rl_private").fetchone()  # holds a snapshot
        result = cli.ok("forget", "ana", "--yes")
        assert "Warning: another process is reading the ledger" in result.stderr
        assert ANA_NAME not in texts_of(cli.export())
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert found_in_files(cli.db, ANA_DATA) == {}  # gone once every connection closed


def test_no_new_personal_data_is_kept_for_a_forgotten_person(cli):
    record_story(cli)
    forget_ana(cli)
    late = {
        "type": "thank-you-sent",
        "referral": "ana-acme",
        "by": "ana",
        "to": "carol",
        "note": "thanks, from Anastasia",
        "at": AS_OF,
    }
    result = cli.refused("record", orjson.dumps(late).decode())
    assert "'ana' is forgotten" in result.stderr and "note" in result.stderr
    del late["note"]
    assert cli.record(late)["by"] == "ana"  # what happened is still recorded
    # Someone else's text about the referral is theirs, and kept.
    cli.record(
        {
            "type": "thank-you-sent",
            "referral": "ana-acme",
            "by": "carol",
            "to": "bob",
            "note": "thanks for seeing her",
            "at": AS_OF,
        }
    )
    assert "thanks for seeing her" in texts_of(cli.export())


def test_rows_derived_before_a_concurrent_forget_are_never_written(sqlite_db):
    """Another process forgets Ana while this one is deriving rows that quote her."""

    class SlowGossip(Gossip):
        forgot = False

        def derive(self, part: str, view: View) -> Iterator[dict[str, Any]]:
            rows = list(super().derive(part, view))  # read while Ana is still known
            if not SlowGossip.forgot:
                SlowGossip.forgot = True
                other = Ledger(sqlite_db, plugins=Plugins(load_entry_points=False))
                try:
                    other.record({"type": "person-forgotten", "handle": "ana"})
                finally:
                    other.close()
            return iter(rows)

    class Plugin:
        @hookimpl
        def register_projections(self) -> list[Projection]:
            return [SlowGossip()]

    ledger = Ledger(sqlite_db, plugins=Plugins(load_entry_points=False, extra={"slow": Plugin()}))
    try:
        for event in story()[:4]:
            ledger.record(event)
        catch_up(ledger)
        assert SlowGossip.forgot
        (row,) = stored_rows(ledger, "gossip", as_of=2**62)
        assert ANA_NAME not in row.data["message"]
    finally:
        ledger.close()
    assert found_in_files(sqlite_db, ANA_DATA) == {}
