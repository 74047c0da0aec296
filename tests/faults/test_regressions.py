"""Unit-level regressions for the bugs this suite found (each also has its end-to-end case).

1. A temporary of `atomic_write_bytes` (manifests, audit.head) left by kill -9 was
   never swept: it now has the ``.cardingest-tmp-`` name.      (1c: manifest, audit-head)
2. A kill between the first audit line and the first audit.head bricked the archive: check
   said "audit.head is missing" and every later append refused.  (1c: audit-line)
3. A source whose close (or fstat) fails, as on a pulled card, escaped `copy_verified` as a
   raw OSError and ended the CLI with a traceback.                 (3: pulled)
4. A manifest that no longer fits on the disk ended the CLI with a traceback.
                                                                   (5: full at the manifest)
5. A map refused only once matched against the card left an empty archive folder behind.
                                                                   (12: range errors)
"""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from cardingest.archive import audit
from cardingest.archive.audit import GENESIS, AuditLog
from cardingest.archive.lock import ArchiveLock, removed_if_left_empty
from cardingest.storage import durable, transfer
from cardingest.storage.durable import TEMP_PREFIX, remove_stale_temps
from cardingest.storage.transfer import Destination, copy_verified

pytestmark = pytest.mark.fault("R", "regressions: unit tests for the bugs the suite found")


def test_atomic_write_temporary_is_swept_after_a_kill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def killed(src: Any, dst: Any) -> None:  # kill -9 right before the rename
        seen.append(Path(src).name)
        raise SystemExit  # not an Exception: like a kill, nothing is cleaned but the except

    monkeypatch.setattr(os, "replace", killed)
    target = tmp_path / ".cardingest" / "manifests" / "X.sha256"
    target.parent.mkdir(parents=True)
    with pytest.raises(SystemExit):
        durable.atomic_write_bytes(target, b"data")
    assert seen and seen[0].startswith(TEMP_PREFIX)
    leftover = target.with_name(seen[0])
    leftover.write_bytes(b"what a kill -9 leaves")
    assert remove_stale_temps(tmp_path) == [leftover]


def test_first_audit_append_killed_before_its_head_is_accepted(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.append("ingest", n=1)
    log.head_path.unlink()  # what a kill between the line and the head leaves
    assert log.check().ok
    log.append("ingest", n=2)
    assert log.check().ok and log.check().events == 2


def test_missing_head_of_a_longer_log_is_still_caught(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.append("ingest", n=1)
    log.append("ingest", n=2)
    log.head_path.unlink()
    assert not log.check().ok
    with pytest.raises(audit.AuditError):
        log.append("ingest", n=3)


def test_first_line_with_a_forged_prev_is_not_accepted_without_head(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    line = json.dumps({"event": "x", "prev": "f" * 64, "seq": 1}) + "\n"
    log.folder.mkdir(parents=True)
    log.path.write_text(line)
    assert GENESIS != "f" * 64 and not log.check().ok


class _PulledOnClose(io.FileIO):
    def close(self) -> None:
        super().close()
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")


def test_source_that_fails_on_close_is_a_failed_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "card" / "IMG_0001.JPG"
    source.parent.mkdir()
    source.write_bytes(os.urandom(300_000))
    monkeypatch.setattr(transfer, "_card_file", lambda fd, _source: _PulledOnClose(fd, "rb"))
    archive = tmp_path / "archive"
    result = copy_verified(source, [Destination(archive, "JBX3656/a.jpg")])
    assert not result.ok and "Transport endpoint is not connected" in (result.error or "")
    assert not [p for p in archive.rglob("*") if p.is_file()]


def test_refused_ingest_leaves_no_archive_folder(tmp_path: Path) -> None:
    archive = tmp_path / "new" / "archive"
    with pytest.raises(RuntimeError), removed_if_left_empty(archive), ArchiveLock(archive, "x"):
        raise RuntimeError("the map does not fit the card")
    assert not (tmp_path / "new").exists()


def test_a_used_archive_folder_is_kept(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with pytest.raises(RuntimeError), removed_if_left_empty(archive), ArchiveLock(archive, "x"):
        (archive / "JBX3656").mkdir()
        raise RuntimeError("failed after writing")
    assert (archive / "JBX3656").is_dir()
    with removed_if_left_empty(archive), ArchiveLock(archive, "x"):
        pass
    assert (archive / ".cardingest").is_dir()
