"""A stateful property test: random but valid referral lifecycles, with random invalid commands
mixed in, against a real SQLite ledger.

After every step: an invalid command changed nothing (it raised LedgerError and left the count
and the head hash as they were); the export imports into an empty ledger and comes out the
same; the chain verifies; and every plugin's incrementally kept rows equal a fresh replay.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ledger.app import Ledger
from ledger.errors import LedgerError
from ledger.events import KINDS, format_timestamp
from ledger.projections import ProjectionFailed, catch_up, derive_all
from ledger.text import first_spoofing
from ledger.verify import verify_store

START = datetime(2026, 6, 1, 9, tzinfo=UTC)
RETRACTABLE = {
    "connection-declared",
    "request-vetted",
    "introduction-made",
    "resume-forwarded",
    "follow-up-sent",
    "interview-scheduled",
    "interview-held",
    "feedback-given",
    "outcome-reported",
    "thank-you-sent",
    "referral-closed",
}

# Names are one line: no controls, and none of the characters that reorder or hide text (those are
# refused in names, tested in test_hardening; free text keeps them).
names = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30).filter(
    lambda s: s.strip() and first_spoofing(s) is None
)
# Free text may hold newlines and tabs, and no other control character (C0, DEL or C1).
notes = st.none() | st.text(
    st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\n\t"), max_size=40
)
kinds = st.sampled_from(KINDS)


STAGES = [
    "vet",
    "introduce",
    "follow-up-sent",
    "interview",
    "feedback",
    "outcome-reported",
    "thank-you-sent",
    "close",
]


@dataclass
class Referral:
    requester: str
    referrer: str
    target: str | None
    requested_at: datetime
    interviews: dict[str, datetime] = field(default_factory=dict)  # live interview-held
    closes: dict[str, datetime] = field(default_factory=dict)  # live referral-closed
    stage: int = 0  # how far `advance` has taken it along STAGES

    @property
    def closed(self) -> bool:
        return bool(self.closes)


@dataclass
class Stored:
    type: str
    referral: str | None


def _fail_projection(error: ProjectionFailed) -> None:
    raise AssertionError(str(error))


class LedgerLifecycles(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="stateful-"))
        self.db = str(self.dir / "ledger.db")
        self.ledger = Ledger(self.db)
        self.cli = Cli(self.db)
        self.clock = START
        self.people: list[str] = []
        self.referrals: dict[str, Referral] = {}
        self.events: dict[str, Stored] = {}
        self.retracted: set[str] = set()
        self.rounds = 0
        self.forced: str | None = None  # the referral `advance` is moving along

    def teardown(self) -> None:
        self.ledger.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers ----------------------------------------------------------------------------

    def tick(self, data: st.DataObject) -> str:
        self.clock += timedelta(seconds=data.draw(st.sampled_from([0, 1, 60, 3600, 86400 * 2])))
        return format_timestamp(self.clock)

    def record(self, event: dict[str, Any], *, via_cli: bool = False) -> dict[str, Any]:
        event = {k: v for k, v in event.items() if v is not None}
        # our own ids, not random ones: hypothesis needs every draw to replay the same way
        event.setdefault("id", f"e{len(self.events)}")
        stored = self.cli.record(event) if via_cli else self.ledger.record(event)
        self.events[stored["id"]] = Stored(stored["type"], stored.get("referral"))
        return stored

    def refuse(self, event: dict[str, Any] | str, *, via_cli: bool = False) -> None:
        before = self.ledger.store.tail()
        if via_cli:
            text = event if isinstance(event, str) else orjson.dumps(event).decode()
            self.cli.refused("record", text)
        else:
            with pytest.raises(LedgerError):
                if isinstance(event, str):
                    self.ledger.import_lines([event])
                else:
                    self.ledger.record(event)
        assert self.ledger.store.tail() == before
        assert self.ledger.store.count() == before[0]

    def person(self, data: st.DataObject, *, besides: tuple[str | None, ...] = ()) -> str:
        return data.draw(st.sampled_from([p for p in self.people if p not in besides]))

    def referral(self, data: st.DataObject, *, open_only: bool = False) -> tuple[str, Referral]:
        if self.forced is not None:
            return self.forced, self.referrals[self.forced]
        keys = [k for k, r in self.referrals.items() if not (open_only and r.closed)]
        key = data.draw(st.sampled_from(keys))
        return key, self.referrals[key]

    def has_open(self) -> bool:
        return any(not r.closed for r in self.referrals.values())

    # -- valid lifecycles --------------------------------------------------------------------

    @initialize(data=st.data(), first=names, second=names, third=names)
    def three_people(self, data: st.DataObject, first: str, second: str, third: str) -> None:
        for name in (first, second, third):
            self.add_person(data, name, None)

    @rule(
        data=st.data(), name=names, company=st.none() | st.sampled_from(["Acme", "acme", "Initech"])
    )
    def add_person(self, data: st.DataObject, name: str, company: str | None) -> None:
        handle = f"p{len(self.people)}"
        self.record(
            {
                "type": "person-added",
                "handle": handle,
                "name": name,
                "company": company,
                "email": data.draw(st.none() | st.just(f"{handle}@example.org")),
                "at": self.tick(data),
            }
        )
        self.people.append(handle)

    @precondition(lambda self: len(self.people) >= 2)
    @rule(data=st.data(), kind=kinds, note=notes)
    def declare(self, data: st.DataObject, kind: str, note: str | None) -> None:
        by = self.person(data)
        self.record(
            {
                "type": "connection-declared",
                "by": by,
                "with": self.person(data, besides=(by,)),
                "kind": kind,
                "note": note,
                "at": self.tick(data),
            }
        )

    @precondition(lambda self: len(self.people) >= 3)
    @rule(
        data=st.data(),
        relationship=st.none() | kinds,
        prepared=st.booleans(),
        role=st.none() | st.just("Engineer"),
    )
    def request(
        self, data: st.DataObject, relationship: str | None, prepared: bool, role: str | None
    ) -> None:
        by = self.person(data)
        referrer = self.person(data, besides=(by,))
        target = data.draw(
            st.none() | st.sampled_from([p for p in self.people if p not in (by, referrer)])
        )
        key = f"r{len(self.referrals)}"
        preparation = None
        if prepared:
            preparation = {
                "researched_company": data.draw(st.booleans()),
                "questions": data.draw(st.lists(st.sampled_from(["why?", ""]), max_size=2)),
                "follow_up_plan": data.draw(st.sampled_from(["", "call"])),
            }
        at = self.tick(data)
        self.record(
            {
                "type": "referral-requested",
                "referral": key,
                "by": by,
                "referrer": referrer,
                "company": data.draw(st.sampled_from(["Acme", "Initech"])),
                "target": target,
                "role": role,
                "relationship": relationship,
                "preparation": preparation,
                "posting_at": data.draw(st.none() | st.just("2026-07-01")),
                "at": at,
            }
        )
        self.referrals[key] = Referral(by, referrer, target, self.clock)

    @precondition(lambda self: self.has_open())
    @rule(
        data=st.data(),
        decision=st.sampled_from(["accept", "decline", "needs-preparation"]),
        knows_work=st.booleans(),
        relationship=st.none() | kinds,
    )
    def vet(
        self, data: st.DataObject, decision: str, knows_work: bool, relationship: str | None
    ) -> None:
        key, ref = self.referral(data, open_only=True)
        self.record(
            {
                "type": "request-vetted",
                "referral": key,
                "by": ref.referrer,
                "decision": decision,
                "knows_work": knows_work,
                "relationship": relationship,
                "at": self.tick(data),
            }
        )

    @precondition(lambda self: self.has_open() and len(self.people) >= 3)
    @rule(data=st.data(), note=notes)
    def introduce(self, data: st.DataObject, note: str | None) -> None:
        key, ref = self.referral(data, open_only=True)
        to = self.person(data, besides=(ref.requester, ref.referrer))
        self.record(
            {
                "type": "introduction-made",
                "referral": key,
                "by": ref.referrer,
                "to": to,
                "channel": data.draw(st.none() | st.just("email")),
                "note": note,
                "at": self.tick(data),
            }
        )
        ref.target = to

    @precondition(lambda self: self.has_open())
    @rule(data=st.data())
    def forward(self, data: st.DataObject) -> None:
        key, _ = self.referral(data, open_only=True)
        by = self.person(data)
        self.record(
            {
                "type": "resume-forwarded",
                "referral": key,
                "by": by,
                "to": self.person(data, besides=(by,)),
                "at": self.tick(data),
            }
        )

    @precondition(lambda self: self.referrals)
    @rule(
        data=st.data(),
        kind=st.sampled_from(["follow-up-sent", "thank-you-sent", "outcome-reported"]),
        via_cli=st.booleans(),
    )
    def courtesy(self, data: st.DataObject, kind: str, via_cli: bool) -> None:
        """Follow-ups, thanks and outcomes are allowed even after the close."""
        key, ref = self.referral(data)
        by = data.draw(st.sampled_from([p for p in (ref.requester, ref.referrer, ref.target) if p]))
        to = self.person(data, besides=(by,))
        event = {"type": kind, "referral": key, "by": by, "to": to, "at": self.tick(data)}
        if kind == "outcome-reported":
            event["outcome"] = data.draw(st.sampled_from(["hired", "rejected", "withdrawn"]))
        self.record(event, via_cli=via_cli)

    @precondition(lambda self: self.has_open())
    @rule(data=st.data())
    def interview(self, data: st.DataObject) -> None:
        key, ref = self.referral(data, open_only=True)
        at = self.tick(data)
        self.record(
            {
                "type": "interview-scheduled",
                "referral": key,
                "on": format_timestamp(self.clock + timedelta(days=3)),
                "at": at,
            }
        )
        stored = self.record(
            {"type": "interview-held", "referral": key, "by": ref.target, "at": self.tick(data)}
        )
        ref.interviews[stored["id"]] = self.clock

    @precondition(lambda self: any(r.interviews for r in self.referrals.values()))
    @rule(data=st.data(), match=st.integers(1, 5))
    def feedback(self, data: st.DataObject, match: int) -> None:
        key = data.draw(st.sampled_from([k for k, r in self.referrals.items() if r.interviews]))
        ref = self.referrals[key]
        by = ref.target or self.person(data, besides=(ref.referrer,))
        self.record(
            {
                "type": "feedback-given",
                "referral": key,
                "by": by,
                "to": ref.referrer,
                "match": match,
                "at": self.tick(data),
            }
        )

    @precondition(lambda self: self.has_open())
    @rule(data=st.data(), via_cli=st.booleans())
    def close(self, data: st.DataObject, via_cli: bool) -> None:
        key, ref = self.referral(data, open_only=True)
        stored = self.record(
            {
                "type": "referral-closed",
                "referral": key,
                "by": data.draw(st.sampled_from([ref.requester, ref.referrer])),
                "reason": "done",
                "at": self.tick(data),
            },
            via_cli=via_cli,
        )
        ref.closes[stored["id"]] = self.clock

    def retractable(self) -> list[str]:
        return sorted(
            i for i, e in self.events.items() if e.type in RETRACTABLE and i not in self.retracted
        )

    @precondition(lambda self: self.retractable())
    @rule(data=st.data())
    def retract(self, data: st.DataObject) -> None:
        event_id = data.draw(st.sampled_from(self.retractable()))
        target = self.events[event_id]
        self.record(
            {
                "type": "event-retracted",
                "by": self.person(data),
                "retracts": event_id,
                "referral": target.referral,
                "reason": "recorded by mistake",
                "at": self.tick(data),
            }
        )
        self.retracted.add(event_id)
        if target.referral:
            ref = self.referrals[target.referral]
            ref.interviews.pop(event_id, None)
            ref.closes.pop(event_id, None)  # a retracted close reopens the referral

    @precondition(lambda self: any(r.stage < len(STAGES) for r in self.referrals.values()))
    @rule(data=st.data(), steps=st.integers(1, 4))
    def advance(self, data: st.DataObject, steps: int) -> None:
        """Take one referral a few steps further along the usual path, so lifecycles get long."""
        key = data.draw(
            st.sampled_from([k for k, r in self.referrals.items() if r.stage < len(STAGES)])
        )
        for _ in range(steps):
            if self.referrals[key].stage < len(STAGES):
                self.step(key, data)

    def step(self, key: str, data: st.DataObject) -> None:
        ref = self.referrals[key]
        step = STAGES[ref.stage]
        ref.stage += 1
        if ref.closed and step in ("vet", "introduce", "interview", "close"):
            return
        if step == "feedback" and not ref.interviews:
            return
        self.forced = key
        try:
            if step == "vet":
                self.vet(data, "accept", True, None)
            elif step == "introduce":
                self.introduce(data, None)
            elif step == "interview":
                self.interview(data)
            elif step == "feedback":
                self.feedback(data, 4)
            elif step == "close":
                self.close(data, False)
            else:
                self.courtesy(data, step, False)
        finally:
            self.forced = None

    # -- invalid commands: each changes nothing -----------------------------------------------

    @rule(data=st.data(), via_cli=st.booleans())
    def invalid_command(self, data: st.DataObject, via_cli: bool) -> None:
        kinds = [self.unknown_references, self.bad_types]
        if self.referrals:
            kinds.append(self.out_of_order)
        data.draw(st.sampled_from(kinds))(data, via_cli)

    def unknown_references(self, data: st.DataObject, via_cli: bool) -> None:
        at = format_timestamp(self.clock)
        someone = self.people[0] if self.people else "nobody"
        choice = data.draw(
            st.sampled_from(
                [
                    {
                        "type": "introduction-made",
                        "referral": "no-such-referral",
                        "by": someone,
                        "to": someone,
                        "at": at,
                    },
                    {
                        "type": "connection-declared",
                        "by": someone,
                        "with": "ghost",
                        "kind": "friend",
                        "at": at,
                    },
                    {
                        "type": "event-retracted",
                        "by": someone,
                        "retracts": "no-such-event",
                        "reason": "x",
                        "at": at,
                    },
                    {
                        "type": "referral-requested",
                        "referral": "rx",
                        "by": "ghost",
                        "referrer": someone,
                        "company": "Acme",
                        "at": at,
                    },
                ]
            )
        )
        self.refuse(choice, via_cli=via_cli)

    def bad_types(self, data: st.DataObject, via_cli: bool) -> None:
        key = next(iter(self.referrals), "r0")
        self.refuse(
            data.draw(
                st.sampled_from(
                    [
                        {
                            "type": "feedback-given",
                            "referral": key,
                            "by": "p0",
                            "to": "p1",
                            "match": "3",
                        },
                        {
                            "type": "feedback-given",
                            "referral": key,
                            "by": "p0",
                            "to": "p1",
                            "match": 3.0,
                        },
                        {
                            "type": "request-vetted",
                            "referral": key,
                            "by": "p0",
                            "decision": "accept",
                            "knows_work": 1,
                        },
                        {"type": "person-added", "handle": "Upper", "name": "X"},
                        {"type": "person-added", "handle": "fine", "name": ""},
                        {
                            "type": "person-added",
                            "handle": "fine",
                            "name": "X",
                            "at": "2026-06-01T09:00:00",
                        },
                        {
                            "type": "person-added",
                            "handle": "fine",
                            "name": "X",
                            "at": "2999-01-01T00:00:00Z",
                        },
                        {"type": "person-added", "handle": "fine", "name": "X", "shoe_size": 44},
                        {"type": "no-such-type"},
                        '{"type":"person-added","handle":"fine","handle":"twice","name":"X"}',
                        '{"type":"person-added","handle":"fine","name":NaN}',
                        '[{"type":"person-added"}]',
                    ]
                )
            ),
            via_cli=via_cli,
        )

    def out_of_order(self, data: st.DataObject, via_cli: bool) -> None:
        key, ref = self.referral(data)
        at = format_timestamp(self.clock)
        wrong: list[dict[str, Any]] = [
            # before the request
            {
                "type": "follow-up-sent",
                "referral": key,
                "by": ref.requester,
                "to": ref.referrer,
                "at": format_timestamp(ref.requested_at - timedelta(seconds=1)),
            },
            # a vetting not by the referrer
            {
                "type": "request-vetted",
                "referral": key,
                "by": ref.requester,
                "decision": "accept",
                "knows_work": True,
                "at": at,
            },
            # an introduction to the requester
            {
                "type": "introduction-made",
                "referral": key,
                "by": ref.referrer,
                "to": ref.requester,
                "at": at,
            },
            # the key again
            {
                "type": "referral-requested",
                "referral": key,
                "by": ref.requester,
                "referrer": ref.referrer,
                "company": "Acme",
                "at": at,
            },
        ]
        if not ref.interviews:
            wrong.append(
                {
                    "type": "feedback-given",
                    "referral": key,
                    "by": ref.referrer,
                    "to": ref.requester,
                    "match": 3,
                    "at": at,
                }
            )
        if ref.closed:
            wrong.append(
                {
                    "type": "referral-closed",
                    "referral": key,
                    "by": ref.requester,
                    "reason": "again",
                    "at": at,
                }
            )
            wrong.append({"type": "interview-held", "referral": key, "at": at})
        if self.retracted:
            gone = min(self.retracted)
            wrong.append(
                {
                    "type": "event-retracted",
                    "by": ref.requester,
                    "retracts": gone,
                    "referral": self.events[gone].referral,
                    "reason": "again",
                    "at": at,
                }
            )
        if self.events:
            taken = min(self.events)
            wrong.append(
                {"type": "person-added", "id": taken, "handle": "other", "name": "X", "at": at}
            )
        self.refuse(data.draw(st.sampled_from(wrong)), via_cli=via_cli)

    # -- after every step -------------------------------------------------------------------

    @invariant()
    def the_chain_verifies(self) -> None:
        verdict = verify_store(self.ledger.store)
        assert verdict.ok, verdict.as_json()
        assert verdict.events == self.ledger.store.count()

    @invariant()
    def export_then_import_reproduces_it(self) -> None:
        exported = list(self.ledger.export())
        if not exported:
            return
        copy = Ledger(str(self.dir / f"copy-{self.rounds}.db"))
        self.rounds += 1
        try:
            copy.import_lines([orjson.dumps(e) for e in exported])
            assert list(copy.export()) == exported
        finally:
            copy.close()

    @invariant()
    def incremental_rows_equal_a_replay(self) -> None:
        catch_up(self.ledger, on_error=_fail_projection)
        with self.ledger.store.read() as cur:
            kept = Counter(
                (
                    r["projection"],
                    r["kind"],
                    r["referral"],
                    r["person"],
                    r["owed_to"],
                    int(r["start_us"]),
                    None if r["end_us"] is None else int(r["end_us"]),
                )
                for r in cur.all("SELECT * FROM {p}rl_rows")
            )
        replayed = Counter(
            (r.projection, r.kind, r.referral, r.person, r.owed_to, r.start_us, r.end_us)
            for r in derive_all(self.ledger, None, on_error=_fail_projection)
        )
        assert kept == replayed, {"kept only": kept - replayed, "replay only": replayed - kept}


SETTINGS: dict[str, Any] = {
    "deadline": None,
    # Every step replays and re-imports the whole ledger, so shrinking a failure takes many
    # minutes: the failing steps are printed unshrunk (run with --run-slow to shrink them).
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
}


class TestLifecycles(LedgerLifecycles.TestCase):  # type: ignore[name-defined]
    settings = settings(max_examples=15, stateful_step_count=20, **SETTINGS)


@pytest.mark.slow
class TestLongLifecycles(LedgerLifecycles.TestCase):  # type: ignore[name-defined]
    settings = settings(
        max_examples=60, stateful_step_count=40, **{**SETTINGS, "phases": list(Phase)}
    )
