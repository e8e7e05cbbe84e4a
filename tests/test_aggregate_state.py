"""A referral keeps what the rules ask of it (its target, when it closed, its interviews) up to
date as events arrive, instead of recomputing it from every event on each write. Whatever the
order of events and retractions, that state must equal the one recomputed from scratch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.aggregates import Referral, referral_id

START = datetime(2026, 9, 1, tzinfo=UTC)
KINDS = ("introduction-made", "referral-closed", "interview-held", "follow-up-sent")


def from_scratch(referral: Referral) -> tuple[Any, ...]:
    """The state as 0.1 computed it: a scan of every live entry."""
    live = [entry for _, entry in referral.live()]
    target = referral.requested_target
    intros = [e for e in live if e["type"] == "introduction-made"]
    for entry in sorted(intros, key=lambda e: e["at"]):
        target = entry["to"]
    closes = [e["at"] for e in live if e["type"] == "referral-closed"]
    held = [e["at"] for e in live if e["type"] == "interview-held"]
    return target, min(closes) if closes else None, held


def kept(referral: Referral) -> tuple[Any, ...]:
    return referral.target, referral.closed_at, referral.held_interviews()


# One step: a new event of some kind at some minute (same minutes happen: ties keep the order
# of recording), or a retraction of the event with some id (possibly one not recorded yet, one
# already retracted, or a retraction).
steps = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.sampled_from(KINDS), st.integers(0, 5), st.integers(0, 3)),
        st.tuples(st.just("retract"), st.integers(0, 30)),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_the_kept_state_is_the_state_recomputed_from_every_event(steps):
    request = {
        "type": "referral-requested",
        "id": "e0",
        "referral": "k",
        "by": "ana",
        "referrer": "carol",
        "company": "Acme",
        "target": "zoe",
    }
    referral = Referral._create(
        Referral.Created, id=referral_id("k"), record=request, timestamp=START
    )
    for number, step in enumerate(steps, start=1):
        record: dict[str, Any] = {"id": f"e{number}", "referral": "k", "by": "carol"}
        if step[0] == "event":
            _, kind, minute, who = step
            record.update(type=kind, to=f"p{who}")
        else:
            _, minute = step
            record.update(type="event-retracted", retracts=f"e{step[1]}")
        at = START + timedelta(minutes=minute if step[0] == "event" else 0)
        referral.trigger_event(Referral.Recorded, record=record, timestamp=at)
        assert kept(referral) == from_scratch(referral)
