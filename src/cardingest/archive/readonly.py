"""Reading an archive that cannot be written: a write-protected drive, a snapshot, a share.

Commands that only read (verify, search, preview, a dry-run wipe) must work there. Two things
stand in the way: the archive lock is a file to create, and SQLite cannot open a WAL-mode
database on a read-only medium when a write-ahead log is left over ("hot", after a crash or a
kill -9): replaying it needs a writer, and ``immutable=1`` would silently ignore the rows in
it. So a read-only catalogue is read from a private copy of the database and its WAL (in a
temporary folder, removed afterwards), where SQLite can replay the log as it always does.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CatalogueError
from ..models import METADIR
from ..storage import ondisk
from ..storage.mounts import mounted_read_only
from .backend import catalogue_path, location_for

if TYPE_CHECKING:
    from .catalogue import Catalogue


def writable(archive: Path) -> bool:
    """Whether this process can write the archive's ``.cardingest`` folder (and catalogue).

    False on a read-only mount (even for root) and for a user without write permission.
    """
    meta = Path(archive) / METADIR
    folder = meta if ondisk.is_dir(meta) else Path(archive)
    if mounted_read_only(folder):
        return False
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    database = catalogue_path(archive)
    return not ondisk.exists(database) or os.access(database, os.W_OK)


FULL_BELOW = 1024 * 1024
"""Free bytes under which SQLite cannot open a WAL database in place (its -shm and -wal)."""


def _file_system(archive: Path) -> os.statvfs_result | None:
    """What ``statvfs`` says of the disk holding the archive's ``.cardingest`` (or the
    archive, before it has one); None where it cannot be told."""
    meta = Path(archive) / METADIR
    try:
        return os.statvfs(meta if ondisk.is_dir(meta) else Path(archive))
    except (OSError, AttributeError):
        return None


def _nearly_full(found: os.statvfs_result | None) -> bool:
    return found is not None and found.f_bavail * found.f_frsize < FULL_BELOW


def disk_full(archive: Path) -> bool:
    """Whether the disk holding the archive's ``.cardingest`` has (almost) no space left."""
    return _nearly_full(_file_system(archive))


def sqlite_could_fault(archive: Path) -> bool:
    """Whether SQLite, opening the catalogue in place, could be killed by SIGBUS here.

    On a file system whose blocks are smaller than a memory page (ext4 under 512 MB has
    1 KiB blocks), SQLite grows its shared-memory file (``-shm``) by writing one byte per
    page, which leaves the rest of each page a hole; on a nearly full disk the kernel
    cannot give a hole a block when SQLite stores into its mapping, and the process dies.
    There, under FULL_BELOW free, the catalogue is read from a private copy and not written.
    """
    found = _file_system(archive)
    return found is not None and found.f_frsize < mmap.PAGESIZE and _nearly_full(found)


@contextlib.contextmanager
def private_copy(archive: Path) -> Iterator[Path]:
    """A temporary folder holding a copy of the archive's SQLite catalogue and its WAL or
    rollback journal (`single_workstation`), removed afterwards. A journal left by a run
    killed before its commit is hot: SQLite rolls it back in the copy, where without it
    the copy would hold that run's half-written pages as if committed (a `move`'s rows
    under the other patient)."""
    source = catalogue_path(archive)
    if not ondisk.is_file(source):
        raise CatalogueError(f"No catalogue at {source}")

    from ..storage.scratch import scratch  # tempfile, only for a read-only archive

    with scratch("cardingest-readonly-") as folder:
        copy = catalogue_path(folder)
        copy.parent.mkdir()
        try:
            shutil.copyfile(source, copy)
            for log in ("-wal", "-journal"):
                found = source.with_name(source.name + log)
                if ondisk.is_file(found):
                    shutil.copyfile(found, copy.with_name(copy.name + log))
        except OSError as exc:
            raise CatalogueError(f"Cannot read catalogue {source}: {exc.strerror or exc}") from exc
        yield folder


@contextlib.contextmanager
def reading(archive: Path) -> Iterator[Catalogue]:
    """The catalogue opened for reading: in place when the archive is writable, else (or on
    a full disk) from a private copy (see the module's notes). Writes through a copy change
    nothing on disk."""
    from .catalogue import Catalogue  # here: a preview of a new archive needs no SQLite

    if location_for(archive).postgres or (writable(archive) and not disk_full(archive)):
        with Catalogue.open(archive, create=False) as catalogue:
            yield catalogue
        return
    with private_copy(archive) as folder, Catalogue.open(folder, create=False) as catalogue:
        catalogue.path = catalogue_path(archive)
        yield catalogue
