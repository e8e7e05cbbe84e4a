"""Benchmarks of referral-ledger, each against a floor measured in the same run.

    python benchmarks/run.py                      # every figure (the big ledgers are built once)
    python benchmarks/run.py --only interactive   # audit, alerts/flags --known-at, list: 50/20k/200k
    python benchmarks/run.py --events 5000 --big 20000 --sizes 50,2000 --first-read 5000 \
        --import-events 20000                     # a quick run
    python benchmarks/run.py --pg postgresql://postgres@127.0.0.1:5432/test

Prints one line per figure: ours, the baseline, their ratio and the target. The big ledger
(for `alerts` after one new event and for peak memory) takes a while to build the first time;
it is kept under the temporary directory and reused while the synthetic data is the same.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth

CACHE = Path(tempfile.gettempdir()) / "referral-ledger-bench"
SYNTH_VERSION = "1"  # bump when synth.py changes what it generates
SEED = 42
CHUNK = 50_000  # events per import when building the big ledger


# -- output -------------------------------------------------------------------------------------

ROWS: list[dict[str, Any]] = []


def report(
    name: str,
    ours: float,
    baseline: float,
    unit: str,
    *,
    higher_is_better: bool,
    target: float | None,
    note: str = "",
) -> None:
    """One figure: the ratio is ours/baseline; `target` bounds it (≥ when higher is better)."""
    ratio = ours / baseline if baseline else float("nan")
    if target is None:
        verdict = ""
    elif higher_is_better:
        verdict = "met" if ratio >= target else "NOT MET"
    else:
        verdict = "met" if ratio <= target else "NOT MET"
    bound = "" if target is None else (f">= {target:g}" if higher_is_better else f"<= {target:g}")
    ROWS.append(
        {
            "name": name,
            "ours": ours,
            "baseline": baseline,
            "unit": unit,
            "ratio": ratio,
            "target": bound,
            "verdict": verdict,
            "note": note,
        }
    )
    print(
        f"{name:<64} {_fmt(ours):>10} {_fmt(baseline):>10} {unit:<8} {ratio:>7.2f} "
        f"{bound:>7} {verdict:<8} {note}",
        flush=True,
    )


def report_absolute(name: str, value: float, unit: str, limit: float, note: str = "") -> None:
    verdict = "met" if value < limit else "NOT MET"
    ROWS.append(
        {
            "name": name,
            "ours": value,
            "unit": unit,
            "target": f"< {limit:g}",
            "verdict": verdict,
            "note": note,
        }
    )
    print(
        f"{name:<64} {_fmt(value):>10} {'':>10} {unit:<8} {'':>7} {'< ' + format(limit, 'g'):>7} "
        f"{verdict:<8} {note}",
        flush=True,
    )


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def header(title: str) -> None:
    print(f"\n{title}", flush=True)
    print(
        f"{'figure':<64} {'ours':>10} {'baseline':>10} {'unit':<8} {'ratio':>7} {'target':>7}",
        flush=True,
    )


# -- helpers --------------------------------------------------------------------------------------


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "referral-ledger"
    if script.exists():
        return [str(script)]
    found = shutil.which("referral-ledger")
    return [found] if found else [sys.executable, "-m", "ledger"]


def run_timed(
    args: Sequence[str], *, env: dict[str, str] | None = None, ok: Sequence[int] = (0,)
) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(
            f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()[-800:]}"
        )
    return elapsed


def median_time(args: Sequence[str], runs: int, **kwargs: Any) -> float:
    return statistics.median(run_timed(args, **kwargs) for _ in range(runs))


def synthetic(count: int) -> list[bytes]:
    return list(synth.lines(count, seed=SEED))


def reset_projections(ledger: Any) -> None:
    with ledger.store.write() as cur:
        cur.run("DELETE FROM {p}rl_rows")
        cur.run("DELETE FROM {p}rl_positions")


class Stopwatch:
    """Wall and CPU seconds of a block. CPU time is the steadier figure on a shared machine."""

    def __enter__(self) -> Self:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def replay(ledger: Any) -> Stopwatch:
    """Rebuild every registered projection from the first event."""
    from ledger.projections import catch_up

    reset_projections(ledger)
    with Stopwatch() as watch:
        catch_up(ledger, on_error=_raise)
    return watch


def _raise(error: BaseException) -> None:
    raise error


# -- import and replay on SQLite ------------------------------------------------------------------


def raw_sqlite_insert(path: Path, lines: list[bytes]) -> Stopwatch:
    """The floor: decode each line and insert it, all in one transaction, same durability."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, "
        "type TEXT NOT NULL, at TEXT NOT NULL, data BLOB NOT NULL)"
    )
    with Stopwatch() as watch:
        conn.execute("BEGIN IMMEDIATE")
        rows = []
        for seq, line in enumerate(lines, start=1):
            event = json.loads(line)
            rows.append((seq, event["id"], event["type"], event["at"], line))
        conn.executemany("INSERT INTO events VALUES (?,?,?,?,?)", rows)
        conn.execute("COMMIT")
    conn.close()
    return watch


def raw_sqlite_read(path: Path) -> tuple[Stopwatch, int]:
    """The floor: read every stored event of our ledger and JSON-decode it."""
    conn = sqlite3.connect(path)
    count = 0
    with Stopwatch() as watch:
        for (state,) in conn.execute("SELECT state FROM stored_events ORDER BY rowid"):
            json.loads(state)
            count += 1
    conn.close()
    return watch, count


def bench_sqlite(events: int, tmp: Path) -> None:
    from ledger.app import Ledger

    header(f"SQLite, {events:,} synthetic events")
    lines = synthetic(events)
    db = tmp / "import.db"
    ledger = Ledger(str(db))
    with Stopwatch() as ours:
        result = ledger.import_lines(lines)
    # the count, not `stored`: building 20,000 export records here would slow the baseline
    assert result.count == events
    raw = raw_sqlite_insert(tmp / "raw.db", lines)
    for clock in ("wall", "cpu"):
        report(
            f"import (events/s, {clock}) vs raw sqlite3 insert",
            events / getattr(ours, clock),
            events / getattr(raw, clock),
            "ev/s",
            higher_is_better=True,
            target=0.25,
        )

    ours = replay(ledger)
    ledger.close()
    raw, count = raw_sqlite_read(db)
    for clock in ("wall", "cpu"):
        report(
            f"replay all projections (events/s, {clock}) vs read+decode",
            events / getattr(ours, clock),
            count / getattr(raw, clock),
            "ev/s",
            higher_is_better=True,
            target=0.25,
        )


# -- PostgreSQL ------------------------------------------------------------------------------------


def raw_psycopg_insert(base: str, schema: str, lines: list[bytes]) -> float:
    """The floor: seconds to decode each line and insert it into a table of `schema`, in one
    transaction, with psycopg's `executemany`."""
    import psycopg

    with psycopg.connect(base) as conn:
        conn.execute(
            f'CREATE TABLE "{schema}".raw_events (seq bigint PRIMARY KEY, id text UNIQUE NOT NULL, '
            "type text NOT NULL, at text NOT NULL, data bytea NOT NULL)"
        )
        conn.commit()
        start = time.perf_counter()
        rows = []
        for seq, line in enumerate(lines, start=1):
            event = json.loads(line)
            rows.append((seq, event["id"], event["type"], event["at"], line))
        with conn.cursor() as cur:
            cur.executemany(f'INSERT INTO "{schema}".raw_events VALUES (%s,%s,%s,%s,%s)', rows)
        conn.commit()
        return time.perf_counter() - start


def bench_postgres(events: int, url: str) -> None:
    import psycopg

    from ledger.app import Ledger

    header(f"PostgreSQL, {events:,} synthetic events")
    schema = "bench_" + uuid.uuid4().hex[:10]
    sep = "&" if "?" in url else "?"
    base = url.split("?")[0]
    lines = synthetic(events)
    try:
        ledger = Ledger(f"{url}{sep}schema={schema}")
        start = time.perf_counter()
        ledger.import_lines(lines)
        ours = time.perf_counter() - start
        raw = raw_psycopg_insert(base, schema, lines)
        report(
            "import (events/s) vs raw psycopg insert",
            events / ours,
            events / raw,
            "ev/s",
            higher_is_better=True,
            target=0.3,
        )

        ours = replay(ledger).wall
        events_table = ledger.store.events_table
        ledger.close()
        with psycopg.connect(base) as conn:
            start = time.perf_counter()
            count = 0
            with conn.cursor(name="scan") as cur:
                cur.itersize = 2000
                cur.execute(f"SELECT state FROM {events_table} ORDER BY notification_id")
                for (state,) in cur:
                    json.loads(state)
                    count += 1
            raw = time.perf_counter() - start
        report(
            "replay all projections (events/s) vs read+decode",
            events / ours,
            count / raw,
            "ev/s",
            higher_is_better=True,
            target=0.25,
        )
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- the CLI: startup, and `alerts` after one new event --------------------------------------------


def cpu_time(args: Sequence[str], runs: int, env: dict[str, str]) -> float:
    """Median CPU seconds (user + system) of a command: steadier than wall time on a busy box."""
    import resource

    times = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(args, capture_output=True, env=env, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(times)


def compile_project() -> None:
    """Write the project's bytecode, as installing a wheel does and as any first run would.

    An editable install leaves the sources uncompiled, and with PYTHONDONTWRITEBYTECODE set
    (it is, on some machines) every start would compile them again while click, the baseline,
    loads its compiled files: that compares compiling with loading, not our start-up."""
    import compileall
    import importlib.util

    for name in ("ledger", "ledger_commands", "ledger_alerts", "ledger_flags", "ledger_reputation"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                compileall.compile_dir(folder, quiet=1)


def bench_startup(runs: int) -> None:
    header(f"Command-line startup (whole process, median of {runs})")
    compile_project()
    cli = cli_command()
    env = {**os.environ, "REFERRAL_LEDGER_DB": str(CACHE / "unused.db")}
    click_only = median_time([sys.executable, "-c", "import click"], runs, env=env)
    ours = median_time([*cli, "--help"], runs, env=env)
    click_cpu = cpu_time([sys.executable, "-c", "import click"], runs, env)
    ours_cpu = cpu_time([*cli, "--help"], runs, env)
    report(
        "--help (s) vs python -c 'import click'",
        ours,
        click_only,
        "s",
        higher_is_better=False,
        target=1.5,
    )
    report(
        "--help (CPU s) vs python -c 'import click'",
        ours_cpu,
        click_cpu,
        "s",
        higher_is_better=False,
        target=1.5,
        # Where the kernel samples CPU time in scheduler ticks (4 ms on some machines), this
        # row swings more than the wall-clock one.
        note="(CPU time of a short process: compare with the wall row)",
    )


def build_big(count: int) -> Path:
    """A ledger of `count` synthetic events with its projections caught up, built once."""
    from ledger.app import Ledger
    from ledger.projections import catch_up

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"ledger-{count}-s{SEED}-v{SYNTH_VERSION}.db"
    done = path.with_suffix(".done")
    if done.exists() and path.exists():
        return path
    for stale in CACHE.glob(path.name + "*"):
        stale.unlink()
    print(f"  building a {count:,}-event ledger at {path} (once) ...", file=sys.stderr, flush=True)
    ledger = Ledger(str(path))
    start = time.perf_counter()
    chunk: list[bytes] = []
    for line in synth.lines(count, seed=SEED):
        chunk.append(line)
        if len(chunk) == CHUNK:
            ledger.import_lines(chunk)
            chunk = []
    if chunk:
        ledger.import_lines(chunk)
    built = time.perf_counter() - start
    start = time.perf_counter()
    catch_up(ledger, on_error=_raise)
    caught_up = time.perf_counter() - start
    ledger.close()
    print(
        f"  imported in {built:.0f} s, projections in {caught_up:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    done.write_text(f"{built:.1f} {caught_up:.1f}\n")
    return path


def last_referral(db: Path) -> tuple[str, str, str]:
    """(key, requester, referrer) of the newest referral."""
    from ledger.app import Ledger

    ledger = Ledger(str(db))
    try:
        with ledger.store.read() as cur:
            row = cur.one(
                "SELECT event_id FROM {p}rl_log WHERE type = 'referral-requested' "
                "ORDER BY seq DESC LIMIT 1"
            )
        event = ledger.event(row["event_id"])
        assert event is not None
        return event["referral"], event["by"], event["referrer"]
    finally:
        ledger.close()


ALERT_COMMANDS = (
    # (figure, arguments after the program, acceptable exit statuses)
    ("alerts --person HANDLE --json (s)", ("alerts", "--person", "{requester}", "--json"), (0,)),
    ("alerts --check --quiet (s)", ("alerts", "--check", "--quiet"), (0, 1)),
    ("alerts --check, printing every alert (s)", ("alerts", "--check"), (0, 1)),
)


def alerts_after_one_event(db: Path, runs: int) -> list[float]:
    """Median seconds of each of ALERT_COMMANDS, each run right after a new event was recorded
    (so the incremental state has one event to catch up)."""
    cli = cli_command()
    key, requester, referrer = last_referral(db)
    env = {**os.environ, "REFERRAL_LEDGER_DB": str(db)}
    run_timed([*cli, "alerts", "--json"], env=env)  # warm: projections up to date, caches hot
    times: list[list[float]] = [[] for _ in ALERT_COMMANDS]
    for _ in range(runs):
        for spent, (_, args, ok) in zip(times, ALERT_COMMANDS, strict=True):
            event = {
                "type": "follow-up-sent",
                "referral": key,
                "by": referrer,
                "to": requester,
                "id": "bench-" + uuid.uuid4().hex,
                "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            run_timed([*cli, "record", json.dumps(event)], env=env)
            command = [arg.format(requester=requester) for arg in args]
            spent.append(run_timed([*cli, *command], env=env, ok=ok))
    return [statistics.median(spent) for spent in times]


def count_alerts(db: Path) -> int:
    proc = subprocess.run(
        [*cli_command(), "alerts", "--json"],
        capture_output=True,
        env={**os.environ, "REFERRAL_LEDGER_DB": str(db)},
        check=True,
    )
    return len(json.loads(proc.stdout))


def bench_alerts(big: int, runs: int, tmp: Path) -> Path:
    big_db = build_big(big)
    small_db = tmp / "small.db"
    from ledger.app import Ledger

    ledger = Ledger(str(small_db))
    ledger.import_lines(synthetic(50))
    ledger.close()
    header(
        f"`alerts` right after one new event, {big:,} vs 50 events (whole process, median of {runs})"
    )
    small = alerts_after_one_event(small_db, runs)
    large = alerts_after_one_event(big_db, runs)
    overdue = (count_alerts(small_db), count_alerts(big_db))
    for (name, _, _), ours, baseline in zip(ALERT_COMMANDS, large, small, strict=True):
        note = ""
        if "printing" in name:
            note = f"(prints {overdue[1]:,} alerts against {overdue[0]:,}: grows with the output)"
        report(name, ours, baseline, "s", higher_is_better=False, target=2, note=note)
    return big_db


# -- interactive commands at any size --------------------------------------------------------------

SIZES = (50, 20_000, 200_000)

INTERACTIVE = (
    # (figure, arguments after the program)
    ("audit REF --json", ("audit", "{referral}", "--json")),
    ("audit REF (text)", ("audit", "{referral}")),
    (
        "alerts --person H --known-at K --json",
        ("alerts", "--person", "{person}", "--known-at", "{known_at}", "--json"),
    ),
    (
        "flags --person H --known-at K --json",
        ("flags", "--person", "{person}", "--known-at", "{known_at}", "--json"),
    ),
    (
        "flags --referral R --known-at K --json",
        ("flags", "--referral", "{referral}", "--known-at", "{known_at}", "--json"),
    ),
    (
        "reputation H --known-at K --json",
        ("reputation", "{person}", "--known-at", "{known_at}", "--json"),
    ),
    ("list --person H --json", ("list", "--person", "{person}", "--json")),
    ("list", ("list",)),
)


def small_ledger(count: int, tmp: Path) -> Path:
    """A ledger of `count` synthetic events, imported in one command, projections caught up."""
    from ledger.app import Ledger
    from ledger.projections import catch_up

    path = tmp / f"ledger-{count}.db"
    if not path.exists():
        ledger = Ledger(str(path))
        ledger.import_lines(synthetic(count))
        catch_up(ledger, on_error=_raise)
        ledger.close()
    return path


def middle_moment(db: Path) -> tuple[str, str, str]:
    """A `recorded_at` inside the ledger's history (the middle event's), for `--known-at`, and
    the key and requester of the newest referral requested by then."""
    from ledger.app import Ledger

    ledger = Ledger(str(db))
    try:
        with ledger.store.read() as cur:
            count = cur.one("SELECT count(*) AS n FROM {p}rl_log")["n"]
            middle = max(1, int(count) // 2)
            row = cur.one("SELECT event_id FROM {p}rl_log WHERE seq = ?", (middle,))
            request = cur.one(
                "SELECT event_id FROM {p}rl_log WHERE type = 'referral-requested' AND seq <= ? "
                "ORDER BY seq DESC LIMIT 1",
                (middle,),
            )
        event = ledger.event(row["event_id"])
        requested = ledger.event(request["event_id"])
        assert event is not None and requested is not None
        return event["recorded_at"], requested["referral"], requested["by"]
    finally:
        ledger.close()


def interactive_times(db: Path, runs: int) -> list[float]:
    cli = cli_command()
    newest, requester, _ = last_referral(db)
    known_at, referral, person = middle_moment(db)
    env = {**os.environ, "REFERRAL_LEDGER_DB": str(db)}
    run_timed([*cli, "alerts", "--json"], env=env)  # projections up to date, caches hot
    found = []
    for _, args in INTERACTIVE:
        # the newest referral and its requester for what reads now; for what reads
        # `--known-at` the middle of the ledger's history, a referral and a person known by then
        names = {"referral": referral, "person": person, "known_at": known_at}
        if "{known_at}" not in args:
            names.update(referral=newest, person=requester)
        command = [a.format(**names) for a in args]
        run_timed([*cli, *command], env=env)  # warm the page cache
        found.append(median_time([*cli, *command], runs, env=env))
    return found


def bench_interactive(sizes: Sequence[int], runs: int, tmp: Path) -> None:
    """Each interactive command on ledgers of every size, against the same command at the
    smallest: the target is that none grows past twice its time on the small ledger."""
    header(
        "Interactive commands at any size: "
        + " / ".join(f"{n:,}" for n in sizes)
        + f" events (whole process, median of {runs})"
    )
    ledgers = [small_ledger(n, tmp) if n <= 20_000 else build_big(n) for n in sizes]
    times = [interactive_times(db, runs) for db in ledgers]
    for i, (name, _) in enumerate(INTERACTIVE):
        base = times[0][i]
        for size, spent in zip(sizes[1:], times[1:], strict=True):
            note = ""
            if name == "list":
                note = "(prints every referral: the output grows with the ledger)"
            report(
                f"{name} (s) at {size:,} vs {sizes[0]:,} events",
                spent[i],
                base,
                "s",
                higher_is_better=False,
                target=2,
                note=note,
            )


def bench_first_read(events: int, runs: int, tmp: Path) -> None:
    """`import` of `events` events in one command, then the first read: the read should not
    pay for catching the projections up (the import brings them up to date)."""
    header(f"The first read after one `import` of {events:,} events, vs after 50 (whole process)")
    cli = cli_command()
    figures = []
    for count in (50, events):
        source = tmp / f"first-read-{count}.jsonl"
        source.write_bytes(b"".join(line.rstrip(b"\n") + b"\n" for line in synthetic(count)))
        spent_import, spent_read = [], []
        for attempt in range(runs):
            db = tmp / f"first-read-{count}-{attempt}.db"
            env = {**os.environ, "REFERRAL_LEDGER_DB": str(db)}
            spent_import.append(run_timed([*cli, "-q", "import", str(source)], env=env))
            spent_read.append(run_timed([*cli, "alerts", "--json"], env=env))
            for stale in tmp.glob(db.name + "*"):
                stale.unlink()
        figures.append((statistics.median(spent_import), statistics.median(spent_read)))
    (_, small_read), (big_import, big_read) = figures
    report(
        f"first `alerts --json` after importing {events:,} (s) vs after 50",
        big_read,
        small_read,
        "s",
        higher_is_better=False,
        target=2,
        note=f"(the import itself took {big_import:.1f} s, {events / big_import:,.0f} ev/s "
        "with its catch-up)",
    )


IMPORT_CHILD = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True)
if proc.returncode:
    sys.exit(proc.stderr.decode()[-1500:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def bench_import_memory(events: int, tmp: Path) -> None:
    """Peak RSS of `import` of `events` events in one command. A small parent process runs it,
    so that the child's peak is its own (getrusage keeps a forking parent's peak)."""
    header(f"Peak memory of one `import` of {events:,} events (child process)")
    CACHE.mkdir(parents=True, exist_ok=True)
    source = CACHE / f"import-{events}-s{SEED}-v{SYNTH_VERSION}.jsonl"
    if not source.exists():
        partial = source.with_suffix(".partial")
        with partial.open("wb") as out:
            out.writelines(line.rstrip(b"\n") + b"\n" for line in synth.lines(events, seed=SEED))
        partial.replace(source)
    db = tmp / "import-memory.db"
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            IMPORT_CHILD,
            *cli_command(),
            "--db",
            str(db),
            "-q",
            "import",
            str(source),
        ],
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.decode()[-1500:])
    peak_mb = int(proc.stdout.split()[-1]) / 1024
    for stale in tmp.glob(db.name + "*"):
        stale.unlink()
    report_absolute(
        f"peak RSS of importing {events:,} events in one command (MB)",
        peak_mb,
        "MB",
        300,
        note=f"(took {elapsed:.0f} s, {events / elapsed:,.0f} ev/s)",
    )


# -- memory --------------------------------------------------------------------------------------

# Peak RSS from /proc (VmHWM): getrusage's ru_maxrss survives fork and exec on Linux, so a
# child of a big parent would report the parent's peak.
MEMORY_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[2])
from ledger.app import Ledger
from ledger.projections import catch_up
import run

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

ledger = Ledger(sys.argv[1])
before = peak_kb()
if sys.argv[3] == "replay":
    run.reset_projections(ledger)
    start = time.perf_counter()
    catch_up(ledger, on_error=run._raise)
    elapsed = time.perf_counter() - start
else:
    elapsed = 0.0
print(before, peak_kb(), elapsed)
"""


def bench_memory(db: Path, events: int) -> None:
    header(f"Peak memory replaying every projection over {events:,} events (child process)")
    base = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(db), str(HERE), "open"],
        capture_output=True,
        check=True,
    )
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(db), str(HERE), "replay"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.decode()[-1500:])
    _, peak_kb, elapsed = proc.stdout.split()
    _, open_kb, _ = base.stdout.split()
    peak_mb = int(peak_kb) / 1024
    report_absolute(
        "peak RSS of the replay (MB)",
        peak_mb,
        "MB",
        200,
        note=f"(the process after opening the ledger: {int(open_kb) / 1024:.0f} MB; "
        f"replay took {float(elapsed):.0f} s, {events / float(elapsed):,.0f} ev/s)",
    )


PARTS = (
    "import",
    "pg",
    "startup",
    "interactive",
    "first-read",
    "import-memory",
    "alerts",
    "memory",
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events for import and replay")
    parser.add_argument(
        "--big",
        type=int,
        default=1_000_000,
        help="events of the big ledger (alerts after one event, peak memory)",
    )
    parser.add_argument("--runs", type=int, default=5, help="repetitions of each timed command")
    parser.add_argument("--pg", metavar="URL", help="also measure on this PostgreSQL database")
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="run only these parts",
    )
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in SIZES),
        help="ledger sizes for the interactive commands, smallest first (default: %(default)s)",
    )
    parser.add_argument(
        "--first-read",
        type=int,
        default=100_000,
        help="events imported before timing the first read (default: %(default)s)",
    )
    parser.add_argument(
        "--import-events",
        type=int,
        default=1_000_000,
        help="events of the one-command import whose peak memory is measured (default: %(default)s)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    only = set(args.only or PARTS)
    sizes = [int(n) for n in args.sizes.split(",")]
    print(f"referral-ledger benchmarks; python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="rl-bench-") as name:
        tmp = Path(name)
        steps: list[Callable[[], Any]] = []
        if "import" in only:
            steps.append(lambda: bench_sqlite(args.events, tmp))
        if "pg" in only and args.pg:
            steps.append(lambda: bench_postgres(args.events, args.pg))
        if "startup" in only:
            steps.append(lambda: bench_startup(max(args.runs, 5)))
        if "alerts" in only:
            steps.append(lambda: bench_alerts(args.big, args.runs, tmp))
        if "interactive" in only:
            steps.append(lambda: bench_interactive(sizes, args.runs, tmp))
        if "first-read" in only:
            steps.append(lambda: bench_first_read(args.first_read, max(1, args.runs // 2), tmp))
        if "import-memory" in only:
            steps.append(lambda: bench_import_memory(args.import_events, tmp))
        if "memory" in only:
            steps.append(lambda: bench_memory(build_big(args.big), args.big))
        for step in steps:
            step()
    if args.json:
        Path(args.json).write_text(json.dumps(ROWS, indent=2) + "\n")


if __name__ == "__main__":
    main()
