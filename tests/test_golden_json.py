"""Golden documents: the `--json` output of each command on the demo card, pinned.

Scripts rely on these documents (DESIGN.md, "Command line"). A change to any key, value or
order shows up here as a diff against `tests/golden/<name>.json`; after checking that it is
intended, rewrite the files with `CARDINGEST_UPDATE_GOLDEN=1 python -m pytest
tests/test_golden_json.py` and commit them with the change.

What differs from run to run is replaced before comparing: the temporary folder, ingest and
wipe ids, clock readings, the operator and host. Checksums and sizes depend on the JPEG
encoder's version, so each distinct checksum becomes ``<sha256 #n>`` (keeping which values
are equal) and byte counts become ``<bytes>``.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from clinic_helpers import cli

from cardingest.cli import documents
from cardingest.demo import make_demo_card
from cardingest.models import Card

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CARDINGEST_UPDATE_GOLDEN") == "1"
_BYTE_KEYS = frozenset({"size", "bytes", "bytes_to_copy"})
_VOLATILE = {
    "ingest_id": "<ingest id>",
    "wipe_id": "<wipe id>",
    "seconds": "<seconds>",
    "archived_at": "<time>",
    "operator": "<operator>",
    "sop_instance_uid": "<uid>",
}
_SHA = re.compile(r"^[0-9a-f]{64}$")
_INGEST_ID = re.compile(r"\d{8}T\d{6}Z?-[0-9a-f]+")


class Normaliser:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = str(tmp_path)
        self.hashes: dict[str, str] = {}

    def __call__(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if key in _VOLATILE and value is not None:
            return _VOLATILE[key]
        if key in _BYTE_KEYS and isinstance(value, int) and value > 0:
            return "<bytes>"
        if isinstance(value, str):
            if _SHA.match(value):
                return self.hashes.setdefault(value, f"<sha256 #{len(self.hashes) + 1}>")
            value = value.replace(self.tmp, "<tmp>")
            return _INGEST_ID.sub("<ingest id>", value)
        return value


def check(name: str, document: Any, normalise: Normaliser) -> None:
    got = normalise(document)
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.is_file(), f"no golden file {path}; run with CARDINGEST_UPDATE_GOLDEN=1"
    assert got == json.loads(path.read_text(encoding="utf-8")), f"{name}: document changed"


@pytest.fixture
def demo(tmp_path: Path, test_ids: Path) -> tuple[Path, Path, Path]:
    card, map_file = make_demo_card(tmp_path)
    stamp = datetime(2026, 11, 24, 12, 0, 0).timestamp()
    for photo in (card / "DCIM").rglob("*"):
        os.utime(photo, (stamp, stamp))
    return card, map_file, tmp_path / "archive"


def run_json(*args: str | Path, code: int) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == code, result.stderr
    return json.loads(result.stdout)


def test_preview_ingest_verify_search_audit_wipe_documents(
    demo: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    card, map_file, archive = demo
    normalise = Normaliser(tmp_path)
    where = ("--archive", archive)
    check("preview", run_json("preview", card, "--map", map_file, *where, code=3), normalise)
    check("ingest", run_json("ingest", card, "--map", map_file, *where, code=3), normalise)
    check("preview-again", run_json("preview", card, "--map", map_file, *where, code=3), normalise)
    check("verify", run_json("verify", *where, code=0), normalise)
    check("search", run_json("search", "--diagnosis", "psoriasis", *where, code=0), normalise)
    check("audit", run_json("audit", *where, code=0), normalise)
    out = tmp_path / "dicom"
    export = run_json("dicom", "export", "--out", out, *where, code=0)
    check("dicom-export", export, normalise)
    shared = run_json("share", "ZAC5361", "--out", tmp_path / "referral", *where, code=0)
    check("share", shared, normalise)
    check("wipe-dry-run", run_json("wipe", card, *where, "--dry-run", code=3), normalise)
    check("wipe", run_json("wipe", card, *where, "--yes", code=3), normalise)


def test_error_document(demo: tuple[Path, Path, Path], tmp_path: Path) -> None:
    card, _, archive = demo
    bad = tmp_path / "bad.csv"
    bad.write_text("files,id,diagnoss\nIMG_0001,ZAC3561,x\n", encoding="utf-8")
    document = run_json("ingest", card, "--map", bad, "--archive", archive, code=2)
    check("error", document, Normaliser(tmp_path))


def test_cards_document(tmp_path: Path) -> None:
    """`cards --json` lists what is mounted, so its document is pinned from a Card record."""
    card = Card(
        mount=str(tmp_path / "EOS_DIGITAL"),
        fstype="vfat",
        device="/dev/sdc1",
        label="EOS_DIGITAL",
        serial="972C-E35C",
        total_bytes=31_902_400_512,
        free_bytes=29_000_000_000,
        photos=42,
        removable=True,
    )
    check("cards", json.loads(json.dumps(documents.cards([card]))), Normaliser(tmp_path))


def test_catalogue_migrate_document(
    demo: tuple[Path, Path, Path], tmp_path: Path, pg_url: str
) -> None:
    card, map_file, archive = demo
    run_json("ingest", card, "--map", map_file, "--archive", archive, code=3)
    document = run_json("catalogue", "migrate", "--to", pg_url, "--archive", archive, code=0)
    assert document["to"] == pg_url and re.fullmatch(r"[0-9a-f]{32}", document["archive_id"])
    document.update(to="<url>", archive_id="<archive id>")
    check("catalogue-migrate", document, Normaliser(tmp_path))
