"""Every command has help text and a place in the README (as sqlite-utils' test_docs does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from clinic_helpers import cli

from cardingest.cli.app import app

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if hasattr(group, "commands"):
        for name, command in group.commands.items():
            yield from commands(command, (*prefix, name))
    elif prefix:
        yield prefix


ALL = sorted(commands(typer.main.get_command(app)))


def test_there_are_commands() -> None:
    assert ("ingest",) in ALL and ("wipe",) in ALL and len(ALL) >= 12


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_command_has_help(path: tuple[str, ...]) -> None:
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    summary = result.stdout.split("\n\n")[1].strip() if "\n\n" in result.stdout else ""
    assert len(summary) > 20, f"cardingest {' '.join(path)} has no help text"


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_command_is_in_the_readme(path: tuple[str, ...]) -> None:
    name = "cardingest " + " ".join(path)
    assert f"`{name}" in README, f"README.md does not document `{name}`"
