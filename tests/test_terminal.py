"""The everyday layer's presentation: text that fits the terminal, names beside handles,
colour only on a terminal, progress bars only on a terminal, an example in every command's
help, and shell completion from the ledger.

What a terminal sees is tested on a real pseudo-terminal (`pty`), in a subprocess: a pipe and
a terminal must differ only in the text for people, never in `--json`.
"""

from __future__ import annotations

import inspect
import json
import os
import pty
import re
import select
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import click
import pytest

from ledger.terminal import cells, cut, table

ESC = "\x1b["
AS_OF = "2026-10-30T00:00:00Z"
LONG = "Maximiliana " + "Wolfeschlegelsteinhausenbergerdorff " * 5  # a long real-looking name
LONG_COMPANY = "International Consolidated Widgets and Sprockets Holdings " * 3


# -- a story with long names ------------------------------------------------------------------


def long_story(cli) -> None:
    """Two referrals whose people, keys and companies are long: alerts, flags and scores."""
    people = [("ana", LONG[:200].strip()), ("carol", "Carol " + "Chen-" * 30), ("bob", "Bob")]
    for handle, name in people:
        cli.ok("person", "add", handle, "--name", name, "--company", LONG_COMPANY[:200].strip())
    key = "ana-" + "international-consolidated-widgets-" + "x" * 24  # 64, the most
    cli.ok("connect", "ana", "carol", "--kind", "linkedin-only", "--at", "2026-09-01T09:00:00Z")
    cli.ok(
        "request", key, "--by", "ana", "--referrer", "carol", "--target", "bob",
        "--company", LONG_COMPANY[:200].strip(), "--relationship", "friend",
        "--at", "2026-09-02T09:00:00Z",
    )  # fmt: skip
    cli.ok(
        "vet", key, "--decision", "accept", "--knows-work", "--relationship", "linkedin-only",
        "--at", "2026-09-03T09:00:00Z",
    )  # fmt: skip
    cli.ok("introduce", key, "--to", "bob", "--at", "2026-09-04T09:00:00Z")


def widest(text: str) -> int:
    return max((cells(line) for line in text.splitlines()), default=0)


READS = [
    ("list",),
    ("alerts", "--as-of", AS_OF),
    ("flags", "--as-of", AS_OF),
    ("reputation", "--as-of", AS_OF),
    ("reputation", "ana", "--as-of", AS_OF),
]


def test_every_listing_fits_80_columns_with_long_names(cli, monkeypatch):
    long_story(cli)
    piped = {args: cli.ok(*args).stdout for args in READS}
    # Piped, nothing is cut: a script reading the text gets it whole.
    for args in READS[:4]:
        assert widest(piped[args]) > 80, args
        assert "…" not in piped[args]
    monkeypatch.setenv("COLUMNS", "80")
    for args in READS:
        out = cli.ok(*args).stdout
        assert out.strip(), args
        assert widest(out) <= 80, (args, out)
        assert "…" in out, args  # cut, and saying so
    # The handle stays and the name is beside it, as far as it fits.
    listing = cli.ok("list").stdout.splitlines()
    assert listing[0].split()[:2] == ["REFERRAL", "STAGE"]
    assert "ana (Maximi…" in listing[1]


def test_a_narrow_terminal_still_gets_lines_that_fit(cli, monkeypatch):
    long_story(cli)
    for columns in ("40", "20", "5"):
        monkeypatch.setenv("COLUMNS", columns)
        for args in READS:
            assert widest(cli.ok(*args).stdout) <= int(columns), (columns, args)


def test_json_never_depends_on_the_terminal(cli, monkeypatch):
    long_story(cli)
    reads = [(*args, "--json") for args in READS] + [
        ("show", cli.json("list", "--json")[0]["referral"], "--json")
    ]
    plain = {args: cli.ok(*args).stdout_bytes for args in reads}
    monkeypatch.setenv("COLUMNS", "20")
    monkeypatch.setenv("NO_COLOR", "1")
    assert {args: cli.ok(*args).stdout_bytes for args in reads} == plain
    # and on a terminal, in colour
    monkeypatch.delenv("NO_COLOR")
    for args in reads[:2]:
        assert on_terminal(cli.db, *args).stdout.replace(b"\r\n", b"\n") == plain[args]


# -- the one table renderer -------------------------------------------------------------------


def test_the_table_cuts_the_widest_column_and_never_a_fixed_one():
    rows = [("seq-1", "x" * 50, "ok"), ("seq-22", "short", "ok")]
    lines = list(table(("ID", "NAME", "STATE"), rows, fixed=(0, 2), limit=30))
    assert all(cells(line) <= 30 for line in lines)
    assert lines[1].startswith("seq-1   ") and lines[1].endswith("…  ok")
    assert lines[2].split() == ["seq-22", "short", "ok"]
    assert list(table(("ID",), [], limit=30)) == ["ID"]
    assert list(table(None, [], limit=30)) == []


def test_wide_characters_count_as_two_columns_and_controls_are_shown():
    assert cells("日本語") == 6 and cells("e\u0301") == 1
    assert cells(cut("日本語のなまえ", 7)) <= 7 and cut("日本語のなまえ", 7).endswith("…")
    [line] = table(None, [("\x1b[2Jx", "日本語")], limit=None)
    assert "\x1b" not in line and "\\x1b" in line


def test_rows_of_plain_text_and_rows_to_escape_line_up_alike():
    """Most rows are ASCII with nothing to escape and are padded as they are; a row with a wide
    character or a control takes the long way: the columns line up the same."""
    rows = [("a", "日本", "x"), ("bbb", "c", "yy"), ("\x1b", "d", "z"), ("e", "", "")]
    assert list(table(("H1", "H2", "H3"), rows, limit=None)) == [
        "H1    H2    H3",
        "a     日本  x",
        "bbb   c     yy",
        "\\x1b  d     z",
        "e",
    ]
    # aligned right, the same widths; and cut to fit, each line within the limit
    assert list(table(None, rows[1:2], right=(0,), limit=None)) == ["bbb  c  yy"]
    assert all(cells(line) <= 9 for line in table(("H1", "H2", "H3"), rows, limit=9))


# -- colour -----------------------------------------------------------------------------------


def run(db: str, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    """`referral-ledger --db DB ARGS` in a subprocess, its output to pipes."""
    return subprocess.run(
        [sys.executable, "-m", "ledger", "--db", db, *args],
        capture_output=True,
        check=False,
        env={**os.environ, **env},
        timeout=120,
    )


def on_terminal(
    db: str, *args: str, stderr_only: bool = False, **env: str
) -> subprocess.CompletedProcess[bytes]:
    """`run`, with stdout (or only stderr) on a pseudo-terminal; what it showed there is in
    `stdout` (or `stderr`)."""
    leader, follower = pty.openpty()
    out = subprocess.PIPE if stderr_only else follower
    err = follower if stderr_only else subprocess.PIPE
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledger", "--db", db, *args],
        stdout=out,
        stderr=err,
        env={**environ, **env},
    )
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    piped = proc.stdout.read() if proc.stdout else proc.stderr.read()  # type: ignore[union-attr]
    proc.wait(timeout=120)
    if stderr_only:
        return subprocess.CompletedProcess(proc.args, proc.returncode, piped, shown)
    return subprocess.CompletedProcess(proc.args, proc.returncode, shown, piped)


def test_colour_on_a_terminal_only_and_never_under_no_color(sqlite_cli):
    long_story(sqlite_cli)
    db = sqlite_cli.db
    for args in (("alerts", "--as-of", AS_OF), ("flags", "--as-of", AS_OF), ("verify",)):
        coloured = on_terminal(db, *args).stdout.decode()
        assert ESC in coloured, args
        assert ESC not in on_terminal(db, *args, NO_COLOR="1").stdout.decode(), args
        piped = run(db, *args)
        assert piped.returncode == 0 and piped.stdout and ESC.encode() not in piped.stdout, args
    alerts = on_terminal(db, "alerts", "--as-of", AS_OF).stdout.decode()
    assert re.search(r"\x1b\[31m *\d+ days overdue", alerts), alerts  # overdue in red
    assert "\x1b[32mChain ok" in on_terminal(db, "verify").stdout.decode()


# -- progress bars ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_events(tmp_path_factory) -> Path:
    """A JSON Lines file of 6000 people: enough for progress bars."""
    path = tmp_path_factory.mktemp("many") / "people.jsonl"
    with path.open("w") as out:
        for n in range(6000):
            event = {"type": "person-added", "handle": f"p{n}", "name": f"Person {n}"}
            out.write(json.dumps({**event, "at": "2026-01-01T00:00:00Z"}) + "\n")
    return path


def test_progress_bars_only_on_a_terminal_and_never_with_quiet(tmp_path, many_events):
    piped = run(str(tmp_path / "a.db"), "import", str(many_events))
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == b""  # not a terminal: not even the label
    shown = on_terminal(str(tmp_path / "b.db"), "import", str(many_events), stderr_only=True)
    assert shown.returncode == 0 and b"Imported 6000 new event(s)" in shown.stdout
    assert b"Checking" in shown.stderr and b"100%" in shown.stderr
    # and the plugins' derived state is caught up at once, with its own bar
    assert b"Catching up" in shown.stderr
    verified = on_terminal(str(tmp_path / "b.db"), "verify", stderr_only=True)
    assert b"Verifying" in verified.stderr and b"100%" in verified.stderr
    assert b"Verifying" not in run(str(tmp_path / "b.db"), "verify").stderr
    for args in (("import", str(many_events)), ("verify",)):
        db = str(tmp_path / "c.db")
        quiet = on_terminal(db, "--quiet", *args, stderr_only=True)
        assert quiet.returncode == 0
        assert b"Checking" not in quiet.stderr and b"Verifying" not in quiet.stderr
        assert b"Catching up" not in quiet.stderr
        assert b"%" not in quiet.stderr


# -- an example in every command's help -------------------------------------------------------


def commands() -> list[tuple[list[str], click.Command]]:
    """Every command of `referral-ledger`, subcommands included, the root first."""
    from ledger.cli import cli, load_plugin_commands

    load_plugin_commands()
    found: list[tuple[list[str], click.Command]] = [([], cli)]

    def walk(group: click.Group, path: list[str]) -> None:
        for name in group.list_commands(click.Context(group)):
            command = group.get_command(click.Context(group), name)
            assert command is not None
            found.append(([*path, name], command))
            if isinstance(command, click.Group):
                walk(command, [*path, name])

    walk(cli, [])
    return found


def examples(command: click.Command) -> list[str]:
    """The command lines of the `Example:` block that ends the command's help, joined where
    a line ends with a backslash."""
    text = inspect.cleandoc(command.help or "")
    paragraphs = text.split("\n\n")
    last = paragraphs[-1].lstrip("\b\n").splitlines()
    assert last and last[0].strip() in ("Example:", "Examples:"), (command.name, last)
    assert paragraphs[-1].startswith("\b"), (command.name, "use \\b to keep the lines")
    lines = " ".join(line.strip() for line in last[1:]).replace("\\ ", "")
    return [one.strip() for one in lines.split("referral-ledger ")[1:]]


@pytest.mark.parametrize("path", [" ".join(p) or "(root)" for p, _ in commands()])
def test_every_command_help_ends_with_an_example_that_parses(path):
    """Each example runs the command it documents, with options that exist and what the
    command requires (click parses it as it would the real command line)."""
    from ledger.cli import cli

    [command] = [c for p, c in commands() if (" ".join(p) or "(root)") == path]
    found = examples(command)
    assert found
    words = [] if path == "(root)" else path.split()
    for example in found:
        args = shlex.split(example)
        ctx = cli.make_context("referral-ledger", list(args))  # refuses unknown options
        shown: list[str] = []
        group: click.Command = cli
        while isinstance(group, click.Group) and _rest(ctx):
            name, *rest = _rest(ctx)
            sub = group.get_command(ctx, name)
            assert sub is not None, (path, example)
            shown.append(name)
            ctx = sub.make_context(name, rest, parent=ctx)
            group = sub
        assert shown[: len(words)] == words, (path, example)
    help_text = subprocess.run(
        [sys.executable, "-m", "ledger", *words, "--help"],
        capture_output=True,
        check=False,
        timeout=60,
    ).stdout.decode()
    assert "Example:" in help_text and f"referral-ledger {' '.join(words)}".strip() in help_text


def _rest(ctx: click.Context) -> list[str]:
    """What a group left unparsed: the subcommand and its arguments."""
    with warnings.catch_warnings():  # click 9 moves them all to `args`
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*ctx.protected_args, *ctx.args]


# -- shell completion -------------------------------------------------------------------------


def complete(db: str | None, line: str, **env: str) -> list[str]:
    """What bash completion offers for the last word of `line` (a subprocess, as the shell
    runs it)."""
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    given = {"REFERRAL_LEDGER_DB": db} if db else {}
    proc = subprocess.run(
        [sys.executable, "-m", "ledger"],
        capture_output=True,
        check=False,
        env={
            **os.environ,
            **given,
            **env,
            "_REFERRAL_LEDGER_COMPLETE": "bash_complete",
            "COMP_WORDS": " ".join(words),
            "COMP_CWORD": str(len(words) - 1),
        },
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    return [row.split(",", 1)[1] for row in proc.stdout.decode().splitlines() if row]


def test_completion_offers_handles_and_referral_keys(sqlite_cli):
    cli = sqlite_cli
    for handle in ("ana", "anton", "carol"):
        cli.ok("person", "add", handle, "--name", handle.title())
    cli.ok("request", "ana-acme", "--by", "ana", "--referrer", "carol", "--company", "Acme")
    cli.ok("request", "anton-acme", "--by", "anton", "--referrer", "carol", "--company", "Acme")
    assert complete(cli.db, "referral-ledger show an") == ["ana-acme", "anton-acme"]
    assert complete(cli.db, "referral-ledger audit anton") == ["anton-acme"]
    assert complete(cli.db, "referral-ledger thank ana-acme --by a") == ["ana", "anton"]
    assert complete(cli.db, "referral-ledger thank ana-acme --to c") == ["carol"]
    assert complete(cli.db, "referral-ledger alerts --person ") == ["ana", "anton", "carol"]
    assert complete(cli.db, "referral-ledger flags --referral ana") == ["ana-acme"]
    assert complete(cli.db, "referral-ledger reputation car") == ["carol"]
    assert complete(cli.db, "referral-ledger connect ana c") == ["carol"]
    assert complete(None, f"referral-ledger --db {cli.db} list --person ca") == ["carol"]
    assert complete(cli.db, "referral-ledger person add an") == []  # a new handle: nothing
    assert complete(cli.db, "referral-ledger show zz") == []


def test_completion_never_fails_and_never_creates_a_ledger(tmp_path):
    missing = tmp_path / "nowhere" / "ledger.db"
    assert complete(str(missing), "referral-ledger show a") == []
    assert complete(str(missing), "referral-ledger thank x --by a") == []
    assert not missing.parent.exists()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all")
    assert complete(str(junk), "referral-ledger show a") == []
    assert junk.read_bytes() == b"not a database at all"
    # the default ledger, in a data directory that does not exist
    home = tmp_path / "home"
    assert complete(None, "referral-ledger show a", HOME=str(home), XDG_DATA_HOME=str(home)) == []
    assert not home.exists()


def test_the_readme_documents_shell_completion():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for shell in ("bash", "zsh", "fish"):
        assert f"_REFERRAL_LEDGER_COMPLETE={shell}_source referral-ledger" in readme
