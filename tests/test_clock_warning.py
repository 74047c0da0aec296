"""A camera clock never set (2000-01-01, a file time of 1980) or set in the future: the
preview and the ingest say so once, since every archive name would carry that date."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pexpect
from exif_bytes import exif_jpeg
from factories import media
from typer.testing import CliRunner

from cardingest.cli.app import app
from cardingest.prepare import clock_warning

NOW = datetime(2026, 12, 1, 9, 0)


def test_only_photos_dated_before_2000_01_02_or_after_tomorrow_are_named() -> None:
    files = [
        media("DCIM/100KODAK/100_0001.JPG", "2000-01-01 00:00:05"),
        media("DCIM/100KODAK/100_0002.JPG", "2000-01-01 00:00:40"),
        media("DCIM/100KODAK/100_0002.XMP", "1980-01-01 00:00:00"),  # a sidecar: no
        media("DCIM/100KODAK/100_0003.JPG", "2026-12-02 08:00:00"),  # tomorrow: fine
        media("DCIM/100KODAK/100_0004.JPG", "2000-01-02 00:00:00"),
        media("DCIM/100KODAK/100_0000.JPG", "1980-01-01 00:00:00", size=0),  # held: no name
        replace(media("DCIM/100KODAK/100_0009.JPG", "2099-01-01 00:00:00"), unreadable=True),
    ]
    said = clock_warning(files, timedelta(0), NOW)
    assert said is not None and said.startswith(
        "2 photo(s) dated 2000-01-01 00:00:05 to 2000-01-01 00:00:40 (first: "
        "DCIM/100KODAK/100_0001.JPG): before 2000-01-02 or in the future"
    )
    future = [media("DCIM/100KODAK/100_0001.JPG", "2099-05-05 10:00:00")]
    assert "1 photo(s) dated 2099-05-05 10:00:00 (first" in (
        clock_warning(future, timedelta(0), NOW) or ""
    )
    assert clock_warning(future, timedelta(days=-73 * 365), NOW) is None  # corrected


def test_the_preview_warns_and_the_clock_offset_is_taken_into_account(tmp_path: Path) -> None:
    card = tmp_path / "card" / "DCIM" / "100KODAK"
    card.mkdir(parents=True)
    (card / "100_0001.JPG").write_bytes(exif_jpeg("2000:01:01 00:00:05"))
    runner = CliRunner()
    args = ["preview", str(tmp_path / "card"), "--id", "JBX3656", "--json"]
    args += ["--archive", str(tmp_path / "archive")]
    document = json.loads(runner.invoke(app, args).stdout)
    [said] = document["warnings"]
    assert "the camera's clock looks unset or wrong" in said
    fixed = runner.invoke(app, [*args, "--clock-offset", "+48:00"])  # 2000-01-03
    [far] = json.loads(fixed.stdout)["warnings"]  # the clock's warning is gone; this one says
    assert far.startswith("--clock-offset +48:00:00 moves every photo's time by more than a day")
    hour = runner.invoke(app, [*args, "--clock-offset", "+24:00"])
    assert not any("more than a day" in w for w in json.loads(hour.stdout)["warnings"])


def test_map_template_and_the_prompt_warn_before_the_rows_are_filled(tmp_path: Path) -> None:
    """Their rows and groups come in time order, where a clock reset to 2000 puts a group
    somewhere unexpected: the warning the plan gives came only after every ID was typed."""
    from clinic_helpers import cardingest_exe
    from terminal import on_terminal

    card = tmp_path / "card" / "DCIM" / "100KODAK"
    card.mkdir(parents=True)
    (card / "100_0001.JPG").write_bytes(exif_jpeg("2026:03:16 09:00:00"))
    (card / "100_0002.JPG").write_bytes(exif_jpeg("2000:01:01 00:00:05"))
    made = CliRunner().invoke(app, ["map-template", str(tmp_path / "card")])
    assert made.exit_code == 0, made.output
    assert "the camera's clock looks unset or wrong" in " ".join(made.stderr.split())
    assert "clock" not in made.stdout  # the CSV stays clean
    assert made.output.index("clock looks unset") < made.output.index("files,id")  # first
    child = on_terminal(
        cardingest_exe(), ["preview", tmp_path / "card", "--archive", tmp_path / "archive"]
    )
    child.expect(r"the\s+camera's\s+clock\s+looks\s+unset")
    child.expect_exact("Patient ID for group 1")
    child.sendline("JBX3656")
    child.expect_exact("Patient ID for group 2")
    child.sendline("")
    child.expect(pexpect.EOF)
    child.close()


def test_the_prompt_judges_the_clock_after_the_clock_offset(tmp_path: Path) -> None:
    """An offset that puts the clock right (here a day lost to a reset) leaves nothing to warn
    of at the prompt, as in the plan; before, the prompt warned all the same. One that does
    not is warned of with both times, the groups showing the camera's own."""
    from clinic_helpers import cardingest_exe
    from terminal import on_terminal

    card = tmp_path / "card" / "DCIM" / "100KODAK"
    card.mkdir(parents=True)
    (card / "100_0001.JPG").write_bytes(exif_jpeg("2000:01:01 00:00:05"))
    preview = ["preview", tmp_path / "card", "--archive", tmp_path / "archive"]
    for offset, warned in (("+24:00", False), ("+00:00", True), ("+01:00", True)):
        child = on_terminal(cardingest_exe(), [*preview, "--clock-offset", offset])
        child.expect_exact("Patient ID for group 1")
        said = " ".join(str(child.before).split())
        assert ("clock looks unset" in said) is warned, offset
        # The group shows the camera's own time: the warning says both (trial).
        shifted = "dated 2000-01-01 01:00:05 with the clock offset (2000-01-01 00:00:05 by the"
        assert (shifted in said) is (offset == "+01:00"), said
        child.sendline("JBX3656")
        child.expect(pexpect.EOF)
        child.close()
