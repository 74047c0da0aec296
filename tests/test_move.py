"""``cardingest move`` end to end on a real archive: what it refuses, names it picks, output.

The kill -9 cases are in the fault suite (tests/faults/test_mislabel.py, scenario 14b).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from badinput_helpers import NO_OVERRIDE, cardingest
from cardimage import require
from clinic_helpers import camera_jpeg, demo_card, ingest_demo, invoke
from exif_bytes import exif_jpeg
from PIL import Image

from cardingest.archive.lock import ArchiveLock
from cardingest.models import METADIR

FIRST = "ZAC5361/ZAC5361-20261124-091502.jpg"
SECOND = "ZAC5361/ZAC5361-20261124-091502-2.jpg"


@pytest.fixture(autouse=True)
def demo_ids(test_ids: Path) -> Path:
    """The demo card's test-range NHIs are accepted (conftest's ``test_ids``)."""
    return test_ids


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (catalogue and audit log included) with its sha256."""
    found = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if name.startswith("catalogue.sqlite-"):
                continue
            found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def rows(archive: Path) -> dict[str, str]:
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        return dict(conn.execute("SELECT archive_path, patient_id FROM files"))


def sha256sum_ok(root: Path) -> None:
    manifests = sorted((root / ".cardingest" / "manifests").glob("*.sha256"))
    assert manifests
    done = subprocess.run(
        ["sha256sum", "-c", *[str(m.relative_to(root)) for m in manifests]],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--to", "ZAA0076"], "fails its check"),
        (["--to", "../x"], "NHI"),
        (["--to", "JBX3566"], "Re-check the whole ID"),
        ([], "--to ID"),
        (["--to", "ZAA0067", "--from", "ZAC5361", FIRST], "not both"),
        (["--to", "ZAA0067", "--diagnosis", "melanoma", FIRST], "give --from too"),
        (["--to", "ZAA0067", "--from", "ZAA0067"], "the same ID"),
        (["--to", "ZAA0067", "ZAC5361/nothing.jpg"], "not an archived photo"),
        (
            ["--to", "ZAA0067", "ZAC5361"],
            "a folder, not an archived photo; to move all of a patient's photos give --from ID",
        ),
        (["--to", "ZAA0067", "--from", "ZAC5361", "--since", "24-11-2026"], "is not a date"),
        (["--to", "ZAA0067", "--from", "ZAC5361", "--diagnosis", "histiocytoma"], "no archived"),
    ],
)
def test_refused_with_exit_2_and_nothing_changed(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    _card, archive, _ = ingest_demo(tmp_path)
    before = snapshot(archive)
    code, out, err = invoke("move", *args, "--archive", archive)
    assert code == 2, err
    assert expected in err
    assert "Traceback" not in out + err
    assert snapshot(archive) == before
    code, out, _err = invoke("move", *args, "--archive", archive, "--json")
    assert code == 2
    assert json.loads(out)["error"]["exit"] == 2


def test_a_path_written_with_dot_folders_names_its_photo(tmp_path: Path) -> None:
    """A trial: `JBX3656/./x.jpg` and `MCJ1984/../JBX3656/x.jpg` were "not an archived
    photo", though archived; written plainly they are. One that leaves the archive is not."""
    _card, archive, _ = ingest_demo(tmp_path)
    folder, name = SECOND.split("/")
    code, out, err = invoke("move", f"{folder}/./{name}", "--to", "ZAA0067", "--archive", archive)
    assert code == 0, err
    assert f"{SECOND} → ZAA0067/" in out
    code, _out, err = invoke("tag", f"ZAA0067/../{FIRST}", "--site", "arm", "--archive", archive)
    assert code == 0, err
    code, _out, err = invoke("move", f"../{archive.name}/{FIRST}", "--to", "ZAA0067",
                             "--archive", archive)  # fmt: skip
    assert code == 2 and "not an archived photo" in err, err


def test_move_by_path_renames_with_the_naming_rules(tmp_path: Path) -> None:
    _card, archive, _ = ingest_demo(tmp_path)
    code, out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive, "--json")
    assert code == 0, err
    document = json.loads(out)
    (moved,) = document["moved"]
    assert (moved["old"], moved["new"]) == (SECOND, "ZAA0067/ZAA0067-20261124-091502.jpg")
    [kept] = document["warnings"]  # a script is told too (it was on the terminal only)
    assert kept.startswith("They keep their diagnosis, site and consent"), kept
    # The other photo of that second gets -2 under the new patient.
    code, out, err = invoke("move", archive / FIRST, "--to", "ZAA0067", "--archive", archive)
    assert code == 0, err
    assert f"{FIRST} → ZAA0067/ZAA0067-20261124-091502-2.jpg" in out
    assert "They keep their diagnosis, site and consent" in " ".join(out.split())
    assert rows(archive)["ZAA0067/ZAA0067-20261124-091502-2.jpg"] == "ZAA0067"
    assert (archive / "ZAA0067/ZAA0067-20261124-091502-2.xmp").is_file()
    assert not (archive / FIRST).exists() and not (archive / SECOND).exists()
    sha256sum_ok(archive)
    code, out, err = invoke("verify", "--archive", archive)
    assert code == 0, out + err
    code, out, err = invoke("audit", "--archive", archive)
    assert code == 0, out + err
    # Again: already done, said so, exit 0.
    code, out, err = invoke("move", FIRST, "--to", "ZAA0067", "--archive", archive)
    assert code == 0, err
    assert "already under ZAA0067" in out and "nothing to move" in out
    assert "They keep their" not in out


def test_a_catalogue_lost_part_way_says_the_move_is_half_done_and_finishes_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalogue's server stopped after the files were linked under the new patient:
    the message said "Nothing was copied or changed" (an outside tester's fault trial,
    `pg_ctl -m immediate stop` part way). It now says the move stopped part way and that
    the next move finishes it, which it does. (The catalogue is taken away as the rows are
    refiled, so that the move cannot be undone either, as with a server gone.)"""
    from cardingest.archive.catalogue import Catalogue
    from cardingest.errors import CatalogueError

    card, archive, _ = ingest_demo(tmp_path)
    database = archive / ".cardingest" / "catalogue.sqlite"
    away = tmp_path / "catalogue-away"

    def stopped(*_args: object, **_kwargs: object) -> None:
        database.rename(away)
        raise CatalogueError(
            "Cannot reach the catalogue database postgresql://desk@db/clinic: server closed",
            details=["Nothing was copied or changed. Check the server, the network and the URL."],
        )

    with monkeypatch.context() as patched:
        patched.setattr(Catalogue, "move_rows", stopped)
        code, _out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)
    away.rename(database)
    said = " ".join(err.split())
    assert code == 1 and "Nothing was copied or changed" not in said, said
    assert "stopped part way; nothing is lost: its journal (" in said
    assert "and the next `cardingest move` finishes it" in said
    # Until then, an ingest of the card, its preview and a wipe say so (a two-desk trial:
    # the names the move holds were called files the catalogue does not hold, no more).
    for command in (("preview", "--id", "ZAA0067"), ("wipe", "--dry-run")):
        code, out, err = invoke(*command, card, "--archive", archive, "--json")
        said = " ".join(json.loads(out)["warnings"])
        assert "of 1 file(s) to ZAA0067 was interrupted" in said, (command, said)
        assert "The next cardingest move or tag finishes it first" in said
    code, out, err = invoke("move", FIRST, "--to", "ZAA0067", "--archive", archive)
    assert code == 0, err
    assert "which had been interrupted" in " ".join((out + err).split())
    assert not (archive / SECOND).exists() and not (archive / FIRST).exists()
    assert invoke("verify", "--archive", archive)[0] == 0


def same_second_photo_filed(tmp_path: Path, archive: Path, patient: str, held: str) -> str:
    """Ingest a new card of one photo of ``patient`` taken in the second of ``SECOND``: it is
    filed, under another name than ``held``; then a `tag` of the patient finishes the
    interrupted move, and `verify` is clean. Returns the photo's archive path."""
    card = tmp_path / "second-card"
    folder = card / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    (folder / "IMG_0100.JPG").write_bytes(exif_jpeg("2026:11:24 09:15:02"))
    code, out, err = invoke("ingest", card, "--id", patient, "--archive", archive, "--json")
    assert code == 0, err
    [item] = json.loads(out)["items"]
    assert item["target"] not in (held, None), item
    code, out, err = invoke("tag", patient, "--diagnosis", "bcc", "--archive", archive)
    assert code == 0, out + err
    assert "which had been interrupted" in " ".join(err.split())
    assert invoke("verify", "--archive", archive)[0] == 0
    return str(item["target"])


def test_an_ingest_beside_an_interrupted_move_leaves_it_the_names_it_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutation round's find: a move killed after its journal was written, before it
    linked the photo under its new name; an ingest then filed a new photo of the patient it
    goes to, taken in the same second, under that very name, and every later `move` and
    `tag` stopped on it ("exists with other content … the next cardingest move finishes
    it"), which no rerun could mend. The names an interrupted move holds are taken for the
    planner: the new photo gets the next free name, and the next move finishes the old."""
    _card, archive, _ = ingest_demo(tmp_path)
    journal = _killed_before_linking(archive, monkeypatch, SECOND, "--to", "ZAA0067")
    held = journal["moves"][0]["new"]
    assert held == "ZAA0067/ZAA0067-20261124-091502.jpg" and not (archive / held).exists()
    filed = same_second_photo_filed(tmp_path, archive, "ZAA0067", held)
    assert rows(archive)[held] == "ZAA0067" and rows(archive)[filed] == "ZAA0067"


def test_an_ingest_beside_a_move_stopped_after_its_unlinks_leaves_it_the_old_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second reader's find: a move stopped after its rows were refiled and the old names
    unlinked (its sidecar's unlink failed), journal kept; an ingest of a new photo of the
    patient the move came from, from the same second, took the old name, and every later
    `move` and `tag` stopped on it. The old names the journal holds are taken too."""
    from cardingest import move as moving

    _card, archive, _ = ingest_demo(tmp_path)
    real = moving._unlink_old

    def sidecar_fails(old: Path, new: Path) -> None:
        if old.suffix == ".xmp":
            raise OSError(errno.EIO, "Input/output error")
        real(old, new)

    with monkeypatch.context() as patched:
        patched.setattr(moving, "_unlink_old", sidecar_fails)
        code, _out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)
    assert code == 1, err
    assert (archive / METADIR / "move-journal.json").exists() and not (archive / SECOND).exists()
    same_second_photo_filed(tmp_path, archive, "ZAC5361", SECOND)


def test_from_refuses_photos_filed_after_it_was_given(tmp_path: Path) -> None:
    """A two-desk trial: `move --from JBX3656 --since … --until …` given while the other
    desk filed JBX3656's photos waited for the archive, then moved those too, unseen. The
    photos `--from` matches that were filed after the command was given are refused,
    nothing moved; given again (now), it takes them in."""
    from cardingest.errors import UsageError
    from cardingest.move import MoveRequest, move

    _card, archive, _ = ingest_demo(tmp_path)
    before = snapshot(tmp_path)
    earlier = MoveRequest(to="ZAA0067", from_id="ZAC5361", typed_at="2000-01-01T00:00:00+00:00")
    with ArchiveLock(archive, "move"), pytest.raises(UsageError) as refused:
        move(archive, earlier, operator="nurse")
    said = " ".join([refused.value.message, *refused.value.details])
    assert "--from ZAC5361: 3 of the photos it matches were filed after this move was" in said
    assert snapshot(tmp_path) == before
    now = MoveRequest(to="ZAA0067", from_id="ZAC5361", typed_at=datetime.now(UTC).isoformat())
    with ArchiveLock(archive, "move"):
        assert len(move(archive, now, operator="nurse").moved) == 3


def test_a_backup_copy_recorded_in_other_folders_is_refused(tmp_path: Path) -> None:
    """The backup folder is the backup copy's path less the archive path's folders; a
    record whose backup copy lies in other folders (another patient's, by hand) gives no
    backup folder to move it in, and the move is refused with nothing changed, rather
    than a backup copy moved to wherever that path leads."""
    backup = tmp_path / "nas" / "backup"
    backup.parent.mkdir()
    _card, archive, _ = ingest_demo(tmp_path, "--backup", str(backup))
    database = archive / ".cardingest" / "catalogue.sqlite"
    elsewhere = backup / "ZAA0067" / Path(SECOND).name
    shutil.copy2(backup / SECOND, elsewhere)
    with sqlite3.connect(database) as conn:
        conn.execute(
            "UPDATE files SET backup_path = ? WHERE archive_path = ?", (str(elsewhere), SECOND)
        )
    before = snapshot(tmp_path)
    code, _out, err = invoke("move", SECOND, "--to", "MCJ1984", "--archive", archive)
    said = " ".join(err.split())
    assert code != 0 and f"The backup copy {elsewhere} of {SECOND} is not in the same" in said
    assert snapshot(tmp_path) == before


def test_a_move_stopped_before_its_rows_are_refiled_is_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: a move stopped before it took effect (Ctrl-C on seeing the wrong --to, a
    refusal, a write that failed) left its journal, and the next `tag` of any patient
    carried it out. Stopped before the rows are refiled, it is taken back: the new names
    and the journal go, nothing is moved, and a later command moves nothing."""
    from cardingest.archive.catalogue import Catalogue

    _card, archive, _ = ingest_demo(tmp_path)
    before = rows(archive)
    tree = sorted(p.relative_to(archive) for p in archive.rglob("*") if METADIR not in p.parts)

    for stop in (KeyboardInterrupt(), OSError(errno.EIO, "Input/output error")):

        def stopped(*_args: object, _stop: BaseException = stop, **_kwargs: object) -> None:
            raise _stop

        with monkeypatch.context() as patched:
            patched.setattr(Catalogue, "move_rows", stopped)
            code, _out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)
        said = " ".join(err.split())
        assert code == (130 if isinstance(stop, KeyboardInterrupt) else 1), said
        assert "undone" in said and "nothing was moved" in said, said
        assert "finish" not in said, said  # not "run the same move again to finish it"
        assert not (archive / METADIR / "move-journal.json").exists()
        assert rows(archive) == before
        assert (
            sorted(p.relative_to(archive) for p in archive.rglob("*") if METADIR not in p.parts)
            == tree
        )
    code, out, err = invoke("tag", "ZAC5361", "--diagnosis", "bcc", "--archive", archive)
    assert code == 0 and "interrupted" not in out + err, out + err
    assert rows(archive) == before and invoke("verify", "--archive", archive)[0] == 0


def test_a_target_folder_that_is_a_link_is_refused_and_the_move_finishes_later(
    tmp_path: Path,
) -> None:
    """The new patient's folder is a symbolic link (here onto the card): moved there, the
    only copy would leave the archive. Nothing is moved; with the link gone, the same
    move finishes it."""
    card, archive, _ = ingest_demo(tmp_path)
    target = archive / "ZZZ0016"
    elsewhere = card / "ELSEWHERE"
    elsewhere.mkdir()
    target.symlink_to(elsewhere)
    before = rows(archive)
    code, _out, err = invoke("move", SECOND, "--to", "ZZZ0016", "--archive", archive)
    assert code == 1
    assert f"{target} is a symbolic link, not a folder of {archive}. Nothing was moved" in err
    assert list(elsewhere.iterdir()) == [] and (archive / SECOND).is_file()
    assert rows(archive) == before
    target.unlink()
    code, _out, err = invoke("move", SECOND, "--to", "ZZZ0016", "--archive", archive)
    assert code == 0, err
    assert not (archive / SECOND).exists() and target.is_dir() and not target.is_symlink()
    assert invoke("verify", "--archive", archive)[0] == 0


def test_two_shots_of_one_second_keep_their_order_under_the_new_patient(
    tmp_path: Path,
) -> None:
    """The ingest names IMG_0001 with the base name and IMG_0002 ``-2`` (card order); the
    move gives the same order, not the archive names' (``-2.jpg`` sorts before ``.jpg``)."""
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    when = datetime(2024, 5, 1, 10, 0, 0)
    camera_jpeg(folder / "IMG_0001.JPG", when, colour=(10, 20, 30))
    camera_jpeg(folder / "IMG_0002.JPG", when, colour=(30, 20, 10))
    archive = tmp_path / "archive"
    code, _out, err = invoke("ingest", tmp_path / "card", "--id", "ZAC5361", "--archive", archive)
    assert code == 0, err
    before = {source: path.rpartition("/")[2] for path, source in sources(archive).items()}
    assert before == {
        "DCIM/100CANON/IMG_0001.JPG": "ZAC5361-20240501-100000.jpg",
        "DCIM/100CANON/IMG_0002.JPG": "ZAC5361-20240501-100000-2.jpg",
    }
    code, out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", "--archive", archive)
    assert code == 0, err
    assert "keyword sidecar" not in out
    after = {source: path.rpartition("/")[2] for path, source in sources(archive).items()}
    assert after == {
        "DCIM/100CANON/IMG_0001.JPG": "ZAA0067-20240501-100000.jpg",
        "DCIM/100CANON/IMG_0002.JPG": "ZAA0067-20240501-100000-2.jpg",
    }


def test_a_shot_of_a_jpeg_and_a_raw_moves_its_keyword_sidecar_once(tmp_path: Path) -> None:
    """IMG_0001.JPG and IMG_0001.TIF share one keyword sidecar (NAME.xmp): moved once,
    counted once, in the audit event once."""
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    when = datetime(2024, 5, 1, 10, 0, 0)
    camera_jpeg(folder / "IMG_0001.JPG", when)
    twin = camera_jpeg(tmp_path / "twin.jpg", when, colour=(1, 2, 3))
    with Image.open(twin) as image:  # its RAW twin, in short: a TIFF, as most RAW files are
        image.save(folder / "IMG_0001.TIF", format="TIFF", exif=image.getexif())
    mapping = tmp_path / "map.csv"
    mapping.write_text("files,id,diagnosis\nIMG_0001,ZAC5361,melanoma\n", encoding="utf-8")
    archive = tmp_path / "archive"
    code, _out, err = invoke("ingest", tmp_path / "card", "--map", mapping, "--archive", archive)
    assert code == 0, err
    code, out, err = invoke(
        "move", "--from", "ZAC5361", "--to", "ZAA0067", "--archive", archive, "--json"
    )
    assert code == 0, err
    assert len(json.loads(out)["sidecars"]) == 1
    assert sorted(p.name for p in (archive / "ZAA0067").iterdir()) == [
        "ZAA0067-20240501-100000.jpg", "ZAA0067-20240501-100000.tif", "ZAA0067-20240501-100000.xmp",
    ]  # fmt: skip


def sources(archive: Path) -> dict[str, str]:
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        return dict(conn.execute("SELECT archive_path, source_path FROM files"))


def test_a_file_on_disk_not_in_the_catalogue_is_never_overwritten(tmp_path: Path) -> None:
    _card, archive, _ = ingest_demo(tmp_path)
    squatter = archive / "ZAA0067" / "ZAA0067-20261124-091502.jpg"
    squatter.write_bytes(b"someone else's file")
    code, out, err = invoke("move", FIRST, "--to", "ZAA0067", "--archive", archive, "--json")
    assert code == 0, err
    assert json.loads(out)["moved"][0]["new"] == "ZAA0067/ZAA0067-20261124-091502-2.jpg"
    assert squatter.read_bytes() == b"someone else's file"


def test_same_content_already_under_the_target_is_refused(tmp_path: Path) -> None:
    card, archive, _ = ingest_demo(tmp_path)
    code, _out, err = invoke(
        "ingest", card, "--id", "ZAA0067", "--archive", archive, "--allow-other-patient"
    )
    assert code == 0, err
    before = snapshot(archive)
    code, _out, err = invoke("move", FIRST, "--to", "ZAA0067", "--archive", archive)
    assert code == 2
    assert "already archived under ZAA0067" in err
    assert snapshot(archive) == before


def test_a_missing_backup_copy_stops_the_move(tmp_path: Path) -> None:
    card, map_file = demo_card(tmp_path)
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    code, _out, err = invoke(
        "ingest", card, "--map", map_file, "--archive", archive, "--backup", backup
    )
    assert code == 3, err
    kept = (backup / FIRST).read_bytes()
    (backup / FIRST).unlink()
    before = snapshot(archive)
    code, _out, err = invoke("move", FIRST, "--to", "ZAA0067", "--archive", archive)
    assert code == 2
    said = " ".join(err.split())
    assert "backup copy" in said and "is missing, though the backup drive is there" in said
    assert "Ingest its card again" in said
    assert snapshot(archive) == before
    backup.rename(tmp_path / "unplugged")  # the drive itself gone: the other question
    code, _out, err = invoke("move", FIRST, "--to", "ZAA0067", "--archive", archive)
    assert code == 2 and "(is the backup drive connected?)" in " ".join(err.split())
    (tmp_path / "unplugged").rename(backup)
    code, _out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)
    assert code == 0, err
    assert (backup / "ZAA0067/ZAA0067-20261124-091502.jpg").is_file()
    assert (backup / "ZAA0067/ZAA0067-20261124-091502.xmp").is_file()
    assert not (backup / SECOND).exists()
    (backup / FIRST).write_bytes(kept)  # put back by hand, as the README says
    sha256sum_ok(archive)
    sha256sum_ok(backup)


def test_a_backup_copy_another_archive_shares_stays_under_its_old_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two archives share one backup folder (the README allows it) and both ingested the
    same card: their catalogues name one backup file (the second ingest found it identical
    and kept it, before a shot's backup copies took a free stem of their own). A move in one
    took it from the other, whose verify then called it missing, its card wiped (an outside
    tester's fault trial). It stays under its old name too when another archive's manifest
    in the backup lists it."""
    from cardingest.archive.backupstems import BackupStems

    card, map_file = demo_card(tmp_path)
    one, two, backup = tmp_path / "one", tmp_path / "two", tmp_path / "backup"
    with monkeypatch.context() as patched:  # each copy from its own name on, as then
        patched.setattr(BackupStems, "first", lambda self, target: 1)
        for archive in (one, two):
            code, _out, err = invoke(
                "ingest", card, "--map", map_file, "--archive", archive, "--backup", backup
            )
            assert code == 3, err
    assert len({os.stat(backup / SECOND).st_ino, os.stat(two / SECOND).st_ino}) == 2
    code, _out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", one)
    assert code == 0, err
    assert (backup / "ZAA0067/ZAA0067-20261124-091502.jpg").is_file()
    assert (backup / SECOND).is_file()  # the other archive's backup copy
    for archive in (one, two):
        code, out, err = invoke("verify", "--archive", archive)
        assert code == 0, out + err
    sha256sum_ok(backup)


def test_the_same_card_in_two_archives_sharing_a_backup_gets_a_backup_copy_in_each(
    tmp_path: Path,
) -> None:
    """Two archives share one backup folder and both ingest the same card. The second's
    copies found the first's identical and kept them: one backup file, and one keywords
    sidecar beside it, for two catalogues; a `tag` in the second wrote its keywords into
    the first's sidecar, whose verify then called it not as catalogued. Each shot's backup
    copies now take a stem no other file there is named as (`-3` here: `-2` is the card's
    second photo of that second), so each archive's sidecar is its own."""
    card, map_file = demo_card(tmp_path)
    one, two, backup = tmp_path / "one", tmp_path / "two", tmp_path / "backup"
    for archive in (one, two):
        code, _out, err = invoke(
            "ingest", card, "--map", map_file, "--archive", archive, "--backup", backup
        )
        assert code == 3, err
    code, _out, err = invoke("tag", SECOND, "--diagnosis", "dermatofibroma", "--archive", two)
    assert code == 0, err
    for archive in (one, two):
        code, out, err = invoke("verify", "--archive", archive)
        assert code == 0, out + err
    assert "dermatofibroma" in (backup / SECOND.replace(".jpg", "-2.xmp")).read_text()
    assert "dermatofibroma" not in (backup / SECOND).with_suffix(".xmp").read_text()
    assert (backup / FIRST.replace(".jpg", "-3.jpg")).read_bytes() == (backup / FIRST).read_bytes()
    sha256sum_ok(backup)


def test_a_locked_archive_is_exit_1(tmp_path: Path) -> None:
    _card, archive, _ = ingest_demo(tmp_path)
    before = snapshot(archive)
    with ArchiveLock(archive, "ingest"):
        code, _out, err = invoke("move", FIRST, "--to", "ZAA0067", "--archive", archive)
    assert code == 1
    assert "Another cardingest" in err
    assert "Run the same command again once it has finished." in " ".join(err.split())
    after = snapshot(archive)
    after.pop(".cardingest/lock", None)
    before.pop(".cardingest/lock", None)
    assert after == before


def test_from_with_dates_moves_only_those_days(tmp_path: Path) -> None:
    _card, archive, _ = ingest_demo(tmp_path)
    code, out, err = invoke(
        "move", "--from", "ZAC5361", "--since", "2026-11-25", "--to", "ZAA0067",
        "--archive", archive, "--json",
    )  # fmt: skip
    assert code == 2 and "no archived photos match" in err
    code, out, err = invoke(
        "move", "--from", "ZAC5361", "--since", "2026-11-24", "--until", "2026-11-24",
        "--to", "ZAA0067", "--archive", archive, "--json",
    )  # fmt: skip
    assert code == 0, err
    assert len(json.loads(out)["moved"]) == 3
    assert set(rows(archive).values()) == {"ZAA0067"}
    assert not (archive / "ZAC5361").exists()
    events = [json.loads(line) for line in (archive / ".cardingest/audit.jsonl").open()]
    (event,) = [e for e in events if e["event"] == "move"]
    assert {m["old"] for m in event["moves"]} == {
        FIRST,
        SECOND,
        "ZAC5361/ZAC5361-20261124-091640.jpg",
    }
    assert all(m["from"] == "ZAC5361" and m["new"].startswith("ZAA0067/") for m in event["moves"])
    code, out, err = invoke(
        "move", "--from", "ZAA0067", "--since", "0001-01-01", "--until", "9999-12-31",
        "--to", "ZAC5361", "--archive", archive, "--json",
    )  # fmt: skip
    assert code == 0, err  # the last day a date can have, which has no next day
    assert len(json.loads(out)["moved"]) == 5


def test_from_repeated_after_it_finished_says_already_moved(tmp_path: Path) -> None:
    """A script runs `move --from A --to B` twice: the second run finds nothing of A, but the
    audit log shows A's photos moved to B, so it says "already moved" and exits 0. A --from
    that never had photos (a typo), or a patient moved elsewhere, is still exit 2."""
    _card, archive, _ = ingest_demo(tmp_path)
    argv = ("move", "--from", "ZAC5361", "--to", "ZAA0105", "--archive", archive)
    code, out, err = invoke(*argv, "--json")
    assert code == 0, err
    first = json.loads(out)
    assert len(first["moved"]) == 3
    before = snapshot(archive)
    code, out, err = invoke(*argv)
    assert code == 0, err
    assert f"already moved: 3 file(s) of ZAC5361 to ZAA0105 by move(s) {first['move_id']}" in out
    code, out, err = invoke(*argv, "--json")
    assert code == 0, err
    again = json.loads(out)
    assert again["moved"] == [] and again["earlier_moves"] == [first["move_id"]]
    assert {(a["path"], a["now"]) for a in again["already"]} == {
        (m["old"], m["new"]) for m in first["moved"]
    }
    # The filters of the first run narrow the answer the same way.
    code, out, err = invoke(*argv, "--diagnosis", "melanoma")
    assert code == 0 and "already moved: 3 file(s)" in out, err
    assert snapshot(archive) == before
    # Asked to move them somewhere else: they were moved, but not there.
    code, out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0113", "--archive", archive)
    assert code == 2
    assert "the audit log records 3 file(s) of ZAC5361 moved to ZAA0105" in err
    # A typo: never archived, never moved.
    code, out, err = invoke("move", "--from", "ZAA0121", "--to", "ZAA0105", "--archive", archive)
    assert code == 2
    assert "nothing was ever archived under ZAA0121" in err and "Check the ID" in err
    assert snapshot(archive) == before


def test_a_slate_stays_with_its_patient(tmp_path: Path) -> None:
    """A slate shows the label of the patient it is filed under: moved, it put that NHI in
    another patient's folder (it moved with its "-slate" tail before)."""
    _card, archive, _ = ingest_demo(tmp_path)
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        conn.execute("UPDATE files SET role = 'slate' WHERE archive_path = ?", (FIRST,))
    before = rows(archive)
    code, _out, err = invoke("move", FIRST, "--to", "ZAA0067", "--archive", archive, "--json")
    assert code == 2 and f"{FIRST} is the slate of ZAC5361" in err, err
    assert rows(archive) == before
    sha256sum_ok(archive)


def test_a_blank_diagnosis_filter_or_a_name_not_utf8_moves_nothing(tmp_path: Path) -> None:
    """A trial: `move --from A --diagnosis "$DX" --to B` with DX unset moved every photo of
    A (the empty filter was dropped); a path or filter of bytes that are not UTF-8 ended in
    a traceback. Each is exit 2 now, and nothing moves."""
    _card, archive, _ = ingest_demo(tmp_path)
    before = rows(archive)
    for blank in ("", "   "):
        code, _out, err = invoke("move", "--from", "ZAC5361", "--diagnosis", blank, "--to",
                                 "ZAA0067", "--archive", archive)  # fmt: skip
        assert code == 2 and "--diagnosis is empty" in err, err
    home = tmp_path / "home"
    env = {"CARDINGEST_CONFIG": os.environ["CARDINGEST_CONFIG"]}  # test-range IDs
    for args in (
        [b"\xff\xfe.jpg"],
        ["--from", "ZAC5361", "--diagnosis", b"\xff"],
    ):
        run = cardingest("move", *args, "--to", "ZAA0067", "--archive", archive, home=home,
                         env=env)  # fmt: skip
        assert run.code == 2 and "not UTF-8" in run.stderr, run.stderr
    run = cardingest("tag", b"ZAC5361/\xff.jpg", "--diagnosis", "bcc", "--archive", archive,
                     home=home, env=env)  # fmt: skip
    assert run.code == 2 and "not UTF-8" in run.stderr, run.stderr
    assert rows(archive) == before


def test_a_path_move_run_again_after_its_name_was_given_to_a_new_photo_moves_nothing(
    tmp_path: Path,
) -> None:
    """A trial: a move frees a name; a later ingest's photo of the same second takes it; the
    same command run again (from the shell's history) moved the new photo too. It is refused
    now, with the way to move it if it belongs there too."""
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    when = datetime(2024, 5, 1, 10, 0, 0)
    camera_jpeg(folder / "IMG_0001.JPG", when, colour=(10, 20, 30))
    archive = tmp_path / "archive"
    ingest = ("ingest", tmp_path / "card", "--id", "ZAC5361", "--archive", archive)
    assert invoke(*ingest)[0] == 0
    name = "ZAC5361/ZAC5361-20240501-100000.jpg"
    code, out, err = invoke("move", name, "--to", "ZAA0067", "--archive", archive)
    assert code == 0, err
    (folder / "IMG_0001.JPG").unlink()
    camera_jpeg(folder / "IMG_0002.JPG", when, colour=(30, 20, 10))
    assert invoke(*ingest)[0] == 0
    assert rows(archive)[name] == "ZAC5361"  # the new photo took the freed name
    before = rows(archive)
    code, out, err = invoke("move", name, "--to", "ZAA0067", "--archive", archive)
    said = " ".join(err.split())
    assert code == 2, out + err
    moved = "ZAA0067/ZAA0067-20240501-100000.jpg"
    assert f"{name}: moved to ZAA0067 before (it is {moved} now)" in said
    assert "If this one belongs to ZAA0067 too, check it and give --again" in said
    assert rows(archive) == before
    code, out, err = invoke("move", name, "--to", "ZAA0067", "--again", "--archive", archive)
    assert code == 0, err
    assert rows(archive)[moved.replace(".jpg", "-2.jpg")] == "ZAA0067"
    assert invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", "--again", "--archive",
                  archive)[0] == 2  # fmt: skip


def test_a_copy_that_is_not_its_photo_is_not_moved(tmp_path: Path) -> None:
    """A trial: an archive copy swapped for another patient's photo, damaged, or made a link
    was moved under the new patient (exit 0), and the audit event gave the catalogue's
    checksum as the moved file's. Each is refused now, and nothing moves."""
    _card, archive, _ = ingest_demo(tmp_path)
    before = rows(archive)
    other = next(path for path in before if not path.startswith("ZAC5361/"))
    photo = archive / SECOND
    good = photo.read_bytes()
    elsewhere = tmp_path / "elsewhere.jpg"
    elsewhere.write_bytes(good)
    for bad in ("swapped", "damaged", "link"):
        photo.unlink()
        if bad == "swapped":
            shutil.copyfile(archive / other, photo)
        elif bad == "damaged":
            photo.write_bytes(good[:-10] + bytes(10))
        else:
            photo.symlink_to(elsewhere)
        code, _out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)
        said = " ".join(err.split())
        assert code == 2 and f"{SECOND}: " in said and "not the archived photo" in said, said
        assert rows(archive) == before
    photo.unlink()
    photo.write_bytes(good)
    assert invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)[0] == 0


def test_a_copy_that_cannot_be_read_is_said_so_not_called_another_photo(
    tmp_path: Path, demo_ids: Path
) -> None:
    """A trial: a copy this account may not read was "not the archived photo … ingesting its
    card again puts a damaged copy back" (exit 2), and that ingest found nothing to repair.
    It is said not to be readable (exit 1), and nothing moves."""
    require(os.geteuid() == 0 and shutil.which("setpriv") is not None, "needs root and setpriv")
    _card, archive, _ = ingest_demo(tmp_path)
    before = rows(archive)
    photo = archive / SECOND
    photo.chmod(0)
    ran = cardingest(
        "move", SECOND, "--to", "ZAA0067", "--archive", archive,
        home=tmp_path / "home", prefix=("setpriv", *NO_OVERRIDE),
        env={"CARDINGEST_CONFIG": str(demo_ids)},
    )  # fmt: skip
    said = " ".join(ran.stderr.split())
    assert ran.code == 1, said
    assert f"{SECOND}: cannot be read (Permission denied), so it is not moved" in said
    assert "not the archived photo" not in said and "damaged" not in said
    assert rows(archive) == before
    photo.chmod(0o600)
    assert invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)[0] == 0


def test_photos_moved_back_and_forth_are_counted_once(tmp_path: Path) -> None:
    """A trial: after A->B, B->A, A->B, B->A, A->B, `move --from A --to B` said "already
    moved: 12 file(s)" of 3 photos, each listed four times."""
    _card, archive, _ = ingest_demo(tmp_path)
    theirs = {path for path, patient in rows(archive).items() if patient == "ZAA0067"}
    mine = [path for path, patient in rows(archive).items() if patient == "ZAC5361"]
    for turn in range(5):
        if turn % 2:  # back: the photos that came from ZAC5361, not ZAA0067's own
            back = [p for p, who in rows(archive).items() if who == "ZAA0067" and p not in theirs]
            code, _out, err = invoke("move", *back, "--to", "ZAC5361", "--archive", archive)
        else:
            code, _out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067",
                                     "--archive", archive)  # fmt: skip
        assert code == 0, err
    code, out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", "--archive", archive,
                            "--json")  # fmt: skip
    assert code == 0, err
    assert len(json.loads(out)["already"]) == len(mine)


def test_a_second_ctrl_c_does_not_cut_the_undo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: Ctrl-C twice (or Ctrl-C then SIGTERM) cut the undo itself, left the journal
    and some new links, and the next `tag` of another patient carried the move out."""
    import signal

    from cardingest import move as move_module
    from cardingest.archive.catalogue import Catalogue

    _card, archive, _ = ingest_demo(tmp_path)
    before = rows(archive)
    tree = sorted(p.relative_to(archive) for p in archive.rglob("*") if METADIR not in p.parts)
    real = move_module.remove_empty_folders

    def second_ctrl_c(*args: Any) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # during the undo
        real(*args)

    def stopped(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(Catalogue, "move_rows", stopped)
        patched.setattr(move_module, "remove_empty_folders", second_ctrl_c)
        code, _out, err = invoke("move", "--from", "ZAC5361", "--to", "ZAA0067", "--archive",
                                 archive)  # fmt: skip
    assert code == 130 and "the move was undone" in " ".join(err.split()), err
    assert not (archive / METADIR / "move-journal.json").exists()
    assert rows(archive) == before
    assert (
        sorted(p.relative_to(archive) for p in archive.rglob("*") if METADIR not in p.parts) == tree
    )


def test_a_backup_copy_that_is_the_archive_copy_is_not_moved(tmp_path: Path) -> None:
    """A trial: a backup copy hard-linked to the archive copy (one file, not two) was moved."""
    card, map_file = demo_card(tmp_path)
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    code, _out, err = invoke("ingest", card, "--map", map_file, "--archive", archive,
                             "--backup", backup)  # fmt: skip
    assert code == 3, err
    (backup / SECOND).unlink()
    (backup / SECOND).hardlink_to(archive / SECOND)
    code, _out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)
    said = " ".join(err.split())
    assert code == 2 and "the archive copy itself" in said and "not moved" in said, said


def test_an_old_path_moved_elsewhere_before_says_where_it_is(tmp_path: Path) -> None:
    _card, archive, _ = ingest_demo(tmp_path)
    assert invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)[0] == 0
    code, _out, err = invoke("move", SECOND, "--to", "EPT6335", "--archive", archive)
    said = " ".join(err.split())
    assert code == 2 and f"{SECOND}: moved to ZAA0067 before; it is ZAA0067/" in said, said


def test_a_path_whose_moved_photo_name_was_taken_since_is_not_sent_there(tmp_path: Path) -> None:
    """The review of the re-run check: a photo moved from X to B, then moved on, and another
    photo filed since under its name in B: "it is B/… now" would name that other photo."""
    _card, archive, _ = ingest_demo(tmp_path)
    code, out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive, "--json")
    assert code == 0, err
    (moved,) = [m["new"] for m in json.loads(out)["moved"] if m["new"].endswith(".jpg")]
    assert invoke("move", moved, "--to", "EPT6335", "--archive", archive)[0] == 0
    card = tmp_path / "card2"  # another photo of that second takes the freed name
    camera_jpeg(card / "DCIM" / "100CANON" / "IMG_0100.JPG", datetime(2026, 11, 24, 9, 15, 2),
                colour=(90, 10, 200))  # fmt: skip
    assert invoke("ingest", card, "--id", "ZAA0067", "--archive", archive)[0] == 0
    assert rows(archive)[moved] == "ZAA0067"
    code, _out, err = invoke("move", SECOND, "--to", "MCJ1984", "--archive", archive)
    said = " ".join(err.split())
    assert code == 2 and f"{SECOND}: not an archived photo" in said, said


def test_a_photo_moved_away_and_given_back_by_the_map_says_it_was_moved(
    tmp_path: Path,
) -> None:
    """A trial: a photo moved from ZAC5361 to ZAA0067, then the card ingested again with the
    same (wrong) map: held, advising `--allow-other-patient`, which files it under both.
    The reason says the move did it, and how to put it right."""
    card, archive, _ = ingest_demo(tmp_path)
    code, out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive, "--json")
    assert code == 0, err
    move_id = json.loads(out)["move_id"]
    _card, map_file = demo_card(tmp_path / "again")
    code, out, err = invoke("preview", card, "--map", map_file, "--archive", archive, "--json")
    held = [i for i in json.loads(out)["items"] if i["reason"] and move_id in i["reason"]]
    assert code == 3 and len(held) == 1, out
    reason = held[0]["reason"]
    assert reason.startswith("the same photo was moved from ZAC5361 to ZAA0067 by cardingest move")
    assert "--allow-other-patient" not in reason and "Correct the map" in reason


def test_a_photo_moved_on_twice_and_given_back_by_the_map_names_the_first_move(
    tmp_path: Path,
) -> None:
    """A trial: moved ZAC5361 -> ZAA0067 -> MCJ1984, then the same map: only the last move
    was looked at, the reason advised --allow-other-patient, and following it filed the
    photo under ZAC5361 again."""
    card, archive, _ = ingest_demo(tmp_path)
    code, out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive, "--json")
    assert code == 0, err
    first = json.loads(out)
    code, _out, err = invoke(
        "move", first["moved"][0]["new"], "--to", "MCJ1984", "--archive", archive
    )
    assert code == 0, err
    _card, map_file = demo_card(tmp_path / "again")
    code, out, err = invoke("preview", card, "--map", map_file, "--archive", archive, "--json")
    held = [i for i in json.loads(out)["items"] if first["move_id"] in (i["reason"] or "")]
    assert code == 3 and len(held) == 1, out
    reason = held[0]["reason"]
    assert reason.startswith("the same photo was moved from ZAC5361 to ZAA0067 by cardingest move")
    assert "is archived as MCJ1984/" in reason and "--allow-other-patient" not in reason


def _killed_before_linking(
    archive: Path, monkeypatch: pytest.MonkeyPatch, *args: str | Path
) -> dict[str, Any]:
    """A move killed after its journal was written, before its first link (as in
    `test_an_ingest_beside_an_interrupted_move_leaves_it_the_names_it_holds`); returns the
    journal, which the next `move` or `tag` finishes."""
    from cardingest import move as moving

    def killed(old: Path, new: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patched:
        patched.setattr(moving, "_link", killed)
        patched.setattr(moving, "_undone", lambda *_args, **_kwargs: False)
        code, _out, err = invoke("move", *args, "--archive", archive)
    assert code == 1, err
    return json.loads((archive / METADIR / "move-journal.json").read_text())


def tag_refuses_the_journal(tmp_path: Path, archive: Path, edited: dict, said: str) -> None:
    """``edited`` in place of a killed move's journal: the next `tag` stops on it, exit 1,
    saying ``said``, with nothing changed anywhere below ``tmp_path``."""
    (archive / METADIR / "move-journal.json").write_text(json.dumps(edited))
    before = snapshot(tmp_path)
    code, out, err = invoke("tag", "ZAA0067", "--site", "arm", "--archive", archive)
    shown = " ".join((out + err).split())
    assert code == 1 and said in shown and "stopped part way" not in shown, shown
    assert snapshot(tmp_path) == before


def the_journal_finishes(archive: Path, written: dict) -> None:
    """The journal as the move wrote it: the next `tag` finishes the move, verify clean."""
    (archive / METADIR / "move-journal.json").write_text(json.dumps(written))
    assert invoke("tag", "ZAA0067", "--site", "arm", "--archive", archive)[0] == 0
    assert invoke("verify", "--archive", archive)[0] == 0


@pytest.mark.parametrize(
    ("field", "name"),
    [
        ("old_backup", "ZAC5361-20261124-091640.jpg"),  # another photo of the patient
        ("old_backup", "ZAC5361-20261124-091502-2x.jpg"),
        ("new_backup", "ZAA0067-20261124-091502-2.jpg"),  # only the old may be renamed
    ],
)
def test_a_journal_edited_to_take_another_backup_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str, name: str
) -> None:
    """A second reader's point: a backup copy the move takes may be under the next free
    name (`NAME-2.EXT`, made in a backup folder two archives share), so the journal's check
    of it was loosened; it takes no other name, not another photo of the patient's folder,
    and the backup copies of one photo lie in one backup folder. Refused, nothing changed."""
    backup = tmp_path / "nas" / "backup"
    backup.parent.mkdir()
    _card, archive, _ = ingest_demo(tmp_path, "--backup", str(backup))
    written = _killed_before_linking(archive, monkeypatch, SECOND, "--to", "ZAA0067")
    edited = json.loads(json.dumps(written))
    edited["moves"][0][field] = str(Path(edited["moves"][0][field]).with_name(name))
    tag_refuses_the_journal(tmp_path, archive, edited, "is not as cardingest wrote it")
    edited = json.loads(json.dumps(written))
    edited["moves"][0]["new_backup"] = str(tmp_path / "other-backup" / edited["moves"][0]["new"])
    tag_refuses_the_journal(tmp_path, archive, edited, "are in two backup folders")
    for dropped in ("new_backup", "old_backup"):  # the move round's find: one without the other
        edited = json.loads(json.dumps(written))
        edited["moves"][0][dropped] = None
        tag_refuses_the_journal(tmp_path, archive, edited, "has no name both before and after")
    the_journal_finishes(archive, written)


def test_a_backup_given_later_leaves_an_interrupted_moves_photos_until_it_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second reader's find: a move killed after its journal was written; an ingest of
    the card with `--backup` then made the waiting photo's backup copy under its old
    patient and recorded it in its old row, unlike the journal, and every later move, tag
    and DICOM command stopped on that for good (before the journal was checked against the
    catalogue, the move went on and left that backup copy, uncatalogued, in the old
    patient's folder). Its copies wait for the move; once it is finished an ingest of the
    photo for its new patient makes the backup copy there (the card's map, which still
    gives it the old one, holds it, as for any moved photo)."""
    card, archive, _ = ingest_demo(tmp_path)
    _killed_before_linking(archive, monkeypatch, SECOND, "--to", "ZAA0067")
    backup = tmp_path / "nas" / "backup"
    backup.parent.mkdir()
    again = ("ingest", card, "--map", tmp_path / "demo-map.csv", "--archive", archive,
             "--backup", backup)  # fmt: skip
    code, _out, err = invoke(*again)
    assert code == 3, err
    assert not (backup / SECOND).exists()
    code, out, err = invoke("tag", "ZAA0067", "--site", "arm", "--archive", archive)
    assert code == 0 and "which had been interrupted" in " ".join(err.split()), out + err
    alone = tmp_path / "IMG_0002-alone" / "DCIM" / "100DEMO_"
    alone.mkdir(parents=True)
    shutil.copy2(card / "DCIM" / "100DEMO_" / "IMG_0002.JPG", alone)
    code, _out, err = invoke("ingest", alone.parent.parent, "--id", "ZAA0067", "--archive",
                             archive, "--backup", backup)  # fmt: skip
    assert code == 0, err
    moved = "ZAA0067/ZAA0067-20261124-091502.jpg"
    assert (backup / moved).read_bytes() == (archive / moved).read_bytes()
    assert not (backup / SECOND).exists()
    assert invoke("verify", "--archive", archive)[0] == 0


def test_an_interrupted_move_waits_for_its_backup_drive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: a move killed after its journal was written, then the backup drive
    unplugged; the next `tag` finished the move as far as it could and made the backup
    folder, its `.cardingest` and a patient's folder on the disk below, so the next
    `ingest --backup` took that for the backup, wrote the copies to the system disk and
    exited 0 (with `--wipe` the card would have been cleared). The move now waits for the
    drive, nothing made; with it back, it finishes."""
    backup = tmp_path / "nas" / "backup"
    backup.parent.mkdir()
    card, archive, _ = ingest_demo(tmp_path, "--backup", str(backup))
    _killed_before_linking(archive, monkeypatch, SECOND, "--to", "ZAA0067")
    unplugged = tmp_path / "unplugged"
    backup.rename(unplugged)
    for mount_point in (False, True):  # nothing there, then an empty mount point
        if mount_point:
            backup.mkdir()
        before = snapshot(tmp_path)
        code, out, err = invoke("tag", "ZAA0067", "--site", "arm", "--archive", archive)
        said = " ".join((out + err).split())
        assert code == 1 and f"The backup folder {backup} holds no backup now" in said, said
        assert snapshot(tmp_path) == before and backup.exists() == mount_point
        assert not backup.exists() or list(backup.iterdir()) == []
        code, _out, err = invoke("ingest", card, "--id", "ZAA0067", "--archive", archive,
                                 "--backup", backup)  # fmt: skip
        assert code != 0 and "holds no backup" in " ".join(err.split()), err
    backup.rmdir()
    unplugged.rename(backup)
    code, out, err = invoke("tag", "ZAA0067", "--site", "arm", "--archive", archive)
    assert code == 0 and "which had been interrupted" in " ".join(err.split()), out + err
    assert invoke("verify", "--archive", archive)[0] == 0


def test_a_journal_edited_to_an_empty_patient_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: a journal edited to `"to": ""` passed the check (every folder name holds
    the empty string), and finishing the move catalogued a photo under the patient ID `''`,
    which every later command then called edited by hand. Refused, nothing changed."""
    _card, archive, _ = ingest_demo(tmp_path)
    written = _killed_before_linking(archive, monkeypatch, SECOND, "--to", "ZAA0067")
    for to in ("", " ZAA0067"):
        edited = {**written, "to": to}
        tag_refuses_the_journal(tmp_path, archive, edited, f"its patient {to!r} is no patient ID")
    the_journal_finishes(archive, written)


def test_a_journal_edited_to_move_another_photo_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: a journal entry's old name edited to another photo (of that patient, or of
    another) was carried out: that photo was refiled, and the audit log gave it the
    content and patient of the one the move was for. Each entry must be, in the catalogue,
    the photo it says; else nothing is changed."""
    _card, archive, _ = ingest_demo(tmp_path)
    written = _killed_before_linking(archive, monkeypatch, SECOND, "--to", "ZAA0067")
    for other in ("ZAC5361/ZAC5361-20261124-091640.jpg", "ZAA0067/ZAA0067-20261124-094107.jpg"):
        edited = json.loads(json.dumps(written))
        edited["moves"][0]["old"] = other
        edited["sidecars"] = []  # else refused first as another photo's sidecar
        said = f"{other} is not, in the catalogue, the photo it says"
        tag_refuses_the_journal(tmp_path, archive, edited, said)
    the_journal_finishes(archive, written)


@pytest.mark.parametrize(
    "pair",
    [
        ("ZAC5361/ZAC5361-20261124-091640.xmp", "MCJ1984/MCJ1984-x.xmp"),  # another's, elsewhere
        ("ZAC5361/ZAC5361-20261124-091640.xmp", "{new}"),  # another's, to the new name
        ("{old}", "ZAA0067/ZAA0067-somewhere-else.xmp"),  # its own, to another name
    ],
    ids=["another-photos-anywhere", "another-photos-to-the-new-name", "own-to-another-name"],
)
def test_a_journal_edited_to_move_another_sidecar_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pair: tuple[str, str]
) -> None:
    """A mutation round's find: a sidecar entry was checked only for being an `.xmp` in the
    archive or its backup, so a journal edited to name another photo's keyword sidecar, or
    a folder of a patient the move is not about, was carried out: that photo lost its
    diagnosis, site and consent to a new MCJ1984 folder. Each entry must be a moved photo's
    own sidecar going to its new name; else nothing is changed."""
    _card, archive, _ = ingest_demo(tmp_path)
    written = _killed_before_linking(archive, monkeypatch, SECOND, "--to", "ZAA0067")
    assert written["sidecars"], "the demo's photo has its keywords' sidecar"
    old, new = (Path(name) for name in written["sidecars"][0])
    names = {"old": old.relative_to(archive).as_posix(), "new": new.relative_to(archive).as_posix()}
    edited = json.loads(json.dumps(written))
    edited["sidecars"] = [[str(archive / part.format(**names)) for part in pair]]
    tag_refuses_the_journal(tmp_path, archive, edited, "is not a moved photo's own")
    the_journal_finishes(archive, written)


def test_a_resumed_move_whose_new_name_holds_another_file_refiles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutation round's find: a move killed before its first link, then another file put
    under the name its journal gives the photo. Finishing the move must stop on it ("exists
    with other content"): else the photo's row is refiled to a name holding another file.
    Both files stay as they are, the rows too, and the journal is kept."""
    _card, archive, _ = ingest_demo(tmp_path)
    before = rows(archive)
    journal = _killed_before_linking(archive, monkeypatch, SECOND, "--to", "ZAA0067")
    held = archive / journal["moves"][0]["new"]
    old = archive / journal["moves"][0]["old"]
    old_bytes = old.read_bytes()
    foreign = exif_jpeg("2026:11:24 09:15:02")
    assert foreign != old_bytes
    held.parent.mkdir(parents=True, exist_ok=True)
    held.write_bytes(foreign)
    for command in (("move", FIRST, "--to", "ZAA0067"), ("tag", "ZAA0067", "--site", "arm")):
        code, out, err = invoke(*command, "--archive", archive)
        said = " ".join((out + err).split())
        assert code == 1, said
        assert rows(archive) == before, said  # not refiled to the name of another file
        assert old.read_bytes() == old_bytes and held.read_bytes() == foreign
        assert f"{held} exists with other content; {old} was not moved" in said, said
        assert "Traceback" not in said
        assert (archive / METADIR / "move-journal.json").exists()


@pytest.mark.parametrize("stopped_by", ["a failed unlink", "Ctrl-C"])
def test_a_move_stopped_after_its_rows_are_refiled_is_kept_and_finished_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stopped_by: str
) -> None:
    """A mutation round's find: a move stopped after the catalogue rows were refiled (here
    the unlink of an old name fails) must not be undone: undoing it would unlink the new
    names the rows now point at, drop the journal, and say nothing was moved. It is kept,
    every catalogued photo on disk, and the next move finishes it. Stopped by Ctrl-C there,
    it said "Nothing is left half-written; run again to finish" (a trial): it says the move
    stopped part way, its journal kept, and what finishes it."""
    from cardingest import move as moving

    _card, archive, _ = ingest_demo(tmp_path)
    stop = (
        OSError(errno.EIO, "Input/output error")
        if stopped_by == "a failed unlink"
        else KeyboardInterrupt()
    )

    def failed(old: Path, new: Path) -> None:
        raise stop

    with monkeypatch.context() as patched:
        patched.setattr(moving, "_unlink_old", failed)
        code, out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)
    said = " ".join((out + err).split())
    assert code == (1 if isinstance(stop, OSError) else 130), said
    assert (archive / METADIR / "move-journal.json").exists(), said
    refiled = rows(archive)
    assert refiled["ZAA0067/ZAA0067-20261124-091502.jpg"] == "ZAA0067", said
    missing = [path for path in refiled if not (archive / path).is_file()]
    assert missing == [], said
    assert "undone" not in said and "nothing was moved" not in said, said
    assert "Nothing is left half-written" not in said, said  # Ctrl-C's, said of any command
    assert (
        "run the same move again to finish it" in said
        if isinstance(stop, OSError)
        else "Interrupted after the photos were refiled" in said
        and "the next cardingest move, tag or dicom command finishes it" in said
    ), said
    code, out, err = invoke("tag", "ZAC5361", "--site", "arm", "--archive", archive)
    assert code == 0, out + err
    assert "which had been interrupted" in " ".join(err.split())
    assert not (archive / METADIR / "move-journal.json").exists()
    assert not (archive / SECOND).exists()
    assert invoke("verify", "--archive", archive)[0] == 0


def test_the_same_move_run_again_says_it_finished_the_interrupted_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same command run again after a move stopped part way finishes it, and says so:
    it ended "Moved 0 file(s) to ZAA0067; nothing to move" under "Finished move …" (a
    two-desk trial's find), as if the photo had not been moved."""
    from cardingest import move as moving

    _card, archive, _ = ingest_demo(tmp_path)

    def failed(old: Path, new: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patched:
        patched.setattr(moving, "_unlink_old", failed)
        assert invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)[0] == 1
    code, out, err = invoke("move", SECOND, "--to", "ZAA0067", "--archive", archive)
    said = " ".join((out + err).split())
    assert code == 0, said
    assert "Finished move" in said and "Moved 0 file(s)" not in said, said
    assert "Nothing more to move to ZAA0067 once the interrupted move" in said, said
    assert not (archive / SECOND).exists() and invoke("verify", "--archive", archive)[0] == 0


@pytest.mark.parametrize(
    ("what", "new"),
    [
        ("in another patient's folder", "ZAC5361/ZAC5361-20261124-091502-9.jpg"),
        ("outside the archive, in a folder named for the patient", "../outside/ZAA0067/x.jpg"),
    ],
)
def test_a_journal_edited_to_send_a_photo_elsewhere_is_refused_before_any_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, new: str
) -> None:
    """A mutation round's find: the journal of a killed move names where each photo goes,
    and whoever may write the archive may edit it. A new name in a folder not of the
    patient the move is to (the photo catalogued as ZAA0067 in ZAC5361's folder), or one
    with ``..`` that leaves the archive though a folder on the way bears the patient's ID,
    is refused by `move` and `tag` alike, with nothing changed anywhere; the journal as
    written then finishes the move."""
    _card, archive, _ = ingest_demo(tmp_path)
    before_rows = rows(archive)
    written = _killed_before_linking(archive, monkeypatch, SECOND, "--to", "ZAA0067")
    journal = archive / METADIR / "move-journal.json"
    edited = json.loads(json.dumps(written))
    edited["moves"][0]["new"] = new
    journal.write_text(json.dumps(edited))
    before = snapshot(tmp_path)
    for command in (("move", FIRST, "--to", "ZAA0067"), ("tag", "ZAA0067", "--site", "arm")):
        code, out, err = invoke(*command, "--archive", archive)
        said = " ".join((out + err).split())
        assert code == 1, (what, said)
        assert snapshot(tmp_path) == before, (what, said)
        assert rows(archive) == before_rows, (what, said)
        assert not (tmp_path / "outside").exists(), (what, said)
        assert f"{journal} (an interrupted move) is not as cardingest wrote it" in said, said
        assert "Traceback" not in said
    journal.write_text(json.dumps(written))
    code, out, err = invoke("move", FIRST, "--to", "ZAA0067", "--archive", archive)
    assert code == 0, out + err
    assert not (archive / FIRST).exists() and not (archive / SECOND).exists()
    assert invoke("verify", "--archive", archive)[0] == 0
