"""Scenarios 5 to 8: the archive (or backup) is full, read-only, shared or failing."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cardimage import CardFactory

from .checks import Source, audit_events, photos_of, read_rows
from .conftest import Checker, Figures
from .helpers import (
    OTHER_PATIENT,
    PATIENT,
    Cli,
    card_size_mb,
    copy_started,
    fill,
    finish,
    flip_byte,
    injected,
    keep_full,
    make_photos,
    published,
    remount,
    sha256_file,
    stop_group,
    temps,
    wait_for,
)

Tmpfs = Callable[[str, int], Path]


def photo_card(
    fat_card: CardFactory,
    samples_dir: Path,
    count: int,
    seed: int,
    sizes: tuple[int, int] = (1_000_000, 2_000_000),
    label: str = "CARD",
    *,
    patient: str,
) -> tuple[Path, Source]:
    """A card of photos all meant for ``patient``."""
    files = make_photos(samples_dir, count, seed=seed, min_size=sizes[0], max_size=sizes[1])
    card = fat_card(files, size_mb=card_size_mb(files), label=label)
    return card, Source(card, photos_of(files, patient))


def snapshot(root: Path) -> dict[str, tuple[int, str, int]]:
    """Every file under ``root`` with size, sha256 and mtime."""
    found = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            info = path.stat()
            found[path.relative_to(root).as_posix()] = (
                info.st_size,
                sha256_file(path),
                info.st_mtime_ns,
            )
    return found


DISK_FULL = ("No space left on device", "database or disk is full")


def full_disk_outcome(stderr: str) -> str:
    """How a run on a disk that filled ended: failed photos listed, or one clear error.

    Which one depends on whether the bookkeeping at the end (catalogue rows, manifest) still
    fits in the space the failed temporaries gave back. Either way: no traceback.
    """
    assert "Traceback" not in stderr, stderr[-3000:]
    assert any(reason in stderr for reason in DISK_FULL), stderr[-2000:]
    if "failed:" in stderr:
        return f"{stderr.count('failed:')} failed photos listed"
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert errors, stderr[-2000:]
    return f"ended with {errors[0][:90]!r}"


def wipe(cli: Cli, card: Path, archive: Path) -> tuple[int, dict[str, dict[str, str]], str]:
    done = cli.run("wipe", card, "--archive", archive, "--yes", "--json")
    items = json.loads(done.stdout).get("items", []) if done.stdout.strip() else []
    return done.returncode, {item["source"]: item for item in items}, done.stderr


def copying_onto_small_disk(
    cli: Cli, fat_card: CardFactory, samples_dir: Path, tmpfs: Tmpfs, seed: int
) -> tuple[Source, Path, Path, subprocess.Popen[str]]:
    """(source, disk, archive, process) of a 20-photo ingest into an archive on a 64 MiB
    tmpfs, once it has begun copying."""
    card, source = photo_card(fat_card, samples_dir, 20, seed, patient=PATIENT)
    disk = tmpfs("small", 64)
    archive = disk / "archive"
    proc = cli.start("ingest", card, "--id", PATIENT, "--archive", archive)
    assert wait_for(copy_started(archive), 60), "the copy never started"
    return source, disk, archive, proc


@pytest.mark.fault(5, "archive on a small tmpfs that fills mid-ingest")
def test_archive_fills_mid_ingest_then_rerun_after_freeing(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmpfs: Tmpfs,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    source, disk, archive, proc = copying_onto_small_disk(
        cli, fat_card, samples_dir, tmpfs, fault_seed + 50
    )
    filler = fill(disk)
    ended = finish(proc)
    assert ended.returncode == 1, ended.stderr[-2000:]
    outcome = full_disk_outcome(ended.stderr)
    assert not temps(disk), "a temporary file survived the full disk"
    check(archive, [source], final=False, context="archive filled mid-ingest")
    rows = len(read_rows(archive))
    filler.unlink()
    check.rerun(source, archive, "re-run after freeing space")
    figures.notes.append(f"{rows} of {len(source.photos)} catalogued; {outcome}")


@pytest.mark.fault(5, "archive on a small tmpfs that fills mid-ingest")
def test_archive_stays_full_clear_error_then_rerun(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmpfs: Tmpfs,
    fault_seed: int,
    check: Checker,
) -> None:
    """Another writer keeps the disk full to the end: even the catalogue cannot be written."""
    source, disk, archive, proc = copying_onto_small_disk(
        cli, fat_card, samples_dir, tmpfs, fault_seed + 51
    )
    filler = keep_full(disk)
    try:
        ended = finish(proc)
    finally:
        stop_group(filler)
    assert ended.returncode == 1, ended.stderr[-2000:]
    full_disk_outcome(ended.stderr)
    assert not temps(disk), "a temporary file survived the full disk"
    for leftover in disk.glob("fill*"):
        leftover.unlink()
    check(archive, [source], final=False, context="archive kept full to the end")
    check.rerun(source, archive, "re-run after the disk was freed")


@pytest.mark.fault(5, "archive on a small tmpfs that fills mid-ingest")
def test_archive_full_at_the_manifest_write(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmpfs: Tmpfs,
    fault_seed: int,
    check: Checker,
) -> None:
    """The copies and rows made it; the manifest does not fit: a message, then a repair."""
    card, source = photo_card(
        fat_card, samples_dir, 8, fault_seed + 52, (100_000, 300_000), patient=PATIENT
    )
    disk = tmpfs("small", 32)
    archive = disk / "archive"
    args = ("ingest", card, "--id", PATIENT, "--archive", archive)
    done = injected(cli, "fill-before-manifest", *args)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "Cannot write the manifest" in done.stderr and "No space left" in done.stderr
    assert not temps(disk)
    (archive / "filler.bin").unlink()
    check(archive, [source], final=False, context="manifest did not fit")
    again = cli.run(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    findings = check(archive, [source], context="re-run after the manifest did not fit")
    assert findings.archived == findings.manifest_lines == len(source.photos)


@pytest.mark.fault(6, "archive read-only: clear error, nothing changed")
@pytest.mark.parametrize("archive_state", ["new", "existing"])
def test_readonly_archive_changes_nothing(
    archive_state: str,
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmpfs: Tmpfs,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
) -> None:
    card, source = photo_card(
        fat_card, samples_dir, 12, fault_seed + 60, (100_000, 400_000), patient=PATIENT
    )
    disk = tmpfs("archive-disk", 64)
    archive = disk / "archive"
    if archive_state == "existing":
        id_map = tmp_path / "map.csv"
        id_map.write_text(f"files,id\n100CANON/IMG_0001-100CANON/IMG_0004,{PATIENT}\n")
        first = cli.run("ingest", card, "--map", id_map, "--archive", archive)
        assert first.returncode == 3, first.stderr
    before = snapshot(disk)
    remount(disk, "ro")
    done = cli.run("ingest", card, "--id", PATIENT, "--archive", archive)
    assert done.returncode == 1, done.stderr
    assert "Read-only file system" in done.stderr and str(archive) in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(disk) == before
    remount(disk, "rw")
    check.rerun(source, archive, f"{archive_state} archive, writable again")


@pytest.mark.fault(7, "two ingests into one archive at once")
@pytest.mark.parametrize("cards", ["same card", "two cards"])
def test_two_ingests_at_once(
    cards: str,
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    card_a, source_a = photo_card(
        fat_card, samples_dir, 40, fault_seed + 70, label="CARD_A", patient=PATIENT
    )
    runs = [(card_a, PATIENT)]
    sources = [source_a]
    if cards == "two cards":
        card_b, source_b = photo_card(
            fat_card, samples_dir, 40, fault_seed + 71, label="CARD_B", patient=OTHER_PATIENT
        )
        runs.append((card_b, OTHER_PATIENT))
        sources.append(source_b)
    else:
        runs.append((card_a, PATIENT))
    archive = tmp_path / "archive"
    lock = archive / ".cardingest" / "lock"
    first = cli.start("ingest", runs[0][0], "--id", runs[0][1], "--archive", archive)
    assert wait_for(lock.exists, 60), "the first ingest never took the lock"
    second = cli.start("ingest", runs[1][0], "--id", runs[1][1], "--archive", archive)
    outcomes = [finish(first), finish(second)]
    for ended in outcomes:
        assert ended.returncode in (0, 1), ended.stderr[-2000:]
        if ended.returncode == 1:
            assert "Another cardingest" in ended.stderr, ended.stderr[-2000:]
    assert outcomes[0].returncode == 0, "the ingest holding the lock must finish"
    check(archive, sources, final=False, context=f"{cards}: two ingests at once")
    for card, patient in runs:
        done = cli.run("ingest", card, "--id", patient, "--archive", archive)
        assert done.returncode == 0, done.stderr
    findings = check(archive, sources, context=f"{cards}: after both ran again")
    assert findings.archived == sum(len(s.photos) for s in sources)
    verdict = "refused" if outcomes[1].returncode else "waited for the lock"
    figures.notes.append(f"{cards}: the second ingest {verdict}")


@pytest.mark.fault(8, "a backup destination that fails: no row, exit 1, wipe keeps it")
def test_unwritable_backup_archives_nothing(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmpfs: Tmpfs,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
) -> None:
    card, source = photo_card(
        fat_card, samples_dir, 12, fault_seed + 80, (100_000, 400_000), patient=PATIENT
    )
    archive = tmp_path / "archive"
    disk = tmpfs("nas", 32)
    backup = disk / "backup"
    remount(disk, "ro")
    args = ("ingest", card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    done = cli.run(*args)
    assert done.returncode == 1, done.stderr
    assert "Cannot write to" in done.stderr and str(backup) in done.stderr
    assert not read_rows(archive) and not published(archive)
    code, _items, stderr = wipe(cli, card, archive)
    assert code == 2 and "nothing can be removed" in stderr, stderr
    findings = check(archive, [source], context="backup unwritable")
    assert findings.on_card == len(source.photos)
    remount(disk, "rw")
    assert cli.run(*args).returncode == 0
    code, _items, stderr = wipe(cli, card, archive)
    assert code == 0, stderr
    findings = check(archive, [source], backup=backup, context="backup writable again, wiped")
    assert (findings.on_card, findings.archived) == (0, len(source.photos))


@pytest.mark.fault(8, "a backup destination that fails: no row, exit 1, wipe keeps it")
def test_backup_fills_mid_ingest_wipe_keeps_unbacked(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmpfs: Tmpfs,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    card, source = photo_card(fat_card, samples_dir, 20, fault_seed + 81, patient=PATIENT)
    archive = tmp_path / "archive"
    disk = tmpfs("nas", 64)
    backup = disk / "backup"
    args = ("ingest", card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    proc = cli.start(*args)
    assert wait_for(copy_started(backup), 60), "the copy never started"
    filler = fill(disk)
    ended = finish(proc)
    assert ended.returncode == 1, ended.stderr[-2000:]
    outcome = full_disk_outcome(ended.stderr)
    assert not temps(archive, disk)
    rows = read_rows(archive)
    assert len(rows) < len(source.photos)
    assert all(row.backup_path for row in rows)
    code, items, stderr = wipe(cli, card, archive)
    assert code == 3, stderr
    backed = {row.source_path for row in rows}
    assert {s for s, item in items.items() if item["action"] == "remove"} == backed
    check(archive, [source], backup=backup, final=False, context="backup filled, then wipe")
    filler.unlink()
    assert cli.run(*args).returncode == 0
    code, items, stderr = wipe(cli, card, archive)
    assert code == 0, stderr
    findings = check(archive, [source], backup=backup, context="backup freed, re-run, wipe")
    assert findings.on_card == 0
    figures.notes.append(f"{len(rows)} of {len(source.photos)} backed up; {outcome}")


@pytest.mark.fault(8, "a backup destination that fails: no row, exit 1, wipe keeps it")
def test_flipped_byte_in_backup_found_by_verify_and_kept_by_wipe(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
) -> None:
    card, source = photo_card(
        fat_card, samples_dir, 12, fault_seed + 82, (100_000, 400_000), patient=PATIENT
    )
    archive, backup = tmp_path / "archive", tmp_path / "nas" / "backup"
    backup.parent.mkdir()  # the NAS share is mounted; cardingest makes the backup folder
    args = ("ingest", card, "--id", PATIENT, "--archive", archive, "--backup", backup, "--json")
    done = cli.run(*args)
    assert done.returncode == 0, done.stderr
    items = {item["source"]: item for item in json.loads(done.stdout)["items"]}
    victim = sorted(items)[5]
    flip_byte(Path(items[victim]["backup"]), 4321)
    verified = cli.run("verify", "--archive", archive, "--json")
    assert verified.returncode == 1, verified.stderr
    problems = json.loads(verified.stdout)["problems"]
    assert [(p["kind"], p["where"], p["path"]) for p in problems] == [
        ("changed", "backup", items[victim]["backup"])
    ]
    code, wiped, stderr = wipe(cli, card, archive)
    assert code == 3, stderr
    assert wiped[victim]["action"] == "keep" and "backup" in wiped[victim]["reason"]
    assert sum(item["action"] == "remove" for item in wiped.values()) == len(items) - 1
    assert [e["source"] for e in audit_events(archive) if e.get("event") == "wipe-remove"]
    findings = check(
        archive,
        [source],
        backup=backup,
        tampered={items[victim]["backup"]},
        context="backup copy flipped before the wipe",
    )
    assert findings.on_card == 1
