"""Shared fixtures: a fresh ledger per test, on SQLite and (when configured) on PostgreSQL.

Set REFERRAL_LEDGER_TEST_PG to a postgresql:// URL to run every ledger test on PostgreSQL too;
each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

PG_URL = os.environ.get("REFERRAL_LEDGER_TEST_PG")
BACKENDS = ["sqlite", "postgresql"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run the long variants too")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long variant: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _pg_url(schema: str) -> str:
    assert PG_URL is not None
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}schema={schema}"


def _drop_schema(schema: str) -> None:
    import psycopg

    base = PG_URL.split("?")[0] if PG_URL else ""
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A ledger location: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need REFERRAL_LEDGER_TEST_PG (a postgresql:// URL)")
    schema = "t_" + uuid.uuid4().hex[:12]
    yield _pg_url(schema)
    _drop_schema(schema)


@pytest.fixture
def sqlite_db(tmp_path: Any) -> str:
    return str(tmp_path / "ledger.db")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    # Never touch the user's real ledger or config.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("REFERRAL_LEDGER_DB", raising=False)
    monkeypatch.delenv("REFERRAL_LEDGER_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("REFERRAL_LEDGER_MASTER_KEY", raising=False)
    monkeypatch.delenv("REFERRAL_LEDGER_MASTER_KEY_FILE", raising=False)


class Cli:
    """Runs the real command line in-process against one ledger."""

    def __init__(self, db: str):
        self.db = db
        from ledger import cli as cli_module

        if not cli_module._loaded:
            cli_module._load_plugin_commands()
            cli_module._loaded = True
        self.cli = cli_module.cli
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | bytes | None = None) -> Result:
        return self.runner.invoke(self.cli, ["--db", self.db, *args], input=input)

    def ok(self, *args: str, input: str | bytes | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.exit_code, result.output, result.stderr)
        return result

    def json(self, *args: str, input: str | bytes | None = None) -> Any:
        return orjson.loads(self.ok(*args, input=input).stdout)

    def record(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.json("record", orjson.dumps(event).decode())

    def refused(self, *args: str, input: str | bytes | None = None) -> Result:
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
        out = self.ok("export").stdout
        # split on "\n" alone: str.splitlines() also breaks inside JSON strings at U+2028 and kin
        return [orjson.loads(line) for line in out.split("\n") if line.strip()]


@pytest.fixture
def cli(db: str) -> Cli:
    """The CLI on a fresh ledger, on each backend."""
    return Cli(db)


@pytest.fixture
def sqlite_cli(sqlite_db: str) -> Cli:
    return Cli(sqlite_db)
