"""Taking a refused move journal out of the way (``cardingest move --abandon-journal``).

A journal that cardingest refuses to carry out (damaged, edited, unlike the catalogue)
blocks every later move, tag and DICOM command. Abandoning it removes only what is proven a
second name of a catalogued file, keeps the journal in ``.cardingest/abandoned-moves`` and
says in the audit log what was done. The catalogue is the truth; the journal, which anyone
who may write the archive may have edited, is only a list of candidates.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import stat
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .archive.audit import AuditLog
from .archive.catalogue import Catalogue, require_catalogue
from .archive.manifest import rewrite_manifests
from .archive.verify import archive_file, hash_file
from .archive.xmp import is_ours, sidecar_path
from .errors import ArchiveError, UsageError
from .models import MANIFEST_DIR, METADIR
from .move import (
    BackupLocks,
    FileMove,
    JournalRefused,
    _backup_root,
    _listed_elsewhere,
    _pairs,
    _refuse_unlike_catalogue,
    _writing,
    journal_bytes,
    journal_path,
    link_blocked,
    read_journal,
)
from .storage.durable import fsync_dir, remove_empty_folders, rename_free
from .storage.interrupts import held_interrupts
from .storage.links import leaves_root
from .storage.modes import close_open_file, created_file, make_dirs
from .storage.transfer import numbered_name, plain_relpath

ABANDONED_DIR = "abandoned-moves"
"""Where `abandon_journal` keeps the journals it takes out of the way, in ``.cardingest``."""


@dataclass
class AbandonResult:
    """What `abandon_journal` did; paths as the journal gives them (archive-relative for
    the archive's files, full paths for backup copies and keyword sidecars)."""

    move_id: str | None = None
    """The journal's own ``move_id``, where it gives one (it is not trusted for anything)."""
    refused: str = ""
    """Why cardingest refuses to carry the journal out."""
    journal: str = ""
    """Where the journal is kept now."""
    removed: list[tuple[str, str]] = field(default_factory=list)
    """(second name removed, the catalogued name of the same file)."""
    restored: list[tuple[str, str]] = field(default_factory=list)
    """(name, catalogued name) of files put back under their catalogued name: a move on a
    file system without hard links renamed them."""
    kept: list[tuple[str, str]] = field(default_factory=list)
    """(path, why) of what the journal names and is not proven a second name: left alone."""
    refiled: list[dict[str, str]] = field(default_factory=list)
    """The journal's files the catalogue already names at their new paths (the move had
    refiled them): ``old``, ``new``, ``patient``."""
    manifests: list[str] = field(default_factory=list)
    """The coreutils manifests written again from the catalogue: those of the refiled
    files' ingests, which a move stopped before its manifests left listing the old names."""


@dataclass(frozen=True)
class _Name:
    """A path a journal names, and the catalogued file it may be a second name of."""

    shown: str
    path: Path
    partners: tuple[tuple[Path, Path], ...]
    """(the catalogued file, the root both must lie in), one per catalogued photo of the
    journal's entry (two only where the entry names two catalogued photos)."""
    sha256: str = ""
    """The catalogued content of a photo (empty where the entry names two catalogued)."""
    sidecar: bool = False


def _refusal(archive: Path) -> str | None:
    """Why cardingest refuses to carry out the journal there, or None where it can: read
    back and checked, like the catalogue, and no file in the way of a link."""
    try:
        data = read_journal(archive)
        if data is None:
            return None
        moves = [FileMove(**entry) for entry in data["moves"]]
        _refuse_unlike_catalogue(archive, data, moves)
        for old, new in _pairs(archive, data)[0]:
            if (blocked := link_blocked(old, new)) is not None:
                return blocked
    except JournalRefused as exc:  # its reason: the abandon may remove second names
        return exc.reason
    except ArchiveError as exc:
        return exc.message
    except (TypeError, ValueError, KeyError) as exc:  # an entry short of a field
        return f"{journal_path(archive)} is not as cardingest wrote it ({exc})"
    return None


def _folded(path: str | Path) -> str:
    """``path`` as a file system that tells no case (FAT, exFAT, macOS's default) and no
    Unicode form (macOS) apart sees it: two paths that fold alike may be one directory
    entry, so a name that folds as a catalogued one is never taken for a second name."""
    return unicodedata.normalize("NFC", os.path.normpath(path)).casefold()


def _journal_entries(path: Path) -> tuple[dict[str, Any] | None, list[dict], list[list]]:
    """The journal as far as it reads (a damaged or edited one too): the document, its
    moves and its sidecar pairs, each only a list of candidates to check."""
    try:
        data = json.loads(journal_bytes(path))
    except (OSError, ValueError):
        return None, [], []
    if not isinstance(data, dict):
        return None, [], []
    moves = [e for e in data.get("moves") or [] if isinstance(e, dict)]
    sidecars = [p for p in data.get("sidecars") or [] if isinstance(p, list) and len(p) == 2]
    return data, moves, sidecars


def _inside(root: Path, path: Path) -> bool:
    """Whether ``path`` lies in ``root`` as written: no ``..``, no folder on the way a
    symbolic link or another mount."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    parts = rel.parts
    if not parts or any(part in ("", ".", "..") for part in parts):
        return False
    if leaves_root(root, parts[:-1]) is not None:
        return False
    try:
        return path.parent.resolve() == root.resolve().joinpath(*parts[:-1])
    except OSError:
        return False


def _journal_names(
    archive: Path,
    catalogue: Catalogue,
    moves: list[dict],
    sidecars: list[list],
    result: AbandonResult,
) -> tuple[list[_Name], list[_Name], set[str], set[Path]]:
    """The photos' and the sidecars' names a journal gives, each with the catalogued files
    it may be a second name of; every name the catalogue gives (archive paths, backup
    paths, sidecars of both: never removed), `_folded`; the backup folders concerned."""
    named: set[str] = set()
    expected: dict[str, Path] = {}  # sidecar of a catalogued file -> its root

    def damaged(row: Any) -> None:
        if row.archive_path:
            named.add(os.path.normpath(archive_file(archive, row)))

    for row in catalogue.records(on_damaged=damaged):
        photo = archive_file(archive, row)
        named.add(os.path.normpath(photo))
        expected[os.path.normpath(sidecar_path(photo))] = Path(archive)
        if row.backup_path:
            named.add(os.path.normpath(row.backup_path))
            with contextlib.suppress(ArchiveError):
                root = _backup_root(row)
                if root is not None:
                    expected[os.path.normpath(sidecar_path(Path(row.backup_path)))] = root
    named |= {os.path.normpath(p.with_name(p.name + ".xmp")) for p in map(Path, list(named))}
    photos: list[_Name] = []
    roots: set[Path] = set()
    for entry in moves:
        rels = [entry.get(key) for key in ("old", "new")]
        before, after = (
            catalogue.record(rel)
            if isinstance(rel, str) and plain_relpath(rel) and rel.isprintable()
            else None
            for rel in rels
        )
        found = [row for row in (before, after) if row is not None]
        if before is None and after is not None:  # the rows were refiled (no `move` event)
            refiled = {"old": str(rels[0]), "new": after.archive_path}
            result.refiled.append({**refiled, "patient": after.patient_id})
        archive_partners = tuple((archive_file(archive, row), Path(archive)) for row in found)
        backup_partners: list[tuple[Path, Path]] = []
        for row in found:
            with contextlib.suppress(ArchiveError):
                root = _backup_root(row)
                if root is not None and row.backup_path:
                    backup_partners.append((Path(row.backup_path), root))
                    roots.add(root)
        sha = found[0].sha256 if len(found) == 1 else ""
        for rel in rels:
            if isinstance(rel, str) and rel:
                photos.append(_Name(rel, Path(archive, rel), archive_partners, sha))
        for key in ("old_backup", "new_backup"):
            backup = entry.get(key)
            if isinstance(backup, str) and backup:
                photos.append(_Name(backup, Path(backup), tuple(backup_partners), sha))
    sides: list[_Name] = []
    for pair in sidecars:
        for name, other in (pair, pair[::-1]):
            if not isinstance(name, str) or not name:
                continue
            partner = os.path.normpath(str(other)) if isinstance(other, str) else ""
            partners = ((Path(partner), expected[partner]),) if partner in expected else ()
            sides.append(_Name(name, Path(name), partners, sidecar=True))
    named |= set(expected)
    return photos, sides, {_folded(each) for each in named}, roots


def _stale_manifests(catalogue: Catalogue, result: AbandonResult) -> dict[str, set[Path]]:
    """The ingests of the files the move had refiled (ID -> their backup folders): a move
    stopped after the rows, before its manifests, left those listing the old names."""
    ingests: dict[str, set[Path]] = {}
    for refiled in result.refiled:
        row = catalogue.record(refiled["new"])
        if row is None or not row.ingest_id:
            continue
        roots = ingests.setdefault(row.ingest_id, set())
        with contextlib.suppress(ArchiveError):
            root = _backup_root(row)
            if root is not None:
                roots.add(root)
    return ingests


def _rewrite_stale(
    catalogue: Catalogue, archive: Path, stale: dict[str, set[Path]], result: AbandonResult
) -> None:
    """Write those manifests again; one a damaged row keeps from being written (a value
    no manifest line can hold) is listed for a person, and the rest still are."""
    for ingest_id, roots in sorted(stale.items()):
        try:
            written = rewrite_manifests(catalogue, archive, {ingest_id: roots})
        except ValueError as exc:
            why = f"not written again from the catalogue: {exc}; `cardingest verify` lists it"
            result.kept.append((f"{METADIR}/{MANIFEST_DIR}/{ingest_id}.sha256", why))
            continue
        result.manifests += [str(path) for path in written]


def _regular(path: Path) -> os.stat_result | None:
    try:
        found = os.lstat(path)
    except (OSError, ValueError):
        return None
    return found if stat.S_ISREG(found.st_mode) else None


def _settle(name: _Name, named: set[str], shared: set[str], result: AbandonResult) -> None:
    """Remove ``name`` where it is proven a second name of a catalogued file; put it back
    under the catalogued name where a move without hard links renamed it; else leave it,
    and list it where there is anything there. ``named`` and ``shared`` (the files another
    archive lists in the backup folders) are `_folded`, and so is ``name`` to meet them."""
    if not os.path.lexists(name.path):
        return
    real = _folded(name.path)  # in any case: on a FAT or macOS drive, one entry
    if real in named:  # said where the journal pairs it with another catalogued file
        exact = os.path.normpath(name.path)
        mine = [p for p, _root in name.partners if os.path.normpath(p) == exact]
        if name.partners and (len(name.partners) > 1 or not mine):
            why = "the catalogue names it (in some letter case): it is not a second name"
            result.kept.append((name.shown, why))
        return
    if real in shared:
        result.kept.append((name.shown, "another archive sharing the backup folder lists it"))
        return
    found = _regular(name.path)
    if found is None:
        result.kept.append((name.shown, "not a regular file (a link, a folder, or unreadable)"))
        return
    inside = [(p, root) for p, root in name.partners if _inside(root, name.path)]
    if not name.partners:
        result.kept.append((name.shown, "the journal pairs it with no file the catalogue names"))
        return
    if not inside:
        result.kept.append((name.shown, "outside the archive, or its backup folder"))
        return
    for partner, root in inside:
        other = _regular(partner)
        if other is None and not os.path.lexists(partner) and _inside(root, partner):
            if _renamed_away(name, partner):
                for folder in make_dirs(partner.parent):
                    fsync_dir(folder.parent)
                rename_free(name.path, partner)
                fsync_dir(name.path.parent)
                fsync_dir(partner.parent)
                result.restored.append((name.shown, str(partner)))
                return
            continue
        if other is not None and not _inside(root, partner):
            why = f"the catalogued {partner} leads out of its folder (a link or another mount)"
            result.kept.append((name.shown, why))
            return
        if (
            other is not None
            and (found.st_dev, found.st_ino) == (other.st_dev, other.st_ino)
            and found.st_nlink > 1  # one name only: the same entry, seen as two (case)
        ):
            if _one_entry(name.path, partner):
                why = "the catalogued name itself, reached by another path (a folder mounted twice)"
                result.kept.append((name.shown, why))
                return
            if name.sidecar and _beside(name.path):
                why = "the keyword sidecar of a file left beside it, so it stays with that file"
                result.kept.append((name.shown, why))
                return
            name.path.unlink()
            fsync_dir(name.path.parent)
            result.removed.append((name.shown, str(partner)))
            return
    result.kept.append(
        (name.shown, "not the same file as the one the catalogue names: not proven a second name")
    )


def _one_entry(path: Path, other: Path) -> bool:
    """Whether two paths of one file are one directory entry: names that fold alike in one
    folder. A folder bind-mounted in the archive is one folder at two paths on the same
    device (no other mount on the way, `_inside`): through it the catalogued name is the
    same file under another path, and to unlink it is to unlink the catalogued name."""
    try:
        here, there = os.stat(path.parent), os.stat(other.parent)
    except OSError:
        return True  # not known: not proven another entry
    one_folder = (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
    return one_folder and _folded(path.name) == _folded(other.name)


def _renamed_away(name: _Name, partner: Path) -> bool:
    """Whether ``name`` is the catalogued file ``partner`` renamed (a move on a file system
    without hard links): the photo's content, or cardingest's own sidecar."""
    if name.sidecar:
        return is_ours(name.path) is True and not _beside(name.path)
    if not name.sha256:
        return False
    try:
        return hash_file(name.path, follow=False)[1] == name.sha256.lower()
    except OSError:
        return False


def _beside(sidecar: Path) -> bool:
    """Whether a file of a sidecar's name (a photo) is beside it still: then it is that
    photo's sidecar, kept with it."""
    try:
        names = os.listdir(sidecar.parent)
    except OSError:
        return True
    own, stem = sidecar.name.casefold(), sidecar.stem.casefold() + "."
    return any(n.casefold() != own and n.casefold().startswith(stem) for n in names)


def _kept_as(archive: Path, move_id: str | None) -> Path:
    folder = Path(archive, METADIR, ABANDONED_DIR)
    stem = (
        move_id
        if move_id and re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", move_id)
        else datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-abandoned")
    )
    for number in range(1, 1000):
        kept = folder / numbered_name(f"{stem}.json", number)
        if not os.path.lexists(kept):
            return kept
    raise ArchiveError(f"{folder} holds too many journals named {stem}; nothing was changed")


def _keep_journal(path: Path, kept: Path) -> None:
    """Move the journal to ``kept`` (a rename, in ``.cardingest``), fsynced, private."""
    for folder in make_dirs(kept.parent):
        fsync_dir(folder.parent)
    rename_free(path, kept)
    fsync_dir(kept.parent)
    fsync_dir(path.parent)
    found = _regular(kept)
    if found is not None and found.st_nlink == 1:  # a link's other name is not ours to change
        fd = os.open(kept, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            created_file(fd, kept)
        finally:
            os.close(fd)
    elif found is None:
        with contextlib.suppress(OSError):  # `verify` names what stays open
            _close_kept(kept)


def _close_kept(kept: Path) -> None:
    """Close a folder or FIFO kept as a journal (one made at its name keeps the umask's
    0755 or 0644, and `verify` then names it exposed), through a descriptor of its own:
    no link is followed and no device is opened."""
    found = os.lstat(kept)
    if stat.S_ISDIR(found.st_mode):
        flags = os.O_RDONLY | os.O_DIRECTORY
    elif stat.S_ISFIFO(found.st_mode) and found.st_nlink == 1:
        flags = os.O_RDONLY | os.O_NONBLOCK
    else:
        return
    fd = os.open(kept, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if stat.S_IFMT(os.fstat(fd).st_mode) == stat.S_IFMT(found.st_mode):
            close_open_file(fd)
    finally:
        os.close(fd)


def abandon_journal(
    archive: Path, *, operator: str, backup_locks: BackupLocks | None = None
) -> AbandonResult:
    """Take a refused move journal out of the way, and with it the second names its move
    left. The caller holds the archive lock.

    The catalogue is the truth; the journal only lists candidates. A path it names is
    removed only where it lies in the archive (or the backup folder of the catalogued
    photo) as written, is a regular file the catalogue does not name, and is the same file
    (one inode, two names) as the catalogued photo (or that photo's keyword sidecar) of its
    entry; one a move without hard links renamed is put back where its content is the
    catalogued photo's. Anything else is left and listed. The journal is kept in
    ``.cardingest/abandoned-moves``; a ``move_abandoned`` audit event says what was done.
    A journal cardingest can still carry out is refused: the same move, run again,
    finishes it."""
    path = journal_path(archive)
    if not os.path.lexists(path):
        raise UsageError(
            f"There is no interrupted move in {archive} (no {path}): nothing to abandon"
        )
    require_catalogue(archive, "so no move journal can be abandoned")
    AuditLog(archive).require_appendable()
    refused = _refusal(archive)
    data, moves, sidecars = _journal_entries(path)
    if refused is None and data is not None:  # any move finishes it first, then says so
        first = shlex.quote(str(data["moves"][0]["old"])) if data["moves"] else "PATH"
        raise ArchiveError(
            f"{path} (move {data.get('move_id')}) is not refused: cardingest can still carry "
            "it out, so it is not abandoned; nothing was changed. Run the same move again to "
            f"finish it: cardingest move {first} --to {shlex.quote(str(data['to']))} "
            f"--archive {shlex.quote(str(archive))}"
        )
    result = AbandonResult(refused=str(refused or "it cannot be read"))
    if data is not None and isinstance(data.get("move_id"), str):
        result.move_id = data["move_id"]
    with Catalogue.open(archive, create=False) as catalogue:
        photos, sides, named, roots = _journal_names(archive, catalogue, moves, sidecars, result)
        stale = _stale_manifests(catalogue, result)
        kept = _kept_as(archive, result.move_id)
        result.journal = str(kept)
        if data is None:  # listed where it is kept, not where it was
            why = (
                "the journal, which cannot be read and names no file, kept here: "
                "`cardingest verify` lists what its move left"
            )
            result.kept.append((str(kept), why))
        with _writing(archive, roots, backup_locks):
            listed = _listed_elsewhere(archive, roots)  # a backup copy shared: not ours alone
            shared = {_folded(each) for path in listed for each in (path, sidecar_path(path))}
            # A Ctrl-C waits for the audit event and the journal's taking out: a name removed
            # and said nowhere would be missed by the run again, which finds it gone. A kill -9
            # cannot be waited for: the event written first names every path this run may take.
            with held_interrupts():
                try:
                    AuditLog(archive).append(
                        "move_abandon_started",
                        move_id=result.move_id,
                        operator=operator,
                        journal=path.relative_to(archive).as_posix(),
                        candidates=[name.shown for name in (*photos, *sides)],
                    )
                    for name in photos:
                        _settle(name, named, shared, result)
                    for name in sides:
                        _settle(name, named, shared, result)
                    touched = [Path(archive, p).parent for p, _ in result.removed + result.restored]
                    remove_empty_folders(touched, [Path(archive), *roots])
                    _rewrite_stale(catalogue, archive, stale, result)
                    AuditLog(archive).append(
                        "move_abandoned",
                        move_id=result.move_id,
                        operator=operator,
                        refused=result.refused,
                        journal=kept.relative_to(archive).as_posix(),
                        removed=[{"path": a, "same_as": b} for a, b in result.removed],
                        restored=[{"path": a, "to": b} for a, b in result.restored],
                        kept=[{"path": a, "reason": b} for a, b in result.kept],
                        refiled=result.refiled,
                        manifests=result.manifests,
                    )
                    _keep_journal(path, kept)
                except OSError as exc:
                    raise ArchiveError(
                        f"Abandoning {path} stopped: {exc.strerror or exc} ({exc.filename}). The "
                        "journal is kept where it is; run the same command again."
                    ) from exc
    return result
