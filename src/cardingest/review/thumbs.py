"""Small upright thumbnails of card photos, made as cheaply as the file allows.

In order of cost:

1. a JPEG's EXIF thumbnail (IFD1, usually 160×120, a few KB): read from the header, nothing
   of the photo itself is decoded; not for a file saved well after it was taken (an editor
   may have left the old thumbnail, and the sheet must show what will be filed);
2. a RAW file's embedded JPEG preview, found in the first few MiB of the file;
3. a reduced decode (Pillow ``draft``: libjpeg decodes at 1/2, 1/4 or 1/8 scale);
4. otherwise a labelled placeholder (HEIC without pillow-heif, a RAW without a preview, a
   file that does not decode), never an exception: a card can hold anything.

The photo's EXIF orientation is applied to whatever was used, so every thumbnail is upright.
Thumbnails of many photos are made on a thread pool: libjpeg and the file reads release the
GIL, so both cores work.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import ExifTags, Image

from ..card.capture import parse_exif_date

SIZE = 240
"""Longest side of a thumbnail, in pixels."""
QUALITY = 80
RAW_WINDOW = 8 * 1024 * 1024
"""How much of a RAW file is searched for its embedded preview."""
RAW_CANDIDATES = 24
EDIT_SLACK = timedelta(minutes=2)
"""How long after a photo was taken its file may be saved and still be the camera's own (a
camera writes both times at once; a burst or a slow card a little later)."""
MIN_EXIF_THUMB = 120
"""An EXIF thumbnail smaller than this (longest side) is not worth showing: decode instead."""

JPEG_EXTENSIONS = frozenset({"jpg", "jpeg", "jpe"})
HEIF_EXTENSIONS = frozenset({"heic", "heif", "hif"})
TIFF_EXTENSIONS = frozenset({"tif", "tiff"})

_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_JPEG_THUMB_OFFSET = 0x0201
_JPEG_THUMB_LENGTH = 0x0202
_SOI = b"\xff\xd8\xff"


@dataclass(frozen=True)
class Thumbnail:
    """A JPEG thumbnail (``jpeg``), or a placeholder (``jpeg`` None) saying why there is none."""

    jpeg: bytes | None
    width: int = 0
    height: int = 0
    origin: str = ""
    """``exif thumbnail``, ``embedded preview``, ``reduced decode`` or ``none``."""
    note: str | None = None

    @property
    def placeholder(self) -> bool:
        return self.jpeg is None


def _extension(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # a broken EXIF block: treat as upright
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _finish(image: Image.Image, orientation: int, origin: str, size: int) -> Thumbnail:
    """Scale to ``size``, turn upright, encode as a small JPEG."""
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=QUALITY)
    return Thumbnail(buffer.getvalue(), image.width, image.height, origin)


def _crop_to(image: Image.Image, width: int, height: int) -> Image.Image:
    """Cut the black bars some cameras put round a 4:3 thumbnail of a 3:2 photo."""
    if width <= 0 or height <= 0:
        return image
    want = width / height
    have = image.width / image.height
    if abs(want - have) / want < 0.03:
        return image
    if have < want:  # thumbnail too tall: bars above and below
        keep = round(image.width / want)
        top = (image.height - keep) // 2
        return image.crop((0, top, image.width, top + keep))
    keep = round(image.height * want)
    left = (image.width - keep) // 2
    return image.crop((left, 0, left + keep, image.height))


def _edited_since_taken(exif: Image.Exif) -> bool:
    """Whether the file may have been saved by something other than the camera: its
    ModifyDate more than `EDIT_SLACK` from its DateTimeOriginal (or CreateDate) either way,
    in UTC where both carry an offset, or either time missing. An editor that changed the
    photo may have left the camera's thumbnail of it as it was, and the sheet must show the
    photo itself."""
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    taken = ifd.get(ExifTags.Base.DateTimeOriginal) or ifd.get(ExifTags.Base.DateTimeDigitized)
    taken_offset = ifd.get(ExifTags.Base.OffsetTimeOriginal) or ifd.get(
        ExifTags.Base.OffsetTimeDigitized
    )
    saved = _exif_time(exif.get(ExifTags.Base.DateTime), ifd.get(ExifTags.Base.OffsetTime))
    shot = _exif_time(taken, taken_offset)
    if saved is None or shot is None:
        return True
    if (saved.tzinfo is None) != (shot.tzinfo is None):
        saved, shot = saved.replace(tzinfo=None), shot.replace(tzinfo=None)
    return abs(saved - shot) > EDIT_SLACK


def _exif_time(value: object, offset: object) -> datetime | None:
    """An EXIF date and time (`capture.parse_exif_date`), with its ``±HH:MM`` offset where
    one is given."""
    when = parse_exif_date(str(value)) if value is not None else None
    if when is None:
        return None
    text = str(offset or "").strip("\x00 ")
    if len(text) == 6 and text[0] in "+-" and text[3] == ":":
        try:
            minutes = int(text[1:3]) * 60 + int(text[4:6])
        except ValueError:
            return when
        sign = -1 if text[0] == "-" else 1
        return when.replace(tzinfo=timezone(timedelta(minutes=sign * minutes)))
    return when


def _exif_thumbnail(image: Image.Image) -> Image.Image | None:
    """The JPEG in the EXIF IFD1 of an opened JPEG, decoded (it is tiny), or None; None too
    for a file edited since it was taken (`_edited_since_taken`)."""
    raw = image.info.get("exif")
    if not isinstance(raw, bytes) or not raw.startswith(b"Exif\x00\x00"):
        return None
    if _edited_since_taken(image.getexif()):
        return None
    ifd1 = image.getexif().get_ifd(ExifTags.IFD.IFD1)
    offset, length = ifd1.get(_JPEG_THUMB_OFFSET), ifd1.get(_JPEG_THUMB_LENGTH)
    if not isinstance(offset, int) or not isinstance(length, int) or length <= 0:
        return None
    start = 6 + offset
    data = raw[start : start + length]
    if len(data) != length or not data.startswith(b"\xff\xd8"):
        return None
    thumb = Image.open(io.BytesIO(data))
    if thumb.format != "JPEG" or max(thumb.size) < MIN_EXIF_THUMB:
        return None
    thumb.load()
    return _crop_to(thumb, *image.size)


def _reduced(image: Image.Image, size: int) -> Image.Image:
    """Decode at the smallest libjpeg scale that still covers ``size``."""
    if image.format == "JPEG":
        image.draft("RGB", (size, size))
    image.load()
    return image


def _jpeg(path: Path, size: int) -> Thumbnail:
    with Image.open(path) as image:
        orientation = _orientation(image)
        try:
            thumb = _exif_thumbnail(image)
        except Exception:  # a bad EXIF thumbnail: decode the photo instead
            thumb = None
        if thumb is not None:
            return _finish(thumb, orientation, "exif thumbnail", size)
        return _finish(_reduced(image, size), orientation, "reduced decode", size)


def _embedded_previews(data: bytes) -> list[tuple[int, Image.Image]]:
    """JPEGs (opened, not decoded) that start in ``data``: (offset, image) in file order."""
    found: list[tuple[int, Image.Image]] = []
    at = data.find(_SOI)
    while at >= 0 and len(found) < RAW_CANDIDATES:
        try:
            image = Image.open(io.BytesIO(data[at:]))
            if image.format == "JPEG" and min(image.size) >= 32:
                found.append((at, image))
        except Exception:  # not a JPEG after all: keep looking
            pass
        at = data.find(_SOI, at + 3)
    return found


def _raw(path: Path, size: int) -> Thumbnail:
    with open(path, "rb") as handle:
        data = handle.read(RAW_WINDOW)
    orientation = 1
    try:
        with Image.open(path) as container:  # TIFF-based RAWs: orientation from IFD0
            orientation = _orientation(container)
    except Exception:
        pass
    candidates = _embedded_previews(data)
    # The smallest preview that covers the thumbnail size, then the larger ones, then smaller.
    big = sorted((c for c in candidates if max(c[1].size) >= size), key=lambda c: max(c[1].size))
    small = sorted((c for c in candidates if max(c[1].size) < size), key=lambda c: -max(c[1].size))
    for _at, preview in big + small:
        try:
            own = _orientation(preview)
            return _finish(
                _reduced(preview, size),
                orientation if orientation != 1 else own,
                "embedded preview",
                size,
            )
        except Exception:  # truncated beyond the window, or not a real JPEG: try the next
            continue
    return Thumbnail(None, origin="none", note="RAW: no embedded preview found")


def _heif(path: Path, size: int) -> Thumbnail:
    try:
        import pillow_heif  # type: ignore[import-not-found]  # optional
    except ImportError:
        return Thumbnail(None, origin="none", note="HEIC: no preview (pillow-heif not installed)")
    pillow_heif.register_heif_opener()
    with Image.open(path) as image:
        return _finish(_reduced(image, size), _orientation(image), "reduced decode", size)


def make_thumbnail(path: Path, size: int = SIZE) -> Thumbnail:
    """An upright thumbnail of one photo, or a placeholder saying why there is none.

    Never raises for what is in the file: real cards hold truncated, corrupted and hostile
    files, and the sheet must still show every photo.
    """
    ext = _extension(path)
    try:
        if path.stat().st_size == 0:
            return Thumbnail(None, origin="none", note="empty file (0 bytes)")
        if ext in HEIF_EXTENSIONS:
            return _heif(path, size)
        if ext in JPEG_EXTENSIONS or ext in TIFF_EXTENSIONS:
            if ext in TIFF_EXTENSIONS:
                with Image.open(path) as image:
                    return _finish(
                        _reduced(image, size), _orientation(image), "reduced decode", size
                    )
            return _jpeg(path, size)
        return _raw(path, size)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) or exc.errno is not None:
            note = f"cannot read: {exc.strerror or exc}"
        else:  # Pillow's "cannot identify image file", truncated data
            note = "cannot decode this file"
        return Thumbnail(None, origin="none", note=note)
    except Exception:  # hostile input can make any decoder raise anything
        return Thumbnail(None, origin="none", note="cannot decode this file")


def workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def make_thumbnails(
    paths: Sequence[Path],
    size: int = SIZE,
    *,
    on_done: Callable[[Path], None] | None = None,
    threads: int | None = None,
) -> list[Thumbnail]:
    """Thumbnails of ``paths``, in order, on a pool of one thread per core."""
    count = threads or workers()

    def one(path: Path) -> Thumbnail:
        thumb = make_thumbnail(path, size)
        if on_done is not None:
            on_done(path)
        return thumb

    if count == 1 or len(paths) < 2:
        return [one(path) for path in paths]
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="thumbs") as pool:
        return list(pool.map(one, paths))
