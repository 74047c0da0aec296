"""Files and folders of an archive that other accounts can read, and tightening them.

cardingest creates everything private (`storage.modes`); an archive made by an older version
or copied in by hand may not be. ``verify`` reports what others can read, write or enter;
``verify --fix-permissions`` removes those bits, and only those (owner and group keep theirs).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..storage.modes import OTHERS, exposed


@dataclass(frozen=True)
class Exposed:
    """One file or folder others can use. ``path`` is relative to the archive (``.`` for the
    archive folder itself) or absolute for a backup copy."""

    path: str
    mode: int

    @property
    def detail(self) -> str:
        what = "folder" if stat.S_ISDIR(self.mode) else "file"
        return f"{what} open to other accounts (mode {stat.filemode(self.mode)})"


def _walk(archive: Path) -> Iterator[tuple[Path, str]]:
    yield archive, "."
    for current, dirs, files in os.walk(archive):
        dirs.sort()
        for name in [*dirs, *sorted(files)]:
            path = Path(current, name)
            yield path, path.relative_to(archive).as_posix()


def find_exposed(archive: Path, backup_files: Iterable[Path] = ()) -> list[Exposed]:
    """Everything under ``archive`` (metadata included) and each backup copy that others can
    read, write or enter. Symbolic links are judged by their own mode, never followed."""
    found: list[Exposed] = []
    places = [*_walk(archive), *((path, str(path)) for path in backup_files)]
    for path, shown in places:
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue  # gone or unreadable: verify reports the copy itself
        if not stat.S_ISLNK(mode) and exposed(mode):
            found.append(Exposed(shown, mode))
    return found


def tighten(archive: Path, shown: Iterable[str]) -> list[str]:
    """Remove other accounts' access from each path (as `find_exposed` shows it); returns
    those changed. Raises OSError when one cannot be changed."""
    changed: list[str] = []
    for item in shown:
        path = Path(item) if os.path.isabs(item) else archive / item
        mode = os.lstat(path).st_mode
        if not stat.S_ISLNK(mode) and exposed(mode):
            os.chmod(path, stat.S_IMODE(mode) & ~OTHERS)
            changed.append(item)
    return changed
