"""Issue 12, item 6: `verify` reports patient folders without catalogue rows and stray files
at the archive's top level as unexpected (exit 1), not only strays beside catalogued photos."""

from __future__ import annotations

from pathlib import Path

from badinput_helpers import cardingest, folder_card, photos
from cardimage import require_samples


def test_verify_sees_uncatalogued_folders_and_top_level_strays(tmp_path: Path) -> None:
    require_samples()
    first, second = photos(2)
    card = folder_card(tmp_path / "card", {b"DCIM/100CANON/IMG_0001.JPG": first})
    home, archive = tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    clean = cardingest("verify", "--archive", archive, "--json", home=home)
    assert clean.code == 0 and clean.json()["summary"]["unexpected"] == 0

    (archive / "ACA31FM").mkdir()  # filed by hand, never catalogued
    (archive / "ACA31FM" / "ACA31FM-20200101-101010.jpg").write_bytes(second.read_bytes())
    (archive / "MCJ1984").mkdir()
    (archive / "holiday.jpg").write_bytes(b"dropped at the top level")
    (archive / "lost+found").mkdir()  # an archive may be a drive's root: not a stray

    run = cardingest("verify", "--archive", archive, "--json", home=home)
    assert run.code == 1
    # (the files made here with the default umask are also "exposed": not this test's subject)
    found = {(p["kind"], p["path"]) for p in run.json()["problems"] if p["kind"] != "exposed"}
    assert found == {
        ("unexpected", "ACA31FM/ACA31FM-20200101-101010.jpg"),
        ("unexpected", "MCJ1984/"),
        ("unexpected", "holiday.jpg"),
    }
    text = cardingest("verify", "--archive", archive, home=home)
    assert text.code == 1 and "holiday.jpg" in text.text and "3 unexpected" in text.text
    assert "MCJ1984/" in text.text and "ACA31FM/ACA31FM-20200101-101010.jpg" in text.text
    # One patient's check looks at that patient's folder only.
    one = cardingest("verify", "--archive", archive, "--id", "JBX3656", "--json", home=home)
    assert one.json()["summary"]["unexpected"] == 0
