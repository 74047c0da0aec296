"""Done-when of patient slates: the real CLI on a FAT32 card (fusefat) of real camera photos.

Three patients (QR, GS1 DataMatrix holding a name and birth date, QR in the second DCF folder),
a Code 128 slate for an invalid NHI, photos before the first slate, and a 2-hour gap without a
new slate. Every photo must be assigned to its patient or held with its reason, the ingest must
archive exactly that (slates as ``-slate.jpg`` with role ``slate``), and the name and birth
date in the wristband's payload must appear nowhere.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cardimage import CardFactory, require
from slate_photos import photo_at, slate_photo

from cardingest.plan.planner import ARCHIVED_EARLIER

T0 = datetime(2026, 11, 25, 9, 0, 0)
GS1 = "(91)ACA31FM(7250)19790214(7254)MERE(7253)TAMIHANA"
SECRETS = ("MERE", "TAMIHANA", "19790214")
PATTERN = r"\(91\)([A-Z0-9]+)|^([A-Z0-9]+)$"
A, B = "DCIM/100CANON", "DCIM/101CANON"
BAD = "barcode (Code 128, 7 characters) is not a valid NHI"
GAP = "no new slate after a 124-minute gap"

# card path: (minutes after T0, slate kind and payload or None, expected id or hold reason)
SCENARIO: dict[str, tuple[int, tuple[str, str] | None, str]] = {
    f"{A}/IMG_0001.JPG": (0, None, "hold:no slate before this photo"),
    f"{A}/IMG_0002.JPG": (1, None, "hold:no slate before this photo"),
    f"{A}/IMG_0003.JPG": (5, ("qr", "JBX3656"), "JBX3656"),
    f"{A}/IMG_0004.JPG": (6, None, "JBX3656"),
    f"{A}/IMG_0005.JPG": (7, None, "JBX3656"),
    f"{A}/IMG_0006.JPG": (10, ("datamatrix", GS1), "ACA31FM"),
    f"{B}/IMG_0001.JPG": (11, None, "ACA31FM"),  # DCF numbering restarts; capture order wins
    f"{B}/IMG_0002.JPG": (12, None, "ACA31FM"),
    f"{B}/IMG_0003.JPG": (20, ("code128", "JBX3657"), f"hold:slate {B}/IMG_0003.JPG: {BAD}"),
    f"{B}/IMG_0004.JPG": (21, None, f"hold:slate {B}/IMG_0003.JPG: {BAD}"),
    f"{B}/IMG_0005.JPG": (30, ("qr", "MCJ1984"), "MCJ1984"),
    f"{B}/IMG_0006.JPG": (31, None, "MCJ1984"),
    f"{B}/IMG_0007.JPG": (155, None, f"hold:{GAP}"),
    f"{B}/IMG_0008.JPG": (156, None, f"hold:{GAP}"),
}
SLATE_OF = {
    f"{A}/IMG_0004.JPG": f"{A}/IMG_0003.JPG",
    f"{B}/IMG_0002.JPG": f"{A}/IMG_0006.JPG",
    f"{B}/IMG_0004.JPG": f"{B}/IMG_0003.JPG",
    f"{B}/IMG_0008.JPG": f"{B}/IMG_0005.JPG",
}


def card_files(samples_dir: Path) -> dict[str, Path | bytes]:
    real = samples_dir / "real"
    backgrounds = [
        real / name
        for name in ("22-canon_tags.jpg", "36-memory_error.jpg", "45-gps_ifd.jpg", "87_OSError.jpg")
    ]
    files: dict[str, Path | bytes] = {}
    for n, (path, (minutes, slate, _)) in enumerate(SCENARIO.items()):
        background = backgrounds[n % len(backgrounds)]
        when = T0 + timedelta(minutes=minutes)
        if slate is None:
            files[path] = photo_at(background, when)
            continue
        kind, payload = slate
        linear = kind == "code128"
        files[path] = slate_photo(
            background,
            payload,
            kind,
            when,
            gs1=payload.startswith("(91)"),
            fraction=0.45 if linear else 0.25,
            angle=-9 if linear else 14,
            seed=n,
        )
    return files


def cardingest(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("cardingest")
    require(exe is not None, "the cardingest console script is not installed (pip install .)")
    assert exe is not None
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env=env,
    )


@pytest.fixture
def setting(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text(f"slate_pattern = '{PATTERN}'\n", encoding="utf-8")
    return {
        **os.environ,
        "CARDINGEST_CONFIG": str(config),
        "CARDINGEST_ARCHIVE": str(tmp_path / "archive"),
    }


def no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


@pytest.mark.card
@pytest.mark.samples
def test_slates_on_a_fat32_card_assign_or_hold_every_photo(
    fat_card: CardFactory, samples_dir: Path, setting: dict[str, str], tmp_path: Path
) -> None:
    mount = fat_card(card_files(samples_dir), label="EOS_DIGITAL")
    archive = Path(setting["CARDINGEST_ARCHIVE"])

    refused = cardingest("preview", str(mount), "--slates", "--id", "JBX3656", env=setting)
    assert refused.returncode == 2, refused.stderr
    assert "--slates" in refused.stderr

    preview = cardingest("preview", str(mount), "--slates", "--json", env=setting)
    assert preview.returncode == 3, preview.stderr
    no_secrets(preview.stdout, preview.stderr)
    items = {item["source"]: item for item in json.loads(preview.stdout)["items"]}
    assert set(items) == set(SCENARIO)
    for path, (_, slate, expected) in SCENARIO.items():
        item = items[path]
        assert item["role"] == ("slate" if slate else "photo"), path
        if expected.startswith("hold:"):
            assert (item["action"], item["reason"], item["id"]) == ("hold", expected[5:], None)
        else:
            assert (item["action"], item["id"]) == ("copy", expected), path
            tail = "-slate.jpg" if slate else ".jpg"
            assert item["target"].startswith(f"{expected}/") and item["target"].endswith(tail)
    for path, slate in SLATE_OF.items():
        assert items[path]["slate"] == slate
    assert items[f"{A}/IMG_0001.JPG"]["slate"] is None

    ingest = cardingest("ingest", str(mount), "--slates", "--json", env=setting)
    assert ingest.returncode == 3, ingest.stderr
    no_secrets(ingest.stdout, ingest.stderr)
    document = json.loads(ingest.stdout)
    assert document["summary"]["copied"] == 8 and document["summary"]["held"] == 6

    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as conn:
        rows = conn.execute("SELECT source_path, patient_id, role, archive_path FROM files")
        archived = {source: (pid, role, target) for source, pid, role, target in rows}
    expected_ids = {p: v[2] for p, v in SCENARIO.items() if not v[2].startswith("hold")}
    assert {p: v[0] for p, v in archived.items()} == expected_ids
    wrong = [p for p, v in archived.items() if v[0] != expected_ids.get(p)]
    assert wrong == []  # zero photos under a wrong patient
    for path, (_pid, role, target) in archived.items():
        assert role == ("slate" if SCENARIO[path][1] else "photo")
        assert (archive / target).read_bytes() == (mount / path).read_bytes()
        assert target.endswith("-slate.jpg") == (role == "slate")
    for leftover in (archive / ".cardingest").rglob("*"):
        if leftover.is_file():
            no_secrets(leftover.read_bytes().decode("latin-1"))

    found = cardingest("search", "--id", "ACA31FM", "--json", env=setting)
    assert found.returncode == 0, found.stderr
    assert [r["source_path"] for r in json.loads(found.stdout)["results"]] == [
        f"{B}/IMG_0001.JPG",
        f"{B}/IMG_0002.JPG",
    ]
    with_slates = cardingest("search", "--id", "ACA31FM", "--slates", "--json", env=setting)
    roles = [r["role"] for r in json.loads(with_slates.stdout)["results"]]
    assert roles == ["slate", "photo", "photo"]

    again = cardingest("preview", str(mount), "--slates", "--json", env=setting)
    actions = {item["source"]: item["action"] for item in json.loads(again.stdout)["items"]}
    assert {p for p, a in actions.items() if a == "skip"} == set(expected_ids)

    template = cardingest("map-template", str(mount), "--slates", env=setting)
    assert template.returncode == 0, template.stderr
    no_secrets(template.stdout, template.stderr)
    map_file = tmp_path / "confirmed.csv"
    map_file.write_text(template.stdout, encoding="utf-8")
    by_map = cardingest("preview", str(mount), "--map", str(map_file), "--json", env=setting)
    by_source = {i["source"]: i for i in json.loads(by_map.stdout)["items"]}
    mapped = {p: i["id"] for p, i in by_source.items() if i["id"] and not SCENARIO[p][1]}
    assert mapped == {p: pid for p, pid in expected_ids.items() if not SCENARIO[p][1]}
    # The map lists no slate; the slates' ingest archived them, so they are not held.
    for path in (p for p in expected_ids if SCENARIO[p][1]):
        assert (by_source[path]["action"], by_source[path]["reason"]) == (
            "skip",
            ARCHIVED_EARLIER,
        )
