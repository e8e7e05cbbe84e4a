"""The index `list` reads: each referral's summary (`stages.summarize`), kept as a row of a
projection, so that listing referrals reads one stored row per referral instead of every
referral's events. Derived state like any projection's: re-derived when one of the referral's
events arrives, rebuilt by `replay` (which checks it), dropped by `forget` and derived again.

The row holds the summary less two fields. `retracted`: `list` reads it beside the row from
the log (`Store.referral_counts`, with the order of the requests). `role`: it is personal data,
sealed in the events (encrypted under a master key), which derived rows must not hold in clear;
the row names the event whose `role` is in force (`role_from`), and `list` reads the value from
it. A retraction or an amendment is an event of the referral, so the row follows either."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ledger.api import Projection, View, source_version

from . import stages
from .stages import Summary, _thaw, summarize

NAME = "summaries"
CATEGORY = "summary"


class SummariesProjection(Projection):
    name = NAME
    version = source_version(stages, sys.modules[__name__])  # derives from the stages
    category = CATEGORY

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        referral = event.get("referral")
        return [referral] if referral else []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        events = view.referral(part)
        summary = summarize(events)
        if summary is None:
            return []
        found = summary.as_json()
        del found["retracted"], found["role"]
        return [
            {
                "kind": "summary",
                "start": summary.dates["requested"],
                "referral": part,
                "summary": found,
                "role_from": role_from(events),
            }
        ]

    def parts_about(
        self, view: View, *, person: str | None = None, referral: str | None = None
    ) -> Iterable[str]:
        """A summary is its referral's; it names the referral's parties."""
        if referral is not None:
            return [referral]
        assert person is not None
        return view.referrals_of(person)


def role_from(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The id of the event whose `role` the request as amended has (`request_as_of`: the
    last amendment that gives one, else the request), or None when none gives one."""
    request = next(e for e in events if e["type"] == "referral-requested")
    source = request if "role" in request else None
    for event in events:
        if event["type"] == "request-amended" and "role" in event:
            source = event
    return None if source is None else str(source["id"])


def from_row(data: Mapping[str, Any], role: Any, retracted: int) -> Summary:
    """The summary a stored row holds, with its role (read from `role_from`) and how many of
    its referral's events were retracted."""
    return Summary(**data["summary"], role=_thaw(role), retracted=retracted)
