"""Following docs/plugins.md's tutorial word for word, in a fresh virtual environment, produces
a working, installed, tested plugin.

The tutorial's blocks are run in order in an empty folder: a block with `file=PATH` is written
to PATH; in a `console` block each `$ ` line is run in a shell (`cd` moves the tutorial's working
directory), and the lines below it are output that must appear.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import venvs

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
FENCE = re.compile(r"^```(\w*)(.*?)\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)


@dataclass
class Step:
    kind: str  # "file" or "console"
    text: str
    path: str | None = None
    commands: list[tuple[str, list[str]]] = field(default_factory=list)


def tutorial_steps(markdown: str) -> list[Step]:
    start = markdown.index("## Tutorial")
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


def test_following_the_tutorial_word_for_word_gives_a_working_plugin(tmp_path_factory):
    venv = venvs.fresh(tmp_path_factory)
    cwd = tmp_path_factory.mktemp("guide")
    for step in tutorial_steps(GUIDE.read_text()):
        if step.kind == "file":
            assert step.path is not None
            target = cwd / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text)
            continue
        for command, expected in step.commands:
            for part in command.split("&&"):
                words = shlex.split(part)
                if words[0] == "cd":
                    cwd = cwd / words[1]
                    continue
                result = venv.run(part, cwd)
                for line in expected:
                    assert line in result.stdout, (command, line, result.stdout, result.stderr)
