"""What an obligation asks of a person, in words they can act on: "you owe bob a follow-up
since the introduction for ana-acme at Acme, due 3 Dec". A view of the rows: the stored
`message` stays as it was, for scripts. What is owed comes from the rules' `owes`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from ledger.api import micros

from .obligations import RULES

DAY_US = 86_400 * 1_000_000


def owed(data: Mapping[str, Any]) -> str | None:
    """What the row's obligation owes (a rule's `owes`), or None for a kind no rule here has:
    the rule is the one of its kind whose message the row carries."""
    person, owed_to = data.get("person"), data.get("owed_to")
    message = str(data.get("message") or "")
    for rule in RULES:
        if rule.kind == data.get("kind") and rule.owes:
            if message.startswith(rule.what.format(person=person, owed_to=owed_to)):
                return rule.owes
    return None


def sentence(data: Mapping[str, Any], viewer: str | None, zone: tzinfo, as_of: int) -> str:
    """The row as something to do: who owes whom what, for which referral at which company,
    by when; in the second person when `viewer` owes it or is owed it."""
    person, owed_to = str(data.get("person") or "someone"), str(data.get("owed_to") or "someone")
    if viewer is not None and viewer == person:
        who = f"you owe {owed_to}"
    elif viewer is not None and viewer == owed_to:
        who = f"{person} owes you"
    else:
        who = f"{person} owes {owed_to}"
    what = owed(data)
    if what is None:  # a kind of another plugin: its own message says the rest
        return f"{who}: {data.get('message') or data.get('kind')}"
    text = f"{who} {what}"
    if data.get("referral"):
        text += f" for {where(data)}"
    if isinstance(data.get("due"), str):
        text += f", due {day(micros(data['due']), zone, as_of)}"
    return text


def where(data: Mapping[str, Any]) -> str:
    """The referral's key with its company beside it: "ana-acme at Acme"."""
    company = data.get("company")
    return f"{data['referral']} at {company}" if company else str(data["referral"])


def day(moment: int, zone: tzinfo, as_of: int) -> str:
    """A day for people, in `zone`: "3 Dec", with the year when it is not as-of's."""
    local = datetime.fromtimestamp(moment / 1_000_000, UTC).astimezone(zone)
    now = datetime.fromtimestamp(as_of / 1_000_000, UTC).astimezone(zone)
    text = f"{local.day} {local:%b}"
    return text if local.year == now.year else f"{text} {local.year}"


def lateness(due_us: int, as_of: int) -> str:
    """"2 days overdue", "overdue today", "due now", "in 3 days" (a part of a day counts whole)."""
    if due_us < as_of:
        late = (as_of - due_us) // DAY_US
        return f"{late} day{'s' if late != 1 else ''} overdue" if late else "overdue today"
    ahead = -(-(due_us - as_of) // DAY_US)
    return f"in {ahead} day{'s' if ahead != 1 else ''}" if ahead else "due now"
