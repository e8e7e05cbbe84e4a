"""The write path's figures, each against its floor in the same run (issue 17, item 3).

    python benchmarks/write.py import --events 20000 --runs 3   # vs raw sqlite3, CPU and wall
    python benchmarks/write.py pg URL --events 20000            # vs raw psycopg
    python benchmarks/write.py record --events 20000 --runs 200 # one `record` on a used ledger
    python benchmarks/write.py memory --events 1000000          # peak RSS of one `import`

Run it with the code to measure first on PYTHONPATH (the project and its plugins/).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (the floors and the synthetic ledger of benchmarks/run.py)


def bench_import(events: int, runs: int) -> None:
    from ledger.app import Ledger

    lines = run.synthetic(events)
    ours: list[run.Stopwatch] = []
    raw: list[run.Stopwatch] = []
    for _ in range(runs):
        tmp = Path(tempfile.mkdtemp(prefix="rl-write-"))
        ledger = Ledger(str(tmp / "import.db"))
        with run.Stopwatch() as watch:
            assert ledger.import_lines(lines).count == events
        ledger.close()
        ours.append(watch)
        raw.append(run.raw_sqlite_insert(tmp / "raw.db", lines))
    for clock in ("wall", "cpu"):
        mine = statistics.median(getattr(w, clock) for w in ours)
        floor = statistics.median(getattr(w, clock) for w in raw)
        print(
            f"import {events:,} events ({clock}): {events / mine:,.0f} ev/s; raw sqlite3 "
            f"{events / floor:,.0f} ev/s; ratio {floor / mine:.3f} (median of {runs})"
        )


def bench_pg(url: str, events: int, runs: int) -> None:
    import psycopg

    from ledger.app import Ledger

    lines = run.synthetic(events)
    base = url.split("?")[0]
    ratios = []
    for _ in range(runs):
        schema = "wbench_" + uuid.uuid4().hex[:10]
        try:
            ledger = Ledger(f"{url}{'&' if '?' in url else '?'}schema={schema}")
            start = time.perf_counter()
            ledger.import_lines(lines)
            ours = time.perf_counter() - start
            ledger.close()
            floor = run.raw_psycopg_insert(base, schema, lines)
        finally:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        ratios.append(floor / ours)
        print(
            f"PostgreSQL import {events / ours:,.0f} ev/s; raw psycopg {events / floor:,.0f} ev/s"
        )
    print(f"ratio {statistics.median(ratios):.3f} (median of {runs})")


def bench_record(events: int, runs: int) -> None:
    """`Ledger.record` of one event (its own transaction and fsync) on a ledger of `events`."""
    from ledger.app import Ledger

    tmp = Path(tempfile.mkdtemp(prefix="rl-write-"))
    ledger = Ledger(str(tmp / "record.db"))
    ledger.import_lines(run.synthetic(events))
    person = ledger.export_record(next(iter(ledger.store.events(after=0, until=1))))["handle"]
    times = []
    for n in range(runs):
        event = {
            "type": "person-updated",
            "handle": person,
            "company": f"Company {n}",
            "at": "2026-06-01T00:00:00Z",
        }
        start = time.perf_counter()
        ledger.record(event)
        times.append(time.perf_counter() - start)
    ledger.close()
    print(
        f"record one event on a ledger of {events:,}: median {statistics.median(times) * 1000:.2f} "
        f"ms, p90 {sorted(times)[int(runs * 0.9)] * 1000:.2f} ms ({runs} records)"
    )


def bench_memory(events: int) -> None:
    """Peak RSS of `referral-ledger import` of `events` synthetic events, in a child process."""
    tmp = Path(tempfile.mkdtemp(prefix="rl-write-"))
    source = tmp / "events.jsonl"
    with source.open("wb") as out:
        for line in run.synth.lines(events, seed=run.SEED):
            out.write(line + b"\n")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ledger", "--db", str(tmp / "big.db"), "import", str(source)],
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.decode()[-2000:])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(proc.stdout.decode().strip())
    print(f"import of {events:,} events: peak RSS {peak_mb:.0f} MB, {elapsed:.0f} s")
    os.remove(source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("import", "pg", "record", "memory"))
    parser.add_argument("url", nargs="?", help="PostgreSQL URL (for pg)")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.what == "import":
        bench_import(args.events, args.runs)
    elif args.what == "pg":
        bench_pg(args.url, args.events, args.runs)
    elif args.what == "record":
        bench_record(args.events, args.runs)
    else:
        bench_memory(args.events)


if __name__ == "__main__":
    main()
