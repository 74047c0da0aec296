"""slates: what reading slates costs, and whether it finds them.

Input: a card of 100 camera JPEGs of 12 MP (4000x3000, real sample photos scaled up, ~2-3 MB
each) of which 10 are slates: a label whose code is 12% of the frame's width, rotated up to
20 degrees, slightly out of focus (Gaussian blur), with noise, JPEG quality 80 (QR, Data
Matrix and Aztec codes; tests/slate_photos.py makes them).
Baseline: ``cardingest preview CARD --id JBX3656 --json``.
Contender: ``cardingest preview CARD --slates --json``.
Target: at most 60 ms per photo more than the baseline, and all 10 slates found (an untimed
check run reads the JSON). Warm page cache for both, as in the preview case.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from .common import (
    NHI,
    Contender,
    Options,
    Skip,
    Table,
    cardingest_env,
    log,
    measure,
    workdir,
)

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / "shared" / "samples" / "real"
BACKGROUNDS = ("42_IndexError.jpg", "22-canon_tags.jpg", "35-empty.jpg", "33-type_error.jpg")
IDS = ("JBX3656", "MCJ1984", "EPT6335", "CGC2720", "ACA31FM", "ASE37QK", "BGJ06AS")
KINDS = (
    "qr",
    "datamatrix",
    "aztec",
    "qr",
    "datamatrix",
    "qr",
    "aztec",
    "datamatrix",
    "qr",
    "datamatrix",
)
"""2D codes, as on printed slates and GS1 wristbands; linear codes need more of the frame
(README, "Patient slates"; tests/test_slates.py checks those limits)."""
SIZE = (4000, 3000)
PHOTOS = 100
EVERY = PHOTOS // len(KINDS)
PER_PHOTO_MS = 60.0
FIRST = datetime(2026, 11, 25, 9, 0, 0)
PLACEHOLDER = datetime(2000, 1, 1, 0, 0, 0)


def _slate_photos():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(REPO / "tests"))
    import slate_photos

    return slate_photos


def make_card(root: Path) -> dict[str, str]:
    """The card; returns each slate's card path and the ID it carries."""
    maker = _slate_photos()
    from PIL import Image

    folder = root / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    plain: dict[str, bytes] = {}
    for name in BACKGROUNDS:
        with Image.open(SAMPLES / name) as source:
            exif = source.getexif()
            image = source.convert("RGB").resize(SIZE, Image.Resampling.BILINEAR)
        # The real camera's EXIF with a placeholder time, patched per photo below.
        plain[name] = maker.with_time(image, exif, PLACEHOLDER, 90)
    slates: dict[str, str] = {}
    stamp_of = PLACEHOLDER.strftime("%Y:%m:%d %H:%M:%S").encode()
    for index in range(PHOTOS):
        when = FIRST + timedelta(seconds=40 * index)
        background = SAMPLES / BACKGROUNDS[index % len(BACKGROUNDS)]
        path = f"DCIM/100CANON/IMG_{index + 1:04d}.JPG"
        if index % EVERY == 0:
            n = index // EVERY
            patient = IDS[n % len(IDS)]
            data = maker.slate_photo(
                background,
                patient,
                KINDS[n],
                when,
                fraction=0.12,
                angle=(-20, -12, -5, 0, 7, 14, 20, -17, 10, 3)[n],
                keystone=0.05,
                blur=1.5,
                noise=6.0,
                quality=80,
                size=SIZE,
                seed=n,
            )
            slates[path] = patient
        else:
            stamp = when.strftime("%Y:%m:%d %H:%M:%S").encode()
            data = plain[background.name].replace(stamp_of, stamp)
        (root / path).write_bytes(data)
    return slates


def check(command: list[str], env: dict[str, str], slates: dict[str, str]) -> str:
    """Untimed: which slates the preview found, with the right ID."""
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode not in (0, 3):
        raise RuntimeError(f"preview --slates exited {out.returncode}: {out.stderr[-2000:]}")
    items = {item["source"]: item for item in json.loads(out.stdout)["items"]}
    found = [
        p for p, pid in slates.items() if items[p]["role"] == "slate" and items[p]["id"] == pid
    ]
    missed = sorted(set(slates) - set(found))
    # Capture order is card order here: a photo belongs to the last slate before it.
    wrong = [
        p
        for p, item in items.items()
        if item["id"] and item["id"] != slates[max(s for s in slates if s <= p)]
    ]
    text = f"slates found: {len(found)}/{len(slates)}"
    if missed:
        text += " (missed: " + ", ".join(missed) + ")"
    return text + f"; photos under a wrong ID: {len(wrong)}"


def cpu_seconds(command: list[str], env: dict[str, str], repeat: int) -> float:
    """Median CPU time (user + system, all threads) of ``repeat`` runs: unlike the wall
    time, this barely changes when other processes compete for the cores."""
    samples = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(command, env=env, capture_output=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        samples.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(samples)


def run(options: Options, cardingest: str) -> list[Table | str]:
    if not SAMPLES.is_dir():
        raise Skip(f"camera samples not found at {SAMPLES}")
    with workdir("slates") as tmp:
        log(f"slates: making {PHOTOS} JPEGs of {SIZE[0]}x{SIZE[1]} with {len(KINDS)} slates")
        card = tmp / "card"
        slates = make_card(card)
        env = cardingest_env(tmp)
        archive = str(tmp / "archive")
        by_id = [cardingest, "preview", str(card), "--id", NHI, "--archive", archive, "--json"]
        by_slates = [cardingest, "preview", str(card), "--slates", "--archive", archive, "--json"]
        found = check(by_slates, env, slates)  # also warms the page cache
        contenders = [
            Contender("preview --id", by_id, baseline=True, env=env),
            Contender("preview --slates", by_slates, env=env, ok=(0, 3)),
        ]
        table = measure(
            f"slates: {PHOTOS} JPEGs of 12 MP, {len(slates)} slates",
            contenders,
            repeat=options.repeat,
            logs=tmp / "logs",
            cold=False,
            note="warm page cache; target: <= 60 ms per photo more than preview --id",
        )
        cpu_id = cpu_seconds(by_id, env, options.repeat)
        cpu_slates = cpu_seconds(by_slates, env, options.repeat)
    extra = (table.find("preview --slates").median - table.find(None).median) / PHOTOS * 1000
    verdict = "PASS" if extra <= PER_PHOTO_MS else "MISS"
    cpu_extra = (cpu_slates - cpu_id) / PHOTOS * 1000
    cores = os.cpu_count() or 1
    summary = (
        f"== slates: {extra:.0f} ms per photo more than preview --id, wall time "
        f"(target <= {PER_PHOTO_MS:.0f} ms): {verdict}; {found}\n"
        f"   CPU time: {cpu_extra:.0f} ms per photo more (all threads); on {cores} idle "
        f"core(s) that is about {cpu_extra / cores:.0f} ms of wall time per photo"
    )
    return [table, summary]
