"""Scenarios 2 and 3: Ctrl-C mid-copy, and the card pulled or unmounted mid-copy."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from cardimage import CardFactory
from terminal import operator_signals, paused_at

from .checks import Source, audit_events, photos_of, read_rows
from .conftest import Checker, Figures
from .helpers import (
    PATIENT,
    STARTED,
    Cli,
    card_size_mb,
    copy_started,
    finish,
    make_photos,
    published,
    temps,
    wait_for,
)

PHOTOS = 40


def card_of_photos(
    fat_card: CardFactory, samples_dir: Path, seed: int
) -> tuple[Path, dict[str, bytes]]:
    files = make_photos(samples_dir, PHOTOS, seed=seed, min_size=1_000_000, max_size=2_000_000)
    return fat_card(files, size_mb=card_size_mb(files)), files


def stopped_then_rerun(archive: Path, source: Source, check: Checker, what: str) -> None:
    """An ingest stopped as by Ctrl-C: every published photo is catalogued (one that
    finished after one before it in card order was still being copied too: nothing in the
    patient's folder is unknown to the catalogue), its audit event says interrupted, the
    archive is consistent, and the same ingest again files every photo."""
    assert len(published(archive)) == len(read_rows(archive)), (
        "a published photo is not in the catalogue"
    )
    ingests = [e for e in audit_events(archive) if e.get("event") == "ingest"]
    assert ingests and ingests[-1]["status"] == "interrupted"
    check(archive, [source], final=False, context=f"after {what}")
    check.rerun(source, archive, f"re-run after {what}")


@pytest.mark.fault(2, "Ctrl-C (SIGINT) mid-copy, then re-run")
@pytest.mark.parametrize("moment", ["first file", "half way"])
def test_sigint_mid_copy_then_rerun(
    moment: str,
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    card, files = card_of_photos(fat_card, samples_dir, fault_seed + 20)
    source = Source(card, photos_of(files, PATIENT))
    archive = tmp_path / "archive"
    proc = cli.start("ingest", card, "--id", PATIENT, "--archive", archive)
    if moment == "first file":
        reached = wait_for(copy_started(archive), 60)
    else:
        reached = wait_for(lambda: len(published(archive)) >= PHOTOS // 2, 60)
    assert reached, f"the copy never reached the {moment}"
    os.kill(proc.pid, signal.SIGINT)
    ended = finish(proc)
    assert ended.returncode == 130, ended.stderr[-2000:]
    assert "Interrupted" in ended.stderr and re.search(r"run .*again", ended.stderr)
    assert not temps(archive), "a temporary file survived Ctrl-C"
    rows = len(read_rows(archive))
    assert rows < PHOTOS, "the ingest finished before Ctrl-C arrived"
    stopped_then_rerun(archive, source, check, f"Ctrl-C at the {moment}")
    figures.notes.append(f"Ctrl-C at the {moment}: {rows} of {PHOTOS} catalogued by then")


@pytest.mark.fault("2b", "SIGTERM or SIGHUP mid-copy (as Ctrl-C), then re-run")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_mid_copy_is_ctrl_c_then_rerun(
    sig: signal.Signals,
    cli: Cli,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    """``timeout``, systemd and a closed terminal stop a run with SIGTERM or SIGHUP: it ends
    as after Ctrl-C (exit 130, one JSON document saying so and what was done, no temporary,
    the lock released), not killed outright. The signal lands while the main thread waits at
    a hook after the first photo is settled, the copy workers still at the photos after it."""
    files = make_photos(samples_dir, 24, seed=fault_seed + 25, min_size=300_000, max_size=600_000)
    card = tmp_path / "card"
    for name, data in files.items():
        (card / name).parent.mkdir(parents=True, exist_ok=True)
        (card / name).write_bytes(data)
    source = Source(card, photos_of(files, PATIENT))
    archive = tmp_path / "archive"
    args = ("ingest", card, "--id", PATIENT, "--archive", archive, "--json")
    proc = paused_at(
        "ingest-file-wait",
        *args,
        env=dict(cli.env),
        start_new_session=True,
        preexec_fn=operator_signals,
    )
    STARTED.append(proc)
    proc.send_signal(sig)
    ended = finish(proc)  # stdin closed: the hook's wait ends whether or not the signal did
    assert ended.returncode == 130, ended.stderr[-2000:]
    assert "Traceback" not in ended.stderr
    document = json.loads(ended.stdout)  # one document, nothing else
    assert document["error"]["exit"] == 130
    message = document["error"]["message"]
    assert re.search(r"Interrupted after \d+ of 24 photo\(s\) were copied and verified", message)
    assert re.search(r"run .*again", message)
    assert not temps(archive, card), f"a temporary file survived {sig.name}"
    rows = len(read_rows(archive))
    assert 1 <= rows < len(files), f"{sig.name} came after the ingest finished"
    # The lock was let go: the same ingest again runs, and finishes with every photo filed.
    stopped_then_rerun(archive, source, check, f"{sig.name} mid-copy")
    figures.notes.append(f"{sig.name} after the first photo: {rows} of {len(files)} catalogued")


@pytest.mark.fault(3, "card pulled or unmounted mid-copy, remounted, re-run")
@pytest.mark.parametrize("how", ["pulled", "unmounted"])
def test_card_gone_mid_copy_then_remount_and_rerun(
    how: str,
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    card, files = card_of_photos(fat_card, samples_dir, fault_seed + 30)
    source = Source(card, photos_of(files, PATIENT))
    archive = tmp_path / "archive"
    handle = fat_card.handle(card)
    proc = cli.start("ingest", card, "--id", PATIENT, "--archive", archive, "--json")
    assert wait_for(lambda: len(published(archive)) >= 3, 60), "the copy never started"
    if how == "pulled":
        handle.pull()  # the FUSE driver dies: every read fails (ENOTCONN)
    else:
        handle.unmount(lazy=True)  # fusermount -uz: detached now, open files drain
    ended = finish(proc)
    assert ended.returncode == 1, ended.stderr[-2000:]
    items = json.loads(ended.stdout)["items"]
    failed = [item for item in items if item["action"] == "failed"]
    assert failed and all(item["reason"] for item in failed)
    assert not temps(archive), "a temporary file survived the card going away"
    handle.unmount()
    handle.mount()
    check(archive, [source], final=False, context=f"card {how} mid-copy, remounted")
    check.rerun(source, archive, f"re-run after the card was {how}")
    figures.notes.append(
        f"card {how}: {len(failed)} of {PHOTOS} failed ({failed[0]['reason'][:60]}…)"
    )
