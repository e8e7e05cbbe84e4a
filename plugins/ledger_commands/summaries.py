"""The index `list` reads: each referral's summary (`stages.summarize`), kept as a row of a
projection, so that listing referrals reads one stored row per referral instead of every
referral's events. Derived state like any projection's: re-derived when one of the referral's
events arrives, rebuilt by `replay` (which checks it), dropped by `forget` and derived again.

The row holds the summary less `retracted`, which `list` reads beside it from the log
(`Store.referral_counts`, with the order of the requests): a retraction is an event of the
referral too, so either way the row follows it."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from ledger.api import Projection, View, source_version

from . import stages
from .stages import Summary, summarize

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
        summary = summarize(view.referral(part))
        if summary is None:
            return []
        found = summary.as_json()
        del found["retracted"]
        return [
            {
                "kind": "summary",
                "start": summary.dates["requested"],
                "referral": part,
                "summary": found,
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


def from_row(data: Mapping[str, Any], retracted: int) -> Summary:
    """The summary a stored row holds, with how many of its referral's events were retracted."""
    return Summary(**data["summary"], retracted=retracted)
