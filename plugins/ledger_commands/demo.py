"""`demo`: build an example ledger from a short story and show what the ledger makes of it."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

import click

from ledger.api import LedgerError, State, emit_json, get_state, safe

from .command import LedgerCommand
from .reading import cells, echo_table, summaries

DEFAULT_FILE = "referral-ledger-demo.db"
# The story's "today": a fixed world time, so the demo shows the same alerts every run.
AS_OF = "2026-10-20T00:00:00Z"
# Commands other plugins add; shown when they are installed.
JUDGEMENTS = ("alerts", "flags", "reputation")


def story_lines(name: str = "demo") -> list[bytes]:
    """A story shipped in this package, as JSON Lines."""
    from importlib import resources  # here, not at the top: it costs `--help` ~30 ms

    text = resources.files(__package__).joinpath("stories", f"{name}.jsonl").read_bytes()
    return text.splitlines(keepends=True)


def story_ids() -> set[str]:
    import orjson

    return {orjson.loads(line)["id"] for line in story_lines() if line.strip()}


def _sidecars(path: Path) -> list[Path]:
    return [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def _check_replaceable(path: Path) -> None:
    """Refuse to delete anything but an earlier demo: the path might be someone's ledger.

    Read read-only, so a file that is not a ledger is left untouched.
    """
    from ledger.api import ledger_event_ids  # here: the store is not needed for `--help`

    if path.is_dir():
        raise LedgerError(f"--db-file: {str(path)!r} is a directory")
    if path.stat().st_size == 0:
        return
    ids = ledger_event_ids(path)
    if ids is None or not ids <= story_ids():
        raise LedgerError(
            f"--db-file: {str(path)!r} exists and is not a demo ledger; "
            "remove it or pick another file"
        )


def _fresh(path: Path) -> None:
    if path.exists():
        _check_replaceable(path)
    for file in _sidecars(path):
        with contextlib.suppress(FileNotFoundError):
            os.remove(file)


def _judgement(ctx: click.Context, name: str, state: State, as_json: bool) -> Any:
    """Run another plugin's read command on the demo ledger; its JSON when `as_json`.

    A command that fails is reported by name and skipped: the demo still shows the rest.
    """
    root = ctx.find_root().command
    command = root.commands.get(name) if isinstance(root, click.Group) else None
    if command is None:
        return None
    args = ["--json"] if as_json else []
    if any("--as-of" in param.opts for param in command.params):
        args += ["--as-of", AS_OF]
    buffer = io.BytesIO()
    out = io.TextIOWrapper(buffer, encoding="utf-8")
    try:
        sub = command.make_context(name, args, parent=ctx, obj=state)
        with sub, contextlib.redirect_stdout(out) if as_json else contextlib.nullcontext():
            command.invoke(sub)
    except click.exceptions.Exit as exc:
        if exc.exit_code:
            click.echo(f"Warning: `{name}` exited with status {exc.exit_code}", err=True)
    except Exception as exc:
        if state.debug:
            raise
        message = exc.message if isinstance(exc, LedgerError) else f"{type(exc).__name__}: {exc}"
        click.echo(f"Warning: `{name}` failed: {safe(message)}", err=True)
        return None
    if not as_json:
        return None
    import orjson

    out.flush()
    raw = buffer.getvalue()
    return orjson.loads(raw) if raw.strip() else None


@click.command(cls=LedgerCommand)
@click.option(
    "--db-file",
    type=click.Path(dir_okay=False),
    help=f"SQLite file to build the demo in; an earlier demo there is replaced. "
    f"[default: ./{DEFAULT_FILE}]",
)
@click.option(
    "--into-ledger",
    is_flag=True,
    help="Import the story into the ledger given by --db instead (never the default ledger).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def demo(ctx: click.Context, db_file: str | None, into_ledger: bool, as_json: bool) -> None:
    """Build an example ledger from a short story and show what the ledger makes of it.

    The story: five referrals, from one done right to one built on a misrepresented
    relationship. Alerts, flags and reputation are shown as of the story's today
    (2026-10-20) when those plugins are installed.

    \b
    Example:
      referral-ledger demo --db-file demo.db
    """
    state = get_state()
    if into_ledger:
        if db_file is not None:
            raise LedgerError("--into-ledger and --db-file cannot be used together")
        if state.db is None:
            raise LedgerError("--into-ledger needs --db: the demo never writes the default ledger")
        target, location = state, state.db
    else:
        path = Path(db_file or DEFAULT_FILE)
        _fresh(path)
        target, location = State(str(path), state.config, state.debug), str(path)
    try:
        result = target.open(create=True).import_lines(story_lines())
        found = summaries(target.ledger)
        if as_json:
            emit_json(
                {
                    "db": location,
                    "stored": len(result.stored),
                    "unchanged": result.unchanged,
                    "as_of": AS_OF,
                    "referrals": [summary.as_json() for summary in found],
                    **{name: _judgement(ctx, name, target, True) for name in JUDGEMENTS},
                }
            )
            return
        click.echo(
            f"Built the demo ledger in {safe(location)}: {len(result.stored)} event(s) recorded, "
            f"{result.unchanged} already there."
        )
        click.echo(f"Explore it with: referral-ledger --db {safe(location)} show ana-acme\n")
        click.echo("Referrals:")
        echo_table(map(cells, found), target.ledger)
        for name in JUDGEMENTS:
            if name not in getattr(ctx.find_root().command, "commands", {}):
                continue
            click.echo(f"\n{name.capitalize()} as of {AS_OF}:")
            _judgement(ctx, name, target, False)
    finally:
        if target is not state:
            target.close()
