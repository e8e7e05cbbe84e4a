"""Ana has coffee with Carol, forgets to thank her, and asks her for a referral too soon."""

from __future__ import annotations

import json

from ledger.api import Cli

CHAT = {
    "type": "coffee-chat",
    "by": "ana",
    "with": "carol",
    "at": "2026-10-02T15:00:00Z",
    "note": "talked about the platform team",
}


def test_the_plugin_is_listed_with_its_hooks(ledger_cli):
    plugins = {p["name"]: p for p in ledger_cli.json("plugins", "--json")}
    mine = plugins["coffee-chat"]
    assert mine["builtin"] is False and mine["enabled"] is True
    assert mine["distribution"] == "referral-ledger-coffee-chat"
    assert set(mine["hooks"]) == {
        "register_event_types",
        "register_projections",
        "register_commands",
        "validate_event",
        "event_recorded",
    }


def test_a_coffee_chat_is_recorded_listed_and_reminded(people):
    result = people("record", json.dumps(CHAT))
    assert result.exit_code == 0, result.stderr
    assert "Reminder: ana owes carol a thank-you" in result.stderr
    chats = people.json("coffee-chats", "--json")
    assert [(c["by"], c["with"]) for c in chats] == [("ana", "carol")]
    assert "note" not in chats[0]  # derived rows keep no free text
    assert people.json("coffee-chats", "--person", "bob", "--json") == []


def test_a_chat_with_oneself_is_refused(people):
    result = people("record", json.dumps({**CHAT, "with": "ana"}))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert "coffee-chat" in result.stderr and "two people" in result.stderr
    assert people.json("coffee-chats", "--json") == []


def test_a_chat_with_a_stranger_is_refused(people):
    result = people("record", json.dumps({**CHAT, "with": "zed"}))
    assert result.exit_code == 2
    assert "unknown person 'zed'" in result.stderr


def test_thanks_are_owed_within_two_days(people):
    people.record(CHAT)
    alerts = people.json("alerts", "--as-of", "2026-10-05T00:00:00Z", "--json")
    mine = [a for a in alerts if a["kind"] == "coffee-chat-thanks-missing"]
    assert [(a["person"], a["owed_to"], a["due"]) for a in mine] == [
        ("ana", "carol", "2026-10-04T15:00:00Z")
    ]
    assert people.json("alerts", "--as-of", "2026-10-04T14:00:00Z", "--json") == []
    people.record(
        {"type": "coffee-chat-thanks", "by": "ana", "to": "carol", "at": "2026-10-06T09:00:00Z"}
    )
    late = people.json("alerts", "--as-of", "2026-10-05T00:00:00Z", "--json")
    assert [a["kind"] for a in late] == ["coffee-chat-thanks-missing"]  # it was overdue then
    assert people.json("alerts", "--as-of", "2026-10-07T00:00:00Z", "--json") == []


def test_the_days_to_thank_are_a_setting(people, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[due]\n"coffee-chat-thanks" = 0.5\n')
    result = people("--config", str(config), "record", json.dumps(CHAT))
    assert "within 0.5 days" in result.stderr
    as_of = ("--as-of", "2026-10-05T00:00:00Z", "--json")
    quick = people.json("--config", str(config), "alerts", *as_of)
    assert [a["due"] for a in quick] == ["2026-10-03T03:00:00Z"]
    assert [a["due"] for a in people.json("alerts", *as_of)] == ["2026-10-04T15:00:00Z"]


def test_asking_for_a_referral_right_after_a_first_chat_is_flagged(people):
    chat = people.record(CHAT)
    request = people.record(
        {
            "type": "referral-requested",
            "referral": "ana-acme",
            "by": "ana",
            "referrer": "carol",
            "company": "Acme",
            "at": "2026-10-02T18:00:00Z",
        }
    )
    flags = [f for f in people.json("flags", "--json") if f["kind"] == "coffee-chat-then-ask"]
    assert flags == [
        {
            "kind": "coffee-chat-then-ask",
            "referral": "ana-acme",
            "person": "ana",
            "message": "ana asked carol for a referral 3 hour(s) after their first coffee chat",
            "evidence": [chat["id"], request["id"]],
        }
    ]


def test_a_retracted_chat_stops_counting(people):
    chat = people.record(CHAT)
    people.record(
        {
            "type": "event-retracted",
            "by": "ana",
            "retracts": chat["id"],
            "reason": "it was a phone call",
            "at": "2026-10-03T09:00:00Z",
        }
    )
    assert people.json("coffee-chats", "--json") == []
    assert people.json("alerts", "--as-of", "2026-10-20T00:00:00Z", "--json") == []


def test_coffee_chats_round_trip_through_export_and_import(people, tmp_path):
    people.record(CHAT)
    people.record({**CHAT, "by": "carol", "with": "bob", "at": "2026-10-03T08:00:00Z"})
    exported = people("export")
    assert exported.exit_code == 0
    path = tmp_path / "ledger.jsonl"
    path.write_text(exported.stdout)
    copy = Cli(str(tmp_path / "copy.db"))
    imported = copy("import", str(path))
    assert imported.exit_code == 0, imported.stderr
    assert copy("export").stdout == exported.stdout
    assert copy.json("verify", "--json")["ok"] is True
    assert copy.json("coffee-chats", "--json") == people.json("coffee-chats", "--json")
