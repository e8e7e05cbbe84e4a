"""The real `referral-ledger` command line, in-process, on a fresh ledger per test.

`ledger_cli` comes from referral-ledger's pytest plugin (`ledger.testing`): a ledger of the
test's own, with the data and config directories under `tmp_path`, and every installed plugin
but the built-ins and the ones named in `ledger_plugins` switched off.
"""

from __future__ import annotations

import pytest

from ledger.api import Cli

# Installed referral-ledger registers this pytest plugin itself; naming it here also covers a
# referral-ledger that is only importable. The same name, so it is never loaded twice.
pytest_plugins = ["ledger.testing"]


@pytest.fixture
def ledger_plugins() -> list[str]:
    return ["coffee-chat"]


@pytest.fixture
def people(ledger_cli: Cli) -> Cli:
    for handle in ("ana", "carol", "bob"):
        ledger_cli.record(
            {
                "type": "person-added",
                "handle": handle,
                "name": handle.title(),
                "company": "Acme",
                "at": "2026-10-01T09:00:00Z",
            }
        )
    return ledger_cli
