"""The contact sheet: grouping a plan, marking -2 names, held reasons, escaping card strings.

Pure rendering is checked by parsing the HTML it makes (html.parser), not by string search.
"""

from __future__ import annotations

import base64
import io
from datetime import datetime, timedelta

from factories import media
from PIL import Image
from sheet_helpers import Page

from cardingest.models import IdMap, MapRow, SlateRead
from cardingest.plan.assign import make_groups
from cardingest.plan.planner import make_plan
from cardingest.plan.slates import assign
from cardingest.review.sheet import (
    Final,
    Naming,
    groups_sheet,
    plan_sheet,
    render,
    visible,
)
from cardingest.review.thumbs import Thumbnail

WHEN = datetime(2026, 11, 30, 13, 0, 0)


def thumb(width: int = 40, height: int = 30) -> Thumbnail:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "JPEG")
    return Thumbnail(buffer.getvalue(), width, height, "exif thumbnail")


def card_files() -> list:
    return [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00", subsec="10"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:00:00", subsec="20"),
        media("DCIM/100CANON/IMG_0002.XMP", "2026-11-24 09:00:00"),
        media("DCIM/100CANON/IMG_0003.JPG", "2026-11-24 09:02:00"),
        media("DCIM/100CANON/IMG_0004.JPG", "2026-11-24 09:30:00"),
        media("DCIM/100CANON/IMG_0005.JPG", "2026-11-24 10:00:00", size=0),
        media("DCIM/100CANON/IMG_0006.JPG", "2026-11-24 10:01:00"),
    ]


def card_map() -> IdMap:
    return IdMap(
        rows=(
            MapRow(
                line=2,
                patient_id="JBX3656",
                files="IMG_0001-IMG_0003",
                diagnosis=("melanoma", "naevus"),
                site="left forearm",
                consent="record",
            ),
            MapRow(line=3, patient_id="MCJ1984", files="IMG_0005-IMG_0006"),
        ),
        source="map.csv",
    )


def test_plan_sheet_groups_holds_and_marks_same_second_names() -> None:
    plan = make_plan(card_files(), card_map(), source="/card", archive="/archive")
    sheet = plan_sheet(plan, title="t")
    kinds = [
        (s.kind, s.patient_id, [t.source.rpartition("/")[2] for t in s.photos])
        for s in sheet.sections
    ]
    assert kinds == [
        ("group", "JBX3656", ["IMG_0001.JPG", "IMG_0002.JPG", "IMG_0003.JPG"]),
        ("group", "MCJ1984", ["IMG_0006.JPG"]),
        ("held", None, ["IMG_0004.JPG", "IMG_0005.JPG"]),
    ]
    first = sheet.sections[0]
    assert (first.map_line, first.diagnosis, first.site, first.consent) == (
        2,
        ("melanoma", "naevus"),
        "left forearm",
        "record",
    )
    assert [t.suffix for t in first.photos] == [None, "-2", None]
    assert [t.source for t in first.tiles if t.sidecar] == ["DCIM/100CANON/IMG_0002.XMP"]
    held = {t.source.rpartition("/")[2]: t.reason for t in sheet.sections[2].tiles}
    assert held == {"IMG_0004.JPG": "not in the ID map", "IMG_0005.JPG": "empty file (0 bytes)"}

    thumbs = {t.source: thumb() for s in sheet.sections for t in s.photos}
    page = Page(render(sheet, thumbs, generated=WHEN))
    sources = [f["data-source"] for f in page.figures]
    photos = [m.path for m in card_files() if not m.sidecar]
    assert sorted(sources) == sorted(photos)  # every photo exactly once
    assert page.section_of["DCIM/100CANON/IMG_0004.JPG"] == "held"
    assert page.section_of["DCIM/100CANON/IMG_0001.JPG"] == "group"
    assert "HELD: NOT FILED" in page.all_text
    assert "not in the ID map" in page.all_text and "empty file (0 bytes)" in page.all_text
    assert "-2" in page.all_text and "JBX3656-20261124-090000" in page.all_text
    assert "diagnosis: melanoma; naevus" in page.all_text
    # Five photos have a thumbnail; IMG_0005 (0 bytes) got none: a placeholder, not an img.
    assert len(page.images) == len(photos)
    for src in page.images:
        assert src.startswith("data:image/jpeg;base64,")
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()


def test_no_script_and_nothing_outside_the_file() -> None:
    plan = make_plan(card_files(), card_map(), source="/card", archive="/archive")
    text = render(plan_sheet(plan, title="t"), {}, generated=WHEN)
    page = Page(text)
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    for name, value in page.attributes:
        assert not name.startswith("on"), name
        if name in ("src", "href"):
            assert (value or "").startswith("data:"), value
    assert "http://" not in text and "https://" not in text
    assert "default-src 'none'" in text  # the CSP forbids any request but data: images


def test_card_strings_are_escaped_and_invisible_characters_shown() -> None:
    hostile = [
        media('DCIM/100CANON/"><script>alert(1)<!--.JPG', "2026-11-24 09:00:00"),
        media("DCIM/100CANON/IMG\x1b[31m_0002.JPG", "2026-11-24 09:00:01"),
        media("DCIM/100CANON/IMG_\u202egpj.0003.JPG", "2026-11-24 09:00:02"),
        media("DCIM/100CANON/<img src=x onerror=alert(1)>.JPG", "2026-11-24 09:00:03"),
    ]
    idmap = IdMap(rows=(MapRow(line=0, patient_id="JBX3656", everything=True),), source="--id")
    plan = make_plan(hostile, idmap, source="/card", archive="/archive")
    sheet = plan_sheet(plan, title="<b>title</b>")
    text = render(sheet, {m.path: thumb() for m in hostile}, generated=WHEN)
    page = Page(text)
    assert "script" not in page.tags and "b" not in page.tags
    assert page.tags.count("img") == len(hostile)  # only the thumbnails: no injected img
    assert not any(name.startswith("on") for name, _ in page.attributes)
    assert "\x1b" not in text and "\u202e" not in text
    shown = page.all_text
    assert "IMG\\x1b[31m_0002.JPG" in shown and "IMG_\\u202egpj.0003.JPG" in shown
    assert '"><script>alert(1)<!--.JPG' in shown  # shown as text, as the card names it
    assert sorted(f["data-source"] for f in page.figures) == sorted(
        visible(m.path) for m in hostile
    )


def test_ingest_sheet_shows_final_actions() -> None:
    plan = make_plan(card_files(), card_map(), source="/card", archive="/archive")
    finals = []
    for item in plan.items:
        if item.source.endswith("IMG_0003.JPG"):
            finals.append(Final(item, "failed", None, "read back differs from the card"))
        elif item.source.endswith("IMG_0001.JPG"):
            finals.append(Final(item, "skip", item.target, "already archived"))
        elif not item.source.endswith("IMG_0006.JPG"):  # IMG_0006: never reached
            finals.append(Final(item, item.action, item.target, item.reason))
    sheet = plan_sheet(plan, title="ingest", finals=finals, naming=Naming())
    by_kind = {s.kind: [t.source.rpartition("/")[2] for t in s.photos] for s in sheet.sections}
    assert by_kind["failed"] == ["IMG_0003.JPG"]
    assert by_kind["held"] == ["IMG_0004.JPG", "IMG_0005.JPG", "IMG_0006.JPG"]
    page = Page(render(sheet, {}, generated=WHEN))
    assert "already archived" in page.all_text
    assert "read back differs from the card" in page.all_text
    assert "not done: the ingest stopped before it" in page.all_text
    assert "FAILED" in page.all_text


def test_groups_sheet_numbers_match_the_interactive_prompts() -> None:
    files = card_files()
    groups = make_groups(files, timedelta(minutes=5))
    sheet = groups_sheet([g.files for g in groups], title="groups", source="/card")
    assert [(s.number, len(s.tiles)) for s in sheet.sections] == [
        (g.number, len(g.files)) for g in groups
    ]
    page = Page(render(sheet, {}, generated=WHEN))
    assert [s["data-group"] for s in page.sections if s.get("data-group")] == [
        str(g.number) for g in groups
    ]
    for group in groups:
        assert f"Group {group.number}" in page.all_text
    assert "ID not yet given" in page.all_text


def test_the_slate_that_assigned_a_group_is_marked() -> None:
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:01:00"),
    ]
    reads = {"DCIM/100CANON/IMG_0001.JPG": SlateRead("DCIM/100CANON/IMG_0001.JPG", ("JBX3656",))}
    plan = make_plan(
        files, IdMap(rows=(), source="slates", slates=True), slates=assign(files, reads)
    )
    sheet = plan_sheet(plan, title="t")
    assert [(t.source.rpartition("/")[2], t.slate) for t in sheet.sections[0].photos] == [
        ("IMG_0001.JPG", True),
        ("IMG_0002.JPG", False),
    ]
    page = Page(render(sheet, {}, generated=WHEN))
    assert page.all_text.count("slate: its barcode assigned this group") == 1


def test_two_patients_of_one_ingest_with_no_map_lines_are_two_groups() -> None:
    """Slates name each patient with no map line (None, as ``--id`` does): a sheet grouping
    by the map line alone showed the second patient's photos in the first's group, under
    the first's ID, and checking the sheet before a wipe is how a slate misread is caught."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:01:00"),
        media("DCIM/100CANON/IMG_0003.JPG", "2026-11-24 09:02:00"),
        media("DCIM/100CANON/IMG_0004.JPG", "2026-11-24 09:03:00"),
    ]
    reads = {
        "DCIM/100CANON/IMG_0001.JPG": SlateRead("DCIM/100CANON/IMG_0001.JPG", ("JBX3656",)),
        "DCIM/100CANON/IMG_0003.JPG": SlateRead("DCIM/100CANON/IMG_0003.JPG", ("MCJ1984",)),
    }
    plan = make_plan(
        files, IdMap(rows=(), source="slates", slates=True), slates=assign(files, reads)
    )
    assert {item.map_line for item in plan.items} == {None}
    sheet = plan_sheet(plan, title="t")
    assert [
        (s.kind, s.patient_id, [t.source.rpartition("/")[2] for t in s.photos])
        for s in sheet.sections
    ] == [
        ("group", "JBX3656", ["IMG_0001.JPG", "IMG_0002.JPG"]),
        ("group", "MCJ1984", ["IMG_0003.JPG", "IMG_0004.JPG"]),
    ]
    page = Page(render(sheet, {}, generated=WHEN))
    ids = [s["data-id"] for s in page.sections if s.get("data-group")]
    assert ids == ["JBX3656", "MCJ1984"]
    assert "2 group(s)" in page.all_text
