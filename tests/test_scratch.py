"""Private scratch folders (`storage.scratch`): a killed run's copy of patient records in the
temporary folder is swept by the next run, never another live run's."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from cardingest.storage.scratch import _host, scratch, sweep

PREFIX = "cardingest-test-scratch-"


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_dead_runs_folder_is_swept_and_a_live_ones_kept() -> None:
    root = Path(tempfile.gettempdir())
    dead = root / f"{PREFIX}{_host()}-{dead_pid()}-abc"
    live = root / f"{PREFIX}{_host()}-{os.getppid()}-def"
    other = root / f"{PREFIX}x-ghi"
    elsewhere = root / f"{PREFIX}another-host-{dead_pid()}-jkl"  # a pid of another machine
    huge = root / f"{PREFIX}{_host()}-99999999999999999999-mno"
    for folder in (dead, live, other, elsewhere, huge):
        folder.mkdir()
        (folder / "catalogue.sqlite").write_bytes(b"patient records")
    try:
        with scratch(PREFIX) as mine:
            assert mine.name.startswith(f"{PREFIX}{_host()}-{os.getpid()}-")
            assert (mine.stat().st_mode & 0o777) == 0o700
            assert not dead.exists()
            assert live.exists() and other.exists() and elsewhere.exists() and huge.exists()
            assert sweep(PREFIX) == []  # this run's own folder is alive
        assert not mine.exists()
    finally:
        for folder in (dead, live, other, elsewhere, huge):
            subprocess.run(["rm", "-rf", str(folder)], check=False)
