"""Errors as values, and the exit codes the command line promises."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1  # verify found the ledger altered; alerts --check found overdue alerts
    BAD_INPUT = 2  # bad input, unknown referral or person, refused write
    INTERNAL = 3  # a bug


class LedgerError(Exception):
    """A refusal the user can act on: bad input, unknown names, a write the rules forbid.

    Carries every problem found, so they can be shown together.
    """

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, problems: str | list[str], *, line: int | None = None):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        self.line = line
        super().__init__(self.message)

    @property
    def message(self) -> str:
        prefix = f"line {self.line}: " if self.line is not None else ""
        if len(self.problems) == 1:
            return prefix + self.problems[0]
        return prefix + "; ".join(self.problems)

    def at_line(self, line: int) -> LedgerError:
        return type(self)(self.problems, line=line)


class ConflictError(LedgerError):
    """Another writer changed what this write was based on; safe to retry."""


class StoreError(LedgerError):
    """The database could not be opened or written (a locked file, a lost connection)."""
