"""How a photo named on the command line is found, each rule pinned where a mutant changed
it unseen.

Written for the mutation round on ``archive/targets`` (docs/testing.md): 10 of 43 mutants
lived through ``test_move.py`` and ``test_search_tag.py``, which name photos as typed, with
``./``, and as paths on disk, but never with a backslash, never with a ``..`` that leaves
the archive only once written plainly, and never as a photo already moved. Here
`find_record` is asked in the test's process on an archive the real CLI ingested (the demo
card), and `move` is run again, in-process, on a photo it moved.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clinic_helpers import ingest_demo, invoke

from cardingest.archive.catalogue import Catalogue
from cardingest.archive.targets import find_record

FIRST = "ZAC5361/ZAC5361-20261124-091502.jpg"
MOVED = "ZAA0067/ZAA0067-20261124-091502.jpg"


@pytest.fixture
def archive(tmp_path: Path, test_ids: Path) -> Path:
    """The demo card ingested (its test-range NHIs accepted: conftest's ``test_ids``)."""
    _card, archive, _ = ingest_demo(tmp_path)
    return archive


def test_a_path_typed_with_backslashes_names_its_photo(archive: Path) -> None:
    """``ZAC5361\\x.jpg`` (as a Windows user types it) is the archive path ``ZAC5361/x.jpg``,
    and it is read as that."""
    with Catalogue.open(archive, create=False) as catalogue:
        record, relpath = find_record(catalogue, FIRST.replace("/", "\\"), archive)
    assert record is not None and record.archive_path == FIRST
    assert relpath == FIRST


@pytest.mark.parametrize(
    "typed",
    ["ZZZ-no-such-folder/../..", "ZZZ-no-such-folder/../../card", "ZZZ-no-such-folder/../../x.jpg"],
)
def test_a_path_that_leaves_the_archive_once_written_plainly_is_read_as_typed(
    archive: Path, typed: str
) -> None:
    """``A/../..`` is ``..`` written plainly, outside the archive: it is not read as that
    (nor ``A/../../card`` as ``../card``, a folder beside the archive, though the path
    typed, through a folder that does not exist, is none), but as typed: no photo, and
    the message's path is the one the user gave."""
    with Catalogue.open(archive, create=False) as catalogue:
        assert find_record(catalogue, typed, archive) == (None, typed)


def test_an_absolute_path_outside_the_archive_is_read_as_typed(
    archive: Path, tmp_path: Path
) -> None:
    """Only a path relative to the archive is written plainly: an absolute one outside it
    (``/…/nope/../card``, whose ``nope`` does not exist) stays as typed, not ``/…/card``."""
    typed = f"{tmp_path}/ZZZ-no-such-folder/../card"
    with Catalogue.open(archive, create=False) as catalogue:
        assert find_record(catalogue, typed, archive) == (None, typed)


@pytest.mark.parametrize("how", ["with ./", "as a path on disk"])
def test_a_move_run_again_on_the_old_path_is_already_done(archive: Path, how: str) -> None:
    """A photo moved, then the same command run again (a script re-run, a second desk): the
    old path, written with ``./`` or given as the file on disk, is no photo now, but its
    plain form is the one the move journal names, so it is said to be moved already (exit
    0), not refused as "not an archived photo" (nor a crash on a path read as nothing)."""
    folder, name = FIRST.split("/")
    target = f"{folder}/./{name}" if how == "with ./" else str(archive / FIRST)
    code, out, err = invoke("move", target, "--to", "ZAA0067", "--archive", archive, "--json")
    assert code == 0, err
    assert [(m["old"], m["new"]) for m in json.loads(out)["moved"]] == [(FIRST, MOVED)]
    code, out, err = invoke("move", target, "--to", "ZAA0067", "--archive", archive, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["moved"] == [], document
    assert [(a["path"], a["now"]) for a in document["already"]] == [(FIRST, MOVED)], document
