"""Copies of a patient's photos for a referral, at the sizes phones offer, without metadata.

Sizes and the re-encoding rules are in `jpeg`.

Every copy is upright (EXIF orientation applied) and carries no GPS position, serial number,
owner or artist name, maker notes, thumbnail, XMP, IPTC or comment: its only metadata is an
EXIF DateTimeOriginal (and the ICC colour profile, which describes colours, not people).
The archive is never changed; each share is recorded in the audit log.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from ..archive.audit import AuditLog
from ..archive.backend import refuse_inside_archive
from ..archive.catalogue import CatalogueRecord, require_catalogue
from ..archive.provenance import recorded_folder
from ..archive.readonly import reading
from ..archive.verify import DamagedCopy, read_copy
from ..card.kinds import is_sidecar
from ..errors import ShareError, UsageError
from ..plan.shots import subsec_fraction
from ..storage import modes, ondisk
from ..storage.durable import TEMP_PREFIX, is_placeholder, remove_dead_temps_in, write_new
from .jpeg import READABLE, SIZES, Unshareable, render

SHAREABLE_CONSENT = ("teaching", "publication")


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
    warnings: list[str] = field(default_factory=list)


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
    with reading(archive) as catalogue:  # a read-only or full archive's too
        found = catalogue.search(patient_id=patient_id, date_from=date_from, date_to=date_to)
    photos = [
        record
        for record in found
        if not is_sidecar(record.archive_path) and (slates or record.role != "slate")
    ]
    return sorted(_one_per_shot(photos), key=capture_order)


def _one_per_shot(records: Sequence[CatalogueRecord]) -> list[CatalogueRecord]:
    """A RAW+JPEG shot is shared once, through the file that can be re-encoded: its RAW twin
    (same name, another extension) was "skipped" beside it, and took a number in the
    shared names (``…-2-medium.jpg`` for a photo alone in its second)."""
    readable = {
        PurePosixPath(r.archive_path).with_suffix("").as_posix()
        for r in records
        if PurePosixPath(r.archive_path).suffix.lower().lstrip(".") in READABLE
    }
    return [
        r
        for r in records
        if PurePosixPath(r.archive_path).suffix.lower().lstrip(".") in READABLE
        or PurePosixPath(r.archive_path).with_suffix("").as_posix() not in readable
    ]


def capture_order(record: CatalogueRecord) -> tuple[str, float, str, str]:
    """Capture time, then sub-second and card order: the order the archive names follow."""
    fraction = subsec_fraction(record.subsec)
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
    backup: Path | None = None,
) -> SharePlan:
    """Everything checked before the first file is written (UsageError otherwise)."""
    if size not in SIZES:
        raise UsageError(f"--size {size!r} is not one of {', '.join(SIZES)}")
    if slates and anonymous:
        raise UsageError("--anonymous cannot share slates: a slate shows the patient's label")
    records = select(archive, patient_id, date_from, date_to, slates=slates)
    if not records:
        dates = " for those dates" if date_from or date_to else ""
        raise UsageError(f"No archived photos of {patient_id} in {archive}{dates}")
    if anonymous:
        check_consent(records)
    label = secrets.token_hex(4).upper() if anonymous else patient_id
    stamp = (today or date.today()).strftime("%Y%m%d")
    out = Path(out_dir) if out_dir is not None else Path.cwd() / f"share-{label}-{stamp}"
    refuse_inside_archive(out, "--out", archive, backup)
    items = tuple(
        ShareItem(r, n) for r, n in zip(records, share_names(records, label, size), strict=True)
    )
    refuse_filled(out, {item.name for item in items})
    return SharePlan(archive, patient_id, size, out, anonymous, label, items)


def refuse_filled(out: Path, names: set[str]) -> None:
    """A share goes into a new or empty folder (UsageError otherwise), so nothing already
    there (an earlier share, another patient's photos) goes out with it, and nothing there
    is written over. A temporary a killed share left is not counted (`execute_share`
    removes it), but is named where the folder is refused for its other files: it would go
    out with them. Nor is an empty file under one of this share's names (`durable.is_placeholder`,
    what a share killed as a copy took its name leaves on fusefat or exfat-fuse), which is
    written over."""
    try:
        listed = os.listdir(out)
    except FileNotFoundError:
        if os.path.islink(out):  # "File exists" when the share made it, of nothing to be seen
            raise UsageError(
                f"--out {out} is a link to {os.readlink(out)}, which does not exist; give a "
                "folder that exists, or a new name"
            ) from None
        return
    except NotADirectoryError:
        blocker = next(
            (p for p in (out, *out.parents) if ondisk.exists(p) and not ondisk.is_dir(p)), out
        )
        what = modes.not_a_folder(blocker)
        where = (
            f" is {what}, not a folder"
            if blocker == out
            else f": {blocker} is {what}, so it cannot hold a folder"
        )
        raise UsageError(f"--out {out}{where}; choose another --out") from None
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot be read ({exc.strerror or exc})") from None
    entries = sorted(name for name in listed if not name.startswith(TEMP_PREFIX))
    unfinished = len(listed) - len(entries)
    entries = [name for name in entries if not (name in names and is_placeholder(out / name))]
    taken = [str(out / name) for name in entries if name in names]
    if taken:
        raise UsageError(
            f"Not overwriting {len(taken)} file(s) already in {out}; choose another --out",
            details=taken,
        )
    if entries:
        hidden = (
            f", and {unfinished} unfinished cop{'y' if unfinished == 1 else 'ies'} a stopped "
            f"share left ({TEMP_PREFIX}…, hidden: remove the whole folder, not only the "
            "photos, before it goes out)"
            if unfinished
            else ""
        )
        raise UsageError(
            f"--out {out} already holds {len(entries)} file(s) or folder(s){hidden}; a share "
            "goes into a new or empty folder, so that nothing else goes out with it: choose "
            "another --out",
            details=[str(out / name) for name in entries],
        )


def execute_share(
    plan: SharePlan,
    on_item: Callable[[ShareItem, str, str | None], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_ready: Callable[[], object] | None = None,
) -> ShareResult:
    """Write every copy; ``on_item(item, "written" | "skipped" | "failed", why)`` reports each.

    An existing ``--out`` open to others is closed first (`modes.make_private`), which
    ``on_warning`` is told and ``warnings`` keeps. ``on_ready`` runs once the folder is
    there and before the first copy (`record_share_start`): a folder that cannot be made
    leaves no share begun in the audit log.

    Ctrl-C stops between copies (the one being written is removed) and returns what was
    done so far with ``interrupted`` set, so the share can still be recorded.
    """
    result = ShareResult(plan)
    made = not os.path.lexists(plan.out_dir)
    try:
        closed = modes.make_private_folder(plan.out_dir, "--out")
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise  # the name to fix: exit 2, as any name too long
        raise ShareError(f"Cannot create {plan.out_dir}: {exc.strerror or exc}") from None
    if closed is not None:
        result.warnings.append(closed)
        if on_warning is not None:
            on_warning(result.warnings[-1])
    if not made:  # it was empty when planned; another account may have written there since
        refuse_filled(plan.out_dir, {item.name for item in plan.items})
    remove_dead_temps_in([plan.out_dir])
    if on_ready is not None:
        on_ready()
    for item in plan.items:
        try:
            status, why = _share_one(plan, item, result)
        except KeyboardInterrupt:
            result.interrupted = True
            break
        if on_item is not None:
            on_item(item, status, why)
    if made and not result.written:  # an empty folder would look like a share to send
        with suppress(OSError):
            os.rmdir(plan.out_dir)
    return result


def _why(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def _share_one(plan: SharePlan, item: ShareItem, result: ShareResult) -> tuple[str, str | None]:
    from PIL import Image

    extension = PurePosixPath(item.record.archive_path).suffix
    try:
        original = read_copy(plan.archive, item.record)
        data, pixels = render(original, extension, plan.size, item.record.captured_at)
        write_new(plan.out_dir, item.name, data, over_empty=True)
    except DamagedCopy as exc:
        why = f"{exc}: not shared; run `cardingest verify`"
        result.failed.append((item, why))
        return "failed", why
    except Unshareable as exc:
        result.skipped.append((item, str(exc)))
        return "skipped", str(exc)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        why = _why(exc)
        result.failed.append((item, why))
        return "failed", why
    result.written.append((item, pixels))
    return "written", None


def record_share_start(plan: SharePlan, operator: str) -> dict:
    """The share's ``share-started`` event, before its first copy: a run killed part way
    (kill -9, a power cut) leaves copies on their way out, and this names them, their folder
    and an anonymous share's token, where the ``share`` event that follows would not come."""
    return AuditLog(plan.archive).append(
        "share-started",
        **_share_fields(plan, operator),
        paths=[item.record.archive_path for item in plan.items],
    )


def record_share(result: ShareResult, operator: str) -> dict:
    plan = result.plan
    return AuditLog(plan.archive).append(
        "share",
        **_share_fields(plan, operator),
        count=len(result.written),
        paths=[item.record.archive_path for item, _ in result.written],
        skipped=[item.record.archive_path for item, _ in result.skipped],
        failed=[item.record.archive_path for item, _ in result.failed],
    )


def _share_fields(plan: SharePlan, operator: str) -> dict[str, object]:
    """What both share events say of the share: who, which patient, how, where (a digest)."""
    return {
        "operator": operator,
        "archive": str(plan.archive),
        "id": plan.patient_id,
        "size": plan.size,
        "out": recorded_folder(os.path.abspath(plan.out_dir)),
        "anonymous": plan.anonymous,
        "token": plan.label if plan.anonymous else None,
    }
