"""referral-ledger: a plugin-based, event-sourced ledger of job referrals."""

from __future__ import annotations

from typing import Any

from .hookspecs import hookimpl, hookspec

__all__ = ["Event", "Ledger", "LedgerError", "Projection", "__version__", "hookimpl", "hookspec"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy: `from ledger import hookimpl` must stay cheap for `--help`.
    if name == "Event":
        from .events import Event

        return Event
    if name == "Projection":
        from .projections import Projection

        return Projection
    if name == "Ledger":
        from .app import Ledger

        return Ledger
    if name == "LedgerError":
        from .errors import LedgerError

        return LedgerError
    raise AttributeError(name)
