"""An archive whose disk is full: the commands that write say so (exit 1, no traceback,
nothing changed), and verify and search still read it, when a check is needed most."""

from __future__ import annotations

import json
import os
from pathlib import Path

from badinput_helpers import three_photo_card
from cardimage import require_samples
from conftest import tmpfs_on
from typer.testing import CliRunner

from cardingest.cli.app import app
from cardingest.errors import EXIT_FAILURE, EXIT_OK

runner = CliRunner()
FULL = "the disk is full. Free some space on it and run the command again; nothing was changed"


def fill(folder: Path) -> None:
    """Write until the file system refuses even one more byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    size = 1 << 20
    try:
        while size:
            try:
                os.write(fd, bytes(size))
            except OSError:
                size //= 2
    finally:
        os.close(fd)


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
