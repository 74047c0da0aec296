"""`cardingest audit --repair`: set aside a torn last line of the audit log.

A power cut (or a full disk) during an append can leave the log ending in part of a line.
Every writer then refuses to chain onto it, so ingest, wipe, verify and tag stop for good.
The repair keeps the evidence and the chain: the torn bytes are moved to
``.cardingest/torn/`` (a file named by their digest), the log is cut back to its last complete
line, and a ``audit-repair`` event records the torn part's sha256 and length. It repairs only
a torn tail: if the complete lines before it do not check out (an edit, a removed line), it
changes nothing and says so, because that is not what a power cut does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import AuditError
from ..storage import modes
from ..storage.durable import fsync_dir, sync_file, write_new
from ..storage.positional import read_range
from ..storage.scratch import scratch
from .audit import AuditCheck, AuditLog, _locked

REPAIR_COMMAND = "cardingest audit --repair"
TORN_FOLDER = "torn"


@dataclass(frozen=True)
class TornTail:
    """What the repair set aside (``None`` fields when there was nothing to repair)."""

    line: int
    size: int
    sha256: str
    set_aside: str
    """Path of the kept bytes, relative to the archive."""


def _check_prefix(log: AuditLog, prefix: bytes) -> AuditCheck:
    """The log's check as if it ended after ``prefix`` (its head file as it is)."""
    with scratch("cardingest-audit-") as folder:
        copy = AuditLog(folder)
        copy.folder.mkdir(parents=True)
        copy.path.write_bytes(prefix)
        if log.head_path.exists():
            shutil.copyfile(log.head_path, copy.head_path)
        return copy.check()


def repair_torn_tail(archive: Path, *, operator: str) -> TornTail | None:
    """Set aside a torn last line; None when the log ends in a complete line.

    The caller holds the archive lock. Raises AuditError when the log is missing, cannot be
    written, or is damaged in a way a torn append does not explain.
    """
    log = AuditLog(archive)
    try:
        fd = os.open(log.path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise AuditError(f"There is no audit log at {log.path}") from None
    except OSError as exc:
        raise AuditError(f"Cannot open {log.path}: {exc.strerror or exc}") from exc
    try:
        with _locked(fd):
            size = os.fstat(fd).st_size
            data = read_range(fd, 0, size)
            cut = data.rfind(b"\n") + 1
            torn = data[cut:]
            if not torn:
                return None
            line = data.count(b"\n") + 1
            before = _check_prefix(log, data[:cut])
            if not before.ok:
                where = f"line {before.bad_line}" if before.bad_line else "its head file"
                raise AuditError(
                    f"Not repairing {log.path}: besides the torn last line (line {line}), it "
                    f"does not check out at {where}: {before.problem}",
                    details=["A power cut only tears the last line; this needs a person."],
                )
            digest = hashlib.sha256(torn).hexdigest()
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            folder = log.folder / TORN_FOLDER
            for made in modes.make_dirs(folder):
                fsync_dir(made.parent)
            aside = folder / f"audit-line{line}-{stamp}-{digest[:16]}.bin"
            write_new(folder, aside.name, torn)
            os.ftruncate(fd, cut)
            sync_file(fd)
    except OSError as exc:
        raise AuditError(f"Cannot repair {log.path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    relative = aside.relative_to(archive).as_posix()
    log.append(
        "audit-repair",
        operator=operator,
        torn_line=line,
        torn_bytes=len(torn),
        torn_sha256=digest,
        set_aside=relative,
    )
    return TornTail(line=line, size=len(torn), sha256=digest, set_aside=relative)
