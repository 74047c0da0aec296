"""Symbolic links inside an archive: cardingest follows none below the archive's root.

The root itself may be a link (``/srv/archive`` to a mounted disk). Below it, a link in
place of a copy is not a copy, and one in place of a patient's folder can lead anywhere,
the card included: a copy written or checked through it may lie on the card it is to
replace, and the wipe would then remove the only one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path


def link_below(root: Path, parts: Sequence[str]) -> Path | None:
    """The first of ``root/parts[0]``, ``root/parts[0]/parts[1]``, ... that is a symbolic
    link, if any. The walk ends at the first one that cannot be looked at (missing): there
    is nothing below it to follow."""
    path = Path(root)
    for part in parts:
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return None
        if stat.S_ISLNK(mode):
            return path
    return None
