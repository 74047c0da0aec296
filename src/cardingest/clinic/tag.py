"""Change archived photos' keywords after the fact (the histology came back).

The catalogue is updated, each photo's XMP sidecar is rewritten (archive and backup copy),
and the audit log gets one ``tag`` event with the old and new keywords of every changed
path. The caller holds the archive lock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..archive.audit import AuditLog
from ..archive.catalogue import Catalogue, CatalogueRecord, require_catalogue
from ..archive.targets import find_record
from ..archive.verify import record_copies
from ..archive.xmp import Keywords, keywords_of, sidecar_path, write_sidecar
from ..card.kinds import is_sidecar
from ..errors import CardingestError, UsageError
from ..ids import SAFE_ID, keyword_refusal
from ..models import CONSENT_LEVELS
from ..storage import ondisk
from ..storage.durable import writing_to
from ..storage.interrupts import held_interrupts
from ..storage.links import leaves_root
from ..text import keyword_text, not_utf8_target


@dataclass(frozen=True)
class Change:
    """What to do to each target's keywords; ``None`` leaves site or consent as it is."""

    diagnosis: tuple[str, ...] = ()
    site: str | None = None
    consent: str | None = None
    remove: bool = False


@dataclass(frozen=True)
class Retag:
    path: str
    old: Keywords
    new: Keywords


@dataclass
class TagResult:
    changed: list[Retag] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    sidecars: dict[str, int] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_text(value: str, what: str, scheme: str | None, allow_test_ids: bool) -> str:
    """A keyword as the ID map accepts it (`ids.keyword_refusal`)."""
    text = keyword_text(value)
    problem = keyword_refusal(text, scheme, allow_test_ids=allow_test_ids)
    if problem is not None:
        raise UsageError(f"{what} {problem}")
    return text


def parse_change(
    diagnosis: str | None,
    site: str | None,
    consent: str | None,
    remove: bool,
    *,
    scheme: str,
    allow_test_ids: bool,
) -> Change:
    """Check the flags of ``tag``; ``diagnosis`` is ``;``-separated keywords, and neither
    it nor ``site`` may hold a patient ID of the archive's ``scheme`` (one kept before
    that was refused can still be removed)."""
    keywords = tuple(
        dict.fromkeys(
            check_text(k, "diagnosis", None if remove else scheme, allow_test_ids)
            for k in (diagnosis or "").split(";")
            if k.strip()
        )
    )
    if diagnosis is not None and not keywords:
        raise UsageError(
            f"--diagnosis {diagnosis!r} holds no keyword (keywords are separated by ';')"
        )
    if remove and not keywords:
        raise UsageError("--remove needs --diagnosis with the keyword(s) to remove")
    if remove and (site is not None or consent is not None):
        raise UsageError(
            "--remove removes diagnosis keywords only; give --site or --consent without it "
            "(an empty value clears them)"
        )
    if not keywords and site is None and consent is None:
        raise UsageError("Nothing to change: give --diagnosis, --site or --consent")
    level = consent.strip().lower() if consent is not None else None
    if level and level not in CONSENT_LEVELS:
        raise UsageError(f"--consent {consent!r} is not one of {', '.join(CONSENT_LEVELS)}")
    return Change(
        diagnosis=keywords,
        site=check_text(site, "site", scheme, allow_test_ids) if site is not None else None,
        consent=level,
        remove=remove,
    )


def apply(old: Keywords, change: Change) -> Keywords:
    """The keywords after ``change``; diagnosis keywords compare case-insensitively, and
    composed alike (`keyword_text`), so one kept before values were composed still counts."""

    def key(keyword: str) -> str:
        return keyword_text(keyword).lower()

    given = {key(k) for k in change.diagnosis}
    if change.remove:
        diagnosis = tuple(k for k in old.diagnosis if key(k) not in given)
    else:
        have = {key(k) for k in old.diagnosis}
        diagnosis = old.diagnosis + tuple(k for k in change.diagnosis if key(k) not in have)
    site = old.site if change.site is None else (change.site or None)
    consent = old.consent if change.consent is None else (change.consent or None)
    return Keywords(diagnosis, site, consent)


def resolve_targets(
    catalogue: Catalogue,
    archive: Path,
    targets: Sequence[str],
    check_id: Callable[[str], str],
) -> list[CatalogueRecord]:
    """The records named by patient IDs or paths (archive-relative, or on disk in the archive).

    Every target that names nothing is reported at once (UsageError), before any change.
    """
    found: dict[str, CatalogueRecord] = {}
    problems: list[str] = []
    for target in targets:
        if (why := not_utf8_target(target)) is not None:
            problems.append(why)
            continue
        if SAFE_ID.fullmatch(target.strip()):
            patient_id = check_id(target)
            records = list(catalogue.records(patient_id))
            if not records:
                problems.append(f"{target}: no archived photos of this ID")
            found.update((r.archive_path, r) for r in records)
            continue
        record, _relpath = find_record(catalogue, target, archive)
        if record is None:
            problems.append(_not_archived(target, archive, check_id))
        else:
            found.update((r.archive_path, r) for r in _shot_of(catalogue, record))
    if problems:
        raise UsageError("Nothing was changed: some targets are not archived", details=problems)
    return [found[path] for path in sorted(found)]


def _shot_of(catalogue: Catalogue, record: CatalogueRecord) -> list[CatalogueRecord]:
    """The records of ``record``'s shot: those of its patient sharing its name without the
    extension (a RAW twin, a camera XMP), as `move` takes them. They share one keywords
    sidecar, so tagging one alone left it out of date for the other, and `verify
    --fix-sidecars` then wrote back the old keywords."""
    base = record.archive_path.rpartition(".")[0]
    shot = [
        r for r in catalogue.records(record.patient_id) if r.archive_path.rpartition(".")[0] == base
    ]
    return shot or [record]


def _not_archived(target: str, archive: Path, check_id: Callable[[str], str]) -> str:
    """Why a target names nothing. One with no folder or extension is read as an ID too, so
    a look-alike letter (a Cyrillic "Ј" in "ЈBX3656") is named, not taken for a path."""
    if not any(mark in target for mark in "/\\."):
        try:
            check_id(target)
        except CardingestError as exc:
            return f"{target}: {exc.message}"
    return f"{target}: not an archived photo in {archive}"


def rewrite_sidecars(
    archive: Path,
    catalogue: Catalogue,
    records: Iterable[CatalogueRecord],
    result: TagResult,
) -> None:
    """Bring the sidecars of ``records`` (photos only) in line with their catalogue keywords.

    Where the archive holds the camera's own ``NAME.xmp`` (catalogued as a file of its own),
    it is kept as the camera wrote it.
    """
    done: set[str] = set()  # a RAW+JPEG shot's two photos share one sidecar: once
    for record in records:
        if is_sidecar(record.archive_path):
            continue
        camera_xmp = sidecar_path(Path(record.archive_path)).as_posix()
        if camera_xmp in done:
            continue
        done.add(camera_xmp)
        if catalogue.record(camera_xmp) is not None:
            result.kept.append(camera_xmp)
            continue
        fresh = catalogue.record(record.archive_path) or record
        for where, photo, root in record_copies(archive, record):
            left = leaves_root(root, photo.relative_to(root).parts[:-1])
            if left is not None:  # the diagnosis could land anywhere, on the card say
                result.problems.append(
                    f"{sidecar_path(photo)}: {left[0]} {left[1]}, not a folder of {root}"
                )
                continue
            if not os.path.lexists(photo):  # a sidecar beside nothing hides the loss
                result.problems.append(
                    f"{sidecar_path(photo)}: the {where} folder {root} is not there (its disk "
                    "not connected?); the keywords are in the catalogue, and `cardingest "
                    "verify --fix-sidecars` writes the sidecar once it is"
                    if not ondisk.is_dir(root)
                    else f"{sidecar_path(photo)}: its photo is missing from the {where}; the "
                    "keywords are in the catalogue. Run `cardingest verify`: it notes it, so the "
                    "next ingest of its card puts it back"
                )
                continue
            try:
                outcome = write_sidecar(photo, keywords_of(fresh))
            except (OSError, ValueError) as exc:
                result.problems.append(f"{sidecar_path(photo)}: {exc}")
                continue
            if outcome == "foreign":
                result.kept.append(str(sidecar_path(photo)))
            result.sidecars[outcome] = result.sidecars.get(outcome, 0) + 1


def _as_dict(keywords: Keywords) -> dict[str, object]:
    return {
        "diagnosis": list(keywords.diagnosis),
        "site": keywords.site,
        "consent": keywords.consent,
    }


def tag(
    archive: Path,
    targets: Sequence[str],
    change: Change,
    *,
    check_id: Callable[[str], str],
    operator: str,
) -> TagResult:
    """Apply ``change`` to every target's record, sidecars and the audit log.

    The caller holds the archive lock (sidecars are rewritten through temporary files).
    """
    require_catalogue(archive)
    log = AuditLog(archive)
    log.require_appendable()
    result = TagResult()
    with Catalogue.open(archive, create=False) as catalogue:
        records = resolve_targets(catalogue, archive, targets, check_id)
        touched: list[CatalogueRecord] = []
        for record in records:
            old = keywords_of(record)
            new = apply(old, change)
            if new == old:
                result.unchanged.append(record.archive_path)
                continue
            result.changed.append(Retag(record.archive_path, old, new))
            touched.append(record)
        if result.changed:
            # One transaction, then its event, with Ctrl-C held between them: a run stopped
            # part way changed some photos' consent, and none of it reached the audit log.
            with held_interrupts():
                catalogue.retag(
                    [
                        (r.path, r.new.diagnosis, r.new.site or "", r.new.consent or "")
                        for r in result.changed
                    ]
                )
                log.append(
                    "tag",
                    operator=operator,
                    archive=str(archive),
                    changes=[
                        {"path": r.path, "old": _as_dict(r.old), "new": _as_dict(r.new)}
                        for r in result.changed
                    ],
                )
        with writing_to(archive):
            rewrite_sidecars(archive, catalogue, touched, result)
    if result.changed:  # what became of the sidecars, written after the change and its event
        log.append(
            "tag-sidecars",
            operator=operator,
            archive=str(archive),
            written=result.sidecars,
            kept=result.kept,
            problems=result.problems,
        )
    return result
