"""What verify concludes about one copy, and which problem mark it leaves, written out."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cardingest.archive.verify import CopyChecker, CopyState, mark_change, repairable

DATA = b"photo"
SHA = hashlib.sha256(DATA).hexdigest()


def test_each_state_of_a_copy(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    good.write_bytes(DATA)
    other = tmp_path / "other.jpg"
    other.write_bytes(b"phot0")
    other_sha = hashlib.sha256(b"phot0").hexdigest()
    short = tmp_path / "short.jpg"
    short.write_bytes(b"pho")
    folder = tmp_path / "folder.jpg"
    folder.mkdir()
    checker = CopyChecker()
    assert checker.check(good, 5, SHA) == CopyState("ok", SHA)
    assert checker.check(tmp_path / "gone.jpg", 5, SHA) == CopyState("missing", None, "not found")
    assert checker.check(good / "under-a-file.jpg", 5, SHA) == CopyState(
        "unreadable", None, "Not a directory"
    )
    assert checker.check(folder, 5, SHA) == CopyState("changed", None, "not a regular file")
    assert checker.check(short, 5, SHA) == CopyState("changed", None, "3 bytes, expected 5")
    assert checker.check(other, 5, SHA) == CopyState(
        "changed", other_sha, f"sha256 {other_sha}, expected {SHA}"
    )
    assert checker.bytes_read == 10  # good and other were read, once each


def test_what_can_be_put_back(tmp_path: Path) -> None:
    present = tmp_path / "JBX3656" / "a.jpg"
    present.parent.mkdir()
    assert repairable(CopyState("changed"), present)
    assert repairable(CopyState("missing"), present)
    assert not repairable(CopyState("missing"), tmp_path / "unplugged" / "a.jpg")
    assert not repairable(CopyState("unreadable"), present)
    # Its patient's folder removed from a root that is there (it has its .cardingest)...
    (tmp_path / ".cardingest").mkdir()
    assert repairable(CopyState("missing"), tmp_path / "ZAC5361" / "2026" / "a.jpg")
    # ...but not a root whose drive is not connected: its mount point is empty (whatever
    # holds a .cardingest further up, a home folder's say).
    unmounted = tmp_path / "mnt" / "backup"
    unmounted.mkdir(parents=True)
    assert not repairable(CopyState("missing"), unmounted / "ZAC5361" / "a.jpg")
    assert not repairable(CopyState("ok"), present)


def test_problem_marks(tmp_path: Path) -> None:
    path = tmp_path / "JBX3656" / "a.jpg"
    path.parent.mkdir()
    ok = ("archive", path, CopyState("ok", SHA))
    changed = ("backup", path, CopyState("changed"))
    missing = ("archive", path, CopyState("missing"))
    gone = ("backup", tmp_path / "unplugged" / "a.jpg", CopyState("missing"))
    rel = "JBX3656/a.jpg"
    assert mark_change(rel, [ok], {}) == {}
    assert mark_change(rel, [ok], {rel: "old"}) == {rel: None}
    assert mark_change(rel, [ok, changed], {}) == {rel: "backup copy a.jpg no longer matches"}
    assert mark_change(rel, [missing, ok], {}) == {rel: "archive copy a.jpg is missing"}
    assert mark_change(rel, [missing], {rel: "archive copy a.jpg is missing"}) == {}
    assert mark_change(rel, [gone, ok], {rel: "old"}) == {}
