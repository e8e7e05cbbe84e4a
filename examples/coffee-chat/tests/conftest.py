"""Run the real `referral-ledger` command line in-process, on a fresh ledger per test."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ledger.cli import cli


class Ledger:
    def __init__(self, db: str):
        self.db = db
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(cli, ["--db", self.db, *args])

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, (result.output, result.stderr)
        return json.loads(result.stdout)

    def record(self, event: dict[str, Any]) -> dict[str, Any]:
        result = self("record", json.dumps(event))
        assert result.exit_code == 0, (result.output, result.stderr)
        return json.loads(result.stdout)


@pytest.fixture
def ledger(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("REFERRAL_LEDGER_DISABLE_PLUGINS", raising=False)
    return Ledger(str(tmp_path / "ledger.db"))


@pytest.fixture
def people(ledger: Ledger) -> Ledger:
    for handle in ("ana", "carol", "bob"):
        ledger.record(
            {
                "type": "person-added",
                "handle": handle,
                "name": handle.title(),
                "company": "Acme",
                "at": "2026-10-01T09:00:00Z",
            }
        )
    return ledger
