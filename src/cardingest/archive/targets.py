"""A photo named on the command line (`move`, `tag`): by its archive path, or by a path on
disk inside the archive, found in the catalogue."""

from __future__ import annotations

import posixpath
from pathlib import Path

from .catalogue import Catalogue, CatalogueRecord


def find_record(
    catalogue: Catalogue, target: str, archive: Path
) -> tuple[CatalogueRecord | None, str]:
    """The record ``target`` names, and the archive path it was read as (for messages).

    Tried in turn: as typed (``\\`` read as ``/``); written plainly (``JBX3656/./x.jpg``,
    ``MCJ1984/../JBX3656/x.jpg``: a trial found such paths "not an archived photo"), where
    that stays inside the archive; and as a path on disk, from the current folder."""
    relpath = target.replace("\\", "/")
    record = catalogue.record(relpath)
    if record is None and not posixpath.isabs(relpath):
        plain = posixpath.normpath(relpath)
        if plain != relpath and plain != ".." and not plain.startswith("../"):
            relpath = plain
            record = catalogue.record(plain)
    if record is None:
        on_disk = _relative(target, archive)
        if on_disk is not None:
            relpath = on_disk
            record = catalogue.record(on_disk)
    return record, relpath


def _relative(target: str, archive: Path) -> str | None:
    path = Path(target).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    try:
        return path.resolve().relative_to(Path(archive).resolve()).as_posix()
    except (OSError, ValueError):
        return None
