"""Issue 12, item 2: a photo already archived under another patient is held, not filed twice.

The planner is pure: `prepare` hashes the card photos whose size matches a catalogued file of
another patient and hands the planner those digests and the catalogue's files; the planner
holds the shot with that patient's ID in the reason, unless the run says
``--allow-other-patient``. End to end on a real FAT32 card of real camera files.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import replace
from pathlib import Path

from cardimage import CardFactory
from factories import media
from test_real_card import cardingest, sample_card

from cardingest.models import ArchivedFile, ArchiveState, IdMap, MapRow
from cardingest.plan.planner import make_plan

SHA_A = "a" * 64
SHA_B = "b" * 64


def one_patient(patient_id: str) -> IdMap:
    return IdMap(rows=(MapRow(line=0, patient_id=patient_id, everything=True),))


def archived(patient_id: str, sha: str, path: str) -> ArchivedFile:
    return ArchivedFile(patient_id, path, sha, 1000, "DCIM/100CANON/IMG_0009.JPG", "x")


def test_planner_holds_the_whole_shot_naming_the_other_patient() -> None:
    files = [
        replace(media("DCIM/100CANON/IMG_0001.JPG"), sha256=SHA_A),
        media("DCIM/100CANON/IMG_0001.CR2"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:20:00"),
    ]
    state = ArchiveState(elsewhere=(archived("MCJ1984", SHA_A, "MCJ1984/MCJ1984-x.jpg"),))
    plan = make_plan(files, one_patient("JBX3656"), state=state)
    actions = {i.source.rpartition("/")[2]: (i.action, i.reason) for i in plan.items}
    reason = actions["IMG_0001.JPG"][1] or ""
    assert actions["IMG_0001.JPG"][0] == "hold"
    assert "already archived under patient MCJ1984 (MCJ1984/MCJ1984-x.jpg)" in reason
    assert "--allow-other-patient" in reason
    assert actions["IMG_0001.CR2"] == ("hold", reason)
    assert actions["IMG_0002.JPG"] == ("copy", None)

    allowed = make_plan(files, one_patient("JBX3656"), state=state, allow_other_patient=True)
    assert [i.action for i in allowed.items] == ["copy", "copy", "copy"]


def test_planner_lets_content_this_patient_already_has_through() -> None:
    files = [replace(media("DCIM/100CANON/IMG_0001.JPG"), sha256=SHA_B)]
    state = ArchiveState(
        elsewhere=(
            archived("MCJ1984", SHA_B, "MCJ1984/MCJ1984-x.jpg"),
            archived("JBX3656", SHA_B, "JBX3656/JBX3656-x.jpg"),
        )
    )
    (item,) = make_plan(files, one_patient("JBX3656"), state=state).items
    # As the ingest's content gate does it (it was planned "copy", and then skipped there).
    assert (item.action, item.target) == ("skip", "JBX3656/JBX3656-x.jpg")
    assert item.reason == "already archived (same content)"
    other = make_plan(files, one_patient("EPT6335"), state=state).items[0]
    assert other.action == "hold" and "MCJ1984" in (other.reason or "")


def test_planner_ignores_sidecars_and_unhashed_photos() -> None:
    xmp = replace(media("DCIM/100CANON/IMG_0001.XMP"), sha256=SHA_A)
    files = [media("DCIM/100CANON/IMG_0001.JPG"), xmp]
    state = ArchiveState(elsewhere=(archived("MCJ1984", SHA_A, "MCJ1984/x.xmp"),))
    assert {i.action for i in make_plan(files, one_patient("JBX3656"), state=state).items} == {
        "copy"
    }


def rows(archive: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        return conn.execute("SELECT patient_id, sha256 FROM files ORDER BY archive_path").fetchall()


def run_json(*args: str) -> tuple[int, dict]:
    done = cardingest(*args, "--json")
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_real_card_under_a_second_patient(
    fat_card: CardFactory, samples_dir: Path, tmp_path: Path
) -> None:
    mount = fat_card(sample_card(samples_dir), size_mb=64)
    archive = str(tmp_path / "archive")
    _, first = run_json("ingest", str(mount), "--id", "JBX3656", "--archive", archive)
    copied = {i["source"] for i in first["items"] if i["action"] == "copy"}
    assert len(copied) > 10
    before = rows(Path(archive))

    for command in ("preview", "ingest"):
        code, second = run_json(command, str(mount), "--id", "MCJ1984", "--archive", archive)
        assert code == 3
        by_source = {i["source"]: i for i in second["items"]}
        for source in copied:
            item = by_source[source]
            assert item["action"] == "hold", item
            assert "already archived under patient JBX3656 (JBX3656/" in item["reason"]
            assert item["target"] is None
        assert not any(i["action"] == "copy" for i in second["items"])
    assert rows(Path(archive)) == before
    assert not (Path(archive) / "MCJ1984").exists()

    # The plain text says it too, per file, and the wipe keeps nothing of MCJ1984's.
    done = cardingest("preview", str(mount), "--id", "MCJ1984", "--archive", archive)
    assert done.returncode == 3
    assert "JBX3656" in done.stdout

    code, third = run_json(
        "ingest", str(mount), "--id", "MCJ1984", "--archive", archive, "--allow-other-patient"
    )
    assert {i["source"] for i in third["items"] if i["action"] == "copy"} == copied
    assert all(i["target"].startswith("MCJ1984/") for i in third["items"] if i["target"])
    patients = {patient for patient, _ in rows(Path(archive))}
    assert patients == {"JBX3656", "MCJ1984"}


def test_same_bytes_under_another_name_and_folder(tmp_path: Path, samples_dir: Path) -> None:
    """Content, not the card path, decides: the photo copied to another folder and name."""
    real = sorted(p for p in (samples_dir / "real").iterdir() if p.suffix.lower() == ".jpg")
    first = tmp_path / "card1" / "DCIM" / "100CANON"
    first.mkdir(parents=True)
    for n, path in enumerate(real[:3], start=1):
        shutil.copyfile(path, first / f"IMG_{n:04d}.JPG")
    archive = str(tmp_path / "archive")
    code, _ = run_json("ingest", str(tmp_path / "card1"), "--id", "JBX3656", "--archive", archive)
    assert code == 0
    second = tmp_path / "card2" / "DCIM" / "105NIKON"
    second.mkdir(parents=True)
    shutil.copyfile(real[1], second / "DSC_0420.JPG")
    shutil.copyfile(real[5], second / "DSC_0421.JPG")
    code, doc = run_json("ingest", str(tmp_path / "card2"), "--id", "EPT6335", "--archive", archive)
    assert code == 3
    actions = {i["source"]: (i["action"], i["reason"]) for i in doc["items"]}
    assert actions["DCIM/105NIKON/DSC_0420.JPG"][0] == "hold"
    assert "under patient JBX3656 (JBX3656/" in actions["DCIM/105NIKON/DSC_0420.JPG"][1]
    assert actions["DCIM/105NIKON/DSC_0421.JPG"][0] == "copy"
    check = subprocess.run(
        ["sha256sum", "-c", *[str(p) for p in Path(archive, ".cardingest", "manifests").iterdir()]],
        cwd=archive,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_same_bytes_twice_on_one_card_for_two_patients_are_both_held(
    tmp_path: Path, samples_dir: Path
) -> None:
    """One run, one card: a photo and its copy given to two patients by the map. One of
    them is wrong, and nobody can tell which: both stay on the card, each naming the other,
    unless --allow-other-patient says it is meant for both."""
    real = sorted(p for p in (samples_dir / "real").iterdir() if p.suffix.lower() == ".jpg")
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    shutil.copyfile(real[0], folder / "IMG_0001.JPG")
    shutil.copyfile(real[0], folder / "IMG_0002.JPG")
    shutil.copyfile(real[1], folder / "IMG_0003.JPG")
    mapping = tmp_path / "map.csv"
    mapping.write_text("files,id\nIMG_0001,JBX3656\nIMG_0002-IMG_0003,EPT6335\n", encoding="utf-8")
    card, archive = str(tmp_path / "card"), str(tmp_path / "archive")
    code, doc = run_json("ingest", card, "--map", str(mapping), "--archive", archive)
    assert code == 3
    actions = {i["source"]: (i["action"], i["reason"]) for i in doc["items"]}
    assert actions["DCIM/100CANON/IMG_0001.JPG"] == (
        "hold",
        "the same photo as DCIM/100CANON/IMG_0002.JPG on this card, which is given to patient "
        "EPT6335; check which patient it belongs to, or run again with --allow-other-patient "
        "if it is meant for both",
    )
    assert actions["DCIM/100CANON/IMG_0002.JPG"][0] == "hold"
    assert (
        "IMG_0001.JPG on this card, which is given to patient JBX3656"
        in (actions["DCIM/100CANON/IMG_0002.JPG"][1])
    )
    assert actions["DCIM/100CANON/IMG_0003.JPG"][0] == "copy"
    code, doc = run_json(
        "ingest", card, "--map", str(mapping), "--archive", archive, "--allow-other-patient"
    )
    assert code == 0
    assert doc["summary"]["copied"] == 2


def test_two_copies_without_exif_time_for_two_patients_are_held(tmp_path: Path) -> None:
    """A photo with no EXIF date is dated by its file time, which its copy need not share
    (copied later): the copies are still found, by their size, and held."""
    from PIL import Image

    folder = tmp_path / "card" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    Image.new("RGB", (64, 48), (90, 30, 60)).save(folder / "IMG_0001.JPG", "JPEG")
    shutil.copyfile(folder / "IMG_0001.JPG", folder / "IMG_0002.JPG")
    os.utime(folder / "IMG_0001.JPG", (1_700_000_000, 1_700_000_000))
    os.utime(folder / "IMG_0002.JPG", (1_700_000_100, 1_700_000_100))
    mapping = tmp_path / "map.csv"
    mapping.write_text("files,id\nIMG_0001,JBX3656\nIMG_0002,EPT6335\n", encoding="utf-8")
    code, doc = run_json(
        "ingest", str(tmp_path / "card"), "--map", str(mapping), "--archive", str(tmp_path / "a")
    )
    assert code == 3
    assert {i["source"]: i["action"] for i in doc["items"]} == {
        "DCIM/100CANON/IMG_0001.JPG": "hold",
        "DCIM/100CANON/IMG_0002.JPG": "hold",
    }
