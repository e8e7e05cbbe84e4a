"""The interactive reads that ask about one person or referral (`--known-at` views) and `list`,
timed as whole processes on a small and a large ledger with one code tree, and their ratio.

    python benchmarks/views.py --code /work/main SMALL.db BIG.db

Each ledger is copied first (a read may write: catching up the kept rows), and brought up to
date with one `alerts --json` and one `list` before anything is timed. The person is the
requester of the newest referral, the referral that referral, the `--known-at` the
`recorded_at` of the middle event (as benchmarks/run.py picks them).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

COMMANDS = (
    ("alerts --person H --known-at K --json", ("alerts", "--person", "{person}", "--known-at",
                                               "{known_at}", "--json")),
    ("flags --person H --known-at K --json", ("flags", "--person", "{person}", "--known-at",
                                              "{known_at}", "--json")),
    ("flags --referral R --known-at K --json", ("flags", "--referral", "{referral}",
                                                "--known-at", "{known_at}", "--json")),
    ("reputation H --known-at K --json", ("reputation", "{person}", "--known-at", "{known_at}",
                                          "--json")),
    ("due H --known-at K --json", ("due", "{person}", "--known-at", "{known_at}", "--json")),
    ("list --person H --json", ("list", "--person", "{person}", "--json")),
    ("list --person H", ("list", "--person", "{person}")),
    ("list --json", ("list", "--json")),
    ("list", ("list",)),
)  # fmt: skip


def picks(db: Path) -> dict[str, str]:
    """The middle event's `recorded_at`, the newest referral requested by then (a referral
    requested later is unknown at that `--known-at`), and its requester."""
    con = sqlite3.connect(db)
    try:
        (count,) = con.execute("SELECT count(*) FROM rl_log").fetchone()
        (recorded,) = con.execute(
            "SELECT recorded_us FROM rl_log WHERE seq = ?", (max(1, count // 2),)
        ).fetchone()
        referral, person = con.execute(
            "SELECT referral, actor FROM rl_log WHERE type = 'referral-requested' "
            "AND recorded_us <= ? ORDER BY seq DESC LIMIT 1",
            (recorded,),
        ).fetchone()
    finally:
        con.close()
    seconds, micros = divmod(int(recorded), 1_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"
    return {"referral": referral, "person": person, "known_at": stamp, "events": str(count)}


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock seconds of the process, and the CPU seconds (user + system) it used: on a
    machine shared with other work, the CPU time is the steadier figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, env=env, check=False)
    spent = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr[-600:]!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return spent, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, required=True, help="the code tree to run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/views-bench/work"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="time the ledgers where they are, warmed with `list --json` alone: for ledgers "
        "whose kept rows are as they should be already (a `--known-at` view reads none)",
    )
    parser.add_argument(
        "--only", action="append", help="only the figures that start with this (repeatable)"
    )
    parser.add_argument("ledgers", type=Path, nargs="+", help="the smallest first")
    options = parser.parse_args()
    code = options.code.resolve()
    env = {**os.environ, "PYTHONPATH": f"{code}:{code}/plugins"}
    cli = [sys.executable, "-m", "ledger"]
    options.work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, dict[str, float]] = {}
    cpus: dict[str, dict[str, float]] = {}
    sizes = []
    for original in options.ledgers:
        db = original
        if not options.in_place:
            db = options.work / f"{code.name}-{original.name}"
            for stale in options.work.glob(db.name + "*"):
                stale.unlink()
            shutil.copyfile(original, db)
        chosen = picks(db)
        sizes.append(chosen["events"])
        here = {**env, "REFERRAL_LEDGER_DB": str(db)}
        warming = (
            (("list", "--json"),)
            if options.in_place
            else (("alerts", "--json"), ("list", "--json"))
        )
        for warm in warming:
            timed([*cli, *warm], here)  # kept rows up to date, caches hot
        print(f"{original.name}: {chosen}", file=sys.stderr, flush=True)
        for name, args in COMMANDS:
            if options.only and not any(name.startswith(only) for only in options.only):
                continue
            command = [*cli, *(a.format(**chosen) for a in args)]
            found = [timed(command, here) for _ in range(options.runs)]
            spent = statistics.median(wall for wall, _ in found)
            cpu = statistics.median(cpu for _, cpu in found)
            figures.setdefault(name, {})[chosen["events"]] = spent
            cpus.setdefault(name, {})[chosen["events"]] = cpu
            print(f"  {name}: {spent:.3f} s ({cpu:.3f} s CPU)", file=sys.stderr, flush=True)
    print(f"code: {code}; median of {options.runs}; events: {' / '.join(sizes)}")
    print("command: wall-clock seconds at each size, ratio | CPU seconds, ratio")
    for name, by_size in figures.items():
        times = [by_size[size] for size in sizes if size in by_size]
        used = [cpus[name][size] for size in sizes if size in by_size]
        print(
            f"{name:42} "
            + "  ".join(f"{t:7.3f}" for t in times)
            + f"   x{times[-1] / times[0]:.2f} | "
            + "  ".join(f"{t:6.3f}" for t in used)
            + f"   x{used[-1] / used[0]:.2f}"
        )
    if options.json:
        options.json.write_bytes(
            orjson.dumps({"code": str(code), "wall": figures, "cpu": cpus, "sizes": sizes})
        )


if __name__ == "__main__":
    main()
