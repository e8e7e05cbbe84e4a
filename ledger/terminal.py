"""What a terminal gets and a pipe does not: text fitted to its width, colour, progress bars.

Text output for people goes through here; `--json` never does, so what a script reads is the
same on a terminal, in a pipe and under any `COLUMNS`.
"""

from __future__ import annotations

import os
import shutil
import sys
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Self

import click

from .text import plain, visible

if TYPE_CHECKING:
    from .views import View

PROGRESS_AT = 5000  # show a progress bar when at least this much is to be done
GAP = "  "  # between the columns of a table
NARROWEST = 4  # a column cut to fit keeps at least this many columns, its `…` included


def is_terminal(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def width() -> int | None:
    """How many columns text output may take: `COLUMNS` when set, else the terminal's width
    when stdout is a terminal; None (no limit) when it goes to a pipe or a file."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if is_terminal(sys.stdout):
        return shutil.get_terminal_size().columns
    return None


def colour_on() -> bool:
    """Whether stdout shows colour: a terminal, and `NO_COLOR` unset or empty."""
    return not os.environ.get("NO_COLOR") and is_terminal(sys.stdout)


def paint(text: str, colour: str | None, *, bold: bool = False, on: bool | None = None) -> str:
    """`text` in `colour` (a click colour name) when colour is on (`colour_on`, unless `on`
    says); unchanged otherwise, or when `colour` is None."""
    if colour is None or not (colour_on() if on is None else on):
        return text
    return click.style(text, fg=colour, bold=bold or None)


def cells(text: str) -> int:
    """The columns `text` takes on a terminal (wide characters take two, combining none)."""
    if text.isascii():
        return len(text)
    return sum(_cells(ch) for ch in text)


def _cells(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def cut(text: str, limit: int | None) -> str:
    """`text` in at most `limit` columns: a longer one is cut and ends with `…`."""
    if limit is None or cells(text) <= limit:
        return text
    if limit <= 0:
        return ""
    kept, used = [], 0
    for ch in text:
        used += _cells(ch)
        if used > limit - 1:
            break
        kept.append(ch)
    return "".join(kept) + "…"


def fit(line: str) -> str:
    """A line of user-supplied text made safe (`visible`) and cut to the output's width."""
    return cut(visible(line), width())


def named(view: View, handles: Iterable[str | None] = ()) -> Callable[[str | None], str]:
    """A function that gives a handle with the person's name beside it, `ana (Ana Ruiz)`, as
    `view` knows them, each person looked up once: the handle alone for a forgotten person
    (whose name is erased) or an unknown one, and `-` for None. The people of `handles` are
    looked up at once, in a few queries (`View.names`), for a table that names many."""
    seen: dict[str, str] = {}

    def shown(handle: str, name: str | None) -> str:
        return f"{handle} ({name})" if name else handle

    wanted = [handle for handle in handles if handle is not None]
    if wanted:
        seen.update((h, shown(h, name)) for h, name in view.names(wanted).items())

    def who(handle: str | None) -> str:
        if handle is None:
            return "-"
        if handle not in seen:
            seen[handle] = shown(handle, view.names([handle])[handle])
        return seen[handle]

    return who


def table(
    header: Sequence[str] | None,
    rows: Iterable[Sequence[str]],
    *,
    fixed: Collection[int] = (),
    right: Collection[int] = (),
    colours: Mapping[int, Callable[[str], str | None]] | None = None,
    limit: int | None = None,
) -> Iterator[str]:
    """The lines of a table, its columns aligned and, when the output has a width (`width`,
    or `limit`), fitted to it: the widest columns not `fixed` are cut first, each cut cell
    ending with `…`. Cells are user text, made safe (`visible`) here. `right` columns are
    aligned right; `colours` gives, for a column, the colour of a cell from its text (when
    colour is on). The last column is not padded."""
    every: list[list[str]] = [list(header)] if header is not None else []
    sizes = [list(map(cells, every[0]))] if every else []  # each cell's columns, counted once
    for row in rows:
        texts = list(map(str, row))
        if plain("".join(texts)):  # most rows: each cell as it is, one column a character
            every.append(texts)
            sizes.append(list(map(len, texts)))
        else:
            shown = list(map(visible, texts))
            every.append(shown)
            sizes.append(list(map(cells, shown)))
    if not every:
        return
    count = len(every[0])
    natural = [max(size[i] for size in sizes) for i in range(count)]
    room = width() if limit is None else limit
    widths = _fitted(natural, fixed, room)
    cutting = widths != natural  # else every cell fits its column as it is
    too_wide = room is not None and sum(widths) + len(GAP) * (count - 1) > room
    on = bool(colours) and not too_wide and colour_on()
    padded = [i < count - 1 or i in right for i in range(count)]
    for n, (line, size) in enumerate(zip(every, sizes, strict=True)):
        painted = on and colours is not None and not (header is not None and n == 0)
        parts = []
        for i, cell in enumerate(line):
            if cutting:
                shown = cut(cell, widths[i])
                used = cells(shown)
            else:
                shown, used = cell, size[i]
            pad = " " * (widths[i] - used) if padded[i] else ""
            text = pad + shown if i in right else shown + pad
            if painted and colours is not None and i in colours:
                text = paint(text, colours[i](cell), on=True)
            parts.append(text)
        joined = GAP.join(parts).rstrip()
        yield cut(joined, room) if too_wide else joined


def _fitted(natural: list[int], fixed: Collection[int], limit: int | None) -> list[int]:
    """Column widths: `natural`, or, to fit `limit` columns, the cut-able ones capped at the
    largest width that fits (never below NARROWEST, unless nothing else fits)."""
    total = sum(natural) + len(GAP) * (len(natural) - 1)
    if limit is None or total <= limit:
        return natural
    flexible = [i for i in range(len(natural)) if i not in fixed]
    room = limit - (total - sum(natural[i] for i in flexible))
    for narrowest in (NARROWEST, 1):
        cap = max((natural[i] for i in flexible), default=0)
        while cap > narrowest and sum(min(natural[i], cap) for i in flexible) > room:
            cap -= 1
        widths = [min(w, cap) if i in flexible else w for i, w in enumerate(natural)]
        if sum(widths) + len(GAP) * (len(widths) - 1) <= limit:
            return widths
    return widths  # even the narrowest does not fit: `table` cuts its lines whole


def progress(label: str, total: int, at: int = PROGRESS_AT) -> Any:
    """A click progress bar on stderr for `total` steps, or None: only on a terminal, without
    `--quiet`, and when there is much to do (`at` steps or more)."""
    if total < at or quiet() or not is_terminal(sys.stderr):
        return None
    # Redrawn about 200 times in all, however small the steps.
    return click.progressbar(
        length=total, label=label, file=sys.stderr, update_min_steps=max(1, total // 200)
    )


def with_progress(label: str, total: int, work: Callable[[Callable[[int], None]], Any]) -> Any:
    """Run `work(step)`, with a progress bar (`progress`) that each `step(n)` moves on."""
    bar = progress(label, total)
    if bar is None:
        return work(lambda n: None)
    with bar:
        return work(bar.update)


def quiet() -> bool:
    """Whether the command runs under the top-level `--quiet`."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    return root is not None and bool(getattr(root.obj, "quiet", False))


class Steps:
    """A progress bar (`progress`) made when the total is first known: call it with how much
    is done and the total. Use it in a `with` block, which ends the bar."""

    def __init__(self, label: str, at: int = PROGRESS_AT):
        self.label = label
        self.at = at
        self._bar: Any = None
        self._asked = False
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if not self._asked:
            self._asked = True
            self._bar = progress(self.label, total, self.at)
            if self._bar is not None:
                self._bar.__enter__()
        if self._bar is not None and done > self._done:
            self._bar.update(done - self._done)
        self._done = done

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None
