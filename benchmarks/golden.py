"""Digests of what the ledger prints, to show that a refactor changed nothing a user sees.

    python benchmarks/golden.py build DIR          # the 20,000-event synthetic ledger, once
    python benchmarks/golden.py digest DIR > before.txt
    ... change the code ...
    python benchmarks/golden.py digest DIR > after.txt && diff before.txt after.txt

`digest` runs `export`, `alerts --json`, `flags --json`, `reputation --json` and `audit --json`
(for a spread of referrals, now and `--known-at` a past moment) on copies of two ledgers: the
0.1.0 fixture (`tests/fixtures/old/ledger-0.1.0.db`) and the synthetic ledger `build` made in
DIR. Each line is `sha256  ledger  command`. The synthetic ledger is built once and kept, because
its `recorded_at` times are those of the build: the same file must be read before and after.
Every command runs with a fixed `--as-of`, so the digests do not move with the clock.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import synth

FIXTURE = ROOT / "tests" / "fixtures" / "old" / "ledger-0.1.0.db"
AS_OF = "2031-06-01T00:00:00Z"  # after every synthetic event; before it, times are world times
SYNTH_EVENTS = 20_000
SEED = 42
AUDITS = 12  # referrals audited per ledger, spread over the ledger


def cli(db: Path, *args: str, env: dict[str, str]) -> bytes:
    run = subprocess.run(
        [sys.executable, "-m", "ledger", "--db", str(db), *args],
        capture_output=True,
        env=env,
        check=False,
    )
    if run.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)} failed ({run.returncode}): {run.stderr.decode()[:500]}")
    return run.stdout


def build(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "synthetic.db"
    if db.exists():
        print(f"{db} exists; remove it to build again", file=sys.stderr)
        return db
    source = directory / "synthetic.jsonl"
    source.write_bytes(b"\n".join(synth.lines(SYNTH_EVENTS, seed=SEED)) + b"\n")
    run = subprocess.run(
        [sys.executable, "-m", "ledger", "--db", str(db), "import", str(source)],
        env=isolated_env(directory),
        check=False,
    )
    if run.returncode:
        sys.exit("import failed")
    return db


def isolated_env(directory: Path) -> dict[str, str]:
    home = directory / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFERRAL_LEDGER")}
    env.update(
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        HOME=str(home),
    )
    return env


def digest(directory: Path) -> None:
    env = isolated_env(directory)
    ledgers = {"0.1.0-fixture": FIXTURE, "synthetic-20k": directory / "synthetic.db"}
    with tempfile.TemporaryDirectory() as tmp:
        for name, original in ledgers.items():
            if not original.exists():
                sys.exit(f"{original} is missing: run `golden.py build {directory}` first")
            db = Path(tmp) / f"{name}.db"
            shutil.copyfile(original, db)
            export = cli(db, "export", env=env)
            events = [orjson.loads(line) for line in export.splitlines()]
            referrals = sorted({e["referral"] for e in events if e["type"] == "referral-requested"})
            step = max(1, len(referrals) // AUDITS)
            chosen = referrals[::step][:AUDITS]
            middle = events[len(events) // 2]["recorded_at"]
            commands: list[tuple[str, ...]] = [
                ("export",),
                ("alerts", "--json", "--as-of", AS_OF),
                ("flags", "--json", "--as-of", AS_OF),
                ("reputation", "--json", "--as-of", AS_OF),
                ("alerts", "--json", "--as-of", AS_OF, "--known-at", middle),
                ("flags", "--json", "--as-of", AS_OF, "--known-at", middle),
                ("reputation", "--json", "--as-of", AS_OF, "--known-at", middle),
            ]
            for referral in chosen:
                commands.append(("audit", referral, "--json", "--as-of", AS_OF))
                commands.append(("audit", referral, "--json", "--as-of", AS_OF, "--known-at", middle))
            for args in commands:
                out = cli(db, *args, env=env)
                print(f"{hashlib.sha256(out).hexdigest()}  {name}  {' '.join(args)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("build", "digest"))
    parser.add_argument("directory", type=Path)
    args = parser.parse_args()
    if args.action == "build":
        print(build(args.directory))
    else:
        digest(args.directory)


if __name__ == "__main__":
    main()
