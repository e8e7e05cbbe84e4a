"""Races on one referral: several processes append to the same referral at the same moment.

Where the rules allow only one (a referral is closed once, an event is retracted once, a key or
a handle is created once, an id names one event), exactly one writer wins each race and every
other gets a clear error (or, for an identical resubmission, the winner's event back). Where
the rules allow all of them, all are stored. Nothing acknowledged is ever lost, `seq` stays
gapless and the chain verifies. Many writers on *different* events: tests/test_concurrency.py.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from typing import Any

import orjson
import pytest
from conftest import Cli

WRITERS = 4
ROUNDS = int(os.environ.get("RACE_ROUNDS", "4"))
SLOW_ROUNDS = 40
T0 = "2026-11-01T09:00:00Z"


def at(minute: int) -> str:
    return f"2026-11-02T{9 + minute // 60:02d}:{minute % 60:02d}:00Z"


def _racer(db: str, rounds: list[list[Any]], index: int, barrier: Any, results: Any) -> None:
    """One writer: for each round, wait for the others, then fire its event (or import)."""
    from ledger.app import Ledger
    from ledger.errors import ConflictError, LedgerError

    ledger = Ledger(db)
    # Count the writes that lost a race inside the store and were retried, to show that the
    # writers really collided (reported with -s; the assertions don't depend on it).
    retried = 0
    write_once = ledger._write_once

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal retried
        try:
            return write_once(*args, **kwargs)
        except ConflictError:
            retried += 1
            raise

    ledger._write_once = counting  # type: ignore[method-assign]
    try:
        for number, jobs in enumerate(rounds):
            job = jobs[index]
            barrier.wait(timeout=120)
            try:
                if isinstance(job, list):
                    stored = ledger.import_lines([orjson.dumps(e) for e in job]).stored
                    outcome = ("ok", [(e["id"], e["seq"], e["hash"]) for e in stored])
                else:
                    event = ledger.record(dict(job))
                    outcome = ("ok", [(event["id"], event["seq"], event["hash"])])
            except LedgerError as exc:
                outcome = ("refused", f"{type(exc).__name__}: {exc.message}")
            except Exception as exc:  # noqa: BLE001 - a crash is a finding: report it, don't hang the others
                outcome = ("crash", f"{type(exc).__name__}: {exc}")
            results.put((number, index, outcome))
    finally:
        ledger.close()
        results.put((-1, index, retried))


def race(db: str, rounds: list[list[Any]]) -> list[list[tuple[str, Any]]]:
    """Run the rounds with WRITERS processes; outcomes per round, in writer order."""
    # Writers fork from a server that has imported the ledger once: starting four fresh
    # interpreters per race costs more than the race (and fork from pytest is unsafe).
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["ledger.app", "ledger.cli", "orjson"])
    barrier = ctx.Barrier(WRITERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_racer, args=(db, rounds, i, barrier, results)) for i in range(WRITERS)
    ]
    for proc in procs:
        proc.start()
    outcomes: list[list[Any]] = [[None] * WRITERS for _ in rounds]
    retried = 0
    try:
        for _ in range(len(rounds) * WRITERS + WRITERS):
            number, index, outcome = results.get(timeout=300)
            if number < 0:
                retried += outcome
            else:
                outcomes[number][index] = outcome
    finally:
        for proc in procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
    for proc in procs:
        assert proc.exitcode == 0, proc.exitcode
    print(f"\n{len(rounds)} races of {WRITERS} writers; {retried} writes retried after a conflict")
    return outcomes


def check_ledger(cli: Cli, acknowledged: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
    """Every acknowledged event is stored where it was acknowledged; seq gapless; chain ok."""
    events = cli.export()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    by_id = {e["id"]: e for e in events}
    for event_id, seq, digest in acknowledged:
        assert event_id in by_id, f"acknowledged event {event_id} was lost"
        assert (by_id[event_id]["seq"], by_id[event_id]["hash"]) == (seq, digest)
    verdict = cli.json("verify", "--json")
    assert verdict["ok"] is True and verdict["events"] == len(events)
    return events


def acknowledged(outcomes: list[list[tuple[str, Any]]]) -> list[tuple[str, int, str]]:
    return [item for rnd in outcomes for kind, value in rnd if kind == "ok" for item in value]


def assert_clear_refusal(message: str, *expected: str) -> None:
    assert not message.startswith(("StoreError", "Exception")), message
    assert any(fragment in message for fragment in expected), message


def assert_one_winner(rnd: list[tuple[str, Any]], refusal: str) -> None:
    """One writer's event was stored; every other was refused for `refusal` (or told to retry)."""
    assert [kind for kind, _ in rnd].count("ok") == 1, rnd
    for kind, value in rnd:
        if kind != "ok":
            assert kind == "refused", value
            assert_clear_refusal(value, refusal, "try again")


def setup_people(cli: Cli, rounds: int) -> None:
    events = [
        {"type": "person-added", "handle": h, "name": h.title(), "at": T0}
        for h in ("ana", "cat", "bob", "dee")
    ]
    events += [
        {
            "type": "referral-requested",
            "id": f"req-{n}",
            "referral": f"r{n}",
            "by": "ana",
            "referrer": "cat",
            "company": "Acme",
            "target": "bob",
            "at": at(0),
        }
        for n in range(rounds)
    ]
    cli.ok("import", "-", input=b"".join(orjson.dumps(e) + b"\n" for e in events))


def rounds_for(slow: bool) -> int:
    return SLOW_ROUNDS if slow else ROUNDS


@pytest.fixture(params=[False, pytest.param(True, marks=pytest.mark.slow)], ids=["ci", "long"])
def slow(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_a_referral_is_closed_once(cli: Cli, slow: bool) -> None:
    n = rounds_for(slow)
    setup_people(cli, n)
    rounds = [
        [
            {
                "type": "referral-closed",
                "id": f"close-{r}-{w}",
                "referral": f"r{r}",
                "by": ["ana", "cat", "ana", "cat"][w],
                "reason": f"writer {w}",
                "at": at(10 + w),
            }
            for w in range(WRITERS)
        ]
        for r in range(n)
    ]
    outcomes = race(cli.db, rounds)
    for rnd in outcomes:
        assert_one_winner(rnd, "already closed")
    events = check_ledger(cli, acknowledged(outcomes))
    for r in range(n):
        closes = [e for e in events if e["type"] == "referral-closed" and e["referral"] == f"r{r}"]
        assert len(closes) == 1


def test_an_event_is_retracted_once(cli: Cli, slow: bool) -> None:
    n = rounds_for(slow)
    setup_people(cli, n)
    cli.ok(
        "import",
        "-",
        input=b"".join(
            orjson.dumps(
                {
                    "type": "follow-up-sent",
                    "id": f"fu-{r}",
                    "referral": f"r{r}",
                    "by": "ana",
                    "to": "cat",
                    "at": at(5),
                }
            )
            + b"\n"
            for r in range(n)
        ),
    )
    rounds = [
        [
            {
                "type": "event-retracted",
                "id": f"rx-{r}-{w}",
                "referral": f"r{r}",
                "by": "ana",
                "retracts": f"fu-{r}",
                "reason": f"writer {w}",
                "at": at(6),
            }
            for w in range(WRITERS)
        ]
        for r in range(n)
    ]
    outcomes = race(cli.db, rounds)
    for rnd in outcomes:
        assert_one_winner(rnd, "already retracted")
    events = check_ledger(cli, acknowledged(outcomes))
    assert sum(e["type"] == "event-retracted" for e in events) == n


def test_a_referral_key_and_a_handle_are_created_once(cli: Cli) -> None:
    setup_people(cli, 0)
    rounds = []
    for r in range(ROUNDS):
        rounds.append(
            [
                {
                    "type": "referral-requested",
                    "id": f"new-{r}-{w}",
                    "referral": f"k{r}",
                    "by": ["ana", "bob", "dee", "ana"][w],
                    "referrer": "cat",
                    "company": f"Co {w}",
                    "at": at(1),
                }
                for w in range(WRITERS)
            ]
        )
        rounds.append(
            [
                {
                    "type": "person-added",
                    "id": f"h-{r}-{w}",
                    "handle": f"new{r}",
                    "name": f"Twin {w}",
                    "at": T0,
                }
                for w in range(WRITERS)
            ]
        )
    outcomes = race(cli.db, rounds)
    for rnd in outcomes:
        assert_one_winner(rnd, "already exists")
    events = check_ledger(cli, acknowledged(outcomes))
    assert sum(e["type"] == "referral-requested" for e in events) == ROUNDS
    assert sum(e["type"] == "person-added" for e in events) == 4 + ROUNDS


def test_one_id_sent_by_every_writer_is_stored_once(cli: Cli) -> None:
    setup_people(cli, ROUNDS)
    rounds = []
    for r in range(ROUNDS):
        same = {
            "type": "follow-up-sent",
            "id": f"same-{r}",
            "referral": f"r{r}",
            "by": "ana",
            "to": "bob",
            "at": at(3),
        }
        rounds.append([same] * WRITERS)
        # the same id with different content: one wins, the rest are told it differs
        rounds.append([{**same, "id": f"clash-{r}", "note": f"writer {w}"} for w in range(WRITERS)])
    outcomes = race(cli.db, rounds)
    for number, rnd in enumerate(outcomes):
        if number % 2 == 0:  # identical resubmissions: everyone gets the one stored event back
            assert all(kind == "ok" for kind, _ in rnd), rnd
            assert len({tuple(value[0]) for _, value in rnd}) == 1, rnd
        else:
            assert_one_winner(rnd, "different content")
    events = check_ledger(cli, acknowledged(outcomes))
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    assert sum(i.startswith(("same-", "clash-")) for i in ids) == 2 * ROUNDS


def test_writers_appending_to_one_referral_lose_nothing(cli: Cli, slow: bool) -> None:
    """Every writer's events are allowed: all are stored, records and imports alike."""
    n = rounds_for(slow)
    setup_people(cli, 1)
    rounds = []
    for r in range(n):
        jobs: list[Any] = []
        for w in range(WRITERS):
            event = {
                "type": "follow-up-sent",
                "id": f"a-{r}-{w}",
                "referral": "r0",
                "by": ["ana", "cat", "bob", "ana"][w],
                "to": "dee",
                "at": at(5 + r),
            }
            if w % 2:  # half the writers import a batch on the same referral
                jobs.append([event, {**event, "id": f"a-{r}-{w}-2", "type": "thank-you-sent"}])
            else:
                jobs.append(event)
        rounds.append(jobs)
    outcomes = race(cli.db, rounds)
    for rnd in outcomes:
        assert all(kind == "ok" for kind, _ in rnd), rnd
    events = check_ledger(cli, acknowledged(outcomes))
    assert len(events) == 4 + 1 + n * (WRITERS + WRITERS // 2)


def test_a_close_races_with_events_it_would_forbid(cli: Cli) -> None:
    """A close and introductions dated after it: whichever lands first decides, and what
    lands is consistent with the rules at the moment it landed."""
    setup_people(cli, ROUNDS)
    rounds = []
    for r in range(ROUNDS):
        close = {
            "type": "referral-closed",
            "id": f"c-{r}",
            "referral": f"r{r}",
            "by": "ana",
            "reason": "done",
            "at": at(10),
        }
        intro = {
            "type": "introduction-made",
            "referral": f"r{r}",
            "by": "cat",
            "to": "dee",
            "at": at(20),
        }
        rounds.append([close] + [{**intro, "id": f"i-{r}-{w}"} for w in range(1, WRITERS)])
    outcomes = race(cli.db, rounds)
    events = check_ledger(cli, acknowledged(outcomes))
    for r, rnd in enumerate(outcomes):
        assert rnd[0][0] == "ok", rnd  # nothing stored before it forbids the close
        seq_of = {e["id"]: e["seq"] for e in events}
        for w, (kind, value) in enumerate(rnd[1:], start=1):
            if kind == "ok":
                assert seq_of[f"i-{r}-{w}"] < seq_of[f"c-{r}"]
            else:
                assert_clear_refusal(value, "is closed", "try again")


# -- through the command line: processes started apart, fired at one moment --------------------

CLI_RACER = """
import sys, time
from ledger.cli import main
go = float(sys.argv[1])
while time.time() < go:
    time.sleep(0.0005)
main(sys.argv[2:])
"""


def test_cli_processes_racing_to_close(cli: Cli) -> None:
    setup_people(cli, 1)
    go = time.time() + 4.0  # the interpreters start and import first
    env = {**os.environ, "REFERRAL_LEDGER_DB": cli.db}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLI_RACER,
                str(go),
                "record",
                orjson.dumps(
                    {
                        "type": "referral-closed",
                        "id": f"cli-close-{w}",
                        "referral": "r0",
                        "by": "ana",
                        "reason": f"writer {w}",
                        "at": at(10),
                    }
                ).decode(),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for w in range(WRITERS)
    ]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert sorted(code for code, _, _ in results) == [0] + [2] * (WRITERS - 1), results
    acked = []
    for code, out, err in results:
        assert b"Traceback" not in err
        if code == 0:
            event = orjson.loads(out)
            acked.append((event["id"], event["seq"], event["hash"]))
        else:
            assert err.startswith(b"Error: "), err
            assert b"already closed" in err or b"try again" in err, err
    events = check_ledger(cli, acked)
    assert sum(e["type"] == "referral-closed" for e in events) == 1
