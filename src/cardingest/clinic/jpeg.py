"""Shareable JPEGs: resized and upright, or the camera's image data with every metadata
segment dropped; their only metadata is an EXIF DateTimeOriginal (and the ICC profile).

Sizes: ``small`` fits 320×320, ``medium`` 640×480, ``large`` 2016×1512. "Fits" means the box
turns with the photo, as phones do: the long side is at most the box's long side and the short
side at most its short side (so a portrait medium is at most 480×640). Photos are never
enlarged. ``original`` keeps the pixels: the JPEG's image data is copied unchanged with every
metadata segment dropped; only a photo whose EXIF orientation asks for turning is re-encoded
(quality 95), turned upright.
"""

from __future__ import annotations

import contextlib
import io
from datetime import datetime
from typing import TYPE_CHECKING

from ..export.jpeg import segments

if TYPE_CHECKING:
    from PIL import Image

SIZES: dict[str, tuple[int, int] | None] = {
    "small": (320, 320),
    "medium": (640, 480),
    "large": (2016, 1512),
    "original": None,
}
HEIF = frozenset({"heic", "heif", "hif"})
READABLE = frozenset({"jpg", "jpeg", "tif", "tiff", "png"}) | HEIF
QUALITY = 90
ORIGINAL_QUALITY = 95

_KEEP_APP = {0xE0: b"JFIF\x00", 0xE2: b"ICC_PROFILE\x00", 0xEE: b"Adobe"}


class Unshareable(Exception):
    """This file cannot be turned into a shareable JPEG (RAW, HEIC without a plugin...)."""


def fit(size: tuple[int, int], box: tuple[int, int] | None) -> tuple[int, int]:
    """The largest size with ``size``'s aspect ratio that fits ``box`` turned to match it."""
    width, height = size
    if box is None:
        return size
    long_side, short_side = max(box), min(box)
    bound = (long_side, short_side) if width >= height else (short_side, long_side)
    scale = min(1.0, bound[0] / width, bound[1] / height)
    if scale >= 1.0:
        return size
    return max(1, min(bound[0], round(width * scale))), max(1, min(bound[1], round(height * scale)))


def _jfif_without_thumbnail(body: bytes) -> bytes:
    return body[:12] + b"\x00\x00" if len(body) >= 14 else body


def _segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(body) + 2).to_bytes(2, "big") + body


def strip_jpeg(data: bytes, exif: bytes = b"") -> bytes:
    """The JPEG with its image data unchanged and every metadata segment removed.

    Kept: what decoding needs (tables, frame and scan headers, restart intervals), the JFIF
    header without its thumbnail, the ICC profile and the Adobe colour-transform marker.
    Dropped: EXIF, XMP, IPTC/Photoshop, MPF, comments, and anything after the end marker
    (MPO second images, appended data). ``exif`` (``Exif\\0\\0`` + TIFF), if given, goes in
    as the only APP1.
    """
    out = [b"\xff\xd8"]
    pending_exif = exif
    for marker, start, end, following in segments(data):
        if marker == 0xD9:
            out.append(b"\xff\xd9")
            break
        body = data[start:end]
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            wanted = _KEEP_APP.get(marker)
            if wanted is not None and body.startswith(wanted):
                keep = _jfif_without_thumbnail(body) if marker == 0xE0 else body
                out.append(_segment(marker, keep))
            continue
        if pending_exif:
            out.append(_segment(0xE1, pending_exif))
            pending_exif = b""
        out.append(_segment(marker, body))
        out.append(data[end:following])  # a scan's entropy-coded data; nothing for others
    return b"".join(out)


def minimal_exif(captured_at: str) -> bytes:
    """EXIF holding DateTimeOriginal only (camera local time from the catalogue)."""
    from PIL import ExifTags, Image

    exif = Image.Exif()
    try:
        stamp = datetime.fromisoformat(captured_at).strftime("%Y:%m:%d %H:%M:%S")
    except ValueError:
        return b""
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = stamp
    return exif.tobytes()


def _encode(image: Image.Image, icc: bytes | None, exif: bytes, quality: int) -> bytes:
    image.info = {}
    buffer = io.BytesIO()
    options: dict[str, object] = {"quality": quality, "optimize": True, "exif": exif}
    if icc:
        options["icc_profile"] = icc
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _lossless(original: bytes, exif: bytes) -> bytes:
    from PIL import Image

    data = strip_jpeg(original, exif)
    with Image.open(io.BytesIO(data)) as check:
        check.load()
    return data


def render(
    data: bytes, extension: str, size: str, captured_at: str
) -> tuple[bytes, tuple[int, int]]:
    """The shareable JPEG of one archived photo (its bytes, and the extension of its file
    name) and its pixel size.

    Raises Unshareable for files Pillow cannot read, OSError for broken files.
    """
    from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

    extension = extension.lower().lstrip(".")
    if extension not in READABLE:
        raise Unshareable(f"{extension.upper()} (RAW) files cannot be re-encoded here")
    box = SIZES[size]
    exif = minimal_exif(captured_at)
    try:
        source = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        hint = " (HEIC needs the pillow-heif plugin)" if extension in HEIF else ""
        raise Unshareable(f"Pillow cannot read this {extension.upper()} file{hint}") from None
    with source:
        upright = source.getexif().get(ExifTags.Base.Orientation, 1) in (0, 1)
        if box is None and upright and source.format in ("JPEG", "MPO"):
            with contextlib.suppress(ValueError, OSError):
                return _lossless(data, exif), source.size
        if box is not None:
            source.draft("RGB", (max(box), max(box)))
        mode = source.mode
        icc = source.info.get("icc_profile")
        image = ImageOps.exif_transpose(source)
        assert image is not None
    target = fit(image.size, box)
    if target != image.size:
        image = image.resize(target, Image.Resampling.LANCZOS)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if image.mode != mode:
        icc = None
    quality = ORIGINAL_QUALITY if box is None else QUALITY
    return _encode(image, icc, exif, quality), image.size
