"""A first story: people are added, a referral is requested and introduced."""

from __future__ import annotations


def test_record_and_export_a_short_story(cli):
    cli.record(
        {"type": "person-added", "handle": "ana", "name": "Ana Ruiz", "at": "2026-11-01T09:00:00Z"}
    )
    cli.record(
        {
            "type": "person-added",
            "handle": "carol",
            "name": "Carol",
            "company": "Acme",
            "at": "2026-11-01T09:00:00Z",
        }
    )
    cli.record(
        {
            "type": "person-added",
            "handle": "bob",
            "name": "Bob",
            "company": "Acme",
            "at": "2026-11-01T09:00:00Z",
        }
    )
    req = cli.record(
        {
            "type": "referral-requested",
            "referral": "ana-acme",
            "by": "ana",
            "referrer": "carol",
            "company": "Acme",
            "at": "2026-11-02T09:00:00Z",
        }
    )
    assert req["seq"] == 4
    events = cli.export()
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert events[0]["name"] == "Ana Ruiz"
    result = cli.refused(
        "record", '{"type":"introduction-made","referral":"nope","by":"carol","to":"bob"}'
    )
    assert "unknown referral" in result.stderr
    assert len(cli.export()) == 4
