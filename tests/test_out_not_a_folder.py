"""An output path below a file or a named pipe is refused with exit 2, naming what is in
the way, never "File exists" (a trial: `dicom export --out PIPE/d` said "Cannot create
PIPE/d: File exists", exit 1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from clinic_helpers import cli, ingested_for_module


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The demo card's archive, a regular file ``afile`` and a named pipe ``pipe``."""
    work = tmp_path_factory.mktemp("blocked")
    _card, archive = ingested_for_module(work)
    (work / "afile").write_text("notes\n")
    os.mkfifo(work / "pipe")
    yield work, archive


@pytest.mark.parametrize(("blocker", "kind"), [("afile", "a file"), ("pipe", "a named pipe")])
@pytest.mark.parametrize(
    "command",
    [
        ["dicom", "export", "--archive", "{archive}", "--out", "{out}"],
        ["share", "ZAC5361", "--archive", "{archive}", "--out", "{out}"],
    ],
    ids=["dicom-export", "share"],
)
@pytest.mark.parametrize("depth", ["d", "d/e"])
def test_an_out_below_a_file_or_a_pipe_is_refused_naming_it(
    made: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    blocker: str,
    kind: str,
    command: list[str],
    depth: str,
) -> None:
    work, archive = made
    monkeypatch.setenv("CARDINGEST_CONFIG", str(work / "config.toml"))
    out = work / blocker / depth
    result = cli(*[a.format(archive=archive, out=out) for a in command])
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert f"--out {out}: {work / blocker} is {kind}, so it cannot hold a folder" in (
        result.stderr
    ), result.stderr
    assert not (work / "d").exists()
