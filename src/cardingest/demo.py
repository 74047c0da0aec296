"""A small demo card: camera-like JPEGs with EXIF, written by Pillow, and an ID map for it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

DEMO_IDS = ("ZAC5361", "ZAA0067")
DEMO_MAP = f"""files,id,diagnosis,site,consent
IMG_0001-IMG_0003,{DEMO_IDS[0]},melanoma;naevus,left forearm,record
IMG_0004-IMG_0005,{DEMO_IDS[1]},psoriasis,right elbow,teaching
"""

_SHOTS: tuple[tuple[str, datetime | None, str, tuple[int, int, int]], ...] = (
    ("IMG_0001.JPG", datetime(2026, 11, 24, 9, 15, 2), "21", (200, 120, 110)),
    ("IMG_0002.JPG", datetime(2026, 11, 24, 9, 15, 2), "64", (190, 110, 100)),
    ("IMG_0003.JPG", datetime(2026, 11, 24, 9, 16, 40), "", (180, 100, 95)),
    ("IMG_0004.JPG", datetime(2026, 11, 24, 9, 41, 7), "", (210, 150, 140)),
    ("IMG_0005.JPG", None, "", (205, 145, 135)),
    ("IMG_0006.JPG", datetime(2026, 11, 24, 10, 2, 55), "", (170, 120, 120)),
)


def _jpeg(path: Path, when: datetime | None, subsec: str, colour: tuple[int, int, int]) -> None:
    from PIL import ExifTags, Image

    image = Image.new("RGB", (320, 240), colour)
    exif = Image.Exif()
    if when is not None:
        stamp = when.strftime("%Y:%m:%d %H:%M:%S")
        exif[ExifTags.Base.Make] = "DemoCam"
        exif[ExifTags.Base.Model] = "Derm 1"
        exif[ExifTags.Base.DateTime] = stamp
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        sub[ExifTags.Base.DateTimeOriginal] = stamp
        sub[ExifTags.Base.DateTimeDigitized] = stamp
        if subsec:
            sub[ExifTags.Base.SubsecTimeOriginal] = subsec
    image.save(path, "JPEG", quality=85, exif=exif.tobytes() if when else b"")


def make_demo_card(root: Path) -> tuple[Path, Path]:
    """Write a demo card under `root`; returns (card folder, map file).

    The map uses NHIs from the reserved Z test range, so demo photos can never be taken for
    a real patient's, even in a real archive.

    Two patients, a same-second pair, a photo without EXIF, a photo no map row covers,
    and a camera file that is not a photo.
    """
    card = root / "DEMO_CARD"
    folder = card / "DCIM" / "100DEMO_"
    folder.mkdir(parents=True, exist_ok=True)
    for name, when, subsec, colour in _SHOTS:
        _jpeg(folder / name, when, subsec, colour)
    (card / "DCIM" / "100DEMO_" / "INDEX.CTG").write_bytes(b"camera catalogue\x00")
    map_file = root / "demo-map.csv"
    map_file.write_text(DEMO_MAP, encoding="utf-8")
    return card, map_file
