"""The compact records behind issue 16's memory target, checked against the plain ones they
replace: the planner's base names (`planner._Bases`, a set of `_base` strings before) and
an ingest's outcomes (`ingest.Outcomes`, a list of `Outcome` before)."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from clinic_helpers import cli

import cardingest.ingest as ingest_module
from cardingest.archive.catalogue import Catalogue
from cardingest.demo import make_demo_card
from cardingest.ingest import Outcome, Outcomes, _content
from cardingest.models import MapRow, MediaFile, PlanItem
from cardingest.plan.planner import _base, _Bases

PARTS = ["", ".", "..", "a", "a.", ".a", "a.b", "a.b.", "IMG_0001", "x.JPG", "x.jpg", "x.xmp"]


def _path(rng: random.Random) -> str:
    return "/".join(rng.choice(PARTS) for _ in range(rng.randint(1, 3)))


def test_bases_answer_as_the_set_of_base_strings_did() -> None:
    rng = random.Random(16)
    for _ in range(2000):
        paths = [_path(rng) for _ in range(rng.randint(0, 12))]
        compact = _Bases(paths[: len(paths) // 2])
        plain = {_base(path) for path in paths[: len(paths) // 2]}
        for path in paths[len(paths) // 2 :]:
            compact.add(path)
            plain.add(_base(path))
        probes = [rng.choice([_path(rng), _base(_path(rng))]) for _ in range(20)]
        for probe in probes + [_base(path) for path in paths]:
            assert (probe in compact) == (probe in plain), (paths, probe)


def _item(n: int, action: str = "copy") -> PlanItem:
    when = datetime(2026, 11, 30, 12, 0, n % 60)
    media = MediaFile(f"DCIM/100CANON/IMG_{n:04d}.JPG", 5000 + n, when, "exif:DateTimeOriginal")
    return PlanItem(
        media=media,
        action=action,  # type: ignore[arg-type]
        captured_at=when,
        timed=media,
        row=MapRow(0, "JBX3656", everything=True),
        target=f"JBX3656/JBX3656-20261130-1200{n % 60:02d}.jpg" if action != "hold" else None,
        reason="not in the ID map" if action == "hold" else None,
    )


def test_outcomes_read_back_equal_to_what_was_stored() -> None:
    items = tuple(
        _item(n, "hold" if n % 7 == 0 else "skip" if n % 11 == 0 else "copy") for n in range(60)
    )
    outcomes = Outcomes(items)
    stored: dict[int, Outcome] = {}
    for index, item in enumerate(items):
        sha256 = hashlib.sha256(item.source.encode()).hexdigest()
        if index % 13 == 5:
            continue  # never settled: read back as failed
        if item.action != "copy":
            stored[index] = Outcome(item, item.action, item.target, reason=item.reason)
        elif index % 5 == 1:
            stored[index] = Outcome(item, "failed", None, error="disk full")
        elif index % 5 == 2:
            stored[index] = Outcome(
                item, "skip", "JBX3656/other.jpg", sha256, reason="already archived"
            )
        elif index % 5 == 3:
            stored[index] = Outcome(item, "copy", item.target, sha256, backup_target="/b/x.jpg")
        elif index % 5 == 4:
            stored[index] = Outcome(item, "copy", item.target, sha256.upper())
        else:
            stored[index] = Outcome(item, "copy", item.target, sha256)
        outcomes.set(index, stored[index])
    outcomes.missing = "stopped before it was copied"
    missing = Outcome
    expected = [
        stored.get(index) or missing(item, "failed", None, error="stopped before it was copied")
        for index, item in enumerate(items)
    ]
    assert list(outcomes) == expected
    assert [outcomes[index] for index in range(len(items))] == expected
    assert outcomes[-1] == expected[-1]
    assert list(outcomes.actions()) == [outcome.action for outcome in expected]
    assert outcomes.unsettled() == sum(1 for index in range(len(items)) if index % 13 == 5)
    with pytest.raises(IndexError):
        outcomes[len(items)]


def test_content_keys_are_equal_exactly_when_the_digests_are() -> None:
    sha256 = hashlib.sha256(b"photo").hexdigest()
    assert _content(sha256) == bytes.fromhex(sha256)
    assert _content(sha256) == _content(str(sha256))
    assert _content(sha256.upper()) != _content(sha256)  # text that is not hashlib's stays text
    assert _content("not a digest") == "not a digest"


def test_an_ingest_bounds_its_catalogue_cache_and_reports_every_outcome(
    tmp_path: Path, test_ids: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo card through the CLI: the catalogue's page cache is the bounded one, and the
    JSON items (read from `Outcomes`) agree with the plan and the catalogue, photo by photo."""
    card, map_file = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    seen: list[int] = []
    open_catalogue = Catalogue.open

    def recording(*args: Any, **kwargs: Any) -> Catalogue:
        catalogue = open_catalogue(*args, **kwargs)
        seen.append(catalogue._conn.conn.execute("PRAGMA cache_size").fetchone()[0])  # type: ignore[attr-defined]
        return catalogue

    monkeypatch.setattr(ingest_module.Catalogue, "open", recording)
    preview = json.loads(
        cli("preview", card, "--map", map_file, "--archive", archive, "--json").stdout
    )
    result = cli("ingest", card, "--map", map_file, "--archive", archive, "--json")
    assert result.exit_code in (0, 3), result.stderr
    document = json.loads(result.stdout)
    assert seen == [-ingest_module.CATALOGUE_CACHE_KIB]
    assert list(document) == [
        "ingest_id",
        "source",
        "archive",
        "card",
        "clock_offset",
        "summary",
        "items",
        "warnings",
    ]
    planned = {item["source"]: item for item in preview["items"]}
    assert [item["source"] for item in document["items"]] == list(planned)
    with Catalogue.open(archive, create=False) as catalogue:
        rows = {record.source_path: record for record in catalogue.records()}
    for item in document["items"]:
        plan = planned[item["source"]]
        if item["action"] == "copy":
            record = rows[item["source"]]
            assert (item["target"], item["sha256"]) == (record.archive_path, record.sha256)
            assert item["target"] == plan["target"]
        else:
            assert item["action"] == plan["action"] and "sha256" not in item
            assert item["reason"] == plan["reason"]
    counts = document["summary"]
    assert counts["copied"] == len(rows) == sum(i["action"] == "copy" for i in document["items"])
    assert counts["held"] == sum(i["action"] == "hold" for i in document["items"])
