"""`audit REF --json` at a large and a small ledger, and `verify`, in one run (issue 17, item 1).

    PYTHONPATH=. python benchmarks/merkle.py --big BIG.db --big-key r19061 \
        --small SMALL.db --small-key r10 --runs 5

Each ledger is copied first (the first open of a ledger of 0.1 builds its Merkle tree: that
one open is timed and printed apart). Prints the median wall time of each command and the
ratio big/small of `audit`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)}: {proc.returncode} {proc.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", required=True)
    parser.add_argument("--big-key", required=True)
    parser.add_argument("--small", required=True)
    parser.add_argument("--small-key", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--verify-runs", type=int, default=1)
    options = parser.parse_args()
    cli = [sys.executable, "-m", "ledger"]
    with tempfile.TemporaryDirectory() as tmp:
        figures = {}
        for name, source, key in (
            ("small", options.small, options.small_key),
            ("big", options.big, options.big_key),
        ):
            db = str(Path(tmp) / f"{name}.db")
            shutil.copyfile(source, db)
            first = timed([*cli, "--db", db, "info", "--json"])
            print(f"{name}: first open (info --json, builds a missing tree): {first:.3f} s")
            for label, extra in (("--json", ["--json"]), ("(text)", [])):
                audit = [*cli, "--db", db, "audit", key, *extra]
                timed(audit)  # warm the page cache
                runs = [timed(audit) for _ in range(options.runs)]
                figures[name, label] = statistics.median(runs)
                print(
                    f"{name}: audit {key} {label} median of {options.runs}: "
                    f"{figures[name, label]:.3f} s ({', '.join(f'{r:.3f}' for r in runs)})"
                )
            verify = [
                timed([*cli, "--db", db, "verify", "--json"]) for _ in range(options.verify_runs)
            ]
            print(
                f"{name}: verify --json median of {options.verify_runs}: "
                f"{statistics.median(verify):.3f} s"
            )
            Path(db).unlink()
        for label in ("--json", "(text)"):
            ratio = figures["big", label] / figures["small", label]
            print(f"audit {label} big/small: {ratio:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
