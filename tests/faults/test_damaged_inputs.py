"""Scenario 11: over 1,000 damaged files made from the real samples, through scan and ingest.

They go in a few large folders (one per kind of damage), each run through the real CLI:
``preview --json`` (the scan) and ``ingest FOLDER --id … --json``, under a timeout. Every item
is checked: a capture time from EXIF only where that date is literally in the file, else the
file's modification time with a warning naming the file; every readable file archived
byte-identical; zero-byte files held with "empty file (0 bytes)".
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

import pytest

from .checks import Source, photos_of
from .conftest import Checker, Figures
from .damage import damaged_inputs
from .helpers import PATIENT, Cli, sha256, sha256_file

MIN_INPUTS = 1000
TIMEOUT = 300
MTIME_BASE = datetime(2024, 2, 3, 4, 5, 6).timestamp()
TIME_SOURCES = {"exif:DateTimeOriginal", "exif:DateTimeDigitized", "exif:DateTime", "mtime"}


def write_folders(root: Path, samples: Path, seed: int) -> dict[str, dict[str, bytes]]:
    """One folder per kind of damage; files have distinct names and known mtimes."""
    real = {
        p.name: p.read_bytes()
        for p in sorted((samples / "real").iterdir())
        if p.suffix.lower() in (".jpg", ".jpeg")
    }
    folders: dict[str, dict[str, bytes]] = {}
    number = 0
    for kind, inputs in damaged_inputs(real, seed).items():
        folder = root / kind
        folder.mkdir(parents=True)
        files: dict[str, bytes] = {}
        for data in inputs:
            number += 1
            name = f"{kind}-{number:05d}.jpg"
            (folder / name).write_bytes(data)
            stamp = MTIME_BASE + 61 * number
            os.utime(folder / name, (stamp, stamp))
            files[name] = data
        folders[kind] = files
    return folders


def date_pattern(captured: str) -> re.Pattern[bytes]:
    """The EXIF spelling of an ISO time, with the separators cardingest accepts."""
    day, _t, clock = captured.partition("T")
    year, month, date = day.split("-")
    return re.compile(rf"{year}[:\-/]{month}[:\-/]{date}[ T]{clock}".encode())


def check_item(item: dict[str, object], data: bytes, mtime: float, warned: set[str]) -> None:
    source = str(item["source"])
    assert item["time_source"] in TIME_SOURCES, item
    captured = str(item["captured_at"])
    datetime.fromisoformat(captured)
    if item["time_source"] == "mtime":
        assert captured == datetime.fromtimestamp(mtime).replace(microsecond=0).isoformat(), item
        assert source in warned, f"{source}: mtime fallback without a warning"
    else:
        assert date_pattern(captured).search(data), f"{source}: {captured} is not in the file"
    if not data:
        assert (item["action"], item["reason"], item["target"]) == (
            "hold",
            "empty file (0 bytes)",
            None,
        ), item
    else:
        assert item["action"] == "copy" and item["sha256"] == sha256(data), item


@pytest.mark.fault(11, "1,000+ damaged inputs: no crash, no hang, fallback time + warning")
def test_damaged_inputs_scan_and_ingest(
    cli: Cli,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    folders = write_folders(tmp_path / "inputs", samples_dir, fault_seed)
    total = sum(len(files) for files in folders.values())
    assert total >= MIN_INPUTS
    archive = tmp_path / "archive"
    sources = []
    for kind, files in folders.items():
        folder = tmp_path / "inputs" / kind
        args = ("--id", PATIENT, "--archive", archive, "--json")
        preview = cli.run("preview", folder, *args, timeout=TIMEOUT)
        done = cli.run("ingest", folder, *args, timeout=TIMEOUT)
        held = any(not data for data in files.values())
        for run in (preview, done):
            assert "Traceback" not in run.stderr, run.stderr[-3000:]
            assert run.returncode == (3 if held else 0), f"{kind}: {run.stderr[-2000:]}"
        document = json.loads(done.stdout)
        planned = {item["source"]: item for item in json.loads(preview.stdout)["items"]}
        warned = {w.partition(":")[0] for w in document["warnings"]}
        items = {item["source"]: item for item in document["items"]}
        assert set(items) == set(files) == set(planned), kind
        for name, data in files.items():
            item = items[name]
            check_item(item, data, (folder / name).stat().st_mtime, warned)
            for key in ("captured_at", "time_source"):
                assert planned[name][key] == item[key], (name, key)
            if item["target"]:
                assert sha256_file(archive / str(item["target"])) == sha256(data), name
        sources.append(Source(folder, photos_of(files, PATIENT)))
        figures.notes.append(
            f"{kind}: {len(files)} files, "
            f"{sum(i['time_source'] == 'mtime' for i in items.values())} fell back to mtime"
        )
    figures.damaged_inputs = total
    findings = check(archive, sources, context="after ingesting every damaged folder")
    assert findings.archived == total - sum(
        1 for f in folders.values() for d in f.values() if not d
    )
