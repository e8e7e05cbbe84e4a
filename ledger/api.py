"""The plugin API of referral-ledger: what a plugin may import, besides `ledger` itself.

This is the API; everything else in `ledger` is private and may change. Every name here is
described in docs/plugins.md ("The API: `ledger.api`"), and a test fails if a plugin in
`plugins/` or `examples/` imports anything from `ledger` but `ledger` and `ledger.api`.

The names are the objects of the modules that define them, imported on first use: a plugin
that imports `hookimpl` from `ledger` and `get_ledger` from here, for its command, pulls in
only what `referral-ledger --help` already needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import ImportResult, Ledger, UnknownEventType, find_event
    from .cli import (
        State,
        check_output,
        cli,
        emit_json,
        emit_json_array,
        get_ledger,
        get_state,
        parse_time,
        replacing_output,
        safe,
        time_options,
    )
    from .completion import complete_handles, complete_referrals
    from .config import Settings
    from .errors import ExitCode, LedgerError
    from .events import Event, Handle, Text
    from .hookspecs import hookimpl
    from .kinds import KIND_RANK, KINDS, WEAK_KINDS
    from .plugins import me, person_facts, settings
    from .projections import (
        Projection,
        ProjectionFailed,
        Row,
        catch_up,
        count_rows,
        current,
        listed,
        open_obligations,
        rows,
        source_version,
        stored_people,
        stored_rows,
        timestamp,
    )
    from .relationships import (
        STRENGTH,
        Account,
        Relationship,
        lacking_preparation,
        relationship,
        relationships,
        request_as_of,
    )
    from .store import ledger_event_ids
    from .terminal import fit, named, paint, table
    from .testing import Cli
    from .views import Parties, Roles, View, micros, parties

# name -> the module (under `ledger`) that defines it
_SOURCES = {
    # writing commands
    "cli": "cli",
    "get_ledger": "cli",
    "get_state": "cli",
    "State": "cli",
    "emit_json": "cli",
    "emit_json_array": "cli",
    "safe": "cli",
    "time_options": "cli",
    "parse_time": "cli",
    "check_output": "cli",
    "replacing_output": "cli",
    "complete_handles": "completion",
    "complete_referrals": "completion",
    "hookimpl": "hookspecs",
    # text for people
    "table": "terminal",
    "fit": "terminal",
    "named": "terminal",
    "paint": "terminal",
    # errors
    "LedgerError": "errors",
    "ExitCode": "errors",
    # the ledger and its writes
    "Ledger": "app",
    "ImportResult": "app",
    "UnknownEventType": "app",
    "find_event": "app",
    "ledger_event_ids": "store",
    # event types
    "Event": "events",
    "Handle": "events",
    "Text": "events",
    # relationship kinds
    "KINDS": "kinds",
    "KIND_RANK": "kinds",
    "WEAK_KINDS": "kinds",
    # relationship accounts
    "STRENGTH": "relationships",
    "Account": "relationships",
    "Relationship": "relationships",
    "relationship": "relationships",
    "relationships": "relationships",
    "request_as_of": "relationships",
    "lacking_preparation": "relationships",
    # settings
    "settings": "plugins",
    "person_facts": "plugins",
    "Settings": "config",
    "me": "plugins",
    # projections
    "Projection": "projections",
    "ProjectionFailed": "projections",
    "Row": "projections",
    "rows": "projections",
    "listed": "projections",
    "count_rows": "projections",
    "catch_up": "projections",
    "current": "projections",
    "stored_rows": "projections",
    "open_obligations": "projections",
    "stored_people": "projections",
    "timestamp": "projections",
    "source_version": "projections",
    # views
    "View": "views",
    "Parties": "views",
    "Roles": "views",
    "parties": "views",
    "micros": "views",
    # testing
    "Cli": "testing",
}

__all__ = [
    "KINDS",
    "KIND_RANK",
    "STRENGTH",
    "WEAK_KINDS",
    "Account",
    "Cli",
    "Event",
    "ExitCode",
    "Handle",
    "ImportResult",
    "Ledger",
    "LedgerError",
    "Parties",
    "Projection",
    "ProjectionFailed",
    "Relationship",
    "Roles",
    "Row",
    "Settings",
    "State",
    "Text",
    "UnknownEventType",
    "View",
    "catch_up",
    "check_output",
    "cli",
    "complete_handles",
    "complete_referrals",
    "count_rows",
    "current",
    "emit_json",
    "emit_json_array",
    "find_event",
    "fit",
    "get_ledger",
    "get_state",
    "hookimpl",
    "lacking_preparation",
    "ledger_event_ids",
    "listed",
    "me",
    "micros",
    "named",
    "open_obligations",
    "paint",
    "parse_time",
    "parties",
    "person_facts",
    "relationship",
    "relationships",
    "replacing_output",
    "request_as_of",
    "rows",
    "safe",
    "settings",
    "source_version",
    "stored_people",
    "stored_rows",
    "table",
    "time_options",
    "timestamp",
]


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module 'ledger.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"ledger.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
