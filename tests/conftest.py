"""Shared fixtures: a fresh ledger per test, on SQLite and (when configured) on PostgreSQL.

Set REFERRAL_LEDGER_TEST_PG to a postgresql:// URL to run every ledger test on PostgreSQL too;
each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import shlex
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from ledger.testing import Cli, isolate

# The fixtures plugins' tests use (`ledger_cli`): installed as a pytest plugin too, under the
# same name, so it is never registered twice.
pytest_plugins = ["ledger.testing"]

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
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def cli(db: str) -> Cli:
    """The CLI on a fresh ledger, on each backend."""
    return Cli(db)


@pytest.fixture
def sqlite_cli(sqlite_db: str) -> Cli:
    return Cli(sqlite_db)


@pytest.fixture
def empty(db: str, tmp_path: Any) -> Iterator[Cli]:
    """A second, empty ledger on the same backend as `cli`."""
    if db.startswith("postgresql"):
        schema = "t_" + uuid.uuid4().hex[:12]
        yield Cli(_pg_url(schema))
        _drop_schema(schema)
    else:
        yield Cli(str(tmp_path / "copy.db"))


def check_chain(ledger: Any) -> list[tuple[Mapping[str, Any], dict[str, Any]]]:
    """Recompute every link of the stored chain (recorded_by included), asserting each; the
    rows in seq order, each with its decoded record."""
    import orjson

    from ledger.events import format_timestamp, from_micros
    from ledger.interchange import dumps
    from ledger.store import GENESIS, chain_hash

    prev, rows = GENESIS, []
    for row in ledger.store.raw_rows():
        record = orjson.loads(bytes(row["state"]))["record"]
        stamp = format_timestamp(from_micros(int(row["recorded_us"])))
        digest = chain_hash(
            prev, int(row["seq"]), row["event_id"], stamp, dumps(record), row["recorded_by"]
        )
        assert digest == row["hash"], f"chain broken at seq {row['seq']}"
        prev = digest
        rows.append((row, record))
    return rows


ROOT = Path(__file__).resolve().parent.parent


def ledger_on_path(tmp_path: Path) -> dict[str, str]:
    """`PATH` and `PYTHONPATH` that put a `referral-ledger` of this checkout first, for tests
    that run documentation's shell blocks as written."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "referral-ledger"
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m ledger "$@"\n')
    script.chmod(0o755)
    paths = [str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(filter(None, paths)),
    }
