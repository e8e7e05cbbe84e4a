"""The README's walk-through ("A referral in five minutes"), run word for word in bash.

Every `sh` block of the section runs in order in one directory, with the `export` lines of the
blocks before it, against a `referral-ledger` on PATH that is this checkout. Then the outputs
are held to what the prose around them says.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import ledger_on_path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def walkthrough() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## A referral in five minutes")
    end = text.index("\n## ", start + 1)
    return BLOCK.findall(text[start:end])


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REFERRAL_LEDGER_") and key not in {"COLUMNS", "NO_COLOR"}
    }
    env |= ledger_on_path(tmp_path) | {
        # the user's own config and data directories stay out of it
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
        "XDG_DATA_HOME": str(tmp_path / "home" / ".local" / "share"),
        "TZ": "UTC",
    }
    return env


def test_the_walkthrough_runs_as_written(tmp_path: Path, shell_env: dict[str, str]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    blocks = walkthrough()
    assert len(blocks) >= 8
    exports: list[str] = []
    outputs: dict[str, str] = {}  # each block's output, by its text
    for body in blocks:
        done = subprocess.run(
            ["bash", "-e", "-c", "\n".join([*exports, body])],
            cwd=work,
            env=shell_env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, (body, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        outputs[body] = done.stdout
        exports += [line for line in body.splitlines() if line.startswith("export ")]
    joined = "\n".join(outputs.values())

    def of(command: str) -> str:
        """The output of the block that runs `command`."""
        [found] = [out for body, out in outputs.items() if command in body]
        return found

    def after(marker: str) -> str:
        """The output that follows the first line holding `marker`."""
        return joined[joined.index(marker) :]

    # Carol asked for more: the requester owes her the preparation, in her own words
    asked = after("vetted the request: needs-preparation")
    assert "you owe carol the requested preparation for ana-acme at Acme, due" in asked
    # introduced: thanks to Carol and a follow-up with Bob, before either is overdue
    introduced = after("carol introduced the requester to bob")
    assert "you owe carol thanks for the introduction for ana-acme at Acme" in introduced
    assert "you owe bob a follow-up since the introduction for ana-acme at Acme" in introduced
    assert "days overdue" in of("alerts --as-of")  # looking ahead
    assert "(in 2 days)" in introduced  # `due` comes before the obligation is overdue
    # the slip retracted, the name fixed, nothing left to do
    assert "ana retracted" in joined
    assert "Nothing due: ana owes nothing" in after("updated bob by ana: name Bob Okafor")
    assert "waived bob's thank-you-missing" in joined
    # no flag: the request was amended before Carol handed it on
    assert re.search(r"^No flags", joined, re.M)
    assert "Chain ok" in joined
    assert (work / "ana.ics").read_text(encoding="utf-8").startswith("BEGIN:VCALENDAR")
    assert (work / "ana.html").is_file() and (work / "restored.db").is_file()
    # the misspelt name is gone from the views once fixed
    assert "target       bob (Bob Okafor)" in of("person show ana")  # `show ana-acme`
    assert not re.search(r"Bob Okafo(?!r)", of("person show ana"))
    shown = subprocess.run(
        ["referral-ledger", "person", "show", "bob", "--json"],
        cwd=work,
        env=shell_env | {"REFERRAL_LEDGER_DB": "./walkthrough.db"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"name": "Bob Okafor"' in shown.stdout
