"""A pytest plugin for testing referral-ledger plugins: a temporary ledger and its command line.

Installed with referral-ledger (the `pytest11` entry point `ledger.testing`), so a plugin's
tests just ask for the `ledger_cli` fixture; where referral-ledger is only importable, a
conftest.py can say `pytest_plugins = ["ledger.testing"]` (the same name, so never twice).

`ledger_cli` runs the real CLI in-process on a fresh SQLite ledger, with data and config
directories under the test's `tmp_path` and every plugin but the built-ins switched off; name
the plugins to keep in the `ledger_plugins` fixture (override it in your conftest.py) or with
`@pytest.mark.ledger_plugins("my-plugin")`.

PYTEST_DONT_REWRITE: imported at pytest's start-up as a plugin, before assertion rewriting could
reach it; its assertions carry their own messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

_ENV_REMOVED = (
    "REFERRAL_LEDGER_DB",
    "REFERRAL_LEDGER_DISABLE_PLUGINS",
    "REFERRAL_LEDGER_MASTER_KEY",
    "REFERRAL_LEDGER_MASTER_KEY_FILE",
    "REFERRAL_LEDGER_ME",
)


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point the ledger's data and config directories into `tmp_path` and forget the user's
    ledger, key and plugin settings, so a test never touches them."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in _ENV_REMOVED:
        monkeypatch.delenv(name, raising=False)


class Cli:
    """Runs the real command line in-process against one ledger."""

    def __init__(self, db: str):
        self.db = db
        from ledger import cli as cli_module

        cli_module.load_plugin_commands()
        self.cli = cli_module.cli
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | bytes | None = None) -> Result:
        """Run `referral-ledger --db DB ARGS...`, whatever its exit code."""
        return self.runner.invoke(self.cli, ["--db", self.db, *args], input=input)

    def ok(self, *args: str, input: str | bytes | None = None) -> Result:
        """Run the command and assert it succeeded (exit 0)."""
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.exit_code, result.output, result.stderr)
        return result

    def json(self, *args: str, input: str | bytes | None = None) -> Any:
        """Run the command, assert it succeeded, and parse its JSON output."""
        return orjson.loads(self.ok(*args, input=input).stdout)

    def record(self, event: dict[str, Any]) -> dict[str, Any]:
        """Record one event (a dict in the interchange format) and return it as stored."""
        return self.json("record", orjson.dumps(event).decode())

    def refused(self, *args: str, input: str | bytes | None = None) -> Result:
        """Run the command and assert it was refused: exit 2, `Error: ` first, no traceback."""
        result = self(*args, input=input)
        assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
        assert result.stderr.startswith("Error: "), result.stderr
        assert "Traceback" not in result.output + result.stderr
        return result

    def stored(self) -> list[dict[str, Any]]:
        """What the ledger holds: its export, or nothing when no ledger exists (a refused
        first write leaves none behind on SQLite)."""
        result = self("export")
        if result.exit_code == 2 and result.stderr == f"Error: no ledger at {self.db}\n":
            return []
        return self.export()

    def export(self) -> list[dict[str, Any]]:
        """The ledger's events, as `export` prints them."""
        out = self.ok("export").stdout
        # split on "\n" alone: str.splitlines() also breaks inside JSON strings at U+2028 and kin
        return [orjson.loads(line) for line in out.split("\n") if line.strip()]


def installed_plugins() -> dict[str, bool]:
    """Every installed plugin's name, and whether it ships with referral-ledger."""
    from ledger.plugins import GROUP

    found: dict[str, bool] = {}
    for ep in entry_points(group=GROUP):
        dist = ep.dist.metadata["Name"] if ep.dist is not None else None
        found.setdefault(ep.name, dist == "referral-ledger")
    return found


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ledger_plugins(*names): keep these installed referral-ledger plugins enabled in "
        "`ledger_cli` (the built-ins always are)",
    )


@pytest.fixture
def ledger_plugins() -> Iterable[str]:
    """The installed plugins `ledger_cli` keeps enabled besides the built-ins: none.

    Override it in your conftest.py to name your plugin, or mark a test
    `@pytest.mark.ledger_plugins("name", ...)`."""
    return ()


@pytest.fixture
def ledger_cli(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    ledger_plugins: Iterable[str],
) -> Iterator[Cli]:
    """The command line on a fresh SQLite ledger of the test's own, isolated from the user's
    ledger and config, with only the built-in plugins and those named by `ledger_plugins`."""
    import ledger.cli
    import ledger.plugins

    isolate(monkeypatch, tmp_path)
    keep = set(ledger_plugins)
    for mark in request.node.iter_markers("ledger_plugins"):
        keep.update(mark.args)
    off = sorted(
        name for name, builtin in installed_plugins().items() if not builtin and name not in keep
    )
    if off:
        monkeypatch.setenv(ledger.plugins.DISABLE_ENV, ",".join(off))
    # The plugins and their commands are loaded once per process: load them afresh for this
    # test's choice, and put back afterwards whatever the process had.
    monkeypatch.setattr(ledger.plugins, "_default", None)
    monkeypatch.setattr(ledger.cli, "_loaded", False)
    core = {
        name: command
        for name, command in ledger.cli.cli.commands.items()
        if getattr(command.callback, "__module__", "").startswith("ledger.")
    }
    monkeypatch.setattr(ledger.cli.cli, "commands", core)
    yield Cli(str(tmp_path / "ledger.db"))
