"""Which card files are photos, which are sidecars and which are named as not archived,
written out as the formats a clinic's cameras make, and checked through a real scan of a
folder holding one file of each (`card.kinds`, `card.scan`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardingest.card.kinds import is_sidecar, not_as_named
from cardingest.card.scan import not_photo_warning, scan

PHOTOS = [
    "jpg", "jpeg", "heic", "heif", "hif", "tif", "tiff", "dng", "cr2", "cr3", "crw", "nef",
    "nrw", "arw", "srf", "sr2", "orf", "rw2", "raf", "pef", "srw", "x3f", "3fr", "rwl", "iiq",
    "erf", "kdc", "dcr", "mrw", "mos", "mpo", "gpr", "raw", "fff", "mef", "ori", "x3i",
]  # fmt: skip
SIDECARS = ["thm", "xmp"]
NOT_PHOTOS = [
    "mov", "mp4", "m4v", "avi", "mts", "m2ts", "mpg", "mpeg", "3gp", "mkv", "wmv", "lrv",
    "crm", "braw", "r3d", "wav", "m4a", "mp3", "aac", "nev", "360", "insv", "osv", "mxf",
]  # fmt: skip
UNKNOWN = ["jpg~", "xmp.bak", "png", "gif", "bmp", "webp", "avif", "jxl"]
"""Named too (it may be a photo of a kind cardingest does not know), in other words."""
HOUSEKEEPING = ["txt", "ctg", "dat", "bin", "aae", "ndf", "srt"]
"""The cameras' own files: passed over."""


def test_photos_sidecars_and_what_is_named_as_not_archived(tmp_path: Path) -> None:
    folder = tmp_path / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    for number, ext in enumerate(PHOTOS + SIDECARS + NOT_PHOTOS + UNKNOWN + HOUSEKEEPING, 1):
        name = f"IMG_{number:04d}.{ext.upper() if number % 2 else ext}"
        (folder / name).write_bytes(b"not really an image")
    not_photos: list[str] = []
    records = list(scan(tmp_path, not_photos=not_photos))

    def kinds(extensions: list[str]) -> set[str]:
        return {e.lower() for e in extensions}

    found = {r.path.rpartition(".")[2].lower(): r.sidecar for r in records}
    assert {ext for ext, sidecar in found.items() if not sidecar} == kinds(PHOTOS)
    assert {ext for ext, sidecar in found.items() if sidecar} == kinds(SIDECARS)
    assert {p.rpartition(".")[2].lower() for p in not_photos} == kinds(NOT_PHOTOS) | {
        ext.rpartition(".")[2] for ext in UNKNOWN
    }
    said = {p.rpartition(".")[2].lower(): not_photo_warning(p) for p in not_photos}
    assert "a video or sound file, not archived" in said["mov"]
    assert "not a kind of photo cardingest knows, not archived" in said["png"]


def test_a_sidecar_is_known_by_its_last_extension_in_any_case() -> None:
    for path in ("a.xmp", "DCIM/100CANON/IMG_0001.XMP", "IMG_0001.JPG.xmp", "x/y.Thm"):
        assert is_sidecar(path), path
    for path in ("a.jpg", "xmp", "DCIM/xmp", "IMG_0001.xmp.jpg", "DCIM/a.xmp/IMG_0001", "a.xmpp"):
        assert not is_sidecar(path), path


@pytest.mark.parametrize(
    ("head", "says"),
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "a HEIF photo (rename it .HEIC)"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "an MP4 or MOV video"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (b"<html>referral letter", "text, not a JPEG (it starts with '<html>referr')"),
        ("\ufeffDr Smith, re: X".encode()[:16], "text, not a JPEG (it starts with 'Dr Smith, re')"),
        ("Dear Dr, re".encode("utf-16")[:16], "text, not a JPEG (it starts with 'Dear Dr')"),
        ("été — notes prises".encode()[:16], "text, not a JPEG (it starts with 'été — notes')"),
        (b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00II*\x00", None),  # a JPEG
        (b"\x00\x00\xff\xe1\x00\x10Exif\x00\x00II*\x00", None),  # one whose start the card lost
        (bytes(16), None),
    ],
)  # fmt: skip
def test_a_file_named_as_a_jpeg_is_told_by_its_first_bytes(head: bytes, says: str | None) -> None:
    """A trial filed text and other kinds named .JPG as the patient's JPEGs; a review found
    text with a byte-order mark or an accent early on still filed. A JPEG damaged at its
    start is archived as it is (None)."""
    assert not_as_named("DCIM/100CANON/IMG_0001.JPG", head) == says
    assert not_as_named("DCIM/100CANON/IMG_0001.CR2", head) is None
