"""Scenarios 4, 9 and 10: the wipe gate against a read-only card, a photo changed on the card,
and an archive copy damaged or deleted before verify and wipe."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from cardimage import CardFactory

from .checks import Photo, Source, audit_events, photos_of
from .conftest import Checker, Figures
from .helpers import (
    PATIENT,
    Cli,
    card_size_mb,
    flip_byte,
    injected,
    make_photos,
    sha256,
    sha256_file,
)

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
    source = Source(card, photos_of(files, PATIENT))
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


@pytest.mark.fault("4b", "kill -9 at chosen points of a wipe, then the wipe again")
@pytest.mark.parametrize(
    ("point", "removed", "events"),
    [
        ("audit-head", 0, 0),  # in wipe-start's audit.head write: its temporary is left
        ("wipe-event", 0, 1),
        ("wipe-unlink", 1, 1),
    ],
)
def test_kill9_in_a_wipe_leaves_no_removal_unlogged(
    point: str,
    removed: int,
    events: int,
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    """Each ``wipe-remove`` event is written before its file goes: a kill right after the
    event leaves the file on the card, a kill right after the removal leaves its event. The
    wipe's own audit appends sweep a dead writer's audit.head temporary (final check)."""
    archive = tmp_path / "archive"
    card, files, _targets = ingested_card(cli, fat_card, samples_dir, archive, fault_seed + 45)
    source = Source(card, photos_of(files, PATIENT))
    killed = injected(cli, point, "wipe", card, "--archive", archive, "--yes", "--json")
    assert killed.returncode == -signal.SIGKILL, f"{point} never reached: {killed.stderr[-2000:]}"
    figures.killed(point)
    findings = check(archive, [source], final=False, context=f"wipe killed at {point}")
    assert findings.on_card == PHOTOS - removed
    assert len(removals(archive)) == events
    code, items, stderr = wipe(cli, card, archive)
    assert code == 0, stderr
    assert len(items) == findings.on_card
    findings = check(archive, [source], context=f"the wipe again after a kill at {point}")
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
    photos = photos_of(files, PATIENT)
    flipped, grown = sorted(files)[3], sorted(files)[8]
    flip_byte(card / flipped, len(files[flipped]) // 2)
    with open(card / grown, "ab") as handle:
        handle.write(b"edited in the camera")
    for path in (flipped, grown):
        photos[path] = Photo(
            path, sha256_file(card / path), (card / path).stat().st_size, frozenset({PATIENT})
        )
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
        [Source(card, photos_of(files, PATIENT))],
        tampered={damaged, deleted},
        context="wipe after archive copies were damaged",
    )
    assert findings.on_card == 2
    damaged_bytes = (archive / damaged).read_bytes()

    repaired = cli.run("ingest", card, "--id", PATIENT, "--archive", archive, "--json")
    assert repaired.returncode == 0, repaired.stderr
    document = json.loads(repaired.stdout)
    assert document["summary"]["copied"] == 2 and document["summary"]["failed"] == 0
    by_source = {item["source"]: item for item in document["items"]}
    for source, target in ((damaged_source, damaged), (deleted_source, deleted)):
        assert by_source[source]["action"] == "copy" and by_source[source]["target"] == target
        assert by_source[source]["reason"].startswith("repaired")
    aside = list((archive / ".cardingest" / "damaged").rglob("*.jpg"))
    assert [p.read_bytes() for p in aside] == [damaged_bytes]
    assert aside[0].relative_to(archive / ".cardingest" / "damaged").parts[1:] == tuple(
        damaged.split("/")
    )
    repairs = [e for e in audit_events(archive) if e.get("event") == "repair"]
    assert sorted(e["archive_path"] for e in repairs) == sorted([damaged, deleted])
    assert cli.run("verify", "--archive", archive).returncode == 0
    code, items, stderr = wipe(cli, card, archive)
    assert code == 0, stderr
    findings = check(
        archive, [Source(card, photos_of(files, PATIENT))], context="repaired, then wiped"
    )
    assert (findings.on_card, findings.archived, findings.rows) == (0, PHOTOS, PHOTOS)


@pytest.mark.fault("10b", "a damaged backup copy found by the wipe, repaired by re-ingest")
def test_wipe_finds_a_damaged_backup_copy_and_ingest_repairs_it(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
) -> None:
    """The wipe's own check is enough for the repair of the backup copy.

    A card file that changed since its ingest is never filed under the old photo's name,
    even when that photo's archive copy is damaged too: it is a new photo, copied (with
    --id) to a name of its own.
    """
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    files = make_photos(samples_dir, PHOTOS, seed=fault_seed + 101, min_size=200_000,
                        max_size=700_000)  # fmt: skip
    card = fat_card(files, size_mb=card_size_mb(files))
    args = ("ingest", card, "--id", PATIENT, "--archive", archive, "--backup", backup, "--json")
    first = cli.run(*args)
    assert first.returncode == 0, first.stderr
    targets = {item["source"]: item["target"] for item in json.loads(first.stdout)["items"]}
    spoiled_source, changed_source = sorted(files)[4], sorted(files)[9]
    flip_byte(backup / targets[spoiled_source], 999)
    flip_byte(archive / targets[changed_source], 999)
    flip_byte(card / changed_source, len(files[changed_source]) - 10)
    code, items, stderr = wipe(cli, card, archive)
    assert code == 3, stderr
    assert items[spoiled_source]["action"] == "keep"
    assert "backup copy" in items[spoiled_source]["reason"]
    assert (
        f"ingest this card again with --backup {backup} to repair it"
        in (items[spoiled_source]["reason"])
    )
    assert "changed on the card" in items[changed_source]["reason"]
    assert cli.run("verify", "--archive", archive).returncode == 1  # notes the changed copy

    again = cli.run(*args)
    assert again.returncode == 0, again.stderr
    by_source = {item["source"]: item for item in json.loads(again.stdout)["items"]}
    assert by_source[spoiled_source]["action"] == "copy", by_source[spoiled_source]
    assert by_source[changed_source]["action"] == "copy", by_source[changed_source]
    renamed = by_source[changed_source]["target"]
    assert renamed != targets[changed_source]
    changed = sha256_file(card / changed_source)
    assert sha256_file(archive / renamed) == changed
    assert sha256_file(backup / targets[spoiled_source]) == sha256(files[spoiled_source])
    aside = list((backup / ".cardingest" / "damaged").rglob("*.jpg"))
    assert len(aside) == 1 and sha256_file(aside[0]) != sha256(files[spoiled_source])
    assert not (archive / ".cardingest" / "damaged").exists()
    code, items, stderr = wipe(cli, card, archive)
    assert code == 0, stderr
    assert {item["action"] for item in items.values()} == {"remove"}, items
    photos = photos_of(files, PATIENT)
    photos[changed_source] = Photo(
        changed_source,
        changed,
        len(files[changed_source]),
        frozenset({PATIENT}),
    )
    findings = check(
        archive,
        [Source(card, photos)],
        backup=backup,
        tampered={targets[changed_source]},
        context="backup repaired; a changed card file archived as a new photo",
    )
    assert (findings.archived, findings.on_card) == (PHOTOS, 0)


@pytest.mark.fault("10c", "kill -9 while a re-ingest puts a repaired copy back, then re-run")
@pytest.mark.parametrize("point", ["repair-verified", "repair-set-aside"])
def test_kill9_during_a_repair_then_rerun(
    point: str,
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    """Killed with the fresh copy verified in a temporary file, or after the damaged copy was
    linked aside: the re-run puts the photo back under its own name, with one audit event."""
    archive = tmp_path / "archive"
    card, files, targets = ingested_card(cli, fat_card, samples_dir, archive, fault_seed + 102)
    source = sorted(files)[5]
    flip_byte(archive / targets[source], 4321)
    damaged_bytes = (archive / targets[source]).read_bytes()
    assert cli.run("verify", "--archive", archive).returncode == 1
    args = ("ingest", card, "--id", PATIENT, "--archive", archive, "--json")
    killed = injected(cli, point, *args)
    assert killed.returncode == -signal.SIGKILL, f"{point} never reached: {killed.stderr[-2000:]}"
    figures.killed(point)
    photos = [Source(card, photos_of(files, PATIENT))]
    check(archive, photos, tampered={targets[source]}, final=False, context=f"killed at {point}")
    done = cli.run(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["summary"]["copied"] == 1
    assert sha256_file(archive / targets[source]) == sha256(files[source])
    aside = list((archive / ".cardingest" / "damaged").rglob("*.jpg"))
    assert aside and all(p.read_bytes() == damaged_bytes for p in aside)
    assert cli.run("verify", "--archive", archive).returncode == 0
    repairs = [e for e in audit_events(archive) if e.get("event") == "repair"]
    assert [(e["archive_path"], e["error"]) for e in repairs] == [(targets[source], None)]
    findings = check(archive, photos, context=f"re-run after a kill at {point}")
    assert findings.archived == PHOTOS and findings.files == PHOTOS


@pytest.mark.fault("10d", "kill -9 while a later ingest makes backup copies, then wipe")
def test_kill9_while_backup_copies_are_made_then_a_wipe_with_no_backup(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    """Ingested with one copy; a later ingest given ``--backup`` is killed after recording
    its first backup copy. A wipe with no backup set removes only the photo that has its
    backup copy: the rest were asked for two copies and have one (before, it removed them
    all). The ingest run again makes the rest, and the wipe then clears the card."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    card, files, targets = ingested_card(cli, fat_card, samples_dir, archive, fault_seed + 103)
    args = ("ingest", card, "--id", PATIENT, "--archive", archive, "--backup", backup, "--json")
    killed = injected(cli, "backup-recorded", *args)
    assert killed.returncode == -signal.SIGKILL, f"never reached: {killed.stderr[-2000:]}"
    figures.killed("backup-recorded")
    code, items, stderr = wipe(cli, card, archive)
    assert code == 3, stderr
    kept = [item for item in items.values() if item["action"] == "keep"]
    assert [item["action"] for item in items.values()].count("remove") == 1, items
    assert len(kept) == PHOTOS - 1 and all(f"--backup {backup}" in i["reason"] for i in kept)
    photos = [Source(card, photos_of(files, PATIENT))]
    findings = check(archive, photos, final=False, context="killed making backup copies")
    assert findings.on_card == PHOTOS - 1
    empty = tmp_path / "empty"
    (empty / "DCIM").mkdir(parents=True)
    closed = cli.run("ingest", empty, "--id", PATIENT, "--archive", archive)
    assert "stopped" in closed.stderr, closed.stderr  # the killed run, closed as crashed
    [manifest] = (backup / ".cardingest" / "manifests").iterdir()
    [line] = manifest.read_text().splitlines()
    [removed] = [source for source, item in items.items() if item["action"] == "remove"]
    assert line == f"{sha256(files[removed])}  {targets[removed]}", line
    done = cli.run(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    code, items, stderr = wipe(cli, card, archive)
    assert code == 0, stderr
    findings = check(archive, photos, backup=backup, context="backed up, then wiped")
    assert (findings.on_card, findings.archived) == (0, PHOTOS)


@pytest.mark.fault("10e", "kill -9 during an ingest given a backup, re-run without it, then wipe")
def test_kill9_in_an_ingest_with_a_backup_then_one_without_then_a_wipe(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    """An ingest given ``--backup`` dies at its first copy; the card is ingested again
    without it (the backup disk still away: the run warns), filing the rest. A wipe with no
    backup set keeps every photo with one copy, naming the backup asked for (before, it
    removed them all); an ingest given the backup makes the copies, and the wipe then clears
    the card."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    files = make_photos(
        samples_dir, PHOTOS, seed=fault_seed + 104, min_size=200_000, max_size=700_000
    )
    card = fat_card(files, size_mb=card_size_mb(files))
    args = ("ingest", card, "--id", PATIENT, "--archive", archive, "--json")
    killed = injected(cli, "after-link", *args, "--backup", backup)
    assert killed.returncode == -signal.SIGKILL, f"never reached: {killed.stderr[-2000:]}"
    figures.killed("after-link")
    again = cli.run(*args)
    # The killed run's one archive copy is recorded with its backup copy missing: not
    # repaired without the backup, so held ("an ingest given that backup folder (--backup …)").
    held = [i for i in json.loads(again.stdout)["items"] if i["action"] != "copy"]
    assert again.returncode == (3 if held else 0), again.stderr[-2000:]
    assert len(held) <= 1, held
    assert all(i["action"] == "hold" and "--backup" in str(i["reason"]) for i in held), held
    code, items, stderr = wipe(cli, card, archive)
    assert code == 3, stderr
    kept = [item for item in items.values() if item["action"] == "keep"]
    assert len(kept) >= PHOTOS - 1, items  # the killed run's one copy may have its backup
    assert all(str(backup) in item["reason"] for item in kept), kept
    photos = [Source(card, photos_of(files, PATIENT))]
    check(archive, photos, final=False, context="one copy after a killed backup")
    assert cli.run(*args, "--backup", backup).returncode == 0
    code, items, stderr = wipe(cli, card, archive)
    assert code == 0, stderr
    findings = check(archive, photos, backup=backup, context="backed up, then wiped")
    assert (findings.on_card, findings.archived) == (0, PHOTOS)
