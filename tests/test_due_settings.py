"""Plugin-owned settings: the `[due]` keys are what the enabled plugins' projections declare, and a
projection's kept version follows its rules and the due times in force."""

from __future__ import annotations

import types
from dataclasses import replace
from typing import Any

import pytest
from ledger_alerts import obligations
from ledger_alerts.projection import AlertsProjection

import ledger.plugins
from ledger import Ledger, LedgerError, Projection, config, hookimpl
from ledger.api import micros, timestamp

DAY = 86_400 * 1_000_000
# The contract's `[due]` keys and defaults, in days: the alerts plugin declares exactly these.
CONTRACT_DUE = {
    "request-unanswered": 7,
    "follow-up-overdue": 3,
    "thank-you-requester": 2,
    "thank-you-referrer": 7,
    "thank-you-target": 7,
    "feedback-missing": 7,
    "referrer-check-in-missing": 14,
    "outcome-not-shared": 7,
    "introduction-pending": 7,
    "preparation-missing": 7,
}
PEOPLE = [{"type": "person-added", "handle": h, "name": h.title()} for h in ("ana", "carol", "dan")]
REQUEST = {
    "type": "referral-requested",
    "referral": "ana-acme",
    "by": "ana",
    "referrer": "carol",
    "company": "Acme",
    "at": "2026-10-01T09:00:00Z",
}


class Nudges(Projection):
    """A plugin's own alert kind: the requester owes the referrer a nudge, `nudge-missing`
    days after the request."""

    name = "nudges"
    version = "1"
    category = "alert"
    due = {"nudge-missing": 5}

    def parts(self, event: Any, view: Any) -> list[str]:
        return [event["referral"]] if event["type"] == "referral-requested" else []

    def derive(self, part: str, view: Any) -> list[dict[str, Any]]:
        from ledger.api import settings

        request = view.referral(part)[0]
        due = micros(request["at"]) + settings().due_micros("nudge-missing")
        return [
            {
                "kind": "nudge-missing",
                "referral": part,
                "person": request["by"],
                "owed_to": request["referrer"],
                "due": timestamp(due),
                "message": f"{request['by']} has not nudged {request['referrer']}",
                "start": timestamp(due + 1),
            }
        ]


def _nudge_plugin() -> types.ModuleType:
    module = types.ModuleType("nudge_plugin")

    @hookimpl
    def register_projections() -> list[Projection]:
        return [Nudges()]

    module.register_projections = register_projections  # type: ignore[attr-defined]
    return module


@pytest.fixture
def with_nudges(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's plugins: the installed ones and the `nudge` plugin."""
    nudge = ledger.plugins.Plugins(extra={"nudge": _nudge_plugin()})
    monkeypatch.setattr(ledger.plugins, "_default", nudge)


def _record_story(cli: Any) -> None:
    for event in [*PEOPLE, REQUEST]:
        cli.record(event)


def _nudge_due(cli: Any, *config: str) -> list[str]:
    found = cli.json(*config, "alerts", "--json", "--as-of", "2027-01-01T00:00:00Z")
    return [a["due"] for a in found if a["kind"] == "nudge-missing"]


def test_the_alerts_plugin_declares_the_contracts_keys_and_defaults_in_its_rules():
    assert {rule.due_key: rule.due_days for rule in obligations.RULES} == CONTRACT_DUE
    assert dict(AlertsProjection().due) == CONTRACT_DUE
    assert ledger.plugins.get_plugins().due_defaults() == CONTRACT_DUE
    assert dict(ledger.plugins.settings().due) == CONTRACT_DUE


def test_a_plugin_declaring_its_own_due_key_gets_it_configurable(with_nudges, sqlite_cli, tmp_path):
    _record_story(sqlite_cli)
    assert _nudge_due(sqlite_cli) == ["2026-10-06T09:00:00Z"]  # the declared default, 5 days
    config = tmp_path / "quick.toml"
    config.write_text("[due]\nnudge-missing = 1.5\nrequest-unanswered = 2\n")
    assert _nudge_due(sqlite_cli, "--config", str(config)) == ["2026-10-02T21:00:00Z"]
    unanswered = sqlite_cli.json(
        "--config", str(config), "alerts", "--json", "--as-of", "2027-01-01T00:00:00Z"
    )
    assert [a["due"] for a in unanswered if a["kind"] == "request-unanswered"] == [
        "2026-10-03T09:00:00Z"
    ]


def test_a_key_no_enabled_plugin_declares_is_refused_naming_it_and_the_known_keys(
    with_nudges, sqlite_cli, tmp_path
):
    _record_story(sqlite_cli)
    config = tmp_path / "typo.toml"
    config.write_text("[due]\nnudge-mising = 1\n")
    refused = sqlite_cli.refused("--config", str(config), "alerts")
    assert "[due] has no key 'nudge-mising'" in refused.stderr
    assert "request-unanswered" in refused.stderr and "nudge-missing" in refused.stderr
    assert refused.stdout == ""


def test_disabling_the_plugin_makes_its_key_unknown(sqlite_cli, tmp_path):
    """Without the `nudge` plugin (as when it is disabled: it is not even loaded), its key is
    a typo like any other."""
    _record_story(sqlite_cli)
    config = tmp_path / "nudge.toml"
    config.write_text("[due]\nnudge-missing = 1\n")
    refused = sqlite_cli.refused("--config", str(config), "alerts")
    assert "[due] has no key 'nudge-missing'" in refused.stderr
    assert "(known: request-unanswered, follow-up-overdue," in refused.stderr


def test_a_disabled_builtin_takes_its_keys_with_it(monkeypatch, tmp_path):
    monkeypatch.setenv(ledger.plugins.DISABLE_ENV, "alerts")
    monkeypatch.setattr(ledger.plugins, "_default", None)
    assert "request-unanswered" not in ledger.plugins.get_plugins().due_defaults()
    path = tmp_path / "due.toml"
    path.write_text("[due]\nrequest-unanswered = 1\n")
    with pytest.raises(LedgerError, match="no key 'request-unanswered'"):
        config.load_settings(str(path), ledger.plugins.get_plugins().due_defaults())


def test_two_plugins_declaring_one_key_or_a_bad_default_are_refused(monkeypatch):
    class Twin(Nudges):
        name = "twin"

    class Bad(Nudges):
        name = "bad"
        due = {"nudge-later": -1}

    class Listed(Nudges):
        name = "listed"
        due = ["nudge-later"]  # type: ignore[assignment]

    for kind, message in (
        (Twin, "[due] key 'nudge-missing' is declared by both 'nudge' and 'other'"),
        (Bad, "plugin 'other' declares a bad [due] nudge-later must be between 0"),
        (Listed, "projection 'listed' declares `due` as a list, not a mapping"),
    ):
        other = types.ModuleType("other_plugin")

        @hookimpl
        def register_projections(kind: type[Projection] = kind) -> list[Projection]:
            return [kind()]

        other.register_projections = register_projections  # type: ignore[attr-defined]
        found = ledger.plugins.Plugins(extra={"nudge": _nudge_plugin(), "other": other})
        with pytest.raises(LedgerError) as refused:
            found.due_defaults()
        assert message in str(refused.value)


def _kept_version(db: str, name: str) -> str:
    ledger_ = Ledger(db)
    try:
        return ledger_.store.position(name)[1]
    finally:
        ledger_.close()


def test_a_changed_due_setting_changes_the_version_and_rebuilds_the_rows(
    with_nudges, sqlite_cli, tmp_path
):
    _record_story(sqlite_cli)
    assert _nudge_due(sqlite_cli) == ["2026-10-06T09:00:00Z"]
    before = _kept_version(sqlite_cli.db, "nudges")
    assert before == "1;nudge-missing=5"
    config = tmp_path / "slow.toml"
    config.write_text("[due]\nnudge-missing = 10\n")
    assert _nudge_due(sqlite_cli, "--config", str(config)) == ["2026-10-11T09:00:00Z"]
    assert _kept_version(sqlite_cli.db, "nudges") == "1;nudge-missing=10"
    # a setting of another projection's key leaves this projection's version alone
    config.write_text("[due]\nnudge-missing = 10\nfeedback-missing = 1\n")
    sqlite_cli.ok("--config", str(config), "alerts")
    assert _kept_version(sqlite_cli.db, "nudges") == "1;nudge-missing=10"


def test_a_changed_rule_changes_the_version_and_rebuilds_the_rows(monkeypatch, sqlite_cli):
    _record_story(sqlite_cli)
    as_of = ("--as-of", "2027-01-01T00:00:00Z")
    first = sqlite_cli.json("alerts", "--json", *as_of)
    assert [a["kind"] for a in first] == ["request-unanswered"]
    before = AlertsProjection().version
    assert _kept_version(sqlite_cli.db, "alerts").startswith(before + ";")

    reworded = tuple(
        replace(rule, what="{person} still owes {owed_to} an answer")
        if rule.kind == "request-unanswered"
        else rule
        for rule in obligations.RULES
    )
    monkeypatch.setattr(obligations, "RULES", reworded)
    assert AlertsProjection().version != before
    again = sqlite_cli.json("alerts", "--json", *as_of)
    assert [a["message"] for a in again] == [
        "carol still owes ana an answer (due 2026-10-08T09:00:00Z)"
    ]
    assert _kept_version(sqlite_cli.db, "alerts").startswith(AlertsProjection().version + ";")

    longer = tuple(
        replace(rule, due_days=9) if rule.kind == "request-unanswered" else rule
        for rule in reworded
    )
    monkeypatch.setattr(obligations, "RULES", longer)
    monkeypatch.setattr(ledger.plugins, "_default", None)  # the declared defaults, read afresh
    assert [a["due"] for a in sqlite_cli.json("alerts", "--json", *as_of)] == [
        "2026-10-10T09:00:00Z"
    ]
