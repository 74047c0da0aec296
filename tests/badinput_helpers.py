"""Helpers for the bad-input tests (issue 12): the real CLI as a subprocess, real folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardimage import CardFactory, require_samples, samples_real
from exif_bytes import exif_jpeg

CARDINGEST = str(Path(sys.executable).with_name("cardingest"))
"""The console script installed next to this Python (pip install -e . / .ci/run)."""


@dataclass(frozen=True)
class Run:
    code: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8")

    def json(self) -> Any:
        """The one JSON document on stdout; it must be valid UTF-8 (strict) and JSON."""
        return json.loads(self.stdout.decode("utf-8", errors="strict"))


NO_OVERRIDE = tuple(
    f"--{which}=-dac_override,-dac_read_search,-fowner" for which in ("inh-caps", "bounding-set")
)
"""`setpriv` options (``prefix=("setpriv", *NO_OVERRIDE)``): root without the power to read
or write what the modes keep from it."""


def cardingest(
    *args: str | Path | bytes,
    home: Path,
    env: dict[str, str] | None = None,
    user: str | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
    prefix: tuple[str, ...] = (),
    timeout: float = 300,
) -> Run:
    """Run the installed ``cardingest`` command end to end, as ``user`` if given, behind
    ``prefix`` (a command such as `setpriv` that runs it).

    A traceback on stderr fails the calling test: nothing a user can cause may end in one.
    """
    command: list[str | bytes] = [CARDINGEST]
    command += [a if isinstance(a, bytes) else str(a) for a in args]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    command = [*prefix, *command]
    done = subprocess.run(
        command,
        capture_output=True,
        env=environment(home, env),
        timeout=timeout,
        input=stdin.encode() if stdin is not None else None,
        cwd=cwd,
    )
    stderr = done.stderr.decode("utf-8", errors="replace")
    assert "Traceback" not in stderr, stderr
    return Run(done.returncode, done.stdout, stderr)


def environment(home: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a test runs the command in: its own HOME, no cardingest settings but
    those in ``env``."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CARDINGEST_")},
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "COLUMNS": "200",
        **(env or {}),
    }


def dated_card(root: Path, count: int = 2, minutes: int = 1) -> Path:
    """``root`` laid out as a card: DCIM/100CANON/IMG_0001.JPG… (tiny JPEGs, no samples
    needed) taken ``minutes`` apart from 2026-01-01 00:00."""
    folder = root / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    for n in range(count):
        total = n * minutes
        day, hour, minute = 1 + total // 1440, total // 60 % 24, total % 60
        when = f"2026:01:{day:02d} {hour:02d}:{minute:02d}:00"
        (folder / f"IMG_{n + 1:04d}.JPG").write_bytes(exif_jpeg(when))
    return root


def photos(count: int) -> list[Path]:
    """Real camera JPEGs with EXIF dates, smallest first (the test is skipped, with its
    reason, where the samples are not: a user's machine; `.ci/run` makes that a failure)."""
    require_samples()
    names = ["Canon_40D.jpg", "11-tests.jpg", "22-canon_tags.jpg", "45-gps_ifd.jpg"]
    found = [samples_real() / name for name in names if (samples_real() / name).is_file()]
    return found[:count]


def folder_card(root: Path, files: dict[bytes, Path]) -> Path:
    """A plain folder laid out like a card; names are bytes, so they may be anything."""
    for relpath, sample in files.items():
        target = os.fsencode(root) + b"/" + relpath
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(sample, target)
    return root


def three_photo_card(root: Path) -> Path:
    """A plain folder card of three real photos, DCIM/100CANON/IMG_0001.JPG to IMG_0003."""
    first, second, third = photos(3)
    return folder_card(
        root,
        {
            b"DCIM/100CANON/IMG_0001.JPG": first,
            b"DCIM/100CANON/IMG_0002.JPG": second,
            b"DCIM/100CANON/IMG_0003.JPG": third,
        },
    )


def ingested_fat_card(fat_card: CardFactory, tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two real photos on a mounted FAT32 card, ingested under JBX3656 by the installed
    command: (card, home, archive)."""
    require_samples()
    first, second = photos(2)
    card = fat_card({"DCIM/100CANON/IMG_0001.JPG": first, "DCIM/100CANON/IMG_0002.JPG": second})
    home, archive = tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    return card, home, archive
