"""Making a contact sheet file: thumbnails of a sheet's photos, rendered, written privately.

The file holds patient IDs and clinical photos, so it is created exclusively (an existing
file is never written over) with mode 0600 before any work is done, then written in one go
and fsynced. Interactive assignment writes its groups first and the plan later into the same
file, through the descriptor this run holds, so it never writes to a path it did not create.
A temporary sheet stays ``flock``ed while it exists: one whose lock can be taken was left by a
run that was killed, and the next temporary sheet removes it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SheetError, UsageError
from ..storage import modes
from ..text import unset_path

if TYPE_CHECKING:  # the sheet and Pillow load only when a sheet is made
    from .sheet import Sheet
    from .thumbs import Thumbnail

MODE = 0o600
TEMPORARY_PREFIX = "cardingest-sheet-"
TEMPORARY_SUFFIX = ".html"
"""A private temporary sheet's name in the temp folder: ``cardingest-sheet-XXXXXXXX.html``."""


class SheetFile:
    """A contact sheet file this run created (exclusively, 0600) and may write, whole."""

    def __init__(self, path: Path, fd: int, *, temporary: bool = False) -> None:
        self.path = path
        self._fd: int | None = fd
        self.temporary = temporary
        self.written = False

    @classmethod
    def create(cls, path: Path) -> SheetFile:
        """Create ``path``; exit 2 (UsageError) if it exists or cannot be made."""
        if unset_path(path):
            raise UsageError("--sheet is empty; give the file for the contact sheet")
        if Path(path).suffix.lower() not in (".html", ".htm"):
            folder = modes.folder_given(path, "--sheet", "sheet.html")
            if folder is not None:
                raise folder
            raise UsageError(
                f"--sheet {path}: a contact sheet is an HTML page, to open in a browser; give "
                "a name that ends in .html (a trial's sheet.pdf held HTML a PDF viewer could "
                "not open)"
            )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, MODE)
        except FileExistsError:
            folder = modes.folder_given(path, "--sheet", "sheet.html")
            if folder is not None:
                raise folder from None
            empty = ""
            with suppress(OSError):
                if os.lstat(path).st_size == 0:
                    empty = " (empty: left by a run that was stopped?)"
            raise UsageError(
                f"--sheet {path} exists{empty}; a contact sheet never writes over a file "
                "(give a new name, or delete the old sheet)"
            ) from None
        except OSError as exc:
            raise modes.cannot_create(path, "--sheet", exc) from None
        with suppress(OSError):  # 0600 whatever the umask; FAT and some shares have no modes
            os.fchmod(fd, MODE)
        return cls(path, fd)

    @classmethod
    def temporary_file(cls, card: Path | None = None) -> SheetFile:
        """A private temporary sheet (mode 0600, random name in the temp folder), kept
        ``flock``ed while it exists, so that a later run tells it from one a killed run left.

        Those (kill -9, a power cut: thumbnails of a whole card) are removed here, this
        user's that no live run holds (`durable.remove_dead_files`), never by age. A temp
        folder on the ``card`` is refused: a trial's ``TMPDIR`` put the sheet in its DCIM."""
        import tempfile

        from ..storage.durable import locked_new, remove_dead_files

        folder = os.path.realpath(tempfile.gettempdir())
        if card is not None:
            root = os.path.realpath(card)
            if folder == root or folder.startswith(root.rstrip(os.sep) + os.sep):
                raise UsageError(
                    f"The temporary folder {folder} (TMPDIR) is on the card {card}: the "
                    "contact sheet of the groups, thumbnails of the card's photos, would be "
                    "written onto it. Set TMPDIR to a folder of this machine"
                )

        def create() -> tuple[Path, int]:
            fd, name = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=TEMPORARY_SUFFIX)
            return Path(name), fd

        try:
            path, fd = locked_new(create)
        except OSError as exc:
            raise SheetError(
                f"Cannot create a temporary contact sheet: {exc.strerror or exc}"
            ) from None
        sheet = cls(path, fd, temporary=True)
        try:
            if hasattr(os, "geteuid"):
                remove_dead_files(
                    sheet.path.parent, TEMPORARY_PREFIX, TEMPORARY_SUFFIX, owner=os.geteuid()
                )
        except BaseException:  # Ctrl-C (or SIGTERM) during the sweep: not one more left over
            sheet.close(keep=False)
            raise
        return sheet

    def write(self, text: str, *, interim: bool = False) -> None:
        """Replace the whole content (this run's own file) and flush it to the disk. An
        ``interim`` sheet (the groups asked about) is removed if the command ends before
        the plan's or the ingest's sheet replaces it."""
        if self._fd is None:
            raise SheetError(f"The contact sheet {self.path} is already closed")
        from ..storage.durable import sync_file  # here: every preview imports this module

        data = text.encode("utf-8")
        try:
            os.ftruncate(self._fd, 0)
            view = memoryview(data)
            offset = 0
            while offset < len(view):
                offset += os.pwrite(self._fd, view[offset:], offset)
            sync_file(self._fd)
        except OSError as exc:
            raise SheetError(
                f"Cannot write the contact sheet {self.path}: {exc.strerror or exc}"
            ) from None
        self.written = self.written or not interim

    def close(self, *, keep: bool) -> None:
        """Close the file; unless ``keep``, remove it first, while a temporary sheet's lock
        is still held (no sweep can have taken it)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if not keep:
                with suppress(FileNotFoundError):
                    os.unlink(self.path)
        finally:
            os.close(fd)


@contextmanager
def sheet_files(path: Path | None) -> Iterator[SheetSlot]:
    """The ``--sheet`` file (created now, so an existing one stops the command before any
    work) and, on demand, a temporary one; on the way out a temporary sheet is removed, as
    is a requested one that was never written, or holds only the groups asked about (the
    command failed, was stopped or got a no first)."""
    slot = SheetSlot(SheetFile.create(path) if path is not None else None)
    try:
        yield slot
    finally:
        for sheet in (slot.requested, slot.scratch):
            if sheet is not None:
                sheet.close(keep=sheet.written and not sheet.temporary)


class SheetSlot:
    def __init__(self, requested: SheetFile | None) -> None:
        self.requested = requested
        self.scratch: SheetFile | None = None

    def for_groups(self, card: Path) -> SheetFile:
        """Where the interactive groups of ``card`` go: the --sheet file, else a private
        temporary one (not on the card)."""
        if self.requested is not None:
            return self.requested
        if self.scratch is None:
            self.scratch = SheetFile.temporary_file(card)
        return self.scratch


def thumbnails_for(
    sheet: Sheet, root: Path, on_done: Callable[[Path], None] | None = None
) -> dict[str, Thumbnail]:
    """Thumbnails of the photos (not sidecars) on ``sheet``, read from the card at ``root``."""
    sources = list(dict.fromkeys(t.source for s in sheet.sections for t in s.photos))
    from .thumbs import make_thumbnails

    thumbs = make_thumbnails([root / source for source in sources], on_done=on_done)
    return dict(zip(sources, thumbs, strict=True))


def write_sheet(
    target: SheetFile,
    sheet: Sheet,
    root: Path,
    *,
    on_done: Callable[[Path], None] | None = None,
    now: datetime | None = None,
    interim: bool = False,
) -> None:
    from .sheet import render

    thumbs = thumbnails_for(sheet, root, on_done)
    target.write(render(sheet, thumbs, generated=now or datetime.now()), interim=interim)
