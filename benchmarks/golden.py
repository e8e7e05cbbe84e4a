"""Digests of what the ledger prints, to show that a refactor changed nothing a user sees.

    python benchmarks/golden.py build DIR          # the 20,000-event synthetic ledger, once
    python benchmarks/golden.py digest DIR > before.txt
    ... change the code ...
    python benchmarks/golden.py digest DIR > after.txt && diff before.txt after.txt
    python benchmarks/golden.py digest DIR --pg postgresql://postgres@127.0.0.1:5432/test

`digest` runs `export`, `verify --json`, `alerts --json`, `flags --json`, `reputation --json`,
`list --json` and `audit --json` (for a spread of referrals and people, now and `--known-at` a
past moment) on copies of two ledgers: the 0.1.0 fixture (`tests/fixtures/old/ledger-0.1.0.db`)
and the synthetic ledger `build` made in DIR, in four imports so that `--known-at` has a past to
look at. Each line is `sha256  ledger  command`. The synthetic ledger is built once and kept,
because its `recorded_at` times are those of the build: the same file must be read before and
after. Every command runs with a fixed `--as-of`, so the digests do not move with the clock.
With `--pg URL`, each ledger is restored from its export into a new PostgreSQL schema (the
export keeps every `recorded_at` and hash) and the same commands run there.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
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
PEOPLE = 6  # people whose alerts, flags, reputation and referrals are asked for
IMPORTS = 4  # the synthetic ledger is built in this many imports: four `recorded_at` moments


def cli(db: Path | str, *args: str, env: dict[str, str], refused: bool = False) -> bytes:
    """What the command prints; with `refused`, a refusal (exit 2) is an answer too: its
    message is what is digested."""
    run = subprocess.run(
        [sys.executable, "-m", "ledger", "--db", str(db), *args],
        capture_output=True,
        env=env,
        check=False,
    )
    if refused and run.returncode == 2:
        return b"exit 2: " + run.stderr
    if run.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)} failed ({run.returncode}): {run.stderr.decode()[:500]}")
    return run.stdout


def build(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "synthetic.db"
    if db.exists():
        print(f"{db} exists; remove it to build again", file=sys.stderr)
        return db
    lines = list(synth.lines(SYNTH_EVENTS, seed=SEED))
    step = len(lines) // IMPORTS + 1
    for part in range(IMPORTS):
        source = directory / f"synthetic-{part}.jsonl"
        source.write_bytes(b"\n".join(lines[part * step : (part + 1) * step]) + b"\n")
        run = subprocess.run(
            [sys.executable, "-m", "ledger", "--db", str(db), "-q", "import", str(source)],
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


def digest(directory: Path, pg: str | None = None) -> None:
    env = isolated_env(directory)
    ledgers = {"0.1.0-fixture": FIXTURE, "synthetic-20k": directory / "synthetic.db"}
    with tempfile.TemporaryDirectory() as tmp:
        for name, original in ledgers.items():
            if not original.exists():
                sys.exit(f"{original} is missing: run `golden.py build {directory}` first")
            db: Path | str = Path(tmp) / f"{name}.db"
            shutil.copyfile(original, db)
            if pg is None:
                run_commands(name, db, env)
                continue
            export = Path(tmp) / f"{name}.jsonl"
            export.write_bytes(cli(db, "export", env=env))
            schema = "golden_" + uuid.uuid4().hex[:10]
            url = f"{pg}{'&' if '?' in pg else '?'}schema={schema}"
            try:
                cli(url, "-q", "import", str(export), env=env)
                run_commands(f"{name}-postgresql", url, env)
            finally:
                import psycopg

                with psycopg.connect(pg.split("?")[0], autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_commands(name: str, db: Path | str, env: dict[str, str]) -> None:
    export = cli(db, "export", env=env)
    events = [orjson.loads(line) for line in export.splitlines()]
    referrals = sorted({e["referral"] for e in events if e["type"] == "referral-requested"})
    chosen = referrals[:: max(1, len(referrals) // AUDITS)][:AUDITS]
    people = sorted({e["handle"] for e in events if e["type"] == "person-added"})
    who = people[:: max(1, len(people) // PEOPLE)][:PEOPLE]
    moments = sorted({e["recorded_at"] for e in events})
    middle = (
        moments[len(moments) // 2] if len(moments) > 1 else events[len(events) // 2]["recorded_at"]
    )
    commands: list[tuple[str, ...]] = [
        ("export",),
        ("verify", "--json"),
        ("alerts", "--json", "--as-of", AS_OF),
        ("flags", "--json", "--as-of", AS_OF),
        ("reputation", "--json", "--as-of", AS_OF),
        ("list", "--json"),
        ("alerts", "--json", "--as-of", AS_OF, "--known-at", middle),
        ("flags", "--json", "--as-of", AS_OF, "--known-at", middle),
        ("reputation", "--json", "--as-of", AS_OF, "--known-at", middle),
    ]
    for person in who:
        commands.append(("alerts", "--json", "--person", person, "--as-of", AS_OF))
        for known_at in (middle, moments[0]):
            commands.append(
                ("alerts", "--json", "--person", person, "--as-of", AS_OF, "--known-at", known_at)
            )
            commands.append(
                ("flags", "--json", "--person", person, "--as-of", AS_OF, "--known-at", known_at)
            )
            commands.append(
                ("reputation", person, "--json", "--as-of", AS_OF, "--known-at", known_at)
            )
        commands.append(("list", "--json", "--person", person))
    for referral in chosen:
        commands.append(("audit", referral, "--json", "--as-of", AS_OF))
        commands.append(("audit", referral, "--json", "--as-of", AS_OF, "--known-at", middle))
        commands.append(
            ("flags", "--json", "--referral", referral, "--as-of", AS_OF, "--known-at", middle)
        )
    for args in commands:
        out = cli(db, *args, env=env, refused=True)
        print(f"{hashlib.sha256(out).hexdigest()}  {name}  {' '.join(args)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("build", "digest"))
    parser.add_argument("directory", type=Path)
    parser.add_argument("--pg", metavar="URL", help="run the digests on PostgreSQL as well")
    args = parser.parse_args()
    if args.action == "build":
        print(build(args.directory))
    else:
        digest(args.directory)
        if args.pg:
            digest(args.directory, args.pg)


if __name__ == "__main__":
    main()
