"""The command line. The only module that prints; the one place errors become exit codes."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

import click

from .errors import ExitCode, LedgerError
from .text import visible

if TYPE_CHECKING:
    from .app import Ledger
    from .verify import Checkpoint


class State:
    """What every command can reach through `click.get_current_context().obj`."""

    def __init__(
        self,
        db: str | None,
        config: str | None,
        debug: bool,
        master_key_file: str | None = None,
        *,
        quiet: bool = False,
    ):
        self.db = db
        self.config = config
        self.debug = debug
        self.master_key_file = master_key_file
        self.quiet = quiet  # no progress bars
        self._ledger: Ledger | None = None
        self._fresh: list[str] = []  # what opening the ledger created, newest first

    @property
    def ledger(self) -> Ledger:
        """The ledger, opened for reading: one that does not exist is an error."""
        return self.open()

    def open(self, *, create: bool = False) -> Ledger:
        """The ledger, opened on first use; only with `create` is a missing one made."""
        if self._ledger is None:
            from .app import Ledger
            from .crypto import master_key_from

            master_key = master_key_from(self.master_key_file)
            fresh = self._new_paths() if create else []
            self._ledger = Ledger(self.db, master_key=master_key, create=create)
            self._fresh = fresh
        return self._ledger

    def _new_paths(self) -> list[str]:
        """The SQLite ledger file and the directories above it that do not exist yet."""
        from pathlib import Path

        from .store import default_db_path

        if self.db and "://" in self.db:
            return []
        path = Path(self.db) if self.db else default_db_path()
        missing = []
        for candidate in (path, *path.parents):
            if os.path.lexists(candidate):
                break
            missing.append(str(candidate))
        return missing

    def close(self) -> None:
        if self._ledger is None:
            return
        # A write that stored nothing (a refused first event, an empty import) leaves no new
        # ledger behind: a later read of the same mistyped path must still say "no ledger".
        empty = bool(self._fresh) and self._ledger.store.count() == 0
        self._ledger.close()
        if empty:
            from .store import SQLITE_COMPANIONS

            ledger_file, *directories = self._fresh
            for name in (ledger_file, *(ledger_file + s for s in SQLITE_COMPANIONS)):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(name)
            for directory in directories:
                with contextlib.suppress(OSError):
                    os.rmdir(directory)


def get_state() -> State:
    return click.get_current_context().find_object(State)  # type: ignore[return-value]


def get_ledger(*, create: bool = False) -> Ledger:
    """The ledger chosen by `--db`, opened on first use. For plugins' commands too.

    A command that records events passes `create=True`; for any other, a ledger that does
    not exist is an error (`no ledger at …`) and nothing is created."""
    return get_state().open(create=create)


class LedgerGroup(click.Group):
    """Turns LedgerError into `Error: …` and exit 2, and any other exception into exit 3."""

    # Plugins' commands are added on first look-up, so `CliRunner().invoke(cli, ...)` in a
    # plugin's own tests sees them as `referral-ledger` does.
    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if self is cli:
            load_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        if self is cli:
            load_plugin_commands()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
            if ctx.parent is None:
                sys.stdout.flush()  # a full disk is reported now, not lost at exit
            return result
        except LedgerError as exc:
            _fail(ctx, exc.message, exc.exit_code, exc)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            _quiet_broken_pipe()
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None
        except OSError as exc:
            if exc.errno not in _OUTPUT_ERRNOS or exc.filename is not None:
                _internal(ctx, exc)
            _fail_output(ctx, exc)
        except Exception as exc:  # noqa: BLE001 — any other failure is a bug: exit 3
            _internal(ctx, exc)

        finally:
            state = ctx.find_object(State)
            if state is not None and ctx.parent is None:
                state.close()

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Report usage errors as the contract wants: `Error: …` first, on one line, exit 2."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            path = exc.ctx.command_path if exc.ctx is not None else "referral-ledger"
            message = " ".join(exc.format_message().split())
            click.echo(f"Error: {safe(message)} (see '{path} --help')", err=True)
            sys.exit(ExitCode.BAD_INPUT)
        except click.ClickException as exc:
            click.echo(f"Error: {safe(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(ExitCode.FINDINGS)
        sys.exit(code if isinstance(code, int) else 0)


def _internal(ctx: click.Context, exc: BaseException) -> None:
    """Any failure not foreseen is a bug: exit 3, with the traceback under --debug."""
    debug = _debug(ctx)
    if debug:
        import traceback  # only on failure: it costs every start-up a millisecond

        traceback.print_exception(exc)
    hint = "" if debug else " (rerun with --debug for the traceback)"
    click.echo(f"Error: internal error: {type(exc).__name__}: {exc}{hint}", err=True)
    ctx.exit(ExitCode.INTERNAL)


# What writing to stdout can fail with (`> /dev/full`, a full disk or quota, a lost terminal)
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _fail_output(ctx: click.Context, exc: OSError) -> None:
    import traceback

    # A listing's generator, still open in the failed frames, must close while the ledger is
    # open, not at exit after it is closed.
    traceback.clear_frames(exc.__traceback__)
    # What stays in stdout's buffer would fail again at exit, with Python's own message.
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())
    _fail(ctx, f"cannot write output: {exc.strerror or exc}", ExitCode.BAD_INPUT, exc)


def _debug(ctx: click.Context) -> bool:
    state = ctx.find_object(State)
    return bool(state and state.debug)


def _fail(ctx: click.Context, message: str, code: int, exc: BaseException) -> None:
    if _debug(ctx):
        import traceback

        traceback.print_exception(exc)
    click.echo(f"Error: {safe(message)}", err=True)
    ctx.exit(code)


def _quiet_broken_pipe() -> None:
    # The reader went away (`| head`): stop quietly, as Unix tools do.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise click.exceptions.Exit(0)


def safe(text: str) -> str:
    """Make user-supplied text harmless on a terminal: escapes, controls and the characters
    that disguise text (bidirectional overrides, zero-width ones) become visible."""
    return visible(text)


def emit_json(value: Any) -> None:
    import orjson

    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


def emit_json_array(items: Iterable[Any]) -> int:
    """`emit_json(list(items))`, byte for byte, written as the items come: a long list is never
    held in memory whole. Returns how many items it wrote."""
    import orjson

    out = sys.stdout.buffer
    count = 0
    for item in items:
        text = orjson.dumps(item, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n  ")
        out.write((b",\n  " if count else b"[\n  ") + text)
        count += 1
    out.write(b"\n]\n" if count else b"[]\n")
    out.flush()
    return count


def emit_jsonl(values: Any, out: IO[bytes] | None = None) -> int:
    import orjson

    out = out or sys.stdout.buffer
    count = 0
    for value in values:
        out.write(orjson.dumps(value) + b"\n")
        count += 1
    out.flush()
    return count


@click.group(
    cls=LedgerGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--db",
    envvar="REFERRAL_LEDGER_DB",
    metavar="PATH_OR_URL",
    help="Ledger to use: a SQLite file path, or a postgresql:// URL. "
    "[env: REFERRAL_LEDGER_DB; default: a file in your data directory]",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    help="Settings file (TOML). [default: config.toml in your config directory]",
)
@click.option(
    "--master-key-file",
    envvar="REFERRAL_LEDGER_MASTER_KEY_FILE",
    type=click.Path(dir_okay=False),
    help="File holding the master key (64 hex digits) that encrypts personal data at rest. "
    "[env: REFERRAL_LEDGER_MASTER_KEY_FILE, or the key itself in REFERRAL_LEDGER_MASTER_KEY]",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Show no progress bars (they show only on a terminal, for long work).",
)
@click.version_option(package_name="referral-ledger", prog_name="referral-ledger")
@click.pass_context
def cli(
    ctx: click.Context,
    db: str | None,
    config: str | None,
    master_key_file: str | None,
    debug: bool,
    quiet: bool,
) -> None:
    """An event-sourced ledger of job referrals: who asked, who vouched, who received,
    and what each of them still owes the others.

    \b
    Example:
      referral-ledger --db referral-ledger-demo.db alerts --person dan
    """
    from .config import choose

    choose(config)
    ctx.obj = State(db, config, debug, master_key_file, quiet=quiet)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())  # no command: the help, and exit 0


def parse_time(value: str, *, option: str, through_day: bool = False) -> int:
    """Microseconds of what a time option was given: ISO 8601 with an offset, or a friendly
    date (`YYYY-MM-DD`, `today`, `yesterday`, `now`, `N days ago`) read in the configured
    `timezone`. `through_day` reads a day as through its end (`--as-of`, `--known-at`); else
    as that day at the current time of day, never in the future (`--at`, `--on`)."""
    from datetime import UTC, datetime

    from .dates import FORMS, later_day, read_friendly
    from .events import parse_timestamp, to_micros
    from .plugins import settings

    try:
        now = datetime.now(UTC)
        zone = settings().zone()
        friendly = read_friendly(value, now=now, zone=zone, through_day=through_day)
        if not through_day and later_day(value, now=now, zone=zone):
            # As the contract reads a day without a time (as git does): never in the future.
            click.echo(
                f"Warning: {option} {safe(value)} is a day still to come, read as now; give a "
                f"time with an offset (like {value.strip()}T10:00:00Z) for a moment to come",
                err=True,
            )
        if friendly is not None:
            return friendly
        return to_micros(parse_timestamp(value, future_ok=True))
    except ValueError as exc:
        hint = f" (or one of: {FORMS})" if "not an ISO 8601" in str(exc) else ""
        raise LedgerError(f"{option}: {exc}{hint}") from None


def parse_time_option(name: str, value: str) -> int:
    """Microseconds of a bound given to option `name` (`--as-of`, `--known-at`): a day means
    through its end."""
    return parse_time(value, option=name, through_day=True)


def time_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--as-of` and `--known-at` to a read command.

    The command receives `as_of` (microseconds, default now) and `known_at` (microseconds, or
    None for now: the incrementally kept state).
    """

    @click.option(
        "--as-of",
        "as_of",
        metavar="T",
        help="World time: the clock for what is overdue; only events that happened by T count. "
        "ISO 8601, or YYYY-MM-DD, today, yesterday, N days ago (a day: through its end). "
        "[default: now]",
    )
    @click.option(
        "--known-at",
        "known_at",
        metavar="K",
        help="Ledger time: count only events recorded by K (the same forms as --as-of). "
        "[default: now]",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, as_of: str | None, known_at: str | None, **kwargs: Any) -> Any:
        import time

        now = time.time_ns() // 1000
        as_of_us = parse_time_option("--as-of", as_of) if as_of is not None else now
        known_us = parse_time_option("--known-at", known_at) if known_at is not None else None
        return func(*args, as_of=as_of_us, known_at=known_us, **kwargs)

    return wrapper


def read_input(source: str) -> bytes:
    if source == "-":
        from .interchange import MAX_EVENT_BYTES

        # One byte past the limit is enough to refuse: stdin may be endless (`< /dev/zero`).
        data = sys.stdin.buffer.read(MAX_EVENT_BYTES + 1)
        if len(data) > MAX_EVENT_BYTES:
            raise LedgerError(_too_big_event())
        return data
    try:
        # surrogateescape gives back the bytes of a non-UTF-8 argument, to be refused as such
        return source.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        raise LedgerError("input is not valid UTF-8 (lone surrogate)") from None


@cli.command()
@click.argument("event_json", metavar="JSON")
@click.option("--json", "as_json", is_flag=True, help="Print the stored event as JSON (default).")
def record(event_json: str, as_json: bool) -> None:
    """Record one event given as a JSON object (`-` reads it from stdin).

    Prints the stored event, with its id, seq, recorded_at and hash.

    \b
    Example:
      referral-ledger record '{"type": "person-added", "handle": "ana", "name": "Ana Ruiz"}'
    """
    from .interchange import parse_event

    data = read_input(event_json)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LedgerError("input is not valid UTF-8") from None
    event = get_ledger(create=True).record(parse_event(text))
    emit_json(event)
    if "@" in event["id"]:
        _warn_email_ids(1)


@cli.command(name="import")
@click.argument("path", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def import_(path: str, as_json: bool) -> None:
    """Record every event of a JSON Lines file (`-` for stdin), all or nothing.

    The file is read, checked and written a page of events at a time, in one transaction: a
    long file takes no more memory than a short one, a refused line anywhere stores nothing,
    and other writers wait until the import ends. The plugins' derived state (alerts, flags,
    ...) is then brought up to date, so that the next command does not wait for it.

    \b
    Example:
      referral-ledger --db restored.db import backup.jsonl
    """
    from .terminal import Steps

    # Lines are read as they are checked and written, a page at a time: one bar, which counts
    # bytes (about 5000 events, the fewest that make a bar worth showing, are 400 kB).
    with Steps("Checking", at=400_000) as checking:
        lines = _read_lines(path, checking)
        ledger = get_ledger(create=True)
        result = ledger.import_lines(lines)
    email_like_ids = result.email_like_ids
    summary = {
        "stored": result.count,
        "unchanged": result.unchanged,
        "restored": result.restored,
        "first_seq": result.first_seq,
        "last_seq": result.last_seq,
    }
    del lines, result  # the catch-up need not hold the imported events in memory too
    _catch_up_after_import(ledger)
    if email_like_ids:
        _warn_email_ids(email_like_ids)
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"Imported {summary['stored']} new event(s); {summary['unchanged']} already stored."
        )


def _catch_up_after_import(ledger: Ledger) -> None:
    """Bring the derived state up to the imported events, with a progress bar on a terminal
    (see `projections.catch_up`): what the first read would do otherwise. The import stands
    whatever happens here; what stops the catch-up (a busy ledger, an event type no enabled
    plugin defines) is left for the next read to catch up, or to report."""
    from .projections import catch_up

    with contextlib.suppress(LedgerError):
        catch_up(ledger)


def _read_checkpoint(path: str | None) -> Checkpoint | None:
    """The checkpoint record `--checkpoint FILE` names (None without the option); a bad one is
    bad input naming the option."""
    from .verify import parse_checkpoint

    if path is None:
        return None
    try:
        return parse_checkpoint(_read_file(path))
    except ValueError as exc:
        raise LedgerError(f"--checkpoint {path}: {exc}") from None


def _warn_email_ids(count: int) -> None:
    which = "an event id contains" if count == 1 else f"{count} event ids contain"
    click.echo(
        f"Warning: {which} '@', like an email address: `forget` never erases an id, so an id "
        "must not hold personal data (see docs/privacy.md)",
        err=True,
    )


def _too_big_event() -> str:
    from .interchange import MAX_EVENT_BYTES

    return f"event is over {MAX_EVENT_BYTES} bytes; the limit is {MAX_EVENT_BYTES}"


def _read_lines(path: str, progress: Callable[[int, int], None] | None = None) -> Iterator[bytes]:
    """The lines of `path`; `progress(bytes read, size)` is told as they are read, when the
    size is known (a file, or stdin redirected from one)."""
    from .app import MAX_IMPORT_BYTES
    from .interchange import MAX_EVENT_BYTES

    try:
        stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise LedgerError(f"cannot read {path}: {exc.strerror}") from None
    size = None
    with contextlib.suppress(OSError, ValueError):
        seen = os.fstat(stream.fileno())
        size = seen.st_size if stat.S_ISREG(seen.st_mode) else None
    with stream:
        total = 0
        number = 0
        while True:
            # At most one byte past the per-event limit is read before a line is refused: a
            # line that never ends (`/dev/zero`) costs no more memory than one event.
            try:
                line = stream.readline(MAX_EVENT_BYTES + 1)
            except OSError as exc:
                raise LedgerError(f"cannot read {path}: {exc.strerror}") from None
            if not line:
                return
            number += 1
            if len(line) > MAX_EVENT_BYTES:
                raise LedgerError(_too_big_event(), line=number)
            total += len(line)
            if progress is not None and size:
                progress(total, size)
            if total > MAX_IMPORT_BYTES:
                raise LedgerError(f"input is larger than {MAX_IMPORT_BYTES} bytes", line=number)
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                raise LedgerError("input is not valid UTF-8", line=number) from None
            yield line


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write to this file instead of stdout.",
)
def export(output: str) -> None:
    """Write every event as JSON Lines, in seq order.

    \b
    Example:
      referral-ledger export -o backup.jsonl
    """
    ledger = get_ledger()
    if output == "-":
        emit_jsonl(ledger.export())
        return
    check_output(output)
    with replacing_output(output) as out:
        emit_jsonl(ledger.export(), out)


def check_output(path: str, option: str = "-o") -> None:
    """Refuse an output file that is a symbolic link, the ledger's own file or a database."""
    from .output import check_target
    from .store import ledger_files

    check_target(path, ledger_files(get_ledger().store), option)


def replacing_output(path: str, option: str = "-o") -> Any:
    """The file `path`, written whole or not at all (checked first by `check_output`)."""
    from .output import replacing

    return replacing(path, option)


@cli.command()
@click.argument("handle")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--by", "by", metavar="HANDLE", help="Who is doing it (a known person).")
@click.option(
    "--reason", metavar="TEXT", help="Why. Kept as the --by person's text; else erased too."
)
@click.option("--json", "as_json", is_flag=True, help="Print the recorded event as JSON.")
def forget(handle: str, yes: bool, by: str | None, reason: str | None, as_json: bool) -> None:
    """Erase a person's name, email, title and notes for good. Cannot be undone.

    Every event stays, with the person's handle; their personal data is deleted from the
    ledger and its journal.

    \b
    Example:
      referral-ledger forget ana --by ana --reason 'asked to be forgotten'
    """
    ledger = get_ledger()
    person = ledger.person(handle)
    if person is None:
        raise LedgerError(f"unknown person {handle!r}")
    if person.forgotten:
        raise LedgerError(f"{handle!r} is already forgotten")
    if not yes and not _confirmed(
        f"Erase the personal data of {handle!r} for good? This cannot be undone"
    ):
        raise LedgerError("nothing forgotten: confirm, or pass --yes")
    event: dict[str, Any] = {"type": "person-forgotten", "handle": handle}
    if by is not None:
        event["by"] = by
    if reason is not None:
        event["reason"] = reason
    stored = ledger.record(event)
    if as_json:
        emit_json(stored)
    else:
        click.echo(f"Forgot {handle} (event {stored['id']}, seq {stored['seq']}).")
    if ledger.store.journal_pending:
        click.echo(
            "Warning: another process is reading the ledger, so old copies of the erased pages "
            "remain until every process using the ledger has closed it.",
            err=True,
        )


def _confirmed(question: str) -> bool:
    """Ask on a terminal; read one answer line otherwise, and refuse when there is none."""
    if sys.stdin.isatty():
        try:
            return click.confirm(question, err=True)
        except click.exceptions.Abort:
            return False
    answer = sys.stdin.readline()
    if not answer:
        raise LedgerError("no confirmation on stdin: answer y, or pass --yes")
    return answer.strip().lower() in ("y", "yes")


@cli.group()
def team() -> None:
    """The members of a team ledger on PostgreSQL: database roles mapped to handles.

    Once a ledger has members, the database itself refuses, for every client, events in
    another's name, retracting another's events, and forgetting another (see docs/team.md).

    \b
    Example:
      referral-ledger --db postgresql://owner@db.example/referrals team add ana --handle ana
    """


def _team(*, create: bool = False) -> Any:
    from .store.team import Team

    return Team(get_ledger(create=create).store)


@team.command(name="add")
@click.argument("role")
@click.option("--handle", required=True, metavar="HANDLE", help="The person the role writes as.")
@click.option("--admin", is_flag=True, help="May record anything on behalf of anyone.")
@click.option("--privacy-officer", is_flag=True, help="May forget anyone.")
@click.option("--json", "as_json", is_flag=True, help="Print the member as JSON.")
def team_add(role: str, handle: str, admin: bool, privacy_officer: bool, as_json: bool) -> None:
    """Make an existing login ROLE a member, writing as HANDLE (again: change its marks).

    Needs a role that owns the ledger's tables; the first `team add` makes the ledger a
    team ledger.

    \b
    Example:
      referral-ledger team add ana --handle ana --privacy-officer
    """
    new = _team(create=True).add(role, handle, admin=admin, privacy_officer=privacy_officer)
    member = {"role": role, "handle": handle, "admin": admin, "privacy_officer": privacy_officer}
    if as_json:
        emit_json(member)
        return
    marks = _member_marks(member)
    click.echo(
        f"{'Added' if new else 'Updated'} member {safe(role)} as {handle}"
        + (f" ({marks})" if marks else "")
        + "."
    )


@team.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def team_list(as_json: bool) -> None:
    """The members of the ledger's team, by role.

    \b
    Example:
      referral-ledger team list --json
    """
    members = [member.as_json() for member in _team().members()]
    if as_json:
        emit_json(members)
        return
    if not members:
        click.echo("No members: every role that can reach the ledger writes as before.")
    for member in members:
        marks = _member_marks(member)
        click.echo(f"{safe(member['role'])}: {member['handle']}" + (f" ({marks})" if marks else ""))


@team.command(name="remove")
@click.argument("role")
@click.option("--json", "as_json", is_flag=True, help="Print the removed member as JSON.")
def team_remove(role: str, as_json: bool) -> None:
    """Take ROLE out of the team and revoke its grants; the events it recorded stay.

    \b
    Example:
      referral-ledger team remove ana
    """
    member = _team().remove(role).as_json()
    if as_json:
        emit_json(member)
    else:
        click.echo(f"Removed member {safe(role)} ({member['handle']}).")


def _member_marks(member: dict[str, Any]) -> str:
    marks = ["admin"] if member["admin"] else []
    return ", ".join(marks + (["privacy officer"] if member["privacy_officer"] else []))


@cli.group(name="plugins", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def plugins_cmd(ctx: click.Context, as_json: bool) -> None:
    """The installed plugins and the hooks each implements.

    \b
    Example:
      referral-ledger plugins --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from .plugins import get_plugins

    infos = [info.as_json() for info in get_plugins().infos]
    if as_json:
        emit_json(infos)
        return
    for info in infos:
        state = "enabled" if info["enabled"] else "disabled"
        origin = "built-in" if info["builtin"] else (info["distribution"] or "local")
        click.echo(f"{info['name']} ({origin}, {state}): {', '.join(info['hooks']) or '-'}")
        if info["error"]:
            click.echo(f"  error: {safe(info['error'])}")


@plugins_cmd.command(name="new")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Where to write it. [default: ./referral-ledger-NAME]",
)
@click.option(
    "--kind",
    type=click.Choice(["command", "flag", "alert", "event-type"]),
    default="command",
    show_default=True,
    help="What the plugin adds: a command, a flag kind, an alert kind with its own [due] key, "
    "or an event type.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def plugins_new(name: str, directory: str | None, kind: str, as_json: bool) -> None:
    """Write the skeleton of a new plugin NAME: a package, its entry point, one hook, a test.

    \b
    Example:
      referral-ledger plugins new coffee-chat --kind alert
    """
    from pathlib import Path

    from .plugins import get_plugins
    from .scaffold import skeleton, write

    load_plugin_commands()
    taken = set(cli.commands) | {info.name for info in get_plugins().infos}
    skel = skeleton(name, taken, kind)
    target = Path(directory) if directory else Path(skel.distribution)
    written = write(skel, target)
    if as_json:
        emit_json(
            {
                "name": skel.name,
                "kind": skel.kind,
                "distribution": skel.distribution,
                "package": skel.package,
                "path": str(target),
                "files": [str(p) for p in written],
            }
        )
        return
    click.echo(f"Wrote plugin {name!r} to {target}. Install it and see it listed:")
    click.echo(f"  cd {target} && pip install -e . && referral-ledger plugins && pytest")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "-q", "--quiet", is_flag=True, help="Print nothing when all is well (findings still print)."
)
@click.option("--head", metavar="HASH", help="Also check that this earlier head is in the chain.")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Also check against a record printed by `checkpoint` (`-` for stdin).",
)
@click.option(
    "--fast",
    is_flag=True,
    help="With --checkpoint: only prove the ledger's Merkle tree extends the checkpoint's, "
    "in time that grows with log(events); not the events' content.",
)
def verify(
    as_json: bool, quiet: bool, head: str | None, checkpoint_file: str | None, fast: bool
) -> None:
    """Check the tamper-evident chain of the whole ledger. Exits 1 if it was altered.

    Every event is recomputed from its stored content; with --checkpoint, the chain must hold
    the checkpoint's head at its seq and (for a checkpoint with a tree) the ledger's Merkle
    tree must extend the checkpoint's. With --fast --checkpoint, only the second, plus the
    log's size and the tree's leaves at the checkpoint's seq and the newest: no event's
    content is read.

    \b
    Example:
      referral-ledger verify -q
      referral-ledger verify --checkpoint head.json
      referral-ledger verify --fast --checkpoint head.json
    """
    from .store import DamagedLedger
    from .verify import damaged_verdict, fast_verify, verify_store

    cp = _read_checkpoint(checkpoint_file)
    if head is not None and not (len(head) == 64 and all(c in "0123456789abcdef" for c in head)):
        raise LedgerError("--head: must be 64 lowercase hex digits, as verify printed it")
    if fast and cp is None:
        raise LedgerError("--fast needs --checkpoint: it proves the ledger extends a checkpoint")
    if fast and cp is not None and cp.tree_root is None:
        raise LedgerError(
            f"--fast: the checkpoint {checkpoint_file} has no tree (tree_size, tree_root): "
            "it was written before 0.2; verify without --fast checks it"
        )
    if fast and head is not None:
        raise LedgerError("--fast checks a checkpoint, not --head: verify without --fast")
    try:
        store = get_ledger().store
    except DamagedLedger as exc:
        verdict = damaged_verdict(exc)  # what is gone is the finding
    else:
        if fast and cp is not None:
            verdict = fast_verify(store, cp)
            _print_verdict(verdict, as_json=as_json, quiet=quiet, head=head, cp=cp, fast=True)
            return
        verdict = _with_progress(
            "Verifying",
            store.count(),
            lambda step: verify_store(store, head=head, checkpoint=cp, progress=step, rebuild=True),
        )
    _print_verdict(verdict, as_json=as_json, quiet=quiet, head=head, cp=cp)


def _print_verdict(
    verdict: Any, *, as_json: bool, quiet: bool, head: str | None, cp: Any, fast: bool = False
) -> None:
    """What `verify` prints of a verdict, and its exit status."""
    from .terminal import paint
    from .verify import TRUNCATION_WARNING

    if as_json:
        emit_json(verdict.as_json())
    elif verdict.ok and quiet:
        pass  # all is well: nothing to say
    elif verdict.ok:
        click.echo(
            f"{paint('Chain ok', 'green')}: {verdict.events} events, "
            f"head {verdict.head or '(none)'}."
        )
        if verdict.head_found:
            click.echo("The head you gave is in the chain.")
        if verdict.checkpoint_ok:
            click.echo(f"The checkpoint at seq {cp.seq if cp else 0} matches.")
        if fast:
            click.echo(
                "Note: --fast proved the Merkle tree only; the events' content was not read "
                "(verify without --fast checks it)."
            )
        elif verdict.warning:
            click.echo(f"Note: {TRUNCATION_WARNING}.")
        if not verdict.values_checked:
            click.echo("Note: personal values were not checked: they need the master key.")
        if verdict.tree_note:
            click.echo(f"Note: {verdict.tree_note}.")
    else:
        first = verdict.first_bad_seq
        broken = paint("Chain BROKEN", "red", bold=True)
        click.echo(broken + (f": first bad seq {first}" if first is not None else "") + ".")
        for problem in verdict.problems:
            click.echo(
                f"  seq {problem.seq if problem.seq is not None else '-'}: {problem.message}"
            )
        if verdict.head_found is False:
            click.echo(f"  the head {head} is not in the chain (rewritten or truncated history)")
        if verdict.checkpoint_ok is False:
            click.echo(
                "  the ledger's Merkle tree does not extend the checkpoint's "
                "(rewritten or truncated history)"
                if fast
                else "  the chain does not match the checkpoint (rewritten or truncated history)"
            )
    if not verdict.ok:
        raise click.exceptions.Exit(ExitCode.FINDINGS)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the record is JSON anyway).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write the record to this file instead of stdout.",
)
def checkpoint(as_json: bool, output: str) -> None:
    """Print the chain's head to keep somewhere else, for `verify --checkpoint`.

    \b
    Example:
      referral-ledger checkpoint -o head.json
    """
    import time

    import orjson

    from .events import format_timestamp, from_micros
    from .verify import verify_store

    ledger = get_ledger()
    if output != "-":
        check_output(output)
    verdict = verify_store(ledger.store)
    if not verdict.ok:
        click.echo(
            f"Error: the chain is broken (first bad seq {verdict.first_bad_seq}); "
            "run `verify` and do not trust this ledger's head",
            err=True,
        )
        raise click.exceptions.Exit(ExitCode.FINDINGS)
    record = {
        "checkpoint": "referral-ledger",
        "seq": verdict.events,
        "head": verdict.head,
        "events": verdict.events,
        "at": format_timestamp(from_micros(time.time_ns() // 1000)),
    }
    tree = ledger.store.tree_head()
    if tree is not None and tree[0] == verdict.events:
        # the Merkle tree's head (none on a read-only ledger of 0.1): `verify --checkpoint`
        # and `audit --checkpoint` prove the tree they find extends it
        record["tree_size"], record["tree_root"] = tree[0], tree[1].hex()
    data = orjson.dumps(record, option=orjson.OPT_INDENT_2) + b"\n"
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    with replacing_output(output) as out:
        out.write(data)
    if not as_json:
        click.echo(f"Checkpoint at seq {record['seq']} written to {output}; keep it elsewhere.")


@cli.command()
@click.argument("referral")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    help="Also write a self-contained HTML timeline to this file.",
)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Also prove the ledger's tree extends a record printed by `checkpoint` (`-` for stdin).",
)
@time_options
def audit(
    referral: str,
    as_json: bool,
    html_file: str | None,
    checkpoint_file: str | None,
    as_of: int,
    known_at: int | None,
) -> None:
    """Show the whole history of one referral, with both times of every event.

    `chain` is `ok` when the referral's events, and those of the people they name, are as
    they were stored, linked into the chain, complete, and in the ledger's Merkle tree (with
    --checkpoint: a tree that extends the checkpoint's). Without a tree (a read-only ledger of
    0.1) or when a proof fails, the whole ledger is verified instead. `verify` checks it all.

    \b
    Example:
      referral-ledger audit ana-acme --html ana.html
    """
    from .audit import build_audit, timeline
    from .verify import audit_chain, verify_store

    cp = _read_checkpoint(checkpoint_file)
    ledger = get_ledger()
    if ledger.referral(referral) is None:
        raise LedgerError(f"unknown referral {referral!r}")
    if html_file is not None:
        check_output(html_file, "--html")
    chain_ok = audit_chain(ledger.store, referral, types=ledger.types, checkpoint=cp)
    if chain_ok is None:  # the fast way cannot decide: the whole chain
        chain_ok = _with_progress(
            "Verifying",
            ledger.store.count(),
            lambda step: verify_store(ledger.store, checkpoint=cp, progress=step),
        ).ok
    report = build_audit(ledger, referral, as_of=as_of, known_at=known_at, chain_ok=chain_ok)
    if html_file is not None:
        from .report import render

        page = render(report).encode("utf-8")
        with replacing_output(html_file, "--html") as out:
            out.write(page)
    if as_json:
        emit_json(report.as_json())
        return
    for line in timeline(report):
        click.echo(safe(line))
    if html_file is not None:
        click.echo(f"Timeline page written to {html_file}.")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def replay(as_json: bool) -> None:
    """Rebuild every plugin's derived state from the first event, and check it.

    Any difference from the incrementally kept state is a bug in a plugin: exits 1. Rows kept
    for a plugin that is disabled or uninstalled are reported as orphaned, and left alone.

    \b
    Example:
      referral-ledger replay
    """
    import time

    from .projections import orphans
    from .projections import replay as rebuild

    ledger = get_ledger()
    if ledger.store.read_only:
        raise LedgerError(
            f"replay rebuilds the derived state, which needs a writable ledger; "
            f"{ledger.store.url} is read-only (its other read commands work)"
        )
    started = time.monotonic()
    results = rebuild(ledger)
    orphaned = orphans(ledger)
    seconds = round(time.monotonic() - started, 3)
    ok = all(r.same for r in results)
    if as_json:
        emit_json(
            {
                "ok": ok,
                "events": ledger.store.count(),
                "seconds": seconds,
                "projections": [
                    {
                        "name": r.name,
                        "plugin": r.plugin,
                        "incremental_rows": r.incremental,
                        "rebuilt_rows": r.rebuilt,
                        "only_incremental": r.only_incremental[:20],
                        "only_rebuilt": r.only_rebuilt[:20],
                        "error": r.error,
                    }
                    for r in results
                ],
                "orphaned": [{"name": o.name, "rows": o.rows} for o in orphaned],
            }
        )
    else:
        for r in results:
            state = "same" if r.same else "DIFFERENT"
            click.echo(f"{r.name} ({r.plugin}): {r.rebuilt} rows rebuilt, {state}")
            if r.error:
                click.echo(f"  error: {safe(r.error)}")
            for label, found in (
                ("only incremental", r.only_incremental),
                ("only rebuilt", r.only_rebuilt),
            ):
                for row in found[:5]:
                    click.echo(f"  {label}: {safe(str(row))}")
        for o in orphaned:
            click.echo(
                f"{safe(o.name)}: {o.rows} row{'s' if o.rows != 1 else ''} orphaned, counted "
                "nowhere (no enabled plugin registers this projection: disabled or uninstalled)"
            )
        click.echo(
            f"Replayed {ledger.store.count()} events in {seconds}s: "
            + ("no difference." if ok else "differences found (a bug in a plugin).")
        )
    if not ok:
        raise click.exceptions.Exit(ExitCode.FINDINGS)


@cli.command()
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=20,
    show_default=True,
    help="How many events, newest first.",
)
@click.option("--person", metavar="HANDLE", help="Only the events that name HANDLE.")
@click.option("--referral", metavar="KEY", help="Only the events of one referral.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array in the export format.")
def log(limit: int, person: str | None, referral: str | None, as_json: bool) -> None:
    """The ledger's events, newest first: seq, short id, when, type and what happened.

    \b
    Example:
      referral-ledger log --limit 5
      referral-ledger log --referral ana-acme --json
    """
    from .views import View

    ledger = get_ledger()
    view = View(ledger)
    if person is not None and view.person(person) is None:
        raise LedgerError(f"unknown person {person!r}")
    if referral is not None and ledger.referral(referral) is None:
        raise LedgerError(f"unknown referral {referral!r}")
    found = ledger.store.latest_events(limit, person=person, referral=referral)
    records = [ledger.export_record(stored) for stored in found]
    if as_json:
        emit_json_array(records)
        return
    if not records:
        click.echo("No events yet.")
        return
    retracted = view.retracted([r["id"] for r in records])
    members = ledger.store.member_handles()
    for record in records:
        line = _log_line(ledger, view, record, record["id"] in retracted, members)
        click.echo(safe(line))


def _log_line(
    ledger: Ledger,
    view: Any,
    record: dict[str, Any],
    retracted: bool,
    members: Mapping[str, str],
) -> str:
    """One event of `log`: seq, short id, `at`, type, and the one line its class gives."""
    key = record.get("referral")
    requester = view.parties(key).requester if key else None
    summary = ledger.describe(record, requester)
    if key:
        summary = f"{key}: {summary}"
    # Provenance (0.2): who wrote the event, where that is not its `by`.
    from .provenance import recorder_shown

    recorder = recorder_shown(record, members)
    if recorder is not None:
        summary += f" (recorded by {recorder})"
    if retracted:
        summary += " [retracted]"
    at = record["at"][:19] + "Z"  # to the second: the column stays aligned
    return f"{record['seq']:>6}  {record['id'][:8]:<8}  {at}  {record['type']:<20}  {summary}"


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(as_json: bool) -> None:
    """Which ledger, config and plugins are in use, the backend, the events, who you are.

    Works when the ledger does not exist yet, and says so; it creates nothing.

    \b
    Example:
      referral-ledger info
      referral-ledger --db team.db info --json
    """
    from .config import default_config_path
    from .plugins import get_plugins, me, settings
    from .store import BACKENDS, redact
    from .store.sqlite import default_db_path
    from .views import View

    state = get_state()
    db = state.db
    backend = next((b for b in BACKENDS if b.accepts(db)), None)
    name = backend.__name__.removesuffix("Backend").lower() if backend else None
    where = redact(db) if db and "://" in db else str(db or default_db_path())
    events: int | None = None
    try:
        ledger = state.open()
    except LedgerError as exc:
        if not exc.message.startswith("no ledger at"):
            raise
        ledger = None
    else:
        events = ledger.store.count()
    config_path = state.config or str(default_config_path())
    found = settings()
    handle = me()
    known = None if ledger is None or handle is None else View(ledger).person(handle) is not None
    report = {
        "ledger": where,
        "exists": ledger is not None,
        "backend": name,
        "events": events,
        "config": config_path,
        "config_exists": os.path.exists(config_path),
        "plugins": [i.name for i in get_plugins().infos if i.enabled],
        "me": handle,
        "me_known": known,
        "timezone": found.timezone or str(found.zone()),
    }
    if as_json:
        emit_json(report)
        return
    state_text = "does not exist yet (a write creates it)"
    if ledger is not None:
        state_text = f"{events} events"
    click.echo(safe(f"Ledger:   {where} ({name}): {state_text}"))
    config_state = "" if report["config_exists"] else " (not there: defaults in force)"
    click.echo(safe(f"Config:   {config_path}{config_state}"))
    click.echo(safe(f"Plugins:  {', '.join(report['plugins']) or '(none)'}"))
    if handle is None:
        who = "not set (me = \"HANDLE\" in the config, or REFERRAL_LEDGER_ME)"
    else:
        who = handle + ("" if known in (True, None) else " (not a person in this ledger)")
    click.echo(safe(f"Me:       {who}"))
    click.echo(safe(f"Timezone: {report['timezone']}"))


MAX_CHECKPOINT_BYTES = 1024 * 1024


def _read_file(path: str) -> bytes:
    """A small input file (`-`: stdin), refused when over MAX_CHECKPOINT_BYTES."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_CHECKPOINT_BYTES + 1)
        else:
            with open(path, "rb") as stream:
                data = stream.read(MAX_CHECKPOINT_BYTES + 1)
    except OSError as exc:
        raise LedgerError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_CHECKPOINT_BYTES:
        name = "stdin" if path == "-" else path
        raise LedgerError(f"{name} is larger than {MAX_CHECKPOINT_BYTES} bytes: not a checkpoint")
    return data


def _with_progress(label: str, total: int, work: Callable[[Callable[[int], None]], Any]) -> Any:
    """Run `work(step)` with a progress bar on a terminal's stderr when there is much to do."""
    from .terminal import with_progress

    return with_progress(label, total, work)


def _load_plugin_commands() -> None:
    from .plugins import get_plugins

    plugins = get_plugins()
    for error in plugins.errors():
        click.echo(f"Warning: {safe(error)}", err=True)

    def report(error: Any) -> None:
        click.echo(f"Warning: {safe(str(error))}", err=True)

    plugins.call_each("register_commands", cli=cli, on_error=report)
    from .completion import offer

    offer(cli)


_loaded = False


def load_plugin_commands() -> None:
    """Let every plugin add its commands to `cli`, once per process."""
    global _loaded
    if not _loaded:
        _loaded = True
        _load_plugin_commands()


def main(argv: list[str] | None = None) -> None:
    load_plugin_commands()
    cli.main(args=argv, prog_name="referral-ledger")
