"""The hooks a plugin can implement. This module is the plugin API: every hook is documented
in docs/plugins.md, and a test fails if one is missing there or has no test of its own.

Hooks are called with keyword arguments, so an implementation may accept fewer arguments than
the hook offers, and new arguments can be added later without breaking anyone.

The plugin host (`plugins.py`) reads these specifications and the ledger (`app.py`) uses the
host, so this module imports nothing above the event models: `Ledger` and `Projection` below
are names for `Any` that say what is passed (`ledger.Ledger` and `ledger.Projection`, both in
`ledger.api` for a plugin's own annotations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import pluggy

if TYPE_CHECKING:
    import click

    from .events import Event

# What the hooks are given and return, named as docs/reference.md shows them. Importing the real
# classes would make this module, the host and the ledger import one another.
Ledger: TypeAlias = Any  # the `ledger.Ledger` calling the hook
Projection: TypeAlias = Any  # a `ledger.Projection`

hookspec = pluggy.HookspecMarker("referral_ledger")
hookimpl = pluggy.HookimplMarker("referral_ledger")


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the root `click.Group`. Called once when the CLI starts.

    A plugin that raises here is reported by name on stderr; the CLI still starts.
    """


@hookspec
def validate_event(
    event: Mapping[str, Any], ledger: Ledger, pending: Sequence[Mapping[str, Any]]
) -> str | None:
    """Refuse an event before it is stored by returning a non-empty reason.

    `event` is a read-only mapping in the interchange format, with its `id` and `at` filled in.
    `pending` holds the events before it in the same write that `ledger`'s views do not show
    yet (the earlier lines of an import's page: the pages before it are written, in the
    import's one transaction, and in the views): a rule about what came before reads both. Called after the contract's own rules pass. A plugin that raises refuses the
    event, and the error names the plugin.
    """


@hookspec
def event_recorded(event: Mapping[str, Any], ledger: Ledger) -> None:
    """See an event after it is committed (with `seq`, `recorded_at`, `recorded_by` and `hash`).

    For an import, called once per newly stored event, after the one commit. A plugin that
    raises does not undo anything: the event stays recorded, and a warning names the plugin.
    """


@hookspec
def register_event_types() -> list[type[Event]]:
    """Return new event types: subclasses of `ledger.Event` with a `Literal` `type`.

    Called once when a ledger is opened. Each type needs a `referral` field (it then belongs to
    that referral) or a `by` field listed in `handles` (it then belongs to that person);
    `personal` names its fields of personal data, and `describe` says one in words. Names may
    not collide with the contract's types or another plugin's: a collision is an error naming
    both plugins. A plugin that raises is reported by name and its types are left out.
    """
    raise NotImplementedError  # a specification: pluggy never calls the body


@hookspec
def register_projections() -> list[Projection]:
    """Return derived views of the ledger (alerts, flags, anything else), kept up to date
    incrementally in the ledger's own database. See `ledger.projections.Projection`.

    Rows of category "alert" are listed by `alerts`, "flag" by `flags`. A projection that
    raises while deriving is reported by name, keeps its last position and resumes from it
    once fixed; the other projections and the ledger are unaffected.
    """
    raise NotImplementedError


@hookspec
def person_facts(
    ledger: Ledger, handle: str, as_of: int, known_at: int | None
) -> Mapping[str, Any] | None:
    """Add what the plugin knows of a person to `person show`: a mapping of JSON values,
    merged into `person show --json` under its own keys (and printed, one line each).

    `as_of` and `known_at` are the command's times (microseconds; `known_at` None for now).
    Return None to add nothing. A key the command already has, or that another plugin gave, is
    left out with a warning naming the plugin; a plugin that raises is reported by name on
    stderr and the command shows the rest.
    """
