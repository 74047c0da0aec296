"""A folder or file given as a loop of symbolic links is said so, exit 2, on every Python.

Before 3.13 ``Path.resolve()`` raised RuntimeError for a loop, which the CLI turned into
"… leads round a loop of symbolic links"; from 3.13 it answers a path, and each command
must see the loop itself (a trial on 3.13: `dicom export --out LOOP` said "Cannot create
LOOP: File exists", exit 1). Each command runs with ``Path.resolve()`` as 3.13 has it, and
as this Python has it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clinic_helpers import cli, ingested_for_module


@pytest.fixture(params=["this-python", "python-3.13"])
def resolve(request: pytest.FixtureRequest) -> None:
    if request.param == "python-3.13":
        request.getfixturevalue("resolve_of_313")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    """The demo card, its archive, and a loop: ``loop1`` -> ``loop2`` -> ``loop1``."""
    work = tmp_path_factory.mktemp("loops")
    card, archive = ingested_for_module(work)
    (work / "loop2").symlink_to(work / "loop1")
    (work / "loop1").symlink_to(work / "loop2")
    yield card, archive, work / "loop1"


COMMANDS = {
    "ingest --archive": ["ingest", "{card}", "--id", "ZAC5361", "--archive", "{loop}"],
    "ingest --backup": [
        "ingest", "{card}", "--id", "ZAC5361", "--archive", "{archive}", "--backup", "{loop}"
    ],
    "ingest --archive LOOP/sub": [
        "ingest", "{card}", "--id", "ZAC5361", "--archive", "{loop}/sub"
    ],
    "preview SOURCE": ["preview", "{loop}", "--id", "ZAC5361"],
    "verify --archive": ["verify", "--archive", "{loop}"],
    "share --out": ["share", "ZAC5361", "--archive", "{archive}", "--out", "{loop}"],
    "share --out LOOP/sub": [
        "share", "ZAC5361", "--archive", "{archive}", "--out", "{loop}/sub"
    ],
    "dicom export --out": ["dicom", "export", "--archive", "{archive}", "--out", "{loop}"],
    "dicom export --out LOOP/sub": [
        "dicom", "export", "--archive", "{archive}", "--out", "{loop}/sub"
    ],
    "wipe SOURCE": ["wipe", "{loop}", "--archive", "{archive}", "--dry-run"],
    "wipe --archive": ["wipe", "{card}", "--archive", "{loop}", "--dry-run"],
    "map-template SOURCE": ["map-template", "{loop}", "--out", "{archive}/../m.csv"],
    "map-template --out LOOP/sub": ["map-template", "{card}", "--out", "{loop}/m.csv"],
    "ingest --map LOOP/sub": [
        "ingest", "{card}", "--map", "{loop}/m.csv", "--archive", "{archive}"
    ],
    "audit --archive": ["audit", "--archive", "{loop}"],
    "search --archive": ["search", "--archive", "{loop}", "--id", "ZAC5361"],
    "tag --archive": ["tag", "--archive", "{loop}", "--diagnosis", "melanoma", "ZAC5361"],
    "move --archive": ["move", "--archive", "{loop}", "--to", "ZAA0067", "x.jpg"],
    "slate --out LOOP/sub": ["slate", "ZAC5361", "--out", "{loop}/s.png"],
    "catalogue migrate --archive": [
        "catalogue", "migrate", "--archive", "{loop}", "--to", "postgresql:///nowhere"
    ],
    "dicom export --archive": ["dicom", "export", "--archive", "{loop}", "--out", "{card}/../d"],
}  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_a_loop_is_said_so_with_exit_2(
    made: tuple[Path, Path, Path], resolve: None, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    card, archive, loop = made
    monkeypatch.setenv("CARDINGEST_CONFIG", str(loop.parent / "config.toml"))
    args = [a.format(card=card, archive=archive, loop=loop) for a in COMMANDS[command]]
    result = cli(*args)
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    said = result.stderr
    assert "loop of symbolic links" in said or "Too many levels of symbolic links" in said, said
    assert "Traceback" not in said
