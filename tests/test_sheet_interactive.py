"""Interactive assignment writes the contact sheet of its groups before the first question.

The installed console script runs under a pseudo-terminal (pexpect) on the demo card.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import stat
import sys
import tempfile
from pathlib import Path

import pexpect
import pytest
from cardimage import require
from clinic_helpers import cardingest_exe, invoke
from sheet_helpers import Page
from terminal import on_terminal

from cardingest.demo import make_demo_card
from cardingest.review.contact import SheetFile

GROUP_SIZES = {"1": 3, "2": 1, "3": 1, "4": 1}
"""The demo card's time-gap groups, as the prompts number them."""


@pytest.fixture(autouse=True)
def _test_ids(test_ids: Path) -> Path:
    """The demo card's IDs are from the NHI test range."""
    return test_ids


def spawn(tmp: Path, *args: str | Path) -> pexpect.spawn:
    require(sys.platform != "win32", "pseudo-terminals need a POSIX system")
    return on_terminal(cardingest_exe(), args, {"TMPDIR": str(tmp)})


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus)


def groups_on(sheet: Path) -> dict[str, int]:
    """Photos per numbered group on a sheet."""
    page = Page(sheet.read_text(encoding="utf-8"))
    counts: dict[str, int] = {}
    text = sheet.read_text(encoding="utf-8")
    for number in (s["data-group"] for s in page.sections if s.get("data-group")):
        assert number is not None
        start = text.index(f'data-group="{number}"')
        end = text.find("<section", start)
        counts[number] = text[start : end if end >= 0 else None].count("<figure")
    return counts


def test_groups_sheet_is_a_private_temporary_file_while_asking(tmp_path: Path) -> None:
    card, _ = make_demo_card(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    child = spawn(scratch, "preview", card, "--archive", tmp_path / "archive")
    child.expect(r"Contact sheet of these groups \(temporary file[^)]*\)")
    child.expect(r"file://(\S+\.html)")
    sheet = Path(child.match.group(1))
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    # While the nurse types: the sheet is there, private, its group numbers the prompts'.
    assert sheet.parent == scratch
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
    assert groups_on(sheet) == GROUP_SIZES
    assert "ID not yet given" in Page(sheet.read_text(encoding="utf-8")).all_text
    child.sendline("ZAC5361")
    for number in (2, 3):
        child.expect_exact(f"Patient ID for group {number} (blank: leave on the card, .: same as")
        child.sendline("")
    child.expect_exact(
        "Patient ID for group 4 (blank: leave on the card, .: same as group 3 (blank)): "
    )
    child.sendline("ZAA0067")
    child.expect(r"4 to copy")
    assert finish(child) == 3
    assert not sheet.exists()  # removed when the command ended
    assert list(scratch.iterdir()) == []


def sheet_at_first_question(child: pexpect.spawn) -> Path:
    """The temporary sheet of a run waiting at its first question."""
    child.expect(r"file://(\S+\.html)")
    sheet = Path(child.match.group(1))
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    assert sheet.is_file()
    return sheet


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_at_a_question_removes_the_temporary_sheet(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """The terminal closed (SIGHUP) or the session ended (SIGTERM) while the nurse was being
    asked: as after Ctrl-C, exit 130 and the sheet of the card's photos is gone."""
    card, _ = make_demo_card(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # A run under nohup ignores SIGHUP, and cardingest keeps an ignored signal ignored: the
    # child is given the default, as a terminal's session has it.
    inherited = signal.signal(sig, signal.SIG_DFL)
    try:
        child = spawn(scratch, "ingest", card, "--archive", tmp_path / "archive")
    finally:
        signal.signal(sig, inherited)
    sheet_at_first_question(child)
    child.kill(sig)
    assert finish(child) == 130
    assert "Interrupted" in str(child.before)
    assert list(scratch.iterdir()) == []


def test_a_sheet_left_by_a_killed_run_goes_with_the_next_temporary_sheet(tmp_path: Path) -> None:
    """kill -9 leaves the temporary sheet (thumbnails of the whole card); the next run that
    makes one removes it, and keeps its own while it asks."""
    card, _ = make_demo_card(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    killed = spawn(scratch, "preview", card, "--archive", tmp_path / "archive")
    left = sheet_at_first_question(killed)
    killed.kill(signal.SIGKILL)
    killed.expect(pexpect.EOF)
    killed.close()
    assert left.is_file()
    child = spawn(scratch, "preview", card, "--archive", tmp_path / "archive")
    sheet = sheet_at_first_question(child)
    assert list(scratch.iterdir()) == [sheet]
    child.sendcontrol("c")
    assert finish(child) == 130
    assert list(scratch.iterdir()) == []


def test_a_temporary_sheet_sweeps_dead_ones_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leftover sheet whose lock can be taken is removed when a temporary sheet is made;
    one a live run holds (its lock: here another open file description), a live temporary
    sheet of this process, another user's, a link and other names are left."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    dead = scratch / "cardingest-sheet-dead0001.html"
    held = scratch / "cardingest-sheet-held0001.html"
    kept = [
        held,
        scratch / "cardingest-sheet-notes.txt",
        scratch / "other-sheet-x.html",
        scratch / "cardingest-sheet-folder.html",
    ]
    for path in (dead, *kept[:-1]):
        path.write_bytes(b"<html>thumbnails</html>")
        path.chmod(0o600)
    kept[-1].mkdir()
    link = scratch / "cardingest-sheet-link.html"
    link.symlink_to(scratch / "other-sheet-x.html")
    kept.append(link)
    if os.geteuid() == 0:  # root can remove anyone's file: it must not
        theirs = scratch / "cardingest-sheet-theirs01.html"
        theirs.write_bytes(b"<html>another user's</html>")
        os.chown(theirs, 65534, 65534)
        kept.append(theirs)
    holder = os.open(held, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        first = SheetFile.temporary_file()
        assert not dead.exists()
        assert all(os.path.lexists(path) for path in kept)
        second = SheetFile.temporary_file()
        assert first.path.is_file() and second.path.is_file()  # each held by its run
        for sheet in (first, second):
            sheet.close(keep=False)
            assert not sheet.path.exists()
    finally:
        os.close(holder)
    assert all(os.path.lexists(path) for path in kept)
    assert held.read_bytes() == b"<html>thumbnails</html>"
    # Its holder gone, the sheet is a dead run's.
    SheetFile.temporary_file().close(keep=False)
    assert not held.exists()
    assert all(os.path.lexists(path) for path in kept[1:])


def test_ctrl_c_during_the_sweep_leaves_no_new_sheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep reads the whole temp folder: a Ctrl-C (or SIGTERM) then removes the sheet
    just made, which is not yet the command's to remove."""
    from cardingest.storage import durable

    def interrupted(*_args: object, **_kwargs: object) -> list[Path]:
        raise KeyboardInterrupt

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setattr(durable, "remove_dead_files", interrupted)
    with pytest.raises(KeyboardInterrupt):
        SheetFile.temporary_file()
    assert list(scratch.iterdir()) == []


def test_ingest_sheet_first_shows_the_groups_then_what_was_filed(tmp_path: Path) -> None:
    card, _ = make_demo_card(tmp_path)
    sheet = tmp_path / "sheet.html"
    child = spawn(tmp_path, "ingest", card, "--archive", tmp_path / "archive", "--sheet", sheet)
    child.expect(r"Contact sheet of these groups \(--sheet\)")
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    assert groups_on(sheet) == GROUP_SIZES
    child.sendline("ZAC5361")
    for number in (2, 3):
        child.expect_exact(f"Patient ID for group {number} (blank: leave on the card, .: same as")
        child.sendline("")
    child.expect_exact(
        "Patient ID for group 4 (blank: leave on the card, .: same as group 3 (blank)): "
    )
    child.sendline("ZAA0067")
    child.expect(r"\[y/N\]: ")
    child.sendline("y")
    child.expect("copied and verified")
    assert finish(child) == 3
    page = Page(sheet.read_text(encoding="utf-8"))
    assert "Contact sheet: ingest" in page.all_text
    ids = [s.get("data-id") for s in page.sections if s.get("data-group")]
    assert ids == ["ZAC5361", "ZAA0067"]
    assert re.search(r"ZAC5361-20261124-091502\s*-2", page.all_text)
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600


@pytest.mark.parametrize("stop", ["ctrl-c at a question", "no to the copy"])
def test_a_sheet_of_the_groups_alone_goes_when_the_command_stops_before_its_plan(
    tmp_path: Path, stop: str
) -> None:
    """A trial: Ctrl-C at a question, or a no to the copy, left the --sheet file of the
    groups (every thumbnail, "ID not yet given"), and the same command run again, as its
    message advised, stopped at "--sheet … exists"."""
    card, _ = make_demo_card(tmp_path)
    sheet = tmp_path / "sheet.html"
    args = ("ingest", card, "--archive", tmp_path / "archive", "--sheet", sheet)
    child = spawn(tmp_path, *args)
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    assert groups_on(sheet) == GROUP_SIZES
    if stop == "ctrl-c at a question":
        child.sendintr()
        assert finish(child) == 130
    else:
        child.sendline("ZAC5361")
        for number in (2, 3, 4):
            child.expect_exact(f"Patient ID for group {number} (blank: leave on the card")
            child.sendline("")
        child.expect(r"\[y/N\]: ")
        child.sendline("n")
        assert finish(child) == 3
    assert not sheet.exists()
    child = spawn(tmp_path, *args)
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    child.sendintr()
    assert finish(child) == 130


def test_a_temporary_folder_on_the_card_is_refused_for_the_groups_sheet(tmp_path: Path) -> None:
    """A trial: TMPDIR in the card's DCIM folder put the sheet of the groups (thumbnails of
    the card's photos, and later its IDs) on the card, where the same run then warned of an
    unknown file. Exit 2 now, and nothing is written there."""
    card, _ = make_demo_card(tmp_path)
    folder = card / "DCIM" / "100DEMO_"
    before = sorted(p.name for p in folder.iterdir())
    child = spawn(folder, "ingest", card, "--archive", tmp_path / "archive")
    child.expect("is on the card")
    assert finish(child) == 2
    assert sorted(p.name for p in folder.iterdir()) == before
    assert not (tmp_path / "archive" / "ZAC5361").exists()


def test_an_existing_sheet_stops_the_command_before_anything_is_done(tmp_path: Path) -> None:
    card, map_file = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    sheet = tmp_path / "kept.html"
    sheet.write_text("the clinic's earlier sheet", encoding="utf-8")
    for command in ("ingest", "preview", "map-template"):
        extra = [] if command == "map-template" else ["--map", map_file, "--archive", archive]
        code, out, err = invoke(command, card, *extra, "--sheet", sheet)
        assert code == 2, (command, err)
        assert "exists" in err and "never writes over" in err
        assert sheet.read_text(encoding="utf-8") == "the clinic's earlier sheet"
    assert not archive.exists()
    left = tmp_path / "stopped.html"  # what a run killed before writing its sheet leaves
    left.touch()
    code, _, err = invoke("preview", card, "--map", map_file, "--sheet", left)
    assert code == 2 and "exists (empty: left by a run that was stopped?)" in " ".join(err.split())
    code, out, err = invoke(
        "ingest", card, "--map", map_file, "--archive", archive, "--sheet", sheet, "--json"
    )
    assert code == 2 and json.loads(out)["error"]["exit"] == 2
    code, _, err = invoke(
        "preview",
        card,
        "--map",
        map_file,
        "--archive",
        archive,
        "--sheet",
        tmp_path / "no" / "s.html",
    )
    assert code == 2 and "does not exist; create it first" in " ".join(err.split())
    assert not archive.exists()


def test_a_failed_command_leaves_no_empty_sheet(tmp_path: Path) -> None:
    card, _ = make_demo_card(tmp_path)
    bad_map = tmp_path / "bad.csv"
    bad_map.write_text("files,id\nIMG_0001,ZAC3561\n", encoding="utf-8")
    sheet = tmp_path / "sheet.html"
    code, _, err = invoke("preview", card, "--map", bad_map, "--sheet", sheet)
    assert code == 2, err
    assert not sheet.exists()


def test_ingest_dry_run_sheet_is_the_plan_and_copies_nothing(tmp_path: Path) -> None:
    card, map_file = make_demo_card(tmp_path)
    archive, sheet = tmp_path / "archive", tmp_path / "plan.html"
    code, _out, err = invoke(
        "ingest", card, "--map", map_file, "--archive", archive, "--dry-run", "--sheet", sheet
    )
    assert code == 3, err
    assert not archive.exists()
    page = Page(sheet.read_text(encoding="utf-8"))
    assert "Contact sheet: preview (nothing copied yet)" in page.all_text
    assert [s.get("data-id") for s in page.sections if s.get("data-group")] == [
        "ZAC5361",
        "ZAA0067",
    ]
    assert [f["data-source"] for f in page.figures if "hold" in (f.get("class") or "")] == [
        "DCIM/100DEMO_/IMG_0006.JPG"
    ]
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600


def test_a_sheet_on_the_card_is_refused(tmp_path: Path) -> None:
    card, map_file = make_demo_card(tmp_path)
    linked = tmp_path / "linked"
    linked.symlink_to(card)
    for source, where in (
        (card, card / "sheet.html"),
        (card, card / "DCIM" / "sheet.html"),
        (card / "DCIM", card / "sheet.html"),  # the card given as its DCIM folder
        (card / "DCIM" / "100DEMO_", card / "sheet.html"),  # or as one of its camera folders
        (card, linked / "sheet.html"),  # another path to the card
    ):
        code, _out, err = invoke(
            "preview", source, "--map", map_file, "--archive", tmp_path / "a", "--sheet", where
        )
        assert code == 2 and "is on the folder read as the card" in " ".join(err.split()), err
        assert not where.exists()


def test_with_a_clock_offset_the_groups_show_the_times_a_map_is_compared_with(
    tmp_path: Path,
) -> None:
    """A person may write a map's from and to times from what the questions showed (the
    photos a map cannot name stay on the card with that advice): with --clock-offset those
    times are compared with camera time + offset, so the groups, at the terminal and on the
    sheet, show camera time + offset, as map-template does."""
    card, _ = make_demo_card(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    child = spawn(
        scratch, "preview", card, "--archive", tmp_path / "archive", "--clock-offset", "+01:00:30"
    )
    child.expect_exact("times are the camera's with +01:00:30 added.")
    child.expect(r"file://(\S+\.html)")
    sheet = Path(child.match.group(1))
    child.expect_exact("Group 1: 3 photo(s), 2026-11-24 10:15:32 to 10:17:10")
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    text = Page(sheet.read_text(encoding="utf-8")).all_text
    assert "+01:00:30 added to camera times" in text
    assert "10:15:32" in text and "09:15:02" not in text
    child.sendcontrol("c")
    assert finish(child) == 130
