"""Scenarios 4, 9 and 10: the wipe gate against a read-only card, a photo changed on the card,
and an archive copy damaged or deleted before verify and wipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cardimage import CardFactory

from .checks import Photo, Source, audit_events, photos_of
from .conftest import Checker
from .helpers import PATIENT, Cli, card_size_mb, flip_byte, make_photos, sha256_file

PHOTOS = 16


def ingested_card(
    cli: Cli, fat_card: CardFactory, samples_dir: Path, archive: Path, seed: int
) -> tuple[Path, dict[str, bytes], dict[str, str]]:
    """A card of distinct photos, ingested; returns it, its files and source -> target."""
    files = make_photos(samples_dir, PHOTOS, seed=seed, min_size=200_000, max_size=700_000)
    card = fat_card(files, size_mb=card_size_mb(files))
    done = cli.run("ingest", card, "--id", PATIENT, "--archive", archive, "--json")
    assert done.returncode == 0, done.stderr
    targets = {item["source"]: item["target"] for item in json.loads(done.stdout)["items"]}
    return card, files, targets


def wipe(cli: Cli, card: Path, archive: Path) -> tuple[int, dict[str, dict[str, str]], str]:
    done = cli.run("wipe", card, "--archive", archive, "--yes", "--json")
    items = json.loads(done.stdout).get("items", []) if done.stdout.strip() else []
    return done.returncode, {item["source"]: item for item in items}, done.stderr


def removals(archive: Path) -> list[str]:
    return [str(e["source"]) for e in audit_events(archive) if e.get("event") == "wipe-remove"]


@pytest.mark.fault(4, "card remounted read-only before a wipe")
def test_readonly_card_wipe_removes_nothing(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
) -> None:
    archive = tmp_path / "archive"
    card, files, _targets = ingested_card(cli, fat_card, samples_dir, archive, fault_seed + 40)
    source = Source(card, photos_of(files))
    handle = fat_card.handle(card)
    handle.remount_readonly()
    code, _items, stderr = wipe(cli, card, archive)
    assert code == 1, stderr
    assert "read-only" in stderr and "nothing was removed" in stderr
    assert not removals(archive)
    findings = check(archive, [source], context="wipe refused on a read-only card")
    assert findings.on_card == PHOTOS
    handle.remount(readonly=False)
    code, items, stderr = wipe(cli, card, archive)
    assert code == 0, stderr
    assert {item["action"] for item in items.values()} == {"remove"}
    findings = check(archive, [source], context="wipe after the card was writable again")
    assert (findings.on_card, findings.archived) == (0, PHOTOS)


@pytest.mark.fault(9, "a photo changed on the card between ingest and wipe stays")
def test_photo_changed_on_card_stays(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
) -> None:
    archive = tmp_path / "archive"
    card, files, _targets = ingested_card(cli, fat_card, samples_dir, archive, fault_seed + 90)
    photos = photos_of(files)
    flipped, grown = sorted(files)[3], sorted(files)[8]
    flip_byte(card / flipped, len(files[flipped]) // 2)
    with open(card / grown, "ab") as handle:
        handle.write(b"edited in the camera")
    for path in (flipped, grown):
        photos[path] = Photo(path, sha256_file(card / path), (card / path).stat().st_size)
    code, items, stderr = wipe(cli, card, archive)
    assert code == 3, stderr
    for path in (flipped, grown):
        assert items[path]["action"] == "keep"
        assert "changed on the card" in items[path]["reason"], items[path]
    assert sum(item["action"] == "remove" for item in items.values()) == PHOTOS - 2
    findings = check(archive, [Source(card, photos)], context="wipe after photos changed")
    assert findings.on_card == 2


@pytest.mark.fault(10, "archive copy damaged or deleted before verify and wipe")
def test_damaged_archive_copy_keeps_photo(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
) -> None:
    archive = tmp_path / "archive"
    card, files, targets = ingested_card(cli, fat_card, samples_dir, archive, fault_seed + 100)
    damaged_source, deleted_source = sorted(files)[2], sorted(files)[11]
    damaged, deleted = targets[damaged_source], targets[deleted_source]
    flip_byte(archive / damaged, 1234)
    (archive / deleted).unlink()
    verified = cli.run("verify", "--archive", archive, "--json")
    assert verified.returncode == 1, verified.stderr
    problems = {(p["kind"], p["path"]) for p in json.loads(verified.stdout)["problems"]}
    assert problems == {("changed", damaged), ("missing", deleted)}
    code, items, stderr = wipe(cli, card, archive)
    assert code == 3, stderr
    assert items[damaged_source]["action"] == items[deleted_source]["action"] == "keep"
    assert damaged in items[damaged_source]["reason"] and deleted in items[deleted_source]["reason"]
    assert sum(item["action"] == "remove" for item in items.values()) == PHOTOS - 2
    findings = check(
        archive,
        [Source(card, photos_of(files))],
        tampered={damaged, deleted},
        context="wipe after archive copies were damaged",
    )
    assert findings.on_card == 2
