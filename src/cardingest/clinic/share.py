"""Copies of a patient's photos for a referral, at the sizes phones offer, without metadata.

Sizes: ``small`` fits 320×320, ``medium`` 640×480, ``large`` 2016×1512. "Fits" means the box
turns with the photo, as phones do: the long side is at most the box's long side and the short
side at most its short side (so a portrait medium is at most 480×640). Photos are never
enlarged. ``original`` keeps the pixels: the JPEG's image data is copied unchanged with every
metadata segment dropped; only a photo whose EXIF orientation asks for turning is re-encoded
(quality 95), turned upright.

Every copy is upright (EXIF orientation applied) and carries no GPS position, serial number,
owner or artist name, maker notes, thumbnail, XMP, IPTC or comment: its only metadata is an
EXIF DateTimeOriginal (and the ICC colour profile, which describes colours, not people).
The archive is never changed; each share is recorded in the audit log.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

from ..archive.audit import AuditLog
from ..archive.catalogue import Catalogue, CatalogueRecord
from ..errors import ArchiveError, UsageError
from ..storage.durable import NO_HARDLINKS, fsync_dir
from ..storage.transfer import TEMP_PREFIX
from .tag import is_sidecar, require_catalogue

SIZES: dict[str, tuple[int, int] | None] = {
    "small": (320, 320),
    "medium": (640, 480),
    "large": (2016, 1512),
    "original": None,
}
SHAREABLE_CONSENT = ("teaching", "publication")
HEIF = frozenset({"heic", "heif", "hif"})
READABLE = frozenset({"jpg", "jpeg", "tif", "tiff", "png"}) | HEIF
QUALITY = 90
ORIGINAL_QUALITY = 95

_KEEP_APP = {0xE0: b"JFIF\x00", 0xE2: b"ICC_PROFILE\x00", 0xEE: b"Adobe"}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


class ShareError(ArchiveError):
    """The share folder cannot be created or written."""


class Unshareable(Exception):
    """This file cannot be turned into a shareable JPEG (RAW, HEIC without a plugin...)."""


@dataclass(frozen=True)
class ShareItem:
    record: CatalogueRecord
    name: str


@dataclass(frozen=True)
class SharePlan:
    archive: Path
    patient_id: str
    size: str
    out_dir: Path
    anonymous: bool
    label: str
    items: tuple[ShareItem, ...]


@dataclass
class ShareResult:
    plan: SharePlan
    written: list[tuple[ShareItem, tuple[int, int]]] = field(default_factory=list)
    skipped: list[tuple[ShareItem, str]] = field(default_factory=list)
    failed: list[tuple[ShareItem, str]] = field(default_factory=list)
    interrupted: bool = False


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


def _scan_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data that starts at ``pos`` ends (the next real marker)."""
    while True:
        j = data.find(b"\xff", pos)
        if j < 0 or j + 1 >= len(data):
            raise ValueError("the JPEG ends inside its image data")
        follower = data[j + 1]
        if follower == 0x00 or 0xD0 <= follower <= 0xD7:
            pos = j + 2
            continue
        return j


def strip_jpeg(data: bytes, exif: bytes = b"") -> bytes:
    """The JPEG with its image data unchanged and every metadata segment removed.

    Kept: what decoding needs (tables, frame and scan headers, restart intervals), the JFIF
    header without its thumbnail, the ICC profile and the Adobe colour-transform marker.
    Dropped: EXIF, XMP, IPTC/Photoshop, MPF, comments, and anything after the end marker
    (MPO second images, appended data). ``exif`` (``Exif\\0\\0`` + TIFF), if given, goes in
    as the only APP1.
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    out = [b"\xff\xd8"]
    pending_exif = exif
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {pos}")
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1
        if pos >= len(data):
            break
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker in _STANDALONE:
            continue
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2 or pos + length > len(data):
            raise ValueError("the JPEG is truncated")
        body = data[pos + 2 : pos + length]
        pos += length
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
        if marker == 0xDA:
            end = _scan_end(data, pos)
            out.append(data[pos:end])
            pos = end
    raise ValueError("the JPEG has no end marker")


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


def _lossless(path: Path, exif: bytes) -> bytes:
    from PIL import Image

    data = strip_jpeg(path.read_bytes(), exif)
    with Image.open(io.BytesIO(data)) as check:
        check.load()
    return data


def render(path: Path, size: str, captured_at: str) -> tuple[bytes, tuple[int, int]]:
    """The shareable JPEG of one archived photo and its pixel size.

    Raises Unshareable for files Pillow cannot read, OSError for unreadable or broken files.
    """
    from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

    extension = path.suffix.lower().lstrip(".")
    if extension not in READABLE:
        raise Unshareable(f"{extension.upper()} (RAW) files cannot be re-encoded here")
    box = SIZES[size]
    exif = minimal_exif(captured_at)
    try:
        source = Image.open(path)
    except UnidentifiedImageError:
        hint = " (HEIC needs the pillow-heif plugin)" if extension in HEIF else ""
        raise Unshareable(f"Pillow cannot read this {extension.upper()} file{hint}") from None
    with source:
        upright = source.getexif().get(ExifTags.Base.Orientation, 1) in (0, 1)
        if box is None and upright and source.format in ("JPEG", "MPO"):
            with contextlib.suppress(ValueError, OSError):
                return _lossless(path, exif), source.size
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


def select(
    archive: Path,
    patient_id: str,
    date_from: date | None,
    date_to: date | None,
    *,
    slates: bool = False,
) -> list[CatalogueRecord]:
    """The patient's archived photos (not sidecars) in the date range, in capture order.

    Slates (the photographed label or wristband) only with ``slates``.
    """
    require_catalogue(archive)
    with Catalogue.open(archive, create=False) as catalogue:
        found = catalogue.search(patient_id=patient_id, date_from=date_from, date_to=date_to)
    photos = [
        record
        for record in found
        if not is_sidecar(record.archive_path) and (slates or record.role != "slate")
    ]
    return sorted(photos, key=capture_order)


def capture_order(record: CatalogueRecord) -> tuple[str, float, str, str]:
    """Capture time, then sub-second and card order: the order the archive names follow."""
    fraction = float(f"0.{record.subsec}") if record.subsec.isdigit() else 0.0
    return (record.captured_at, fraction, record.source_path, record.archive_path)


def share_names(records: Sequence[CatalogueRecord], label: str, size: str) -> list[str]:
    """``LABEL-YYYYMMDD-HHMMSS[-N][-size].jpg``, ``-N`` for the 2nd, 3rd… in one second."""
    suffix = "" if size == "original" else f"-{size}"
    seen: Counter[str] = Counter()
    names = []
    for record in records:
        when = datetime.fromisoformat(record.captured_at)
        base = f"{label}-{when:%Y%m%d}-{when:%H%M%S}"
        seen[base] += 1
        number = f"-{seen[base]}" if seen[base] > 1 else ""
        names.append(f"{base}{number}{suffix}.jpg")
    return names


def check_consent(records: Sequence[CatalogueRecord]) -> None:
    """An anonymous share needs teaching or publication consent for every photo."""
    lacking = [r for r in records if r.consent not in SHAREABLE_CONSENT]
    if lacking:
        raise UsageError(
            f"Not sharing anonymously: {len(lacking)} photo(s) lack teaching or publication "
            "consent (set it with 'cardingest tag PATH --consent teaching' once given)",
            details=[f"{r.archive_path}: consent {r.consent or 'not recorded'}" for r in lacking],
        )


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def plan_share(
    archive: Path,
    patient_id: str,
    *,
    size: str,
    date_from: date | None = None,
    date_to: date | None = None,
    out_dir: Path | None = None,
    anonymous: bool = False,
    today: date | None = None,
    slates: bool = False,
) -> SharePlan:
    """Everything checked before the first file is written (UsageError otherwise)."""
    if size not in SIZES:
        raise UsageError(f"--size {size!r} is not one of {', '.join(SIZES)}")
    if slates and anonymous:
        raise UsageError("--anonymous cannot share slates: a slate shows the patient's label")
    records = select(archive, patient_id, date_from, date_to, slates=slates)
    if not records:
        raise UsageError(f"No archived photos of {patient_id} in {archive} for those dates")
    if anonymous:
        check_consent(records)
    label = secrets.token_hex(4).upper() if anonymous else patient_id
    stamp = (today or date.today()).strftime("%Y%m%d")
    out = Path(out_dir) if out_dir is not None else Path.cwd() / f"share-{label}-{stamp}"
    if _inside(out, archive):
        raise UsageError(f"--out {out} is inside the archive; the archive is never changed")
    items = tuple(
        ShareItem(r, n) for r, n in zip(records, share_names(records, label, size), strict=True)
    )
    taken = [str(out / item.name) for item in items if (out / item.name).exists()]
    if taken:
        raise UsageError(
            f"Not overwriting {len(taken)} file(s) already in {out}; choose another --out",
            details=taken,
        )
    return SharePlan(archive, patient_id, size, out, anonymous, label, items)


def publish_new(folder: Path, name: str, data: bytes) -> None:
    """Write ``folder/name`` via a temporary file; never replaces an existing file."""
    tmp = folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
    final = folder / name
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, final)
        except OSError as exc:
            if exc.errno not in NO_HARDLINKS:
                raise
            os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_dir(folder)


def execute_share(
    plan: SharePlan, on_item: Callable[[ShareItem, str, str | None], None] | None = None
) -> ShareResult:
    """Write every copy; ``on_item(item, "written" | "skipped" | "failed", why)`` reports each.

    Ctrl-C stops between copies (the one being written is removed) and returns what was
    done so far with ``interrupted`` set, so the share can still be recorded.
    """
    result = ShareResult(plan)
    try:
        plan.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ShareError(f"Cannot create {plan.out_dir}: {exc.strerror or exc}") from None
    for item in plan.items:
        try:
            status, why = _share_one(plan, item, result)
        except KeyboardInterrupt:
            result.interrupted = True
            break
        if on_item is not None:
            on_item(item, status, why)
    return result


def _why(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def _share_one(plan: SharePlan, item: ShareItem, result: ShareResult) -> tuple[str, str | None]:
    from PIL import Image

    source = plan.archive / item.record.archive_path
    try:
        data, pixels = render(source, plan.size, item.record.captured_at)
        publish_new(plan.out_dir, item.name, data)
    except Unshareable as exc:
        result.skipped.append((item, str(exc)))
        return "skipped", str(exc)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        why = _why(exc)
        result.failed.append((item, why))
        return "failed", why
    result.written.append((item, pixels))
    return "written", None


def record_share(result: ShareResult, operator: str) -> dict:
    plan = result.plan
    return AuditLog(plan.archive).append(
        "share",
        operator=operator,
        archive=str(plan.archive),
        id=plan.patient_id,
        count=len(result.written),
        size=plan.size,
        out=str(plan.out_dir),
        anonymous=plan.anonymous,
        token=plan.label if plan.anonymous else None,
        paths=[item.record.archive_path for item, _ in result.written],
        skipped=[item.record.archive_path for item, _ in result.skipped + result.failed],
    )
