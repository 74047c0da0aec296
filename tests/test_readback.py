"""The read-back is what makes a copy "verified": bytes that change on disk after the fsync
must fail the photo, through the real CLI, with the source on a FUSE-mounted FAT32 card.

The fault point `transfer._after_seal` runs after the temporary's fsync and page-cache drop
and before its read-back; the tests write through a second descriptor there, as a failing
disk or a buggy driver would. And the same photo twice on one card: the archived copy is
the first in plan order, however the workers race.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from cardimage import CardFactory
from typer.testing import CliRunner

from cardingest import ingest
from cardingest.cli.app import app
from cardingest.errors import EXIT_FAILURE, EXIT_OK
from cardingest.storage import transfer
from cardingest.storage.durable import TEMP_PREFIX

runner = CliRunner()


def jpegs(samples_dir: Path) -> list[Path]:
    """Real camera JPEGs of pairwise different sizes, smallest first."""
    by_size: dict[int, Path] = {}
    for path in sorted((samples_dir / "real").iterdir()):
        if path.suffix.lower() in (".jpg", ".jpeg"):
            by_size.setdefault(path.stat().st_size, path)
    return [by_size[size] for size in sorted(by_size)]


def snapshot(mount: Path) -> dict[str, tuple[bytes, int]]:
    """Every card file's bytes and modification time, by relative path."""
    found = {}
    for path in sorted(mount.rglob("*")):
        if path.is_file():
            found[path.relative_to(mount).as_posix()] = (path.read_bytes(), path.stat().st_mtime_ns)
    return found


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def corrupt_through_second_descriptor(path: Path) -> None:
    """Change one byte of the sealed temporary on disk, as a failing medium would."""
    fd = os.open(path, os.O_RDWR)
    try:
        middle = os.fstat(fd).st_size // 2
        byte = os.pread(fd, 1, middle)
        os.pwrite(fd, bytes([byte[0] ^ 0x5A]), middle)
        os.fsync(fd)
    finally:
        os.close(fd)


def ingest_json(*args: str | Path) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["ingest", *map(str, args), "--json"])
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("where", ["archive", "backup"])
def test_bytes_changed_on_disk_after_fsync_fail_the_photo(
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    """Nothing of that photo is published anywhere, no temporary is left, the card is as it was.

    With a backup, a bad backup copy keeps the (good) archive copy from being published too.
    """
    small, victim, other = jpegs(samples_dir)[:3]
    mount = fat_card(
        {
            "DCIM/100CANON/IMG_0001.JPG": small,
            "DCIM/100CANON/IMG_0002.JPG": victim,
            "DCIM/100CANON/IMG_0003.JPG": other,
        }
    )
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    before = snapshot(mount)
    victim_size = victim.stat().st_size
    corrupted: list[Path] = []

    def fault(source: Path, temp: Path) -> None:
        assert temp.name.startswith(TEMP_PREFIX)
        if source.name == "IMG_0002.JPG" and Path(tmp_path, where) in temp.parents:
            assert temp.stat().st_size == victim_size
            corrupt_through_second_descriptor(temp)
            corrupted.append(temp)

    monkeypatch.setattr(transfer, "_after_seal", fault)
    code, document = ingest_json(mount, "--id", "JBX3656", "--archive", archive, "--backup", backup)

    assert len(corrupted) == 1
    assert code == EXIT_FAILURE
    items = {item["source"]: item for item in document["items"]}
    failed = items["DCIM/100CANON/IMG_0002.JPG"]
    assert failed["action"] == "failed"
    assert failed["target"] is None
    assert "verification failed" in failed["reason"]
    assert items["DCIM/100CANON/IMG_0001.JPG"]["action"] == "copy"
    assert items["DCIM/100CANON/IMG_0003.JPG"]["action"] == "copy"

    victim_sha = hashlib.sha256(victim.read_bytes()).hexdigest()
    for root in (archive, backup):
        photos = [p for p in files_under(root) if not p.startswith(".cardingest/")]
        assert len(photos) == 2, photos
        for name in photos:
            assert hashlib.sha256((root / name).read_bytes()).hexdigest() != victim_sha
        assert list(root.rglob(f"{TEMP_PREFIX}*")) == []
        manifests = list((root / ".cardingest" / "manifests").glob("*.sha256"))
        assert len(manifests) == 1
        assert victim_sha not in manifests[0].read_text(encoding="utf-8")
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as db:
        rows = db.execute("SELECT source_path, sha256 FROM files").fetchall()
    assert sorted(source for source, _ in rows) == [
        "DCIM/100CANON/IMG_0001.JPG",
        "DCIM/100CANON/IMG_0003.JPG",
    ]
    assert victim_sha not in {digest for _, digest in rows}
    assert snapshot(mount) == before

    monkeypatch.setattr(transfer, "_after_seal", None)
    code, document = ingest_json(mount, "--id", "JBX3656", "--archive", archive, "--backup", backup)
    assert code == EXIT_OK
    actions = {item["source"]: item["action"] for item in document["items"]}
    assert actions == {
        "DCIM/100CANON/IMG_0001.JPG": "skip",
        "DCIM/100CANON/IMG_0002.JPG": "copy",
        "DCIM/100CANON/IMG_0003.JPG": "skip",
    }
    assert snapshot(mount) == before


def test_the_same_photo_twice_on_a_card_rests_on_the_first_in_plan_order(
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """IMG_0001 is held after its fsync until IMG_0002 (same bytes) is at the gate.

    Whoever verifies first must not win: IMG_0001 is the copy, under the plain name, and
    IMG_0002 a ``skip`` resting on it, exactly as when the workers finish the other way round.
    """
    photo = jpegs(samples_dir)[0]
    mount = fat_card({"DCIM/100CANON/IMG_0001.JPG": photo, "DCIM/100CANON/IMG_0002.JPG": photo})
    archive = tmp_path / "archive"
    second_at_gate = threading.Event()
    real_enter = ingest._KnownContent.enter
    held: list[Path] = []

    def enter(self: ingest._KnownContent, source: Path, sha256: str) -> str | None:
        if source.name == "IMG_0002.JPG":
            second_at_gate.set()
        return real_enter(self, source, sha256)

    def hold_the_first(source: Path, temp: Path) -> None:
        if source.name == "IMG_0001.JPG":
            held.append(temp)
            assert second_at_gate.wait(120), "IMG_0002 never reached the gate"

    monkeypatch.setattr(ingest._KnownContent, "enter", enter)
    monkeypatch.setattr(transfer, "_after_seal", hold_the_first)
    code, document = ingest_json(mount, "--id", "JBX3656", "--archive", archive)

    assert code == EXIT_OK
    items = {item["source"]: item for item in document["items"]}
    first, second = items["DCIM/100CANON/IMG_0001.JPG"], items["DCIM/100CANON/IMG_0002.JPG"]
    name = first["target"]
    assert first["action"] == "copy"
    assert second["action"] == "skip"
    assert second["reason"] == (
        f"the same photo as DCIM/100CANON/IMG_0001.JPG on this card: it is copied once, as {name}"
    )
    assert second["target"] == name
    assert files_under(archive / "JBX3656") == [Path(name).name]
    assert Path(name).name == f"JBX3656-{first['captured_at'][:10].replace('-', '')}-" + (
        first["captured_at"][11:19].replace(":", "") + ".jpg"
    )


def preview_json(*args: str | Path) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["preview", *map(str, args), "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_the_preview_shows_the_same_photo_twice_as_the_ingest_does_it(
    fat_card: CardFactory, samples_dir: Path, tmp_path: Path
) -> None:
    """A trial: a photo in two DCF folders was previewed as a copy to a ``-2`` name, which
    the ingest then skipped. The preview plans it as the ingest does it, item for item, and
    the next photo of that second takes no ``-3``."""
    photo, other = jpegs(samples_dir)[:2]
    mount = fat_card(
        {
            "DCIM/100CANON/IMG_0001.JPG": photo,
            "DCIM/101CANON/IMG_0001.JPG": photo,
            "DCIM/101CANON/IMG_0002.JPG": other,
        }
    )
    archive = tmp_path / "archive"
    args = (mount, "--id", "JBX3656", "--archive", archive)
    code, previewed = preview_json(*args)
    assert code == EXIT_OK
    code, ingested = ingest_json(*args)
    assert code == EXIT_OK
    keep = ("source", "action", "target", "reason")
    assert [{k: i[k] for k in keep} for i in previewed["items"]] == [
        {k: i[k] for k in keep} for i in ingested["items"]
    ]
    items = {item["source"]: item for item in ingested["items"]}
    first, twin = items["DCIM/100CANON/IMG_0001.JPG"], items["DCIM/101CANON/IMG_0001.JPG"]
    assert (first["action"], twin["action"], twin["target"]) == ("copy", "skip", first["target"])
    assert previewed["summary"]["copy"] == ingested["summary"]["copied"] == 2
    assert len(files_under(archive / "JBX3656")) == 2
    code, again = ingest_json(*args)
    assert code == EXIT_OK and {i["action"] for i in again["items"]} == {"skip"}


def test_the_same_photo_twice_is_copied_once_when_the_first_copy_fails(
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first of the two fails its read-back: the second, planned as skipped beside it,
    goes through the copy gate and is copied, to the name the first was to have."""
    photo = jpegs(samples_dir)[0]
    mount = fat_card({"DCIM/100CANON/IMG_0001.JPG": photo, "DCIM/100CANON/IMG_0002.JPG": photo})
    archive = tmp_path / "archive"

    def fail_the_first(source: Path, temp: Path) -> None:
        if source.name == "IMG_0001.JPG":
            corrupt_through_second_descriptor(temp)

    monkeypatch.setattr(transfer, "_after_seal", fail_the_first)
    code, document = ingest_json(mount, "--id", "JBX3656", "--archive", archive)
    assert code == EXIT_FAILURE
    items = {item["source"]: item for item in document["items"]}
    first, second = items["DCIM/100CANON/IMG_0001.JPG"], items["DCIM/100CANON/IMG_0002.JPG"]
    assert first["action"] == "failed" and "verification failed" in first["reason"]
    assert second["action"] == "copy", second
    [name] = files_under(archive / "JBX3656")
    assert second["target"] == f"JBX3656/{name}" and not name.endswith("-2.jpg")
    assert hashlib.sha256((archive / second["target"]).read_bytes()).hexdigest() == (
        hashlib.sha256(photo.read_bytes()).hexdigest()
    )
