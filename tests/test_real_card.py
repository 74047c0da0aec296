"""The installed console script on real FAT32 and exFAT card images of real camera files.

exiftool, run live on the same mount, is the oracle for capture times.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from cardimage import CardFactory, require

EXIFTOOL_ORDER = (
    ("DateTimeOriginal", "exif:DateTimeOriginal"),
    ("CreateDate", "exif:DateTimeDigitized"),
    ("ModifyDate", "exif:DateTime"),
)


def cardingest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("cardingest")
    require(exe is not None, "the cardingest console script is not installed (pip install .)")
    assert exe is not None
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env=env,
    )


def sample_card(samples_dir: Path) -> dict[str, Path]:
    """Every real sample, under camera-like names in two DCF folders."""
    files: dict[str, Path] = {}
    for n, path in enumerate(sorted((samples_dir / "real").iterdir()), start=1):
        folder = "100CANON" if n <= 12 else "101CANON"
        ext = path.suffix.upper()
        files[f"DCIM/{folder}/IMG_{n:04d}{ext}"] = path
    files["DCIM/100CANON/INDEX.CTG"] = b"not a photo"
    files["MISC/README.TXT"] = b"camera notes"
    return files


def exiftool_times(mount: Path) -> dict[str, tuple[str, str]]:
    require(shutil.which("exiftool") is not None, "exiftool (libimage-exiftool-perl) missing")
    done = subprocess.run(
        [
            "exiftool", "-j", "-r", "-d", "%Y-%m-%dT%H:%M:%S",
            "-EXIF:DateTimeOriginal", "-EXIF:CreateDate", "-EXIF:ModifyDate",
            "-System:FileModifyDate", str(mount / "DCIM"),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    times = {}
    for entry in json.loads(done.stdout):
        rel = Path(entry["SourceFile"]).relative_to(mount).as_posix()
        for tag, source in EXIFTOOL_ORDER:
            value = entry.get(tag)
            if isinstance(value, str) and value[:4].isdigit() and not value.startswith("0000"):
                times[rel] = (value[:19], source)
                break
        else:
            times[rel] = (entry["FileModifyDate"][:19], "mtime")
    return times


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "archive"


def test_cards_lists_the_mounted_card(fat_card: CardFactory, samples_dir: Path) -> None:
    mount = fat_card(sample_card(samples_dir), label="EOS_DIGITAL")
    done = cardingest("cards", "--json")
    assert done.returncode == 0, done.stderr
    cards = {c["mount"]: c for c in json.loads(done.stdout)["cards"]}
    assert str(mount) in cards
    assert cards[str(mount)]["fstype"] == "fuse.fusefat"
    assert cards[str(mount)]["photos"] == len(list((samples_dir / "real").iterdir()))


def test_a_fusefat_card_mounted_elsewhere_is_the_same_card(
    fat_card: CardFactory, tmp_path: Path, archive: Path
) -> None:
    """fusefat names no device, so the card had no serial and was known by its mount path:
    mounted again at another folder it was "another card", and a photo taken after the
    map's first use (a camera clock behind the workstation's) was filed under the map's
    patient, judged by the workstation's clock. The serial is now read from the image the
    driver serves: the same card, judged by the camera's own times, and held."""
    from exif_bytes import exif_jpeg

    mount = fat_card(
        {"DCIM/100CANON/IMG_0001.JPG": exif_jpeg("2020:01:01 10:00:00")},
        label="EOS_DIGITAL",
        serial="1234-ABCD",
    )
    listed = {c["mount"]: c for c in json.loads(cardingest("cards", "--json").stdout)["cards"]}
    assert listed[str(mount)]["serial"] == "1234-ABCD", listed
    idmap = tmp_path / "map.csv"
    idmap.write_text("files,id\nIMG_0001-IMG_0099,JBX3656\n", encoding="utf-8")
    args = ("--map", str(idmap), "--archive", str(archive), "--json")
    done = cardingest("ingest", str(mount), *args, "--wipe", "--yes")
    assert done.returncode == 0, done.stderr
    card = fat_card.handle(mount)
    card.unmount()
    later = tmp_path / "IMG_0002.JPG"
    later.write_bytes(exif_jpeg("2020:01:01 10:30:00"))
    subprocess.run(
        ["mcopy", "-i", str(card.image), str(later), "::DCIM/100CANON/IMG_0002.JPG"], check=True
    )
    card.mountpoint = tmp_path / "elsewhere" / "EOS_DIGITAL"
    card.mount()
    seen = cardingest("preview", str(card.mountpoint), *args)
    assert seen.returncode == 3, seen.stdout
    [item] = json.loads(seen.stdout)["items"]
    assert item["action"] == "hold", item
    assert "after every photo on this card" in item["reason"], item
    card.unmount()
    # Mounted as `fusefat ../x/card.img ../x/mnt` from a sibling folder (fusefat then moves
    # to /, so the paths say little), and the image then renamed, another card's image put
    # at its path: the serial is the image's the driver holds open.
    sibling, relative = tmp_path / "sibling", Path("..", card.image.relative_to(tmp_path))
    sibling.mkdir()
    mount = Path("..", "again")
    (tmp_path / "again").mkdir()
    subprocess.run(["fusefat", "-o", "rw+", str(relative), str(mount)], cwd=sibling, check=True)
    try:
        card.image.rename(card.image.with_name("renamed.img"))
        other = fat_card({"DCIM/100CANON/IMG_0009.JPG": exif_jpeg("2020:01:01 09:00:00")})
        shutil.copy(fat_card.handle(other).image, card.image)
        listed = {c["mount"]: c for c in json.loads(cardingest("cards", "--json").stdout)["cards"]}
        assert listed[str(tmp_path / "again")]["serial"] == "1234-ABCD", listed
        seen = cardingest("preview", str(tmp_path / "again"), *args)
        assert seen.returncode == 3, seen.stdout
    finally:
        subprocess.run(["fusermount", "-u", str(tmp_path / "again")], check=False)


@pytest.mark.parametrize("kind", ["fat32", "exfat"])
def test_preview_times_match_exiftool_through_the_mount(
    kind: str, fat_card: CardFactory, exfat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    factory = fat_card if kind == "fat32" else exfat_card
    mount = factory(sample_card(samples_dir))
    done = cardingest("preview", str(mount), "--id", "JBX3656", "--archive", str(archive), "--json")
    assert done.returncode == 0, done.stderr
    items = {item["source"]: item for item in json.loads(done.stdout)["items"]}
    oracle = exiftool_times(mount)
    assert set(items) == set(oracle)
    for source, (when, time_source) in oracle.items():
        assert (items[source]["captured_at"], items[source]["time_source"]) == (
            when,
            time_source,
        ), source
    assert not archive.exists()


def test_ingest_verifies_and_rerun_copies_nothing(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    mount = fat_card(sample_card(samples_dir))
    done = cardingest("ingest", str(mount), "--id", "JBX3656", "--archive", str(archive), "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    oracle = exiftool_times(mount)
    for item in document["items"]:
        assert item["action"] == "copy"
        copy = archive / item["target"]
        original = (mount / item["source"]).read_bytes()
        assert copy.read_bytes() == original
        assert item["sha256"] == hashlib.sha256(original).hexdigest()
        stamp = datetime.fromisoformat(oracle[item["source"]][0]).strftime("%Y%m%d-%H%M%S")
        assert copy.name.startswith(f"JBX3656-{stamp}")
    manifest = Path(document["summary"]["manifest"])
    check = subprocess.run(
        ["sha256sum", "-c", str(manifest.relative_to(archive))],
        cwd=archive,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout
    assert check.stdout.count(": OK") == len(document["items"])
    assert not list(archive.rglob(".cardingest-tmp-*"))

    again = cardingest("ingest", str(mount), "--id", "JBX3656", "--archive", str(archive), "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)["summary"]
    assert (summary["copied"], summary["skipped"]) == (0, len(document["items"]))
    assert (mount / "DCIM/100CANON/INDEX.CTG").exists()


def test_other_file_under_final_name_is_never_replaced(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    photo = samples_dir / "real" / "Canon_40D.jpg"
    mount = fat_card({"DCIM/100CANON/IMG_0001.JPG": photo})
    squatter = archive / "JBX3656" / "JBX3656-20080530-155601.jpg"
    squatter.parent.mkdir(parents=True)
    squatter.write_bytes(b"someone else's file")
    done = cardingest("ingest", str(mount), "--id", "JBX3656", "--archive", str(archive), "--json")
    assert done.returncode == 0, done.stderr
    (item,) = json.loads(done.stdout)["items"]
    assert item["target"] == "JBX3656/JBX3656-20080530-155601-2.jpg"
    assert squatter.read_bytes() == b"someone else's file"
    assert (archive / item["target"]).read_bytes() == photo.read_bytes()


def test_preflight_refuses_when_the_archive_is_too_small(
    fat_card: CardFactory, samples_dir: Path, tmp_path: Path
) -> None:
    mount = fat_card(sample_card(samples_dir))
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)])
    require(mounted.returncode == 0, "cannot mount a tmpfs here (needs root)")
    try:
        done = cardingest("ingest", str(mount), "--id", "JBX3656", "--archive", str(small))
        assert done.returncode == 1, done.stderr
        assert "Not enough space" in done.stderr and "Nothing was copied" in done.stderr
        assert not list((small).glob("JBX3656/*"))
    finally:
        subprocess.run(["umount", str(small)])


def test_concurrent_ingest_is_refused(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    mount = fat_card(sample_card(samples_dir))
    holder = subprocess.Popen(
        ["python3", "-c",
         "import sys, time; from pathlib import Path\n"
         "from cardingest.archive.lock import ArchiveLock\n"
         "with ArchiveLock(Path(sys.argv[1]), 'ingest'):\n"
         "    print('locked', flush=True); time.sleep(60)", str(archive)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        done = cardingest("ingest", str(mount), "--id", "JBX3656", "--archive", str(archive))
        assert done.returncode == 1
        assert "Another cardingest" in done.stderr
        assert not (archive / "JBX3656").exists()
    finally:
        holder.kill()
        holder.wait()
    done = cardingest("ingest", str(mount), "--id", "JBX3656", "--archive", str(archive))
    assert done.returncode == 0, done.stderr


def test_fsync_and_cache_drop_per_photo(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    require(shutil.which("strace") is not None, "strace missing")
    mount = fat_card(sample_card(samples_dir))
    exe = shutil.which("cardingest")
    assert exe is not None
    log = archive.parent / "strace.log"
    done = subprocess.run(
        ["strace", "-f", "-o", str(log), "-e", "trace=fsync,fdatasync,fadvise64,fcntl",
         exe, "ingest", str(mount), "--id", "JBX3656", "--archive", str(archive), "--json"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    copied = json.loads(done.stdout)["summary"]["copied"]
    assert copied == len(list((samples_dir / "real").iterdir())) >= 20
    trace = log.read_text()
    assert trace.count("fsync(") >= copied
    # No closing parenthesis: strace splits a call that another thread interrupts.
    whole_file_drops = len(re.findall(r"fadvise64\(\d+, 0, 0, POSIX_FADV_DONTNEED\b", trace))
    ranged = r"fadvise64\(\d+, \d+, [1-9]\d*, POSIX_FADV_DONTNEED\b"
    writeback_starts = len(re.findall(ranged, trace))
    # A photo of 1 MiB or more is written around the page cache (O_DIRECT), a smaller one
    # through it, with its writeback started as it is written.
    uncached = len(re.findall(r"fcntl\(\d+, F_SETFL, [A-Z_|]*O_DIRECT\b", trace))
    # One after each copy's fsync; the O_DIRECT read-back after it adds no pages to drop.
    assert whole_file_drops >= copied, "after fsync, before the read-back"
    assert uncached > 0 and writeback_starts > 0
    assert writeback_starts + uncached >= copied
