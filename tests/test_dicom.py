"""DICOM export: JPEG markers, lossless turns, datasets, UIDs, config, and the real
``cardingest dicom export`` on an archive ingested from real camera photos, checked by
dciodvfy (dicom3tools)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydicom
import pytest
from cardimage import CardFactory, require, require_binaries, require_samples
from dicom_helpers import (
    JPEGS,
    OTHER,
    PATIENT,
    cli,
    dicom_datetime,
    exiftool_dates,
    ingest,
    make_source,
    padded,
    photo_facts,
    search,
    stopped_move,
)
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from terminal import injected, paused_at

from cardingest.archive.provenance import recorded_folder
from cardingest.export.dicom import (
    VL_PHOTOGRAPHIC,
    anatomic_region,
    build_dataset,
    instance_uid,
    part10_bytes,
    study_uid,
)
from cardingest.export.jpeg import jpeg_info
from cardingest.export.rotate import upright_frame
from cardingest.export.settings import DicomOptions, PacsConfig, check_uid_root, split_stow_url
from cardingest.storage import durable
from cardingest.storage.durable import TEMP_PREFIX

if TYPE_CHECKING:
    from cardingest.export.pacs import DimseClient

REAL = ["22-canon_tags.jpg", "Pentax_K10D.jpg", "32-lens_data.jpeg", "Canon_40D.jpg"]


def sample(name: str) -> bytes:
    return (require_samples() / "real" / name).read_bytes()


def oriented(tmp_path: Path, name: str, orientation: int) -> bytes:
    """A real sample with EXIF Orientation set by exiftool (in a temporary copy)."""
    require_binaries("exiftool")
    path = tmp_path / f"o{orientation}-{name}"
    shutil.copyfile(require_samples() / "real" / name, path)
    subprocess.run(
        ["exiftool", "-q", "-n", "-overwrite_original", f"-Orientation={orientation}", str(path)],
        check=True,
        capture_output=True,
    )
    return path.read_bytes()


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


@pytest.mark.parametrize("name", REAL)
def test_jpeg_markers_agree_with_pillow(name: str) -> None:
    data = sample(name)
    info = jpeg_info(data)
    with Image.open(io.BytesIO(data)) as image:
        assert (info.columns, info.rows) == image.size
        assert (info.process == "progressive") == bool(image.info.get("progressive"))
    assert info.precision == 8 and info.components == 3 and info.orientation == 1


def test_not_a_jpeg_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not a JPEG"):
        jpeg_info(b"II*\x00" + bytes(100))
    with pytest.raises(ValueError):
        jpeg_info(sample("22-canon_tags.jpg")[:300])


def test_a_portrait_photo_is_turned_losslessly(tmp_path: Path) -> None:
    require_binaries("jpegtran")
    data = oriented(tmp_path, "22-canon_tags.jpg", 6)
    assert jpeg_info(data).orientation == 6
    frame = upright_frame(data)
    assert frame.transform == "jpegtran -rotate 90" and frame.note is None
    assert (frame.info.rows, frame.info.columns) == (1600, 1200)
    assert frame.info.baseline and frame.info.orientation == 1
    # Lossless: turning the frame back gives exactly the camera's pixels.
    back = subprocess.run(
        ["jpegtran", "-perfect", "-rotate", "270"], input=frame.data, capture_output=True
    ).stdout
    assert pixels(back) == pixels(data)


def test_a_photo_that_cannot_turn_losslessly_goes_unrotated_and_says_so(tmp_path: Path) -> None:
    require_binaries("jpegtran")
    data = oriented(tmp_path, "Nikon_D70.jpg", 3)  # 100x66: edge blocks cannot move whole
    frame = upright_frame(data)
    assert frame.data == data and frame.transform is None
    assert frame.note is not None and "left unrotated" in frame.note


def test_a_progressive_jpeg_becomes_baseline_with_the_same_pixels() -> None:
    require_binaries("jpegtran")
    data = sample("32-lens_data.jpeg")
    frame = upright_frame(data)
    assert frame.info.baseline and frame.data != data
    assert pixels(frame.data) == pixels(data)


def test_uids_are_deterministic_and_valid() -> None:
    sha = "ab" * 32
    first = instance_uid("2.25", PATIENT, sha)
    assert first == instance_uid("2.25", PATIENT, sha.upper())
    assert first != instance_uid("2.25", OTHER, sha)
    assert first.startswith("2.25.") and first.is_valid and len(first) <= 64
    root = "1.2.826.0.1.3680043.10.543"
    custom = instance_uid(root, PATIENT, sha)
    assert custom.startswith(root + ".") and custom.is_valid and len(custom) <= 64
    assert study_uid(root, PATIENT, "ingest-1") != study_uid(root, PATIENT, "ingest-2")
    # one ingest of two patients: two studies (a mutant that gave them one passed every test)
    assert study_uid(root, PATIENT, "ingest-1") != study_uid(root, OTHER, "ingest-1")
    for bad in ("1.02.3", "abc", "3.1", "1..2", "1." + "2" * 45):
        with pytest.raises(ValueError, match="dicom_uid_root"):
            check_uid_root(bad)


def test_body_sites_are_coded_where_known() -> None:
    region = anatomic_region("Left forearm")
    assert region is not None
    assert (region.CodeValue, region.CodingSchemeDesignator) == ("14975008", "SCT")
    assert region.AnatomicRegionModifierSequence[0].CodeMeaning == "Left"
    back = anatomic_region("upper back")
    assert back is not None and back.CodeMeaning == "Back"
    assert "AnatomicRegionModifierSequence" not in back
    assert anatomic_region("behind the tattoo") is None
    assert anatomic_region(None) is None


@pytest.mark.parametrize(
    ("site", "meaning"),
    [
        ("finger, right hand", "Finger"),
        ("big toe, left foot", "Toe"),
        ("sole of left foot", "Sole of foot"),
        ("left upper arm", "Upper arm"),
        ("right cheek, face", "Cheek"),
        ("dorsum of right hand, scar from left forearm graft", None),
        ("knee and thigh", None),
        ("back of left hand", "Hand"),
        ("back of the neck", "Neck"),
        ("upper back", "Back"),
        ("both feet", "Foot"),
    ],
)
def test_a_site_naming_several_regions_is_coded_by_the_part_or_not_at_all(
    site: str, meaning: str | None
) -> None:
    """A trial: regions were coded by the list's order, so "finger, right hand" went as
    Hand and "dorsum of right hand, scar from left forearm graft" as Forearm. A part named
    with its whole is coded as the part; two regions apart are not coded (the site's text
    is in Image Comments), as the PACS would show a region the photo may not be of."""
    region = anatomic_region(site)
    assert (region.CodeMeaning if region is not None else None) == meaning


def test_dataset_holds_the_camera_jpeg_and_no_invented_patient_details() -> None:
    data = sample("Pentax_K10D.jpg")  # odd length
    assert len(data) % 2 == 1
    facts = photo_facts(
        subsec="25",
        utc_offset="+12:00",
        make="PENTAX Corporation",
        model="PENTAX K10D",
        site="right cheek",
    )
    ds = build_dataset(facts, upright_frame(data), DicomOptions(issuer="NHI"))
    read = pydicom.dcmread(io.BytesIO(part10_bytes(ds)))
    assert read.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    assert read.SOPClassUID == VL_PHOTOGRAPHIC == "1.2.840.10008.5.1.4.1.1.77.1.4"
    assert (read.Modality, read.PatientID, read.IssuerOfPatientID) == ("XC", PATIENT, "NHI")
    assert read.PatientName == "" and read.PatientBirthDate == "" and read.PatientSex == ""
    assert read.AcquisitionDateTime == "20080504164724.25"
    assert (read.ContentDate, read.ContentTime) == ("20080504", "164724.25")
    assert read.TimezoneOffsetFromUTC == "+1200"
    assert read.PhotometricInterpretation == "YBR_FULL_422"
    assert (read.Rows, read.Columns) == (72, 100)
    assert (read.Manufacturer, read.ManufacturerModelName) == ("PENTAX Corporation", "PENTAX K10D")
    assert read.ImageLaterality == "R"
    assert read.AnatomicRegionSequence[0].CodeMeaning == "Cheek"
    frames = list(generate_frames(read.PixelData, number_of_frames=1))
    assert frames[0][: len(data)] == data and bytes(frames[0]) == padded(data)


def test_a_backslash_in_the_site_reaches_image_comments_as_typed() -> None:
    """A trial: "Rücken \\ back" went as "Rücken / back". Image Comments is LT, one value,
    where a backslash is a character like another; only short (LO) values lose it."""
    site = "Rücken \\ back, 2 cm left of the scar"
    facts = photo_facts(make="Maker\\One", site=site)
    ds = build_dataset(facts, upright_frame(sample("Pentax_K10D.jpg")), DicomOptions())
    read = pydicom.dcmread(io.BytesIO(part10_bytes(ds)))
    assert read.ImageComments == f"Body site: {site}"
    assert read.Manufacturer == "Maker/One"


# --- the real CLI on a real ingested archive ------------------------------------------


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """An archive made by the real ``cardingest ingest`` of real camera files."""
    root = tmp_path_factory.mktemp("dicom-archive")
    env = environment(root)
    map_file = make_source(root / "card")
    ingest(root / "card", map_file, root / "archive", env=env)
    return root / "archive", env


@pytest.fixture
def own_archive(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> tuple[Path, dict[str, str]]:
    """A private copy of ``archived``, for a test that moves photos in it."""
    archive, env = archived
    return Path(shutil.copytree(archive, tmp_path / "own-archive")), env


def environment(root: Path, config_text: str = "") -> dict[str, str]:
    config = root / "config.toml"
    config.write_text(config_text, encoding="utf-8")
    return {
        "HOME": str(root / "home"),
        "XDG_CONFIG_HOME": str(root / "home" / ".config"),
        "CARDINGEST_CONFIG": str(config),
    }


def test_export_writes_files_that_dciodvfy_passes(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    require_binaries("dciodvfy", "jpegtran")
    archive, env = archived
    out = tmp_path / "out"
    result = cli("dicom", "export", "--archive", archive, "--out", out, "--json", env=env)
    assert result.returncode == 3, result.stderr  # the HEIC and the RAW are left out
    document = json.loads(result.stdout)
    assert document["summary"] == {"written": 7, "unchanged": 0, "failed": 0, "left_out": 2}
    left = sorted(
        (i["path"].rpartition(".")[2], i["reason"])
        for i in document["items"]
        if i["action"] == "left-out"
    )
    assert [ext for ext, _ in left] == ["cr3", "heic"]
    assert left[0][1].startswith("CR3 is not sent") and left[1][1].startswith("HEIC")
    assert "left out:" in result.stderr and ".heic" in result.stderr and ".cr3" in result.stderr
    records = search(archive, env)
    dates = exiftool_dates(require_samples())
    files = sorted(out.rglob("*.dcm"))
    assert len(files) == len(JPEGS) == 7
    for path in files:
        check = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
        report = check.stdout + check.stderr
        assert "VLPhotographicImage" in report  # dciodvfy recognised the IOD and checked it
        errors = [line for line in report.splitlines() if "Error" in line]
        assert errors == [], f"{path.name}: {errors}"
        ds = pydicom.dcmread(path)
        item = next(i for i in document["items"] if i.get("file") == str(path))
        record = records[item["path"]]
        assert ds.PatientID == record["patient_id"] == path.parent.name
        assert ds.SOPInstanceUID == item["sop_instance_uid"]
        assert ds.AcquisitionDateTime.startswith(dicom_datetime(record["captured_at"]))
        original = (archive / item["path"]).read_bytes()
        frame = next(generate_frames(ds.PixelData, number_of_frames=1))
        if "transform" not in item:
            assert bytes(frame) == padded(original)
            assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY"]
        else:  # a trial: a turned image was ORIGINAL, while its description said "Turned"
            assert list(ds.ImageType) == ["DERIVED", "PRIMARY"]
            assert ds.DerivationDescription.startswith("Turned upright losslessly")
    assert any("transform" in i for i in document["items"] if i["action"] == "written")
    # exiftool's DateTimeOriginal is the oracle for the capture time.
    by_path = {i["path"]: i for i in document["items"]}
    canon = next(p for p in by_path if p.endswith("JBX3656-20071129-161621.jpg"))
    ds = pydicom.dcmread(by_path[canon]["file"])
    expected = dates["22-canon_tags.jpg"].replace(":", "").replace(" ", "")
    assert ds.AcquisitionDateTime[:14] == expected
    # One study per patient and ingest; the coded site and the free-text one.
    studies = {pydicom.dcmread(f).StudyInstanceUID for f in files if f.parent.name == PATIENT}
    assert len(studies) == 1
    others = {pydicom.dcmread(f).StudyInstanceUID for f in files if f.parent.name == OTHER}
    assert len(others) == 1 and others != studies  # the same ingest: a study per patient
    kodak = pydicom.dcmread(next((out / OTHER).glob("*.dcm")))
    assert "AnatomicRegionSequence" not in kodak
    assert kodak.ImageComments == "Body site: behind the tattoo"
    first = pydicom.dcmread(next(f for f in files if f.parent.name == PATIENT))
    assert first.AnatomicRegionSequence[0].CodeValue == "14975008"

    audit = (archive / ".cardingest" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    exports = [e for e in map(json.loads, audit) if e["event"] == "dicom-export"]
    assert len(exports[-1]["files"]) == 7 and exports[-1]["out"] == recorded_folder(str(out))
    assert str(out) not in "\n".join(audit), "a folder a clinic may name after the patient"

    # Again: the same UIDs and bytes, nothing overwritten.
    before = {f: f.read_bytes() for f in files}
    again = cli("dicom", "export", "--archive", archive, "--out", out, "--json", env=env)
    assert again.returncode == 3, again.stderr
    assert json.loads(again.stdout)["summary"]["unchanged"] == 7
    assert {f: f.read_bytes() for f in sorted(out.rglob("*.dcm"))} == before


def test_export_one_patient_and_a_date_range(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    archive, env = archived
    out = tmp_path / "one"
    result = cli(
        "dicom", "export", PATIENT.lower(), "--from", "2008-01-01", "--to", "2008-12-31",
        "--archive", archive, "--out", out, "--json", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)["items"]
    assert {i["id"] for i in written} == {PATIENT}
    assert all("2008" in i["path"] for i in written) and len(written) == 3


def test_export_refuses_to_overwrite_another_file(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    archive, env = archived
    out = tmp_path / "out"
    (out / OTHER).mkdir(parents=True)
    kodak = next(p for p in search(archive, env) if p.startswith(OTHER) and p.endswith(".jpg"))
    squatter = out / OTHER / (Path(kodak).stem + ".dcm")
    squatter.write_bytes(b"someone else's file")
    result = cli("dicom", "export", OTHER, "--archive", archive, "--out", out, env=env)
    assert result.returncode == 1
    assert "Not overwriting" in result.stderr and squatter.read_bytes() == b"someone else's file"


def test_an_export_again_after_a_site_changed_says_the_file_there_is_not_the_photo_now(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A trial: exported, the site corrected (left to right), exported again into the same
    folder: "exists with other content; not overwriting it", no word that the file there
    holds the wrong side, which could go on the CD."""
    archive, env = archived
    out = tmp_path / "out"
    kodak = next(p for p in search(archive, env) if p.startswith(OTHER) and p.endswith(".jpg"))
    first = cli("dicom", "export", OTHER, "--archive", archive, "--out", out, env=env)
    assert first.returncode in (0, 3), first.stderr
    assert (
        cli("tag", kodak, "--site", "right forearm", "--archive", archive, env=env).returncode == 0
    )
    result = cli("dicom", "export", OTHER, "--archive", archive, "--out", out, env=env)
    said = " ".join(result.stderr.split())
    assert result.returncode == 1, said
    assert "it is not this photo as archived now" in said and "before the folder goes out" in said


def test_export_refuses_an_empty_out_or_one_that_is_a_file(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """``--out ""`` (a script's unset variable) wrote into the current folder, and ``--out``
    naming a file failed photo by photo: both are one message, exit 2, nothing written."""
    archive, env = archived
    here = tmp_path / "here"
    here.mkdir()
    afile = tmp_path / "afile"
    afile.write_text("notes\n")
    for out, said in (("", "--out is empty"), (str(afile), f"--out {afile} is not a folder")):
        result = cli("dicom", "export", OTHER, "--archive", archive, "--out", out, cwd=here,
                     env=env)  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert said in result.stderr
    assert list(here.iterdir()) == [] and afile.read_text() == "notes\n"


@pytest.mark.parametrize("mode", [0o755, 0o777])
def test_export_closes_an_out_folder_open_to_others(
    archived: tuple[Path, dict[str, str]], tmp_path: Path, mode: int
) -> None:
    """`mkdir cd` (0755 under the usual umask) or a folder open to all: the patients' folders
    in it are named by ID, and anyone who may write there could swap two patients' folders
    before the CD is burned. It is closed before anything is written, and the user told; an
    export again into the private folder says nothing of it. A folder already holding the
    user's own files is left as it is (its patients' folders are private), unless every
    account may write in it without the sticky bit: that is refused, nothing written."""
    archive, env = archived
    out = tmp_path / "cd"
    out.mkdir()
    out.chmod(mode)
    result = cli("dicom", "export", PATIENT, "--archive", archive, "--out", out, env=env)
    assert result.returncode == 0, result.stderr
    assert os.stat(out).st_mode & 0o777 == 0o700
    said = " ".join(result.stderr.split())
    assert f"--out {out} was open to" in said and "made it private (drwx" in said
    assert list((out / PATIENT).glob("*.dcm"))
    again = cli("dicom", "export", PATIENT, "--archive", archive, "--out", out, env=env)
    assert again.returncode == 0 and "made it private" not in again.stderr
    home = tmp_path / "home-like"  # holds the user's own files: left as it is
    home.mkdir()
    (home / "notes.txt").write_text("mine\n")
    home.chmod(mode)
    kept = cli("dicom", "export", PATIENT, "--archive", archive, "--out", home, env=env)
    assert os.stat(home).st_mode & 0o777 == mode
    if mode & 0o002:  # every account could rename the patients' folders: swap two
        assert kept.returncode == 2, kept.stderr
        said = " ".join(kept.stderr.split())
        assert f"--out {home} is a folder every account may write in without" in said
        assert [p.name for p in home.iterdir()] == ["notes.txt"]
        return
    assert kept.returncode == 0 and "made it private" not in kept.stderr
    assert os.stat(home / PATIENT).st_mode & 0o777 == 0o700


def temps(folder: Path) -> list[Path]:
    return sorted(folder.rglob(f"{TEMP_PREFIX}*"))


def killed_at(point: str, *args: object, env: dict[str, str]) -> None:
    """The CLI run through ``tests/faults/inject.py``, killed (SIGKILL) at ``point``."""
    killed = subprocess.run(
        injected(point, *args),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr


def test_the_next_export_removes_what_a_killed_one_was_writing(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """kill -9 while a DICOM file is written under its temporary name leaves that partial
    file (a patient's photo) in --out; the next export into the folder removes it, so it
    does not go onto the CD or stick with the rest."""
    archive, env = archived
    out = tmp_path / "out"
    args = ("dicom", "export", PATIENT, "--archive", archive, "--out", out)
    killed_at("dicom-temp", *args, env=env)
    (left,) = temps(out)
    assert left.parent == out / PATIENT and left.stat().st_size > 0
    again = cli(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert temps(out) == [] and len(list((out / PATIENT).glob("*.dcm"))) == 6


def test_an_export_killed_as_a_file_took_its_name_on_an_exfat_stick_is_finished_by_the_next(
    archived: tuple[Path, dict[str, str]], exfat_card: CardFactory
) -> None:
    """exFAT has no hard links: a DICOM file takes its name with an empty file, then the
    written one is renamed onto it. kill -9 in between leaves that empty file under the
    name; the next export into the folder writes the file there instead of calling it
    "other content" for the user to remove."""
    archive, env = archived
    out = exfat_card({}, size_mb=64, private=True) / "cd"
    args = ("dicom", "export", PATIENT, "--archive", archive, "--out", out)
    killed_at("dicom-rename", *args, env=env)
    (empty,) = [p for p in (out / PATIENT).glob("*.dcm") if p.stat().st_size == 0]
    again = cli(*args, env=env)
    assert again.returncode == 0, again.stderr
    files = sorted((out / PATIENT).glob("*.dcm"))
    assert len(files) == 6 and empty in files and temps(out) == []
    for path in files:
        assert pydicom.dcmread(path).PatientID == PATIENT


def test_an_export_writing_meanwhile_keeps_its_temporary(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """An export paused with its first file under a temporary name is not a killed one: the
    exports started meanwhile into the same folder leave that temporary alone (and remove a
    killed one's), and the paused export then finishes."""
    archive, env = archived
    env = {**os.environ, **env}
    out = tmp_path / "out"
    first = ("dicom", "export", PATIENT, "--to", "2007-12-31", "--archive", archive, "--out", out)
    paused = paused_at("dicom-temp-wait", *first, env=env)
    try:
        (live,) = temps(out)
        killed_at("dicom-temp", *first, env=env)
        assert len(temps(out)) == 2 and live in temps(out)
        later = ("dicom", "export", PATIENT, "--from", "2008-01-01", "--archive", archive)
        result = cli(*later, "--out", out, env=env)
        assert result.returncode == 0, result.stderr
        assert temps(out) == [live]
        _stdout, stderr = paused.communicate("go\n", timeout=600)
        assert paused.returncode == 0, stderr
    finally:
        if paused.poll() is None:
            paused.kill()
            paused.communicate()
    assert temps(out) == [] and len(list((out / PATIENT).glob("*.dcm"))) == 6


def test_a_sweep_in_the_instant_a_temporary_is_made_costs_only_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between its creation and its lock a new temporary looks like a dead run's: a sweep
    then removes it, and the writer takes another name instead of writing into the removed
    file (and failing at the link)."""
    real = durable.modes.create
    swept: list[Path] = []

    def create(path: Path, flags: int) -> int:
        fd = real(path, flags)
        if not swept:
            swept.extend(durable.remove_dead_temps_in([tmp_path]))
        return fd

    monkeypatch.setattr(durable.modes, "create", create)
    durable.write_new(tmp_path, "x.dcm", b"data")
    assert len(swept) == 1 and swept[0].name.startswith(TEMP_PREFIX)
    assert [p.name for p in tmp_path.iterdir()] == ["x.dcm"]
    assert (tmp_path / "x.dcm").read_bytes() == b"data"


def test_a_sweep_leaves_the_temporary_a_live_writer_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run's sweep (``dicom export --out`` and ``share`` runs share folders without a
    common lock) while a writer is writing its temporary: the writer holds its flock, so the
    temporary is a live run's and stays; a sweep that did not take the lock first removed it
    and the writer's export failed. A temporary no one holds (a killed run's) goes."""
    dead = tmp_path / f"{TEMP_PREFIX}killedrun0001"
    dead.write_bytes(b"half")
    real = durable.write_all
    swept: list[list[Path]] = []
    live: list[Path] = []

    def write_all(fd: int, data: bytes | memoryview) -> None:
        if not swept:  # the writer's temporary is made and locked; another run sweeps
            live.extend(p for p in tmp_path.iterdir() if p != dead)
            swept.append(durable.remove_dead_temps_in([tmp_path]))
            assert all(p.exists() for p in live), "a live writer's temporary was removed"
        real(fd, data)

    monkeypatch.setattr(durable, "write_all", write_all)
    durable.write_new(tmp_path, "x.dcm", b"data")
    assert len(live) == 1 and live[0].name.startswith(TEMP_PREFIX)
    assert swept == [[dead]]
    assert [p.name for p in tmp_path.iterdir()] == ["x.dcm"]
    assert (tmp_path / "x.dcm").read_bytes() == b"data"


@pytest.mark.parametrize(
    ("config", "args", "message"),
    [
        ("[pacs]\nhost = 'x'\nport = 104\nae_title = 'A'\nbogus = 1\n", [], "[pacs] bogus"),
        ("[pacs]\nhost = 'x'\nport = 70000\nae_title = 'A'\n", [], "port 70000"),
        ("[pacs]\nhost = 'x'\nae_title = 'A'\n", [], "needs port"),
        ("[pacs]\nhost = 'x'\nport = 104\nae_title = 'MUCH_TOO_LONG_AE_TITLE'\n", [], "1-16"),
        ("dicom_uid_root = '1.02'\n[pacs]\nstow_url = 'http://x'\n", [], "dicom_uid_root"),
        ("", [], "No [pacs] table"),
        ("[pacs]\nstow_url = 'ftp://x'\n", [], "stow_url"),
        ("[pacs]\nhost = 'pacs..example'\nport = 104\nae_title = 'A'\n", [], "not a host name"),
        ("[pacs]\nstow_url = 'http://pacs..example/dicom-web'\n", [], "not a host name"),
        ("[pacs]\nhost = ''\nport = 104\nae_title = 'A'\n", [], "it is empty"),
        ("[pacs]\nhost = ' 127.0.0.1'\nport = 104\nae_title = 'A'\n", [], "holds a blank"),
        ("[pacs]\nhost = '127.0.0.1:104'\nport = 104\nae_title = 'A'\n", [], "holds a port"),
        ("[pacs]\nhost = 'http://pacs.example'\nport = 104\nae_title = 'A'\n", [], "a URL"),
        ("[pacs]\nhost = '[::1]'\nport = 104\nae_title = 'A'\n", [], "without its brackets"),
        ("dicom_uid_root = '1.2.840.10008.9'\n[pacs]\nstow_url = 'http://x'\n", [], "keeps"),
        ("[pacs]\nstow_url = 'http://127.0.0.1:9'\n", ["NOTANID"], "NOTANID"),
        ("[pacs]\nstow_url = 'http://127.0.0.1:9'\n", ["--from", "2008-13-01"], "--from"),
        # a trial's: both kinds of PACS given (STOW was used without a word), a bad %
        (
            "[pacs]\nhost = 'x'\nport = 104\nae_title = 'A'\nstow_url = 'http://x/s'\n",
            [],
            "has stow_url and host, port, ae_title",
        ),
        ("[pacs]\nstow_url = 'http://u:p%ZZ@127.0.0.1:9/s'\n", [], "starts no percent-encoding"),
        ("[pacs]\nhost = 'x'\nport = 104\nae_title = 'TEST\\\\PACS'\n", [], "holds a backslash"),
        # a trial's: the backslash was called "longer than 64", a control character accepted
        ("issuer_of_patient_id = 'NHI\\X'\n[pacs]\nstow_url = 'http://x'\n", [], "backslash"),
        ("issuer_of_patient_id = \"NHI\\u0007\"\n[pacs]\nstow_url = 'http://x'\n", [], "control"),
    ],
)
def test_bad_config_or_input_is_exit_2_naming_it(
    archived: tuple[Path, dict[str, str]],
    tmp_path: Path,
    config: str,
    args: list[str],
    message: str,
) -> None:
    archive, _env = archived
    env = environment(tmp_path, config)
    result = cli("dicom", "send", *args, "--archive", archive, "--json", env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert json.loads(result.stdout)["error"]["exit"] == 2


@pytest.mark.parametrize(
    "stow_url",
    [
        "http://admin:Se/cr3tPW@127.0.0.1:9/dicom-web/studies",  # / ends the host early
        "http://admin:Se?cr3tPW@127.0.0.1:9/dicom-web/studies",
        "http://admin:Se#cr3tPW@127.0.0.1:9/dicom-web/studies",
        "http://admin:Secr3tPW@127.0.0.1:9x/dicom-web/studies",  # a port that is no number
        "http://admin:Secr3tPW@[::1/dicom-web/studies",
    ],
)
def test_a_stow_url_that_cannot_be_read_is_exit_2_without_its_password(
    archived: tuple[Path, dict[str, str]], tmp_path: Path, stow_url: str
) -> None:
    archive, _env = archived
    env = environment(tmp_path, f'[pacs]\nstow_url = "{stow_url}"\n')
    result = cli("dicom", "send", "--archive", archive, "--json", env=env)
    assert result.returncode == 2, result.stderr
    assert "cr3tPW" not in result.stderr + result.stdout
    assert "[pacs] stow_url cannot be read" in result.stderr and "percent-encoded" in result.stderr


@pytest.mark.parametrize(
    ("given", "url", "auth"),
    [
        ("https://pacs.example/dicom-web/studies", "https://pacs.example/dicom-web/studies", None),
        (
            "http://admin:S3cretPW@127.0.0.1:18042/dicom-web/studies",
            "http://127.0.0.1:18042/dicom-web/studies",
            ("admin", "S3cretPW"),
        ),
        ("https://u%40clinic:p%3Aw%40d%2F@h/x", "https://h/x", ("u@clinic", "p:w@d/")),
        ("https://admin:p@ss@h:8443/x", "https://h:8443/x", ("admin", "p@ss")),
        ("https://admin@h/x", "https://h/x", ("admin", "")),
        ("https://admin:pw@[::1]:8042/x", "https://[::1]:8042/x", ("admin", "pw")),
    ],
)
def test_split_stow_url_takes_the_login_out_of_the_url(
    given: str, url: str, auth: tuple[str, str] | None
) -> None:
    assert split_stow_url(given) == (url, auth)
    if auth is not None and auth[1]:
        assert auth[1] not in repr(PacsConfig(stow_url=url, stow_auth=auth))


@pytest.mark.parametrize(
    "given",
    [
        "https://h/x?token=Tk9secret",
        "https://h/x?a=1&access_token=Tk9secret",
        "https://h/x?api_key=Tk9secret",
        "https://h/x?password=Tk9secret",
        "https://h/x?token:Tk9secret",
        "https://h/x?a=1;token=Tk9secret",
        "https://h/x#access_token=Tk9secret",
        "https://h/studies;jwt=Tk9secret",
        "https://h/x?pwd=Tk9secret",
    ],
)
def test_a_stow_url_with_a_secret_after_its_host_is_refused_without_it(given: str) -> None:
    """The URL (less its user name and password) is shown in messages and recorded with
    every send: a token in its query, parameters or fragment was too (an outside tester's
    report); and ``?token:…`` was refused with the token in the message."""
    with pytest.raises(ValueError, match="looks like a secret after its host") as caught:
        split_stow_url(given)
    assert "Tk9secret" not in str(caught.value)
    assert split_stow_url("https://h/x?study=1") == ("https://h/x?study=1", None)


@pytest.mark.parametrize(
    "url",
    [
        "https://h/keycloak/studies", "https://h/auth/dicom-web", "https://h/x?institution_code=AB",
        "https://h/x?barcode=1", "https://h/x?sessiondate=1", "https://h/api/keys:v1/studies",
        "https://h/code:dicom/studies", "https://h/x#authority=x", "https://h/x?keyword=skin",
        "https://h/x?passthrough=1", "https://h/x?design=1", "https://h/x?tokenized=1",
        "HTTP://h/dicom-web/studies",
    ],
)  # fmt: skip
def test_a_stow_url_with_a_secret_word_inside_a_name_is_not_refused(url: str) -> None:
    """A name that only holds such a word (an institution's code, a keyword) is no secret:
    the first version of the check refused these PACS URLs."""
    assert split_stow_url(url) == (url, None)


@pytest.mark.parametrize(
    "url", ["https://h/x?to%6Ben=Tk9secret", "https://h/Bearer%20Tk9secret", "https://h/x?pw=Tk9"]
)
def test_a_stow_url_secret_percent_encoded_is_refused_too(url: str) -> None:
    """The server decodes ``%6B`` before it reads the name: so does the check."""
    with pytest.raises(ValueError, match="looks like a secret after its host") as caught:
        split_stow_url(url)
    assert "Tk9" not in str(caught.value)


def test_a_stow_url_with_a_space_is_refused_not_a_traceback_at_the_send() -> None:
    with pytest.raises(ValueError, match="holds a space or a control character") as caught:
        split_stow_url("https://u:Tk9secret@pacs.example/dicom web/studies")
    assert "Tk9secret" not in str(caught.value)


UNKNOWN_HOST = "[pacs]\nhost = 'no-such-host.invalid'\nport = 14104\nae_title = 'TESTPACS'\n"


def test_a_pacs_host_not_found_is_exit_1_and_ingest_send_keeps_its_json(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A [pacs] host no name server knows (a typo, a renamed server) is a PACS that does not
    answer: said without a traceback, exit 1, nothing counts as sent, and the document of an
    `ingest --send --json` that archived the photos is still written."""
    archive, _env = archived
    copy = Path(shutil.copytree(archive, tmp_path / "archive"))
    env = environment(tmp_path, UNKNOWN_HOST)
    result = cli("dicom", "send", "--archive", copy, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "no-such-host.invalid:14104 does not answer (host not found" in result.stderr
    result = cli("dicom", "send", "--archive", copy, "--json", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    document = json.loads(result.stdout)
    assert "does not answer (host not found" in document["stopped"]
    assert document["summary"]["sent"] == 0 and document["summary"]["not_sent"] == len(JPEGS)

    root = archive.parent
    fresh = tmp_path / "fresh"
    result = cli(
        "ingest", root / "card", "--map", root / "map.csv", "--archive", fresh, "--send",
        "--json", env=env,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["copied"] == 9
    assert "does not answer (host not found" in document["dicom_send"]["stopped"]
    assert document["dicom_send"]["summary"]["not_sent"] == len(JPEGS)
    # With --wipe after the send, the wipe's own clean result hid the send's failure: exit 0.
    for extra in ((), ("--json",)):
        card = Path(shutil.copytree(root / "card", tmp_path / f"card{len(extra)}"))
        result = cli(
            "ingest", card, "--map", root / "map.csv", "--archive", fresh, "--send",
            "--wipe", "--yes", *extra, env=env,
        )  # fmt: skip
        assert result.returncode == 1, (result.stdout, result.stderr)
        assert "does not answer (host not found" in result.stderr


def test_a_pacs_that_takes_the_connection_and_never_answers_is_said_to_be_hung(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A PACS hung (SIGSTOP in an outside tester's trial) takes the TCP connection and sends
    nothing: it was blamed on the AE titles ("did not accept the association")."""
    import socket

    archive, _env = archived
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # the kernel completes the connection; nothing ever reads or answers
    try:
        port = listener.getsockname()[1]
        config = f"[pacs]\nhost = '127.0.0.1'\nport = {port}\nae_title = 'HUNG'\ntimeout = 1\n"
        result = cli("dicom", "send", "--archive", archive, env=environment(tmp_path, config))
    finally:
        listener.close()
    said = " ".join(result.stderr.split())
    assert result.returncode == 1, said
    assert "took the connection but gave no answer to the association within the timeout" in said
    assert "check ae_title" not in said


def test_a_changed_archive_copy_is_never_exported(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    archive, env = archived
    copy = Path(shutil.copytree(archive, tmp_path / "archive"))
    kodak = next(p for p in search(copy, env) if p.startswith(OTHER) and p.endswith(".jpg"))
    data = bytearray((copy / kodak).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / kodak).write_bytes(bytes(data))
    out = tmp_path / "out"
    result = cli("dicom", "export", OTHER, "--archive", copy, "--out", out, "--json", env=env)
    assert result.returncode == 1, result.stderr
    failed = [i for i in json.loads(result.stdout)["items"] if i["action"] == "failed"]
    assert [i["path"] for i in failed] == [kodak]
    assert "no longer matches its checksum" in failed[0]["reason"]
    assert not list(out.rglob("*.dcm"))


def with_role(
    archived: tuple[Path, dict[str, str]], tmp_path: Path, role: str
) -> tuple[Path, str, dict[str, str]]:
    """A copy of the archive whose Kodak JPEG's catalogue row has ``role``; its path."""
    archive, env = archived
    copy = Path(shutil.copytree(archive, tmp_path / "archive"))
    kodak = next(p for p in search(copy, env) if p.startswith(OTHER) and p.endswith(".jpg"))
    with closing(sqlite3.connect(copy / ".cardingest" / "catalogue.sqlite")) as conn:
        conn.execute("UPDATE files SET role = ? WHERE archive_path = ?", (role, kodak))
        conn.commit()
    return copy, kodak, env


def test_slates_are_not_exported(archived: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    copy, kodak, env = with_role(archived, tmp_path, "slate")
    out = tmp_path / "out"
    result = cli("dicom", "export", OTHER, "--archive", copy, "--out", out, "--json", env=env)
    assert result.returncode == 3, result.stderr  # only the HEIC and RAW are reported
    items = json.loads(result.stdout)["items"]
    assert kodak not in {i["path"] for i in items} and not list(out.rglob("*.dcm"))


def test_a_slate_whose_role_was_edited_stops_the_export(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The slates left out are those the export's own records name (every row checked as
    it is read; there is no second read of the role column): a role edited to ``SLATE`` is a
    damaged row, named, and nothing is written, neither the slate nor the rest."""
    copy, _kodak, env = with_role(archived, tmp_path, "SLATE")
    out = tmp_path / "out"
    result = cli("dicom", "export", OTHER, "--archive", copy, "--out", out, env=env)
    assert result.returncode == 1, result.stderr
    assert "role" in result.stderr and "is not one of photo, slate" in result.stderr
    assert not list(out.rglob("*.dcm"))


def test_a_typo_in_pacs_is_an_error_for_every_command(tmp_path: Path) -> None:
    env = environment(tmp_path, "[pacs]\nhots = 'pacs.example'\n")
    result = cli("search", "--archive", tmp_path, env=env)
    assert result.returncode == 2 and "unknown key [pacs] hots" in result.stderr


def test_an_id_with_nothing_archived_is_exit_2(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    archive, env = archived
    result = cli("dicom", "export", "MCJ1984", "--archive", archive, "--out", tmp_path, env=env)
    assert result.returncode == 2 and "No photos of MCJ1984" in result.stderr
    # Dates that match nothing: "Wrote 0 DICOM file(s)", exit 0 and an empty folder made,
    # where `share` with the same filter is exit 2 and writes nothing.
    out = tmp_path / "later"
    pacs = environment(tmp_path, "[pacs]\nstow_url = 'http://127.0.0.1:9'\n")  # not asked
    for command, where in ((("export", "--out", out), env), (("send",), pacs)):
        result = cli("dicom", *command, "--from", "2030-01-01", "--archive", archive, env=where)
        assert result.returncode == 2, result.stderr
        assert "No archived photos match the dates given (--from, --to)" in result.stderr
    assert not out.exists()


def test_no_catalogue_is_exit_2(tmp_path: Path) -> None:
    env = environment(tmp_path)
    result = cli("dicom", "export", "--archive", tmp_path / "empty", env=env)
    assert result.returncode == 2 and "No catalogue" in result.stderr


def test_a_jpeg_cut_short_is_left_out_not_exported(tmp_path: Path) -> None:
    """A photo written while the card was pulled is archived as it is, with a warning; a
    DICOM file of it would show broken in the PACS's viewer (a trial: exported without a
    word, its image data ending mid-scan). It is left out with the reason."""
    whole = sample("Canon_40D.jpg")
    card = tmp_path / "card" / "DCIM" / "100CANON"
    card.mkdir(parents=True)
    (card / "IMG_0001.JPG").write_bytes(whole)
    (card / "IMG_0002.JPG").write_bytes(whole[:-200])  # its image data, and no end marker
    env = environment(tmp_path)
    archive = tmp_path / "archive"
    ran = cli("ingest", tmp_path / "card", "--id", PATIENT, "--archive", archive, env=env)
    assert ran.returncode == 0, ran.stderr
    assert "cut short" in ran.stdout + ran.stderr
    out = tmp_path / "out"
    result = cli("dicom", "export", PATIENT, "--archive", archive, "--out", out, "--json", env=env)
    assert result.returncode == 3, result.stderr
    items = json.loads(result.stdout)["items"]
    left = [i for i in items if i["action"] == "left-out"]
    assert len(left) == 1 and len([i for i in items if i["action"] == "written"]) == 1, items
    assert left[0]["reason"].startswith("not sendable: the JPEG is cut short"), left
    assert len(list(out.rglob("*.dcm"))) == 1
    other = tmp_path / "other" / "DCIM" / "100NIKON"  # a patient whose only photo is cut
    other.mkdir(parents=True)
    (other / "DSC_0001.JPG").write_bytes(sample("Nikon_D70.jpg")[:-200])
    ran = cli("ingest", other.parent.parent, "--id", "ACA31FM", "--archive", archive, env=env)
    assert ran.returncode == 0, ran.stderr
    result = cli("dicom", "export", "ACA31FM", "--archive", archive, "--out", out, env=env)
    assert result.returncode == 3 and "cut short" in result.stderr, result.stderr
    assert not (out / "ACA31FM").exists()  # a trial: the patient's empty folder was left


def test_data_after_the_photos_end_stays_out_of_the_dicom_file(tmp_path: Path) -> None:
    """A phone's motion photo carries its video (with sound) after the JPEG's end marker. It
    went into the DICOM frame whole: a video in the PACS, and a frame that is no JPEG. The
    frame now ends with the photo's own end marker (an EXIF thumbnail's does not count),
    and the export says how much was left out."""
    whole = sample("Canon_40D.jpg")
    assert whole.count(b"\xff\xd9") == 2  # its EXIF thumbnail's end marker, and its own
    motion = b"\x00\x00\x00\x1cftypmp42" + os.urandom(4000) + b"SECRET audio"
    card = tmp_path / "card" / "DCIM" / "Camera"
    card.mkdir(parents=True)
    (card / "PXL_20240509_100001123.MP.jpg").write_bytes(whole + motion)
    env = environment(tmp_path)
    archive = tmp_path / "archive"
    ran = cli("ingest", tmp_path / "card", "--id", PATIENT, "--archive", archive, env=env)
    assert ran.returncode == 0, ran.stderr
    out = tmp_path / "out"
    result = cli("dicom", "export", PATIENT, "--archive", archive, "--out", out, "--json", env=env)
    assert result.returncode == 0, result.stderr
    [written] = [i for i in json.loads(result.stdout)["items"] if i["action"] == "written"]
    frame = bytes(next(generate_frames(pydicom.dcmread(written["file"]).PixelData,
                                       number_of_frames=1)))  # fmt: skip
    assert frame == padded(whole)
    assert b"ftypmp42" not in frame and b"SECRET" not in frame
    assert f"{len(motion):,} bytes after the photo's end" in result.stderr


@pytest.mark.parametrize(("site", "laterality", "image", "modifier"), [
    ("back", None, None, None), ("scalp", None, None, None), ("hand", "", None, None),
    ("left hand", None, "L", "Left"), ("a mole", "", None, None),
    ("both hands", None, "B", "Right and left"),
    ("Left and right forearm", None, "B", "Right and left"),
    ("bilateral shins", None, "B", "Right and left"), ("both moles, back", None, None, None),
    ("both", "", None, None), ("right forearm, left of the scar", "", None, None),
    ("upper back, left and right of spine", None, None, None),
])  # fmt: skip
def test_laterality_only_where_a_side_could_be(
    site: str, laterality: str | None, image: str | None, modifier: str | None, tmp_path: Path
) -> None:
    """Laterality (type 2C) is for a paired structure whose side is not known: an empty one
    on the back or the scalp made dciodvfy report an error; a side given goes as Image
    Laterality, both sides as its B (a trial: "both hands" went as a side not known); a
    site with no coded region keeps the empty Laterality."""
    require_binaries("dciodvfy")
    data = sample("Pentax_K10D.jpg")
    facts = photo_facts(sha256="ab" * 32, ingest_id="20261130T000000Z-aaaaaa", site=site)
    ds = build_dataset(facts, upright_frame(data), DicomOptions(issuer="NHI"))
    assert ds.get("Laterality") == laterality
    assert ds.get("ImageLaterality") == image
    regions = ds.get("AnatomicRegionSequence") or [Dataset()]
    modifiers = regions[0].get("AnatomicRegionModifierSequence") or [Dataset()]
    assert modifiers[0].get("CodeMeaning") == modifier
    path = tmp_path / "x.dcm"
    path.write_bytes(part10_bytes(ds))
    check = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    errors = [line for line in (check.stdout + check.stderr).splitlines() if "Error" in line]
    assert errors == [], errors


def stand_in_pacs(status: int, found: list[Dataset] | None = None) -> DimseClient:
    """A `DimseClient` whose association is a stand-in: each C-STORE answered with
    ``status``; with ``found``, each C-FIND with those identifiers (pending), then success
    (without it, the PACS answers no queries)."""
    from cardingest.export.pacs import DimseClient

    def answer(code: int) -> Dataset:
        said = Dataset()
        said.Status = code
        return said

    class Association:
        is_established = True

        def send_c_store(self, _ds: Dataset) -> Dataset:
            return answer(status)

        def send_c_find(self, _query: Dataset, _model: object) -> Iterator[tuple[Any, Any]]:
            yield from ((answer(0xFF00), identifier) for identifier in found or [])
            yield answer(0x0000), None

    client = DimseClient(PacsConfig(host="127.0.0.1", port=104, ae_title="PACS"))
    client._assoc, client._can_find = Association(), found is not None
    return client


def test_a_store_refused_for_lack_of_resources_says_so() -> None:
    """0xA700 (a PACS whose storage is full) was "the PACS refused it (status 0xA700)" 35
    times over, with no word of why. The status is the PACS's own answer, given here by a
    stand-in association: the words for its class are what is checked."""
    from cardingest.export.pacs import Refused

    client = stand_in_pacs(0xA700)
    with pytest.raises(Refused) as caught:
        client.store(Dataset())
    assert str(caught.value) == (
        "the PACS refused it (status 0xA700: out of resources, as when its storage is full: "
        "see the PACS's log)"
    )


def test_a_pacs_that_finds_the_instance_under_another_patient_has_not_stored_it() -> None:
    """The C-FIND that confirms each store must find the instance under its own patient: a
    PACS that holds that SOP instance under another patient ID (a mutant that asked for the
    instance alone passed every test) has not stored this photo, and it is not "sent"."""
    from cardingest.export.pacs import NotFound

    photo = Dataset()
    photo.StudyInstanceUID, photo.SeriesInstanceUID = "2.25.1", "2.25.2"
    photo.SOPInstanceUID, photo.PatientID = "2.25.3", PATIENT
    held = Dataset()
    held.SOPInstanceUID, held.PatientID = photo.SOPInstanceUID, OTHER
    client = stand_in_pacs(0x0000, found=[held])
    with pytest.raises(NotFound, match="a query does not find it"):
        client.store(photo)
    photo.PatientID = OTHER
    assert client.store(photo) == "c-find"


def test_a_dicomweb_server_that_lists_the_instance_under_another_patient_has_not_it() -> None:
    """The same for the QIDO-RS query after a STOW-RS: an instance listed under another
    patient ID, or another instance, is not this photo (a mutant that counted any listed
    instance passed every test)."""
    import json as json_module

    from pydicom.dataset import Dataset

    from cardingest.export.pacs import StowClient

    photo = Dataset()
    photo.StudyInstanceUID, photo.SOPInstanceUID, photo.PatientID = "2.25.1", "2.25.3", PATIENT
    config = PacsConfig(host="", port=0, ae_title="PACS", stow_url="http://127.0.0.1:1/studies")
    client = StowClient(config)

    def listing(sop: str, patient: str) -> None:
        item = {"00080018": {"Value": [sop]}, "00100020": {"Value": [patient]}}
        answer = json_module.dumps([item]).encode()
        client._open = lambda _request: (200, answer)  # type: ignore[method-assign]

    listing("2.25.3", OTHER)
    assert client._listed(photo) is False
    listing("2.25.9", PATIENT)
    assert client._listed(photo) is False
    listing("2.25.3", PATIENT)
    assert client._listed(photo) is True


def test_export_refuses_a_patients_folder_that_is_a_link_out_of_it(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A trial: in a shared --out, another account made `OUT/ID` a link to its own folder
    before the export; every .dcm of the patient was written there."""
    archive, env = archived
    out, elsewhere = tmp_path / "pub", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / PATIENT).symlink_to(elsewhere)
    result = cli("dicom", "export", PATIENT, "--archive", archive, "--out", out, env=env)
    said = " ".join(result.stderr.split())
    assert result.returncode == 2 and f"{out / PATIENT} is a symbolic link" in said, said
    assert list(elsewhere.iterdir()) == []


def test_export_refuses_a_patients_folder_another_account_made_and_closes_its_own(
    archived: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A trial: in a shared --out (a group's, mode 0770, holding files already, so left as
    it is; the trial's was 0777, now refused as a whole), another account made `OUT/ID`
    (0777) first; the .dcm files went into it, where that account could list, take or swap
    them before the CD. Refused, nothing written. The user's own `OUT/ID` left 0755 by
    hand is closed, with a warning."""
    require(os.geteuid() == 0, "giving a folder to another account needs root")
    archive, env = archived
    out = tmp_path / "pub"
    out.mkdir()
    (out / "notes.txt").write_text("x", encoding="utf-8")
    out.chmod(0o770)
    theirs = out / PATIENT
    theirs.mkdir()
    theirs.chmod(0o777)
    os.chown(theirs, 65534, 65534)  # nobody
    result = cli("dicom", "export", PATIENT, "--archive", archive, "--out", out, env=env)
    said = " ".join(result.stderr.split())
    assert result.returncode == 2 and f"{theirs} belongs to the account nobody" in said, said
    assert list(theirs.iterdir()) == []
    os.chown(theirs, os.geteuid(), os.getegid())
    theirs.chmod(0o755)
    result = cli("dicom", "export", PATIENT, "--archive", archive, "--out", out, env=env)
    said = " ".join(result.stderr.split())
    assert result.returncode in (0, 3) and "made it private (drwx------)" in said, said
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o700 and list(theirs.glob("*.dcm"))


def test_export_finishes_a_stopped_move_first(
    own_archive: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A trial: while a stopped move's journal waited, `dicom send` sent its photos under the
    patient they were being moved from; export wrote them there too. The move is finished
    first, as `tag` does."""
    archive, env = own_archive
    moving = next(p for p in search(archive, env) if p.startswith(OTHER) and p.endswith(".jpg"))
    journal = archive / ".cardingest" / "move-journal.json"
    stopped_move(archive, moving, PATIENT, env, tmp_path)
    out = tmp_path / "out"
    result = cli("dicom", "export", OTHER, "--archive", archive, "--out", out, env=env)
    assert "Finished move" in result.stderr and not journal.exists(), result.stderr
    assert not (out / OTHER / (Path(moving).stem + ".dcm")).exists()


def test_a_re_export_names_a_file_of_a_photo_moved_away_since(
    own_archive: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A trial: exported, then one photo moved to another patient, then exported again: its
    .dcm, with the old Patient ID, stayed in the old patient's folder without a word, and
    went on the CD with the rest."""
    archive, env = own_archive
    out = tmp_path / "cd"
    first = cli("dicom", "export", OTHER, "--archive", archive, "--out", out, env=env)
    assert first.returncode == 3, first.stderr  # its HEIC and CR3 are left out
    moving = next(p for p in search(archive, env) if p.startswith(OTHER) and p.endswith(".jpg"))
    moved = cli("move", moving, "--to", PATIENT, "--archive", archive, env=env)
    assert moved.returncode == 0, moved.stderr
    again = cli("dicom", "export", OTHER, "--archive", archive, "--out", out, "--json", env=env)
    stale = out / OTHER / (Path(moving).stem + ".dcm")
    assert json.loads(again.stdout)["not_theirs"] == [str(stale)], again.stderr
    said = " ".join(again.stderr.split())
    assert f"{stale} is no photo of {OTHER} now (moved to another patient" in said, said
    every = cli("dicom", "export", "--archive", archive, "--out", out, "--json", env=env)
    assert json.loads(every.stdout)["not_theirs"] == [str(stale)], every.stderr


def test_a_re_export_that_finds_a_file_to_take_out_is_not_exit_0(
    own_archive: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """A trial: the `.dcm` of a photo moved away since was named on stderr and the export
    was exit 0, so a script burning the folder went ahead. It is exit 3 now."""
    archive, env = own_archive
    out = tmp_path / "cd"
    first = cli("dicom", "export", PATIENT, "--archive", archive, "--out", out, env=env)
    assert first.returncode == 0, first.stderr
    mine = sorted(p for p in search(archive, env) if p.startswith(PATIENT) and p.endswith(".jpg"))
    moved = cli("move", mine[-1], "--to", OTHER, "--archive", archive, env=env)  # the last:
    assert moved.returncode == 0, moved.stderr  # the others keep their Instance Numbers
    again = cli("dicom", "export", PATIENT, "--archive", archive, "--out", out, "--json", env=env)
    assert again.returncode == 3, again.stderr
    assert json.loads(again.stdout)["not_theirs"] == [
        str(out / PATIENT / (Path(mine[-1]).stem + ".dcm"))
    ]
