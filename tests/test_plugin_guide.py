"""Following docs/plugins.md's tutorial and its three walk-throughs (a command, a flag, an alert
kind with its own `[due]` key) word for word, each in a fresh virtual environment, produces a
working, installed, tested plugin. They run with the plain `pytest`, so CI runs them too.

A section's blocks are run in order in an empty folder: a block with `file=PATH` is written to
PATH; in a `console` block each `$ ` line is run in a shell (`cd` moves the working directory),
and the lines below it are output that must appear on stdout, or, when the first of them starts
with `Error: `, on stderr with exit status 2.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import venvs

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
FENCE = re.compile(r"^```(\w*)(.*?)\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)


@dataclass
class Step:
    kind: str  # "file" or "console"
    text: str
    path: str | None = None
    commands: list[tuple[str, list[str]]] = field(default_factory=list)


WALK_THROUGHS = (
    "## Walk-through: a command",
    "## Walk-through: a flag",
    "## Walk-through: an alert kind with its own `[due]` key",
)


def tutorial_steps(markdown: str, heading: str = "## Tutorial") -> list[Step]:
    start = markdown.index("\n" + heading) + 1
    end = markdown.index("\n## ", start + 1)
    steps = []
    for match in FENCE.finditer(markdown[start:end]):
        language, info, body = match.group(1), match.group(2), match.group(3)
        attrs = dict(part.split("=", 1) for part in info.split() if "=" in part)
        if "file" in attrs:
            steps.append(Step("file", body, path=attrs["file"]))
        elif language == "console":
            step = Step("console", body)
            for line in body.splitlines():
                if line.startswith("$ "):
                    step.commands.append((line[2:], []))
                elif line.strip():
                    step.commands[-1][1].append(line.strip())
            steps.append(step)
    return steps


def test_the_tutorial_has_the_promised_steps():
    steps = tutorial_steps(GUIDE.read_text())
    files = [s.path for s in steps if s.kind == "file"]
    commands = [c for s in steps if s.kind == "console" for c, _ in s.commands]
    assert files == [
        "pyproject.toml",
        "referral_ledger_require_goal/__init__.py",
        "tests/test_require_goal.py",
    ]
    assert "pip install -e ." in commands
    assert "referral-ledger plugins" in commands
    assert "from ledger import hookimpl" in steps[2].text
    assert "CliRunner" in steps[-3].text


def run_word_for_word(steps: list[Step], tmp_path_factory: object) -> list[str]:
    """Run the steps in a fresh venv, in an empty folder; returns the commands run."""
    venv = venvs.fresh(tmp_path_factory)
    cwd = tmp_path_factory.mktemp("guide")  # type: ignore[attr-defined]
    ran = []
    for step in steps:
        if step.kind == "file":
            assert step.path is not None
            target = cwd / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text)
            continue
        for command, expected in step.commands:
            parts = command.split("&&")
            for index, part in enumerate(parts):
                words = shlex.split(part)
                if words[0] == "cd":
                    cwd = cwd / words[1]
                    continue
                ran.append(part.strip())
                last = index == len(parts) - 1
                refused = last and bool(expected) and expected[0].startswith("Error: ")
                result = venv.run(part, cwd, check=not refused)
                if refused:
                    assert result.returncode == 2, (command, result.stdout, result.stderr)
                    assert "Traceback" not in result.stderr, result.stderr
                shown = result.stderr if refused else result.stdout
                for line in expected if last else []:
                    assert line in shown, (command, line, result.stdout, result.stderr)
    return ran


def test_following_the_tutorial_word_for_word_gives_a_working_plugin(tmp_path_factory):
    ran = run_word_for_word(tutorial_steps(GUIDE.read_text()), tmp_path_factory)
    assert "python -m pytest -q tests" in ran


def test_each_walk_through_writes_its_plugin_and_its_test_and_shows_it_at_work():
    guide = GUIDE.read_text()
    for heading, name in zip(WALK_THROUGHS, ("roles", "outside-forward", "nudge"), strict=True):
        steps = tutorial_steps(guide, heading)
        package = "referral_ledger_" + name.replace("-", "_")
        files = [s.path for s in steps if s.kind == "file"]
        assert files == [f"{package}/__init__.py", f"tests/test_{package[16:]}.py"], heading
        commands = [c for s in steps if s.kind == "console" for c, _ in s.commands]
        assert commands[0].startswith(f"referral-ledger plugins new {name}"), heading
        assert "pip install -e ." in commands and commands[-1] == "python -m pytest -q", heading
        assert all(
            "from ledger" not in line or line.split()[1] in ("ledger", "ledger.api")
            for s in steps
            if s.kind == "file"
            for line in s.text.splitlines()
            if line.startswith("from ledger")
        ), heading
    alert = tutorial_steps(guide, WALK_THROUGHS[2])
    assert 'due = {"nudge": 10}' in alert[1].text  # it declares its own `[due]` key
    assert any(c.endswith("--config typo.toml alerts") for s in alert for c, _ in s.commands)


@pytest.mark.parametrize("heading", WALK_THROUGHS)
def test_following_a_walk_through_word_for_word_gives_a_working_plugin(heading, tmp_path_factory):
    ran = run_word_for_word(tutorial_steps(GUIDE.read_text(), heading), tmp_path_factory)
    assert ran[-1] == "python -m pytest -q"
