"""`cardingest move` (src/cardingest/move.py): the mutation round's tests (2026-12-06).

Each pins a rule the other move tests reached without looking at: what `--from` says when
nothing is left to move, an undo of a move stopped part way through its links or on a drive
without hard links, the content comparison that decides whether a new name holds the photo,
the moves read back from the audit log, the warning an interrupted move leaves. Real
archives (the demo card, a SQLite catalogue, the CLI in-process), real files.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from clinic_helpers import ingest_demo, invoke

from cardingest.archive.audit import AuditLog
from cardingest.archive.lock import ArchiveLock
from cardingest.archive.verify import CopyState
from cardingest.errors import ArchiveError, CatalogueError
from cardingest.models import METADIR

FIRST = "ZAC5361/ZAC5361-20261124-091502.jpg"
SECOND = "ZAC5361/ZAC5361-20261124-091502-2.jpg"
THIRD = "ZAC5361/ZAC5361-20261124-091640.jpg"


@pytest.fixture(autouse=True)
def demo_ids(test_ids: Path) -> Path:
    """The demo card's test-range NHIs are accepted (conftest's ``test_ids``)."""
    return test_ids


def rows(archive: Path) -> dict[str, str]:
    with sqlite3.connect(archive / METADIR / "catalogue.sqlite") as conn:
        return dict(conn.execute("SELECT archive_path, patient_id FROM files"))


def files(archive: Path) -> list[str]:
    """Every file and folder of the archive but its own `.cardingest`."""
    return sorted(
        p.relative_to(archive).as_posix() for p in archive.rglob("*") if METADIR not in p.parts
    )


def said(out: str, err: str = "") -> str:
    return " ".join((out + err).split())


# --- `--from` with nothing left to move ----------------------------------------------------


def test_from_with_a_filter_the_moved_photos_miss_is_refused_naming_the_filter(
    tmp_path: Path,
) -> None:
    """ZAC5361's photos (melanoma;naevus, 2026-11-24) moved to ZAA0067, whose own photo has
    psoriasis: `--from ZAC5361 --to ZAA0067` with a filter none of the moved photos meets
    is not "already moved" (the filter narrows what was moved too), and the refusal names
    the filter as given."""
    _card, archive, _ = ingest_demo(tmp_path)
    assert invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", "--archive", archive)[0] == 0
    for flags, shown in (
        (("--diagnosis", "psoriasis"), "--diagnosis psoriasis"),
        (("--since", "2026-11-25"), "--since 2026-11-25"),
        (("--until", "2026-11-23"), "--until 2026-11-23"),
        (("--diagnosis", "melanoma", "--since", "2026-11-25"),
         "--diagnosis melanoma --since 2026-11-25"),
    ):  # fmt: skip
        code, out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", *flags,
                                "--archive", archive)  # fmt: skip
        assert code == 2, (flags, out + err)
        assert (
            f"--from ZAC5361: no archived photos match {shown}: nothing is archived under "
            "ZAC5361 now; the audit log records 3 file(s) of ZAC5361 moved to ZAA0067"
        ) in said(err), (flags, err)


def test_from_whose_photos_are_there_but_outside_the_filters_says_so_whole(
    tmp_path: Path,
) -> None:
    _card, archive, _ = ingest_demo(tmp_path)
    code, _out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", "--until",
                             "2026-11-23", "--archive", archive)  # fmt: skip
    assert code == 2
    assert (
        "--from ZAC5361: no archived photos match --until 2026-11-23 (ZAC5361 has archived "
        "photos, none of them within these filters)"
    ) in said(err), err


def test_from_of_photos_moved_to_two_patients_names_both(tmp_path: Path) -> None:
    _card, archive, _ = ingest_demo(tmp_path)
    assert invoke("move", SECOND, "--to", "MCJ1984", "--archive", archive)[0] == 0
    assert invoke("move", "--from", "ZAC5361", "--to", "ZAA0105", "--archive", archive)[0] == 0
    code, _out, err = invoke("move", "--from", "ZAC5361", "--to", "EPT6335", "--archive", archive)
    assert code == 2
    assert "the audit log records 3 file(s) of ZAC5361 moved to MCJ1984, ZAA0105" in said(err)


def test_already_moved_counts_only_what_is_still_there_in_the_order_moved(
    tmp_path: Path,
) -> None:
    """`--from A --to B` run again: the photos of A the log moved to B that are B's now, in
    the order the move moved them (its shots' order: `…091502.jpg` before `…091502-2.jpg`,
    which sorts first as text); one moved on since from B to C is not "already" B's."""
    _card, archive, _ = ingest_demo(tmp_path)
    argv = ("move", "--from", "ZAC5361", "--to", "ZAA0105", "--archive", archive, "--json")
    code, out, err = invoke(*argv)
    assert code == 0, err
    first = json.loads(out)
    assert [m["old"] for m in first["moved"]] == [FIRST, SECOND, THIRD]
    code, out, err = invoke(*argv)
    assert code == 0, err
    assert [a["path"] for a in json.loads(out)["already"]] == [FIRST, SECOND, THIRD]
    onward = first["moved"][1]["new"]
    assert invoke("move", onward, "--to", "MCJ1984", "--archive", archive)[0] == 0
    code, out, err = invoke(*argv)
    assert code == 0, err
    again = json.loads(out)
    assert [(a["path"], a["now"]) for a in again["already"]] == [
        (m["old"], m["new"]) for m in first["moved"] if m["new"] != onward
    ]
    assert again["earlier_moves"] == [first["move_id"]]


def test_from_where_only_slates_match_lists_every_slate(tmp_path: Path) -> None:
    _card, archive, _ = ingest_demo(tmp_path)
    with sqlite3.connect(archive / METADIR / "catalogue.sqlite") as conn:
        conn.execute("UPDATE files SET role = 'slate' WHERE patient_id = 'ZAC5361'")
    before = rows(archive)
    code, _out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", "--archive", archive)
    assert code == 2
    assert (
        f"--from ZAC5361: only slates match, and a slate stays with the patient it names "
        f"({SECOND}, {FIRST}, {THIRD}): nothing to move"  # as the catalogue lists them
    ) in said(err), err
    assert rows(archive) == before


# --- a move taken back --------------------------------------------------------------------


def test_a_move_stopped_part_way_through_its_links_is_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second file's link fails (a disk error): the first file's new name is taken back,
    the one never linked is left alone, the journal goes; nothing moved, nothing left."""
    from cardingest import move as moving

    _card, archive, _ = ingest_demo(tmp_path)
    before, tree = rows(archive), files(archive)
    real, calls = moving._link, []

    def second_fails(old: Path, new: Path) -> None:
        calls.append(new)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error", str(new))
        real(old, new)

    with monkeypatch.context() as patched:
        patched.setattr(moving, "_link", second_fails)
        code, out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", "--archive",
                                archive)  # fmt: skip
    assert code == 1 and "was undone: nothing was moved" in said(out, err), out + err
    assert len(calls) == 2
    assert not (archive / METADIR / "move-journal.json").exists()
    assert rows(archive) == before and files(archive) == tree


def test_a_move_stopped_on_a_drive_without_hard_links_is_renamed_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where `os.link` cannot be done (FAT, exFAT, some shares) the move renames each file;
    stopped before the rows are refiled, each is renamed back to its old name."""
    from cardingest.archive.catalogue import Catalogue

    _card, archive, _ = ingest_demo(tmp_path)
    before, tree = rows(archive), files(archive)
    content = {path: (archive / path).read_bytes() for path in before}

    def no_links(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    def stopped(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patched:
        patched.setattr(os, "link", no_links)
        patched.setattr(Catalogue, "move_rows", stopped)
        code, out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", "--archive",
                                archive)  # fmt: skip
    assert code == 1 and "was undone: nothing was moved" in said(out, err), out + err
    assert not (archive / METADIR / "move-journal.json").exists()
    assert rows(archive) == before and files(archive) == tree
    assert {path: (archive / path).read_bytes() for path in before} == content


def test_an_undo_never_makes_a_catalogue_where_it_was_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalogue gone as the rows are refiled (its disk away): the undo cannot tell
    whether they were, so it keeps the journal, and makes no empty catalogue in its place
    (which would then answer that no row is there)."""
    from cardingest.archive.catalogue import Catalogue

    _card, archive, _ = ingest_demo(tmp_path)
    database = archive / METADIR / "catalogue.sqlite"
    away = tmp_path / "catalogue-away"

    def lost(*_args: object, **_kwargs: object) -> None:
        database.rename(away)
        raise CatalogueError("The catalogue is gone")

    with monkeypatch.context() as patched:
        patched.setattr(Catalogue, "move_rows", lost)
        code, out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)
    assert code == 1, out + err
    assert not database.exists(), sorted(p.name for p in database.parent.iterdir())
    assert (archive / METADIR / "move-journal.json").exists()
    away.rename(database)
    assert invoke("tag", "ZAA0067", "--site", "arm", "--archive", archive)[0] == 0
    assert invoke("verify", "--archive", archive)[0] == 0


def test_an_undone_move_says_the_first_error_and_keeps_its_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error that stopped a move, said of a move taken back: its own words up to any
    "nothing …" (and the dots after), then that the move was undone; its advice kept, its
    "Nothing …" lines and the "stopped part way" line dropped; its exit code."""
    from cardingest.archive.catalogue import Catalogue

    _card, archive, _ = ingest_demo(tmp_path)

    def refused(*_args: object, **_kwargs: object) -> None:
        raise CatalogueError(
            "The server said code X...; nothing was written",
            details=[
                "Nothing was copied or changed.",
                "Nothing else was tried.",
                "Check the server, then move again.",
            ],
        )

    with monkeypatch.context() as patched:
        patched.setattr(Catalogue, "move_rows", refused)
        code, out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive,
                                "--json")  # fmt: skip
    assert code == 1, out + err
    error = json.loads(out)["error"]
    assert error["message"].startswith("The server said code X. Move "), error
    assert error["message"].endswith(" was undone: nothing was moved."), error
    assert error["details"] == ["Check the server, then move again."], error
    assert not (archive / METADIR / "move-journal.json").exists()


# --- the pieces a move is carried out with --------------------------------------------------


def test_same_content_reads_both_files_to_their_ends(tmp_path: Path) -> None:
    """Two files (not links) of one content over several read blocks are the same; one
    byte changed past the first block, or a byte more, is not."""
    from cardingest.move import _same_content

    body = os.urandom((1 << 20) + 12345)
    a, b, c, d = (tmp_path / name for name in "abcd")
    a.write_bytes(body)
    b.write_bytes(body)
    c.write_bytes(body[:-1] + bytes([body[-1] ^ 1]))
    d.write_bytes(body + b"x")
    assert _same_content(a, b) and _same_content(b, a)
    assert not _same_content(a, c) and not _same_content(a, d) and not _same_content(d, a)
    assert not _same_content(a, tmp_path / "gone")
    small = tmp_path / "small"
    small.write_bytes(b"one")
    other = tmp_path / "other"
    other.write_bytes(b"one")
    assert _same_content(small, other)


def test_an_old_name_whose_new_name_holds_another_file_is_kept_and_said(tmp_path: Path) -> None:
    from cardingest.move import _unlink_old

    old, new = tmp_path / "old.jpg", tmp_path / "new.jpg"
    old.write_bytes(b"the photo")
    new.write_bytes(b"another photo")
    with pytest.raises(ArchiveError) as kept:
        _unlink_old(old, new)
    assert kept.value.message == f"{new} does not hold {old}'s file; {old} was kept"
    assert old.read_bytes() == b"the photo"


def test_a_copy_that_cannot_be_read_or_is_not_the_photo_is_said_with_what_to_do() -> None:
    from cardingest.move import _not_the_photo

    assert _not_the_photo("A/x.jpg", CopyState("unreadable", detail="Permission denied")) == (
        "A/x.jpg: cannot be read (Permission denied), so it is not moved (make it readable "
        "by this account, or run verify, then move it again)"
    )
    assert _not_the_photo("A/x.jpg", CopyState("unreadable")).startswith(
        "A/x.jpg: cannot be read (unreadable), so it is not moved"
    )
    assert _not_the_photo("A/x.jpg", CopyState("mismatch", detail="another file")) == (
        "A/x.jpg: another file, not the archived photo, so it is not moved (run verify; "
        "ingesting its card again puts a damaged copy back)"
    )


def test_a_missing_backup_copy_says_both_ways_to_put_it_back(tmp_path: Path) -> None:
    _card, archive, _ = ingest_demo(tmp_path, "--backup", str(tmp_path / "backup"))
    (tmp_path / "backup" / FIRST).unlink()
    code, _out, err = invoke("move", FIRST, "--to", "ZAA0067", "--archive", archive)
    assert code == 2
    assert (
        "Ingest its card again if the card still holds the photo (that puts the copy back), "
        "or copy the archive copy to that path; then move again"
    ) in said(err), err


# --- what later commands read of a move ---------------------------------------------------


def test_moved_photos_gives_each_move_of_a_content_as_the_log_has_it(tmp_path: Path) -> None:
    from cardingest.move import moved_photos

    _card, archive, _ = ingest_demo(tmp_path)
    code, out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive, "--json")
    assert code == 0, err
    [moved] = json.loads(out)["moved"]
    [event] = [e for e in AuditLog(archive).events() if e.get("event") == "move"]
    found = moved_photos(archive, {moved["sha256"].lower(), "0" * 64})
    assert list(found) == [moved["sha256"].lower()]
    [photo] = found[moved["sha256"].lower()]
    assert (photo.patient_from, photo.patient_to, photo.move_id, photo.when) == (
        "ZAC5361", "ZAA0067", event["move_id"], event["ts"],
    )  # fmt: skip
    assert moved_photos(archive, set()) == {}
    # A log a line of which is not JSON: what could be read before it, no error.
    with (archive / METADIR / "audit.jsonl").open("a", encoding="utf-8") as log:
        log.write("not json\n")
    assert moved_photos(archive, {moved["sha256"].lower()}) == found


def test_a_logged_move_without_its_checksum_still_answers_a_rerun(tmp_path: Path) -> None:
    """A move event whose entry gives no sha256 (as an earlier version wrote): the path it
    moved from, asked again for the patient it went to, is said to be there already."""
    _card, archive, _ = ingest_demo(tmp_path)
    there = next(p for p, who in rows(archive).items() if who == "ZAA0067")
    with ArchiveLock(archive, "test"):
        AuditLog(archive).append(
            "move", move_id="20260101T000000Z-abcdef", operator="nurse", to="ZAA0067",
            moves=[{"from": "ZAC5361", "old": "ZAC5361/gone.jpg", "new": there}], sidecars=[],
        )  # fmt: skip
    code, out, err = invoke("move", "ZAC5361/gone.jpg", "--to", "ZAA0067", "--archive", archive)
    assert code == 0, out + err
    assert f"already under ZAA0067: ZAC5361/gone.jpg (now {there})" in said(out)


def test_an_interrupted_move_is_warned_of_by_its_id_size_and_patient(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cardingest import move as moving
    from cardingest.move import pending_move_warnings

    _card, archive, _ = ingest_demo(tmp_path)

    def killed(old: Path, new: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patched:
        patched.setattr(moving, "_link", killed)
        patched.setattr(moving, "_undone", lambda *_args, **_kwargs: False)
        assert invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)[0] == 1
    journal = archive / METADIR / "move-journal.json"
    move_id = json.loads(journal.read_text())["move_id"]
    [warning] = pending_move_warnings(archive)
    assert warning.startswith(f"move {move_id} of 1 file(s) to ZAA0067 was interrupted"), warning
    journal.write_text("{")
    [warning] = pending_move_warnings(archive)
    assert warning.startswith(f"{journal} (an interrupted move) cannot be read"), warning


# --- the names a move gives ---------------------------------------------------------------


def test_shots_of_one_second_keep_the_ingests_order_by_card_folder_then_number(
    tmp_path: Path,
) -> None:
    """Two photos of one second in two card folders (`X10/IMG_0002`, `X9/IMG_0001`) are
    named by the folder's name as text first (not by its number, nor the photo's); two
    in one folder whose names hold a second dot (`P.0002`, `P.0001`) by the number before
    the extension; `Q1` before `Q1-B` (by the stem: with its extension `Q1-B.JPG` would
    come first). A move to another patient gives them its names in the same order (`-2`
    to the same photo), whatever the archive names' own order as text."""
    from datetime import datetime

    from clinic_helpers import camera_jpeg

    dcim = tmp_path / "card" / "DCIM"
    first, second = datetime(2024, 5, 1, 10, 0, 0), datetime(2024, 5, 1, 10, 0, 1)
    camera_jpeg(dcim / "X10" / "IMG_0002.JPG", first, colour=(10, 20, 30))
    camera_jpeg(dcim / "X9" / "IMG_0001.JPG", first, colour=(30, 20, 10))
    camera_jpeg(dcim / "100CANON" / "P.0002.JPG", second, colour=(50, 60, 70))
    camera_jpeg(dcim / "100CANON" / "P.0001.JPG", second, colour=(70, 60, 50))
    third = datetime(2024, 5, 1, 10, 0, 2)
    camera_jpeg(dcim / "100CANON" / "Q1-B.JPG", third, colour=(90, 80, 70))
    camera_jpeg(dcim / "100CANON" / "Q1.JPG", third, colour=(70, 80, 90))
    archive = tmp_path / "archive"
    code, _out, err = invoke("ingest", tmp_path / "card", "--id", "ZAC5361", "--archive", archive)
    assert code == 0, err

    def tails() -> dict[str, str]:
        with sqlite3.connect(archive / METADIR / "catalogue.sqlite") as conn:
            found = dict(conn.execute("SELECT source_path, archive_path FROM files"))
        return {source: path.split("-", 1)[1] for source, path in found.items()}

    before = tails()
    assert before == {
        "DCIM/X10/IMG_0002.JPG": "20240501-100000.jpg",
        "DCIM/X9/IMG_0001.JPG": "20240501-100000-2.jpg",
        "DCIM/100CANON/P.0001.JPG": "20240501-100001.jpg",
        "DCIM/100CANON/P.0002.JPG": "20240501-100001-2.jpg",
        "DCIM/100CANON/Q1.JPG": "20240501-100002.jpg",
        "DCIM/100CANON/Q1-B.JPG": "20240501-100002-2.jpg",
    }
    code, _out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", "--archive", archive)
    assert code == 0, err
    assert tails() == before
    assert set(rows(archive).values()) == {"ZAA0067"}


def test_a_name_held_on_disk_in_a_nested_patient_folder_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a folder template of two levels (`{id}/photos`), a file no row names at the
    name the photo would take under the new patient is seen there: the photo takes the
    next name (`-2`), the file is left as it was (it was looked for one level up only)."""
    config = tmp_path / "nested.toml"
    config.write_text('allow_test_ids = true\nfolder_template = "{id}/photos"\n', encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
    _card, archive, _ = ingest_demo(tmp_path)
    squatter = archive / "ZAA0067" / "photos" / "ZAA0067-20261124-091502.jpg"
    assert squatter.parent.is_dir()
    squatter.write_bytes(b"someone else's file")
    old = "ZAC5361/photos/ZAC5361-20261124-091502.jpg"
    code, out, err = invoke("move", old, "--to", "ZAA0067", "--archive", archive, "--json")
    assert code == 0, out + err
    [moved] = json.loads(out)["moved"]
    assert moved["new"] == "ZAA0067/photos/ZAA0067-20261124-091502-2.jpg"
    assert squatter.read_bytes() == b"someone else's file"


def test_a_resumed_move_whose_old_file_is_gone_says_to_run_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finishing a move whose photo is gone from both names stops with "run verify"; one
    whose new name holds another file says so, and no more (verify would not mend it)."""
    from cardingest import move as moving

    _card, archive, _ = ingest_demo(tmp_path)

    def killed(old: Path, new: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patched:
        patched.setattr(moving, "_link", killed)
        patched.setattr(moving, "_undone", lambda *_args, **_kwargs: False)
        assert invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)[0] == 1
    journal = json.loads((archive / METADIR / "move-journal.json").read_text())
    old, new = (archive / journal["moves"][0][key] for key in ("old", "new"))
    kept = old.read_bytes()
    old.unlink()
    code, out, err = invoke("tag", "ZAA0067", "--site", "arm", "--archive", archive)
    assert code == 1, out + err
    assert f"{old} is gone and {new} does not exist; run verify" in said(err), err
    old.write_bytes(kept)
    new.parent.mkdir(parents=True, exist_ok=True)
    new.write_bytes(b"another file")
    code, out, err = invoke("tag", "ZAA0067", "--site", "arm", "--archive", archive)
    assert code == 1, out + err
    assert f"{new} exists with other content; {old} was not moved" in said(err), err
    assert f"{old} was not moved; run verify" not in said(err), err
