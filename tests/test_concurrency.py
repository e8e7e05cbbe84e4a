"""Many writers at once: eight processes record and import into one ledger, on each backend.

Nothing is lost or duplicated, `seq` stays gapless and the chain verifies; an id submitted by
several writers at the same moment is stored exactly once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from conftest import check_chain

from ledger.app import Ledger

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
WRITERS = 8
PER_WRITER = 500
SHARED = 20

# One writer: 450 events as 45 imports of 10, the last 50 as single records; between its first
# chunks it also submits every shared event (the same ids as every other writer).
WORKER = """
import sys
sys.path.insert(0, sys.argv[1])
import orjson
from synth import lines
from ledger.app import Ledger

db, prefix, per_writer, shared = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
shared_events = [orjson.loads(line) for line in open(shared, "rb")]
own = list(lines(per_writer, seed=7, prefix=prefix))
ledger = Ledger(db)
cut = per_writer - 50
for n, start in enumerate(range(0, cut, 10)):
    ledger.import_lines(own[start:start + 10])
    if n < len(shared_events):
        ledger.record(dict(shared_events[n]))
for line in own[cut:]:
    ledger.record(orjson.loads(line))
ledger.close()
"""


def _shared_events() -> list[dict[str, Any]]:
    return [
        {
            "type": "person-added",
            "id": f"shared-{n}",
            "handle": f"shared{n}",
            "name": f"Shared Person {n}",
            "at": "2021-01-01T00:00:00Z",
        }
        for n in range(SHARED)
    ]


def test_eight_writers_lose_nothing_and_duplicate_nothing(db: str, tmp_path: Path) -> None:
    shared = tmp_path / "shared.jsonl"
    shared.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in _shared_events()))
    Ledger(db).close()  # create the tables, as a first `record` would

    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(BENCHMARKS),
                db,
                f"w{n}-",
                str(PER_WRITER),
                str(shared),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(WRITERS)
    ]
    failures = []
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            failures.append(err.decode()[-2000:])
    assert not failures, failures

    ledger = Ledger(db)
    try:
        total = WRITERS * PER_WRITER + SHARED
        assert ledger.store.count() == total
        assert ledger.store.stored_event_count() == total
        assert [int(row["seq"]) for row, _ in check_chain(ledger)] == list(range(1, total + 1))
        ids = [event["id"] for event in ledger.export()]
        expected = {f"w{n}-e{i:08d}" for n in range(WRITERS) for i in range(PER_WRITER)}
        expected |= {f"shared-{n}" for n in range(SHARED)}
        assert len(ids) == len(set(ids)) == total
        assert set(ids) == expected
    finally:
        ledger.close()
    verify = subprocess.run(
        [sys.executable, "-m", "ledger", "--db", db, "verify", "--json"],
        capture_output=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    verdict = orjson.loads(verify.stdout)
    assert verdict["ok"] is True and verdict["events"] == total


def test_first_opening_by_many_processes_at_once(db: str) -> None:
    """Several processes creating the ledger's tables at the same moment all succeed."""
    code = "import sys; from ledger.app import Ledger; Ledger(sys.argv[1]).close()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, db], stderr=subprocess.PIPE) for _ in range(6)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs if p.wait() != 0]
    assert not errors, errors
    ledger = Ledger(db)
    try:
        assert ledger.store.count() == 0
    finally:
        ledger.close()
