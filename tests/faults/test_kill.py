"""Scenario 1: kill -9 at random moments during ingest (and at chosen code points), re-run.

A calibration ingest of the same card measures when copying begins and how long a whole run
takes. Kill moments are then drawn, stratified, from that run's timeline: 1 in 4 uniformly
over start-up and scan, 3 in 4 uniformly over the copy phase (a re-run after a kill takes
about as long, since it re-verifies what the killed run published). Delays come from one
seeded generator (``CARDINGEST_FAULT_SEED``); the seed, the round and every delay are in the
failure message. Timing on a real machine still varies, so a replay reproduces the same
delays, not necessarily the same instant in the code.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cardimage import CardFactory, require_fat_tools, require_samples

from .checks import Source, photos_of, read_rows
from .conftest import Checker, Figures
from .helpers import (
    PATIENT,
    Cli,
    card_size_mb,
    copy_started,
    finish,
    injected,
    kill_after,
    kill_when,
    make_photos,
    published,
    temps,
    wait_for,
)

KILL_POINTS = 20
MAX_CHAIN = 4
STARTUP_SHARE = 0.25
DONE_WHEN_PHOTOS = 120
DONE_WHEN_KILLS = 6
EARLY_SHARE = 0.6
MAX_CHAINS = 5


@dataclass(frozen=True)
class Calibration:
    """A clean ingest of the card: when its first copy began, how long it took, the names."""

    first_copy: float
    seconds: float
    targets: dict[str, str]

    def startup(self, rng: random.Random) -> float:
        return rng.uniform(0.0, self.first_copy)

    def copying(self, rng: random.Random) -> float:
        return rng.uniform(self.first_copy, self.seconds)

    def any_moment(self, rng: random.Random) -> float:
        """Stratified: 1 in 4 during start-up and scan, 3 in 4 while copying."""
        return self.startup(rng) if rng.random() < STARTUP_SHARE else self.copying(rng)


def calibrate(cli: Cli, card: Path, archive: Path) -> Calibration:
    started = time.monotonic()
    proc = cli.start("ingest", card, "--id", PATIENT, "--archive", archive, "--json")
    assert wait_for(copy_started(archive), 120), "the calibration ingest never copied"
    first_copy = time.monotonic() - started
    done = finish(proc)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)["items"]
    return Calibration(first_copy, seconds, {item["source"]: item["target"] for item in items})


def catalogued_targets(archive: Path) -> dict[str, str]:
    return {row.source_path: row.archive_path for row in read_rows(archive)}


def phase(archive: Path, before: int, total: int) -> str:
    """Where a kill landed, judged from what it left behind."""
    now = len(published(archive))
    if temps(archive) or before < now < total:
        return "mid-copy"
    if now == total and before < total:
        return "after the last copy"
    return "before the first copy"


def ingest_args(card: Path, archive: Path) -> tuple[object, ...]:
    return ("ingest", card, "--id", PATIENT, "--archive", archive, "--json")


@pytest.mark.fault(1, "kill -9 at random moments during ingest, then re-run")
def test_kill9_at_random_moments_then_rerun(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    files = make_photos(samples_dir, 40, seed=fault_seed, min_size=1_000_000, max_size=2_000_000)
    card = fat_card(files, size_mb=card_size_mb(files))
    source = Source(card, photos_of(files, PATIENT))
    reference = calibrate(cli, card, tmp_path / "reference")
    rng = random.Random(fault_seed)
    round_number = 0
    while figures.kill_points < KILL_POINTS:
        round_number += 1
        assert round_number <= 4 * KILL_POINTS, "kills keep missing the ingest"
        archive = tmp_path / f"archive-{round_number}"
        history: list[str] = []
        for _ in range(rng.randint(1, MAX_CHAIN)):
            before = len(published(archive))
            delay = reference.any_moment(rng)
            ended = kill_after(cli.start(*ingest_args(card, archive)), delay)
            context = f"round {round_number}, kill after {delay:.3f} s, history {history}"
            if not ended.killed:
                assert ended.returncode == 0, f"{context}: {ended.stderr[-2000:]}"
                history.append(f"{delay:.3f}s: finished first")
                continue
            where = phase(archive, before, len(files))
            figures.killed(where)
            history.append(f"{delay:.3f}s: {where}")
            check(archive, [source], final=False, context=f"right after the kill: {context}")
        done = cli.run(*ingest_args(card, archive))
        context = f"final re-run of round {round_number} (kills: {history})"
        assert done.returncode == 0, f"{context}: {done.stderr[-2000:]}"
        check(archive, [source], context=context)
        assert catalogued_targets(archive) == reference.targets, context
    figures.notes.append(
        f"{round_number} rounds; copying began at {reference.first_copy:.2f} s of "
        f"{reference.seconds:.2f} s; kill phases {dict(figures.kill_phases)}"
    )


@pytest.mark.fault("1b", "done-when: 120 photos of ~2 MB, kill -9 six times, run once more")
def test_done_when_120_photos_six_kills(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    """Six kills, each while photos are still to be copied, then one run that completes.

    Each kill comes while the run is copying, before it has published 60 % of the photos
    left, so every kill finds work left. Should a run still finish before its kill, the chain
    starts again on a fresh archive: the end is always six kills, then one run.
    """
    count = DONE_WHEN_PHOTOS
    files = make_photos(
        samples_dir, count, seed=fault_seed + 1, min_size=1_900_000, max_size=2_100_000
    )
    assert len(set(files.values())) == count
    card = fat_card(files, size_mb=card_size_mb(files))
    source = Source(card, photos_of(files, PATIENT))
    reference = calibrate(cli, card, tmp_path / "reference")
    rng = random.Random(fault_seed + 1)
    for chain in range(1, MAX_CHAINS + 1):
        archive = tmp_path / f"archive-{chain}"
        history = kill_six_times(cli, card, archive, reference, rng, check, source)
        if history is not None:
            break
    else:
        raise AssertionError(f"{MAX_CHAINS} chains finished before their sixth kill")
    for entry in history:
        figures.killed(entry.split(": ")[1].split(",")[0])
    done = cli.run(*ingest_args(card, archive))
    context = f"the run after the kills {history} (chain {chain})"
    assert done.returncode == 0, f"{context}: {done.stderr[-2000:]}"
    summary = json.loads(done.stdout)["summary"]
    assert summary["failed"] == 0 and summary["copied"] + summary["skipped"] == count, context
    findings = check(archive, [source], context=context)
    assert findings.archived == count and findings.rows == count == findings.files, context
    assert catalogued_targets(archive) == reference.targets, context
    figures.notes.append(
        f"copying began at {reference.first_copy:.2f} s of {reference.seconds:.2f} s; "
        f"chain {chain}; kills {history}; the last run copied {summary['copied']}"
    )


def kill_six_times(
    cli: Cli,
    card: Path,
    archive: Path,
    reference: Calibration,
    rng: random.Random,
    check: Checker,
    source: Source,
) -> list[str] | None:
    """The kill history, or None if a run finished before its kill (start a new chain).

    Each kill waits for the run to start a copy of its own (a temporary file the dead run did
    not leave) and to publish a random number of new photos, at most 60 % of those left, then
    comes a random part of one photo's copy time later.
    """
    count = len(source.photos)
    per_photo = (reference.seconds - reference.first_copy) / count
    folder = archive / PATIENT
    history: list[str] = []
    while len(history) < DONE_WHEN_KILLS:
        before = len(published(archive))
        stale = set(temps(folder))
        target = before + rng.randint(0, int(EARLY_SHARE * (count - before)))
        extra = rng.uniform(0.0, per_photo)

        def ready(target: int = target, stale: set[Path] = stale) -> bool:
            copying = bool(set(temps(folder)) - stale)
            return copying and len(published(archive)) >= target

        ended = kill_when(cli.start(*ingest_args(card, archive)), ready, extra)
        if not ended.killed:
            assert ended.returncode == 0, ended.stderr[-2000:]
            return None
        rows = len(read_rows(archive))
        where = phase(archive, before, count)
        history.append(f"{target - before} new +{extra:.3f}s: {where}, {rows} rows")
        check(archive, [source], final=False, context=f"after kill {len(history)}: {history}")
    return history


TARGETED = (
    ("after-lock", "right after the archive lock is taken"),
    ("after-link", "right after the first photo is hard-linked, before its temp is removed"),
    ("before-rows", "after the copies verified, as their catalogue rows are written"),
    ("manifest", "inside the manifest write, before its rename"),
    ("finish", "after the manifest, as the ingest is marked finished"),
    ("audit-line", "after the audit line is written, before audit.head"),
    ("audit-head", "inside the audit.head write, before its rename"),
    ("xmp", "inside the first XMP sidecar write, before its rename"),
)


@dataclass(frozen=True)
class MappedCard:
    """A card, an ID map with keywords (so XMP sidecars are written) and the clean result."""

    source: Source
    id_map: Path
    targets: dict[str, str]


@pytest.fixture(scope="module")
def mapped_card(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory, fault_seed: int
) -> Iterator[MappedCard]:
    require_fat_tools()
    folder = tmp_path_factory.mktemp("mapped")
    files = make_photos(
        require_samples(), 12, seed=fault_seed + 2, min_size=300_000, max_size=900_000
    )
    factory = CardFactory(folder / "cards", "fat32")
    try:
        card = factory(files, size_mb=card_size_mb(files))
        id_map = folder / "map.csv"
        id_map.write_text(
            "files,id,diagnosis,site\n"
            f"100CANON/IMG_0001-100CANON/IMG_0006,{PATIENT},melanoma;naevus,left forearm\n"
            f"101CANON/IMG_0007-101CANON/IMG_0012,{PATIENT},psoriasis,\n"
        )
        args = ("ingest", card, "--map", id_map, "--archive", folder / "reference", "--json")
        reference = cli.run(*args)
        assert reference.returncode == 0, reference.stderr
        items = json.loads(reference.stdout)["items"]
        targets = {item["source"]: item["target"] for item in items}
        yield MappedCard(Source(card, photos_of(files, PATIENT)), id_map, targets)
    finally:
        factory.close()


@pytest.mark.fault("1c", "kill -9 at chosen code points (injected), then re-run")
@pytest.mark.parametrize("point", [name for name, _ in TARGETED])
def test_kill9_at_code_point_then_rerun(
    point: str,
    cli: Cli,
    mapped_card: MappedCard,
    tmp_path: Path,
    check: Checker,
    figures: Figures,
) -> None:
    source = mapped_card.source
    archive = tmp_path / "archive"
    args = ("ingest", source.root, "--map", mapped_card.id_map, "--archive", archive, "--json")
    killed = injected(cli, point, *args)
    assert killed.returncode == -signal.SIGKILL, f"{point} never reached: {killed.stderr[-2000:]}"
    figures.killed(point)
    check(archive, [source], final=False, context=f"killed at {point}")
    audited = cli.run("audit", "--archive", archive)  # a run stopped: no lines were removed
    assert audited.returncode == 0, f"killed at {point}: {audited.stderr[-2000:]}"
    done = cli.run(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    check(archive, [source], context=f"re-run after a kill at {point}")
    assert catalogued_targets(archive) == mapped_card.targets
    sidecars = sorted(p.name for p in archive.rglob("*.xmp"))
    assert len(sidecars) == len(source.photos), sidecars


@pytest.mark.fault("1c", "kill -9 as a photo takes its name on an archive without hard links")
def test_kill9_as_a_photo_takes_its_name_on_an_exfat_archive_then_rerun(
    cli: Cli,
    mapped_card: MappedCard,
    exfat_card: CardFactory,
    check: Checker,
    figures: Figures,
) -> None:
    """exFAT has no hard links: a photo's name is taken with an empty file, then the verified
    copy renamed onto it. Killed in between, the run leaves that empty file under the name;
    the re-run removes it and files the photo there, as the run without a kill did."""
    source = mapped_card.source
    archive = exfat_card({}, size_mb=64) / "archive"
    args = ("ingest", source.root, "--map", mapped_card.id_map, "--archive", archive, "--json")
    killed = injected(cli, "publish-rename", *args)
    assert killed.returncode == -signal.SIGKILL, f"never reached: {killed.stderr[-2000:]}"
    figures.killed("publish-rename")
    [empty] = [p for p in archive.rglob("*.jpg") if p.stat().st_size == 0]
    check(archive, [source], final=False, context="killed as a photo took its name")
    done = cli.run(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert empty.stat().st_size > 0
    check(archive, [source], context="re-run after a kill as a photo took its name")
    assert catalogued_targets(archive) == mapped_card.targets


@pytest.mark.fault("1c", "kill -9 as a photo is renamed to its name without hard links")
def test_kill9_as_a_photo_is_renamed_to_its_name_without_hard_links_leaves_no_empty_file(
    cli: Cli, mapped_card: MappedCard, tmp_path: Path, check: Checker, figures: Figures
) -> None:
    """FAT and exFAT in Linux's own drivers have no hard links, but can rename a file
    without replacing another: the verified copy takes its name in that one step, so a kill
    there leaves the name free, never an empty file under it (as the exclusive create
    before the rename did, and still does on fusefat and exfat-fuse). Played on this disk
    with every link refused, the re-run too, which files every photo under its own name."""
    source = mapped_card.source
    archive = tmp_path / "archive"
    args = ("ingest", source.root, "--map", mapped_card.id_map, "--archive", archive, "--json")
    killed = injected(cli, "nolinks-publish-rename", *args)
    assert killed.returncode == -signal.SIGKILL, f"never reached: {killed.stderr[-2000:]}"
    figures.killed("nolinks-publish-rename")
    assert [p for p in archive.rglob("*.jpg") if p.stat().st_size == 0] == []
    check(archive, [source], final=False, context="killed as a photo was renamed to its name")
    done = injected(cli, "no-links", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    check(archive, [source], context="re-run after a kill as a photo was renamed to its name")
    assert catalogued_targets(archive) == mapped_card.targets
