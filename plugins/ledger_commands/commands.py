"""Adds the friendly commands, `show`, `list` and `demo` to the root group."""

from __future__ import annotations

import click


def add_commands(cli: click.Group) -> None:
    from .demo import demo
    from .friendly import COMMANDS
    from .people import person_list  # noqa: F401  (adds list, show and edit to `person`)
    from .reading import list_, show

    for name, command in COMMANDS.items():
        cli.add_command(command, name=name)
    cli.add_command(show, name="show")
    cli.add_command(list_, name="list")
    cli.add_command(demo, name="demo")
