"""Copy, verify, never overwrite: the paths the older transfer tests left unchecked.

Written for the mutation run of ``storage/transfer`` (issue 20, docs/testing.md). Real files
on the local disk and on a tmpfs the test mounts itself, with every expected message and
result written out by hand. (Both take O_DIRECT reads on current kernels, as fusefat does:
the plain-read fallback of ``hash_from_disk`` is not reached on such a machine.)
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import xxhash
from cardimage import CardFactory
from conftest import hashed, tmpfs_on
from factories import make_file

from cardingest.storage import transfer
from cardingest.storage.transfer import (
    TEMP_PREFIX,
    Destination,
    Published,
    TransferResult,
    copy_over,
    copy_verified,
    free_space,
    transfer_many,
)

REL = "JBX3656/JBX3656-20080530-155601.jpg"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temps_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob(f"{TEMP_PREFIX}*")]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of the test's own: a second real file system, with its own size."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    with tmpfs_on(mount, 16):
        yield mount


# --- a repair: copy_over ----------------------------------------------------------------------


def damaged_archive(tmp_path: Path, size: int) -> tuple[Path, bytes, Path, Path]:
    """(card file of ``size`` bytes, its bytes, archive, archive copy at REL holding other
    bytes): what a repair starts from."""
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, size)
    archive = tmp_path / "archive"
    damaged = archive / REL
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"damaged copy")
    return source, data, archive, damaged


def test_a_repair_sets_the_damaged_file_aside_then_puts_the_verified_copy_there(
    tmp_path: Path,
) -> None:
    source, data, archive, damaged = damaged_archive(tmp_path, 3 * 1024 * 1024 + 5)
    aside = tmp_path / "aside"
    handed: list[Path] = []

    def set_aside(path: Path) -> None:
        handed.append(path)
        assert not temps_under(aside)
        os.replace(path, aside)

    counted: list[int] = []
    result = copy_over(
        source,
        [Destination(archive, REL)],
        sha256=sha(data),
        set_aside=set_aside,
        expected_size=len(data),
        on_bytes=counted.append,
    )

    assert result == TransferResult(
        source, len(data), sha(data), (Published(archive, REL, False),), None
    )
    assert handed == [damaged]
    assert damaged.read_bytes() == data and aside.read_bytes() == b"damaged copy"
    assert sum(counted) == len(data)
    assert temps_under(archive) == []


def test_a_repair_from_other_bytes_puts_nothing_back(tmp_path: Path) -> None:
    source, data, archive, damaged = damaged_archive(tmp_path, 4096)
    wanted = sha(b"what the catalogue says it was")
    handed: list[Path] = []

    result = copy_over(source, [Destination(archive, REL)], sha256=wanted, set_aside=handed.append)

    assert result == TransferResult(
        source,
        4096,
        sha(data),
        (),
        f"{source} is not the expected content (sha256 {sha(data)[:16]}…)",
    )
    assert handed == [] and damaged.read_bytes() == b"damaged copy"
    assert temps_under(archive) == []


def test_a_repair_whose_set_aside_fails_leaves_the_old_file(tmp_path: Path) -> None:
    source, data, archive, damaged = damaged_archive(tmp_path, 4096)

    def refuse(path: Path) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    result = copy_over(source, [Destination(archive, REL)], sha256=sha(data), set_aside=refuse)

    assert result.error == f"Permission denied putting back {REL} to {archive}"
    assert (result.published, result.sha256) == ((), sha(data))
    assert damaged.read_bytes() == b"damaged copy"
    assert temps_under(archive) == []


def test_a_repair_reads_no_more_than_the_size_it_was_told(tmp_path: Path) -> None:
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, 4096)
    archive = tmp_path / "archive"
    result = copy_over(
        source,
        [Destination(archive, REL)],
        sha256=sha(data),
        set_aside=lambda path: None,
        expected_size=4000,
    )
    assert result.error == f"{source} changed while reading: more than the expected 4000 bytes"
    assert not (archive / REL).exists() and temps_under(archive) == []


# --- publishing next to what is already there ----------------------------------------------------


def test_a_folder_with_the_final_name_and_the_same_size_is_passed_over(tmp_path: Path) -> None:
    """Not a file, so not "identical", whatever its size says: the copy takes ``-2``."""
    archive = tmp_path / "archive"
    taken = archive / REL
    taken.mkdir(parents=True)
    size = os.stat(taken).st_size
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, size)
    result = copy_verified(source, [Destination(archive, REL)])
    second = REL.replace(".jpg", "-2.jpg")
    assert result == TransferResult(
        source, size, sha(data), (Published(archive, second, False),), None
    )
    assert (archive / second).read_bytes() == data and taken.is_dir()


def test_a_named_pipe_with_the_final_name_is_passed_over_without_waiting(
    tmp_path: Path,
) -> None:
    """A plain read-only open of a pipe waits for a writer: the ingest would hang there."""
    archive = tmp_path / "archive"
    (archive / REL).parent.mkdir(parents=True)
    os.mkfifo(archive / REL)
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, 0)
    result = copy_verified(source, [Destination(archive, REL)])
    second = REL.replace(".jpg", "-2.jpg")
    assert result.published == (Published(archive, second, False),)
    assert (archive / second).read_bytes() == data


def test_a_copy_with_the_same_bytes_under_the_final_name_is_reused(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, 70_000)
    (archive / REL).parent.mkdir(parents=True)
    (archive / REL).write_bytes(data)
    before = os.stat(archive / REL)
    result = copy_verified(source, [Destination(archive, REL)])
    assert result.published == (Published(archive, REL, True),)
    after = os.stat(archive / REL)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in (archive / REL).parent.iterdir()) == [Path(REL).name]


# --- cancelled while reading back -----------------------------------------------------------------


@pytest.mark.parametrize("where", ["local disk", "tmpfs"])
def test_a_cancel_during_the_read_back_publishes_nothing(
    tmp_path: Path, tmpfs: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    archive = tmp_path / "archive" if where == "local disk" else tmpfs / "archive"
    source = tmp_path / "card" / "IMG_0001.JPG"
    make_file(source, 3 * 1024 * 1024)
    cancel = threading.Event()
    monkeypatch.setattr(transfer, "_after_seal", lambda src, temp: cancel.set())
    result = copy_verified(source, [Destination(archive, REL)], cancel=cancel)
    assert result.error == f"cancelled while verifying {REL} to {archive}"
    assert result.published == ()
    assert not (archive / REL).exists() and temps_under(archive) == []


def test_a_cancel_after_the_read_back_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "archive"
    source = tmp_path / "card" / "IMG_0001.JPG"
    make_file(source, 1000)
    cancel = threading.Event()
    real = transfer._verify

    def verify_then_cancel(*args: object) -> None:
        real(*args)  # type: ignore[arg-type]
        cancel.set()

    monkeypatch.setattr(transfer, "_verify", verify_then_cancel)
    result = copy_verified(source, [Destination(archive, REL)], cancel=cancel)
    assert result.error == f"cancelled while copying {source}"
    assert not (archive / REL).exists() and temps_under(archive) == []


# --- reading from the disk ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["local disk", "tmpfs"])
def test_hash_from_disk_counts_every_byte_and_refuses_a_link_when_asked(
    tmp_path: Path, tmpfs: Path, where: str
) -> None:
    folder = tmp_path if where == "local disk" else tmpfs
    path = folder / "photo.jpg"
    data = make_file(path, 2 * 1024 * 1024 + 7)
    counted: list[int] = []
    got = hashed(path, hashlib.sha256, on_bytes=counted.append)
    assert got == (len(data), sha(data))
    assert sum(counted) == len(data) and all(counted)
    link = folder / "link.jpg"
    link.symlink_to(path)
    assert hashed(link, hashlib.sha256) == (len(data), sha(data))
    with pytest.raises(OSError) as caught:
        hashed(link, hashlib.sha256, follow=False)
    assert caught.value.errno == errno.ELOOP
    empty = folder / "empty.jpg"
    empty.write_bytes(b"")
    assert hashed(empty, hashlib.sha256) == (0, sha(b""))


@pytest.mark.parametrize("where", ["local disk", "tmpfs"])
def test_hash_from_disk_stops_when_told(tmp_path: Path, tmpfs: Path, where: str) -> None:
    folder = tmp_path if where == "local disk" else tmpfs
    path = folder / "photo.jpg"
    make_file(path, 3 * 1024 * 1024)
    calls: list[int] = []

    def stop_at_the_second_chunk() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(transfer._Failure, match=r"^cancelled$"):
        hashed(path, hashlib.sha256, stopped=stop_at_the_second_chunk)


# --- messages that name the file ------------------------------------------------------------------


def test_a_missing_source_and_an_unwritable_destination_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "card" / "IMG_0404.JPG"
    assert copy_verified(missing, [Destination(tmp_path / "archive", REL)]) == TransferResult(
        missing, 0, None, (), f"No such file or directory opening {missing}"
    )
    source = tmp_path / "card" / "IMG_0001.JPG"
    make_file(source, 100)
    blocked = tmp_path / "blocked"
    blocked.write_bytes(b"a file where the archive folder should be")
    assert copy_verified(source, [Destination(blocked, REL)]).error == (
        f"File exists creating {REL} in {blocked}"
    )
    assert copy_verified(source, []).error == f"no destination given for {source}"
    folder = tmp_path / "card" / "DCIM"
    folder.mkdir()
    assert copy_verified(folder, [Destination(tmp_path / "archive", REL)]).error == (
        f"Is a directory opening {folder}"
    )
    device = Path("/dev/null")
    assert copy_verified(device, [Destination(tmp_path / "archive", REL)]).error == (
        "/dev/null is not a regular file"
    )
    assert not (tmp_path / "archive").exists()


def test_free_space_of_a_folder_not_made_yet_is_its_disks(tmp_path: Path) -> None:
    usage = shutil.disk_usage(tmp_path)
    got = free_space(tmp_path / "not" / "made" / "yet")
    assert got is not None and abs(got - usage.free) < 64 * 1024 * 1024
    assert not (tmp_path / "not").exists()


def test_transfer_many_with_one_worker_copies_in_order(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    jobs = []
    for n in range(1, 4):
        source = tmp_path / "card" / f"IMG_{n:04d}.JPG"
        make_file(source, 1000 * n, seed=n)
        jobs.append((source, [Destination(archive, f"JBX3656/{n}.jpg")], None))
    counted: list[int] = []
    results = list(transfer_many(jobs, workers=1, on_bytes=counted.append))
    assert [(r.source.name, r.size, r.error) for r in results] == [
        ("IMG_0001.JPG", 1000, None),
        ("IMG_0002.JPG", 2000, None),
        ("IMG_0003.JPG", 3000, None),
    ]
    assert sum(counted) == 6000
    assert sorted(p.name for p in (archive / "JBX3656").iterdir()) == ["1.jpg", "2.jpg", "3.jpg"]


def test_a_reason_without_an_errno_text_is_still_given(tmp_path: Path) -> None:
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, 100)

    def no_room(path: Path) -> None:
        raise OSError("the set-aside folder is full")

    result = copy_over(
        source, [Destination(tmp_path / "a", REL)], sha256=sha(data), set_aside=no_room
    )
    assert result.error == f"the set-aside folder is full putting back {REL} to {tmp_path / 'a'}"


def test_free_space_is_the_space_of_the_file_system_that_will_hold_it(tmpfs: Path) -> None:
    got = free_space(tmpfs / "archive" / "JBX3656")
    assert got is not None and 15 * 1024 * 1024 < got <= 16 * 1024 * 1024


class Gate:
    """A content gate that knows one sha256 as archived already, and logs what it is told."""

    def __init__(self, known: dict[str, str]) -> None:
        self.known = known
        self.calls: list[tuple[str, str, str | None]] = []

    def claim(self, source: Path, sha256: str) -> None:
        self.calls.append(("claim", source.name, None))

    def enter(self, source: Path, sha256: str) -> str | None:
        self.calls.append(("enter", source.name, None))
        return self.known.get(sha256)

    def leave(self, source: Path, sha256: str, relpath: str | None) -> None:
        self.calls.append(("leave", source.name, relpath))


def test_copy_verified_asks_the_content_gate(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    old = tmp_path / "card" / "IMG_0001.JPG"
    new = tmp_path / "card" / "IMG_0002.JPG"
    old_data = make_file(old, 5000, seed=1)
    make_file(new, 5000, seed=2)
    gate = Gate({sha(old_data): "JBX3656/already.jpg"})
    skipped = copy_verified(old, [Destination(archive, REL)], content_gate=gate)
    assert skipped == TransferResult(
        old, 5000, sha(old_data), (), None, duplicate_of="JBX3656/already.jpg"
    )
    new_data = new.read_bytes()
    (archive / "JBX3656").mkdir(parents=True, exist_ok=True)
    (archive / "JBX3656" / "b.jpg").write_bytes(new_data)  # left by an earlier, cut-off run
    copied = copy_verified(new, [Destination(archive, "JBX3656/b.jpg")], content_gate=gate)
    assert copied == TransferResult(
        new, 5000, sha(new_data), (Published(archive, "JBX3656/b.jpg", True),), None
    )
    assert gate.calls == [
        ("claim", "IMG_0001.JPG", None),
        ("enter", "IMG_0001.JPG", None),
        ("leave", "IMG_0001.JPG", None),
        ("claim", "IMG_0002.JPG", None),
        ("enter", "IMG_0002.JPG", None),
        ("leave", "IMG_0002.JPG", "JBX3656/b.jpg"),
    ]
    assert not (archive / REL).exists() and temps_under(archive) == []


@pytest.mark.parametrize("workers", [1, 3])
def test_transfer_many_holds_each_file_to_its_expected_size(tmp_path: Path, workers: int) -> None:
    archive = tmp_path / "archive"
    jobs = []
    for n, expected in ((1, 1000), (2, 1999), (3, None), (4, 2001), (5, 3000)):
        source = tmp_path / "card" / f"IMG_{n:04d}.JPG"
        make_file(source, 2000, seed=n)
        jobs.append((source, [Destination(archive, f"JBX3656/{n}.jpg")], expected))
    results = list(transfer_many(jobs, workers=workers))
    card = tmp_path / "card"
    short = "changed or was truncated while reading: got 2000 of the expected"
    assert [r.error for r in results] == [
        f"{card / 'IMG_0001.JPG'} changed while reading: more than the expected 1000 bytes",
        f"{card / 'IMG_0002.JPG'} changed while reading: more than the expected 1999 bytes",
        None,
        f"{card / 'IMG_0004.JPG'} {short} 2001 bytes",  # a mutant without the check kept it
        f"{card / 'IMG_0005.JPG'} {short} 3000 bytes",
    ]
    assert sorted(p.name for p in (archive / "JBX3656").iterdir()) == ["3.jpg"]


def test_transfer_many_pulls_at_most_twice_its_workers_ahead(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    pulled: list[int] = []

    def jobs() -> Iterator[tuple[Path, list[Destination], int | None]]:
        for n in range(1, 11):
            source = tmp_path / "card" / f"IMG_{n:04d}.JPG"
            make_file(source, 100, seed=n)
            pulled.append(n)
            yield source, [Destination(archive, f"JBX3656/{n}.jpg")], None

    results = transfer_many(jobs(), workers=2)
    first = next(results)
    assert first.source.name == "IMG_0001.JPG"
    assert len(pulled) == 4, "2 workers: 4 jobs queued before the first result is handed out"
    assert [r.source.name for r in results] == [f"IMG_{n:04d}.JPG" for n in range(2, 11)]


@pytest.mark.card
def test_free_space_on_fusefat_is_unknown_not_zero(fat_card: CardFactory) -> None:
    """fusefat reports a size of 0: "unknown", or the preflight would refuse every ingest."""
    mount = fat_card({"DCIM/100CANON/IMG_0001.JPG": b"photo"})
    assert shutil.disk_usage(mount).total == 0
    assert free_space(mount / "DCIM") is None


# --- buffers: memory stays flat however many files pass --------------------------------------


def test_each_thread_reuses_one_chunk_buffer() -> None:
    mine = transfer._buffer()
    assert mine is transfer._buffer() and len(mine) == 1024 * 1024
    theirs: list[memoryview] = []
    worker = threading.Thread(
        target=lambda: theirs.extend([transfer._buffer(), transfer._buffer()])
    )
    worker.start()
    worker.join()
    assert theirs[0] is theirs[1] and theirs[0] is not mine and len(theirs[0]) == 1024 * 1024


def test_aligned_buffers_are_handed_back_and_reused() -> None:
    pool = transfer._AlignedPool(8192)
    with pool.take() as first, pool.take() as second:
        assert (len(first), len(second)) == (8192, 8192)
        assert first is not second
    with pool.take() as again:
        assert again is second or again is first
    with pool.take() as one, pool.take() as two, pool.take() as three:
        assert {id(one), id(two)} == {id(first), id(second)}
        assert three is not first and three is not second and len(three) == 8192


# --- names: nested folders and the last free suffix --------------------------------------------


def test_a_copy_in_a_nested_folder_keeps_its_folders_when_it_takes_a_suffix(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    rel = "JBX3656/2008/05/photo.jpg"
    (archive / rel).parent.mkdir(parents=True)
    (archive / rel).write_bytes(b"another photo")
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, 500)
    result = copy_verified(source, [Destination(archive, rel)])
    assert result.published == (Published(archive, "JBX3656/2008/05/photo-2.jpg", False),)
    assert (archive / "JBX3656/2008/05/photo-2.jpg").read_bytes() == data


def test_suffixes_end_at_9999_and_then_the_copy_fails_by_name(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    folder = archive / "JBX3656"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(b"x")
    for number in range(2, 9999):
        (folder / f"a-{number}.jpg").write_bytes(b"x")
    source = tmp_path / "card" / "IMG_0001.JPG"
    make_file(source, 10)
    last = copy_verified(source, [Destination(archive, "JBX3656/a.jpg")])
    assert last.published == (Published(archive, "JBX3656/a-9999.jpg", False),)
    other = tmp_path / "card" / "IMG_0002.JPG"
    make_file(other, 11)
    full = copy_verified(other, [Destination(archive, "JBX3656/a.jpg")])
    assert full.error == f"no free name up to -9999 publishing JBX3656/a.jpg to {archive}"
    assert not (folder / "a-10000.jpg").exists() and temps_under(archive) == []


def test_a_gate_that_fails_with_an_os_error_fails_only_this_file(tmp_path: Path) -> None:
    """The caller's gate may do I/O of its own (the catalogue): its OSError is this file's."""

    class Broken(Gate):
        def enter(self, source: Path, sha256: str) -> str | None:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    archive = tmp_path / "archive"
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, 3000)
    gate = Broken({})
    result = copy_verified(source, [Destination(archive, REL)], content_gate=gate)
    assert result == TransferResult(
        source, 3000, sha(data), (), f"Input/output error copying {source}"
    )
    assert gate.calls == [("claim", "IMG_0001.JPG", None), ("leave", "IMG_0001.JPG", None)]
    assert not (archive / REL).exists() and temps_under(archive) == []


def test_a_read_back_that_fails_or_differs_says_so_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "archive"
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, 5000)
    monkeypatch.setattr(transfer, "_after_seal", lambda src, temp: os.unlink(temp))
    gone = copy_verified(source, [Destination(archive, REL)])
    assert gone.error == f"No such file or directory reading back {REL} to {archive}"

    def flip(src: Path, temp: Path) -> None:
        with open(temp, "r+b") as handle:
            handle.seek(10)
            handle.write(bytes([data[10] ^ 0xFF]))

    monkeypatch.setattr(transfer, "_after_seal", flip)
    changed = copy_verified(source, [Destination(archive, REL)])
    wrong = bytearray(data)
    wrong[10] ^= 0xFF
    got, want = xxhash.xxh3_128(bytes(wrong)).hexdigest(), xxhash.xxh3_128(data).hexdigest()
    assert changed.error == (
        f"verification failed for {REL} to {archive}: read back 5000 bytes with "
        f"xxh3-128 {got[:16]}…, expected 5000 bytes with xxh3-128 {want[:16]}…"
    )
    assert not (archive / REL).exists() and temps_under(archive) == []


@pytest.mark.parametrize(
    "relpath", ["JBX3656\\a.jpg", "JBX3656/a\0.jpg", f"JBX3656/{TEMP_PREFIX}0123abcd"]
)
def test_a_destination_with_a_backslash_nul_or_temporary_name_is_refused(
    tmp_path: Path, relpath: str
) -> None:
    source = tmp_path / "card" / "IMG_0001.JPG"
    make_file(source, 100)
    result = copy_verified(source, [Destination(tmp_path / "archive", relpath)])
    assert result.error == f"refusing destination {relpath!r}: not a plain relative file path"
    assert not (tmp_path / "archive").exists()


def test_every_copy_is_fsynced_before_it_is_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutant without the temporary's fsync passed every transfer test (only the strace
    test of a real card, which needs the samples, caught it): a power cut after the wipe
    would leave an empty archive file. Each published copy, streamed or held, archive and
    backup, is the file (its inode) that was fsynced."""
    synced: set[tuple[int, int]] = set()
    real_sync = transfer.sync_file

    def sync_file(fd: int) -> None:
        real_sync(fd)
        info = os.fstat(fd)
        synced.add((info.st_dev, info.st_ino))

    monkeypatch.setattr(transfer, "sync_file", sync_file)
    jobs = []
    sizes = (2000, 3 * 1024 * 1024 + 5, transfer.HELD_BYTES + 1)  # streamed, held, streamed
    for n, size in enumerate(sizes, 1):
        source = tmp_path / "card" / f"IMG_{n:04d}.JPG"
        make_file(source, size, seed=n)
        places = [Destination(tmp_path / root, f"JBX3656/{n}.jpg") for root in ("a", "b")]
        jobs.append((source, places, None))
    results = list(transfer_many(jobs, workers=2))
    assert [r.error for r in results] == [None] * len(sizes)
    published = [tmp_path / root / "JBX3656" / f"{n}.jpg" for root in "ab" for n in (1, 2, 3)]
    for path in published:
        info = path.stat()
        assert (info.st_dev, info.st_ino) in synced, path
