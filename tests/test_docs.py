"""Every command has help text and a place in the README (as sqlite-utils' test_docs does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from clinic_helpers import cli, runner

from cardingest.cli.app import app, only

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


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_a_run_that_builds_only_its_command_helps_the_same(path: tuple[str, ...]) -> None:
    """`main` builds only the command it runs (`only`); what the user sees must not change."""
    narrowed = only(path[0])
    assert narrowed is not None
    for args in ([*path, "--help"], [*path, "--no-such-option"]):
        full, alone = runner.invoke(app, args), runner.invoke(narrowed, args)
        assert (alone.exit_code, alone.stdout, alone.stderr) == (
            full.exit_code,
            full.stdout,
            full.stderr,
        )


def test_only_knows_no_options_or_misspelt_commands() -> None:
    """Those go to the whole app: its help, --version, and "No such command" with a hint."""
    assert only("--help") is None and only("--version") is None and only("") is None
    assert only("ingets") is None and only("wipe") is not None
