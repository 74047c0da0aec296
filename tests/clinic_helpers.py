"""Shared by the clinic workflow tests: a demo archive, exiftool, the console script."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from cardimage import require
from PIL import ExifTags, Image
from typer.testing import CliRunner, Result

from cardingest.cli.app import app
from cardingest.demo import make_demo_card

runner = CliRunner()

DEMO_MAP = """files,id,diagnosis,site,consent
IMG_0001-IMG_0003,ZAC5361,melanoma;naevus,left forearm,record
IMG_0004,ZAA0067,psoriasis,right elbow,teaching
IMG_0005,ZAA0067,,,
"""


def cli(*args: str | Path, input: str | None = None) -> Result:
    """The one in-process CLI runner of the tests (stdout and stderr kept apart)."""
    return runner.invoke(app, [str(a) for a in args], input=input)


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = cli(*args)
    return result.exit_code, result.stdout, result.stderr


def demo_card(tmp_path: Path) -> tuple[Path, Path]:
    """The demo card with a map where IMG_0005 has no keywords and IMG_0006 is held."""
    card, map_file = make_demo_card(tmp_path)
    map_file.write_text(DEMO_MAP, encoding="utf-8")
    return card, map_file


def ingest_demo(tmp_path: Path, *extra: str) -> tuple[Path, Path, dict]:
    """Ingest the demo card; returns (card, archive, ingest JSON)."""
    card, map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    code, out, err = invoke(
        "ingest", card, "--map", map_file, "--archive", archive, "--json", *extra
    )
    assert code == 3, err
    return card, archive, json.loads(out)


def require_exiftool() -> str:
    exe = shutil.which("exiftool")
    require(exe is not None, "exiftool (libimage-exiftool-perl) is missing")
    assert exe is not None
    return exe


def exiftool(*args: str | Path) -> list[dict]:
    done = subprocess.run(
        [require_exiftool(), "-j", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def subjects(xmp: Path) -> tuple[list[str], list[str]]:
    """dc:subject and lr:hierarchicalSubject as exiftool reads them."""
    entry = exiftool("-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", xmp)[0]

    def as_list(value: object) -> list[str]:
        if value is None:
            return []
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    return as_list(entry.get("Subject")), as_list(entry.get("HierarchicalSubject"))


def cardingest_exe() -> str:
    exe = shutil.which("cardingest")
    require(exe is not None, "the cardingest console script is not installed (pip install -e .)")
    assert exe is not None
    return exe


def camera_jpeg(
    path: Path,
    when: datetime,
    *,
    size: tuple[int, int] = (800, 600),
    orientation: int | None = None,
    colour: tuple[int, int, int] = (200, 120, 110),
) -> Path:
    """A JPEG with the EXIF a camera writes, including GPS, serial number and owner name."""
    image = Image.new("RGB", size, colour)
    image.paste((20, 20, 200), (0, 0, size[0] // 4, size[1] // 4))
    exif = Image.Exif()
    stamp = when.strftime("%Y:%m:%d %H:%M:%S")
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "Canon EOS 40D"
    exif[ExifTags.Base.Artist] = "Dr Jane Example"
    exif[ExifTags.Base.DateTime] = stamp
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.DateTimeOriginal] = stamp
    sub[ExifTags.Base.BodySerialNumber] = "0820500998"
    sub[ExifTags.Base.CameraOwnerName] = "Jane Example"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLatitude] = (36.0, 51.0, 0.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (174.0, 46.0, 0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=90, exif=exif.tobytes(), comment=b"owner: Jane Example")
    return path


PRIVATE_TAG_WORDS = ("GPS", "Serial", "Owner", "Artist", "MakerNote", "Thumbnail", "Comment")


def private_tags(entry: dict) -> list[str]:
    """Tags in an ``exiftool -a -G1 -j`` entry that could identify a person or a place."""
    return [key for key in entry if any(word in key for word in PRIVATE_TAG_WORDS)]


def tree(root: Path, skip: Iterable[str] = (".cardingest",)) -> dict[str, bytes]:
    """Every file under ``root`` (outside ``skip``) and its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not set(p.relative_to(root).parts) & set(skip)
    }


def ingested_for_module(work: Path) -> tuple[Path, Path]:
    """The demo card ingested into ``work/archive`` once, for a module's tests, with
    ``work/config.toml`` (test IDs allowed) as the config for that ingest alone: each test
    sets it again. Returns (card, archive)."""
    import pytest

    config = work / "config.toml"
    config.write_text("allow_test_ids = true\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CARDINGEST_CONFIG", str(config))
        card, archive, _ = ingest_demo(work)
    return card, archive
