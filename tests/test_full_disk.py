"""An archive whose disk is full: the commands that write say so (exit 1, no traceback,
nothing changed), and verify and search still read it, when a check is needed most."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from badinput_helpers import cardingest, three_photo_card
from cardimage import require_samples
from conftest import LoopDisk, fill, tmpfs_on
from typer.testing import CliRunner

from cardingest.cli.app import app
from cardingest.errors import EXIT_FAILURE, EXIT_OK

runner = CliRunner()
FULL = "the disk is full. Free some space on it and run the command again; nothing was changed"


def test_a_full_archive_disk_is_a_message_and_can_still_be_checked(tmp_path: Path) -> None:
    require_samples()
    card = three_photo_card(tmp_path / "card")
    disk = tmp_path / "disk"
    disk.mkdir()
    with tmpfs_on(disk, 24):  # the ingest keeps 16 MiB spare
        archive = ["--archive", str(disk / "archive")]
        assert runner.invoke(app, ["ingest", str(card), "--id", "JBX3656", *archive]).exit_code == 0
        fill(disk)
        for args in (
            ["tag", "JBX3656", "--diagnosis", "melanoma"],
            ["move", "--from", "JBX3656", "--to", "ACA31FM"],
            ["ingest", str(card), "--id", "JBX3656"],
        ):
            result = runner.invoke(app, [*args, *archive])
            assert result.exit_code == EXIT_FAILURE, (args, result.output)
            assert FULL in " ".join(result.output.split()), (args, result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit)
        verified = runner.invoke(app, ["verify", *archive, "--json"])
        assert verified.exit_code == EXIT_OK, verified.output
        assert json.loads(verified.stdout)["summary"]["ok"] == 3
        found = runner.invoke(app, ["search", "--id", "JBX3656", *archive, "--json"])
        assert found.exit_code == EXIT_OK, found.output
        assert len(json.loads(found.stdout)["results"]) == 3


def leave_free(folder: Path, kib: int) -> Path:
    """Fill the file system, then free exactly ``kib`` one-KiB blocks; the fill's folder."""
    filler = folder / "fill"
    filler.mkdir()
    spares = [filler / f"spare{n}" for n in range(kib)]
    for spare in spares:
        spare.write_bytes(bytes(1024))
    fill(filler)
    for n in range(100_000):  # the blocks the big file could not take
        try:
            (filler / f"block{n}").write_bytes(bytes(1024))
        except OSError:
            (filler / f"block{n}").unlink(missing_ok=True)
            break
    for spare in spares:
        spare.unlink()
    os.sync()
    return filler


@pytest.mark.parametrize("free_kib", [9, 36])
def test_a_nearly_full_disk_of_small_blocks_is_a_message_not_a_bus_error(
    loop_ext4_small_blocks: LoopDisk, tmp_path: Path, free_kib: int
) -> None:
    """On 1 KiB blocks SQLite's -shm has holes; with 8-10 KiB free, opening the catalogue
    died by SIGBUS (exit 135) in every command, with 24-40 KiB free the first write did."""
    require_samples()
    card = three_photo_card(tmp_path / "card")
    home = tmp_path / "home"
    archive = ("--archive", loop_ext4_small_blocks.mount / "archive")
    assert cardingest("ingest", card, "--id", "JBX3656", *archive, home=home).code == 0
    filler = leave_free(loop_ext4_small_blocks.mount, free_kib)
    for args in (("tag", "JBX3656", "--diagnosis", "eczema"), ("ingest", card, "--id", "JBX3656")):
        ran = cardingest(*args, *archive, home=home)
        assert ran.code == EXIT_FAILURE, (args, ran.code, ran.stderr)
        assert "is nearly full, and its small blocks" in " ".join(ran.stderr.split())
    for args in (("verify",), ("search", "--id", "JBX3656"), ("audit",)):
        ran = cardingest(*args, *archive, "--json", home=home)
        assert ran.code == EXIT_OK, (args, ran.code, ran.stderr)
        assert json.loads(ran.stdout)
    shutil.rmtree(filler)
    tagged = cardingest("tag", "JBX3656", "--diagnosis", "eczema", *archive, home=home)
    assert tagged.code == EXIT_OK, tagged.stderr


@pytest.mark.parametrize("free_kib", [1, 2, 4])
def test_a_nearly_full_disk_never_leaves_the_audit_log_ahead_of_its_head(
    loop_ext4: LoopDisk, tmp_path: Path, free_kib: int
) -> None:
    """With a block or so free, an append's line fit in the log's last block and its head
    could not be written: each `verify` left the log a line further ahead of audit.head,
    and at two lines the archive refused every command for good, space freed or not (an
    outside tester's report). Now the line is taken back when its head cannot follow."""
    require_samples()
    card = three_photo_card(tmp_path / "card")
    archive = ("--archive", loop_ext4.mount / "archive")
    home = tmp_path / "home"
    assert cardingest("ingest", card, "--id", "JBX3656", *archive, home=home).code == 0
    filler = leave_free(loop_ext4.mount, free_kib)
    for _ in range(3):  # the check's findings all the same: a trial's verify said none
        ran = cardingest("verify", *archive, "--json", home=home)
        assert ran.code in (EXIT_OK, EXIT_FAILURE), ran.stderr
        said = " ".join(ran.stderr.split())
        assert ran.code == EXIT_OK or "not recorded in the audit log" in said, said
        assert ran.code == EXIT_OK or "disk is full" in said, said
        assert json.loads(ran.stdout)["summary"]["ok"] == 3, ran.stdout
    checked = cardingest("audit", *archive, home=home)
    assert checked.code == EXIT_OK, checked.stderr
    shutil.rmtree(filler)
    for args in (("verify",), ("ingest", card, "--id", "JBX3656"), ("audit",)):
        ran = cardingest(*args, *archive, home=home)
        assert ran.code == EXIT_OK, (args, ran.stderr)
