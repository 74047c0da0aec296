"""``cardingest move --abandon-journal``: a refused move journal taken out of the way, with
only the second names of catalogued photos its move left (the README's steps for whoever
looks after the archive, once done by hand with ``ls -i``)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cardimage import require
from clinic_helpers import camera_jpeg, cardingest_exe, cli, invoke
from conftest import immutable, tmpfs_on
from PIL import Image

from cardingest.archive.audit import AuditLog
from cardingest.models import METADIR

SHOT = "ZAC5361/ZAC5361-20240501-100000"
"""The shot moved: a JPEG, its RAW twin (a TIFF) and its keyword sidecar."""
NEW = "ZAA0067/ZAA0067-20240501-100000"
OTHER = "ZAA0067/ZAA0067-20240501-110000.jpg"
"""Another patient's photo, which no journal may take."""


@pytest.fixture(autouse=True)
def demo_ids(test_ids: Path) -> Path:
    return test_ids


def archived_shot(tmp_path: Path) -> tuple[Path, Path]:
    """An archive (and its backup) holding a JPEG and RAW shot of ZAC5361 with a diagnosis
    (so a keyword sidecar), and a photo of ZAA0067."""
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    when = datetime(2024, 5, 1, 10, 0, 0)
    camera_jpeg(folder / "IMG_0001.JPG", when)
    twin = camera_jpeg(tmp_path / "twin.jpg", when, colour=(1, 2, 3))
    with Image.open(twin) as image:
        image.save(folder / "IMG_0001.TIF", format="TIFF", exif=image.getexif())
    camera_jpeg(folder / "IMG_0002.JPG", datetime(2024, 5, 1, 11, 0, 0), colour=(9, 9, 9))
    mapping = tmp_path / "map.csv"
    mapping.write_text(
        "files,id,diagnosis\nIMG_0001,ZAC5361,melanoma\nIMG_0002,ZAA0067,\n", encoding="utf-8"
    )
    archive, backup = tmp_path / "archive", tmp_path / "nas" / "backup"
    backup.parent.mkdir()
    code, _out, err = invoke("ingest", tmp_path / "card", "--map", mapping, "--archive", archive,
                             "--backup", backup)  # fmt: skip
    assert code == 0, err
    assert (archive / f"{SHOT}.xmp").is_file() and (archive / OTHER).is_file()
    return archive, backup


def stopped_move(
    archive: Path, monkeypatch: pytest.MonkeyPatch, where: str, links: bool = True
) -> dict[str, Any]:
    """`move --from ZAC5361 --to ZAA0067` stopped as a kill -9 would leave it (no undo):
    ``before refiling`` (every new name linked, the rows not refiled), ``before the
    manifests`` (the rows refiled, the manifests not yet written again) or ``before
    unlinking`` (the rows refiled, the old names not yet unlinked); ``links`` False: on a
    file system without hard links (each file renamed). Returns the journal."""
    from cardingest import move as moving
    from cardingest.archive.catalogue import Catalogue

    def killed(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    def no_links(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    with monkeypatch.context() as patched:
        if where == "before refiling":
            patched.setattr(Catalogue, "move_rows", killed)
        elif where == "before the manifests":
            patched.setattr(moving, "_rewrite_manifests", killed)
        else:
            patched.setattr(moving, "_unlink_old", killed)
        patched.setattr(moving, "_undone", lambda *_args, **_kwargs: False)
        if not links:
            patched.setattr(os, "link", no_links)
        code, _out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067",
                                 "--archive", archive)  # fmt: skip
    assert code == 1, err
    return json.loads((archive / METADIR / "move-journal.json").read_text())


def refused(archive: Path, journal: dict[str, Any]) -> None:
    """The journal edited (its patient given a blank): `tag` stops on it, for good."""
    (archive / METADIR / "move-journal.json").write_text(json.dumps({**journal, "to": " ZAA0067"}))
    code, out, err = invoke("tag", "ZAA0067", "--site", "arm", "--archive", archive)
    said = " ".join((out + err).split())
    assert code == 1 and "is not as cardingest wrote it" in said, said
    assert f"cardingest move --abandon-journal --archive {archive}" in said, said


def abandon(archive: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = cli("move", "--abandon-journal", "--archive", archive, "--json", *extra)
    # The in-process runner keeps an exception from the console: a traceback there.
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, json.loads(result.stdout), result.stderr


def abandon_script(archive: Path) -> tuple[int, dict[str, Any], str]:
    """`abandon` through the installed console script, as a person runs it."""
    done = subprocess.run([cardingest_exe(), "move", "--abandon-journal", "--archive",
                           str(archive), "--json"], capture_output=True, text=True,
                          check=False, timeout=120)  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout), done.stderr


def usable_again(archive: Path) -> None:
    """Verify finds nothing missing or unexpected; tag and move work again."""
    code, out, err = invoke("verify", "--archive", archive)
    assert code == 0, out + err
    assert invoke("tag", "ZAA0067", "--site", "arm", "--archive", archive)[0] == 0
    code, out, err = invoke("move", OTHER, "--to", "ZAC5361", "--archive", archive)
    assert code == 0, out + err
    assert invoke("verify", "--archive", archive)[0] == 0


def kept_journal(archive: Path, journal: dict[str, Any], document: dict[str, Any]) -> None:
    kept = archive / METADIR / "abandoned-moves" / f"{journal['move_id']}.json"
    assert document["journal"] == str(kept) and json.loads(kept.read_text())["to"] == " ZAA0067"
    assert not (archive / METADIR / "move-journal.json").exists()
    assert kept.stat().st_mode & 0o077 == 0
    events = [e for e in AuditLog(archive).events() if e.get("event") == "move_abandoned"]
    assert len(events) == 1 and events[0]["move_id"] == journal["move_id"]
    assert events[0]["journal"] == f".cardingest/abandoned-moves/{journal['move_id']}.json"
    assert events[0]["operator"] and events[0]["removed"] == document["removed"]


@pytest.mark.parametrize("links", [True, False], ids=["hard links", "no hard links"])
def test_a_refused_journal_stopped_before_refiling_leaves_the_old_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    """Stopped after its links, before its rows were refiled, the journal then edited: the
    photos are catalogued under their old names still, so each new name (archive, backup,
    sidecar) that is the same file is a second name, removed; without hard links the move
    renamed them, and they are put back (the photo's content is the catalogue's)."""
    archive, backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling", links)
    assert (archive / f"{NEW}.jpg").is_file() and (backup / f"{NEW}.tif").is_file()
    assert (archive / f"{SHOT}.jpg").exists() == links
    refused(archive, journal)
    code, document, err = abandon(archive)
    assert code == 0, err
    assert "its patient ' ZAA0067' is no patient ID" in document["refused"]
    news = {f"{NEW}.jpg", f"{NEW}.tif", str(backup / f"{NEW}.jpg"), str(backup / f"{NEW}.tif"),
            str(archive / f"{NEW}.xmp"), str(backup / f"{NEW}.xmp")}  # fmt: skip
    done = document["removed"] if links else document["restored"]
    assert {item["path"] for item in done} == news, document
    assert document["kept"] == [] and document["refiled"] == []
    assert not (archive / "ZAA0067" / "ZAA0067-20240501-100000.jpg").exists()
    for root in (archive, backup):
        for ext in ("jpg", "tif", "xmp"):
            assert (root / f"{SHOT}.{ext}").is_file()
            assert not (root / f"{NEW}.{ext}").exists()
    kept_journal(archive, journal, document)
    usable_again(archive)


def test_the_refusal_an_abandon_shows_does_not_say_no_photo_was_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The abandon showed why the journal was refused in the move's own words, "Nothing
    was changed; no photo has been removed.", in the same run that listed the second
    names it removed."""
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    refused(archive, journal)
    code, document, err = abandon(archive)
    assert code == 0 and document["removed"], err
    assert "is not as cardingest wrote it" in document["refused"]
    assert "has been removed" not in document["refused"] + err, document["refused"]


def test_a_catalogued_folder_turned_into_a_link_keeps_the_new_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old patient's folder, where the catalogue names the photos, replaced by a link to
    a folder outside the archive holding the same files: the new names are the archive's
    only ones left inside it, and stay (exit 3), where they were removed as second names."""
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    refused(archive, journal)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.rename(archive / "ZAC5361", outside / "ZAC5361")
    os.symlink(outside / "ZAC5361", archive / "ZAC5361")
    code, document, err = abandon(archive)
    assert code == 3, err
    kept = {item["path"]: item["reason"] for item in document["kept"]}
    assert f"{NEW}.jpg" in kept and "leads out of its folder" in kept[f"{NEW}.jpg"], kept
    assert all(not item["path"].startswith("ZAA0067/") for item in document["removed"])
    for ext in ("jpg", "tif"):
        assert (archive / f"{NEW}.{ext}").is_file()


@pytest.mark.parametrize("catalogue", ["sqlite", "postgresql"])
def test_a_refused_journal_stopped_before_unlinking_leaves_the_new_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, catalogue: str
) -> None:
    """Stopped after its rows were refiled, before the old names went, the journal then
    edited: the catalogue names the new paths, so the old ones are the second names. The
    same with a PostgreSQL catalogue (and audit log)."""
    if catalogue == "postgresql":
        monkeypatch.setenv("CARDINGEST_CATALOGUE", request.getfixturevalue("pg_url"))
    archive, backup = archived_shot(tmp_path)
    assert (archive / METADIR / "catalogue.sqlite").exists() == (catalogue == "sqlite")
    journal = stopped_move(archive, monkeypatch, "before unlinking")
    edited = json.loads(json.dumps(journal))
    edited["moves"][0]["sha256"] = "0" * 64  # unlike the catalogue: refused too
    (archive / METADIR / "move-journal.json").write_text(json.dumps(edited))
    code, out, err = invoke("tag", "ZAA0067", "--site", "arm", "--archive", archive)
    said = " ".join((out + err).split())
    assert code == 1 and "does not match the catalogue" in said, said
    assert f"cardingest move --abandon-journal --archive {archive}" in said, said
    refused(archive, journal)
    code, document, err = abandon(archive)
    assert code == 0, err
    olds = {f"{SHOT}.jpg", f"{SHOT}.tif", str(backup / f"{SHOT}.jpg"), str(backup / f"{SHOT}.tif"),
            str(archive / f"{SHOT}.xmp"), str(backup / f"{SHOT}.xmp")}  # fmt: skip
    assert {item["path"] for item in document["removed"]} == olds, document
    assert {item["new"] for item in document["refiled"]} == {f"{NEW}.jpg", f"{NEW}.tif"}
    assert document["kept"] == []
    for root in (archive, backup):
        for ext in ("jpg", "tif", "xmp"):
            assert (root / f"{NEW}.{ext}").is_file()
        assert not (root / "ZAC5361").exists()  # the emptied folder went
    kept_journal(archive, journal, document)
    usable_again(archive)


def test_a_move_stopped_before_its_manifests_has_them_written_again(tmp_path: Path) -> None:
    """Stopped after its rows were refiled, before it wrote the manifests again: they list
    the old names. The abandon writes the manifests of the refiled files' ingests from the
    catalogue, in the archive and in the backup folder, so `sha256sum -c` holds in both."""
    archive, backup = archived_shot(tmp_path)
    with pytest.MonkeyPatch.context() as patched:
        journal = stopped_move(archive, patched, "before the manifests")
    manifests = [root / METADIR / "manifests" for root in (archive, backup)]
    for folder in manifests:
        assert f"{SHOT}.jpg" in "".join(p.read_text() for p in folder.glob("*.sha256"))
    refused(archive, journal)
    code, document, err = abandon(archive)
    assert code == 0, err
    assert sorted(document["manifests"]) == sorted(
        str(folder / path.name) for folder in manifests for path in folder.glob("*.sha256")
    )
    for root, folder in zip((archive, backup), manifests, strict=True):
        listed = "".join(p.read_text() for p in folder.glob("*.sha256"))
        assert f"{SHOT}.jpg" not in listed and f"{NEW}.jpg" in listed and f"{NEW}.tif" in listed
        for manifest in folder.glob("*.sha256"):
            checked = subprocess.run(["sha256sum", "--strict", "-c", manifest], cwd=root,
                                     capture_output=True, text=True)  # fmt: skip
            assert checked.returncode == 0, checked.stdout + checked.stderr
    events = [e for e in AuditLog(archive).events() if e.get("event") == "move_abandoned"]
    assert events[-1]["manifests"] == document["manifests"]
    code, out, err = invoke("move", "--abandon-journal", "--archive", archive)
    assert code == 2 and "nothing to abandon" in " ".join(err.split()), out + err
    usable_again(archive)


def test_a_manifest_a_damaged_row_keeps_from_being_written_is_left_for_a_person(
    tmp_path: Path,
) -> None:
    """Another row of the stopped move's ingest damaged by hand (a digest that is none): its
    manifest cannot be written again. It is listed (exit 3), the journal is still kept and
    the event written, where a traceback came after the files were settled."""
    import sqlite3

    archive, _backup = archived_shot(tmp_path)
    with pytest.MonkeyPatch.context() as patched:
        journal = stopped_move(archive, patched, "before the manifests")
    with contextlib.closing(sqlite3.connect(archive / METADIR / "catalogue.sqlite")) as db:
        db.execute("UPDATE files SET sha256 = ? WHERE archive_path = ?", ("x" * 64, OTHER))
        db.commit()
    refused(archive, journal)
    code, document, err = abandon(archive)
    assert code == 3, err
    (ingest_id,) = {p.stem for p in (archive / METADIR / "manifests").glob("*.sha256")}
    assert document["kept"] == [{
        "path": f".cardingest/manifests/{ingest_id}.sha256",
        "reason": f"not written again from the catalogue: {'x' * 64!r} is not a sha256 hex "
        f"digest (for {OTHER!r}); `cardingest verify` lists it",
    }]  # fmt: skip
    assert document["manifests"] == [] and document["removed"]
    kept_journal(archive, journal, document)


def test_a_hostile_journal_removes_nothing_it_cannot_prove_a_second_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal is a list of candidates, possibly hostile: entries naming another
    patient's photo, a hard link outside the archive, a copy (another inode) of the
    photo, and a symbolic link to it are each left where they are, and listed (exit 3);
    the move's own second names still go."""
    archive, backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    outside = tmp_path / "outside" / "ZAA0067"
    outside.mkdir(parents=True)
    os.link(archive / f"{SHOT}.jpg", outside / "x.jpg")
    shutil.copy2(archive / f"{SHOT}.jpg", archive / "ZAA0067" / "copy.jpg")
    os.symlink(archive / f"{SHOT}.jpg", archive / "ZAA0067" / "link.jpg")
    os.link(backup / f"{SHOT}.jpg", tmp_path / "outside" / "b.jpg")
    entry = journal["moves"][0]
    hostile = [
        {**entry, "old": OTHER, "new": f"{SHOT}.jpg"},  # two catalogued photos
        {**entry, "new": "../outside/ZAA0067/x.jpg"},
        {**entry, "new": "ZAA0067/copy.jpg"},
        {**entry, "new": "ZAA0067/link.jpg", "new_backup": str(tmp_path / "outside" / "b.jpg")},
    ]
    sidecars = [[str(archive / f"{SHOT}.xmp"), str(archive / OTHER.replace(".jpg", ".xmp"))]]
    edited = {**journal, "moves": journal["moves"] + hostile,
              "sidecars": journal["sidecars"] + sidecars}  # fmt: skip
    (archive / METADIR / "move-journal.json").write_text(json.dumps(edited))
    code, document, err = abandon(archive)
    assert code == 3, err
    kept = {item["path"]: item["reason"] for item in document["kept"]}
    assert set(kept) == {
        OTHER,
        f"{SHOT}.jpg",
        "../outside/ZAA0067/x.jpg",
        "ZAA0067/copy.jpg",
        "ZAA0067/link.jpg",
        str(tmp_path / "outside" / "b.jpg"),
        str(backup / f"{SHOT}.jpg"),  # the backup copy of one of the two catalogued photos
        str(archive / f"{SHOT}.xmp"),  # paired with another photo's sidecar
    }, kept
    assert "the catalogue names it" in kept[OTHER]
    assert document["refiled"] == []  # the entry naming two catalogued photos refiled nothing
    assert "outside the archive" in kept["../outside/ZAA0067/x.jpg"]
    assert "not the same file" in kept["ZAA0067/copy.jpg"]
    assert "not a regular file" in kept["ZAA0067/link.jpg"]
    assert "outside the archive" in kept[str(tmp_path / "outside" / "b.jpg")]
    for path in (archive / OTHER, archive / f"{SHOT}.jpg", outside / "x.jpg",
                 archive / "ZAA0067" / "copy.jpg", tmp_path / "outside" / "b.jpg"):  # fmt: skip
        assert path.is_file(), path
    assert (archive / "ZAA0067" / "link.jpg").is_symlink()
    assert {item["path"] for item in document["removed"]} >= {f"{NEW}.jpg", f"{NEW}.tif"}
    assert not (archive / f"{NEW}.jpg").exists() and (archive / f"{SHOT}.xmp").is_file()
    code, out, _err = invoke("move", "--abandon-journal", "--archive", archive)
    assert code == 2 and "nothing to abandon" in out + _err


def test_no_journal_or_one_that_can_be_finished_is_not_abandoned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No journal: exit 2, said. A journal cardingest can carry out: exit 1, nothing
    changed, and the command that finishes it named. Not with --to or paths (exit 2)."""
    archive, _backup = archived_shot(tmp_path)
    code, out, err = invoke("move", "--abandon-journal", "--archive", archive)
    said = " ".join((out + err).split())
    assert code == 2 and "There is no interrupted move in" in said and "nothing to abandon" in said
    code, document, err = abandon(archive)
    assert code == 2 and "nothing to abandon" in document["error"]["message"], err
    code, out, err = invoke("move", "--abandon-journal", "--to", "ZAA0067", "--archive", archive)
    assert code == 2 and "--abandon-journal takes only --archive" in " ".join(err.split())
    journal = stopped_move(archive, monkeypatch, "before refiling")
    code, out, err = invoke("move", "--abandon-journal", "--archive", archive)
    said = " ".join((out + err).split())
    assert code == 1 and "cardingest can still carry it out, so it is not abandoned" in said
    assert f"Run the same move again to finish it: cardingest move {SHOT}.jpg --to ZAA0067" in said
    assert (archive / METADIR / "move-journal.json").exists()
    assert not (archive / METADIR / "abandoned-moves").exists()
    assert (archive / f"{NEW}.jpg").exists()
    code, out, err = invoke("move", f"{SHOT}.jpg", "--to", "ZAA0067", "--archive", archive)
    assert code == 0 and journal["move_id"] in err and "already under ZAA0067" in out, out + err
    assert invoke("verify", "--archive", archive)[0] == 0


def test_the_terminal_output_names_what_was_removed_and_where_the_journal_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    refused(archive, journal)
    code, out, err = invoke("move", "--abandon-journal", "--archive", archive)
    said = " ".join(out.split())
    assert code == 0, out + err
    assert f"removed: {NEW}.jpg (a second name of {archive / SHOT}.jpg)" in said
    assert f"Abandoned move {journal['move_id']}: 6 second name(s) removed" in said
    assert "The journal was refused:" in err


def test_a_journal_that_cannot_be_read_is_kept_and_names_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal cut short (not JSON) names no file: nothing is removed, the journal is
    kept under the time, and the second names it left are for verify to list (exit 3)."""
    archive, _backup = archived_shot(tmp_path)
    stopped_move(archive, monkeypatch, "before refiling")
    journal = archive / METADIR / "move-journal.json"
    cut = journal.read_bytes()[:40]
    journal.write_bytes(cut)
    code, document, err = abandon(archive)
    assert code == 3, err
    assert "cannot be read" in document["refused"] and document["move_id"] is None
    assert document["removed"] == [] and (archive / f"{NEW}.jpg").is_file()
    # Listed where it is kept (it was said "left in place" at the name it was moved from).
    assert [item["path"] for item in document["kept"]] == [document["journal"]]
    assert "kept here" in document["kept"][0]["reason"]
    assert Path(document["journal"]).read_bytes() == cut
    assert not journal.exists() and Path(document["journal"]).name.endswith("-abandoned.json")
    code, out, err = invoke("verify", "--archive", archive)
    assert code != 0 and f"{NEW}.jpg" in out + err


def test_a_fifo_at_the_journal_name_is_refused_and_taken_out_of_the_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FIFO at the journal's name (anyone who may write .cardingest can make one) held
    `tag`, and `move --abandon-journal` with the archive's lock, waiting for a writer for
    ever: it is refused, as a journal that cannot be read, and taken out of the way."""
    archive, _backup = archived_shot(tmp_path)
    stopped_move(archive, monkeypatch, "before refiling")
    journal = archive / METADIR / "move-journal.json"
    journal.unlink()
    os.mkfifo(journal)
    stuck = threading.Event()

    def unblock() -> None:  # a reader left waiting is let go (EOF), and the test fails
        if not done.wait(10):
            stuck.set()
            with contextlib.suppress(OSError):
                os.close(os.open(journal, os.O_WRONLY | os.O_NONBLOCK))

    for command in (("tag", "ZAA0067", "--site", "arm"), ("move", "--abandon-journal")):
        done = threading.Event()
        watchdog = threading.Thread(target=unblock)
        watchdog.start()
        code, out, err = invoke(*command, "--archive", archive)
        done.set()
        watchdog.join()
        assert not stuck.is_set(), f"{command[0]} waited on the FIFO"
        assert "Traceback" not in out + err
    said = " ".join((out + err).split())
    assert code == 3 and "not a regular file" in said, said
    assert not os.path.lexists(journal)


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_folder_or_fifo_at_the_journal_name_is_kept_private(tmp_path: Path, kind: str) -> None:
    """A folder or FIFO at the journal's name, made with the umask's 0755 or 0644, was
    taken into abandoned-moves with that mode: the abandon said the journal is kept
    private, and the `verify` it asks for then failed on it as exposed (exit 1)."""
    archive, _backup = archived_shot(tmp_path)
    journal = archive / METADIR / "move-journal.json"
    if kind == "folder":
        journal.mkdir()
        journal.chmod(0o755)
    else:
        os.mkfifo(journal)
        journal.chmod(0o644)
    code, document, err = abandon(archive)
    assert code == 3, err
    kept = Path(document["journal"])
    assert not os.path.lexists(journal) and os.path.lexists(kept)
    assert kept.lstat().st_mode & 0o077 == 0, oct(kept.lstat().st_mode)
    code, out, err = invoke("verify", "--archive", archive)
    assert code == 0 and "exposed" not in out + err, out + err


def test_a_name_in_other_case_on_a_fat_backup_is_not_another_archives_copy(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fat_card,  # type: ignore[no-untyped-def]
) -> None:
    """A FAT backup drive two archives share, the same card ingested into both (A2's backup
    copy NAME.jpg, A1's NAME-2.jpg). A1's move stopped before refiling renamed its copy (no
    hard links there); its journal, edited, names A2's copy in lower case, which FAT finds.
    It was not the catalogue's name nor listed by A2, as written, and has A1's photo's
    content: it was "put back" as A1's copy, and A2's verify found its backup copy missing."""
    from cardingest import move as moving
    from cardingest.archive.catalogue import Catalogue

    backup = fat_card({}, size_mb=32) / "backup"
    card = tmp_path / "card"
    camera_jpeg(card / "DCIM" / "100CANON" / "IMG_0001.JPG", datetime(2024, 5, 1, 10, 0, 0))
    first, second = tmp_path / "A1", tmp_path / "A2"
    for archive in (second, first):
        code, out, err = invoke("ingest", card, "--id", "ZAC5361", "--archive", archive,
                                "--backup", backup)  # fmt: skip
        assert code == 0, out + err
    theirs = backup / "ZAC5361" / "ZAC5361-20240501-100000.jpg"
    content = theirs.read_bytes()

    def killed(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patched:
        patched.setattr(Catalogue, "move_rows", killed)
        patched.setattr(moving, "_undone", lambda *_args, **_kwargs: False)
        code, out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067",
                                "--archive", first)  # fmt: skip
    assert code == 1, out + err
    path = first / METADIR / "move-journal.json"
    journal = json.loads(path.read_text())
    ours = Path(journal["moves"][0]["old_backup"])
    assert ours.name == "ZAC5361-20240501-100000-2.jpg" and not ours.exists()
    other_case = str(backup / "zac5361" / "zac5361-20240501-100000.JPG")
    crafted = {**journal["moves"][0], "new_backup": other_case}
    moves = [crafted, *journal["moves"]]
    path.write_text(json.dumps({**journal, "to": " ZAA0067", "moves": moves}))
    code, document, err = abandon(first)
    assert code == 3, err
    assert other_case not in [item["path"] for item in document["restored"]]
    assert theirs.read_bytes() == content
    assert invoke("verify", "--archive", second)[0] == 0
    # A1's own copy, at the new name the move renamed it to, is put back.
    assert ours.read_bytes() == content
    assert invoke("verify", "--archive", first)[0] == 0


def test_a_name_of_a_catalogued_photo_in_other_case_is_never_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On macOS (or NTFS), which have hard links and tell no case apart, `zac5361/…` is
    the catalogued `ZAC5361/…` entry itself, with two links while the move's new name is
    there: removing it left the photo only under the other patient. Linux tells case
    apart, so it is a link of its own here; it is left all the same."""
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    first = journal["moves"][0]
    other_case = first["old"].lower()
    (archive / other_case).parent.mkdir()
    os.link(archive / first["old"], archive / other_case)
    moves = [{**first, "new": other_case}, *journal["moves"]]
    (archive / METADIR / "move-journal.json").write_text(
        json.dumps({**journal, "to": " ZAA0067", "moves": moves})
    )
    code, document, err = abandon(archive)
    assert code == 3, err
    assert other_case not in [item["path"] for item in document["removed"]]
    assert (archive / first["old"]).is_file() and (archive / other_case).is_file()
    assert [item["path"] for item in document["kept"]] == [other_case]
    assert f"{NEW}.jpg" in [item["path"] for item in document["removed"]]


def test_ctrl_c_while_abandoning_leaves_nothing_removed_unsaid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C after the first second name was removed stopped the command there: the
    names removed so far were in no audit event, and the run again, finding them gone,
    did not list them either. It waits now for the journal's taking out and the event."""
    import signal

    from cardingest import abandon as abandoning

    archive, _backup = archived_shot(tmp_path)
    refused(archive, stopped_move(archive, monkeypatch, "before refiling"))
    settle = abandoning._settle
    calls: list[int] = []

    def interrupted(*args: Any, **kwargs: Any) -> None:
        settle(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(abandoning, "_settle", interrupted)
    code, _out, _err = invoke("move", "--abandon-journal", "--archive", archive)
    assert code != 0 and not (archive / f"{NEW}.jpg").exists()
    monkeypatch.setattr(abandoning, "_settle", settle)
    if (archive / METADIR / "move-journal.json").exists():
        abandon(archive)
    events = [e for e in AuditLog(archive).events() if e.get("event") == "move_abandoned"]
    said = {item["path"] for event in events for item in event["removed"]}
    assert f"{NEW}.jpg" in said, events


def edited(archive: Path, journal: dict[str, Any], moves: list[dict[str, Any]]) -> None:
    """The journal refused (its patient given a blank), naming ``moves``."""
    path = archive / METADIR / "move-journal.json"
    path.write_text(json.dumps({**journal, "to": " ZAA0067", "moves": moves}))


def test_a_copy_with_a_second_link_of_its_own_is_not_a_second_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutation round's find (the same-file check dropped, mutant A1): the copy the
    journal names (the photo's bytes, another file) had one link, so the link count alone
    kept it. With a hard link of its own elsewhere it is still not the catalogued photo:
    left and listed, never removed."""
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    copy = archive / "ZAA0067" / "copy.jpg"
    shutil.copy2(archive / f"{SHOT}.jpg", copy)
    os.link(copy, tmp_path / "its-own-link.jpg")
    edited(
        archive, journal, [*journal["moves"], {**journal["moves"][0], "new": "ZAA0067/copy.jpg"}]
    )
    code, document, err = abandon(archive)
    assert code == 3, err
    kept = {item["path"]: item["reason"] for item in document["kept"]}
    assert "not the same file" in kept["ZAA0067/copy.jpg"], kept
    assert copy.is_file() and (tmp_path / "its-own-link.jpg").is_file()
    assert f"{NEW}.jpg" in [item["path"] for item in document["removed"]]


@pytest.mark.parametrize("which", ["photo", "sidecar"])
def test_a_renamed_name_is_put_back_only_as_the_catalogued_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    """A mutation round's find (mutants A10, A11): on a file system without hard links the
    move renamed each file; a name the journal gives is put back under the catalogued name
    only where it is that file: the photo's catalogued content, cardingest's own keywords
    sidecar. Another file there (other bytes, a sidecar another tool wrote) stays where it
    is, and the catalogued name stays free."""
    archive, _backup = archived_shot(tmp_path)
    refused(archive, stopped_move(archive, monkeypatch, "before refiling", links=False))
    suffix = {"photo": ".jpg", "sidecar": ".xmp"}[which]
    stranger = archive / f"{NEW}{suffix}"
    assert stranger.is_file() and not (archive / f"{SHOT}{suffix}").exists()
    stranger.write_bytes(b"<x:xmpmeta>another tool's</x:xmpmeta>" if which == "sidecar" else
                         (archive / OTHER).read_bytes())  # fmt: skip
    before = stranger.read_bytes()
    code, document, err = abandon(archive)
    assert code == 3, err
    assert f"{NEW}{suffix}" not in [item["path"] for item in document["restored"]], document
    assert stranger.read_bytes() == before and not (archive / f"{SHOT}{suffix}").exists()
    assert any(item["path"].endswith(f"{NEW}{suffix}") for item in document["kept"]), document


def test_a_sidecar_whose_photo_is_left_beside_it_stays_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutation round's find (mutant A13): the new name of the photo is another file now
    (left and listed), so the keywords sidecar beside it, though a second name of the
    catalogued sidecar, stays with that file."""
    archive, _backup = archived_shot(tmp_path)
    refused(archive, stopped_move(archive, monkeypatch, "before refiling"))
    left = archive / f"{NEW}.jpg"
    left.unlink()
    shutil.copy2(archive / f"{SHOT}.jpg", left)
    code, document, err = abandon(archive)
    assert code == 3, err
    kept = {Path(item["path"]).name: item["reason"] for item in document["kept"]}
    assert "left beside it" in kept[f"{Path(NEW).name}.xmp"], kept
    assert (archive / f"{NEW}.xmp").is_file() and left.is_file()
    assert f"{NEW}.tif" in [item["path"] for item in document["removed"]]


def test_a_backup_folder_away_stops_the_abandon_before_anything_is_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutation round's find (mutant A20): with the backup drive away the second names
    there cannot be looked at; taking the journal away then would leave them for good, in
    no list. Nothing is changed; connected again, the abandon takes them out."""
    archive, backup = archived_shot(tmp_path)
    refused(archive, stopped_move(archive, monkeypatch, "before refiling"))
    away = backup.rename(tmp_path / "nas" / "away")
    backup.mkdir()  # the drive's mount point, empty: the drive is not connected
    code, out, err = invoke("move", "--abandon-journal", "--archive", archive)
    said = " ".join((out + err).split())
    assert code == 1 and "holds no backup now" in said, said
    assert (archive / METADIR / "move-journal.json").is_file() and (archive / f"{NEW}.jpg").exists()
    backup.rmdir()
    away.rename(backup)
    code, _document, err = abandon(archive)
    assert code == 0, err
    assert not (backup / f"{NEW}.jpg").exists() and (backup / f"{SHOT}.jpg").is_file()


@contextlib.contextmanager
def bound(folder: Path, at: Path) -> Any:
    """``folder`` bind-mounted at ``at`` (root only): one folder at two paths, one device."""
    require(os.geteuid() == 0, "a bind mount needs root")
    at.mkdir()
    done = subprocess.run(["mount", "--bind", str(folder), str(at)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    require(done.returncode == 0, f"cannot bind-mount: {done.stderr.strip()}")
    try:
        yield at
    finally:
        subprocess.run(["umount", "-l", str(at)], check=False)


def test_a_catalogued_name_reached_through_a_bind_mount_is_never_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutation round's find (mutant A2, then a bug): a folder bind-mounted in the
    archive is on the same device, so no "other mount" is seen on the way; through it a
    catalogued name is the same file, under a name the catalogue does not give. With one
    link (another patient's photo) only the link count kept it: removing it lost the photo.
    With two (the move's new name there too) the catalogued name itself was removed, and
    the photo was left under the other patient only. Neither is removed now."""
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    entry, other, shot = journal["moves"][0], Path(OTHER).name, Path(SHOT).name
    with bound(archive / "ZAA0067", archive / "ZAB0001"), \
            bound(archive / "ZAC5361", archive / "ZAB0002"):  # fmt: skip
        crafted = [{**entry, "old": OTHER, "new": f"ZAB0001/{other}"},
                   {**entry, "new": f"ZAB0002/{shot}.jpg"}]  # fmt: skip
        edited(archive, journal, crafted)
        code, document, err = abandon(archive)
    assert code == 3, err
    crafted_paths = {f"ZAB0001/{other}", f"ZAB0002/{shot}.jpg"}
    assert not crafted_paths & {item["path"] for item in document["removed"]}, document
    assert crafted_paths <= {item["path"] for item in document["kept"]}, document
    assert (archive / OTHER).is_file() and (archive / f"{SHOT}.jpg").is_file()


def test_a_name_on_another_mount_is_never_put_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutation round's find (mutant A3b: the other-mount check on the way dropped): a
    file with the photo's bytes on a tmpfs mounted in the archive is outside it, and left;
    taken for the renamed photo, its putting back failed across the mount and stopped the
    abandon for good, the photo's own new name never put back."""
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling", links=False)
    entry = journal["moves"][0]
    folder = archive / "ZAB0001"
    folder.mkdir()
    with tmpfs_on(folder, 8):
        shutil.copy2(archive / entry["new"], folder / "x.jpg")
        edited(archive, journal, [{**entry, "new": "ZAB0001/x.jpg"}, *journal["moves"]])
        code, document, err = abandon(archive)
        assert (folder / "x.jpg").is_file()
    assert code == 3, err
    kept = {item["path"]: item["reason"] for item in document["kept"]}
    assert "outside the archive" in kept["ZAB0001/x.jpg"], kept
    assert entry["new"] in [item["path"] for item in document["restored"]], document
    assert (archive / f"{SHOT}.jpg").is_file()


# A seventh mutation round (abandon.py, mutants C1-C38): each test below fails on the
# mutant named in its docstring and passes on the code.


def test_a_journal_refused_only_for_a_file_in_the_way_is_abandoned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutant C1 (a file in the way of a link not taken for a refusal): the journal as the
    move wrote it, but another file put at a new name since. The move refuses to carry it
    out, so the abandon takes it: that file is left and listed, the rest removed."""
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    stranger = archive / f"{NEW}.jpg"
    stranger.unlink()
    stranger.write_bytes((archive / OTHER).read_bytes())
    code, document, err = abandon(archive)
    assert code == 3, err
    assert "exists with other content" in document["refused"], document
    kept = {item["path"]: item["reason"] for item in document["kept"]}
    assert "not the same file" in kept[f"{NEW}.jpg"], kept
    assert stranger.read_bytes() == (archive / OTHER).read_bytes()
    assert (archive / f"{SHOT}.jpg").is_file()
    assert f"{NEW}.tif" in [item["path"] for item in document["removed"]]
    assert document["move_id"] == journal["move_id"]
    assert not (archive / METADIR / "move-journal.json").exists()


def test_a_journal_with_a_crooked_sidecar_entry_is_abandoned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutant C4 (a sidecar entry of any length taken as a pair): a journal with a sidecar
    entry of three names stopped the pairing with a ValueError, a traceback. Refused, its
    move's own second names still go."""
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    crooked = {**journal, "sidecars": [*journal["sidecars"], ["a.xmp", "b.xmp", "c.xmp"]]}
    (archive / METADIR / "move-journal.json").write_text(json.dumps(crooked))
    code, document, err = abandon_script(archive)
    assert code == 0, err
    assert "a sidecar entry is not one" in document["refused"], document
    assert {f"{NEW}.jpg", f"{NEW}.tif"} <= {item["path"] for item in document["removed"]}
    assert (archive / f"{SHOT}.jpg").is_file() and not (archive / f"{NEW}.jpg").exists()


@pytest.mark.parametrize("text", ["[]", '"a move"', "null"])
def test_a_journal_that_is_json_but_no_object_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """Mutant C3 (a journal that reads as JSON but is no object taken as one): the
    abandon stopped with an AttributeError. It names no file: kept, listed, exit 3."""
    archive, _backup = archived_shot(tmp_path)
    stopped_move(archive, monkeypatch, "before refiling")
    (archive / METADIR / "move-journal.json").write_text(text)
    code, document, err = abandon_script(archive)
    assert code == 3, err
    assert document["removed"] == [] and (archive / f"{NEW}.jpg").is_file()
    assert [item["path"] for item in document["kept"]] == [document["journal"]]
    assert Path(document["journal"]).read_text() == text


def test_a_copy_of_one_photo_is_never_put_back_as_the_other_an_entry_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutant C9 (an entry naming two catalogued photos given the first one's digest): a
    file in the backup folder with ZAA0067's photo's bytes, named by an entry that names
    ZAA0067's photo and ZAC5361's, whose backup copy is missing, was "put back" as
    ZAC5361's backup copy: another patient's photo under ZAC5361's name. It is left."""
    archive, backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    theirs = backup / OTHER
    stranger = backup / "ZAC5361" / "x.jpg"
    shutil.copy2(theirs, stranger)
    (backup / f"{SHOT}.jpg").unlink()  # its second name, the move's new one, is there still
    crafted = {"old": OTHER, "new": f"{SHOT}.jpg", "new_backup": str(stranger)}
    edited(archive, journal, [crafted, *journal["moves"]])
    code, document, err = abandon(archive)
    assert code == 3, err
    assert str(stranger) not in [item["path"] for item in document["restored"]], document
    kept = {item["path"]: item["reason"] for item in document["kept"]}
    assert "not the same file" in kept[str(stranger)], kept
    assert stranger.read_bytes() == theirs.read_bytes()
    # The move's own new name is put back instead: the photo's own bytes.
    assert (backup / f"{SHOT}.jpg").read_bytes() == (archive / f"{SHOT}.jpg").read_bytes()


def test_a_name_paired_with_no_catalogued_file_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutant C15 (that case dropped): an entry naming two files the catalogue does not
    know was said "outside the archive", which it is not."""
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    shutil.copy2(archive / OTHER, archive / "ZAA0067" / "b.jpg")
    crafted = {"old": "ZAA0067/a.jpg", "new": "ZAA0067/b.jpg"}
    edited(archive, journal, [*journal["moves"], crafted])
    code, document, err = abandon(archive)
    assert code == 3, err
    kept = {item["path"]: item["reason"] for item in document["kept"]}
    assert kept == {"ZAA0067/b.jpg": "the journal pairs it with no file the catalogue names"}
    assert (archive / "ZAA0067" / "b.jpg").is_file()


def test_a_renamed_photo_is_never_put_back_through_a_link_out_of_the_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutant C16 (the catalogued name put back to without its own check): on a file system
    without hard links the move renamed the photos; the old patient's folder then replaced
    by a link to a folder outside. Putting back through it took the photos out of the
    archive. They stay under their new names, listed."""
    archive, _backup = archived_shot(tmp_path)
    refused(archive, stopped_move(archive, monkeypatch, "before refiling", links=False))
    outside = tmp_path / "outside" / "ZAC5361"
    outside.mkdir(parents=True)
    if (archive / "ZAC5361").exists():
        os.rename(archive / "ZAC5361", tmp_path / "outside" / "emptied")
    os.symlink(outside, archive / "ZAC5361")
    code, document, err = abandon(archive)
    assert code == 3, err
    assert not [item for item in document["restored"] if not item["path"].startswith("/")]
    assert list(outside.iterdir()) == []
    for ext in ("jpg", "tif", "xmp"):
        assert (archive / f"{NEW}.{ext}").is_file()
    kept = {item["path"] for item in document["kept"]}
    assert {f"{NEW}.jpg", f"{NEW}.tif"} <= kept, document


def test_a_renamed_sidecar_stays_with_a_file_left_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutant C19 (a renamed sidecar put back though a file of its name is beside it):
    without hard links, the photo's new name holding another file now (left), its keyword
    sidecar, cardingest's own, stays with that file: not put back."""
    archive, _backup = archived_shot(tmp_path)
    refused(archive, stopped_move(archive, monkeypatch, "before refiling", links=False))
    left = archive / f"{NEW}.jpg"
    left.write_bytes((archive / OTHER).read_bytes())
    code, document, err = abandon(archive)
    assert code == 3, err
    restored = [item["path"] for item in document["restored"]]
    assert f"{NEW}.tif" in restored and str(archive / f"{NEW}.xmp") not in restored, document
    assert (archive / f"{NEW}.xmp").is_file() and not (archive / f"{SHOT}.xmp").exists()
    assert str(archive / f"{NEW}.xmp") in [item["path"] for item in document["kept"]]


@pytest.mark.parametrize("move_id", ["../../../escaped", 20240501, "20240501T100000Z-abcdef/x"])
def test_a_journal_whose_move_id_is_no_id_is_kept_under_the_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, move_id: object
) -> None:
    """Mutants C21 (any move_id taken as the kept journal's name) and C27 (a move_id of
    any type kept): a ``move_id`` edited to a path took the journal out of the archive, and
    a number stopped the abandon with a TypeError. Kept in abandoned-moves, under the
    time."""
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    refused(archive, {**journal, "move_id": move_id})
    code, document, err = abandon_script(archive)
    assert code == 0, err
    kept = Path(document["journal"])
    assert kept.parent == archive / METADIR / "abandoned-moves"
    assert kept.name.endswith("-abandoned.json") and kept.is_file(), kept
    assert json.loads(kept.read_text())["move_id"] == move_id
    assert not (tmp_path / "escaped.json").exists()
    assert document["removed"]


def test_an_edited_journal_is_kept_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant C24 (the kept journal's mode not set): a journal an editor wrote again takes
    the umask's 0644; kept with it, the `verify` the abandon asks for failed on it as
    exposed."""
    archive, _backup = archived_shot(tmp_path)
    refused(archive, stopped_move(archive, monkeypatch, "before refiling"))
    (archive / METADIR / "move-journal.json").chmod(0o644)
    code, document, err = abandon(archive)
    assert code == 0, err
    assert Path(document["journal"]).stat().st_mode & 0o077 == 0
    code, out, err = invoke("verify", "--archive", archive)
    assert code == 0 and "exposed" not in out + err, out + err


def test_a_journal_linked_to_another_file_leaves_that_files_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutant C23 (any journal's mode set): the journal's name a hard link of a file
    elsewhere (anyone who may write .cardingest can make one). Making the kept journal
    private changed that other file's mode: not cardingest's to change."""
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    theirs = tmp_path / "theirs.json"
    theirs.write_text(json.dumps({**journal, "to": " ZAA0067"}))
    theirs.chmod(0o644)
    path = archive / METADIR / "move-journal.json"
    path.unlink()
    os.link(theirs, path)
    code, document, err = abandon(archive)
    assert code == 0, err
    assert theirs.stat().st_mode & 0o777 == 0o644
    assert os.path.samefile(document["journal"], theirs)


def test_the_started_event_names_every_candidate_before_any_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutants C28 (no ``move_abandon_started`` event) and C29 (its candidates without the
    sidecars): written before the first file is touched, it names every path the run may
    take, the keyword sidecars too, so a kill -9 mid-way leaves no removal unsaid."""
    archive, backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    refused(archive, journal)
    code, document, err = abandon(archive)
    assert code == 0, err
    events = [e for e in AuditLog(archive).events() if e.get("event", "").startswith("move_aband")]
    assert [e["event"] for e in events] == ["move_abandon_started", "move_abandoned"]
    started = events[0]
    assert started["move_id"] == journal["move_id"] and started["operator"]
    assert started["journal"] == ".cardingest/move-journal.json"
    removed = {item["path"] for item in document["removed"]}
    assert str(archive / f"{NEW}.xmp") in removed and str(backup / f"{NEW}.xmp") in removed
    assert removed <= set(started["candidates"]), started


def test_an_error_mid_abandon_stops_it_with_the_journal_kept_where_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutant C32 (the stop said as a usage error, exit 2): a second name that cannot be
    removed (its folder made immutable, which root cannot pass either) stops the abandon
    with exit 1, the journal kept where it is, and says to run it again, which finishes."""
    archive, _backup = archived_shot(tmp_path)
    refused(archive, stopped_move(archive, monkeypatch, "before refiling"))
    folder = archive / "ZAA0067"
    with immutable(folder):
        done = subprocess.run([cardingest_exe(), "move", "--abandon-journal", "--archive",
                               str(archive)], capture_output=True, text=True, check=False,
                              timeout=120)  # fmt: skip
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1 and "Traceback" not in said, said
    assert f"Abandoning {archive / METADIR / 'move-journal.json'} stopped:" in said, said
    assert "The journal is kept where it is; run the same command again." in said, said
    assert (archive / METADIR / "move-journal.json").is_file()
    assert (archive / f"{NEW}.jpg").is_file() and (archive / f"{SHOT}.jpg").is_file()
    code, document, err = abandon(archive)
    assert code == 0, err
    assert f"{NEW}.jpg" in [item["path"] for item in document["removed"]]


def test_an_audit_log_that_cannot_be_appended_to_stops_the_abandon_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log ending in a torn line refuses every append, so the abandon stops before it
    touches anything (exit 1), said. (Mutant C25, that check dropped, is equivalent: the
    ``move_abandon_started`` event is the first write and refuses the same way.)"""
    archive, backup = archived_shot(tmp_path)
    refused(archive, stopped_move(archive, monkeypatch, "before refiling"))
    with open(archive / METADIR / "audit.jsonl", "ab") as log:
        log.write(b'{"torn')

    def files() -> set[Path]:  # SQLite's own -wal and -shm files aside
        found = {*backup.rglob("*"), *(archive / METADIR).rglob("*")}
        return {p for p in found if not p.name.endswith(("-wal", "-shm"))}

    before = files()
    code, out, err = invoke("move", "--abandon-journal", "--archive", archive)
    said = " ".join((out + err).split())
    assert code == 1 and "audit.jsonl ends in an incomplete line" in said, said
    after = files()
    assert after == before, after ^ before
    assert (archive / f"{NEW}.jpg").is_file()


@pytest.mark.parametrize("field", ["sidecars", "move_id"])
def test_a_journal_short_of_a_field_is_refused_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    """A fault found in this round: a journal without its ``sidecars`` or its ``move_id``
    (every journal cardingest writes has both) passed the journal's check, and `tag` and
    `move` stopped on the missing field with a traceback, every time; without its move_id
    the abandon refused it as one cardingest can carry out. It is refused now, and the
    abandon takes it."""
    archive, _backup = archived_shot(tmp_path)
    journal = stopped_move(archive, monkeypatch, "before refiling")
    short = {key: value for key, value in journal.items() if key != field}
    (archive / METADIR / "move-journal.json").write_text(json.dumps(short))
    for command in (
        ("tag", "ZAA0067", "--site", "arm"),
        ("move", "--from", "ZAC5361", "--to", "ZAA0067"),
    ):
        done = subprocess.run([cardingest_exe(), *command, "--archive", str(archive)],
                              capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
        said = " ".join((done.stdout + done.stderr).split())
        assert done.returncode == 1 and "Traceback" not in said, said
        assert "is not as cardingest wrote it" in said, said
        assert f"cardingest move --abandon-journal --archive {archive}" in said, said
    code, document, err = abandon_script(archive)
    assert code == 0, err
    assert "is missing" in document["refused"] or "are missing" in document["refused"], document
    assert {f"{NEW}.jpg", f"{NEW}.tif"} <= {item["path"] for item in document["removed"]}
    assert (archive / f"{SHOT}.jpg").is_file() and not (archive / f"{NEW}.jpg").exists()
