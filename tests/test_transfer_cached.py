"""Reads from the disk where a file system refuses O_DIRECT (macOS, some network and FUSE
file systems): the cached read after a page-cache drop, with every byte and every callback.

Every file system on the test machine takes O_DIRECT, so these tests take it away the way a
platform without it does (``_DIRECT`` is 0 where ``os.O_DIRECT`` does not exist), on a real
file on the local disk.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
import xxhash
from conftest import hashed
from factories import make_file

from cardingest.storage import transfer
from cardingest.storage.transfer import CHUNK, Destination, _Failure, copy_verified


@pytest.fixture(autouse=True)
def no_direct_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer, "_DIRECT", 0)


@pytest.mark.parametrize("size", [0, 1, CHUNK, 2 * CHUNK + 3])
def test_every_byte_is_read_once_and_reported_chunk_by_chunk(tmp_path: Path, size: int) -> None:
    """The pieces reported add up to the file, each no larger than a chunk. Their size is not
    fixed: a file whose pages the kernel has written back by the time it is read goes
    through the page cache in `transfer.READ_PIECE`s, one still dirty is read in chunks
    (a run on a quiet machine saw the first, and ``[CHUNK, CHUNK, 3]`` failed)."""
    data = make_file(tmp_path / "photo.jpg", size)
    seen: list[int] = []
    got = hashed(tmp_path / "photo.jpg", hashlib.sha256, on_bytes=seen.append)
    assert got == (size, hashlib.sha256(data).hexdigest())
    assert sum(seen) == size and all(0 < piece <= CHUNK for piece in seen), seen


def test_the_digest_given_is_the_one_used(tmp_path: Path) -> None:
    data = make_file(tmp_path / "photo.jpg", 5000)
    got = hashed(tmp_path / "photo.jpg", xxhash.xxh3_128)
    assert got == (5000, xxhash.xxh3_128(data).hexdigest())


def test_a_link_is_followed_only_when_asked(tmp_path: Path) -> None:
    data = make_file(tmp_path / "photo.jpg", 300)
    (tmp_path / "link.jpg").symlink_to(tmp_path / "photo.jpg")
    followed = hashed(tmp_path / "link.jpg", hashlib.sha256)
    assert followed == (300, hashlib.sha256(data).hexdigest())
    with pytest.raises(OSError):
        hashed(tmp_path / "link.jpg", hashlib.sha256, follow=False)


def test_a_stop_during_the_read_is_a_cancel(tmp_path: Path) -> None:
    make_file(tmp_path / "photo.jpg", 3 * CHUNK)
    calls: list[int] = []

    def stopped() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(_Failure, match=r"^cancelled$"):
        hashed(tmp_path / "photo.jpg", hashlib.sha256, stopped=stopped)


def test_a_missing_file_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        hashed(tmp_path / "gone.jpg", hashlib.sha256)


def test_a_copy_is_verified_and_a_changed_one_refused_without_o_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_file(tmp_path / "card.jpg", CHUNK + 17)
    archive = tmp_path / "archive"
    done = copy_verified(tmp_path / "card.jpg", [Destination(archive, "JBX3656/a.jpg")])
    assert done.ok and (archive / "JBX3656" / "a.jpg").read_bytes() == data

    def flip(_source: Path, temp: Path) -> None:
        with open(temp, "r+b") as handle:
            handle.seek(10)
            handle.write(bytes([data[10] ^ 0xFF]))
            handle.flush()
            os.fsync(handle.fileno())

    monkeypatch.setattr(transfer, "_after_seal", flip)
    failed = copy_verified(
        tmp_path / "card.jpg",
        [Destination(archive, "JBX3656/b.jpg")],
        cancel=threading.Event(),
    )
    assert not failed.ok and failed.error is not None
    assert failed.error.startswith("verification failed for JBX3656/b.jpg to ")
    assert not (archive / "JBX3656" / "b.jpg").exists()
    assert [p.name for p in (archive / "JBX3656").iterdir()] == ["a.jpg"]
