"""Copy, verify, never overwrite: tests on the real filesystem (tmp_path, tmpfs, fusefat)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
import xxhash
from conftest import hashed
from factories import make_file

from cardingest.storage import durable, pagecache, transfer
from cardingest.storage.durable import CLEAN_MARK, remove_stale_temps, writing_to
from cardingest.storage.transfer import (
    CHUNK,
    TEMP_PREFIX,
    Destination,
    TransferResult,
    _discard,
    _Failure,
    _never,
    _open_temp,
    _publish,
    _read_source,
    _resolve,
    _seal,
    _Temp,
    _verify,
    _write_held,
    copy_verified,
    free_space,
    transfer_many,
)

STRICT = os.environ.get("CARDINGEST_STRICT") == "1"
REL = "JBX3656/JBX3656-20080530-155601.jpg"


def skip_or_fail(reason: str) -> None:
    if STRICT:
        pytest.fail(f"{reason} (CARDINGEST_STRICT=1)")
    pytest.skip(reason)


def temps_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob(f"{TEMP_PREFIX}*")]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "card" / "DCIM" / "100CANON" / "IMG_0001.JPG"
    return path, make_file(path, 2 * CHUNK + 12345)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None:
        skip_or_fail("no mount command")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("size", [300_000, 2 * CHUNK + 12345], ids=["streamed", "held"])
def test_copy_success_is_identical_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    src = tmp_path / "card" / "DCIM" / "100CANON" / "IMG_0001.JPG"
    data = make_file(src, size)
    archive = tmp_path / "archive"
    seen_modes: list[int] = []
    counted: list[int] = []

    def sealed(_source: Path, temp: Path) -> None:
        seen_modes.append(stat.S_IMODE(temp.stat().st_mode))

    monkeypatch.setattr(transfer, "_after_seal", sealed)
    result = copy_verified(src, [Destination(archive, REL)], on_bytes=counted.append)

    assert result.ok and result.error is None
    assert result.sha256 == sha(data)
    assert result.size == len(data) == sum(counted)
    assert [(p.root, p.relpath, p.reused) for p in result.published] == [(archive, REL, False)]
    assert (archive / REL).read_bytes() == data
    assert result.published[0].path == archive / REL
    assert seen_modes, "the temporary file was never seen during the copy"
    assert all(mode & ~0o644 == 0 for mode in seen_modes)
    assert stat.S_IMODE((archive / REL).stat().st_mode) & ~0o644 == 0
    assert temps_under(archive) == []
    assert sorted(p.name for p in (archive / "JBX3656").iterdir()) == [Path(REL).name]


def test_zero_byte_file(tmp_path: Path) -> None:
    src = tmp_path / "empty.jpg"
    src.write_bytes(b"")
    result = copy_verified(src, [Destination(tmp_path / "a", "X/empty.jpg")], expected_size=0)
    assert result.ok
    assert result.sha256 == sha(b"")
    assert (tmp_path / "a" / "X" / "empty.jpg").read_bytes() == b""


def test_existing_different_file_is_never_touched(
    tmp_path: Path, source: tuple[Path, bytes]
) -> None:
    src, data = source
    archive = tmp_path / "archive"
    other = make_file(archive / REL, 4000, seed=1)
    before = (archive / REL).stat()

    first = copy_verified(src, [Destination(archive, REL)])
    assert first.ok
    assert first.published[0].relpath == "JBX3656/JBX3656-20080530-155601-2.jpg"
    assert not first.published[0].reused

    make_file(tmp_path / "second.jpg", 5000, seed=2)
    second = copy_verified(tmp_path / "second.jpg", [Destination(archive, REL)])
    assert second.ok
    assert second.published[0].relpath == "JBX3656/JBX3656-20080530-155601-3.jpg"

    after = (archive / REL).stat()
    assert (archive / REL).read_bytes() == other
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )
    assert (archive / first.published[0].relpath).read_bytes() == data
    assert temps_under(archive) == []


def test_identical_file_is_reused_not_doubled(tmp_path: Path, source: tuple[Path, bytes]) -> None:
    src, data = source
    archive = tmp_path / "archive"
    first = copy_verified(src, [Destination(archive, REL)])
    inode = (archive / REL).stat().st_ino

    again = copy_verified(src, [Destination(archive, REL)])

    assert again.ok
    assert again.published[0].relpath == REL
    assert again.published[0].reused
    assert again.sha256 == first.sha256 == sha(data)
    assert (archive / REL).stat().st_ino == inode
    assert sorted(p.name for p in (archive / "JBX3656").iterdir()) == [Path(REL).name]


def test_rerun_after_suffix_reuses_the_suffixed_copy(
    tmp_path: Path, source: tuple[Path, bytes]
) -> None:
    src, _ = source
    archive = tmp_path / "archive"
    make_file(archive / REL, 10, seed=3)
    first = copy_verified(src, [Destination(archive, REL)])
    again = copy_verified(src, [Destination(archive, REL)])
    assert first.published[0].relpath == again.published[0].relpath
    assert again.published[0].reused
    assert len(list((archive / "JBX3656").iterdir())) == 2


def test_same_name_of_different_size_but_symlink_is_not_reused(
    tmp_path: Path, source: tuple[Path, bytes]
) -> None:
    src, _ = source
    archive = tmp_path / "archive"
    (archive / "JBX3656").mkdir(parents=True)
    (archive / REL).symlink_to(src)
    result = copy_verified(src, [Destination(archive, REL)])
    assert result.ok
    assert result.published[0].relpath.endswith("-2.jpg")
    assert (archive / REL).is_symlink()


def test_two_destinations(tmp_path: Path, source: tuple[Path, bytes]) -> None:
    src, data = source
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    make_file(backup / REL, 99, seed=4)

    result = copy_verified(src, [Destination(archive, REL), Destination(backup, REL)])

    assert result.ok
    assert [(p.root, p.relpath) for p in result.published] == [
        (archive, REL),
        (backup, "JBX3656/JBX3656-20080530-155601-2.jpg"),
    ]
    for published in result.published:
        assert published.path.read_bytes() == data
    assert temps_under(archive, backup) == []


def test_full_destination_fails_cleanly_and_later_files_succeed(
    tmp_path: Path, tiny_tmpfs: Path
) -> None:
    big = tmp_path / "big.jpg"
    small = tmp_path / "small.jpg"
    make_file(big, 3 * CHUNK, seed=5)
    small_data = make_file(small, 100_000, seed=6)
    archive = tmp_path / "archive"

    results = list(
        transfer_many(
            [
                (
                    big,
                    [Destination(archive, "A/big.jpg"), Destination(tiny_tmpfs, "A/big.jpg")],
                    None,
                ),
                (
                    small,
                    [Destination(archive, "A/small.jpg"), Destination(tiny_tmpfs, "A/small.jpg")],
                    None,
                ),
            ],
            workers=2,
        )
    )

    failed, ok = results
    assert not failed.ok and failed.published == ()
    assert "No space left on device" in (failed.error or "")
    assert "A/big.jpg" in (failed.error or "")
    assert "\n" not in (failed.error or "")
    assert not (tiny_tmpfs / "A" / "big.jpg").exists()
    assert not (archive / "A" / "big.jpg").exists()
    assert ok.ok
    assert (tiny_tmpfs / "A" / "small.jpg").read_bytes() == small_data
    assert temps_under(archive, tiny_tmpfs) == []


def test_source_shorter_than_expected_fails(tmp_path: Path, source: tuple[Path, bytes]) -> None:
    src, data = source
    archive = tmp_path / "archive"
    result = copy_verified(src, [Destination(archive, REL)], expected_size=len(data) + 1)
    assert not result.ok
    assert str(src) in (result.error or "")
    assert "truncated" in (result.error or "")
    assert not (archive / REL).exists()
    assert temps_under(archive) == []


def test_source_longer_than_expected_fails(tmp_path: Path, source: tuple[Path, bytes]) -> None:
    src, data = source
    archive = tmp_path / "archive"
    result = copy_verified(src, [Destination(archive, REL)], expected_size=len(data) - 1)
    assert not result.ok
    assert "changed while reading" in (result.error or "")
    assert not (archive / REL).exists()
    assert temps_under(archive) == []


def test_missing_source_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "card" / "IMG_9999.JPG"
    result = copy_verified(missing, [Destination(tmp_path / "archive", REL)], expected_size=5)
    assert not result.ok
    assert "No such file or directory" in (result.error or "")
    assert str(missing) in (result.error or "")


@pytest.mark.parametrize("relpath", ["../escape.jpg", "/abs.jpg", "A//b.jpg", "A/./b.jpg", ""])
def test_relpath_that_could_escape_is_refused(
    tmp_path: Path, source: tuple[Path, bytes], relpath: str
) -> None:
    src, _ = source
    archive = tmp_path / "archive"
    result = copy_verified(src, [Destination(archive, relpath)])
    assert not result.ok and "refusing" in (result.error or "")
    assert not archive.exists()
    assert not (tmp_path / "escape.jpg").exists()


def test_cancel_before_start(tmp_path: Path, source: tuple[Path, bytes]) -> None:
    src, _ = source
    cancel = threading.Event()
    cancel.set()
    result = copy_verified(src, [Destination(tmp_path / "archive", REL)], cancel=cancel)
    assert not result.ok and "cancelled" in (result.error or "")
    assert temps_under(tmp_path / "archive") == []


def test_cancel_mid_copy_leaves_no_temp(tmp_path: Path, source: tuple[Path, bytes]) -> None:
    src, _ = source
    archive = tmp_path / "archive"
    cancel = threading.Event()
    result = copy_verified(
        src, [Destination(archive, REL)], cancel=cancel, on_bytes=lambda _n: cancel.set()
    )
    assert not result.ok and "cancelled" in (result.error or "")
    assert not (archive / REL).exists()
    assert temps_under(archive) == []


def test_keyboard_interrupt_leaves_no_temp(tmp_path: Path, source: tuple[Path, bytes]) -> None:
    src, _ = source
    archive = tmp_path / "archive"

    def interrupt(_count: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        copy_verified(
            src, [Destination(archive, REL), Destination(archive, "B/x.jpg")], on_bytes=interrupt
        )
    assert not (archive / REL).exists()
    assert temps_under(archive) == []


def _jobs(tmp_path: Path, count: int) -> list[tuple[Path, list[Destination], int | None]]:
    jobs: list[tuple[Path, list[Destination], int | None]] = []
    for number in range(count):
        src = tmp_path / "card" / f"IMG_{number:04d}.JPG"
        data = make_file(src, 50_000 + number * 1000, seed=number)
        jobs.append((src, [Destination(tmp_path / "archive", f"P/{number:04d}.jpg")], len(data)))
    return jobs


@pytest.mark.parametrize("workers", [1, 4])
def test_transfer_many_yields_in_job_order(tmp_path: Path, workers: int) -> None:
    jobs = _jobs(tmp_path, 24)
    total: list[int] = []
    lock = threading.Lock()

    def on_bytes(count: int) -> None:
        with lock:
            total.append(count)

    results = list(transfer_many(iter(jobs), workers=workers, on_bytes=on_bytes))

    assert [r.source for r in results] == [src for src, _, _ in jobs]
    assert all(r.ok for r in results)
    assert sum(total) == sum(size or 0 for _, _, size in jobs)
    for result, (src, _, _) in zip(results, jobs, strict=True):
        assert result.published[0].path.read_bytes() == src.read_bytes()
    assert temps_under(tmp_path / "archive") == []


def test_transfer_many_cancel_fails_the_rest(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, 30)
    cancel = threading.Event()
    results: list[TransferResult] = []
    for result in transfer_many(jobs, workers=3, cancel=cancel):
        results.append(result)
        if len(results) == 5:
            cancel.set()
    assert len(results) == len(jobs)
    assert all(r.ok for r in results[:5])
    assert not any(r.ok for r in results[-10:])
    assert all("cancelled" in (r.error or "") for r in results if not r.ok)
    assert temps_under(tmp_path / "archive") == []
    for result, (_, destinations, _) in zip(results, jobs, strict=True):
        if not result.ok:
            assert not (destinations[0].root / destinations[0].relpath).exists()


def test_transfer_many_interrupt_in_worker_propagates_without_temps(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, 12)
    seen = 0

    def on_bytes(_count: int) -> None:
        nonlocal seen
        seen += 1
        if seen == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(transfer_many(jobs, workers=3, on_bytes=on_bytes))
    assert temps_under(tmp_path / "archive") == []


def test_abandoned_iteration_leaves_no_temps(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, 12)
    results = transfer_many(jobs, workers=3)
    next(results)
    results.close()
    assert temps_under(tmp_path / "archive") == []


@pytest.mark.parametrize("renames", [True, False], ids=["exfat", "fusefat"])
def test_publish_without_hard_links_never_replaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renames: bool
) -> None:
    """Without hard links a copy takes its name by a rename that never replaces (exFAT, FAT
    in the kernel), or where there is none either (fusefat) by an empty file first: either
    way a file of other bytes keeps its name and the copy goes to ``-2``."""
    if not renames:
        monkeypatch.setattr(durable, "_renameat2_call", lambda: None)
    folder = tmp_path / "nolinks"
    folder.mkdir()
    data = b"verified bytes"
    (folder / "x.jpg").write_bytes(b"someone else's")

    temp = folder / f"{TEMP_PREFIX}a"
    temp.write_bytes(data)
    assert _publish(temp, folder, "x.jpg", len(data), sha(data), hardlinks=False) == (
        "x-2.jpg",
        False,
    )
    assert (folder / "x.jpg").read_bytes() == b"someone else's"
    assert (folder / "x-2.jpg").read_bytes() == data
    assert not temp.exists()

    temp.write_bytes(data)
    assert _publish(temp, folder, "x.jpg", len(data), sha(data), hardlinks=False) == (
        "x-2.jpg",
        True,
    )
    assert not temp.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["x-2.jpg", "x.jpg"]


@pytest.mark.card
def test_copy_onto_fat_card_without_hard_links(tmp_path: Path, source: tuple[Path, bytes]) -> None:
    """fusefat has no hard links: publishing falls back to the exclusive placeholder."""
    src, data = source
    tools = ("mkfs.vfat", "fusefat", "fusermount")
    if any(shutil.which(tool) is None for tool in tools):
        skip_or_fail(f"needs {', '.join(tools)}")
    image, mount = tmp_path / "fat.img", tmp_path / "fat"
    mount.mkdir()
    with image.open("wb") as handle:
        handle.truncate(32 * 1024 * 1024)
    subprocess.run(["mkfs.vfat", "-F", "32", str(image)], check=True, capture_output=True)
    done = subprocess.run(
        ["fusefat", "-o", "rw+", str(image), str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        skip_or_fail(f"cannot mount with fusefat: {done.stderr.strip()}")
    try:
        make_file(mount / REL, 10, seed=7)
        result = copy_verified(src, [Destination(mount, REL)])
        again = copy_verified(src, [Destination(mount, REL)])
        assert result.ok, result.error
        assert result.published[0].relpath.endswith("-2.jpg")
        assert (mount / result.published[0].relpath).read_bytes() == data
        assert len((mount / REL).read_bytes()) == 10
        assert again.ok and again.published[0].reused
        assert again.published[0].relpath == result.published[0].relpath
        assert temps_under(mount) == []
    finally:
        subprocess.run(["fusermount", "-u", str(mount)], check=False)


def test_remove_stale_temps(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    keep = [root / "A" / "a.jpg", root / ".cardingest" / "catalogue.sqlite", root / "b.jpg"]
    stale = [
        root / f"{TEMP_PREFIX}0001",
        root / "A" / f"{TEMP_PREFIX}beef",
        root / ".cardingest" / "manifests" / f"{TEMP_PREFIX}cafe",
    ]
    for path in keep + stale:
        make_file(path, 10)
    (root / "A" / f"{TEMP_PREFIX}dir").mkdir()
    outside = make_file(tmp_path / "outside" / f"{TEMP_PREFIX}x", 3)
    (root / "link").symlink_to(tmp_path / "outside")

    removed = remove_stale_temps(root)

    assert removed == sorted(stale)
    assert all(p.exists() for p in keep)
    assert not any(p.exists() for p in stale)
    assert (root / "A" / f"{TEMP_PREFIX}dir").is_dir()
    assert (tmp_path / "outside" / f"{TEMP_PREFIX}x").read_bytes() == outside
    assert remove_stale_temps(tmp_path / "missing") == []


def test_free_space_uses_nearest_existing_ancestor(tmp_path: Path) -> None:
    free = free_space(tmp_path / "not" / "yet" / "there")
    assert free is not None
    assert abs(free - shutil.disk_usage(tmp_path).free) < 256 * 1024 * 1024
    assert isinstance(free_space(tmp_path), int)


def test_fsync_and_fadvise_are_really_called(tmp_path: Path) -> None:
    if shutil.which("strace") is None:
        skip_or_fail("strace is not installed")
    for number in range(3):
        make_file(tmp_path / "card" / f"IMG_{number}.JPG", 300_000, seed=number)
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from cardingest.storage.transfer import Destination, transfer_many
        card = Path({str(tmp_path / "card")!r})
        jobs = [(p, [Destination(Path({str(tmp_path / "archive")!r}), "P/" + p.name)], None)
                for p in sorted(card.iterdir())]
        assert all(r.ok for r in transfer_many(jobs, workers=2))
        """
    )
    # -ff: one log per thread, so a call is never split into "<unfinished ...>" and
    # "<... resumed>" lines by another worker's call in between.
    log = tmp_path / "strace" / "log"
    log.parent.mkdir()
    done = subprocess.run(
        [
            "strace",
            "-f",
            "-ff",
            "-o",
            str(log),
            "-e",
            "trace=fsync,fdatasync,fadvise64",
            sys.executable,
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 and "ptrace" in done.stderr:
        skip_or_fail(f"strace cannot trace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr
    logs = sorted(log.parent.iterdir())
    assert len(logs) >= 3  # the main thread and two workers
    calls = "".join(path.read_text() for path in logs)
    assert "unfinished" not in calls and "resumed" not in calls
    assert calls.count("fsync(") >= 3
    # No closing parenthesis: strace splits a call that another thread interrupts.
    # One whole-file drop per copy after its fsync (the O_DIRECT read-back adds no pages).
    assert len(re.findall(r"fadvise64\(\d+, 0, 0, POSIX_FADV_DONTNEED\b", calls)) >= 3
    assert len(re.findall(r"fadvise64\(\d+, \d+, [1-9]\d*, POSIX_FADV_DONTNEED\b", calls)) >= 3
    assert len(re.findall(r"fadvise64\(\d+, 0, \d+, POSIX_FADV_WILLNEED\b", calls)) >= 3


class _Gate:
    """First claimant publishes, later ones wait for it: the ingest's gate, without patients."""

    def __init__(self, known: dict[str, str]) -> None:
        self.known = known
        self.claims: list[str] = []
        self.left: list[str | None] = []
        self.queue: dict[str, list[Path]] = {}
        self.cond = threading.Condition()

    def claim(self, source: Path, sha256: str) -> None:
        with self.cond:
            self.claims.append(source.name)
            self.queue.setdefault(sha256, []).append(source)

    def enter(self, source: Path, sha256: str) -> str | None:
        with self.cond:
            while sha256 not in self.known and self.queue[sha256][0] != source:
                self.cond.wait()
            return self.known.get(sha256)

    def leave(self, source: Path, sha256: str, relpath: str | None) -> None:
        with self.cond:
            self.left.append(relpath)
            if relpath is not None:
                self.known[sha256] = relpath
            self.queue[sha256].remove(source)
            self.cond.notify_all()


@pytest.mark.parametrize("workers", [1, 4])
def test_content_already_archived_elsewhere_is_not_published(tmp_path: Path, workers: int) -> None:
    """The first job with the content publishes it, the second rests on it: by job order."""
    archive = tmp_path / "archive"
    first, second = tmp_path / "IMG_0001.JPG", tmp_path / "IMG_0002.JPG"
    for source in (first, second):
        source.write_bytes(b"photo bytes" * 1000)
    gate = _Gate({})
    jobs = [
        (first, [Destination(archive, "JBX3656/a.jpg")], None),
        (second, [Destination(archive, "JBX3656/b.jpg")], None),
    ]
    results = list(transfer_many(jobs, workers=workers, content_gate=gate))
    assert [r.ok for r in results] == [True, True]
    assert [p.relpath for p in results[0].published] == ["JBX3656/a.jpg"]
    assert results[1].published == ()
    assert results[1].duplicate_of == "JBX3656/a.jpg"
    assert gate.claims == ["IMG_0001.JPG", "IMG_0002.JPG"]
    assert gate.left == ["JBX3656/a.jpg", None]
    assert sorted(p.name for p in (archive / "JBX3656").iterdir()) == ["a.jpg"]
    assert not list(archive.rglob(f"{TEMP_PREFIX}*"))


def test_the_first_job_publishes_even_when_a_later_one_verifies_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first file is held after its fsync until the second has reached the gate.

    Had the gate let whoever verifies first publish, the second file would be "the copy"
    and the first a duplicate of ``b.jpg``.
    """
    archive = tmp_path / "archive"
    first, second = tmp_path / "IMG_0001.JPG", tmp_path / "IMG_0002.JPG"
    for source in (first, second):
        source.write_bytes(b"the same photo" * 5000)
    gate = _Gate({})
    second_waits = threading.Event()
    real_enter = gate.enter

    def enter(source: Path, sha256: str) -> str | None:
        if source == second:
            second_waits.set()
        return real_enter(source, sha256)

    def hold_first(source: Path, temp: Path) -> None:
        if source == first:
            assert second_waits.wait(60), "the second file never reached the gate"

    monkeypatch.setattr(gate, "enter", enter)
    monkeypatch.setattr(transfer, "_after_seal", hold_first)
    jobs = [
        (first, [Destination(archive, "A/a.jpg")], None),
        (second, [Destination(archive, "B/b.jpg")], None),
    ]
    results = list(transfer_many(jobs, workers=2, content_gate=gate))
    assert [p.relpath for p in results[0].published] == ["A/a.jpg"]
    assert results[1].duplicate_of == "A/a.jpg"
    assert not (archive / "B" / "b.jpg").exists()


def test_the_whole_tree_is_swept_only_after_an_unclean_end(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    (root / ".cardingest").mkdir(parents=True)
    mark = root / ".cardingest" / CLEAN_MARK
    patient = root / "A" / f"{TEMP_PREFIX}dead-run"
    make_file(patient, 10)

    with writing_to(root) as swept:  # no mark yet (a new or older archive): everything
        assert swept == [patient] and not mark.exists()
    assert mark.exists()

    left = root / "A" / f"{TEMP_PREFIX}not-ours"
    meta = root / ".cardingest" / f"{TEMP_PREFIX}head"
    for path in (left, meta):
        make_file(path, 10)
    with writing_to(root) as swept:  # clean end before: only the metadata folder
        assert swept == [meta] and left.exists() and not mark.exists()
    assert mark.exists()

    with pytest.raises(RuntimeError), writing_to(root):
        raise RuntimeError("killed, as far as the mark can tell")
    assert not mark.exists()
    with writing_to(root) as swept:
        assert swept == [left]


def test_a_desk_killed_beside_the_lone_writer_leaves_the_tree_unmarked(tmp_path: Path) -> None:
    """A PostgreSQL catalogue's desks: B found itself alone and swept the tree; A joined
    (sweeping only its own patients' folders), wrote temporaries, and was killed (-9); B
    ended normally and put back the clean mark, so A's full-size temporaries stayed for
    good (an outside tester's fault trial). A writer beside another leaves a file in the
    metadata folder while it writes; B puts back no mark while one is there."""
    from cardingest.storage.durable import WRITER_MARK, writing_beside

    root = tmp_path / "archive"
    (root / ".cardingest").mkdir(parents=True)
    mark = root / ".cardingest" / CLEAN_MARK
    (root / "A").mkdir()
    killed = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from cardingest.storage.durable import writing_beside
        with writing_beside(Path({str(root)!r})):
            Path({str(root / "A" / f"{TEMP_PREFIX}copy")!r}).write_bytes(b"x" * 4096)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    with writing_to(root):  # desk B, alone at its start
        done = subprocess.run([sys.executable, "-c", killed], check=False)
        assert done.returncode == -9
    assert not mark.exists()
    with writing_to(root) as swept:  # the next lone writer sweeps it all, the file too
        assert root / "A" / f"{TEMP_PREFIX}copy" in swept
    assert mark.exists()
    assert not [n for n in os.listdir(root / ".cardingest") if n.startswith(WRITER_MARK)]
    with writing_to(root):  # a desk beside that ends normally takes its file away
        with writing_beside(root):
            assert [n for n in os.listdir(root / ".cardingest") if n.startswith(WRITER_MARK)]
        assert not [n for n in os.listdir(root / ".cardingest") if n.startswith(WRITER_MARK)]
    assert mark.exists()


def test_a_temporary_that_could_not_be_removed_leaves_the_tree_unmarked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy's temporary file that cannot be removed (its folder made read-only mid-run, by
    `chattr +i` here) kept the run from writing the clean mark all the same, so the next run
    swept only the metadata folder and the whole photo stayed in the backup for good."""
    root = tmp_path / "backup"
    (root / ".cardingest").mkdir(parents=True)
    mark = root / ".cardingest" / CLEAN_MARK
    folder = root / "JBX3656"
    temp = folder / f"{TEMP_PREFIX}copy"
    make_file(temp, 10)
    immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if immutable.returncode != 0:
        skip_or_fail(f"chattr +i is refused here: {immutable.stderr.decode().strip()}")
    try:
        with writing_to(root):
            transfer._unlink_quietly(temp)
        assert temp.exists() and not mark.exists()
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    with writing_to(root) as swept:
        assert swept == [temp]
    assert mark.exists()


def test_read_back_of_a_changed_copy_fails_with_the_verification_message(
    tmp_path: Path, source: tuple[Path, bytes]
) -> None:
    """The card's one read yields sha256 and XXH3-128; the read-back, from the disk, must
    match the XXH3-128, so a byte flipped after the fsync fails the copy."""
    src, data = source
    temps: list[_Temp] = []
    with contextlib.ExitStack() as buffers:
        place = _resolve(Destination(tmp_path / "a", REL))
        read = _read_source(src, [place], temps, None, None, _never, buffers, None)
        size, sha256, xxh3 = read.size, read.sha256, read.xxh3
        assert read.held is not None
        temps.append(_open_temp(place))
        _write_held(temps[0], read.held, _never)
    try:
        assert (size, sha256) == (len(data), sha(data))
        assert xxh3 == xxhash.xxh3_128(data).hexdigest()
        (temp,) = temps
        _seal(temp)
        _verify(temp, size, xxh3, _never)  # the untouched copy passes
        with open(temp.path, "r+b") as handle:
            handle.seek(len(data) // 2)
            handle.write(bytes([data[len(data) // 2] ^ 1]))
            handle.flush()
            os.fsync(handle.fileno())
        with pytest.raises(_Failure, match=r"^verification failed for .*xxh3-128"):
            _verify(temp, size, xxh3, _never)
    finally:
        _discard(temps)
    assert temps_under(tmp_path / "a") == []


@pytest.fixture
def o_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """`hash_from_disk` reads O_DIRECT, as where the kernel cannot say what is cached
    (the read-ahead path has tests of its own: test_read_ahead.py)."""
    monkeypatch.setattr(pagecache, "can_count", lambda: False)


def _direct_reads_work(folder: Path) -> bool:
    probe = folder / "probe"
    probe.write_bytes(b"\0" * 4096)
    try:
        os.close(os.open(probe, os.O_RDONLY | getattr(os, "O_DIRECT", 0)))
    except OSError:
        return False
    return hasattr(os, "O_DIRECT")


@pytest.mark.usefixtures("o_direct")
@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 4097])
def test_reads_from_the_disk_give_every_byte_once_with_the_next_chunk_read_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """`hash_from_disk` reads chunk n + 1 while chunk n is hashed: sizes around the chunk
    boundary must still give the file's own digest, read through O_DIRECT, at offsets that
    step by what each read returned."""
    if not _direct_reads_work(tmp_path):
        skip_or_fail(f"O_DIRECT reads are refused on {tmp_path}'s file system (tmpfs?)")
    data = make_file(tmp_path / "photo.jpg", size, seed=size)
    offsets: list[int] = []
    real_read_at = transfer.read_at

    def read_at(fd: int, buffer: memoryview, offset: int) -> Future[int]:
        offsets.append(offset)
        return real_read_at(fd, buffer, offset)

    monkeypatch.setattr(transfer, "read_at", read_at)
    got = hashed(tmp_path / "photo.jpg", hashlib.sha256)
    assert got == (size, hashlib.sha256(data).hexdigest())
    chunks = -(-size // CHUNK)
    assert offsets == [n * CHUNK for n in range(chunks)] + [size]


@pytest.mark.usefixtures("o_direct")
@pytest.mark.parametrize(
    ("size", "lengths"),
    [
        (0, [CHUNK]),
        (5000, [8192, CHUNK]),
        (4096, [4096, CHUNK]),
        (4097, [8192, CHUNK]),
        (CHUNK, [CHUNK, CHUNK]),
        (2 * CHUNK + 1, [CHUNK, CHUNK, 4096, CHUNK]),
    ],
)
def test_direct_reads_ask_for_no_more_pages_than_the_file_has_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, lengths: list[int]
) -> None:
    """The kernel pins every page of an O_DIRECT read's buffer, so a small photo read into a
    whole chunk would make 1 MiB of each pooled buffer resident for good (issue 16, memory):
    each read asks for the rest of the file in whole pages; the read that finds the end may
    ask for a chunk (it pins nothing)."""
    if not _direct_reads_work(tmp_path):
        skip_or_fail(f"O_DIRECT reads are refused on {tmp_path}'s file system (tmpfs?)")
    data = make_file(tmp_path / "photo.jpg", size, seed=size)
    asked: list[int] = []
    direct: list[bool] = []
    real_read_at = transfer.read_at

    def read_at(fd: int, buffer: memoryview, offset: int) -> Future[int]:
        asked.append(len(buffer))
        direct.append(bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT))
        return real_read_at(fd, buffer, offset)

    monkeypatch.setattr(transfer, "read_at", read_at)
    got = hashed(tmp_path / "photo.jpg", hashlib.sha256)
    assert got == (size, hashlib.sha256(data).hexdigest())
    assert asked == lengths
    assert all(direct)


@pytest.mark.parametrize("size", [0, CHUNK - 1, CHUNK, 2 * CHUNK + 1])
def test_the_read_back_reads_one_chunk_at_a_time_on_its_own_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """``overlap=False`` (the read-back) hands nothing to a helper thread and still gives
    every byte once."""
    if not _direct_reads_work(tmp_path):
        skip_or_fail(f"O_DIRECT reads are refused on {tmp_path}'s file system (tmpfs?)")
    data = make_file(tmp_path / "photo.jpg", size, seed=size)

    def read_at(fd: int, buffer: memoryview, offset: int) -> Future[int]:
        raise AssertionError("the read-back must not use a helper thread")

    monkeypatch.setattr(transfer, "read_at", read_at)
    got = hashed(tmp_path / "photo.jpg", xxhash.xxh3_128, overlap=False)
    assert got == (size, xxhash.xxh3_128(data).hexdigest())


def test_a_forked_child_reads_ahead_with_threads_of_its_own(tmp_path: Path) -> None:
    """The helper threads of `read_at` do not survive a fork: a child must not wait for them."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    data = make_file(tmp_path / "photo.jpg", 3 * CHUNK + 5, seed=7)
    script = textwrap.dedent(
        f"""
        import hashlib, os, sys
        from pathlib import Path
        from cardingest.storage import pagecache, transfer
        pagecache.can_count = lambda: False  # O_DIRECT, with its helper threads
        path = Path({str(tmp_path / "photo.jpg")!r})
        fd = os.open(path, os.O_RDONLY)
        transfer.read_at(fd, memoryview(bytearray(16)), 0).result()
        child = os.fork()
        if child == 0:
            size, digest = transfer.hash_from_disk(path, hashlib.sha256)
            os._exit(0 if digest.hexdigest() == {hashlib.sha256(data).hexdigest()!r} else 3)
        _, status = os.waitpid(child, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True)
    assert done.returncode == 0, done.stderr


def test_a_forked_child_reads_into_buffers_of_its_own() -> None:
    """The O_DIRECT buffers are shared anonymous memory: a child that took its parent's
    pooled buffer read into the parent's memory (mutmut's forked test processes failed
    each other's read-backs)."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    script = textwrap.dedent(
        """
        import os, sys
        from cardingest.storage import transfer
        with transfer._aligned.take() as view:
            view[:6] = b"parent"
        child = os.fork()
        if child == 0:
            with transfer._aligned.take() as view:
                view[:6] = b"child!"
            os._exit(0)
        os.waitpid(child, 0)
        with transfer._aligned.take() as view:
            sys.exit(0 if bytes(view[:6]) == b"parent" else 3)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("already_archived", [False, True])
def test_a_backup_copy_that_cannot_take_its_name_takes_back_the_archive_copys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, already_archived: bool
) -> None:
    """The backup's folder is made read-only (or its disk pulled) between the copies'
    read-back and their names: the archive copy, named first, was left under the patient's
    name with no catalogue row. Now both are named or neither; an identical archive file
    that was there before stays."""
    src = tmp_path / "card" / "DCIM" / "100CANON" / "IMG_0001.JPG"
    data = make_file(src, 300_000)
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    if already_archived:
        (archive / REL).parent.mkdir(parents=True)
        (archive / REL).write_bytes(data)
    real = transfer._publish

    def refused(temp: Path, folder: Path, *args: object, **kwargs: object) -> object:
        if folder.is_relative_to(backup):
            raise OSError(30, "Read-only file system")
        return real(temp, folder, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(transfer, "_publish", refused)
    result = copy_verified(src, [Destination(archive, REL), Destination(backup, REL)])
    assert not result.ok and "Read-only file system" in str(result.error), result
    assert (archive / REL).exists() == already_archived
    assert not (backup / REL).exists()
    assert temps_under(archive, backup) == []
