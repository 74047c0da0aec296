"""`CopyChecker.check_same`: the wipe gate's proof that a copy holds the card file's bytes.

The card file is read once for its sha256 and XXH3-128 (`fingerprint`); each copy is then
read once with XXH3-128 only. A copy that matches is `ok` without a second sha256 pass; any
other copy is measured in full, so its state and detail are exactly what `check` says.
Real files on the local disk; sha256 is counted where it is fed.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
import xxhash
from factories import make_file

from cardingest.archive import verify
from cardingest.archive.verify import CopyChecker, CopyState, Fingerprint, fingerprint


@pytest.fixture
def card_file(tmp_path: Path) -> tuple[Path, bytes, Fingerprint]:
    path = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(path, 3 * 1024 * 1024 + 77, seed=5)
    return path, data, fingerprint(path)


def copy_of(tmp_path: Path, data: bytes, name: str = "a.jpg") -> Path:
    path = tmp_path / "archive" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_fingerprint_is_one_read_of_size_sha256_and_xxh3(
    card_file: tuple[Path, bytes, Fingerprint], sha256_fed: list[int]
) -> None:
    path, data, _ = card_file
    assert fingerprint(path) == Fingerprint(
        len(data), hashlib.new("sha256", data).hexdigest(), xxhash.xxh3_128_hexdigest(data)
    )
    assert sum(sha256_fed) == len(data)


def test_an_identical_copy_is_ok_read_once_without_sha256(
    tmp_path: Path, card_file: tuple[Path, bytes, Fingerprint], sha256_fed: list[int]
) -> None:
    _, data, original = card_file
    copy = copy_of(tmp_path, data)
    checker = CopyChecker()
    assert checker.check_same(copy, original) == CopyState("ok", original.sha256)
    assert checker.bytes_read == len(data) and sha256_fed == []
    # Remembered: neither a second check_same nor check of the same copy reads it again.
    assert checker.check_same(copy, original) == CopyState("ok", original.sha256)
    assert checker.check(copy, original.size, original.sha256.upper()).ok
    assert checker.bytes_read == len(data) and sha256_fed == []


def test_a_copy_with_other_bytes_of_the_same_size_is_measured_in_full(
    tmp_path: Path, card_file: tuple[Path, bytes, Fingerprint]
) -> None:
    _, data, original = card_file
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 1
    copy = copy_of(tmp_path, bytes(flipped))
    checker = CopyChecker()
    state = checker.check_same(copy, original)
    assert state == CopyChecker().check(copy, original.size, original.sha256)
    got = hashlib.new("sha256", bytes(flipped)).hexdigest()
    assert state == CopyState("changed", got, f"sha256 {got}, expected {original.sha256}")
    assert checker.bytes_read == 2 * len(data)  # XXH3 first, then sha256 for the detail


@pytest.mark.parametrize("size", [0, 100, "one byte more"])
def test_a_copy_of_another_size_is_changed_and_not_read(
    tmp_path: Path,
    card_file: tuple[Path, bytes, Fingerprint],
    sha256_fed: list[int],
    size: int | str,
) -> None:
    _, data, original = card_file
    body = data + b"\0" if size == "one byte more" else data[: int(size)]
    copy = copy_of(tmp_path, body)
    checker = CopyChecker()
    assert checker.check_same(copy, original) == CopyState(
        "changed", detail=f"{len(body)} bytes, expected {original.size}"
    )
    assert checker.bytes_read == 0 and sha256_fed == []


def test_a_folder_a_missing_copy_and_an_unreadable_one_say_what_they_are(
    tmp_path: Path, card_file: tuple[Path, bytes, Fingerprint], sha256_fed: list[int]
) -> None:
    _, data, original = card_file
    folder = tmp_path / "archive" / "a.jpg"
    folder.mkdir(parents=True)
    checker = CopyChecker()
    assert checker.check_same(folder, original) == CopyState("changed", detail="not a regular file")
    assert checker.check_same(tmp_path / "archive" / "b.jpg", original) == CopyState(
        "missing", detail="not found"
    )
    through_a_file = copy_of(tmp_path, data, "c.jpg") / "d.jpg"
    assert checker.check_same(through_a_file, original) == CopyState(
        "unreadable", detail=os.strerror(errno.ENOTDIR)
    )
    assert checker.bytes_read == 0 and sha256_fed == []


def test_the_copy_is_read_from_the_disk_with_xxh3_alone(
    tmp_path: Path, card_file: tuple[Path, bytes, Fingerprint], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What reads the copy: `hash_from_disk` (page cache dropped, O_DIRECT where it can),
    given an XXH3-128 digest and the checker's byte counter."""
    _, data, original = card_file
    copy = copy_of(tmp_path, data)
    calls: list[tuple[Path, str, bool]] = []
    real = verify.hash_from_disk

    def hash_from_disk(path: Path, new_digest: Any, **options: Any) -> Any:
        calls.append((path, type(new_digest()).__name__, options.get("on_bytes") is not None))
        return real(path, new_digest, **options)

    monkeypatch.setattr(verify, "hash_from_disk", hash_from_disk)
    assert CopyChecker().check_same(copy, original).ok
    assert calls == [(copy, "xxh3_128", True)]
