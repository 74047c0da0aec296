"""The preview's list of patients: a valid ID of the wrong patient passes every check of the
ID, so each patient given new photos is shown with what the archive held for them before."""

from __future__ import annotations

import json
from pathlib import Path

from badinput_helpers import dated_card
from clinic_helpers import cli
from exif_bytes import exif_jpeg


def test_a_returning_patient_shows_what_was_archived_and_a_new_one_shows_as_new(
    tmp_path: Path,
) -> None:
    card = dated_card(tmp_path / "card", count=2, minutes=60)
    archive = tmp_path / "archive"
    assert cli("ingest", card, "--id", "JBX3656", "--archive", archive).exit_code == 0
    folder = card / "DCIM" / "100CANON"
    (folder / "IMG_0003.JPG").write_bytes(exif_jpeg("2026:02:03 10:00:00"))
    (folder / "IMG_0004.JPG").write_bytes(exif_jpeg("2026:02:03 10:01:00"))
    (folder / "IMG_0005.JPG").write_bytes(exif_jpeg("2026:02:03 10:30:00"))
    id_map = tmp_path / "map.csv"
    id_map.write_text("files,id\nIMG_0001-IMG_0004,JBX3656\nIMG_0005,MCJ1984\n", encoding="utf-8")

    result = cli("preview", card, "--map", id_map, "--archive", archive, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["patients"] == [
        {"id": "JBX3656", "to_copy": 2, "archived_before": 2, "last_taken": "2026-01-01"},
        {"id": "MCJ1984", "to_copy": 1, "archived_before": 0, "last_taken": None},
    ]
    shown = cli("preview", card, "--map", id_map, "--archive", archive)
    lines = [" ".join(line.split()) for line in shown.stdout.splitlines()]
    assert "JBX3656 2 photo(s) to copy; 2 archived before, the last taken 2026-01-01" in lines
    assert "MCJ1984 1 photo(s) to copy; new to this archive" in lines
    (folder / "IMG_0003.XMP").write_text("<x:xmpmeta/>", encoding="utf-8")  # not a photo
    filed = cli("ingest", card, "--map", id_map, "--archive", archive)  # said after it too
    assert filed.exit_code == 0, filed.stderr
    lines = [" ".join(line.split()) for line in filed.stdout.splitlines()]
    assert "JBX3656 2 photo(s) copied; 2 archived before, the last taken 2026-01-01" in lines
    assert "MCJ1984 1 photo(s) copied; new to this archive" in lines


def test_the_last_photo_archived_is_dated_as_its_name_is_after_a_clock_offset(
    tmp_path: Path,
) -> None:
    """A camera an hour slow on New Year's Eve: its photos were filed with `--clock-offset`
    under 2026-01-01, and that is the day the next card's list shows, not the camera's."""
    card = tmp_path / "card"
    folder = card / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    (folder / "IMG_0001.JPG").write_bytes(exif_jpeg("2025:12:31 23:30:00"))
    archive = tmp_path / "archive"
    offset = ("--clock-offset", "+01:00")
    filed = cli("ingest", card, "--id", "JBX3656", "--archive", archive, *offset)
    assert filed.exit_code == 0, filed.stderr
    assert (archive / "JBX3656" / "JBX3656-20260101-003000.jpg").is_file()
    (folder / "IMG_0002.JPG").write_bytes(exif_jpeg("2026:01:05 10:00:00"))
    shown = cli("preview", card, "--id", "JBX3656", "--archive", archive, "--json")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["patients"] == [
        {"id": "JBX3656", "to_copy": 1, "archived_before": 1, "last_taken": "2026-01-01"}
    ]


def test_a_card_with_nothing_new_lists_no_patients(tmp_path: Path) -> None:
    card = dated_card(tmp_path / "card", count=2)
    archive = tmp_path / "archive"
    assert cli("ingest", card, "--id", "JBX3656", "--archive", archive).exit_code == 0
    again = cli("preview", card, "--id", "JBX3656", "--archive", archive, "--json")
    assert json.loads(again.stdout)["patients"] == []
    assert "Patients" not in cli("preview", card, "--id", "JBX3656", "--archive", archive).stdout
