"""`plugins new NAME`: the skeleton of a plugin distribution that installs and works at once.

`--kind` picks what the plugin adds: a command (the default), a flag kind, an alert kind with its
own `[due]` key, or an event type. Each skeleton has a test that passes as written, with the
`ledger_cli` fixture of `ledger.testing`, and imports nothing of referral-ledger but `ledger`
and `ledger.api`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from .errors import LedgerError

NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")
KINDS = ("command", "flag", "alert", "event-type")
# What each kind adds, for the README, and the hook its skeleton implements.
_ADDS = {
    "command": ("the `{name}` command", "register_commands"),
    "flag": ("the `{name}` flag kind", "register_projections"),
    "alert": ("the `{name}` alert kind and its `[due]` key", "register_projections"),
    "event-type": ("the `{name}` event type", "register_event_types"),
}
_TOKEN = re.compile(r"\{(name|distribution|package|function|klass|adds)\}")


@dataclass(frozen=True)
class Skeleton:
    name: str  # the plugin's (and its command's) name: the entry point's name
    distribution: str
    package: str
    files: dict[str, str]  # relative path -> content
    kind: str = "command"


def skeleton(name: str, taken: Collection[str] = (), kind: str = "command") -> Skeleton:
    """The files of a new plugin called `name` that adds a `kind` (one of `KINDS`); `taken` are
    names it must not use."""
    if not NAME_RE.match(name) or len(name) > 40:
        raise LedgerError(
            f"plugin name {name!r}: use lowercase letters, digits and single dashes, "
            "starting with a letter (like `weekly-digest`)"
        )
    if name in taken:
        raise LedgerError(f"plugin name {name!r} is already a command or a plugin; pick another")
    if kind not in KINDS:
        raise LedgerError(f"--kind {kind!r}: use one of {', '.join(KINDS)}")
    if kind == "event-type":
        from .events import CORE_TYPES

        if name in CORE_TYPES:
            raise LedgerError(f"plugin name {name!r} is one of the contract's event types")
    values = {
        "name": name,
        "distribution": f"referral-ledger-{name}",
        "package": "referral_ledger_" + name.replace("-", "_"),
        "function": name.replace("-", "_"),
        "klass": "".join(word.title() for word in name.split("-")),
        "adds": _ADDS[kind][0].replace("{name}", name),
    }
    init, test = _TEMPLATES[kind]
    package, function = values["package"], values["function"]
    files = {
        "pyproject.toml": _fill(_PYPROJECT, values),
        "README.md": _fill(_README, values),
        f"{package}/__init__.py": _fill(init, values),
        "tests/conftest.py": _fill(_CONFTEST, values),
        f"tests/test_{function}.py": _fill(test, values),
    }
    return Skeleton(name, values["distribution"], package, files, kind)


def hook_of(kind: str) -> str:
    """The hook the skeleton of `kind` implements."""
    return _ADDS[kind][1]


def _fill(template: str, values: dict[str, str]) -> str:
    """The template with `{name}` and its like replaced; every other brace is left alone."""
    return _TOKEN.sub(lambda match: values[match.group(1)], template)


def write(skel: Skeleton, directory: Path) -> list[Path]:
    """Write the skeleton into `directory`, which must be missing or empty."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise LedgerError(f"{directory} already exists and is not empty; pick another --dir")
    written = []
    for relative, content in skel.files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"
description = "A referral-ledger plugin."
requires-python = ">=3.11"
dependencies = ["referral-ledger"]

[project.optional-dependencies]
test = ["pytest"]

# The entry point's name is the plugin's name (see `referral-ledger plugins`).
[project.entry-points.referral_ledger]
{name} = "{package}"

[tool.setuptools]
packages = ["{package}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

_README = """\
# {distribution}

A plugin for [referral-ledger](https://pypi.org/project/referral-ledger/) that adds
{adds}.

```sh
pip install -e .
referral-ledger plugins        # lists "{name}"
pytest                         # its tests
```

The hooks are in `{package}/__init__.py`; the author's guide (docs/plugins.md in
referral-ledger) documents every hook you can add.
"""

_INIT = '''\
"""The {name} plugin for referral-ledger."""

from __future__ import annotations

from collections import Counter

import click

from ledger import hookimpl


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command(name="{name}")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    def {function}(as_json: bool) -> None:
        """Count the ledger's events by type.

        \\b
        Example:
          referral-ledger {name} --json
        """
        from ledger.api import emit_json, get_ledger

        counts = dict(sorted(Counter(e["type"] for e in get_ledger().export()).items()))
        if as_json:
            emit_json(counts)
            return
        for kind, count in counts.items():
            click.echo(f"{count:6}  {kind}")
'''

_CONFTEST = '''\
"""`ledger_cli` (from referral-ledger's pytest plugin) runs the real command line on a fresh
ledger of each test's own, with every installed plugin but the built-ins and this one off."""

from __future__ import annotations

import pytest

# Installed referral-ledger registers this pytest plugin itself; naming it here also covers a
# referral-ledger that is only importable. The same name, so it is never loaded twice.
pytest_plugins = ["ledger.testing"]


@pytest.fixture
def ledger_plugins() -> list[str]:
    return ["{name}"]
'''

_TEST = '''\
"""The plugin is installed, listed, and its command works on a fresh ledger."""

from __future__ import annotations

from ledger.api import Cli


def test_the_plugin_is_listed(ledger_cli: Cli) -> None:
    mine = [p for p in ledger_cli.json("plugins", "--json") if p["name"] == "{name}"]
    assert mine and mine[0]["enabled"] and mine[0]["hooks"] == ["register_commands"]


def test_the_command_counts_events(ledger_cli: Cli) -> None:
    ledger_cli.record({"type": "person-added", "handle": "ana", "name": "Ana"})
    assert ledger_cli.json("{name}", "--json") == {"person-added": 1}


def test_a_read_of_a_missing_ledger_is_refused(ledger_cli: Cli) -> None:
    assert "no ledger at" in ledger_cli.refused("{name}").stderr
'''

_FLAG_INIT = '''\
"""The {name} plugin for referral-ledger: a flag kind.

A referral request that does not say what the requester hopes for (no `goal`) raises the
`{name}` flag on the requester. `referral-ledger flags` lists it with the built-in kinds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ledger import Projection, hookimpl
from ledger.api import View

KIND = "{name}"


class {klass}(Projection):
    name = KIND  # unique among projections: the key of its stored rows
    version = "1"  # change it when what `derive` gives changes: the rows are rebuilt
    category = "flag"  # listed by `referral-ledger flags`

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        # Only a referral's request can raise the flag: one part per referral.
        return [event["referral"]] if event["type"] == "referral-requested" else []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        for event in view.referral(part):
            if event["type"] == "referral-requested" and not event.get("goal"):
                # Handles, ids and times only: never copy free text into a row.
                yield {
                    "kind": KIND,
                    "referral": part,
                    "person": event["by"],
                    "message": f"{event['by']} asked {event['referrer']} for an introduction "
                    "without saying what they hope for",
                    "evidence": [event["id"]],
                    "start": event["at"],
                }


@hookimpl
def register_projections() -> list[Projection]:
    return [{klass}()]
'''

_FLAG_TEST = '''\
"""The plugin is installed, listed, and raises its flag on a fresh ledger."""

from __future__ import annotations

from ledger.api import Cli

REQUEST = {
    "type": "referral-requested",
    "referral": "ana-acme",
    "by": "ana",
    "referrer": "carol",
    "company": "Acme",
    "at": "2026-10-01T09:00:00Z",
}


def _people(ledger_cli: Cli) -> None:
    for handle in ("ana", "carol"):
        ledger_cli.record({"type": "person-added", "handle": handle, "name": handle.title()})


def test_the_plugin_is_listed(ledger_cli: Cli) -> None:
    mine = [p for p in ledger_cli.json("plugins", "--json") if p["name"] == "{name}"]
    assert mine and mine[0]["enabled"] and mine[0]["hooks"] == ["register_projections"]


def test_a_request_without_a_goal_is_flagged(ledger_cli: Cli) -> None:
    _people(ledger_cli)
    ledger_cli.record(REQUEST)
    ledger_cli.record({**REQUEST, "referral": "ana-globex", "goal": "a backend role"})
    mine = [f for f in ledger_cli.json("flags", "--json") if f["kind"] == "{name}"]
    assert [(f["referral"], f["person"]) for f in mine] == [("ana-acme", "ana")]
    assert "without saying what they hope for" in ledger_cli.ok("flags").stdout
'''

_ALERT_INIT = '''\
"""The {name} plugin for referral-ledger: an alert kind with its own `[due]` key.

Once a requester has asked for an introduction, they owe the referrer a follow-up
(`follow-up-sent`) within some days: 10 unless the `[due]` table of config.toml says otherwise,
under the key `{name}`. `referral-ledger alerts` lists it with the built-in kinds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ledger import Projection, hookimpl
from ledger.api import View, micros, settings, timestamp

KIND = "{name}"
DUE_KEY = "{name}"  # the key of the config file's `[due]` table


class {klass}(Projection):
    name = KIND  # unique among projections: the key of its stored rows
    version = "1"  # change it when what `derive` gives changes: the rows are rebuilt
    category = "alert"  # listed by `referral-ledger alerts`
    due = {DUE_KEY: 10}  # the `[due]` keys it reads, with their default days

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        referral = event.get("referral")
        return [referral] if referral else []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        events = view.referral(part)
        request = next((e for e in events if e["type"] == "referral-requested"), None)
        if request is None:
            return
        requester, referrer = request["by"], request["referrer"]
        due_at = micros(request["at"]) + settings().due_micros(DUE_KEY)
        met = next(
            (
                micros(e["at"])
                for e in events
                if e["type"] == "follow-up-sent" and e["by"] == requester and e["to"] == referrer
            ),
            None,
        )
        if met is not None and met <= due_at:
            return  # followed up in time: no alert
        due = timestamp(due_at)
        yield {
            "kind": KIND,
            "referral": part,
            "person": requester,  # who owes
            "owed_to": referrer,
            "due": due,
            "message": f"{requester} has not followed up with {referrer} (due {due})",
            "start": timestamp(due_at + 1),  # overdue once its due time has passed
            **({"end": timestamp(met)} if met is not None else {}),
        }


@hookimpl
def register_projections() -> list[Projection]:
    return [{klass}()]
'''

_ALERT_TEST = '''\
"""The plugin is installed, listed, and its alert falls due when its `[due]` key says."""

from __future__ import annotations

from pathlib import Path

from ledger.api import Cli

REQUEST = {
    "type": "referral-requested",
    "referral": "ana-acme",
    "by": "ana",
    "referrer": "carol",
    "company": "Acme",
    "at": "2026-10-01T09:00:00Z",
}


def _request(ledger_cli: Cli) -> None:
    for handle in ("ana", "carol"):
        ledger_cli.record({"type": "person-added", "handle": handle, "name": handle.title()})
    ledger_cli.record(REQUEST)


def _mine(ledger_cli: Cli, as_of: str, *config: str) -> list[dict]:
    found = ledger_cli.json(*config, "alerts", "--json", "--as-of", as_of)
    return [alert for alert in found if alert["kind"] == "{name}"]


def test_the_plugin_is_listed(ledger_cli: Cli) -> None:
    mine = [p for p in ledger_cli.json("plugins", "--json") if p["name"] == "{name}"]
    assert mine and mine[0]["enabled"] and mine[0]["hooks"] == ["register_projections"]


def test_the_alert_falls_due_after_its_default_days(ledger_cli: Cli) -> None:
    _request(ledger_cli)
    assert _mine(ledger_cli, "2026-10-11T09:00:00Z") == []
    late = _mine(ledger_cli, "2026-10-12T00:00:00Z")
    assert [(a["person"], a["owed_to"], a["due"]) for a in late] == [
        ("ana", "carol", "2026-10-11T09:00:00Z")
    ]


def test_a_follow_up_in_time_meets_it(ledger_cli: Cli) -> None:
    _request(ledger_cli)
    follow_up = {"type": "follow-up-sent", "referral": "ana-acme", "by": "ana", "to": "carol"}
    ledger_cli.record({**follow_up, "at": "2026-10-05T09:00:00Z"})
    assert _mine(ledger_cli, "2026-12-01T00:00:00Z") == []


def test_its_due_key_is_a_setting(ledger_cli: Cli, tmp_path: Path) -> None:
    _request(ledger_cli)
    config = tmp_path / "config.toml"
    config.write_text('[due]\\n"{name}" = 2\\n')
    soon = _mine(ledger_cli, "2026-10-04T00:00:00Z", "--config", str(config))
    assert [a["due"] for a in soon] == ["2026-10-03T09:00:00Z"]
    config.write_text('[due]\\n"{name}-typo" = 2\\n')
    refused = ledger_cli.refused("--config", str(config), "alerts")
    assert "[due] has no key '{name}-typo'" in refused.stderr
'''

_EVENT_TYPE_INIT = '''\
"""The {name} plugin for referral-ledger: an event type.

`{name}` records that `by` met `to`, two people the ledger knows, with an optional note. The
type's name is stored with every such event, forever: never rename it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from ledger import Event, hookimpl
from ledger.api import Handle, Text


class {klass}(Event):
    type: Literal["{name}"]
    by: Handle  # the event belongs to this person
    to: Handle
    note: Text | None = None
    # Fields that name people: each must be a known person when the event is recorded.
    handles: ClassVar[tuple[str, ...]] = ("by", "to")
    # Free text is personal data: sealed in the chain, erased by `forget`.
    personal: ClassVar[tuple[str, ...]] = ("note",)


@hookimpl
def register_event_types() -> list[type[Event]]:
    return [{klass}]
'''

_EVENT_TYPE_TEST = '''\
"""The plugin is installed, listed, and its event type is recorded and checked."""

from __future__ import annotations

import json

from ledger.api import Cli

EVENT = {"type": "{name}", "by": "ana", "to": "carol", "at": "2026-10-01T09:00:00Z"}


def _people(ledger_cli: Cli) -> None:
    for handle in ("ana", "carol"):
        ledger_cli.record({"type": "person-added", "handle": handle, "name": handle.title()})


def test_the_plugin_is_listed(ledger_cli: Cli) -> None:
    mine = [p for p in ledger_cli.json("plugins", "--json") if p["name"] == "{name}"]
    assert mine and mine[0]["enabled"] and mine[0]["hooks"] == ["register_event_types"]


def test_an_event_of_the_type_is_recorded_and_exported(ledger_cli: Cli) -> None:
    _people(ledger_cli)
    stored = ledger_cli.record({**EVENT, "note": "coffee near the office"})
    assert stored["type"] == "{name}" and stored["seq"] == 3
    exported = ledger_cli.export()[-1]
    assert (exported["by"], exported["to"], exported["note"]) == (
        "ana",
        "carol",
        "coffee near the office",
    )


def test_unknown_people_and_fields_are_refused(ledger_cli: Cli) -> None:
    _people(ledger_cli)
    stranger = ledger_cli.refused("record", json.dumps({**EVENT, "to": "nobody"}))
    assert "unknown person 'nobody'" in stranger.stderr
    ledger_cli.refused("record", json.dumps({**EVENT, "mood": "great"}))
    assert [e["type"] for e in ledger_cli.export()] == ["person-added", "person-added"]
'''

_TEMPLATES = {
    "command": (_INIT, _TEST),
    "flag": (_FLAG_INIT, _FLAG_TEST),
    "alert": (_ALERT_INIT, _ALERT_TEST),
    "event-type": (_EVENT_TYPE_INIT, _EVENT_TYPE_TEST),
}
