"""Re-hash archived files against the catalogue: missing, changed and unexpected files.

`CopyChecker` is shared with the wipe gate: it reads each copy from disk (page cache dropped
first, 1 MiB chunks) at most once per run and remembers the answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, cast

import xxhash

from ..card.kinds import is_sidecar
from ..errors import UsageError
from ..models import METADIR
from ..storage import ondisk
from ..storage.identity import file_id
from ..storage.links import leaves_root
from ..storage.transfer import TEMP_PREFIX, hash_from_disk
from .audit import AuditLog
from .catalogue import Catalogue, CatalogueRecord, DamagedRecord
from .manifest import rewrite_manifests
from .manifestcheck import ExpectedManifests, in_folders
from .permissions import find_exposed, tighten
from .readonly import reading
from .xmp import Keywords, keywords_of, sidecar_path, sidecar_problem, write_sidecar

CopyStatus = Literal["ok", "missing", "changed", "unreadable"]
ProblemKind = Literal[
    "missing", "changed", "unreadable", "unexpected", "exposed", "keywords", "invalid", "manifest"
]
Where = Literal["archive", "backup", "catalogue"]

MANIFEST_LINES_LISTED = 100
"""A manifest's disagreements with the catalogue listed one by one; any more are counted in
one problem: a manifest of a million stray lines (written by hand) would otherwise cost
gigabytes and put every line in the audit log on every run."""

ByteCallback = Callable[[int], None]


@dataclass(frozen=True)
class CopyState:
    """What one copy on disk turned out to be; ``detail`` explains anything but ``ok``."""

    status: CopyStatus
    sha256: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def hash_file(
    path: Path, on_bytes: ByteCallback | None = None, *, follow: bool = True
) -> tuple[int, str]:
    """(size, sha256) of ``path`` read from the medium (not the page cache), 1 MiB at a time:
    O_DIRECT where the file system allows it. ``follow`` False refuses a symbolic link."""
    size, digest = hash_from_disk(path, hashlib.sha256, follow=follow, on_bytes=on_bytes)
    return size, digest.hexdigest()


class _Sha256AndXxh3:
    """Both digests of the same bytes, from one read; ``hexdigest`` is the sha256."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.xxh3 = xxhash.xxh3_128()

    def update(self, data: memoryview, /) -> None:
        self.sha256.update(data)
        self.xxh3.update(data)

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """A file's size, sha256 and XXH3-128, all from one read of it."""

    size: int
    sha256: str
    xxh3: str


def fingerprint(path: Path) -> Fingerprint:
    """`hash_file`, plus the XXH3-128 that lets `CopyChecker.check_same` prove a copy holds
    these very bytes without a second sha256 pass."""
    size, digests = hash_from_disk(path, _Sha256AndXxh3)
    return Fingerprint(size, digests.sha256.hexdigest(), digests.xxh3.hexdigest())


class CopyChecker:
    """Checks copies against an expected size and sha256, each path read at most once."""

    def __init__(self, on_bytes: ByteCallback | None = None) -> None:
        self._on_bytes = on_bytes
        self._seen: dict[tuple[Path, int, str], CopyState] = {}
        self.bytes_read = 0

    def _count(self, count: int) -> None:
        self.bytes_read += count
        if self._on_bytes is not None:
            self._on_bytes(count)

    @staticmethod
    def _key(path: Path, size: int, sha256: str) -> tuple[Path, int, str]:
        """What a copy's answer is remembered under: the same file and expectation once."""
        return Path(os.path.abspath(path)), size, sha256.lower()

    def check(self, path: Path, size: int, sha256: str, root: Path | None = None) -> CopyState:
        """``path`` against a size and sha256. A copy is a regular file: a symbolic link in
        its place, or a link or another mount in place of a folder between ``root`` (its
        archive or backup) and it, makes it no copy (`storage.links`)."""
        key = self._key(path, size, sha256)
        if key not in self._seen:
            self._seen[key] = _linked(root, key[0]) or self._measure(*key)
        return self._seen[key]

    def check_same(self, path: Path, original: Fingerprint, root: Path | None = None) -> CopyState:
        """`check` against ``original.sha256``, for a copy of a file just read whole.

        The copy is read once with XXH3-128 only: if it has the original's size and XXH3,
        it holds the original's bytes, so it has their sha256 too (the read-back's argument,
        storage/transfer.py), at a thirtieth of a sha256 pass. Anything else is measured
        again in full, so the state and its detail are exactly `check`'s.
        """
        key = self._key(path, original.size, original.sha256)
        if key not in self._seen:
            linked = _linked(root, key[0])
            if linked is not None:
                self._seen[key] = linked
            elif self._same(key[0], original):
                self._seen[key] = CopyState("ok", key[2])
            else:
                self._seen[key] = self._measure(*key)
        return self._seen[key]

    def _same(self, path: Path, original: Fingerprint) -> bool:
        try:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode) or info.st_size != original.size:
                return False
            size, digest = hash_from_disk(path, xxhash.xxh3_128, follow=False, on_bytes=self._count)
        except OSError:
            return False
        return (size, digest.hexdigest()) == (original.size, original.xxh3)

    def _measure(self, path: Path, size: int, sha256: str) -> CopyState:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return CopyState("missing", detail="not found")
        except OSError as exc:
            return CopyState("unreadable", detail=exc.strerror or str(exc))
        if stat.S_ISLNK(info.st_mode):
            return CopyState("changed", detail=_LINK)
        if not stat.S_ISREG(info.st_mode):
            return CopyState("changed", detail=_NOT_REGULAR)
        if info.st_size != size:
            return CopyState("changed", detail=f"{info.st_size} bytes, expected {size}")
        try:
            got_size, got_sha = hash_file(path, self._count, follow=False)
        except FileNotFoundError:
            return CopyState("missing", detail="not found")
        except OSError as exc:
            return CopyState("unreadable", detail=exc.strerror or str(exc))
        if (got_size, got_sha) != (size, sha256):
            return CopyState("changed", got_sha, f"sha256 {got_sha}, expected {sha256}")
        return CopyState("ok", got_sha)


_LINK = "a symbolic link, not a copy"
_NOT_REGULAR = "not a regular file"


def _linked(root: Path | None, path: Path) -> CopyState | None:
    """A folder between ``root`` and ``path`` that is a symbolic link or another mount makes
    ``path`` no copy of the archive, and not one to repair either: a repair would write
    through it."""
    if root is None:
        return None
    try:
        parts = path.relative_to(os.path.abspath(root)).parts
    except ValueError:
        return None
    left = leaves_root(root, parts[:-1])
    if left is None:
        return None
    return CopyState("unreadable", detail=f"its folder {left[0].name} {left[1]}")


class DamagedCopy(Exception):
    """An archive copy that is not the photo its record names: sent or shared, it could be
    another patient's."""


def read_copy(archive: Path, record: CatalogueRecord) -> bytes:
    """The bytes of ``record``'s archive copy, proven to be the archived photo: a regular
    file reached without a link or a mount below the archive's root (`storage.links`), with the
    record's sha256. OSError if it cannot be read; DamagedCopy, with the reason, if it is
    not the photo."""
    path = archive_file(archive, record)
    left = leaves_root(archive, record.archive_path.split("/"))
    if left is not None:
        raise DamagedCopy(f"{left[0].name} {left[1]}, not the archived copy")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DamagedCopy("not a regular file")
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != record.sha256.lower():
        raise DamagedCopy("the archived copy no longer matches its checksum")
    return data


def repairable(state: CopyState, path: Path) -> bool:
    """A copy that is changed, or missing from an archive (or backup) that is there, can be
    put back.

    A folder at the copy's name is not put back (nothing is moved aside). A missing copy's
    archive is there when its folder is, or when the nearest folder above it that is there
    is a root with its ``.cardingest``: the patient's folder was removed, not the drive
    unplugged. Otherwise (a drive or share not connected, its mount point
    empty) nothing is touched, nor is an unreadable copy (an I/O error now), which may read
    again later.
    """
    if state.status != "missing":
        return state.status == "changed" and not _a_folder(path)
    nearest = next((folder for folder in path.parents if ondisk.is_dir(folder)), None)
    return nearest is not None and (nearest == path.parent or ondisk.is_dir(nearest / METADIR))


def not_repairable(state: CopyState, path: Path) -> str:
    """Why a copy `repairable` refuses is left, for a person: a folder at its name needs them
    (it is never set aside whole); anything else (unreadable now, its drive not connected,
    its folder a link) may check out on a later run."""
    if state.status == "changed" and _a_folder(path):
        return "is a folder, not the photo: move that folder aside by hand, then ingest again"
    return f"cannot be checked now ({state.detail})"


def _a_folder(path: Path) -> bool:
    """A folder stands where a photo should: no copy of it, and never set aside whole (a
    patient's folder, were a catalogue row edited to name it)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def mark_change(
    archive_path: str, states: list[tuple[Where, Path, CopyState]], marked: dict[str, str]
) -> dict[str, str | None]:
    """The change to one record's problem mark after its copies were checked: ``{}``, a new
    problem (the next ingest of its card repairs it, see `repair`) or None to clear one.
    Only `repairable` copies make a mark; otherwise the mark stays as it was.
    """
    current = marked.get(archive_path)
    if all(state.ok for _, _, state in states):
        return {archive_path: None} if current is not None else {}
    for where, path, state in states:
        if repairable(state, path):
            how = "no longer matches" if state.status == "changed" else "is missing"
            found = f"{where} copy {path.name} {how}"
            return {archive_path: found} if found != current else {}
    return {}


def marks_backup(problem: str) -> bool:
    """A problem mark (`mark_change`) of a backup copy."""
    return problem.startswith("backup copy ")


def marked_how(problem: str) -> str:
    """What a problem mark (`mark_change`) says of its copy."""
    return "is missing" if problem.endswith(" is missing") else "no longer matches"


def archive_file(archive: Path, record: CatalogueRecord) -> Path:
    return Path(archive, *record.archive_path.split("/"))


LINKED = "the archive copy itself (a hard link to the same file on disk), not a second copy"


def second_copy(state: CopyState, where: Where, path: Path, archive_copy: Path) -> CopyState:
    """``state`` of a backup copy, unless it is the archive copy itself: a hard link (as a
    deduplicating tool makes) is one file on one disk, and counts as ``changed``, so the
    next ingest of the card writes a copy of its own in its place."""
    if where != "backup" or not state.ok:
        return state
    here, there = file_id(path), file_id(archive_copy)
    return CopyState("changed", detail=LINKED) if here is not None and here == there else state


def record_copies(archive: Path, record: CatalogueRecord) -> list[tuple[Where, Path, Path]]:
    """Every copy a record promises, with the root it lies under: the archive copy, and the
    backup copy if one was made (its root: its path without the record's archive path)."""
    copies: list[tuple[Where, Path, Path]] = [("archive", archive_file(archive, record), archive)]
    if record.backup_path:
        backup = Path(record.backup_path)
        depth = min(len(record.archive_path.split("/")), len(backup.parents))
        copies.append(("backup", backup, backup.parents[depth - 1]))
    return copies


@dataclass(frozen=True)
class Problem:
    """One bad file. ``path`` is relative to the archive, or absolute for a backup copy; for
    an ``invalid`` catalogue record (``where`` ``catalogue``), its archive path as it stands."""

    kind: ProblemKind
    path: str
    where: Where = "archive"
    patient_id: str | None = None
    expected_sha256: str | None = None
    actual_sha256: str | None = None
    detail: str | None = None


@dataclass
class VerifyReport:
    archive: str
    patient_id: str | None = None
    records: int = 0
    copies: int = 0
    ok_copies: int = 0
    bytes_read: int = 0
    problems: list[Problem] = field(default_factory=list)
    sidecars: dict[str, tuple[Path, Keywords]] = field(default_factory=dict, repr=False)
    """The photo and keywords behind each ``keywords`` problem's path, for `fix_sidecars`."""
    absent_backups: list[str] = field(default_factory=list)
    """Backup folders the catalogue names that are not there (a disk not connected, or
    mounted at another folder)."""
    manifests: dict[str, set[Path]] = field(default_factory=dict, repr=False)
    """The ingests whose manifests disagree with the catalogue, each with the backup
    folders where they do (the archive's own is written with them), for `fix_manifests`."""
    manifest_problems: list[tuple[Problem, Path]] = field(default_factory=list, repr=False)
    """Each ``manifest`` problem with the manifest it is about: `fix_manifests` takes off the
    report only those of the manifests it wrote."""
    walked: list[Path] = field(default_factory=list, repr=False)
    """The backup folders and copies `find_exposed` looked through besides the archive:
    `fix_permissions` reaches each path from the one holding it, no link followed."""
    unlisted: dict[Problem, int] = field(default_factory=dict, repr=False)
    """How many lines each problem that counts a manifest's unlisted lines stands for:
    `counts` counts a manifest's lines, not its problems."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, kind: ProblemKind) -> int:
        return sum(1 for problem in self.problems if problem.kind == kind)

    @property
    def counts(self) -> dict[str, int]:
        kinds: tuple[ProblemKind, ...] = (
            "missing",
            "changed",
            "unreadable",
            "unexpected",
            "exposed",
            "keywords",
            "invalid",
        )
        return {
            "records": self.records,
            "copies": self.copies,
            "ok": self.ok_copies,
            **{kind: self.count(kind) for kind in kinds},
            "manifest": sum(
                self.unlisted.get(problem, 1)
                for problem in self.problems
                if problem.kind == "manifest"
            ),
        }

    def paths(self, kind: ProblemKind) -> list[str]:
        return [problem.path for problem in self.problems if problem.kind == kind]


def _problem(record: CatalogueRecord, where: Where, path: Path, state: CopyState) -> Problem:
    shown = record.archive_path if where == "archive" else str(path)
    assert state.status != "ok"
    return Problem(
        kind=cast(ProblemKind, state.status),
        path=shown,
        where=where,
        patient_id=record.patient_id,
        expected_sha256=record.sha256,
        actual_sha256=state.sha256,
        detail=state.detail,
    )


def _sidecar_problems(
    record: CatalogueRecord, copies: Iterable[tuple[Where, Path]]
) -> list[tuple[Problem, Path, Keywords]]:
    """Keywords problems of ``record``'s sidecars beside each of its good ``copies``, each with
    the photo and keywords `fix_sidecars` writes it again from."""
    keywords = keywords_of(record)
    found = []
    for where, photo in copies:
        problem = sidecar_problem(photo, keywords)
        if problem is None:
            continue
        shown = sidecar_path(Path(record.archive_path)).as_posix()
        path = shown if where == "archive" else str(sidecar_path(photo))
        detail = f"keywords sidecar {problem}"
        found.append(
            (Problem("keywords", path, where, record.patient_id, detail=detail), photo, keywords)
        )
    return found


def patient_folders(archive: Path, patient_id: str, catalogued: Iterable[str]) -> list[str]:
    """The folders of one patient, as the whole-archive walk meets them: for each catalogued
    path, its folders down to the first one whose name holds the ID with no letter or digit
    either side (``JBX3656`` for ``{id}/{date}``, ``2024/JBX3656`` for ``{year}/{id}``, and
    ``2024/24`` for ID ``24``; the file's own folder if none does), and ``ID`` at the top if
    it is there; no folder inside another, none reached through a symbolic link (the walk
    does not follow them)."""
    holds_id = re.compile(rf"(?<![^\W_]){re.escape(patient_id)}(?![^\W_])").search
    candidates = {patient_id}
    for path in catalogued:
        parents = list(_parents(path))
        named = [folder for folder in parents if holds_id(folder.rpartition("/")[2])]
        candidates.update(named[:1] or parents[-1:])
    kept: list[str] = []
    for folder in sorted(candidates):
        inside = any(folder.startswith(outer + "/") for outer in kept)
        walked = not _skipped_at_top(folder.partition("/")[0]) and _real_folder(archive, folder)
        if walked and not inside:
            kept.append(folder)
    return kept


def _real_folder(archive: Path, folder: str) -> bool:
    """``folder`` is a directory, and no folder on the way to it is a symbolic link."""
    path = archive
    for part in folder.split("/"):
        path = path / part
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return False
        except OSError:
            return False
    return True


def _expected_sidecars(relpaths: Iterable[str]) -> set[str]:
    """XMP names that belong to catalogued photos: ``name.xmp`` and ``name.jpg.xmp``."""
    names: set[str] = set()
    for path in relpaths:
        stem = path.rpartition(".")[0] or path
        names.update({f"{stem}.xmp".lower(), f"{path}.xmp".lower()})
    return names


SYSTEM_NAMES = frozenset(
    {"lost+found", "system volume information", "$recycle.bin", ".trashes", ".ds_store"}
    | {".spotlight-v100", ".fseventsd", ".temporaryitems", "desktop.ini", "thumbs.db"}
)
"""What an operating system keeps at the root of a drive: an archive may be a drive's root."""


def _skipped_at_top(name: str) -> bool:
    return name == METADIR or name.startswith(TEMP_PREFIX) or name.lower() in SYSTEM_NAMES


def find_all_unexpected(
    archive: Path, catalogued: set[str], folders: Iterable[str] | None = None
) -> list[Problem]:
    """Every file anywhere in the archive that no catalogue row names (nor a photo's XMP
    sidecar): strays at the top level, in patient folders without a single catalogued file,
    and beside catalogued photos; and folders holding nothing catalogued at all.

    With ``folders`` (archive-relative, see `patient_folders`), only what lies in those, each
    found and described exactly as the whole walk finds and describes it.
    """
    sidecars = _expected_sidecars(catalogued)
    holding = {folder for path in catalogued for folder in _parents(path)}
    problems: list[Problem] = []
    if folders is not None:
        for folder in folders:
            problems.extend(_unexpected_in(archive, folder, catalogued, sidecars, holding))
        return problems
    try:
        with os.scandir(archive) as it:
            top = sorted(it, key=lambda entry: entry.name)
    except OSError:
        return problems
    for entry in top:
        if _skipped_at_top(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            problems.extend(_unexpected_in(archive, entry.name, catalogued, sidecars, holding))
        elif entry.name not in catalogued:
            what = "a symbolic link" if entry.is_symlink() else "a file"
            problems.append(
                Problem("unexpected", entry.name, detail=f"{what} at the archive's top level")
            )
    return problems


def _unexpected_in(
    archive: Path, top: str, catalogued: set[str], sidecars: set[str], holding: set[str]
) -> Iterator[Problem]:
    """Strays and uncatalogued empty folders in the folder ``top``, at every depth (a nested
    ``.cardingest`` too: only the archive's own is metadata); links are not followed."""
    for current, dirs, files in os.walk(Path(archive, *top.split("/"))):
        dirs.sort()
        folder = Path(current).relative_to(archive).as_posix()
        if not files and not dirs and folder not in holding:
            yield Problem("unexpected", f"{folder}/", detail="an empty folder, not catalogued")
        for name in sorted(files):
            relpath = f"{folder}/{name}"
            if name.startswith(TEMP_PREFIX) or relpath in catalogued:
                continue
            if relpath.lower() in sidecars:
                continue
            detail = (
                "not in the catalogue"
                if folder in holding
                else "in a folder with no catalogued photo"
            )
            yield Problem("unexpected", relpath, detail=detail)


def _photos_of_damaged_records(
    archive: Path, strays: list[Problem], damaged: list[DamagedRecord], checker: CopyChecker
) -> list[Problem]:
    """``strays`` with each that is the photo of a damaged record (its content: a record
    edited to another path), and that photo's keywords sidecar, said to be so: one tidying
    up the strays would otherwise remove the only archived copy. Only a stray of a damaged
    record's size is read."""
    by_size: dict[int, list[DamagedRecord]] = {}
    for bad in damaged:
        if bad.content is not None:
            by_size.setdefault(bad.content[1], []).append(bad)
    if not by_size:
        return strays
    named: dict[str, str] = {}  # each such photo's path and stem, lower case: its detail
    said: list[Problem] = []
    for stray in strays:
        said.append(_damaged_records_photo(archive, stray, by_size, checker) or stray)
        if said[-1] is not stray:
            lower = stray.path.lower()
            named[lower] = named[lower.rpartition(".")[0] or lower] = said[-1].detail or ""
    for index, stray in enumerate(said):
        lower = stray.path.lower()
        photo = named.get(lower.removesuffix(".xmp")) if lower.endswith(".xmp") else None
        if photo is not None and lower not in named:
            said[index] = replace(stray, detail=f"the keywords sidecar of {photo}")
    return said


def _damaged_records_photo(
    archive: Path, stray: Problem, by_size: dict[int, list[DamagedRecord]], checker: CopyChecker
) -> Problem | None:
    """``stray`` said to be the photo of the damaged record whose content it holds, if one."""
    path = Path(archive, *stray.path.split("/"))
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    for bad in by_size.get(info.st_size, []):
        assert bad.content is not None
        if checker.check(path, bad.content[1], bad.content[0], archive).ok:
            detail = (
                f"the photo of catalogue row {bad.rowid}, whose record is damaged (see "
                "invalid): put that record right; do not remove this file"
            )
            return replace(stray, patient_id=bad.patient_id, detail=detail)
    return None


def _parents(relpath: str) -> Iterator[str]:
    parts = relpath.split("/")[:-1]
    for end in range(1, len(parts) + 1):
        yield "/".join(parts[:end])


def _within(path: str, folders: list[str]) -> bool:
    """``path`` (as `find_exposed` shows it) is in a backup (only the patient's folders and
    copies there are looked at), one of ``folders`` or in one."""
    return os.path.isabs(path) or in_folders(path, folders)


def _backup_root(archive: Path, root: Path) -> bool:
    """A backup's root to look through whole for what is exposed: one an ingest made (its own
    ``.cardingest`` folder is there, not a link), and not the archive itself. Else only its
    copies are looked at: an older backup, or a drive that is not connected."""
    try:
        return stat.S_ISDIR(os.lstat(root / METADIR).st_mode) and not os.path.samefile(
            root, archive
        )
    except OSError:
        return False


def verify_archive(
    archive: Path,
    *,
    patient_id: str | None = None,
    on_bytes: ByteCallback | None = None,
) -> VerifyReport:
    """Re-hash every catalogued copy (of one patient with ``patient_id``) and look for strays.

    With ``patient_id``, the problems are exactly those the whole archive's check reports in
    that patient's folders (`patient_folders`) and backup copies; an ID with no catalogued
    photo and no folder is a `UsageError`.

    The caller holds the archive lock, so an ingest cannot publish files while their
    catalogue rows are still pending (they would look unexpected).
    """
    report = VerifyReport(archive=str(archive), patient_id=patient_id)
    checker = CopyChecker(on_bytes)
    catalogued: set[str] = set()
    backups: list[Path] = []
    backup_roots: dict[Path, set[str]] = {}  # each root: the paths of its copies below it
    sidecars: list[tuple[str, tuple[Problem, Path, Keywords]]] = []  # found wrong: a few

    damaged: list[DamagedRecord] = []
    manifests = ExpectedManifests(archive)

    def invalid(bad: DamagedRecord) -> None:
        """A record no copy can be checked against: listed, and the file at its path is no
        stray (its path does not make a folder the patient's: it may lie in another's)."""
        report.records += 1
        damaged.append(bad)
        report.problems.append(
            Problem("invalid", bad.shown_path, "catalogue", bad.patient_id, detail=bad.detail)
        )

    with reading(archive) as catalogue:
        marked = catalogue.problems()
        marks: dict[str, str | None] = {}
        for record in catalogue.records(patient_id, on_damaged=invalid):
            report.records += 1
            catalogued.add(record.archive_path)
            states = []
            for where, path, root in record_copies(archive, record):
                if where == "backup":
                    backups.append(path)
                    with contextlib.suppress(ValueError):
                        backup_roots.setdefault(root, set()).add(path.relative_to(root).as_posix())
                report.copies += 1
                manifests.add(root, record.ingest_id, path, record.sha256)
                state = checker.check(path, record.size, record.sha256, root)
                state = second_copy(state, where, path, archive_file(archive, record))
                states.append((where, path, state))
                if state.ok:
                    report.ok_copies += 1
                else:
                    state = _whose_bytes(state, path, record, catalogue)
                    report.problems.append(_problem(record, where, path, state))
            marks.update(mark_change(record.archive_path, states, marked))
            if not is_sidecar(record.archive_path):
                good = [(w, p) for w, p, state in states if state.ok]
                name = sidecar_path(Path(record.archive_path)).as_posix().lower()
                sidecars += [(name, found) for found in _sidecar_problems(record, good)]
        catalogue.set_problems(marks)
        ingests = catalogue.ingests()
    named = {path.lower() for path in catalogued}
    for name, (problem, photo, keywords) in sidecars:
        if name not in named:  # else the camera's own XMP, catalogued and kept as it is
            report.problems.append(problem)
            report.sidecars[problem.path] = (photo, keywords)
    folders = None if patient_id is None else patient_folders(archive, patient_id, catalogued)
    if patient_id is not None and not catalogued and not folders and not damaged:
        raise UsageError(f"No photos of {patient_id} are archived: is the ID or --archive right?")
    named = catalogued | {bad.archive_path for bad in damaged if bad.archive_path is not None}
    strays = find_all_unexpected(archive, named, folders)
    report.problems.extend(_photos_of_damaged_records(archive, strays, damaged, checker))
    report.absent_backups = sorted(str(root) for root in backup_roots if not ondisk.is_dir(root))
    manifests.cover({archive, *backup_roots}, [ingest["ingest_id"] for ingest in ingests])
    running = {ingest["ingest_id"] for ingest in ingests if ingest.get("status") == "running"}
    # A damaged record's lines (by its path, its backup copy's or its content) are no stray
    # lines: it is listed once, as invalid. A line for a copy the catalogue files under
    # another ingest is one (`sha256sum -c` fails on it).
    unlisted = {bad.archive_path for bad in damaged if bad.archive_path is not None} | {
        str(Path(bad.backup_path)) for bad in damaged if bad.backup_path is not None
    }
    digests = {bad.content[0] for bad in damaged if bad.content is not None}
    listed: dict[Path, int] = {}  # each manifest's disagreements
    for fault in manifests.faults(running, unlisted, folders, digests):
        in_backup = fault.root != archive
        wrong_in = report.manifests.setdefault(fault.ingest_id, set())
        if in_backup:
            wrong_in.add(fault.root)
        manifest = fault.manifest
        listed[manifest] = listed.get(manifest, 0) + 1
        if listed[manifest] <= MANIFEST_LINES_LISTED:
            kind: Where = "backup" if in_backup else "archive"
            problem = Problem("manifest", fault.path, kind, detail=fault.detail)
            report.problems.append(problem)
            report.manifest_problems.append((problem, manifest))
    for problem, path, more in _more_manifest_lines(archive, listed):
        report.problems.append(problem)
        report.manifest_problems.append((problem, path))
        report.unlisted[problem] = more
    roots = [root for root in backup_roots if _backup_root(archive, root)]
    if patient_id is None:
        elsewhere = [*roots, *backups]
    else:  # the patient's folders in each backup, as in the archive
        elsewhere = [
            root / folder
            for root in roots
            for folder in patient_folders(root, patient_id, backup_roots[root])
        ] + backups
    report.walked = [*roots, *elsewhere]
    report.problems.extend(
        Problem("exposed", item.path, _exposed_where(item.path), detail=item.detail)
        for item in find_exposed(archive, elsewhere)
        if folders is None or _within(item.path, folders)
    )
    report.bytes_read = checker.bytes_read
    return report


def _more_manifest_lines(
    archive: Path, listed: dict[Path, int]
) -> Iterator[tuple[Problem, Path, int]]:
    """One problem for each manifest with more than MANIFEST_LINES_LISTED disagreements (how
    many more there are), with the manifest and that number."""
    for path, count in sorted(listed.items()):
        if count <= MANIFEST_LINES_LISTED:
            continue
        where: Where = "archive" if path.is_relative_to(archive) else "backup"
        more = count - MANIFEST_LINES_LISTED
        detail = f"{more:,} more line(s) disagree with the catalogue, not listed one by one"
        yield Problem("manifest", _shown(archive, path), where, detail=detail), path, more


def _whose_bytes(
    state: CopyState, path: Path, record: CatalogueRecord, catalogue: Catalogue
) -> CopyState:
    """A changed copy that holds another archived photo's bytes, with whose they are: a
    photo copied over another (or two swapped) is that photo under this one's name, maybe
    another patient's (a trial: "changed: 230349 bytes, expected 14034", and no more)."""
    if state.status != "changed" or state.detail in (_LINK, _NOT_REGULAR):
        return state
    sha256 = state.sha256
    if sha256 is None:
        try:
            _size, sha256 = hash_file(path, follow=False)
        except OSError:
            return state
    other = next(
        (o for o in catalogue.find_by_sha(sha256) if o.archive_path != record.archive_path), None
    )
    if other is None:
        return replace(state, sha256=sha256)
    whose = "another patient's" if other.patient_id != record.patient_id else "this patient's"
    return replace(
        state,
        sha256=sha256,
        detail=f"{state.detail}: it holds the bytes of {other.archive_path}, {whose}",
    )


def _exposed_where(shown: str) -> Where:
    """`find_exposed` shows the archive's paths relative to it, and a backup's in full."""
    return "backup" if os.path.isabs(shown) else "archive"


def total_bytes(archive: Path, patient_id: str | None = None) -> int:
    """Bytes a full verify reads (for a progress bar)."""
    with reading(archive) as catalogue:
        return sum(
            record.size * len(record_copies(archive, record))
            for record in catalogue.records(patient_id, on_damaged=lambda _: None)
        )


def record_verify(archive: Path, report: VerifyReport, operator: str) -> dict:
    """Append the run's ``verify`` event to the audit log (counts and every bad path)."""
    return AuditLog(archive).append(
        "verify",
        operator=operator,
        archive=str(archive),
        id=report.patient_id,
        ok=report.ok,
        counts=report.counts,
        missing=report.paths("missing"),
        changed=report.paths("changed"),
        unreadable=report.paths("unreadable"),
        unexpected=report.paths("unexpected"),
        exposed=report.paths("exposed"),
        keywords=report.paths("keywords"),
        invalid=report.paths("invalid"),
        manifest=report.paths("manifest"),
    )


def fix_permissions(
    archive: Path, report: VerifyReport, operator: str
) -> tuple[list[str], list[str]]:
    """Take other accounts' access away from what ``report`` found exposed; audited. The
    paths closed, and those that could not be changed, each with why (`tighten`)."""
    changed, refused = tighten(archive, report.paths("exposed"), report.walked)
    if changed:
        AuditLog(archive).append(
            "permissions", operator=operator, archive=str(archive), tightened=changed
        )
    return changed, refused


def unwritten_manifests(report: VerifyReport) -> list[Path]:
    """The manifests ``report`` still finds wrong after `fix_manifests`: those it could not
    write from the catalogue."""
    present = {id(problem) for problem in report.problems}
    return sorted({path for problem, path in report.manifest_problems if id(problem) in present})


def fix_manifests(archive: Path, report: VerifyReport, operator: str) -> list[str]:
    """Write again, from the catalogue, the manifests of the ingests ``report`` found them
    wrong for (in the archive, and in the backup folders where they were); audited. The
    catalogue is what every copy was just hashed against. Returns the manifests written,
    and takes their problems off ``report``: a manifest the catalogue has no copy for in its
    folder (one copied into a backup that holds none of that ingest's) is not written, and
    its problems stay. OSError when the disk refuses."""
    if not report.manifests:
        return []
    with reading(archive) as catalogue:
        written = rewrite_manifests(catalogue, archive, report.manifests)
    done = set(written)
    settled = {id(problem) for problem, path in report.manifest_problems if path in done}
    report.problems = [problem for problem in report.problems if id(problem) not in settled]
    report.manifests = {}
    shown = [_shown(archive, path) for path in written]
    AuditLog(archive).append("manifests", operator=operator, archive=str(archive), written=shown)
    return shown


def _shown(archive: Path, path: Path) -> str:
    return path.relative_to(archive).as_posix() if path.is_relative_to(archive) else str(path)


def fix_sidecars(archive: Path, report: VerifyReport, operator: str) -> list[str]:
    """Write again, from the catalogue, the keywords sidecars ``report`` found wrong (a left
    over one is removed); audited. Returns the paths put right; OSError when the disk refuses.
    """
    fixed = []
    for path, (photo, keywords) in report.sidecars.items():
        if write_sidecar(photo, keywords) != "foreign":  # another program's file since: kept
            fixed.append(path)
    if fixed:
        AuditLog(archive).append("sidecars", operator=operator, archive=str(archive), fixed=fixed)
    return fixed
