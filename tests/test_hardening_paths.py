"""Paths and outputs that must not destroy, create or hide a ledger.

A slip of the keyboard (`export -o ledger.db`), a typo in `--db` or a full disk: each is
refused with `Error: …` and exit 2, and the ledger reads and verifies exactly as before.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import PG_URL, Cli, _drop_schema, _pg_url

AS_OF = "2026-06-01T00:00:00Z"


def tell(cli: Cli) -> None:
    """Ana asks Bob for an introduction at Acme, unprepared, and Bob never answers."""
    cli.ok("person", "add", "ana", "--name", "Ana")
    cli.ok("person", "add", "bob", "--name", "Bob")
    cli.ok("person", "add", "cy", "--name", "Cy")
    cli.ok(
        "request", "r1", "--by", "ana", "--referrer", "bob", "--company", "Acme",
        "--at", "2026-01-01T00:00:00Z",
    )  # fmt: skip


def snapshot(cli: Cli) -> tuple[str, str]:
    """What must never change: the export and the verdict of `verify`."""
    return cli.ok("export").stdout, cli.ok("verify", "--json").stdout


def files_under(root: Path) -> dict[str, str | None]:
    """Every path under `root`, with its content's hash (None for a directory)."""
    found: dict[str, str | None] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            found[str(path.relative_to(root))] = None
        else:
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# -- 1. output options: through a temporary file and a rename; never the ledger -------------

# Each output option, as (id, the arguments before the file name).
OUTPUTS = [
    ("export -o", ["export", "-o"]),
    ("export --output", ["export", "--output"]),
    ("checkpoint -o", ["checkpoint", "-o"]),
    ("checkpoint --output", ["checkpoint", "--output"]),
    ("audit --html", ["audit", "r1", "--html"]),
    ("calendar -o", ["calendar", "-o"]),
    ("calendar --output", ["calendar", "--output"]),
]


def other_ledger(path: Path) -> None:
    side = Cli(str(path))
    side.ok("person", "add", "zoe", "--name", "Zoe")


# Targets an output option must refuse, as (id, how to make it from the ledger's path and the
# test's directory, a fragment of the message).
TARGETS: list[tuple[str, Callable[[Path, Path], Path], str]] = [
    ("the ledger itself", lambda db, tmp: db, "the ledger's own file"),
    ("its -wal", lambda db, tmp: db.with_name(db.name + "-wal"), "the ledger's own file"),
    ("its -shm", lambda db, tmp: db.with_name(db.name + "-shm"), "the ledger's own file"),
    ("its -journal", lambda db, tmp: db.with_name(db.name + "-journal"), "the ledger's own file"),
    (
        "the ledger by a detour",
        lambda db, tmp: Path(str(db.parent / "." / "sub" / ".." / db.name)),
        "the ledger's own file",
    ),
    ("a relative path to it", lambda db, tmp: Path(os.path.relpath(db)), "the ledger's own file"),
    ("a hard link to it", lambda db, tmp: _hard_link(db, tmp / "linked.db"), "own file"),
    ("a symlink to it", lambda db, tmp: _symlink(db, tmp / "alias.db"), "symbolic link"),
    (
        "a dangling symlink",
        lambda db, tmp: _symlink(tmp / "nowhere", tmp / "dangling"),
        "symbolic link",
    ),
    (
        "a symlink to a plain file",
        lambda db, tmp: _symlink(_plain(tmp / "plain.txt"), tmp / "to-plain"),
        "symbolic link",
    ),
    ("another ledger", lambda db, tmp: _made(other_ledger, tmp / "other.db"), "SQLite database"),
    ("any SQLite database", lambda db, tmp: _made(_sqlite_table, tmp / "app.db"), "SQLite"),
]


def _hard_link(db: Path, link: Path) -> Path:
    os.link(db, link)
    return link


def _symlink(to: Path, link: Path) -> Path:
    link.symlink_to(to)
    return link


def _plain(path: Path) -> Path:
    path.write_text("keep me\n")
    return path


def _made(make: Callable[[Path], None], path: Path) -> Path:
    make(path)
    return path


def _sqlite_table(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('precious')")
    conn.close()


@pytest.fixture
def told(sqlite_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    tell(sqlite_cli)
    sqlite_cli.ok("alerts")  # the plugins' rows are kept up to date: reads change no byte
    return sqlite_cli


@pytest.mark.parametrize(("option", "args"), OUTPUTS, ids=[o[0] for o in OUTPUTS])
@pytest.mark.parametrize(("target", "make", "fragment"), TARGETS, ids=[t[0] for t in TARGETS])
def test_an_output_option_refuses_what_it_would_destroy(
    told: Cli,
    tmp_path: Path,
    option: str,
    args: list[str],
    target: str,
    make: Callable[[Path, Path], Path],
    fragment: str,
) -> None:
    before = snapshot(told)
    path = make(Path(told.db), tmp_path)
    files = files_under(tmp_path)
    result = told.refused(*args, str(path))
    assert fragment in result.stderr, result.stderr
    assert files_under(tmp_path) == files  # not a byte changed, no temporary file left
    assert snapshot(told) == before


def test_the_message_for_a_database_says_why(told: Cli, tmp_path: Path) -> None:
    other_ledger(tmp_path / "mine.db")
    message = told.refused("export", "-o", str(tmp_path / "mine.db")).stderr
    assert message == (
        f"Error: -o {tmp_path / 'mine.db'}: is a SQLite database (perhaps another ledger), "
        "which would be lost; nothing written\n"
    )
    assert [e["handle"] for e in Cli(str(tmp_path / "mine.db")).export()] == ["zoe"]


@pytest.mark.parametrize(("option", "args"), OUTPUTS, ids=[o[0] for o in OUTPUTS])
def test_an_output_replaces_a_plain_file_whole_on_each_backend(
    cli: Cli, tmp_path: Path, option: str, args: list[str]
) -> None:
    tell(cli)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "result"
    target.write_text("an older result\n")
    os.chmod(target, 0o640)
    before = snapshot(cli)
    cli.ok(*args, str(target))
    written = target.read_bytes()
    assert written and b"an older result" not in written
    assert os.listdir(out_dir) == ["result"]  # no temporary file beside it
    assert target.stat().st_mode & 0o777 == 0o640  # the file keeps its permissions
    if args[0] == "export":
        assert written.decode() == before[0]
    assert snapshot(cli) == before


@pytest.mark.parametrize(("option", "args"), OUTPUTS, ids=[o[0] for o in OUTPUTS])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    told: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, args: list[str]
) -> None:
    """The disk fills up as the file is flushed: the old file is still whole."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "result"
    target.write_text("the result of last week\n")
    before = snapshot(told)

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    result = told.refused(*args, str(target))
    assert result.stderr == f"Error: cannot write {target}: No space left on device\n"
    assert os.listdir(out_dir) == ["result"]
    assert target.read_text() == "the result of last week\n"
    monkeypatch.undo()
    assert snapshot(told) == before


@pytest.mark.parametrize(("option", "args"), OUTPUTS, ids=[o[0] for o in OUTPUTS])
def test_an_output_in_a_missing_directory_is_refused(
    told: Cli, tmp_path: Path, option: str, args: list[str]
) -> None:
    before = snapshot(told)
    files = files_under(tmp_path)
    result = told.refused(*args, str(tmp_path / "no" / "such" / "dir" / "out"))
    assert "cannot write" in result.stderr and "No such file or directory" in result.stderr
    assert files_under(tmp_path) == files
    assert snapshot(told) == before


def test_an_output_to_a_device_writes_into_it_and_keeps_it(told: Cli) -> None:
    """`-o /dev/full` writes to the device (and fails): a rename would replace the device."""
    result = told.refused("export", "-o", "/dev/full")
    assert result.stderr == "Error: cannot write /dev/full: No space left on device\n"
    assert Path("/dev/full").is_char_device()


# -- 2. reads never create ------------------------------------------------------------------

# Every read command, built-in and of the plugins, with what it needs.
READS = [
    ["alerts"],
    ["alerts", "--json"],
    ["alerts", "--check"],
    ["alerts", "--check", "--quiet"],
    ["alerts", "--as-of", AS_OF, "--known-at", AS_OF],
    ["flags"],
    ["flags", "--json"],
    ["reputation"],
    ["reputation", "--json"],
    ["reputation", "ana"],
    ["audit", "r1"],
    ["audit", "r1", "--json"],
    ["verify"],
    ["verify", "--json"],
    ["verify", "--head", "0" * 64],
    ["export"],
    ["export", "-o", "out.jsonl"],
    ["checkpoint"],
    ["checkpoint", "-o", "cp.json"],
    ["replay"],
    ["list"],
    ["list", "--json"],
    ["show", "r1"],
    ["due", "ana"],
    ["calendar"],
    ["calendar", "-o", "out.ics"],
    ["log"],
    ["log", "--json"],
    ["verify", "-q"],
    # a write that cannot be one on a ledger that does not exist: nothing to forget
    ["forget", "ana", "--yes"],
]


def pg_schemas(prefix: str) -> set[str]:
    import psycopg

    base = PG_URL.split("?")[0] if PG_URL else ""
    with psycopg.connect(base, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (prefix + "%",)
        ).fetchall()
    return {row[0] for row in rows}


@pytest.fixture
def nowhere(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """The CLI on a ledger that does not exist: a file in directories that do not exist
    either, or a PostgreSQL schema nobody made."""
    monkeypatch.chdir(tmp_path)
    if db.startswith("postgresql://"):
        yield Cli(db)
        return
    yield Cli(str(tmp_path / "typo" / "in" / "the" / "path" / "ledger.db"))


def assert_nothing_created(cli: Cli, tmp_path: Path) -> None:
    if cli.db.startswith("postgresql://"):
        schema = cli.db.rsplit("schema=", 1)[1]
        assert pg_schemas(schema) == set()
    else:
        assert files_under(tmp_path) == {}


@pytest.mark.parametrize("args", READS, ids=[" ".join(a) for a in READS])
def test_a_read_of_no_ledger_is_refused_and_creates_nothing(
    nowhere: Cli, tmp_path: Path, args: list[str]
) -> None:
    result = nowhere.refused(*args)
    assert result.stderr == f"Error: no ledger at {nowhere.db}\n"
    assert_nothing_created(nowhere, tmp_path)


def test_info_on_no_ledger_says_so_and_creates_nothing(nowhere: Cli, tmp_path: Path) -> None:
    found = nowhere.json("info", "--json")
    assert (found["exists"], found["events"]) == (False, None)
    assert "does not exist yet" in nowhere.ok("info").stdout
    assert_nothing_created(nowhere, tmp_path)


def test_a_check_of_the_default_ledger_does_not_create_it(tmp_path: Path) -> None:
    """A cron job's `alerts --check --quiet` with no --db must not pass on a ledger that is
    not there (the fixtures point the data directory into tmp_path)."""
    from click.testing import CliRunner

    from ledger.cli import cli

    result = CliRunner().invoke(cli, ["alerts", "--check", "--quiet"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no ledger at ") and "ledger.db" in result.stderr
    assert not (tmp_path / "data").exists()


def test_the_first_write_creates_the_ledger(nowhere: Cli, tmp_path: Path) -> None:
    nowhere.refused("export")
    nowhere.ok("person", "add", "ana", "--name", "Ana")
    assert [e["handle"] for e in nowhere.export()] == ["ana"]
    assert nowhere.json("verify", "--json")["events"] == 1


# Writes that store nothing, on a path where no ledger is yet.
EMPTY_WRITES: list[tuple[list[str], str | None]] = [
    (["record", '{"type": "person-added", "handle": "Ana"}'], None),
    (["record", '{"type": "person-added", "handle": "ana", "name": "Ana", "age": 3}'], None),
    (["import", "-"], ""),
    (["import", "-"], '{"type": "person-added", "handle": "ana", "name": "Ana"}\n{"type": "x"}\n'),
    (["person", "add", "ana"], None),
]


@pytest.mark.parametrize(
    ("args", "stdin"), EMPTY_WRITES, ids=[" ".join(w[0])[:40] for w in EMPTY_WRITES]
)
def test_a_refused_first_write_leaves_no_ledger_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: str | None
) -> None:
    # Otherwise the mistyped path of a failed `record` would be a ledger that every later
    # `alerts --check --quiet` on the same typo passes.
    monkeypatch.chdir(tmp_path)
    typo = Cli(str(tmp_path / "typo" / "ledger.db"))
    typo.refused(*args, input=stdin)
    assert files_under(tmp_path) == {}
    assert typo.refused("alerts", "--check", "--quiet").stderr == f"Error: no ledger at {typo.db}\n"


# Files that exist at the ledger's path but are not a ledger, as (id, content maker, message).
NOT_LEDGERS: list[tuple[str, Callable[[Path], None], str]] = [
    ("an empty file", lambda p: p.write_bytes(b""), "no ledger at"),
    ("a text file", lambda p: p.write_text("my notes\n"), "not a SQLite database"),
    ("a SQLite database of something else", _sqlite_table, "a SQLite database but not a ledger"),
    (
        "an empty SQLite database",
        lambda p: sqlite3.connect(p).execute("PRAGMA user_version = 7").connection.close(),
        "no ledger at",
    ),
]


@pytest.mark.parametrize(
    "args", [["alerts", "--check", "--quiet"], ["export"], ["verify"], ["flags", "--json"]]
)
@pytest.mark.parametrize(("what", "make", "fragment"), NOT_LEDGERS, ids=[n[0] for n in NOT_LEDGERS])
def test_a_read_of_a_file_that_is_no_ledger_leaves_it_alone(
    tmp_path: Path,
    args: list[str],
    what: str,
    make: Callable[[Path], None],
    fragment: str,
) -> None:
    path = tmp_path / "ledger.db"
    make(path)
    files = files_under(tmp_path)
    assert fragment in Cli(str(path)).refused(*args).stderr
    assert files_under(tmp_path) == files


@pytest.mark.parametrize(("what", "make", "fragment"), NOT_LEDGERS[1:3], ids=["text", "sqlite"])
def test_a_write_into_a_file_that_is_no_ledger_is_refused(
    tmp_path: Path, what: str, make: Callable[[Path], None], fragment: str
) -> None:
    path = tmp_path / "ledger.db"
    make(path)
    files = files_under(tmp_path)
    assert fragment in Cli(str(path)).refused("person", "add", "ana", "--name", "Ana").stderr
    assert files_under(tmp_path) == files


# -- 2b. --db that is neither a path nor a postgresql:// URL naming a database ----------------

BASE = "postgresql://postgres@127.0.0.1:5432/test"

BAD_DBS = [
    ("http://x", "neither a file path nor a postgresql:// URL"),
    ("https://example.com/ledger.db", "neither a file path nor a postgresql:// URL"),
    ("sqlite:///x.db", "neither a file path nor a postgresql:// URL"),
    ("file:///tmp/x.db", "neither a file path nor a postgresql:// URL"),
    ("mysql://u@host/db", "neither a file path nor a postgresql:// URL"),
    ("", "neither a file path nor a postgresql:// URL"),
    ("postgresql://host", "must name a database"),
    ("postgresql://host/", "must name a database"),
    ("postgresql://", "must name a database"),
    ("postgres://", "must name a database"),
    ("postgresql://host/db/extra", "must name a database"),
    ("postgresql://127.0.0.1:99999/test", "the port is not a number"),
    ("postgresql://127.0.0.1:abc/test", "the port is not a number"),
    ("postgresql://127.0.0.1:0/test", "the port is not a number"),
    ("postgresql://bad host/test", "is not a host name"),
    ("postgresql://bad_host!/test", "is not a host name"),
    (f'{BASE}?schema=x";drop schema public cascade;--', "schema"),
    (f"{BASE}?schema=x%22%3Bdrop", "schema"),
    (f"{BASE}?schema=Upper", "schema"),
    (f"{BASE}?schema=9lives", "schema"),
    (f"{BASE}?schema={'a' * 64}", "schema"),
    (f"{BASE}?schema=", "schema"),
    (f"{BASE}?schema=a&schema=b", "more than once"),
    (f"{BASE}?sslmode=disable", "unknown URL parameter(s) 'sslmode'"),
    (f"{BASE}?schema=ok&options=-csearch_path%3Dx", "unknown URL parameter(s) 'options'"),
    (f"{BASE}?junk", "query part"),
]


@pytest.mark.parametrize(
    "args",
    [["alerts", "--check", "--quiet"], ["person", "add", "ana", "--name", "Ana"]],
    ids=["read", "write"],
)
@pytest.mark.parametrize(("db", "fragment"), BAD_DBS, ids=[b[0] or "(empty)" for b in BAD_DBS])
def test_a_db_that_names_no_ledger_location_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], db: str, fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = Cli(db).refused(*args)
    assert fragment in result.stderr, result.stderr
    assert "internal error" not in result.stderr
    assert files_under(tmp_path) == {}  # not taken for a path either


@pytest.mark.skipif(not PG_URL, reason="needs REFERRAL_LEDGER_TEST_PG (a postgresql:// URL)")
def test_a_hostile_schema_touches_no_schema() -> None:
    mark = "t_" + uuid.uuid4().hex[:8]
    for url in (_pg_url(f'{mark}";create schema {mark}x;--'), _pg_url(f"{mark}%22")):
        Cli(url).refused("person", "add", "ana", "--name", "Ana")
    assert pg_schemas(mark) == set()


@pytest.mark.skipif(not PG_URL, reason="needs REFERRAL_LEDGER_TEST_PG (a postgresql:// URL)")
def test_a_read_of_a_schema_without_ledger_tables_creates_none() -> None:
    """The schema exists (someone else's) but holds no ledger: refused, and left empty."""
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    base = PG_URL.split("?")[0] if PG_URL else ""
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        cli = Cli(_pg_url(schema))
        assert cli.refused("export").stderr == f"Error: no ledger at {cli.db}\n"
        with psycopg.connect(base, autocommit=True) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (schema,)
            ).fetchone()
        assert tables == (0,)
    finally:
        _drop_schema(schema)


# -- 8a. a full stdout -------------------------------------------------------------------------

FULL_STDOUT = [
    ["export"],
    ["alerts"],
    ["alerts", "--json"],
    ["flags", "--json"],
    ["reputation", "--json"],
    ["audit", "r1", "--json"],
    ["verify", "--json"],
    ["checkpoint"],
    ["list", "--json"],
    ["show", "r1"],
]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="this system has no /dev/full")
@pytest.mark.parametrize("args", FULL_STDOUT, ids=[" ".join(a) for a in FULL_STDOUT])
def test_a_full_stdout_is_a_clean_error(told: Cli, args: list[str]) -> None:
    before = snapshot(told)
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "ledger", "--db", told.db, *args],
            stdout=full,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            timeout=120,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.decode() == "Error: cannot write output: No space left on device\n"
    assert snapshot(told) == before


# -- 8b. a ledger on a read-only file system -------------------------------------------------

READ_ONLY_READS = [
    ["alerts", "--json", "--as-of", AS_OF],
    ["alerts", "--as-of", AS_OF],
    ["flags", "--json", "--as-of", AS_OF],
    ["reputation", "--json", "--as-of", AS_OF],
    ["reputation", "ana", "--json", "--as-of", AS_OF],
    ["audit", "r1", "--json", "--as-of", AS_OF],
    ["export"],
    ["verify", "--json"],
    ["list", "--json"],
]


def _mount_read_only(source: Path, target: Path) -> str | None:
    """Bind-mount `source` read-only at `target`; the reason it could not, or None."""
    try:
        subprocess.run(["mount", "--bind", str(source), str(target)], check=True,
                       capture_output=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot bind-mount here ({exc}): needs root with CAP_SYS_ADMIN"
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], check=True,
                       capture_output=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        subprocess.run(["umount", str(target)], check=False, timeout=30)
        return f"cannot remount read-only here ({exc})"
    return None


@pytest.fixture(params=["rows behind", "rows kept"])
def read_only(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Cli, Cli]]:
    """The same ledger twice: writable, and seen through a read-only bind mount. With "rows
    behind", the plugins' kept rows lag the events, so a read must derive them in memory."""
    source, mounted = tmp_path / "source", tmp_path / "mounted"
    source.mkdir()
    mounted.mkdir()
    writable = Cli(str(source / "ledger.db"))
    tell(writable)
    if request.param == "rows kept":
        writable.ok("alerts")  # brings every projection up to date
    else:
        writable.ok("person", "add", "dee", "--name", "Dee")
    reason = _mount_read_only(source, mounted)
    if reason is not None:
        pytest.skip(reason)
    try:
        yield writable, Cli(str(mounted / "ledger.db"))
    finally:
        subprocess.run(["umount", str(mounted)], check=False, timeout=30)


@pytest.mark.parametrize("args", READ_ONLY_READS, ids=[" ".join(a[:2]) for a in READ_ONLY_READS])
def test_a_read_only_ledger_reads_as_the_writable_one(
    read_only: tuple[Cli, Cli], args: list[str]
) -> None:
    writable, mounted = read_only
    with pytest.raises(OSError):  # the mount really is read-only
        Path(mounted.db).with_name("probe").write_text("x")
    files = files_under(Path(writable.db).parent)
    seen = mounted.ok(*args)
    assert seen.stderr == ""  # no warning of a projection that failed to write
    assert files_under(Path(writable.db).parent) == files
    assert seen.stdout == writable.ok(*args).stdout  # the same events, the same --as-of


def test_a_read_only_ledger_verifies_and_refuses_writes(read_only: tuple[Cli, Cli]) -> None:
    writable, mounted = read_only
    before = snapshot(writable)
    assert mounted.json("verify", "--json")["ok"] is True
    refused = mounted.refused("person", "add", "eve", "--name", "Eve")
    assert refused.stderr == (
        f"Error: the ledger at {mounted.db} is read-only: nothing can be written to it\n"
    )
    assert "is read-only" in mounted.refused("replay").stderr
    assert snapshot(mounted) == before
    assert snapshot(writable) == before
