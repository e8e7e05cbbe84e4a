"""`show` and `list`: where referrals stand, read through `ledger.views.View`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from itertools import islice
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

import click

from ledger.api import LedgerError, emit_json, emit_json_array, get_ledger, safe

from .command import LedgerCommand
from .stages import STAGES, Summary, summarize

if TYPE_CHECKING:
    from ledger.api import Ledger, View


# Referrals summarized per View by `list`: a View keeps every referral it has read, so a
# fresh one per batch bounds the memory, and one batch is read in a few queries.
BATCH = 1000
ECHO_PAGE = 1000  # lines of a table written at once
# What the table of referrals shows of each after its key, read from a Summary (`cells`) or
# from a kept row's summary (`_cells`).
SHOWN = ("stage", "company", "requester", "referrer", "target")
_shown_of, _shown_in = attrgetter(*SHOWN), itemgetter(*SHOWN)


def retractions(history: list[Mapping[str, Any]]) -> int:
    """How many events a referral's history (`View.referral_history`) retracted."""
    return sum(1 for event in history if event["type"] == "event-retracted")


def load(view: View, key: str) -> Summary | None:
    """One referral's summary: its live events, and how many of its events were retracted."""
    summary = summarize(view.referral(key))
    if summary is None:
        return None
    return replace(summary, retracted=retractions(view.referral_history(key)))


def iter_summaries(
    ledger: Ledger, person: str | None = None, stage: str | None = None
) -> Iterator[Summary]:
    """Every referral (or those with `person` as a party, or at `stage`), in request order.

    An unknown `person` is refused here, before the first summary is asked for."""
    from ledger.api import View

    view = View(ledger)
    if person is not None and view.person(person) is None:
        raise LedgerError(f"--person: unknown person {person!r}")
    if indexed(ledger):
        return _indexed(ledger, view, person, stage)
    if person is not None:
        wanted = set(view.referrals_of(person))
        keys = [key for key in view.referral_keys() if key in wanted]
    else:
        keys = view.referral_keys()
    return _summaries(ledger, keys, person, stage)


def indexed(ledger: Ledger) -> bool:
    """Whether the kept summaries (`summaries.SummariesProjection`) are up to date, brought
    up to date first where the ledger can be written. Not on a read-only ledger that is
    behind, nor when deriving them failed: the summaries are then read from the events."""
    from ledger.api import current

    from .summaries import NAME

    failed: list[Any] = []
    return current(ledger, on_error=failed.append, only=[NAME]) and not failed


def _indexed(
    ledger: Ledger, view: View, person: str | None, stage: str | None
) -> Iterator[Summary]:
    """`iter_summaries` from the kept summaries: a stored row per referral, and the log's
    count of its retractions, a batch of referrals per query."""
    import orjson

    from .summaries import NAME, from_row

    store = ledger.store
    if person is not None:
        # the person's referrals (a superset), in the order they were requested
        counts = store.referral_counts(view.referrals_of(person))
        keys = sorted(
            (key for key, (requested, _) in counts.items() if requested is not None),
            key=lambda key: counts[key][0] or 0,
        )
    else:
        keys = view.referral_keys()
        counts = {}
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        found = {key: orjson.loads(data) for key, [data] in store.part_rows(NAME, batch).items()}
        if person is None:
            counts = store.referral_counts(batch)
        # the roles, from the events that give them (personal data: not kept in the rows)
        sources = view.events(d["role_from"] for d in found.values() if d["role_from"])
        for key in batch:
            if key not in found:
                continue  # its request is retracted: no summary
            data = found[key]
            source = sources.get(data["role_from"]) if data["role_from"] else None
            role = None if source is None else source.get("role")
            summary = from_row(data, role, counts[key][1])
            if person is not None and not summary.involves(person):
                continue
            if stage is not None and summary.stage != stage:
                continue
            yield summary


def _summaries(
    ledger: Ledger, keys: list[str], person: str | None, stage: str | None
) -> Iterator[Summary]:
    from ledger.api import View

    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        view = View(ledger)
        histories = view.referral_histories(batch)
        for key in batch:
            summary = summarize(view.referral(key), retracted=retractions(histories[key]))
            if summary is None:
                continue
            if person is not None and not summary.involves(person):
                continue
            if stage is not None and summary.stage != stage:
                continue
            yield summary


def summaries(ledger: Ledger, person: str | None = None, stage: str | None = None) -> list[Summary]:
    """`iter_summaries` as a list."""
    return list(iter_summaries(ledger, person, stage))


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Mapping):
        return "(forgotten)"
    return safe(str(value))


@click.command(cls=LedgerCommand)
@click.argument("referral")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(referral: str, as_json: bool) -> None:
    """Show where REFERRAL stands: parties, stage, key dates, event counts.

    \b
    Example:
      referral-ledger show ana-acme
    """
    from ledger.api import View, fit, named, table

    view = View(get_ledger())
    summary = load(view, referral)
    if summary is None:
        raise LedgerError(f"referral: unknown referral {referral!r}")
    if as_json:
        emit_json(summary.as_json())
        return
    stage = summary.stage
    if summary.closed and summary.reached != "requested":
        stage += f" (reached {summary.reached})"
    who = named(view)
    rows = [
        ("stage", stage),
        ("company", _text(summary.company)),
        ("role", _text(summary.role)),
        ("requester", who(summary.requester)),
        ("referrer", who(summary.referrer)),
        ("target", who(summary.target)),
        ("decision", _text(summary.decision)),
        ("outcome", _text(summary.outcome)),
    ]
    rows += [(name.replace("_", " "), at) for name, at in summary.dates.items() if at]
    rows.append(("events", f"{summary.events} live, {summary.retracted} retracted"))
    click.echo(fit(summary.referral))
    for line in table(None, [("", name, value) for name, value in rows], fixed=(1,)):
        click.echo(line)


LIST_HELP = (
    "List referrals with their stage.\n\n"
    "Each referral's summary is read from derived state kept like the alerts (brought up to "
    "date first; `replay` rebuilds and checks it) rather than from its events.\n\n"
    "\b\nStages:\n"
    + "\n".join(f"  {name:<18} {meaning}" for name, meaning in STAGES.items())
    + "\n\n\b\nExample:\n  referral-ledger list --person ana --stage introduced\n"
)


@click.command(name="list", cls=LedgerCommand, help=LIST_HELP)
@click.option("--person", metavar="HANDLE", help="Only referrals where HANDLE is a party.")
@click.option("--stage", type=click.Choice(list(STAGES)), help="Only referrals at this stage.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(person: str | None, stage: str | None, as_json: bool) -> None:
    ledger = get_ledger()
    if as_json:
        emit_json_array(summary.as_json() for summary in iter_summaries(ledger, person, stage))
        return
    echo_table(_cells(ledger, person, stage), ledger)


def _cells(ledger: Ledger, person: str | None, stage: str | None) -> Iterator[tuple[Any, ...]]:
    """What the table shows of each referral `iter_summaries` gives: from the kept rows when
    they are up to date, without the roles and counts of retractions the table leaves out
    (the summaries' fields read from the rows as they are)."""
    from ledger.api import View

    if person is not None or not indexed(ledger):
        yield from map(cells, iter_summaries(ledger, person, stage))
        return
    import orjson

    from .summaries import NAME

    # every row at once: the table holds all its cells anyway
    found = ledger.store.every_part_row(NAME)
    for key in View(ledger).referral_keys():
        data = found.pop(key, None)
        if data is None:
            continue  # its request is retracted: no summary
        summary = orjson.loads(data)["summary"]
        if stage is None or summary["stage"] == stage:
            yield (key, *_shown_in(summary))


def cells(s: Summary) -> tuple[Any, ...]:
    """What the table of referrals (`echo_table`) shows of a summary."""
    return (s.referral, *_shown_of(s))


def echo_table(found: Iterable[Sequence[Any]], ledger: Ledger) -> None:
    """The referrals (`_cells`) as a table fitted to the terminal, names beside the handles."""
    from ledger.api import View, named, table

    # Only the cells are held, not the summaries: the widths need every row before the first.
    # The people are looked up once every row is read, together, in a few queries.
    header = ("REFERRAL", "STAGE", "COMPANY", "REQUESTER", "REFERRER", "TARGET")
    held = [(key, stage, _text(company), *people) for key, stage, company, *people in found]
    if not held:
        click.echo("No referrals.")
        return
    who = named(View(ledger), (handle for row in held for handle in row[3:]))
    rows = [(*row[:3], *map(who, row[3:])) for row in held]
    lines = table(header, rows, fixed=(1,))
    # written a page at a time: one write a line would be a third of the time of a long list
    while page := list(islice(lines, ECHO_PAGE)):
        click.echo("\n".join(page))
