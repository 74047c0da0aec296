"""Put back archive (or backup) copies that verify or a wipe found damaged or missing.

The wipe keeps such a photo on the card, so ingesting that card again can repair it: the
photo is copied afresh through `transfer.copy_verified` (temporary file, fsync, read-back),
then moved under its catalogued name. The catalogue row, the manifests and the names stay as
they were. The damaged file is never deleted: it moves to ``.cardingest/damaged/<ingest id>/``
beside the archive (or backup) for whoever wants to look at it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .catalogue import CatalogueRecord
from .durable import NO_HARDLINKS, fsync_dir
from .models import METADIR
from .transfer import Destination, copy_verified
from .verify import CopyChecker, hash_file, record_copies

DAMAGED = "damaged"


@dataclass(frozen=True)
class Repair:
    """What one repair did: the copies put back, where the bad files went, or why not."""

    archive_path: str
    restored: tuple[str, ...] = ()
    set_aside: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _root_of(path: Path, roots: tuple[Path, ...]) -> Path:
    for root in roots:
        if path.is_relative_to(root):
            return root
    return path.parent


def _set_aside(path: Path, root: Path, ingest_id: str) -> Path | None:
    """Keep the damaged file under ``root/.cardingest/damaged/``; None if it is gone.

    A hard link, so the damaged bytes stay reachable whatever happens next; where the
    filesystem has none, a rename (the caller then fills the name at once).
    """
    aside = Path(root, METADIR, DAMAGED, ingest_id, path.relative_to(root))
    aside.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(path, aside)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno not in NO_HARDLINKS:
            raise
        os.rename(path, aside)
    fsync_dir(aside.parent)
    return aside


def repair_copies(
    source: Path,
    record: CatalogueRecord,
    archive: Path,
    *,
    ingest_id: str,
    backup: Path | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> Repair:
    """Copy ``source`` again wherever ``record``'s copies are bad, and put each back.

    Nothing is copied when every copy checks out again (the problem was transient), or when
    the card file is no longer the archived photo: a repair never files other bytes under a
    record's name.
    """
    roots = (archive, *((backup,) if backup else ()))
    checker = CopyChecker()
    bad = [
        path
        for _where, path in record_copies(archive, record)
        if not checker.check(path, record.size, record.sha256).ok
    ]
    if not bad:
        return Repair(record.archive_path)
    try:
        found = hash_file(source)
    except OSError as exc:
        return Repair(record.archive_path, error=f"cannot read {source}: {exc.strerror or exc}")
    if found != (record.size, record.sha256):
        return Repair(
            record.archive_path,
            error=f"the card file is no longer the photo archived as {record.archive_path}",
        )
    copied = copy_verified(
        source,
        [Destination(path.parent, path.name) for path in bad],
        expected_size=record.size,
        on_bytes=on_bytes,
    )
    if not copied.ok:
        return Repair(record.archive_path, error=copied.error)
    if copied.sha256 != record.sha256:
        for published in copied.published:
            if not published.reused:
                published.path.unlink(missing_ok=True)
        return Repair(record.archive_path, error=f"{source} changed while it was copied")
    aside: list[str] = []
    try:
        for path, published in zip(bad, copied.published, strict=True):
            if published.path == path:
                continue
            kept = _set_aside(path, _root_of(path, roots), ingest_id)
            if kept is not None:
                aside.append(str(kept))
            os.replace(published.path, path)
            fsync_dir(path.parent)
    except OSError as exc:
        return Repair(
            record.archive_path,
            set_aside=tuple(aside),
            error=f"cannot put back {record.archive_path}: {exc.strerror or exc}",
        )
    return Repair(record.archive_path, tuple(str(p) for p in bad), tuple(aside))
