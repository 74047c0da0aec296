"""File times on a fusefat card. fusefat 0.1a reports every file time a month late (the FAT
month handed to mktime as if it counted from 0), so a photo with no EXIF time, named by its
file time, was filed a month late: 11 March as 11 April, 31 January as 3 March. Those times
are read from the card's FAT directory entries instead (`card.fattimes`), checked here on
real FAT12, FAT16 and FAT32 images made by mkfs.vfat and filled by mtools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from cardimage import MountedCard, build_fat32_image, require_fat_tools, require_fuse
from exif_bytes import exif_jpeg
from typer.testing import CliRunner

from cardingest.card.fattimes import FatVolume, entry_times, true_file_times
from cardingest.cli import app as cli_app
from cardingest.errors import EXIT_HELD, EXIT_OK

NO_EXIF = b"\xff\xd8\xff\xdb" + bytes(64) + b"\xff\xd9"  # a JPEG with no EXIF block


def stamp(path: Path, when: str) -> Path:
    seconds = datetime.fromisoformat(when).timestamp()
    os.utime(path, (seconds, seconds))
    return path


def no_exif_card(tmp_path: Path, when: str) -> Path:
    """A FAT32 image holding DCIM/100CANON/IMG_0001.JPG, a JPEG with no EXIF written at
    ``when`` (skipped without the FAT tools or FUSE)."""
    require_fat_tools()
    require_fuse()
    plain = tmp_path / "IMG_0001.JPG"
    plain.write_bytes(NO_EXIF)
    stamp(plain, when)
    return build_fat32_image(tmp_path / "card.img", {"DCIM/100CANON/IMG_0001.JPG": plain})


def fat_image(tmp_path: Path, bits: int, files: dict[str, str]) -> Path:
    """An image of ``bits`` (12, 16, 32) holding each ``path: time`` (folders made)."""
    image = tmp_path / f"fat{bits}.img"
    size = {12: 4, 16: 32, 32: 64}[bits]
    subprocess.run(["truncate", "-s", f"{size}M", str(image)], check=True)
    subprocess.run(["mkfs.vfat", "-F", str(bits), str(image)], check=True, capture_output=True)
    made: set[str] = set()
    for number, (path, when) in enumerate(files.items()):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in made:
                subprocess.run(["mmd", "-i", str(image), f"::/{folder}"], check=True)
                made.add(folder)
        local = tmp_path / f"file{number}"
        local.write_bytes(b"x" * (number + 1))
        stamp(local, when)
        subprocess.run(
            ["mcopy", "-m", "-i", str(image), str(local), f"::/{path}"],
            check=True,
            capture_output=True,
        )
    return image


@pytest.mark.parametrize("bits", [12, 16, 32])
def test_entry_times_are_the_times_the_files_were_written_with(tmp_path: Path, bits: int) -> None:
    require_fat_tools()
    files = {
        "DCIM/100CANON/IMG_0001.JPG": "2026-03-11 09:22:30",
        "DCIM/100CANON/IMG_0002.JPG": "2026-01-31 23:59:58",  # fusefat: 3 March
        "DCIM/100CANON/IMG_0003.JPG": "2026-12-31 08:00:00",  # fusefat: 31 January 2027
        "DCIM/100CANON/A long name, with spaces.jpeg": "2024-02-29 12:00:02",
        "DCIM/101CANON/IMG_0001.JPG": "2025-07-04 00:00:00",
        "ROOT.JPG": "1999-12-31 23:59:58",
    }
    # Enough files for the folder's entries to run over several clusters.
    files.update({f"DCIM/102CANON/P{n:07d}.JPG": "2026-05-05 05:05:04" for n in range(40)})
    image = fat_image(tmp_path, bits, files)
    asked = [*files, "dcim/100canon/img_0001.jpg", "DCIM/100CANON/IMG_0009.JPG", "DCIM"]
    found = entry_times(str(image), asked)
    for path, when in files.items():
        assert found[path] == datetime.fromisoformat(when), path
    assert found["dcim/100canon/img_0001.jpg"] == datetime(2026, 3, 11, 9, 22, 30)
    assert found["DCIM/100CANON/IMG_0009.JPG"] is None  # not there
    assert found["DCIM"] is None  # a folder has no file time here


def test_a_volume_that_is_not_fat_is_refused_not_read_wrongly(tmp_path: Path) -> None:
    junk = tmp_path / "junk.img"
    junk.write_bytes(bytes(4096))
    with pytest.raises(ValueError):
        entry_times(str(junk), ["DCIM/100CANON/IMG_0001.JPG"])
    assert true_file_times([tmp_path / "x.jpg"]) == {}  # not on fusefat: times stand


def test_a_no_exif_photo_on_a_fusefat_card_is_named_by_its_own_date(tmp_path: Path) -> None:
    """The whole path, as a user runs it: a FAT32 card mounted with fusefat, the photo's
    file time 31 January (fusefat: 3 March), named 20260131 in preview and ingest."""
    require_fat_tools()
    require_fuse()
    photos = tmp_path / "photos"
    photos.mkdir()
    plain = photos / "IMG_0001.JPG"
    plain.write_bytes(NO_EXIF)
    stamp(plain, "2026-01-31 16:20:10")
    (photos / "IMG_0002.JPG").write_bytes(exif_jpeg("2026:01:31 16:21:00"))
    image = build_fat32_image(
        tmp_path / "card.img",
        {
            "DCIM/100CANON/IMG_0001.JPG": plain,
            "DCIM/100CANON/IMG_0002.JPG": photos / "IMG_0002.JPG",
        },
    )
    archive = tmp_path / "archive"
    with MountedCard(image, readonly=True) as card:
        shown = datetime.fromtimestamp((card / "DCIM/100CANON/IMG_0001.JPG").stat().st_mtime)
        assert shown.month == 3  # fusefat's own reading, a month late (Feb 31st)
        argv = [str(card), "--id", "JBX3656", "--archive", str(archive), "--json"]
        ran = CliRunner().invoke(cli_app.app, ["ingest", *argv])
    assert ran.exit_code == EXIT_OK, ran.output
    targets = {i["source"]: i["target"] for i in json.loads(ran.stdout)["items"]}
    assert targets["DCIM/100CANON/IMG_0001.JPG"] == "JBX3656/JBX3656-20260131-162010.jpg"
    assert targets["DCIM/100CANON/IMG_0002.JPG"] == "JBX3656/JBX3656-20260131-162100.jpg"


def test_when_the_card_image_cannot_be_read_the_photo_is_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the FAT entry (the image gone from under the driver, unreadable) fusefat's
    time is all there is, and it is a month out: the photo stays on the card."""
    image = no_exif_card(tmp_path, "2026-03-11 09:22:30")
    with MountedCard(image, readonly=True) as card, monkeypatch.context() as patch:
        patch.setattr("cardingest.card.fattimes.fusefat_source", lambda _mount: None)
        argv = [str(card), "--id", "JBX3656", "--archive", str(tmp_path / "a"), "--json"]
        ran = CliRunner().invoke(cli_app.app, ["preview", *argv])
        template = CliRunner().invoke(cli_app.app, ["map-template", str(card)])
    # map-template lists its month-late time too: it says so, on stderr, before the rows
    assert template.exit_code == EXIT_OK, template.output
    assert "fusefat shows a month late" in " ".join(template.stderr.split())
    assert template.output.index("fusefat shows") < template.output.index("files,id")
    assert ran.exit_code == EXIT_HELD, ran.output
    document = json.loads(ran.stdout)
    (item,) = document["items"]
    assert item["action"] == "hold"
    assert any("fusefat shows a month late" in w for w in document["warnings"]), document


def test_a_long_name_left_from_another_entry_is_not_taken(tmp_path: Path) -> None:
    """A tool that renames a short entry without its long name leaves long-name entries
    whose checksum is another name's: they do not name the renamed file."""
    require_fat_tools()
    image = fat_image(tmp_path, 16, {"DCIM/A long name.jpeg": "2026-03-11 09:22:30"})
    data = bytearray(image.read_bytes())
    short = data.find(b"ALONGN~1JPE")
    assert short > 0, "mtools' short name for it"
    data[short : short + 11] = b"RENAMED JPG"
    image.write_bytes(bytes(data))
    found = entry_times(str(image), ["DCIM/A long name.jpeg", "DCIM/RENAMED.JPG"])
    assert found == {
        "DCIM/A long name.jpeg": None,
        "DCIM/RENAMED.JPG": datetime(2026, 3, 11, 9, 22, 30),
    }


def test_a_folder_holding_a_fusefat_card_and_a_plain_folder_dates_each_by_its_own(
    tmp_path: Path,
) -> None:
    """The source a folder with a card mounted in it and a folder of another file system:
    only the first path was asked for its mount, so the card's photos kept fusefat's times
    (or, the other way round, the plain folder's photo was held)."""
    image = no_exif_card(tmp_path, "2026-01-31 10:00:00")
    source = tmp_path / "source"
    for first, second in (("a_plain", "z_card"), ("z_plain", "a_card")):
        shutil.rmtree(source, ignore_errors=True)
        folder = source / first / "DCIM" / "100CANON"
        folder.mkdir(parents=True)
        # Other bytes than the card's photo: the same bytes would be one photo twice,
        # planned once (its time then the first's).
        (folder / "IMG_0002.JPG").write_bytes(NO_EXIF.replace(bytes(64), bytes(range(64))))
        stamp(folder / "IMG_0002.JPG", "2026-02-10 11:00:00")
        with MountedCard(image, source / second, readonly=True):
            argv = [str(source), "--id", "JBX3656", "--archive", str(tmp_path / "a"), "--json"]
            ran = CliRunner().invoke(cli_app.app, ["preview", *argv])
        assert ran.exit_code == EXIT_OK, ran.output
        targets = {i["source"]: i["target"] for i in json.loads(ran.stdout)["items"]}
        assert targets == {
            f"{second}/DCIM/100CANON/IMG_0001.JPG": "JBX3656/JBX3656-20260131-100000.jpg",
            f"{first}/DCIM/100CANON/IMG_0002.JPG": "JBX3656/JBX3656-20260210-110000.jpg",
        }


def test_a_cross_linked_folder_is_read_no_further_than_a_folder_can_be(tmp_path: Path) -> None:
    """A folder's entry pointing into a large file's clusters (damage after a power cut)
    was read whole into memory, a video's gigabytes; no FAT folder holds more than 2 MiB."""
    require_fat_tools()
    image = fat_image(tmp_path, 32, {"DCIM/100CANON/IMG_0001.JPG": "2026-03-11 09:22:30"})
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(4 * 1024 * 1024))
    subprocess.run(["mcopy", "-i", str(image), str(big), "::/BIG.BIN"], check=True)
    data = bytearray(image.read_bytes())
    dcim, video = data.find(b"DCIM       \x10"), data.find(b"BIG     BIN")
    assert dcim > 0 and video > 0
    data[dcim + 20 : dcim + 22] = data[video + 20 : video + 22]  # the cluster's high word
    data[dcim + 26 : dcim + 28] = data[video + 26 : video + 28]  # and its low word
    image.write_bytes(bytes(data))
    fd = os.open(image, os.O_RDONLY)
    try:
        volume = FatVolume(fd)
        assert volume.entry_time("DCIM/100CANON/IMG_0001.JPG") is None
        assert max(len(entries) for entries in volume._directories.values()) <= 2 * 1024 * 1024
    finally:
        os.close(fd)


def test_many_photos_in_one_folder_read_the_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each lookup read and searched every folder on its path again: 4,000 photos in a
    folder took 17 s. The folders are read once for all the paths asked."""
    require_fat_tools()
    files = {f"DCIM/100CANON/IMG_{n:04d}.JPG": "2026-05-05 05:05:04" for n in range(1, 301)}
    image = fat_image(tmp_path, 32, files)
    reads: list[int] = []
    real = os.pread

    def counted(fd: int, size: int, offset: int) -> bytes:
        reads.append(size)
        return real(fd, size, offset)

    monkeypatch.setattr("cardingest.card.fattimes.os.pread", counted)
    found = entry_times(str(image), list(files))
    assert set(found.values()) == {datetime(2026, 5, 5, 5, 5, 4)}
    assert len(reads) < 100, len(reads)  # the boot sector, FAT entries, each cluster once
