"""The rules of `cardingest share` its mutation round found no test pinning (docs/testing.md,
"A mutation round on clinic/share"): the date range's end, the audit record of who shared
which patient, capture order within a second, each copy's outcome and its reason, the
refusals' exact words and lists, and a full or inode-less disk.

Each test ingests real camera JPEGs (and a RAW, a TIFF too large to open) and shares them
in this process, through the CLI runner or `plan_share` and `execute_share`.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from clinic_helpers import camera_jpeg, invoke
from conftest import fill
from exif_bytes import DTO, build, text
from PIL import Image
from test_share import archive
from test_slates_cli import card

from cardingest.archive.audit import AuditLog
from cardingest.cli.config import load_settings
from cardingest.clinic.jpeg import SIZES
from cardingest.clinic.share import (
    ShareItem,
    execute_share,
    plan_share,
    refuse_filled,
    select,
)
from cardingest.errors import UsageError
from cardingest.storage.durable import TEMP_PREFIX

__all__ = ["archive", "card"]  # the fixtures, used by name


@pytest.fixture(autouse=True)
def _test_ids(test_ids: Path) -> Path:
    return test_ids


def bomb_tiff(path: Path) -> None:
    """A TIFF of 20000 x 20000 pixels in 150 bytes (a scan's size, Pillow's "decompression
    bomb"): Pillow refuses to open it, with neither an OSError nor a RAW's message."""
    entries = [
        (256, 4, 20000),  # ImageWidth
        (257, 4, 20000),  # ImageLength
        (258, 3, 8),  # BitsPerSample
        (259, 3, 1),  # Compression: none
        (262, 3, 1),  # PhotometricInterpretation: black is zero
        (273, 4, 8),  # StripOffsets
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, 20000),  # RowsPerStrip
        (279, 4, 1),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    ifd += b"".join(struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in entries)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 12) + bytes(4) + ifd + bytes(4))


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """JBX3656, no consent recorded: two JPEGs taken in one second (IMG_0001, IMG_0002), a
    RAW alone at 11:00 (no JPEG twin), a TIFF too large to open at 12:00, all on 1 March
    2024; one JPEG on 2 March."""
    folder = tmp_path / "mixed-card" / "DCIM" / "100CANON"
    camera_jpeg(folder / "IMG_0001.JPG", datetime(2024, 3, 1, 10, 0, 0), colour=(200, 0, 0))
    camera_jpeg(folder / "IMG_0002.JPG", datetime(2024, 3, 1, 10, 0, 0), colour=(0, 200, 0))
    (folder / "IMG_0003.DNG").write_bytes(build("<", [], [text(DTO, b"2024:03:01 11:00:00\0")]))
    bomb_tiff(folder / "IMG_0004.TIF")
    noon = datetime(2024, 3, 1, 12, 0, 0).timestamp()
    os.utime(folder / "IMG_0004.TIF", (noon, noon))
    camera_jpeg(folder / "IMG_0005.JPG", datetime(2024, 3, 2, 9, 0, 0))
    archive = tmp_path / "mixed-archive"
    code, _, err = invoke(
        "ingest", tmp_path / "mixed-card", "--id", "JBX3656", "--archive", archive
    )
    assert code == 0, err
    return archive


def refusal(*args: str | Path) -> dict:
    """The error document of a share refused before anything (exit 2)."""
    code, out, err = invoke("share", *args, "--json")
    assert code == 2, err
    return json.loads(out)["error"]


def source_of(item: ShareItem) -> str:
    return item.record.source_path.rpartition("/")[2]


@contextmanager
def own_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A tmpfs of this test's own on ``folder`` (root only), unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_photo_taken_after_the_to_date_is_not_shared(mixed: Path, tmp_path: Path) -> None:
    """``--to`` ends the range: a photo of the next day would go out on a referral meant
    for one visit's photos."""
    out = tmp_path / "first-day"
    code, stdout, err = invoke(
        "share", "JBX3656", "--from", "2024-03-01", "--to", "2024-03-01", "--out", out,
        "--archive", mixed, "--json",
    )  # fmt: skip
    assert code == 1, err  # the TIFF fails
    sources = [item["source"] for item in json.loads(stdout)["items"]]
    assert len(sources) == 4 and not [s for s in sources if "20240302" in s], sources
    assert not [p for p in out.iterdir() if "20240302" in p.name]
    plan = plan_share(
        mixed, "JBX3656", size="small", date_to=datetime(2024, 3, 1).date(), out_dir=out / "x"
    )
    assert [source_of(item) for item in plan.items] == [
        "IMG_0001.JPG",
        "IMG_0002.JPG",
        "IMG_0003.DNG",
        "IMG_0004.TIF",
    ]


def test_the_audit_log_names_who_shared_which_patient_from_which_archive(
    archive: Path, tmp_path: Path
) -> None:
    """The token of an anonymous share leads back to the patient only through the audit
    log: both events name the operator, the archive and the patient ID, and a named share
    has no token."""
    settings = load_settings(archive=str(archive))
    assert settings.operator
    code, stdout, err = invoke(
        "share", "JBX3656", "--anonymous", "--out", tmp_path / "anon", "--archive", archive,
        "--json",
    )  # fmt: skip
    assert code == 0, err
    token = json.loads(stdout)["token"]
    assert re.fullmatch("[0-9A-F]{8}", token), token
    started, shared = list(AuditLog(archive).events())[-2:]
    for event in (started, shared):
        assert {k: event.get(k) for k in ("operator", "archive", "id", "anonymous", "token")} == {
            "operator": settings.operator,
            "archive": str(settings.archive),
            "id": "JBX3656",
            "anonymous": True,
            "token": token,
        }, event
    assert (started["event"], shared["event"]) == ("share-started", "share")
    code, _, err = invoke("share", "JBX3656", "--out", tmp_path / "named", "--archive", archive)
    assert code == 0, err
    for event in list(AuditLog(archive).events())[-2:]:
        assert (event["id"], event["token"], event["operator"]) == (
            "JBX3656",
            None,
            settings.operator,
        )


def test_photos_of_one_second_are_shared_in_capture_order_and_numbered(
    mixed: Path, tmp_path: Path
) -> None:
    plan = plan_share(mixed, "JBX3656", size="medium", out_dir=tmp_path / "out")
    assert [(source_of(item), item.name) for item in plan.items[:2]] == [
        ("IMG_0001.JPG", "JBX3656-20240301-100000-medium.jpg"),
        ("IMG_0002.JPG", "JBX3656-20240301-100000-2-medium.jpg"),
    ]


def with_subsec(path: Path, subsec: str) -> Path:
    """The camera JPEG at ``path`` with an EXIF SubSecTimeOriginal, as a burst has."""
    with Image.open(path) as image:
        image.load()
        exif = image.getexif()
    exif.get_ifd(0x8769)[0x9291] = subsec  # Exif IFD: SubSecTimeOriginal
    image.save(path, exif=exif, quality=95)
    return path


def test_photos_of_one_second_are_shared_in_the_order_of_their_fractions(
    tmp_path: Path,
) -> None:
    """Within one second the fraction a camera records orders a burst, not the card's
    file names (a second camera's, or a counter that wrapped): the shared names follow
    the archive's, ``-2`` for the later fraction."""
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    at = datetime(2024, 3, 1, 10, 0, 0)
    with_subsec(camera_jpeg(folder / "IMG_0001.JPG", at, colour=(200, 0, 0)), "75")
    with_subsec(camera_jpeg(folder / "IMG_0002.JPG", at, colour=(0, 200, 0)), "25")
    archive = tmp_path / "archive"
    code, _, err = invoke("ingest", tmp_path / "card", "--id", "JBX3656", "--archive", archive)
    assert code == 0, err
    plan = plan_share(archive, "JBX3656", size="medium", out_dir=tmp_path / "out")
    assert [(source_of(i), i.record.archive_path, i.name) for i in plan.items] == [
        (
            "IMG_0002.JPG",
            "JBX3656/JBX3656-20240301-100000.jpg",
            "JBX3656-20240301-100000-medium.jpg",
        ),
        (
            "IMG_0001.JPG",
            "JBX3656/JBX3656-20240301-100000-2.jpg",
            "JBX3656-20240301-100000-2-medium.jpg",
        ),
    ]


def test_each_copy_is_reported_written_skipped_or_failed_with_its_reason(
    mixed: Path, tmp_path: Path
) -> None:
    """``on_item`` hears each photo's outcome by its own word, and the reason names what is
    wrong: a copy that fails its checksum, one gone (with its path), a RAW alone (no JPEG
    twin to share in its place: said skipped, not left out unsaid), a TIFF too large to
    open; the rest is written."""
    plan = plan_share(mixed, "JBX3656", size="medium", out_dir=tmp_path / "out")
    by_source = {source_of(item): item for item in plan.items}
    assert list(by_source) == [
        "IMG_0001.JPG",
        "IMG_0002.JPG",
        "IMG_0003.DNG",
        "IMG_0004.TIF",
        "IMG_0005.JPG",
    ]
    damaged = mixed / by_source["IMG_0001.JPG"].record.archive_path
    damaged.write_bytes(damaged.read_bytes()[:-10] + b"0123456789")
    gone = mixed / by_source["IMG_0002.JPG"].record.archive_path
    gone.unlink()
    heard: list[tuple[str, str, str | None]] = []
    result = execute_share(
        plan, lambda item, status, why: heard.append((source_of(item), status, why))
    )
    outcome = {source: (status, why) for source, status, why in heard}
    assert list(outcome) == list(by_source)
    assert outcome["IMG_0001.JPG"][0] == "failed"
    assert str(outcome["IMG_0001.JPG"][1]).endswith(": not shared; run `cardingest verify`")
    assert outcome["IMG_0002.JPG"] == ("failed", f"No such file or directory: {gone}")
    assert outcome["IMG_0003.DNG"] == ("skipped", "DNG (RAW) files cannot be re-encoded here")
    assert outcome["IMG_0004.TIF"][0] == "failed"
    assert str(outcome["IMG_0004.TIF"][1]).startswith(
        "Image size (400000000 pixels) exceeds limit of"
    )
    assert outcome["IMG_0005.JPG"] == ("written", None)
    assert [source_of(item) for item, _ in result.written] == ["IMG_0005.JPG"]
    assert [(source_of(item), why) for item, why in result.skipped] == [
        ("IMG_0003.DNG", "DNG (RAW) files cannot be re-encoded here")
    ]
    assert [source_of(item) for item, _ in result.failed] == [
        "IMG_0001.JPG",
        "IMG_0002.JPG",
        "IMG_0004.TIF",
    ]
    assert [p.name for p in plan.out_dir.iterdir()] == ["JBX3656-20240302-090000-medium.jpg"]


def test_a_share_onto_a_full_disk_fails_each_copy_saying_why_and_leaves_nothing(
    archive: Path, tmp_path: Path
) -> None:
    with own_tmpfs(tmp_path / "stick", "size=1m") as stick:
        out = stick / "referral"
        out.mkdir(mode=0o700)
        fill(stick)
        code, stdout, err = invoke("share", "JBX3656", "--out", out, "--archive", archive, "--json")
        assert code == 1, err
        items = json.loads(stdout)["items"]
        assert [(i["action"], i["reason"]) for i in items] == [
            ("failed", "No space left on device")
        ] * 3
        assert list(out.iterdir()) == []


def test_an_out_folder_that_cannot_be_made_is_named_with_why(archive: Path, tmp_path: Path) -> None:
    """A disk with no inode left: the folder cannot be made, and no share begins."""
    with own_tmpfs(tmp_path / "stick", "size=1m,nr_inodes=3") as stick:
        n = 0
        with pytest.raises(OSError):
            while True:
                (stick / f"f{n}").write_bytes(b"")
                n += 1
        events = len(list(AuditLog(archive).events()))
        out = stick / "referral"
        code, stdout, err = invoke("share", "JBX3656", "--out", out, "--archive", archive, "--json")
        assert code == 1, err
        assert json.loads(stdout)["error"]["message"] == (
            f"Cannot create {out}: No space left on device"
        )
        assert not out.exists() and len(list(AuditLog(archive).events())) == events


def test_a_file_in_an_open_out_by_the_time_it_is_closed_keeps_the_share_out(
    archive: Path, tmp_path: Path
) -> None:
    """An empty folder open to others (0775: its group may write there) is checked when
    the share is planned, and again once it is closed: a file put there while it was open
    (another patient's photo) would go out with the share. The file is written as the
    warning that the folder was closed is given, the last moment before that check."""
    out = tmp_path / "referral"
    out.mkdir()
    out.chmod(0o775)
    plan = plan_share(archive, "JBX3656", size="medium", out_dir=out)
    other = out / "MCJ1984-20240302-090000-medium.jpg"
    warned: list[str] = []

    def closed(warning: str) -> None:
        warned.append(warning)
        other.write_bytes(b"another patient's photo")

    with pytest.raises(UsageError) as refused:
        execute_share(plan, on_warning=closed)
    assert refused.value.message.startswith(f"--out {out} already holds 1 file(s) or folder(s);")
    assert refused.value.details == [str(other)]
    assert len(warned) == 1 and "made it private" in warned[0], warned
    assert [p.name for p in out.iterdir()] == [other.name]


@pytest.mark.parametrize("mode", [0o775, 0o770, 0o700])
def test_a_file_put_in_the_empty_out_folder_after_the_plan_is_refused_whatever_its_mode(
    archive: Path, tmp_path: Path, mode: int
) -> None:
    """An empty folder when the share was planned that holds a file by the time it is
    written (another account of its group put another patient's photo there): refused, the
    file left, nothing written beside it. The folder then holds something, so it is the
    user's own and is not closed; the check once ran only where it was closed, and three
    copies went in beside the file, the folder still open to the group."""
    out = tmp_path / "referral"
    out.mkdir()
    out.chmod(mode)
    plan = plan_share(archive, "JBX3656", size="medium", out_dir=out)
    other = out / "MCJ1984-20240302-090000-medium.jpg"
    other.write_bytes(b"another patient's photo")
    with pytest.raises(UsageError) as refused:
        execute_share(plan)
    assert refused.value.message.startswith(f"--out {out} already holds 1 file(s) or folder(s);")
    assert [p.name for p in out.iterdir()] == [other.name]


def test_a_share_refused_for_a_file_already_there_lists_it_and_leaves_it(
    archive: Path, tmp_path: Path
) -> None:
    out = tmp_path / "referral"
    out.mkdir(mode=0o700)
    (out / "JBX3656-20240301-100030-medium.jpg").write_bytes(b"another patient")
    error = refusal("JBX3656", "--out", out, "--archive", archive)
    assert error["message"] == f"Not overwriting 1 file(s) already in {out}; choose another --out"
    assert error["details"] == [str(out / "JBX3656-20240301-100030-medium.jpg")]
    assert (out / "JBX3656-20240301-100030-medium.jpg").read_bytes() == b"another patient"


@pytest.mark.parametrize("temporaries", [0, 1, 2])
def test_a_folder_holding_other_files_is_refused_naming_them_and_any_unfinished_copies(
    archive: Path, tmp_path: Path, temporaries: int
) -> None:
    """The other files are listed; the unfinished copies a stopped share left are hidden
    (their names start with a dot), so they are counted and the user told to remove the
    whole folder."""
    out = tmp_path / "referral"
    out.mkdir(mode=0o700)
    (out / "notes.txt").write_bytes(b"MCJ1984")
    for n in range(temporaries):
        (out / f"{TEMP_PREFIX}{n}").write_bytes(b"part of a photo")
    error = refusal("JBX3656", "--out", out, "--archive", archive)
    hidden = {
        0: "",
        1: f", and 1 unfinished copy a stopped share left ({TEMP_PREFIX}…, hidden: remove the "
        "whole folder, not only the photos, before it goes out)",
        2: f", and 2 unfinished copies a stopped share left ({TEMP_PREFIX}…, hidden: remove "
        "the whole folder, not only the photos, before it goes out)",
    }[temporaries]
    assert error["message"] == (
        f"--out {out} already holds 1 file(s) or folder(s){hidden}; a share goes into a new "
        "or empty folder, so that nothing else goes out with it: choose another --out"
    )
    assert error["details"] == [str(out / "notes.txt")]
    assert len(list(out.iterdir())) == 1 + temporaries


def test_an_out_that_is_no_folder_is_refused_in_words_that_say_so(
    archive: Path, tmp_path: Path
) -> None:
    """A named pipe is neither a file nor a folder (and opening it would wait forever); a
    link to nothing; a link that leads round a loop, given to `refuse_filled` itself."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    error = refusal("JBX3656", "--out", pipe, "--archive", archive)
    assert error["message"] == f"--out {pipe} is a named pipe, not a folder; choose another --out"
    error = refusal("JBX3656", "--out", pipe / "sub", "--archive", archive)
    assert error["message"] == (
        f"--out {pipe / 'sub'}: {pipe} is a named pipe, so it cannot hold a folder; choose "
        "another --out"
    )
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    error = refusal("JBX3656", "--out", dangling, "--archive", archive)
    assert error["message"] == (
        f"--out {dangling} is a link to {tmp_path / 'gone'}, which does not exist; give a "
        "folder that exists, or a new name"
    )
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(UsageError) as refused:
        refuse_filled(loop, set())
    assert refused.value.message == (
        f"--out {loop}: cannot be read ({os.strerror(40)})"  # ELOOP
    )


def test_the_plans_refusals_say_what_is_wrong(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(UsageError) as refused:
        plan_share(archive, "JBX3656", size="huge", out_dir=out)
    assert refused.value.message == f"--size 'huge' is not one of {', '.join(SIZES)}"
    assert ", ".join(SIZES) == "small, medium, large, original"
    with pytest.raises(UsageError) as refused:
        plan_share(archive, "JBX3656", size="small", anonymous=True, slates=True, out_dir=out)
    assert refused.value.message == (
        "--anonymous cannot share slates: a slate shows the patient's label"
    )
    error = refusal("EPT6335", "--out", out, "--archive", archive)
    assert error["message"] == f"No archived photos of EPT6335 in {archive}"
    error = refusal("JBX3656", "--from", "2030-01-01", "--out", out, "--archive", archive)
    assert error["message"] == f"No archived photos of JBX3656 in {archive} for those dates"
    error = refusal("JBX3656", "--out", archive / "x", "--archive", archive)
    assert error["message"].startswith(f"--out {archive / 'x'} is inside the archive")
    assert not out.exists()


def test_an_anonymous_share_without_consent_says_how_to_record_it_and_what_each_photo_has(
    mixed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "anon"
    error = refusal("JBX3656", "--anonymous", "--out", out, "--archive", mixed)
    assert error["message"] == (
        "Not sharing anonymously: 5 photo(s) lack teaching or publication consent (set it "
        "with 'cardingest tag PATH --consent teaching' once given)"
    )
    assert len(error["details"]) == 5
    assert all(
        d.startswith("JBX3656/") and d.endswith(": consent not recorded") for d in error["details"]
    )
    assert not out.exists()


@pytest.mark.samples
def test_a_plan_is_named_and_without_slates_unless_asked(card: Path, tmp_path: Path) -> None:
    """`plan_share` and `select` called without those options: a named share (its label the
    ID, not a token), and no slate, the photographed label of the patient."""
    archive = tmp_path / "slates-archive"
    code, _, err = invoke("ingest", card, "--slates", "--archive", archive)
    assert code == 0, err
    assert [r.role for r in select(archive, "JBX3656", None, None)] == ["photo", "photo"]
    with_slates = select(archive, "JBX3656", None, None, slates=True)
    assert sorted(r.role for r in with_slates) == ["photo", "photo", "slate"]
    plan = plan_share(archive, "JBX3656", size="small", out_dir=tmp_path / "out")
    assert (plan.anonymous, plan.label) == (False, "JBX3656")
    assert [item.record.role for item in plan.items] == ["photo", "photo"]
    assert all(item.name.startswith("JBX3656-") for item in plan.items)
