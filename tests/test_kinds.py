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


JPEG_NAMED = "a JPEG photo (rename it .JPG)"
CR3_NAMED = "a Canon CR3 RAW file (rename it .CR3)"
HEIF_NAMED = "a HEIF photo (rename it .HEIC)"


@pytest.mark.parametrize(
    ("path", "head", "says"),
    [
        ("IMG_0001.CR2", b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00II*\x00", JPEG_NAMED),
        ("IMG_0001.heic", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", JPEG_NAMED),
        ("IMG_0001.NEF", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", HEIF_NAMED),
        ("IMG_0001.HIF", b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x00", CR3_NAMED),
        ("IMG_0001.HEIC", b"II*\x00\x08\x00\x00\x00", "a TIFF or RAW file"),
        ("IMG_0001.ARW", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        ("IMG_0001.CR3", b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x00", None),
        ("IMG_0001.CR3", b"\x00\x00\x00\x18ftypcrxx\x00\x00\x00\x00", None),  # a brand not seen
        ("IMG_0001.HEIC", b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00", None),
        ("IMG_0001.DNG", b"II*\x00\x08\x00\x00\x00\x00\x00", None),  # most RAW files: TIFF inside
        ("IMG_0001.RAF", b"FUJIFILMCCD-RAW ", None),  # words, and a RAW all the same
        ("IMG_0001.NEF", b"hello", None),
        ("IMG_0001.MPO", b"\xff\xd8\xff\xe1", None),
    ],
)  # fmt: skip
def test_a_file_named_as_a_raw_or_heif_photo_is_told_only_by_bytes_of_another_kind(
    path: str, head: bytes, says: str | None
) -> None:
    """A JPEG named .CR2 was filed as a .cr2. Words are not looked for under RAW names:
    a Fuji RAF starts with them."""
    assert not_as_named(path, head) == says
