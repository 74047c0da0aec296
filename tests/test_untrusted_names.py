"""Issue 12, item 10: card file names with escape sequences, control characters or
spreadsheet-formula starts reach the terminal escaped, and the map template safely."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from badinput_helpers import cardingest, folder_card, photos
from cardimage import require_samples

HOSTILE = {
    b"DCIM/100CANON/IMG_0002\x1b[2J\x1b]0;owned\x07.JPG": "IMG_0002\\x1b[2J\\x1b]0;owned\\x07.JPG",
    b"DCIM/100CANON/IMG_0003\r\x08.JPG": "IMG_0003\\x0d\\x08.JPG",
    "DCIM/100CANON/IMG_0004\u009b31m\u202e.JPG".encode(): "IMG_0004\\x9b31m\\u202e.JPG",
    b"DCIM/100CANON/=HYPERLINK(1).JPG": "=HYPERLINK(1).JPG",
    b"DCIM/100CANON/@SUM(A1).JPG": "@SUM(A1).JPG",
    b"DCIM/100CANON/+1+2.JPG": "+1+2.JPG",
    b"DCIM/100CANON/-1+2.JPG": "-1+2.JPG",
}
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")


@pytest.fixture
def card(tmp_path: Path) -> Path:
    require_samples()
    sample = photos(1)[0]
    files = {b"DCIM/100CANON/IMG_0001.JPG": sample} | dict.fromkeys(HOSTILE, sample)
    return folder_card(tmp_path / "card", files)


def _clean(text: str) -> None:
    found = RAW_CONTROLS.findall(text)
    assert not found, f"raw control characters reached the terminal: {found!r}"


def test_every_command_shows_hostile_names_escaped(card: Path, tmp_path: Path) -> None:
    home, archive = tmp_path / "home", tmp_path / "archive"
    runs = [
        cardingest("preview", card, "--id", "JBX3656", "--archive", archive, home=home),
        cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home),
        cardingest("wipe", card, "--archive", archive, "--dry-run", home=home),
        cardingest("search", "--id", "JBX3656", "--archive", archive, home=home),
    ]
    for run in runs:
        assert run.code in (0, 3), run.stderr
        _clean(run.text)
        _clean(run.stderr)
    for shown in HOSTILE.values():
        assert shown in runs[0].text  # the preview table names each, escaped
        assert shown in runs[2].text  # so does the wipe's
    # JSON keeps the real names (the encoder escapes controls as JSON requires).
    document = cardingest(
        "preview", card, "--id", "JBX3656", "--archive", archive, "--json", home=home
    ).json()
    sources = {item["source"] for item in document["items"]}
    assert "DCIM/100CANON/IMG_0002\x1b[2J\x1b]0;owned\x07.JPG" in sources


def test_map_template_is_safe_in_a_spreadsheet(card: Path, tmp_path: Path) -> None:
    run = cardingest("map-template", card, home=tmp_path / "home")
    assert run.code == 0, run.stderr
    _clean(run.text)
    rows = list(csv.reader(io.StringIO(run.text)))
    for row in rows[1:]:
        for cell in row:
            assert cell[:1] not in ("=", "+", "-", "@"), row
    comments = [row[0] for row in rows if row and row[0].startswith("# DCIM")]
    for shown in HOSTILE.values():
        assert any(shown in comment for comment in comments), shown
    specs = [row[0] for row in rows[1:] if row and not row[0].startswith("#")]
    assert specs == ["IMG_0001"]
