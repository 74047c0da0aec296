"""Reading a small input file (an ID map, a config) with a size cap that holds for anything.

``stat().st_size`` says nothing about ``/dev/zero``, a FIFO or a process substitution
(``--map <(…)``): they report 0 and never end. The cap is applied while reading instead.
"""

from __future__ import annotations

from pathlib import Path

_CHUNK = 64 * 1024


def read_capped(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None as soon as it proves longer than ``limit`` bytes.

    Reads at most ``limit + 1`` bytes whatever the file is. Raises OSError as ``open`` does.
    """
    parts: list[bytes] = []
    total = 0
    with open(path, "rb", buffering=0) as handle:
        while total <= limit:
            chunk = handle.read(min(_CHUNK, limit + 1 - total))
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)
            total += len(chunk)
    return None
