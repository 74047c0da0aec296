"""Helpers for the PostgreSQL tests: camera-like photos, workstations as real processes,
and a checker that reads the archive and the database without cardingest's code."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

INJECT = Path(__file__).with_name("pg_inject.py")


def jpeg(when: datetime, seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small JPEG with EXIF DateTimeOriginal ``when``; ``seed`` makes its pixels unique."""
    from PIL import ExifTags, Image

    image = Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256))
    image.putpixel((seed % size[0], (seed // size[0]) % size[1]), (seed % 256, 0, 255))
    exif = Image.Exif()
    stamp = when.strftime("%Y:%m:%d %H:%M:%S")
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.DateTime] = stamp
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = stamp
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def card_files(count: int, *, start: datetime, seed: int, folder: str = "100TEST_") -> dict:
    """``count`` distinct photos a minute apart, as card paths -> bytes."""
    return {
        f"DCIM/{folder}/IMG_{n + 1:04d}.JPG": jpeg(start + timedelta(minutes=n), seed * 1000 + n)
        for n in range(count)
    }


def write_folder(root: Path, files: dict) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@dataclass(frozen=True)
class Desk:
    """One workstation: its own config file (operator, catalogue URL), run as a process."""

    env: dict[str, str]

    @classmethod
    def make(cls, folder: Path, operator: str, url: str, archive: Path) -> Desk:
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "config.toml"
        config.write_text(
            f'archive = "{archive}"\ncatalogue = "{url}"\noperator = "{operator}"\n',
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARDINGEST_")}
        env.update(
            CARDINGEST_CONFIG=str(config), HOME=str(folder), COLUMNS="200", PYTHONUNBUFFERED="1"
        )
        return cls(env)

    def argv(self, args: tuple[object, ...], point: str | None) -> list[str]:
        head = (
            [sys.executable, str(INJECT), point]
            if point
            else [sys.executable, "-m", "cardingest.cli"]
        )
        return [*head, *(str(a) for a in args)]

    def run(
        self, *args: object, point: str | None = None, extra: dict | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(args, point),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env={**self.env, **(extra or {})},
            timeout=300,
            check=False,
        )

    def start(self, *args: object, point: str | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(args, point),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Findings:
    lost: list[str]
    doubled: list[str]
    stray: list[str]
    rows: int
    files: int
    wrong_patient: list[str]


def check_archive(archive: Path, url: str, cards: dict[str, dict[str, bytes]]) -> Findings:
    """Read the archive folder and the database directly (not through cardingest).

    ``cards``: patient ID -> {card path: bytes} of every photo that must be archived.
    lost: a photo with no catalogued, byte-identical copy; doubled: one content catalogued
    twice for a patient, or two rows for a path; wrong_patient: a copy under another folder.
    """
    archive_id = (archive / ".cardingest" / "archive-id").read_text().strip()
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            f'SELECT patient_id, archive_path, sha256 FROM "a_{archive_id}".files'
        ).fetchall()
    by_sha: dict[tuple[str, str], list[str]] = {}
    paths: dict[str, int] = {}
    for patient, path, sha in rows:
        by_sha.setdefault((patient, sha), []).append(path)
        paths[path] = paths.get(path, 0) + 1
    lost, wrong = [], []
    for patient, files in cards.items():
        for rel, data in files.items():
            sha = hashlib.sha256(data).hexdigest()
            found = by_sha.get((patient, sha), [])
            if not any(sha256_file(archive / p) == sha for p in found if (archive / p).is_file()):
                lost.append(f"{patient}:{rel}")
            if any(not p.startswith(patient + "/") for p in found):
                wrong.append(f"{patient}:{rel}")
    doubled = [f"{k}" for k, v in by_sha.items() if len(v) > 1]
    doubled += [p for p, n in paths.items() if n > 1]
    stray = [
        str(p) for p in archive.rglob("*") if p.name.startswith(".cardingest-tmp-") and p.is_file()
    ]
    photos = [
        p
        for p in archive.rglob("*")
        if p.is_file() and ".cardingest" not in p.relative_to(archive).parts
    ]
    return Findings(lost, doubled, stray, len(rows), len(photos), wrong)


def json_out(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)
