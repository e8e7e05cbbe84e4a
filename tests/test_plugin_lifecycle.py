"""The plugin lifecycle (contract 0.2, "Plugins, revised"): while a plugin is disabled or
uninstalled its stored rows count nowhere, `replay` reports them as orphaned, and once it is
back they count again, caught up with what was recorded meanwhile. A row's `role` is checked."""

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
EARLY = "2026-09-10T12:00:00Z"  # three hours after r1's request: no built-in alert is due yet
ALERT_KIND, FLAG_KIND = "test-nudge", "test-mark"


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


class Marks(Nudges):
    """A flag on every requester."""

    name = "test-marks"
    category = "flag"

    def derive(self, part: str, view: View) -> Iterator[Mapping[str, Any]]:
        for event in view.referral(part):
            if event["type"] == "referral-requested":
                yield {
                    "kind": FLAG_KIND,
                    "referral": part,
                    "person": event["by"],
                    "role": "requester",
                    "message": f"{event['by']} was marked",
                    "evidence": [event["id"]],
                    "start": event["at"],
                }


class MarksPlugin:
    @hookimpl
    def register_projections(self) -> list[Projection]:
        return [Nudges(), Marks()]


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


def views(cli: Cli, known_at: str) -> dict[str, Any]:
    """Everything a user sees of the derived rows, now and as known at `known_at`, for the
    whole ledger and for one person; `show` and `list`, which read no rows, besides."""
    seen: dict[str, Any] = {}
    for when in ([], ["--known-at", known_at]):
        times = ["--as-of", AS_OF, *when]
        key = " ".join(when)
        seen[f"alerts {key}"] = cli.json("alerts", "--json", *times)
        seen[f"alerts ana {key}"] = cli.json("alerts", "--json", "--person", "ana", *times)
        seen[f"flags {key}"] = cli.json("flags", "--json", *times)
        seen[f"flags ana {key}"] = cli.json("flags", "--json", "--person", "ana", *times)
        seen[f"reputation {key}"] = cli.json("reputation", "--json", *times)
        seen[f"reputation ana {key}"] = cli.json("reputation", "ana", "--json", *times)
        seen[f"reputation table {key}"] = cli.ok("reputation", *times).stdout
        seen[f"audit {key}"] = cli.json("audit", "r1", "--json", *times)
        seen[f"alerts text {key}"] = cli.ok("alerts", *times).stdout
    seen["show"] = cli.json("show", "r1", "--json")
    seen["list"] = cli.json("list", "--json")
    return seen


def kinds(seen: dict[str, Any]) -> set[str]:
    """Every alert and flag kind in the views, and every reason reputation gives."""
    found: set[str] = set()
    for name, value in seen.items():
        if name.startswith(("alerts ", "flags ")) and isinstance(value, list):
            found |= {item["kind"] for item in value}
        elif name.startswith("audit"):
            found |= {item["kind"] for item in value["alerts"] + value["flags"]}
        elif name.startswith("reputation") and isinstance(value, list):
            found |= {
                entry["reason"]
                for person in value
                for role in ("as_requester", "as_referrer", "as_target")
                for entry in person[role]["explain"]
            }
    return found


def check_quiet(cli: Cli) -> int:
    return cli("alerts", "--check", "--quiet", "--as-of", EARLY).exit_code


def known_at(cli: Cli) -> str:
    """A moment after every event was recorded."""
    return max(event["recorded_at"] for event in cli.export())


def test_a_disabled_or_uninstalled_plugins_rows_count_nowhere_until_it_is_back(
    cli: Cli, install: Any
) -> None:
    install(None)
    cli.ok("import", str(BASE))
    before = views(cli, known_at(cli))  # never installed
    assert check_quiet(cli) == 0  # nothing built-in is due three hours after the request

    install(MarksPlugin())
    enabled = views(cli, known_at(cli))
    assert {ALERT_KIND, FLAG_KIND} <= kinds(enabled)
    assert any("nudge" in reason for reason in kinds(enabled))  # reputation counted the alerts
    assert any("test-mark" in reason for reason in kinds(enabled))  # and the flags
    assert enabled["show"] == before["show"] and enabled["list"] == before["list"]
    assert check_quiet(cli) == 1
    assert cli.json("replay", "--json")["orphaned"] == []

    for state in ("disabled", "uninstalled"):
        if state == "disabled":
            install(MarksPlugin(), disabled="marks")
        else:
            install(None)
        # now and at every --known-at, for everyone and for one person: as if never installed
        assert views(cli, known_at(cli)) == before, state
        assert check_quiet(cli) == 0, state
        replayed = cli.json("replay", "--json")
        assert replayed["ok"] is True
        assert {p["name"] for p in replayed["projections"]} >= {"alerts", "flags", "reputation"}
        assert not {"test-nudges", "test-marks"} & {p["name"] for p in replayed["projections"]}
        # base.jsonl has three referrals: a row each, kept for when the plugin is back
        assert replayed["orphaned"] == [
            {"name": "test-marks", "rows": 3},
            {"name": "test-nudges", "rows": 3},
        ], state
        text = cli.ok("replay").stdout
        assert "test-nudges: 3 rows orphaned, counted nowhere" in text, text
        assert "no difference" in text

    # Back: nothing was lost, and what was recorded meanwhile is caught up.
    install(MarksPlugin())
    assert views(cli, known_at(cli)) == enabled
    install(MarksPlugin(), disabled="marks")
    cli.record(
        {
            "type": "referral-requested",
            "referral": "r4",
            "by": "dan",
            "referrer": "bob",
            "company": "Globex",
            "at": "2026-09-20T09:00:00Z",
        }
    )
    assert ALERT_KIND not in {a["kind"] for a in cli.json("alerts", "--json", "--as-of", AS_OF)}
    install(MarksPlugin())
    found = cli.json("alerts", "--json", "--as-of", AS_OF)
    assert sorted(a["referral"] for a in found if a["kind"] == ALERT_KIND) == [
        "r1",
        "r2",
        "r3",
        "r4",
    ]
    replayed = cli.json("replay", "--json")
    assert replayed["ok"] is True and replayed["orphaned"] == []


@pytest.mark.parametrize("plugin", ["alerts", "flags"])
def test_reputation_counts_nothing_of_a_disabled_built_in(
    cli: Cli, install: Any, plugin: str
) -> None:
    """Reputation takes its penalties from the alerts' and flags' rows when it is read: rows
    its own projection derived while they were enabled bake none of them in."""
    install(None)
    cli.ok("import", str(BASE))
    times = ["--as-of", AS_OF]
    later = ["--known-at", known_at(cli)]
    reason = "overdue " if plugin == "alerts" else "flag "
    enabled = {
        "now": cli.json("reputation", "--json", *times),
        "known": cli.json("reputation", "--json", *times, *later),
        "ana": cli.json("reputation", "ana", "--json", *times),
    }
    for scored in enabled.values():
        assert _reasons(scored, reason), (plugin, scored)

    install(None, disabled=plugin)
    disabled = {
        "now": cli.json("reputation", "--json", *times),
        "known": cli.json("reputation", "--json", *times, *later),
        "ana": cli.json("reputation", "ana", "--json", *times),
    }
    for name, scored in disabled.items():
        assert not _reasons(scored, reason), (plugin, name)
        # the same people, the same scores less what the disabled plugin's rows cost
        assert [p["person"] for p in scored] == [p["person"] for p in enabled[name]]
        for was, now in zip(enabled[name], scored, strict=True):
            for role in ("as_requester", "as_referrer", "as_target"):
                kept = [e for e in was[role]["explain"] if not e["reason"].startswith(reason)]
                assert now[role]["explain"] == kept
                assert now[role]["score"] == max(0, min(100, 50 + sum(e["points"] for e in kept)))
    assert cli.json("replay", "--json")["orphaned"] == [
        {"name": plugin, "rows": _stored_rows(cli, plugin)}
    ]

    install(None)
    assert cli.json("reputation", "--json", *times) == enabled["now"]


def _reasons(scored: list[dict[str, Any]], prefix: str) -> list[str]:
    return [
        entry["reason"]
        for person in scored
        for role in ("as_requester", "as_referrer", "as_target")
        for entry in person[role]["explain"]
        if entry["reason"].startswith(prefix)
    ]


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
