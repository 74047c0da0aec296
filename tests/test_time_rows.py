"""Rows of ``from``/``to`` times place a photo only by the time its shutter was pressed.

Real camera JPEGs rewritten by exiftool, the real CLI: a photo whose time is only when its
file was saved, and phone photos either side of the end of daylight saving (02:45 twice),
are held on the card with their reason; the rest of the card is filed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from clinic_helpers import cli, require_exiftool

MAP = (
    "from,to,id\n"
    "2026-04-05 02:40,2026-04-05 02:50,JBX3656\n"
    "2026-04-05 02:05,2026-04-05 02:15,ACA31FM\n"
)


def _photo(card: Path, name: str, sample: Path, *tags: str) -> None:
    target = card / "DCIM" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample, target)
    subprocess.run(
        [require_exiftool(), "-q", "-m", "-overwrite_original", *tags, str(target)], check=True
    )


def _plan(card: Path, map_file: Path, archive: Path, command: str = "preview") -> dict:
    result = cli(command, card, "--map", map_file, "--archive", archive, "--json")
    assert result.exit_code == 3, result.stdout + result.stderr
    return {item["source"]: item for item in json.loads(result.stdout)["items"]}


def test_a_saved_time_or_a_clock_change_is_held_from_a_row_of_times(
    samples_dir: Path, tmp_path: Path
) -> None:
    card, sample = tmp_path / "card", samples_dir / "real" / "Canon_40D.jpg"
    clear = ["-EXIF:all=", "-XMP:all="]
    _photo(card, "100CANON/IMG_0001.JPG", sample, "-DateTimeOriginal=2026:04:05 02:12:00")
    _photo(card, "100CANON/IMG_0002.JPG", sample, *clear, "-EXIF:ModifyDate=2026:04:05 02:13:00")
    for name, offset in (("PXL_1.jpg", "+13:00"), ("PXL_2.jpg", "+12:00")):
        times = ["-DateTimeOriginal=2026:04:05 02:45:00", f"-OffsetTimeOriginal={offset}"]
        _photo(card, f"Camera/{name}", sample, *times)
    map_file = tmp_path / "map.csv"
    map_file.write_text(MAP, encoding="utf-8")

    found = _plan(card, map_file, tmp_path / "archive")
    assert found["DCIM/100CANON/IMG_0001.JPG"]["action"] == "copy"
    saved = found["DCIM/100CANON/IMG_0002.JPG"]
    assert (saved["action"], saved["time_source"]) == ("hold", "exif:DateTime")
    assert "when the file was last saved" in saved["reason"]
    assert "by file name in the map" in saved["reason"]
    for name in ("PXL_1.jpg", "PXL_2.jpg"):
        held = found[f"DCIM/Camera/{name}"]
        assert held["action"] == "hold"
        assert "UTC offsets +12:00 and +13:00" in held["reason"]

    ingested = _plan(card, map_file, tmp_path / "archive", "ingest")
    assert [s for s, i in ingested.items() if i["action"] == "copy"] == [
        "DCIM/100CANON/IMG_0001.JPG"
    ]
    assert sorted(p.name for p in (tmp_path / "archive").rglob("*.jpg")) == [
        "ACA31FM-20260405-021200.jpg"
    ]

    by_name = tmp_path / "names.csv"
    by_name.write_text(
        "files,id\nIMG_0001-IMG_0002,ACA31FM\nPXL_1,JBX3656\nPXL_2,ACA31FM\n", encoding="utf-8"
    )
    filed = cli("ingest", card, "--map", by_name, "--archive", tmp_path / "archive", "--json")
    assert filed.exit_code == 0, filed.stdout + filed.stderr
    assert sorted(p.name for p in (tmp_path / "archive").rglob("*.jpg")) == [
        "ACA31FM-20260405-021200.jpg",
        "ACA31FM-20260405-021300.jpg",
        "ACA31FM-20260405-024500.jpg",
        "JBX3656-20260405-024500.jpg",
    ]
