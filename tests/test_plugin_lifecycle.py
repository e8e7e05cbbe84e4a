"""The plugin lifecycle (contract 0.2, "Plugins, revised"): a row's `role` is checked."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli

import ledger.plugins as plugins_module
from ledger import Projection, hookimpl
from ledger.plugins import DISABLE_ENV, Plugins
from ledger.views import View

BASE = Path(__file__).parent / "fixtures" / "base.jsonl"
AS_OF = "2031-06-01T00:00:00Z"  # after everything in the story
ALERT_KIND = "test-nudge"


class Nudges(Projection):
    """An alert on every requester, owed to the referrer, from the moment of the request."""

    name = "test-nudges"
    category = "alert"
    role: Any = "requester"

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        return [event["referral"]] if event.get("referral") else []

    def derive(self, part: str, view: View) -> Iterator[Mapping[str, Any]]:
        for event in view.referral(part):
            if event["type"] == "referral-requested":
                yield {
                    "kind": ALERT_KIND,
                    "referral": part,
                    "person": event["by"],
                    "owed_to": event["referrer"],
                    "role": self.role,
                    "due": event["at"],
                    "message": f"{event['by']} owes {event['referrer']} a nudge",
                    "start": event["at"],
                }


class EntryPoint:
    """An installed plugin's entry point (of no distribution: not a built-in)."""

    def __init__(self, name: str, plugin: object) -> None:
        self.name, self.value, self.dist, self.plugin = name, f"test_{name}", None, plugin

    def load(self) -> object:
        return self.plugin


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """install(plugin or None, disabled=""): the installed plugins are the real ones plus
    "marks" (unless None: uninstalled), with REFERRAL_LEDGER_DISABLE_PLUGINS set to `disabled`,
    loaded afresh as a new process would."""
    real = plugins_module.entry_points

    def install(plugin: object | None, disabled: str = "") -> None:
        extra = [EntryPoint("marks", plugin)] if plugin is not None else []
        monkeypatch.setattr(
            plugins_module,
            "entry_points",
            lambda group: [*real(group=group), *extra] if group == plugins_module.GROUP else [],
        )
        monkeypatch.setenv(DISABLE_ENV, disabled)
        monkeypatch.setattr(plugins_module, "_default", None)

    yield install


def known_at(cli: Cli) -> str:
    """A moment after every event was recorded."""
    return max(event["recorded_at"] for event in cli.export())


def _stored_rows(cli: Cli, projection: str) -> int:
    from ledger.app import Ledger

    ledger = Ledger(cli.db, plugins=Plugins(load_entry_points=False))
    try:
        with ledger.store.read() as cur:
            found = cur.one(
                "SELECT COUNT(*) AS n FROM {p}rl_rows WHERE projection = ?", (projection,)
            )
        return int(found["n"])
    finally:
        ledger.close()


class BadRole(Nudges):
    name = "test-bad-role"
    role = "boss"


class BadRolePlugin:
    @hookimpl
    def register_projections(self) -> list[Projection]:
        return [BadRole()]


def test_a_row_with_a_role_that_is_not_a_party_is_refused_and_not_stored(
    cli: Cli, install: Any
) -> None:
    install(BadRolePlugin())
    cli.ok("import", str(BASE))
    for when in ([], ["--known-at", known_at(cli)]):
        result = cli.ok("alerts", "--json", "--as-of", AS_OF, *when)
        assert (
            "Warning: plugin 'marks' failed in projection 'test-bad-role': ValueError: row of "
            "part 'r1' has role 'boss'; a row's role is one of 'requester', 'referrer', "
            "'target', or absent"
        ) in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        # the built-in alerts are listed as ever; the bad rows are not
        found = {a["kind"] for a in orjson.loads(result.stdout)}
        assert found and ALERT_KIND not in found
        audit = cli.json("audit", "r1", "--json", "--as-of", AS_OF, *when)
        assert ALERT_KIND not in {a["kind"] for a in audit["alerts"]}
    assert _stored_rows(cli, "test-bad-role") == 0
    result = cli("replay", "--json")
    assert result.exit_code == 1  # a plugin's failure is a finding
    replayed = orjson.loads(result.stdout)
    (mine,) = [p for p in replayed["projections"] if p["name"] == "test-bad-role"]
    assert mine["rebuilt_rows"] == 0 and "has role 'boss'" in mine["error"]
    assert replayed["ok"] is False


@pytest.mark.parametrize("role", ["requester", "referrer", "target", None])
def test_a_row_naming_a_party_or_no_role_is_kept(cli: Cli, install: Any, role: Any) -> None:
    class Fine(Nudges):
        name = "test-fine-role"

    Fine.role = role

    class FinePlugin:
        @hookimpl
        def register_projections(self) -> list[Projection]:
            return [Fine()]

    install(FinePlugin())
    cli.ok("import", str(BASE))
    result = cli.ok("alerts", "--json", "--as-of", AS_OF)
    assert "Warning" not in result.stderr
    mine = [a for a in orjson.loads(result.stdout) if a["kind"] == ALERT_KIND]
    assert len(mine) == 3 and {a["role"] for a in mine} == {role}
    assert _stored_rows(cli, "test-fine-role") == 3


def test_a_rows_role_is_a_field_of_row() -> None:
    from ledger.api import Row

    row = Row("p", "flag", "k", "r1", "ana", None, 0, None, {"role": "referrer"})
    assert row.role == "referrer"
    assert Row("p", "flag", "k", "r1", "ana", None, 0, None, {}).role is None


def test_a_stranger_forward_by_someone_outside_the_referral_names_the_referrer_role(
    cli: Cli,
) -> None:
    """The built-in flag names a role a row may have: the forwarder vouched, as a referrer."""
    cli.ok("import", str(BASE))
    forward = cli.record(
        {
            "type": "resume-forwarded",
            "referral": "r1",
            "by": "erin",
            "to": "bob",
            "at": "2026-09-16T09:00:00Z",
        }
    )
    flags = cli.json("flags", "--json", "--person", "erin", "--as-of", AS_OF)
    assert [(f["role"], f["evidence"][0]) for f in flags if f["kind"] == "stranger-forward"] == [
        ("referrer", forward["id"])
    ]
    (erin,) = cli.json("reputation", "erin", "--json", "--as-of", AS_OF)
    costs = {
        role: [e["points"] for e in erin[f"as_{role}"]["explain"] if e["event"] == forward["id"]]
        for role in ("requester", "referrer", "target")
    }
    assert costs == {"requester": [], "referrer": [-10], "target": []}
