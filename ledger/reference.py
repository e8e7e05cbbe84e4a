"""The generated parts of docs/reference.md: event types, commands, hooks and alert kinds, read
from the code itself so the page cannot drift from it.

`python -m ledger.reference` rewrites the page in place; `--check` only says whether it is
current. Each generated part sits between `<!-- generated: NAME -->` and `<!-- end generated -->`;
everything outside the markers is hand-written and kept as it is.

The output is the same on every machine: no paths, versions or terminal widths, and only the
built-in plugins' commands (a plugin installed beside them is not part of this project's page).
"""

from __future__ import annotations

import inspect
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reference.md"
REGENERATE = "python -m ledger.reference"

_MARKER = re.compile(
    r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)",
    re.DOTALL,
)


def _cell(text: str) -> str:
    """Text made safe for one cell of a Markdown table."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _first_paragraph(text: str | None) -> str:
    if not text:
        return ""
    paragraph = inspect.cleandoc(text).split("\n\n")[0]
    return " ".join(line.strip() for line in paragraph.splitlines() if line.strip() != "\b")


def _help_markdown(text: str | None) -> str:
    """A command's whole help as Markdown: paragraphs rewrapped, click's unwrapped blocks kept."""
    blocks = []
    for paragraph in inspect.cleandoc(text or "").split("\n\n"):
        lines = paragraph.splitlines()
        if lines and lines[0].strip() == "\b":
            blocks.append("```text\n" + "\n".join(lines[1:]) + "\n```")
        elif lines:
            blocks.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(blocks) + "\n" if blocks else ""


# --- event types -----------------------------------------------------------------------------


def _field_type(annotation: Any, metadata: list[Any]) -> str:
    from . import events

    validators = {getattr(m, "func", None) for m in metadata}
    named = {
        events._check_handle: "handle",
        events._check_event_id: "event id (1-128 printable ASCII characters)",
        events._check_at: "timestamp (not in the future)",
        events._check_future_ok_timestamp: "timestamp",
        events._check_date: "date `YYYY-MM-DD`",
    }
    for check, name in named.items():
        if check in validators:
            return name
    lengths = {type(m).__name__: m for m in metadata}
    if events._check_line in validators:
        if any(getattr(m, "pattern", None) for m in metadata):
            return "email address (one line, at most 254 characters)"
        return f"one line of text, 1-{lengths['MaxLen'].max_length} characters"
    if events._check_text in validators:
        low = getattr(lengths.get("MinLen"), "min_length", 0)
        high = lengths["MaxLen"].max_length
        return f"text, {low}-{high} characters"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(_code(v) for v in typing.get_args(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation)
        inner = _field_type(*_unannotated(item))
        most = getattr(lengths.get("MaxLen"), "max_length", None)
        return f"list of {inner}" + (f", at most {most}" if most is not None else "")
    if annotation is bool:
        return "boolean"
    if annotation is int:
        low, high = (getattr(lengths.get(k), a, None) for k, a in (("Ge", "ge"), ("Le", "le")))
        return f"integer {low}-{high}" if low is not None and high is not None else "integer"
    if isinstance(annotation, type) and issubclass(annotation, events.Strict):
        return f"object ({_code(annotation.__name__.lower())}, below)"
    return getattr(annotation, "__name__", str(annotation))


def _unannotated(annotation: Any) -> tuple[Any, list[Any]]:
    """A type with its `Annotated` metadata split off, and `X | None` made `X`."""
    metadata: list[Any] = []
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            base, *extra = typing.get_args(annotation)
            for item in extra:
                metadata.extend(getattr(item, "metadata", None) or [item])
            annotation = base
            continue
        args = typing.get_args(annotation)
        if type(None) in args:
            (annotation,) = [a for a in args if a is not type(None)]
            continue
        return annotation, metadata


def _field_rows(model: Any, skip: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    rows = []
    for name, info in model.model_fields.items():
        shown = info.alias or name
        if shown in skip:
            continue
        annotation, metadata = _unannotated(info.annotation)
        if name == "type":
            kind = "the type's name"
        else:
            kind = _field_type(annotation, [*metadata, *info.metadata])
            if shown == "referral" and kind == "handle":
                kind = "referral key"
        rows.append((_code(shown), "yes" if info.is_required() else "no", kind))
    return rows


def event_types() -> dict[str, tuple[Any, str | None]]:
    """Every event type, with the built-in plugin that registers it (None: the core's own)."""
    from . import events
    from .plugins import get_plugins

    found: dict[str, tuple[Any, str | None]] = {
        name: (model, None) for name, model in events.CORE_TYPES.items()
    }
    builtin = {info.name for info in get_plugins().infos if info.builtin}
    added = [
        (events.type_name(model), model, plugin)
        for plugin, model in get_plugins().collected("register_event_types")
        if plugin in builtin
    ]
    for name, model, plugin in sorted(added, key=lambda item: item[0]):
        found.setdefault(name, (model, plugin))
    return found


def render_events() -> str:
    from . import events

    types = event_types()

    parts = ["Fields every event may carry:\n\n"]
    parts.append(_table(("field", "required", "type"), _field_rows(events.Event)))
    summary = []
    for name, (model, _plugin) in types.items():
        required = [
            _code(info.alias or f)
            for f, info in model.model_fields.items()
            if info.is_required() and f != "type"
        ]
        people = ", ".join(_code(h) for h in model.handles) or "-"
        personal = ", ".join(_code(p) for p in model.personal) or "-"
        summary.append((_code(name), ", ".join(required), people, personal))
    parts.append("\nThe event types, with the fields each requires, the fields that name people ")
    parts.append("(each must be a known person) and the fields `forget` erases:\n\n")
    parts.append(_table(("type", "required fields", "names people", "personal data"), summary))
    common = set(events.Event.model_fields)
    for name, (model, plugin) in types.items():
        parts.append(f"\n#### `{name}`\n\n")
        if plugin is not None:
            parts.append(f"Registered by the built-in `{plugin}` plugin.\n\n")
        doc = _first_paragraph(model.__doc__)
        if doc:
            parts.append(doc + "\n\n")
        parts.append(_table(("field", "required", "type"), _field_rows(model, tuple(common))))
    parts.append("\n#### `preparation`\n\nThe object in `referral-requested`'s `preparation`:\n\n")
    parts.append(_table(("field", "required", "type"), _field_rows(events.Preparation)))
    return "".join(parts)


def render_kinds() -> str:
    from .kinds import KINDS, WEAK_KINDS
    from .relationships import STRENGTH

    rows = [
        (_code(kind), "yes" if kind in WEAK_KINDS else "no", str(STRENGTH[kind])) for kind in KINDS
    ]
    header = "The `kind` of a relationship, and its strength rank (to compare accounts):\n\n"
    return header + _table(("kind", "weak tie", "strength rank"), rows)


# --- the command line ------------------------------------------------------------------------


def _builtin_cli() -> click.Group:
    """The root group with every built-in plugin's commands added, and no one else's."""
    from .cli import cli, load_plugin_commands

    load_plugin_commands()
    return cli


def _is_builtin(command: click.Command) -> bool:
    from .plugins import get_plugins

    builtin = {
        info.module.split(":")[0].split(".")[0] for info in get_plugins().infos if info.builtin
    }
    module = getattr(command.callback, "__module__", "") or ""
    return module.split(".")[0] in {"ledger", *builtin}


def _metavar(param: click.Parameter) -> str:
    if isinstance(param, click.Option) and param.is_flag:
        return ""
    if param.metavar:
        return param.metavar
    if isinstance(param.type, click.Choice):
        return "[" + "|".join(str(c) for c in param.type.choices) + "]"
    if isinstance(param, click.Argument):
        return param.name.upper() if param.name else ""
    return param.type.name.upper()


def _usage(path: str, command: click.Command) -> str:
    words = [path]
    if any(isinstance(p, click.Option) for p in command.params):
        words.append("[OPTIONS]")
    for param in command.params:
        if isinstance(param, click.Argument):
            shown = _metavar(param)
            if param.nargs != 1:
                shown += "..."
            words.append(shown if param.required else f"[{shown}]")
    if isinstance(command, click.Group):
        words.append("[COMMAND]" if command.invoke_without_command else "COMMAND")
    return " ".join(words)


def _options(command: click.Command) -> list[tuple[str, ...]]:
    rows = []
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        names = ", ".join([*param.opts, *param.secondary_opts])
        metavar = _metavar(param)
        shown = f"{names} {metavar}" if metavar else names
        extra = []
        if param.multiple:
            extra.append("may be repeated")
        if param.required:
            extra.append("required")
        help_text = param.help or ""
        if extra:
            help_text = f"{help_text} ({'; '.join(extra)})" if help_text else "; ".join(extra)
        rows.append((_code(shown), help_text))
    return rows


def _walk(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    found = []
    for name in sorted(group.commands):
        command = group.commands[name]
        if command.hidden or not _is_builtin(command):
            continue
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(_walk(command, path))
    return found


def commands() -> list[str]:
    """Every command of the CLI, as typed after `referral-ledger` (subcommands included)."""
    return [path.split(" ", 1)[1] for path, _ in _walk(_builtin_cli(), "referral-ledger")]


def render_commands() -> str:
    root = _builtin_cli()
    found = _walk(root, "referral-ledger")
    parts = ["| command | does |\n| --- | --- |\n"]
    for path, command in found:
        anchor = path.split(" ", 1)[1].replace(" ", "-")
        parts.append(f"| [`{path.split(' ', 1)[1]}`](#{anchor}) | ")
        parts.append(_cell(_first_paragraph(command.help)) + " |\n")
    parts.append("\n### Global options\n\n")
    parts.append(f"`{_usage('referral-ledger', root)}`\n\n")
    parts.append(_table(("option", "meaning"), _options(root)))
    for path, command in found:
        parts.append(f"\n### {path.split(' ', 1)[1]}\n\n`{_usage(path, command)}`\n\n")
        parts.append(_help_markdown(command.help))
        options = _options(command)
        if options:
            parts.append("\n" + _table(("option", "meaning"), options))
    return "".join(parts)


# --- plugin hooks ----------------------------------------------------------------------------


def hooks() -> dict[str, Callable[..., Any]]:
    """Every hook specification, by name."""
    from . import hookspecs

    return {
        name: value
        for name, value in sorted(vars(hookspecs).items())
        if callable(value) and hasattr(value, "referral_ledger_spec")
    }


def _signature(function: Callable[..., Any]) -> str:
    # Annotations are kept as written (this project's modules postpone their evaluation).
    signature = inspect.signature(function)
    params = []
    for param in signature.parameters.values():
        annotation = param.annotation
        params.append(
            f"{param.name}: {annotation}" if annotation is not param.empty else param.name
        )
    returned = signature.return_annotation
    tail = f" -> {returned}" if returned is not signature.empty else ""
    return f"{function.__name__}({', '.join(params)}){tail}"


def render_hooks() -> str:
    rows = [
        (_code(_signature(function)), _first_paragraph(function.__doc__).split("\n")[0])
        for function in hooks().values()
    ]
    return _table(("hook", "what it is for"), rows)


# --- alert kinds and settings ----------------------------------------------------------------


def render_due() -> str:
    rules = _alert_rules()
    defaults = {rule.due_key: rule.due_days for rule in rules}
    rows = []
    for key in sorted(defaults):
        kinds = sorted({rule.kind for rule in rules if rule.due_key == key})
        ends = sorted(
            {"yes" if rule.ends_on_close else "no" for rule in rules if rule.due_key == key}
        )
        what = [
            rule.what.format(person="PERSON", owed_to="OWED_TO")
            for rule in rules
            if rule.due_key == key
        ]
        rows.append(
            (
                _code(key),
                ", ".join(_code(k) for k in kinds) or "-",
                f"{defaults[key]:g}",
                "/".join(ends) or "-",
                "; ".join(what),
            )
        )
    return _table(("`[due]` key", "alert kind", "default days", "ends on close", "message"), rows)


def _alert_rules() -> tuple[Any, ...]:
    # The alerts plugin keeps its obligations as data; without it there are no alert kinds.
    try:
        from ledger_alerts.obligations import RULES  # type: ignore[import-not-found]
    except ImportError:
        return ()
    return tuple(RULES)


# --- the page --------------------------------------------------------------------------------

RENDERERS: dict[str, Callable[[], str]] = {
    "events": render_events,
    "kinds": render_kinds,
    "commands": render_commands,
    "hooks": render_hooks,
    "due": render_due,
}


def render(page: str) -> str:
    """The page with every generated part replaced by what the code says now."""
    seen: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in RENDERERS:
            raise ValueError(f"docs/reference.md: no generator for part {name!r}")
        seen.append(name)
        return match[1] + RENDERERS[name]() + match[4]

    result = _MARKER.sub(replace, page)
    missing = sorted(set(RENDERERS) - set(seen))
    if missing:
        raise ValueError(f"docs/reference.md: no markers for {', '.join(missing)}")
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    current = PAGE.read_text(encoding="utf-8")
    fresh = render(current)
    if "--check" in args:
        if fresh != current:
            print(f"docs/reference.md is out of date: run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        PAGE.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
