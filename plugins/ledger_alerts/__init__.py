"""Alerts: what each party of a referral owes the others, once it is overdue; and
`obligation-waived`, by which the one an obligation is owed to lets the other off it."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import click

from ledger import hookimpl


@hookimpl
def register_event_types() -> list[type]:
    from .events import ObligationWaived

    return [ObligationWaived]


@hookimpl
def register_projections() -> list[Any]:
    from .projection import AlertsProjection

    return [AlertsProjection()]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .calendar import calendar
    from .command import alerts
    from .due import due

    cli.add_command(alerts)
    cli.add_command(due)
    cli.add_command(calendar)


@functools.cache
def _obligations() -> Any:
    from . import obligations

    return obligations


@hookimpl
def validate_event(
    event: Mapping[str, Any], ledger: Any, pending: Sequence[Mapping[str, Any]]
) -> str | None:
    """Refuse a waiver of an obligation that is not open at the waiver's `at`, judged on the
    referral's stored events and the ones before it in the same import (`pending`)."""
    obligations = _obligations()  # asked for every event an import checks: imported once
    if event["type"] != obligations.WAIVED:
        return None
    kind, person, by = event["kind"], event["person"], event["by"]
    if kind not in obligations.KINDS:
        known = ", ".join(sorted(obligations.KINDS))
        # A flag's kind, another plugin's alert kind or a typo: this plugin judges only the
        # obligations it derives, so it cannot tell that any other is open.
        return (
            f"unknown alert kind {kind!r}: only the alerts plugin's own kinds can be waived "
            f"(one of: {known})"
        )
    from ledger.api import View, micros, settings

    key = event["referral"]
    events = obligations.with_pending(key, View(ledger).referral(key), pending)
    at = micros(event["at"])
    if not obligations.is_open(events, kind, person, by, at, settings().due_micros):
        return (
            f"{person} owes {by} no open {kind} in referral {event['referral']!r} "
            f"at {event['at']}: only the person an open obligation is owed to can waive it"
        )
    return None
