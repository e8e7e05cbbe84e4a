"""One referral with many follow-ups: the cost of importing it should grow linearly.

    python benchmarks/long_referral.py 1000 2500 5000 10000

Prints, for each length, the import's wall and CPU time, the CPU time per event (flat when
linear) and the CPU time of one more single-event write onto the long referral (which rebuilds
the referral from its events, so it grows with the referral's length).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import orjson

from ledger.app import Ledger

START = 1_600_000_000


def _at(minute: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + minute * 60))


def lines(follow_ups: int) -> list[bytes]:
    events: list[dict[str, object]] = [
        {"type": "person-added", "id": f"p{i}", "handle": h, "name": h.title(), "at": _at(i)}
        for i, h in enumerate(("ana", "bob", "carol"))
    ]
    ref = {"referral": "ana-acme"}
    events.append(
        {"type": "referral-requested", "id": "r0", **ref, "by": "ana", "referrer": "carol"}
        | {"company": "Acme", "at": _at(5)}
    )
    events.append(
        {"type": "introduction-made", "id": "i0", **ref, "by": "carol", "to": "bob", "at": _at(6)}
    )
    for k in range(follow_ups):
        events.append(
            {"type": "follow-up-sent", "id": f"f{k}", **ref, "by": "ana", "to": "carol"}
            | {"at": _at(10 + k), "note": "ping"}
        )
    return [orjson.dumps(e) for e in events]


def main(lengths: list[int]) -> None:
    for n in lengths:
        stream = lines(n)
        with tempfile.TemporaryDirectory() as tmp:
            ledger = Ledger(str(Path(tmp) / "ledger.db"))
            wall, cpu = time.perf_counter(), time.process_time()
            assert ledger.import_lines(stream).count == len(stream)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            one = time.process_time()
            for j in range(20):
                extra = {"type": "follow-up-sent", "id": f"x{j}", "referral": "ana-acme"}
                extra |= {"by": "ana", "to": "carol", "at": "2026-01-01T00:00:00Z"}
                ledger.import_lines([orjson.dumps(extra)])
            one = (time.process_time() - one) / 20
            ledger.close()
        print(
            f"follow-ups={n:6d}  import wall={wall:6.2f}s cpu={cpu:6.2f}s  "
            f"cpu/event={cpu / len(stream) * 1e6:6.1f}us  one more write cpu={one * 1e3:6.1f}ms",
            flush=True,
        )


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1000, 2500, 5000, 10000])
