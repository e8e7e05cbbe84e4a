"""What the plugin derives from the ledger: an alert, a flag, and a log of chats.

Rows are derived from events every time, and hold handles, ids and times, never the chats'
notes: whatever `forget` erases stays erased here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ledger.api import Projection, View, micros, settings, timestamp

TOO_SOON_US = 86_400 * 1_000_000

Event = Mapping[str, Any]


def own_events(view: View, handle: str, types: set[str]) -> list[Event]:
    """Live events of these types by `handle`, whether or not they belong to a referral."""
    found = {e["id"]: e for e in view.events_by(handle, sorted(types))}
    for key in view.referrals_of(handle):
        for event in view.referral(key):
            if event["type"] in types and event.get("by") == handle:
                found[event["id"]] = event
    return sorted(found.values(), key=lambda e: (micros(e["at"]), e["seq"]))


def _retracted_parts(projection: Projection, event: Event, view: View) -> Iterable[str]:
    # A retraction changes whatever the retracted event had changed.
    retracted = view.event(event["retracts"])
    return projection.parts(retracted, view) if retracted is not None else []


class ThanksMissing(Projection):
    """`coffee-chat-thanks-missing`: whoever asked for a coffee chat thanks the other within
    2 days (a `coffee-chat-thanks`, or a `thank-you-sent` in any referral). The days are a
    setting: the `[due]` key `coffee-chat-thanks`."""

    name = "coffee-chat-thanks"
    category = "alert"
    due = {"coffee-chat-thanks": 2}  # the `[due]` key it reads, and its default in days

    def parts(self, event: Event, view: View) -> Iterable[str]:
        if event["type"] == "coffee-chat":
            return [f"{event['by']}>{event['with']}"]
        if event["type"] in ("coffee-chat-thanks", "thank-you-sent"):
            return [f"{event['by']}>{event['to']}"]
        if event["type"] == "event-retracted":
            return _retracted_parts(self, event, view)
        return []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        by, other = part.split(">")
        chats = [c for c in own_events(view, by, {"coffee-chat"}) if c["with"] == other]
        thanks = [
            micros(t["at"])
            for t in own_events(view, by, {"coffee-chat-thanks", "thank-you-sent"})
            if t["to"] == other
        ]
        due_in = settings().due_micros("coffee-chat-thanks")
        open_until: int | None = -1  # end of the last alert: a chat while one is open adds none
        for chat in chats:
            at = micros(chat["at"])
            if open_until is None or at < open_until:
                continue
            met = min((t for t in thanks if t >= at), default=None)
            due = at + due_in
            if met is not None and met <= due:
                continue
            open_until = met
            row = {
                "kind": "coffee-chat-thanks-missing",
                "referral": chat.get("referral"),
                "person": by,
                "owed_to": other,
                "due": timestamp(due),
                "message": f"{by} has not thanked {other} for the coffee chat of {chat['at'][:10]}",
                "evidence": [chat["id"]],
                "start": timestamp(due + 1),  # overdue once `due` is before --as-of
            }
            if met is not None:
                row["end"] = timestamp(met)
            yield row


class ChatThenAsk(Projection):
    """`coffee-chat-then-ask`: the requester asked the referrer for a referral less than a day
    after their first coffee chat, with no connection declared before it."""

    name = "coffee-chat-then-ask"
    category = "flag"

    def parts(self, event: Event, view: View) -> Iterable[str]:
        if event["type"] == "referral-requested":
            return [event["referral"]]
        if event["type"] in ("coffee-chat", "connection-declared"):
            return sorted(
                set(view.referrals_of(event["by"])) & set(view.referrals_of(event["with"]))
            )
        if event["type"] == "event-retracted":
            return _retracted_parts(self, event, view)
        return []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        request = next((e for e in view.referral(part) if e["type"] == "referral-requested"), None)
        if request is None:
            return []
        requester, referrer = request["by"], request["referrer"]
        asked = micros(request["at"])
        chats = [c for c in own_events(view, requester, {"coffee-chat"}) if c["with"] == referrer]
        chats += [c for c in own_events(view, referrer, {"coffee-chat"}) if c["with"] == requester]
        earlier = sorted((micros(c["at"]), c["seq"], c) for c in chats if micros(c["at"]) <= asked)
        if not earlier:
            return []
        first_at, _, first = earlier[0]
        if asked - first_at >= TOO_SOON_US:
            return []
        if any(micros(d["at"]) < first_at for d in view.declarations_between(requester, referrer)):
            return []
        hours = (asked - first_at) // (3600 * 1_000_000)
        return [
            {
                "kind": "coffee-chat-then-ask",
                "referral": part,
                "person": requester,
                "message": (
                    f"{requester} asked {referrer} for a referral {hours} hour(s) after "
                    "their first coffee chat"
                ),
                "evidence": [first["id"], request["id"]],
                "start": request["at"],
            }
        ]


class ChatLog(Projection):
    """Every live coffee chat, for the `coffee-chats` command (category "coffee-chat")."""

    name = "coffee-chat-log"
    category = "coffee-chat"

    def parts(self, event: Event, view: View) -> Iterable[str]:
        if event["type"] == "coffee-chat":
            return [event["id"]]
        if event["type"] == "event-retracted":
            return [event["retracts"]]
        return []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        chat = view.event(part)
        if chat is None or chat["type"] != "coffee-chat" or view.retracted([part]):
            return []
        return [
            {
                "kind": "coffee-chat",
                "id": chat["id"],
                "at": chat["at"],
                "by": chat["by"],
                "with": chat["with"],
                "referral": chat.get("referral"),
                # `person` and `owed_to` are the columns `involving=` searches: the two people.
                "person": chat["by"],
                "owed_to": chat["with"],
                "start": chat["at"],
            }
        ]
