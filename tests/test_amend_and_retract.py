"""Stories of the 0.2 event rules: `request-amended` (the requester changes their request), and
the revised retraction of `referral-requested` and `person-added` (CONTRACT.md, "New event
types" and "Retraction, revised"), through `record` and `import` on each backend."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from conftest import Cli
from judging_story import Story, day


def amend(story: Story, on: float, **fields: Any) -> dict[str, Any]:
    return story.event("request-amended", on, **{"by": "ana", **fields})


def refused(cli: Cli, event: dict[str, Any], fragment: str) -> str:
    """`record` refuses the event with exit 2, naming `fragment`, and stores nothing."""
    before = cli.export()
    result = cli.refused("record", orjson.dumps(event).decode())
    assert fragment in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert cli.export() == before
    return result.stderr


def ev(type_: str, on: float, **fields: Any) -> dict[str, Any]:
    event = {"type": type_, "at": day(on), **fields}
    if type_ not in ("person-added", "connection-declared", "event-retracted"):
        event.setdefault("referral", "r1")
    return event


def retract(story: Story, event: dict[str, Any], on: float, by: str = "ana") -> dict[str, Any]:
    fields = {"referral": event["referral"]} if event.get("referral") else {}
    return story.cli.record(
        ev("event-retracted", on, by=by, retracts=event["id"], reason="A mistake", **fields)
    )


def audit(cli: Cli, *args: str) -> dict[str, Any]:
    return cli.json("audit", "r1", "--json", *args)


# -- request-amended: what it changes ---------------------------------------------------------


def test_an_amendment_changes_the_request_in_show_list_and_audit(cli):
    story = Story(cli)
    request = story.request(0, target=None, preparation={"researched_company": True})
    amended = amend(
        story,
        0.5,
        role="Staff engineer",
        target="bob",
        goal="Join the platform team",
        preparation={"questions": ["How are incidents handled?"]},
    )
    shown = cli.json("show", "r1", "--json")
    assert (shown["role"], shown["target"]) == ("Staff engineer", "bob")
    assert shown["events"] == 2
    [row] = cli.json("list", "--json")
    assert (row["referral"], row["target"], row["role"]) == ("r1", "bob", "Staff engineer")
    out = audit(cli)
    assert [e["type"] for e in out["events"]] == ["referral-requested", "request-amended"]
    assert out["events"][1]["id"] == amended["id"] and out["events"][1]["retracted"] is False
    assert out["parties"]["target"] == "bob"
    text = cli.ok("audit", "r1").stdout
    assert "ana amended the request: preparation (questions), role, target bob, goal" in text
    # the request itself is stored as it was: the amendment is an event of its own
    assert "target" not in cli.export()[request["seq"] - 1]


def test_the_keys_of_an_amended_preparation_replace_only_those_keys(cli):
    # Carol asked for preparation; Ana adds her questions and a plan, and keeps her research.
    story = Story(cli)
    story.request(
        0, role=None, preparation={"researched_company": True, "researched_person": True}
    )
    story.vet(1, decision="needs-preparation")
    amend(story, 2, preparation={"questions": ["What does the team ship?"]})
    amend(story, 3, preparation={"follow_up_plan": "Write to Bob a day later"})
    story.introduce(4)
    # unprepared-request reads the preparation as amended by the first introduction
    assert not [f for f in story.flags(30) if f["kind"] == "unprepared-request"]


def test_an_amendment_after_the_introduction_does_not_change_how_it_was_judged(cli):
    story = Story(cli)
    story.request(0, preparation={"researched_company": True})
    story.vet(1)
    story.introduce(2)
    before = [f for f in story.flags(30) if f["kind"] == "unprepared-request"]
    assert len(before) == 1
    # the flags plugin re-derives on the amendment, and the first introduction still lacked it
    amend(story, 3, preparation={"researched_person": True, "questions": ["Why?"]})
    after = [f for f in story.flags(30) if f["kind"] == "unprepared-request"]
    assert [f["message"] for f in after] == [f["message"] for f in before]


def test_an_amendment_before_the_introduction_clears_the_unprepared_request_flag(cli):
    story = Story(cli)
    story.request(0, preparation={"researched_company": True})
    story.vet(1)
    intro = story.introduce(2)
    assert [f["kind"] for f in story.flags(30)].count("unprepared-request") == 1
    # recorded after the fact: Ana had sent the rest before the introduction
    amend(
        story,
        1.5,
        preparation={
            "researched_person": True,
            "questions": ["How does the team review code?"],
            "follow_up_plan": "Write two days later",
            "qualifications": "Five years of Python",
        },
    )
    assert "unprepared-request" not in [f["kind"] for f in story.flags(30)]
    # the introduction stands; only the judgement of the request changed
    assert [e["id"] for e in audit(cli)["events"] if e["type"] == "introduction-made"] == [
        intro["id"]
    ]


def test_views_before_the_amendment_see_the_request_as_it_was(cli):
    story = Story(cli)
    request = story.request(0, target=None, role="Engineer")
    amend(story, 5, target="bob", role="Staff engineer")
    # --as-of before the amendment's `at`: the request as asked
    assert audit(cli, "--as-of", day(4))["parties"]["target"] is None
    assert audit(cli, "--as-of", day(5))["parties"]["target"] == "bob"
    # --known-at before the amendment was recorded: the ledger did not know of it yet
    known = audit(cli, "--known-at", request["recorded_at"])
    assert [e["type"] for e in known["events"]] == ["referral-requested"]
    assert known["parties"]["target"] is None


def test_an_amended_relationship_is_the_requesters_current_account(cli):
    # Ana's request said worked-together; Carol says met-once. Ana corrects her account to
    # acquaintance (one rank from met-once): no longer two ranks apart, nothing misrepresented.
    story = Story(cli)
    story.request(0, relationship="worked-together")
    story.vet(1, relationship="met-once")
    assert "misrepresented-relationship" in [f["kind"] for f in story.flags(30)]
    amend(story, 2, relationship="acquaintance")
    assert "misrepresented-relationship" not in [f["kind"] for f in story.flags(30)]
    # and the superseded account is judged only up to the amendment
    assert "misrepresented-relationship" in [f["kind"] for f in story.flags(1.5)]


def test_retracting_an_amendment_gives_the_request_back(cli):
    story = Story(cli)
    story.request(0, role="Engineer")
    amended = amend(story, 1, role="Manager")
    assert cli.json("show", "r1", "--json")["role"] == "Manager"
    retract(story, amended, 2)
    assert cli.json("show", "r1", "--json")["role"] == "Engineer"


# -- request-amended: what is refused ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"by": "carol", "role": "x"}, "request-amended is by the requester (ana), not 'carol'"),
        ({"by": "bob", "goal": "x"}, "by the requester"),
        ({}, "needs at least one of: preparation, role, target, posting_at"),
        ({"preparation": {}}, "preparation: give at least one of its keys"),
        ({"preparation": {"bogus": True}}, "unknown field 'preparation.bogus'"),
        ({"preparation": {"researched_company": "yes"}}, "preparation.researched_company"),
        ({"preparation": {"questions": "Why?"}}, "preparation.questions"),
        ({"posting_at": "2026-13-01"}, "posting_at:"),
        ({"relationship": "bff"}, "relationship:"),
        ({"target": "zoe"}, "target: unknown person 'zoe'"),
        ({"target": "carol"}, "other than the requester and the referrer"),
        ({"role": "x", "company": "Globex"}, "unknown field 'company'"),
        ({"role": "x", "referral": "nope"}, "unknown referral 'nope'"),
    ],
)
def test_a_bad_amendment_is_refused(cli, fields, fragment):
    story = Story(cli)
    story.request(0)
    refused(cli, ev("request-amended", 1, **{"by": "ana", **fields}), fragment)


def test_the_target_can_be_amended_only_before_an_introduction(cli):
    story = Story(cli)
    story.request(0, target=None)
    story.vet(1)
    story.introduce(2, to="bob")
    # at the introduction, or after it: refused
    for on in (2, 3):
        refused(cli, ev("request-amended", on, by="ana", target="dan"), "only before an introd")
    # just before it (recorded after the fact): accepted
    amend(story, 1.99, target="dan")
    # other fields may be amended after an introduction
    amend(story, 3, goal="Any backend team")


def test_a_retracted_introduction_does_not_hold_the_target(cli):
    story = Story(cli)
    story.request(0, target=None)
    intro = story.introduce(2, to="bob")
    retract(story, intro, 3, by="carol")
    amend(story, 4, target="dan")
    assert cli.json("show", "r1", "--json")["target"] == "dan"


def test_an_amendment_is_refused_once_the_referral_is_closed(cli):
    story = Story(cli)
    story.request(0)
    story.event("referral-closed", 5, by="ana", reason="Found another way in")
    for on in (5, 6):
        refused(cli, ev("request-amended", on, by="ana", role="x"), "is closed")
    # what the requester changed before closing, recorded later, still counts
    amend(story, 4.5, role="Staff engineer")


def test_an_import_with_a_bad_amendment_stores_nothing_and_names_the_line(cli):
    story = Story(cli)
    story.request(0)
    before = cli.export()
    lines = [
        ev("request-amended", 1, by="ana", role="Staff engineer"),
        ev("request-amended", 2, by="carol", role="Manager"),
    ]
    result = cli.refused("import", "-", input=b"\n".join(orjson.dumps(e) for e in lines))
    assert "line 2" in result.stderr and "by the requester" in result.stderr
    assert cli.export() == before


# -- retracting a request ---------------------------------------------------------------------


def test_a_request_is_retracted_only_once_nothing_else_of_its_referral_is_live(cli):
    story = Story(cli)
    request = story.request(0)
    vet = story.vet(1)
    stderr = refused(
        cli, ev("event-retracted", 2, by="ana", retracts=request["id"], referral="r1",
                reason="Wrong referrer"),  # fmt: skip
        "a request cannot be retracted while its referral has 1 other live event(s)",
    )
    assert "close the referral" in stderr
    retract(story, vet, 2, by="carol")
    retract(story, request, 3)
    # the key is free: nothing can be recorded on it but a new request
    refused(cli, ev("request-vetted", 4, by="carol", decision="accept", knows_work=True),
            "unknown referral 'r1'")  # fmt: skip
    refused(
        cli,
        ev("event-retracted", 4, by="ana", retracts=request["id"], referral="r1", reason="x"),
        "already retracted",
    )
    assert cli.json("list", "--json") == []


def test_a_key_requested_again_after_its_request_was_retracted(cli, empty, tmp_path):
    story = Story(cli)
    first = story.request(0, company="Acme", role="Engineer")
    amended = amend(story, 0.5, role="Staff engineer")
    retract(story, amended, 0.6)
    retract(story, first, 0.7)
    # Ana asks again under the same key, through Dan, for another company
    second = story.request(1, referrer="dan", company="Globex", target=None, role="Analyst")
    story.vet(2, by="dan")
    shown = cli.json("show", "r1", "--json")
    assert (shown["referrer"], shown["company"], shown["role"]) == ("dan", "Globex", "Analyst")
    assert (shown["events"], shown["retracted"]) == (2, 2)
    assert [r["referral"] for r in cli.json("list", "--json")] == ["r1"]
    # the audit keeps both histories, the first one retracted
    out = audit(cli)
    assert [(e["id"], e["retracted"]) for e in out["events"] if e["type"] != "event-retracted"] == [
        (first["id"], True),
        (amended["id"], True),
        (second["id"], False),
        (out["events"][-1]["id"], False),
    ]
    assert out["parties"] == {"requester": "ana", "referrer": "dan", "target": None}
    # what the ledger knew before the retraction: the first request, live
    known = audit(cli, "--known-at", amended["recorded_at"])
    assert known["parties"]["referrer"] == "carol"
    assert all(not e["retracted"] for e in known["events"])
    # sound, and an export restores into an empty ledger unchanged
    assert cli.json("verify", "--json")["ok"] is True
    assert out["chain"] == "ok"
    exported = cli.ok("export").stdout
    path = tmp_path / "export.jsonl"
    path.write_text(exported)
    summary = empty.json("import", str(path), "--json")
    assert summary["restored"] is True
    assert empty.ok("export").stdout == exported
    assert empty.json("verify", "--json")["ok"] is True
    assert empty.json("audit", "r1", "--json")["events"] == out["events"]


def test_the_retraction_and_the_new_request_in_one_import(cli):
    story = Story(cli)
    lines = [
        ev("referral-requested", 0, id="first", by="ana", referrer="carol", company="Acme"),
        ev("event-retracted", 1, by="ana", retracts="first", referral="r1", reason="Typo"),
        ev("referral-requested", 2, id="second", by="ana", referrer="dan", company="Globex"),
        ev("request-vetted", 3, by="dan", decision="accept", knows_work=False),
    ]
    cli.ok("import", "-", input=b"\n".join(orjson.dumps(e) for e in lines))
    assert cli.json("show", "r1", "--json")["referrer"] == "dan"
    assert cli.json("verify", "--json")["ok"] is True
    # a vetting by the first request's referrer is refused: the referral is Dan's now
    refused(cli, ev("request-vetted", 4, by="carol", decision="accept", knows_work=True),
            "by the referrer (dan)")  # fmt: skip
    assert [e["type"] for e in story.cli.export()[-4:]] == [
        "referral-requested", "event-retracted", "referral-requested", "request-vetted"
    ]  # fmt: skip


def test_a_request_asked_again_is_refused_while_the_first_stands(cli):
    story = Story(cli)
    story.request(0)
    refused(
        cli,
        ev("referral-requested", 1, by="ana", referrer="dan", company="Globex"),
        "referral: 'r1' already exists",
    )


# -- retracting a person ----------------------------------------------------------------------


def test_a_person_is_retracted_only_while_no_live_event_names_them(cli):
    story = Story(cli)
    zed = story.event("person-added", -1, handle="zed", name="Zed Typo")
    declared = story.declare("ana", "zed", "friend", 0)
    request = story.request(1, target="zed")
    retraction = ev("event-retracted", 2, by="ana", retracts=zed["id"], reason="Misspelt")
    refused(cli, retraction, "a person cannot be retracted while 2 live event(s) name 'zed'")
    retract(story, declared, 2)
    refused(cli, retraction, "while 1 live event(s) name 'zed'")
    retract(story, request, 3)
    cli.record(ev("event-retracted", 4, by="ana", retracts=zed["id"], reason="Misspelt"))
    # the handle is unknown again: nothing may name it, and it may be added afresh
    refused(cli, ev("connection-declared", 5, by="ana", kind="friend", **{"with": "zed"}),
            "unknown person 'zed'")  # fmt: skip
    refused(cli, ev("event-retracted", 5, by="zed", retracts=declared["id"], reason="x"),
            "unknown person 'zed'")  # fmt: skip
    story.event("person-added", 5, handle="zed", name="Zed Zimmer")
    story.declare("ana", "zed", "friend", 6)
    assert cli.json("verify", "--json")["ok"] is True
    # the retracted referral keeps its history; zed is the person added again
    assert audit(cli)["events"][0]["retracted"] is True
    story.referral = "r2"
    story.request(7, target="zed")
    assert "target: zed (Zed Zimmer)" in cli.ok("audit", "r2").stdout


def test_a_person_retracted_and_added_again_round_trips(cli, empty, tmp_path):
    story = Story(cli)
    zed = story.event("person-added", -1, handle="zed", name="Zed Typo", email="z@example.com")
    retract(story, zed, 0)
    story.event("person-added", 1, handle="zed", name="Zed Zimmer")
    story.request(2, target="zed")
    assert cli.json("show", "r1", "--json")["target"] == "zed"
    assert cli.json("verify", "--json")["ok"] is True
    exported = cli.ok("export").stdout
    path = tmp_path / "export.jsonl"
    path.write_text(exported)
    empty.ok("import", str(path))
    assert empty.ok("export").stdout == exported
    assert empty.json("verify", "--json")["ok"] is True
    # the person the audit shows is the one added again
    assert empty.json("audit", "r1", "--json")["parties"]["target"] == "zed"
    assert "target: zed (Zed Zimmer)" in empty.ok("audit", "r1").stdout


def test_a_person_added_and_retracted_in_one_import(cli):
    Story(cli)
    lines = [
        ev("person-added", 0, id="p-zed", handle="zed", name="Zed"),
        ev("connection-declared", 1, id="c-zed", by="ana", kind="friend", **{"with": "zed"}),
        ev("event-retracted", 2, by="ana", retracts="p-zed", reason="Misspelt"),
    ]
    result = cli.refused("import", "-", input=b"\n".join(orjson.dumps(e) for e in lines))
    assert "line 3" in result.stderr and "name 'zed'" in result.stderr
    lines.insert(2, ev("event-retracted", 1.5, by="ana", retracts="c-zed", reason="Typo"))
    lines.append(ev("person-added", 3, id="p-zed2", handle="zed", name="Zed Zimmer"))
    cli.ok("import", "-", input=b"\n".join(orjson.dumps(e) for e in lines))
    assert cli.json("verify", "--json")["ok"] is True


def test_a_forgotten_person_cannot_be_retracted(cli):
    story = Story(cli)
    zed = story.event("person-added", -1, handle="zed", name="Zed")
    cli.ok("forget", "zed", "--yes")
    refused(
        cli,
        ev("event-retracted", 0, by="ana", retracts=zed["id"], reason="x"),
        "a person cannot be retracted while 1 live event(s) name 'zed'",
    )


def test_a_retracted_person_can_still_be_forgotten_and_is_then_not_added_again(cli):
    story = Story(cli)
    zed = story.event("person-added", -1, handle="zed", name="Zed Typo", email="z@example.com")
    retract(story, zed, 0)
    cli.ok("forget", "zed", "--yes")
    [added] = [e for e in cli.export() if e["id"] == zed["id"]]
    assert set(added["name"]) == {"forgotten"} and set(added["email"]) == {"forgotten"}
    refused(cli, ev("person-added", 1, handle="zed", name="Zed"), "cannot be added again")
    assert cli.json("verify", "--json")["ok"] is True
