"""docs/reference.md is the user's reference: its generated tables say what the code has, and
the page is current, complete, and the same on every machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from ledger import reference
from ledger.cli import cli as root
from ledger.cli import load_plugin_commands
from ledger.events import CORE_TYPES

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "reference.md"
HOW = f"docs/reference.md is out of date: run `{reference.REGENERATE}` and commit the result"


def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


def _every_command(group: click.Group, prefix: str = "") -> list[str]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        found.append(path)
        if isinstance(command, click.Group):
            found += _every_command(command, path + " ")
    return found


def test_the_committed_page_is_what_the_code_generates() -> None:
    assert reference.render(_page()) == _page(), HOW


def test_every_command_of_the_cli_has_its_own_section() -> None:
    load_plugin_commands()
    commands = _every_command(root)
    assert {"alerts", "person add", "plugins new", "verify"} <= set(commands)
    page = _page()
    missing = [c for c in commands if f"\n### {c}\n\n`referral-ledger {c}" not in page]
    assert missing == [], HOW


def test_every_option_of_every_command_is_listed() -> None:
    load_plugin_commands()
    page = _page()
    missing = []
    for path in _every_command(root):
        command = root
        for word in path.split():
            command = command.commands[word]  # type: ignore[attr-defined]
        section = page.split(f"\n### {path}\n", 1)[1].split("\n### ", 1)[0]
        for param in command.params:
            if isinstance(param, click.Option) and f"`{param.opts[-1]}" not in section.replace(
                ", ", "`"
            ):
                missing.append(f"{path} {param.opts[-1]}")
    assert missing == [], HOW


def test_every_hook_is_documented_with_its_signature() -> None:
    page = _page()
    hooks = reference.hooks()
    assert {"register_commands", "validate_event", "event_recorded"} <= set(hooks)
    for name in hooks:
        assert f"| `{name}(" in page, f"hook {name} is missing: {HOW}"


def test_every_event_type_and_its_fields_are_documented() -> None:
    page = _page()
    assert set(CORE_TYPES) <= set(reference.event_types())
    for name, (model, _plugin) in reference.event_types().items():
        section = page.split(f"\n#### `{name}`\n", 1)[1].split("\n#### ", 1)[0]
        for field_name, info in model.model_fields.items():
            if field_name not in ("type", "at", "id"):
                assert f"| `{info.alias or field_name}` |" in section, f"{name}.{field_name}"


def test_every_due_key_is_documented_with_its_default() -> None:
    from ledger_alerts.obligations import RULES

    page = _page()
    for key, days in {rule.due_key: rule.due_days for rule in RULES}.items():
        assert f"| `{key}` | " in page and f" | {days:g} | " in page, key


def test_the_alert_table_says_who_owes_whom_for_every_rule_of_the_alerts_plugin() -> None:
    from ledger_alerts.obligations import RULES

    # the rows of the hand-written table: the generated one has no arrows
    rows = [line for line in _page().splitlines() if line.startswith("| `") and " → " in line]
    for rule in RULES:
        pair = [
            r for r in rows if r.startswith(f"| `{rule.kind}` | ") and f"`{rule.due_key}` |" in r
        ]
        assert len(pair) == 1, f"no row for {rule.kind} timed by [due] {rule.due_key}"


def test_every_alert_and_flag_kind_a_story_raises_is_documented(cli) -> None:
    cli.ok("import", str(ROOT / "tests" / "fixtures" / "story.jsonl"))
    kinds = {row["kind"] for row in cli.json("alerts", "--json", "--as-of", "2030-01-01T00:00:00Z")}
    kinds |= {row["kind"] for row in cli.json("flags", "--json")}
    assert len(kinds) >= 5  # the story raises several of each, or it tests nothing
    page = _page()
    assert [k for k in sorted(kinds) if f"| `{k}` |" not in page] == []


def test_the_page_is_the_same_in_a_narrow_terminal_and_a_fresh_process() -> None:
    env = {**os.environ, "COLUMNS": "20", "LINES": "5"}
    done = subprocess.run(
        [sys.executable, "-m", "ledger.reference", "--check"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_a_command_added_by_a_third_party_plugin_stays_out_of_the_page() -> None:
    load_plugin_commands()

    @click.command(name="zz-third-party")
    def third() -> None:
        """Something no built-in plugin has."""

    third.callback.__module__ = "someone_elses_plugin.commands"  # type: ignore[union-attr]
    root.add_command(third)
    try:
        assert "zz-third-party" not in reference.commands()
        assert reference.render(_page()) == _page()
    finally:
        root.commands.pop("zz-third-party")


def test_regenerating_a_stale_page_replaces_only_the_generated_parts(tmp_path, monkeypatch) -> None:
    stale = _page().replace(
        "<!-- generated: hooks -->\n", "<!-- generated: hooks -->\nan old table\n", 1
    )
    stale = stale.replace("## Exit codes", "## Exit codes\n\nA hand-written line.", 1)
    copy = tmp_path / "reference.md"
    copy.write_text(stale, encoding="utf-8")
    monkeypatch.setattr(reference, "PAGE", copy)

    assert reference.main(["--check"]) == 1
    assert copy.read_text(encoding="utf-8") == stale  # --check writes nothing
    assert reference.main([]) == 0
    fresh = copy.read_text(encoding="utf-8")
    assert "an old table" not in fresh
    assert "A hand-written line." in fresh
    assert reference.main(["--check"]) == 0


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        ("<!-- generated: nonsense -->\n<!-- end generated -->\n", "no generator for part"),
        ("no markers at all\n", "no markers for"),
    ],
)
def test_a_page_with_a_wrong_or_missing_marker_is_an_error(page: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        reference.render(page)


def test_the_readme_and_docs_point_to_the_reference_not_to_a_file_the_user_lacks() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "[docs/reference.md](docs/reference.md)" in readme
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "CONTRACT.md" not in path.read_text(encoding="utf-8"), path.name
