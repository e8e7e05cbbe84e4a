"""How long an import and the first read after it take, and the `replay` command.

Run it with the code to measure on PYTHONPATH, as absolute paths (the CLI runs in child
processes, which inherit it), for example before and after a change:

    PYTHONPATH=/work/main:/work/main/plugins python benchmarks/replay.py --events 100000
    PYTHONPATH=$PWD:$PWD/plugins python benchmarks/replay.py --events 100000

Each command runs in a fresh child process on a fresh copy of the same ledger; the figures are
medians of `--runs` runs, wall and CPU (the child's user + system time: steadier on a shared
machine). The first read after the import (`alerts`) is where the catch-up of the plugins'
derived state lands when the import leaves it behind; import + first read is the total a user
waits for.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth

SEED = 7


def timed(args: Sequence[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one child process running the CLI with `args`. It runs in
    `cwd`, a directory without the project: `python -m` looks in the working directory
    first, and the code measured must be the one on PYTHONPATH."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=cwd,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


CATCH_UP = """
import sys, time
from ledger.app import Ledger
from ledger.projections import catch_up
ledger = Ledger(sys.argv[1])
with ledger.store.write() as cur:
    cur.run("DELETE FROM {p}rl_rows")
    cur.run("DELETE FROM {p}rl_positions")
def fail(error):
    raise error
wall, cpu = time.perf_counter(), time.process_time()
catch_up(ledger, on_error=fail)
print(time.perf_counter() - wall, time.process_time() - cpu)
"""


def catch_up_from_scratch(db: Path, cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of catching every projection up from the first event (what
    `replay` rebuilds, and what the first read after an import did before it caught up), on a
    copy of the ledger, in a child process."""
    copy = db.with_name("catch-up.db")
    with (
        contextlib.closing(sqlite3.connect(db)) as source,
        contextlib.closing(sqlite3.connect(copy)) as target,
    ):
        source.backup(target)  # the WAL's pages too
    found = subprocess.run(
        [sys.executable, "-c", CATCH_UP, str(copy)],
        check=True,
        capture_output=True,
        cwd=cwd,
    )
    copy.unlink()
    wall, cpu = found.stdout.split()
    return float(wall), float(cpu)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--replay", action="store_true", help="also time the replay command")
    parser.add_argument(
        "--catch-up",
        action="store_true",
        help="also time a catch-up of every projection from the first event, in-process",
    )
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as tmp:
        jsonl = Path(tmp) / "events.jsonl"
        with jsonl.open("wb") as out:
            for line in synth.lines(options.events, seed=SEED):
                out.write(line + b"\n")
        figures: dict[str, list[tuple[float, float]]] = {}
        for _ in range(options.runs):
            db = Path(tmp) / "ledger.db"
            for stale in Path(tmp).glob("ledger.db*"):
                stale.unlink()
            steps = [
                ("import", ["--db", str(db), "import", str(jsonl)]),
                ("first read (alerts)", ["--db", str(db), "alerts"]),
                ("second read (alerts)", ["--db", str(db), "alerts"]),
            ]
            if options.replay:
                steps.append(("replay", ["--db", str(db), "replay"]))
            for name, args in steps:
                figures.setdefault(name, []).append(timed(args, Path(tmp)))
            if options.catch_up:
                figures.setdefault("catch-up from scratch", []).append(
                    catch_up_from_scratch(db, Path(tmp))
                )
        total = [
            (a[0] + b[0], a[1] + b[1])
            for a, b in zip(figures["import"], figures["first read (alerts)"], strict=True)
        ]
        figures["import + first read"] = total
        print(f"{options.events:,} synthetic events, medians of {options.runs} runs")
        print(f"{'step':<24}{'wall s':>10}{'cpu s':>10}")
        for name, values in figures.items():
            wall = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[1] for v in values)
            print(f"{name:<24}{wall:>10.2f}{cpu:>10.2f}")


if __name__ == "__main__":
    main()
