"""Small builders for unit tests of the pure parts."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from cardingest.models import MediaFile


def media(
    path: str,
    when: datetime | str = "2026-11-24 09:15:02",
    *,
    size: int = 1000,
    subsec: str = "",
    source: str = "exif:DateTimeOriginal",
    sidecar: bool | None = None,
) -> MediaFile:
    captured = datetime.fromisoformat(when) if isinstance(when, str) else when
    is_sidecar = path.lower().endswith((".xmp", ".thm")) if sidecar is None else sidecar
    return MediaFile(
        path=path,
        size=size,
        captured=captured,
        time_source=source,  # type: ignore[arg-type]
        subsec=subsec,
        sidecar=is_sidecar,
    )


def make_file(path: Path, size: int, seed: int = 0) -> bytes:
    """A file of ``size`` reproducible, incompressible bytes (folders made); returns them."""
    data = hashlib.shake_256(f"{seed}:{size}".encode()).digest(size) if size else b""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data
