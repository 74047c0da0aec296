"""Every command has help text and a place in the README (as sqlite-utils' test_docs does)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from clinic_helpers import cli, runner

from cardingest.cli.app import app, only, swallowed_option

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


def value_options() -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    root = typer.main.get_command(app)
    for path in ALL:
        command = root
        for name in path:
            command = command.commands[name]
        for param in command.params:
            if param.param_type_name == "option" and not getattr(param, "is_flag", True):
                yield path, command, param


VALUE_OPTIONS = list(value_options())


@pytest.mark.parametrize(
    ("path", "command", "option"),
    VALUE_OPTIONS,
    ids=[" ".join((*path, option.opts[0])) for path, _, option in VALUE_OPTIONS],
)
def test_an_option_without_its_value_does_not_take_the_next_option(
    path: tuple[str, ...], command: Any, option: Any
) -> None:
    """`verify --id --json` once looked up a patient called "--json"."""
    args = list(path)
    for param in command.params:
        if param.required and param is not option:
            args += ["JBX3656"] if param.param_type_name == "argument" else [param.opts[0], "x"]
    result = cli(*args, option.opts[0], "--help")
    assert result.exit_code == 2, result.output
    if option.type.name in ("float", "integer", "float range", "integer range"):
        assert "Invalid value" in result.stderr  # the parser refuses it before the command runs
    else:
        assert f"{option.opts[0]} needs a value, and got the option --help" in result.stderr


@pytest.mark.parametrize("as_json", [False, True])
def test_a_swallowed_option_is_named_before_the_word_it_left_over(
    as_json: bool, tmp_path: Path
) -> None:
    """`ingest card --id --archive A0`: Click takes --archive for the ID, then fails on A0,
    "Got unexpected extra argument(s) (A0)", which names the wrong thing. The installed
    command's `main` finds it first."""
    args = ["ingest", "card", "--id", "--archive", "A0", *(["--json"] if as_json else [])]
    done = subprocess.run(
        [sys.executable, "-m", "cardingest.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    message = "--id needs a value, and got the option --archive: give --id its value first"
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "extra argument" not in done.stderr
    if as_json:
        assert json.loads(done.stdout) == {"error": {"message": message, "details": [], "exit": 2}}
    assert not list(tmp_path.iterdir())
    help_asked = swallowed_option(app, ["ingest", "card", "--id", "--help"])
    assert help_asked is not None and help_asked.message == (
        "--id needs a value, and got the option --help: give --id its value first"
    )
    flag = swallowed_option(app, ["preview", "card", "--json", "--slates"])
    assert flag is None, "a flag followed by an option is not a swallowed value"
    after_end = swallowed_option(app, ["ingest", "--id", "X", "--", "--archive", "--json"])
    assert after_end is None, "words after -- are arguments"


def test_a_value_that_looks_like_an_option_is_refused() -> None:
    """`ingest --archive --dryrun` (a typo) once filed the card in a folder named --dryrun."""
    result = cli("ingest", "card", "--archive", "--dryrun", "--id", "JBX3656")
    assert result.exit_code == 2
    assert "--archive got --dryrun, which looks like an option, not a value" in result.stderr
    assert not Path("--dryrun").exists()
    offset = cli("preview", "nowhere", "--id", "JBX3656", "--clock-offset", "-01:00")
    assert "looks like an option" not in offset.stderr  # one dash: a value


def test_every_config_example_in_the_readme_is_one_cardingest_accepts(tmp_path: Path) -> None:
    """A trial copied the README's [pacs] example as it stood: `dicom_uid_root` after
    `[pacs]` went into that table and was refused as unknown. Each ```toml block (each
    line of a block that sets one key twice, as alternatives, on its own) is loaded."""
    import re
    import tomllib

    from cardingest.cli.config import load_dicom_settings, load_settings

    blocks = re.findall(r"```toml\n(.*?)```", README, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        try:
            tomllib.loads(block)
            variants = [block]
        except tomllib.TOMLDecodeError:  # alternatives: one setting per line
            variants = [line for line in block.splitlines() if "=" in line.split("#")[0]]
        for text in variants:
            config = tmp_path / "config.toml"
            config.write_text(text, "utf-8")
            environ = {"CARDINGEST_CONFIG": str(config), "HOME": str(tmp_path)}
            load_dicom_settings(load_settings(archive=tmp_path / "a", environ=environ))


def _options(path: tuple[str, ...]) -> set[str]:
    command: Any = typer.main.get_command(app)
    for word in path:
        command = command.commands[word]
    return {
        option
        for param in command.params
        for option in param.opts
        if option.startswith("--") and option != "--help"
    }


@pytest.mark.parametrize("path", ALL, ids=" ".join)
def test_every_option_is_in_a_synopsis_of_its_command(path: tuple[str, ...]) -> None:
    """Each option `--help` lists is in one of the README's synopses of its command (a code
    span or a code block's line that starts with the command's name), where a reader looks
    for it (a trial found `--catalogue` missing from seven of them)."""
    name = "cardingest " + " ".join(path)
    spans = re.findall(r"`(" + re.escape(name) + r"(?: [^`]*)?)`", README)
    spans += re.findall(r"^" + re.escape(name) + r" .*$", README, re.MULTILINE)  # code blocks
    listed = {option for span in spans for option in re.findall(r"--[a-z][a-z0-9-]*", span)}
    assert _options(path) <= listed, f"{name}: {sorted(_options(path) - listed)} in no synopsis"
