"""`audit` without the whole chain: the referral's events proved by the Merkle tree (rl_tree),
and `checkpoint`'s tree head, proved against by `verify --checkpoint` and `audit --checkpoint`.

Each tamper is made directly in the database, as in test_verify.py; `audit_chain` is asked
directly too, to tell a verdict of the fast way (True/False) from one it left to `verify`
(None).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from conftest import Cli
from test_verify import LAST_WORD, STORY, rehash, run_sql, sql, state_of, tell, verdict

from ledger import merkle

KEY = "ana-acme"
OTHER = {
    "type": "referral-requested",
    "id": "req-2",
    "referral": "dan-acme",
    "by": "dan",
    "referrer": "carol",
    "company": "Acme",
    "target": "bob",
    "role": "Designer",
    "goal": "A word with the design lead",
    "at": "2026-11-08T09:00:00Z",
}
# STORY with another referral at seq 13 (Dan's, with the same referrer and target)
TOLD = [*STORY[:12], OTHER, *STORY[12:]]
REFERRAL_SEQS = [i + 1 for i, e in enumerate(TOLD) if e.get("referral") == KEY]


def fast(cli: Cli, key: str = KEY, checkpoint: Path | None = None) -> bool | None:
    """What the fast way says (None: it leaves the verdict to the whole chain)."""
    from ledger.app import Ledger
    from ledger.crypto import master_key_from
    from ledger.verify import audit_chain, parse_checkpoint

    cp = parse_checkpoint(checkpoint.read_bytes()) if checkpoint is not None else None
    ledger = Ledger(cli.db, master_key=master_key_from(None))
    try:
        return audit_chain(ledger.store, key, types=ledger.types, checkpoint=cp)
    finally:
        ledger.close()


def chain(cli: Cli, *args: str, key: str = KEY) -> str:
    out = cli.json("audit", key, "--json", *args)
    text = cli.ok("audit", key, *args).stdout
    assert f"chain: {out['chain']}" in text
    return str(out["chain"])


@pytest.fixture
def told(cli: Cli) -> Cli:
    tell(cli, TOLD)
    return cli


def test_an_untouched_ledger_is_proved_without_the_whole_chain(told: Cli) -> None:
    assert fast(told) is True
    assert chain(told) == "ok"
    assert fast(told, "dan-acme") is True


def test_the_tree_is_rfc_9162s_over_the_logs_hashes_and_referral_links(cli: Cli) -> None:
    tell(cli)
    from ledger.app import Ledger

    rows = run_sql(cli, "SELECT seq, hash, referral FROM rl_log ORDER BY seq")
    last: dict[str, int] = {}
    leaves = []
    for seq, digest, referral in rows:
        leaves.append(merkle.leaf_input(digest, last.get(referral, 0) if referral else 0))
        if referral:
            last[referral] = seq

    def mth(items: list[bytes]) -> bytes:
        if len(items) == 1:
            return merkle.leaf_hash(items[0])
        k = 1 << ((len(items) - 1).bit_length() - 1)
        return merkle.node_hash(mth(items[:k]), mth(items[k:]))

    ledger = Ledger(cli.db)
    try:
        assert ledger.store.tree_head() == (len(rows), mth(leaves))
    finally:
        ledger.close()
    record = cli.json("checkpoint", "--json")
    assert record["tree_size"] == len(rows) == record["seq"]
    assert record["tree_root"] == mth(leaves).hex()


def test_an_edited_event_of_the_referral_is_caught(told: Cli) -> None:
    seq = REFERRAL_SEQS[2]
    ((origin, version, state),) = run_sql(
        told,
        "SELECT s.originator_id, s.originator_version, s.state FROM rl_log l JOIN {events} s "
        "ON s.originator_id = l.originator_id AND s.originator_version = l.originator_version "
        "WHERE l.seq = ?",
        (seq,),
    )
    run_sql(
        told,
        "UPDATE {events} SET state = ? WHERE originator_id = ? AND originator_version = ?",
        (bytes(state).replace(b'"channel":"email"', b'"channel":"phone"'), origin, version),
    )
    assert fast(told) is False
    assert chain(told) == "broken"
    assert fast(told, "dan-acme") is True  # another referral's proof does not read it


def test_a_partys_edited_event_is_caught(told: Cli) -> None:
    run_sql(told, "UPDATE rl_log SET recorded_us = recorded_us + 1 WHERE seq = 3")  # bob's
    assert fast(told) is False
    assert chain(told) == "broken"


@pytest.mark.parametrize("where", ["middle", "newest of the referral"])
def test_a_deleted_event_of_the_referral_is_caught(told: Cli, where: str) -> None:
    seq = REFERRAL_SEQS[3] if where == "middle" else REFERRAL_SEQS[-1]
    assert seq < len(TOLD)  # not the ledger's newest: that is truncation (see below)
    for table in ("{events}", "rl_log"):
        run_sql(
            told,
            f"DELETE FROM {table} WHERE "
            + (
                "(originator_id, originator_version) IN (SELECT originator_id, "
                "originator_version FROM rl_log WHERE seq = ?)"
                if table != "rl_log"
                else "seq = ?"
            ),
            (seq,),
        )
    assert fast(told) is None  # the log has a gap: the whole chain says where
    assert verdict(told)[0] == 1
    if where == "middle":
        # the referral's stored events skip a version: it cannot be rebuilt to be shown
        refused = told.refused("audit", KEY, "--json")
        assert "damaged" in refused.stderr and "run verify" in refused.stderr
    else:
        assert chain(told) == "broken"


def test_a_log_row_of_the_referral_deleted_alone_is_caught(told: Cli) -> None:
    run_sql(told, "DELETE FROM rl_log WHERE seq = ?", (REFERRAL_SEQS[1],))
    assert chain(told) == "broken"


def test_a_stored_event_of_the_referral_deleted_alone_is_caught(told: Cli) -> None:
    run_sql(
        told,
        "DELETE FROM {events} WHERE (originator_id, originator_version) IN "
        "(SELECT originator_id, originator_version FROM rl_log WHERE seq = ?)",
        (REFERRAL_SEQS[-1],),
    )
    assert fast(told) is False
    assert chain(told) == "broken"


def test_two_events_of_the_referral_swapped_are_caught(told: Cli) -> None:
    a, b = REFERRAL_SEQS[1], REFERRAL_SEQS[2]
    run_sql(told, "UPDATE rl_log SET seq = -1 WHERE seq = ?", (a,))
    run_sql(told, "UPDATE rl_log SET seq = ? WHERE seq = ?", (a, b))
    run_sql(told, "UPDATE rl_log SET seq = ? WHERE seq = -1", (b,))
    assert fast(told) is False
    assert chain(told) == "broken"


def test_a_changed_leaf_of_the_tree_leaves_the_verdict_to_the_whole_chain(told: Cli) -> None:
    """A damaged tree never makes a sound ledger look broken: audit checks the whole chain,
    `verify` says the tree differs (and rebuilds it), and audit is fast again."""
    pos = merkle.position(0, REFERRAL_SEQS[0] - 1)
    run_sql(told, "UPDATE rl_tree SET hash = ? WHERE pos = ?", (b"\x00" * 32, pos))
    assert fast(told) is None
    assert chain(told) == "ok"
    code, out = verdict(told)
    assert code == 0 and out["tree_ok"] is False
    assert fast(told) is True
    assert "tree_ok" not in verdict(told)[1]


def rewrite(cli: Cli, seq: int, old: bytes, new: bytes, *, tree: bool) -> None:
    """A forger's rewrite of the event at `seq`, every later hash recomputed; with `tree`,
    the Merkle tree dropped too, so that the next open builds it from the rewritten log."""
    rowid, state = state_of(cli.db, seq)
    sql(
        cli.db,
        "UPDATE stored_events SET state = ? WHERE rowid = ?",
        (state.replace(old, new), rowid),
    )
    rehash(cli.db, seq)
    if tree:
        sql(cli.db, "DELETE FROM rl_tree")


@pytest.fixture
def told_sqlite(sqlite_cli: Cli) -> Cli:
    tell(sqlite_cli, TOLD)
    return sqlite_cli


@pytest.mark.parametrize("tree", [False, True], ids=["tree kept", "tree rebuilt"])
def test_a_rewrite_with_recomputed_hashes_is_caught_against_a_kept_checkpoint(
    told_sqlite: Cli, tmp_path: Path, tree: bool
) -> None:
    cli = told_sqlite
    checkpoint = tmp_path / "cp.json"
    cli.ok("checkpoint", "-o", str(checkpoint))
    seq = REFERRAL_SEQS[2]
    rewrite(cli, seq, b'"channel":"email"', b'"channel":"phone"', tree=tree)
    assert verdict(cli)[0] == 0  # consistent in itself: only a kept head can tell
    assert chain(cli) == "ok"
    assert chain(cli, "--checkpoint", str(checkpoint)) == "broken"
    code, out = verdict(cli, "--checkpoint", str(checkpoint))
    assert code == 1 and out["checkpoint_ok"] is False
    # rewritten after the checkpoint was taken: the checkpoint still stands for what it saw
    later = tmp_path / "later.json"
    cli.ok("checkpoint", "-o", str(later))
    assert chain(cli, "--checkpoint", str(later)) == "ok"
    assert fast(cli, checkpoint=later) is True


def test_a_checkpoint_is_proved_consistent_as_the_ledger_grows(told: Cli, tmp_path: Path) -> None:
    checkpoint = tmp_path / "cp.json"
    told.ok("checkpoint", "-o", str(checkpoint))
    told.record({"type": "person-added", "handle": "eve", "name": "Eve"})
    told.record({**OTHER, "id": "req-3", "referral": "eve-acme", "by": "eve"})
    assert fast(told, checkpoint=checkpoint) is True
    assert chain(told, "--checkpoint", str(checkpoint)) == "ok"
    code, out = verdict(told, "--checkpoint", str(checkpoint))
    assert code == 0 and out["checkpoint_ok"] is True
    fast_out = told.json("verify", "--json", "--fast", "--checkpoint", str(checkpoint))
    assert fast_out["ok"] is True and fast_out["checkpoint_ok"] is True
    assert fast_out["events"] == len(TOLD) + 2


def test_verify_fast_catches_a_truncated_or_rewritten_tree(
    told_sqlite: Cli, tmp_path: Path
) -> None:
    cli = told_sqlite
    cli.record({"type": "person-added", "handle": "eve", "name": "Eve"})
    checkpoint = tmp_path / "cp.json"
    cli.ok("checkpoint", "-o", str(checkpoint))
    copy = Cli(str(tmp_path / "copy.db"))
    shutil.copyfile(cli.db, copy.db)

    # the newest events removed (log, events and tree alike): the checkpoint's tree is longer
    last = len(TOLD) + 1
    for seq in (last, last - 1):
        rowid, _ = state_of(cli.db, seq)
        sql(cli.db, "DELETE FROM rl_log WHERE seq = ?", (seq,))
        sql(cli.db, "DELETE FROM stored_events WHERE rowid = ?", (rowid,))
    sql(cli.db, "DELETE FROM rl_tree")  # rebuilt from the shorter log on the next open
    result = cli("verify", "--json", "--fast", "--checkpoint", str(checkpoint))
    assert result.exit_code == 1, result.stdout
    assert orjson.loads(result.stdout)["checkpoint_ok"] is False

    # an early event rewritten, every hash after it recomputed, the tree rebuilt
    rewrite(copy, 7, b'"company":"Acme"', b'"company":"Acne"', tree=True)
    result = copy("verify", "--json", "--fast", "--checkpoint", str(checkpoint))
    assert result.exit_code == 1 and orjson.loads(result.stdout)["checkpoint_ok"] is False
    assert "does not extend" in copy("verify", "--fast", "--checkpoint", str(checkpoint)).stdout


def test_verify_fast_needs_a_checkpoint_with_a_tree(told: Cli, tmp_path: Path) -> None:
    assert "--checkpoint" in told.refused("verify", "--fast").stderr
    old = tmp_path / "old.json"
    record = told.json("checkpoint", "--json")
    old.write_bytes(orjson.dumps({k: v for k, v in record.items() if not k.startswith("tree_")}))
    assert "tree" in told.refused("verify", "--fast", "--checkpoint", str(old)).stderr
    # a checkpoint of before the tree still works as it did, with the whole chain
    code, out = verdict(told, "--checkpoint", str(old))
    assert code == 0 and out["checkpoint_ok"] is True
    assert chain(told, "--checkpoint", str(old)) == "ok"
    assert fast(told, checkpoint=old) is None


def test_bad_tree_fields_of_a_checkpoint_are_bad_input(told: Cli, tmp_path: Path) -> None:
    record = told.json("checkpoint", "--json")
    bad = tmp_path / "bad.json"
    for change in ({"tree_size": 1}, {"tree_root": "xyz"}, {"tree_root": None}):
        bad.write_bytes(orjson.dumps({**record, **change}))
        assert "tree_" in told.refused("verify", "--checkpoint", str(bad)).stderr
        assert "tree_" in told.refused("audit", KEY, "--checkpoint", str(bad)).stderr


def test_a_ledger_of_0_1_gains_its_tree_on_a_writable_open(tmp_path: Path) -> None:
    fixture = Path(__file__).parent / "fixtures" / "old" / "ledger-0.1.0.db"
    db = tmp_path / "old.db"
    shutil.copyfile(fixture, db)
    assert sql(str(db), "SELECT name FROM sqlite_master WHERE name = 'rl_tree'") == []
    cli = Cli(str(db))
    (key,) = sql(str(db), "SELECT referral FROM rl_log WHERE referral IS NOT NULL LIMIT 1")[0]
    assert chain(cli, key=key) == "ok"
    (count,) = sql(str(db), "SELECT COUNT(*) FROM rl_tree")[0]
    (events,) = sql(str(db), "SELECT COUNT(*) FROM rl_log")[0]
    assert count == merkle.node_count(events)
    assert fast(cli, key) is True


def test_a_read_only_ledger_without_its_tree_audits_through_the_whole_chain(
    tmp_path: Path,
) -> None:
    import subprocess

    from test_hardening_paths import _mount_read_only

    fixture = Path(__file__).parent / "fixtures" / "old" / "ledger-0.1.0.db"
    source, mounted = tmp_path / "source", tmp_path / "mounted"
    source.mkdir()
    mounted.mkdir()
    shutil.copyfile(fixture, source / "ledger.db")
    (key,) = sql(str(source / "ledger.db"), "SELECT referral FROM rl_log WHERE referral <> ''")[0]
    reason = _mount_read_only(source, mounted)
    if reason is not None:
        pytest.skip(reason)
    try:
        cli = Cli(str(mounted / "ledger.db"))
        assert chain(cli, key=key) == "ok"
        assert fast(cli, key) is None  # no tree: the whole chain
        assert "tree_size" not in cli.json("checkpoint", "--json")
    finally:
        subprocess.run(["umount", str(mounted)], check=False, timeout=30)


def test_another_referrals_tampered_event_is_for_verify(told: Cli) -> None:
    """The guarantee's edge, as docs/reference.md states it: audit proves the events it shows
    and those of the people they name; an event of an unrelated referral is `verify`'s."""
    run_sql(told, "UPDATE rl_log SET recorded_us = recorded_us + 1 WHERE seq = 13")  # dan-acme's
    assert fast(told, "dan-acme") is False
    assert fast(told) is True
    assert verdict(told)[0] == 1


def test_a_team_member_granted_before_the_tree_still_writes(tmp_path: Path) -> None:
    """A member whose grants predate rl_tree (as on a team ledger of before) still records;
    the tree waits, the owner's next open catches it up, and `audit` is fast again."""
    import uuid

    from conftest import PG_URL
    from test_team import Team, _admin_sql, person

    if not PG_URL:
        pytest.skip("PostgreSQL tests need REFERRAL_LEDGER_TEST_PG (a postgresql:// URL)")
    tag = uuid.uuid4().hex[:10]
    team = Team(f"t_tree_{tag}", tag)
    try:
        person(team.owner, "ana")
        person(team.owner, "carol")
        bob, as_bob = team.member("bob")
        _admin_sql(f'REVOKE ALL ON "{team.schema}".rl_tree FROM "{bob}"')
        person(as_bob, "bob")
        as_bob.record(
            {
                "type": "referral-requested",
                "referral": "bob-acme",
                "by": "bob",
                "referrer": "carol",
                "target": "ana",
                "company": "Acme",
            }
        )
        assert fast(as_bob, "bob-acme") is None  # the tree lags the log: the whole chain
        assert chain(as_bob, key="bob-acme") == "ok"
        assert fast(team.owner, "bob-acme") is True  # the owner's open caught it up
        assert verdict(team.owner)[0] == 0
    finally:
        team.drop()


def test_an_encrypted_ledgers_values_are_checked_with_its_key(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.crypto import MASTER_KEY_ENV, new_master_key

    monkeypatch.setenv(MASTER_KEY_ENV, new_master_key())
    cli = Cli(sqlite_db)
    tell(cli, TOLD)
    assert fast(cli) is True
    (event_id,) = sql(cli.db, "SELECT event_id FROM rl_log WHERE seq = ?", (REFERRAL_SEQS[1],))[0]
    (data,) = sql(cli.db, "SELECT data FROM rl_private WHERE event_id = ?", (event_id,))[0]
    changed = data[:20] + bytes([data[20] ^ 1]) + data[21:]
    sql(cli.db, "UPDATE rl_private SET data = ? WHERE event_id = ?", (changed, event_id))
    assert fast(cli) is False
    assert "does not decrypt" in cli.refused("audit", KEY, "--json").stderr  # as before
    monkeypatch.delenv(MASTER_KEY_ENV)  # without the key: the chain alone, as verify does
    assert fast(cli) is True


def test_after_the_newest_event_is_removed_the_tree_follows_the_log(told: Cli) -> None:
    """A truncation the chain cannot see without a head: the tree keeps the removed leaf
    until the next event takes its seq (audit checks the whole chain meanwhile)."""
    told.record(LAST_WORD)  # an ordinary newest event (see test_verify.py)
    last = len(TOLD) + 1
    run_sql(
        told,
        "DELETE FROM {events} WHERE (originator_id, originator_version) IN "
        "(SELECT originator_id, originator_version FROM rl_log WHERE seq = ?)",
        (last,),
    )
    run_sql(told, "DELETE FROM rl_log WHERE seq = ?", (last,))
    assert fast(told) is None  # the tree is ahead of the log
    assert chain(told) == "ok"  # as verify says, without a head
    told.record({"type": "person-added", "handle": "eve", "name": "Eve"})
    assert fast(told) is True
    assert verdict(told)[1].get("tree_ok") is None
