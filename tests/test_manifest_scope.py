"""Each ingest's manifest lists that ingest's copies and nothing else, in the archive and in
the backup, and GNU ``sha256sum -c`` (the independent checker) accepts both.

Plain folders as sources, so this runs in a second; the fault scenarios check the same after
kills, much more slowly.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cardimage import require
from typer.testing import CliRunner

from cardingest.cli.app import app
from cardingest.errors import EXIT_OK

runner = CliRunner()


def jpegs(samples_dir: Path) -> list[Path]:
    by_size: dict[int, Path] = {}
    for path in sorted((samples_dir / "real").iterdir()):
        if path.suffix.lower() in (".jpg", ".jpeg"):
            by_size.setdefault(path.stat().st_size, path)
    return [by_size[size] for size in sorted(by_size)]


def folder(root: Path, photos: dict[str, Path]) -> Path:
    for relpath, sample in photos.items():
        target = root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample, target)
    return root


def ingest(source: Path, patient: str, archive: Path, backup: Path) -> dict[str, Any]:
    result = runner.invoke(
        app,
        [
            "ingest",
            str(source),
            "--id",
            patient,
            "--archive",
            str(archive),
            "--backup",
            str(backup),
            "--json",
        ],
    )
    assert result.exit_code == EXIT_OK, result.output
    return json.loads(result.stdout)


def manifest_lines(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(line[:64], line[66:]) for line in lines]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def two_ingests(samples_dir: Path, tmp_path: Path) -> tuple[Path, Path, list[dict[str, Any]]]:
    a, b, c, d = jpegs(samples_dir)[:4]
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    first = folder(
        tmp_path / "card1", {"DCIM/100CANON/IMG_0001.JPG": a, "DCIM/100CANON/IMG_0002.JPG": b}
    )
    second = folder(
        tmp_path / "card2", {"DCIM/100CANON/IMG_0003.JPG": c, "DCIM/100CANON/IMG_0004.JPG": d}
    )
    documents = [
        ingest(first, "JBX3656", archive, backup),
        ingest(second, "MCJ1984", archive, backup),
    ]
    return archive, backup, documents


def test_each_manifest_lists_its_own_ingest_only(
    two_ingests: tuple[Path, Path, list[dict[str, Any]]], samples_dir: Path
) -> None:
    archive, backup, documents = two_ingests
    a, b, c, d = jpegs(samples_dir)[:4]
    expected = [
        {"JBX3656": sorted([sha(a), sha(b)])},
        {"MCJ1984": sorted([sha(c), sha(d)])},
    ]
    for document, want in zip(documents, expected, strict=True):
        ingest_id = document["ingest_id"]
        for root in (archive, backup):
            path = root / ".cardingest" / "manifests" / f"{ingest_id}.sha256"
            lines = manifest_lines(path)
            folders = {relpath.split("/")[0] for _, relpath in lines}
            assert folders == set(want), (root, lines)
            assert sorted(digest for digest, _ in lines) == next(iter(want.values()))
            for digest, relpath in lines:
                assert sha(root / relpath) == digest
        summary = document["summary"]
        assert summary["manifest"] == str(archive / ".cardingest/manifests" / f"{ingest_id}.sha256")
        assert summary["backup_manifest"] == str(
            backup / ".cardingest/manifests" / f"{ingest_id}.sha256"
        )
    names = sorted(p.name for p in (backup / ".cardingest" / "manifests").iterdir())
    assert names == sorted(f"{d['ingest_id']}.sha256" for d in documents)


def test_sha256sum_accepts_every_manifest_in_archive_and_backup(
    two_ingests: tuple[Path, Path, list[dict[str, Any]]],
) -> None:
    require(shutil.which("sha256sum") is not None, "sha256sum (GNU coreutils) missing")
    archive, backup, documents = two_ingests
    for root in (archive, backup):
        for document in documents:
            manifest = f".cardingest/manifests/{document['ingest_id']}.sha256"
            done = subprocess.run(
                ["sha256sum", "--strict", "-c", manifest],
                cwd=root,
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert done.stdout.count(": OK") == 2
