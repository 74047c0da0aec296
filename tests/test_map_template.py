"""`map-template`'s groups and specs: every row it writes, once given an ID, covers exactly
its group's photos (`idmap.resolve`), whatever the names and clocks on the card."""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from clinic_helpers import invoke
from exif_bytes import exif_jpeg
from factories import media

from cardingest.errors import InvalidIdError, MapError
from cardingest.ids import validate_id
from cardingest.models import MediaFile
from cardingest.plan.assign import build_idmap, make_groups
from cardingest.plan.idmap import parse_map_text, resolve, template_span
from cardingest.plan.template import group_by_gap, map_template

GAP = timedelta(minutes=10)


def _valid_ids(count: int) -> list[str]:
    """Valid NHIs (old format), as many as a random card has groups."""
    found: list[str] = []
    for number in range(100, 1000):
        for check in "0123456789":
            try:
                found.append(validate_id(f"JBX{number}{check}"))
            except InvalidIdError:
                continue
            if len(found) == count:
                return found
    raise AssertionError("not enough IDs")


IDS = _valid_ids(400)


def filled(files: list[MediaFile]) -> tuple[str, list[list[MediaFile]]]:
    """The template with an ID in every row, and its groups."""
    rows = list(csv.reader(io.StringIO(map_template(files, GAP))))
    ids = iter(IDS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        if row and not row[0].startswith("#") and row[0] != "files":
            row[1] = next(ids)
        writer.writerow(row)
    return out.getvalue(), group_by_gap(files, GAP)


def assert_round_trip(files: list[MediaFile]) -> list[list[MediaFile]]:
    text, groups = filled(files)
    covered = resolve(parse_map_text(text), files)
    for number, group in enumerate(groups):
        assert {covered[m.path].patient_id for m in group} == {IDS[number]}, (text, number)
    assert sorted(covered) == sorted(m.path for m in files if not m.sidecar)
    return groups


def test_a_raw_and_its_jpeg_are_one_group_whatever_the_raws_time() -> None:
    """A RAW whose time comes from elsewhere (here its file time, a month off): the shot
    takes its JPEG's time, as the plan does, so the map holds the shot once."""
    files = [
        media("DCIM/100MSDCF/DSC00001.JPG", "2026-03-01 09:00:01"),
        media("DCIM/100MSDCF/DSC00001.ARW", "2026-04-01 09:00:00", source="mtime"),
        media("DCIM/100MSDCF/DSC00002.JPG", "2026-03-01 09:00:05"),
    ]
    assert [len(g) for g in assert_round_trip(files)] == [3]


def test_a_clock_reset_starts_a_new_group() -> None:
    """A camera back at its factory date after the battery ran out: the second session's
    times go back, so it is another group, however close the times are."""
    files = [media(f"DCIM/100KODAK/100_{n:04d}.JPG", f"2000-01-01 00:00:{5 + 15 * n:02d}")
             for n in range(3)]  # fmt: skip
    files += [media(f"DCIM/100KODAK/100_{n:04d}.JPG", f"2000-01-01 00:00:{n:02d}")
              for n in range(3, 6)]  # fmt: skip
    assert [len(g) for g in assert_round_trip(files)] == [3, 3]


def test_the_hour_daylight_saving_repeats_is_counted_as_an_hour() -> None:
    """Clocks go back at 03:00 (+13:00 to +12:00): a phone's 02:45 comes twice, an hour apart,
    and the photos between are another patient's. By the clock alone they would be one
    group; by their UTC offsets they are three."""

    def phone(name: str, when: str, offset: str) -> MediaFile:
        return replace(media(f"DCIM/Camera/{name}.jpg", when), utc_offset=offset)

    files = [
        phone("PXL_20260405_021000", "2026-04-05 02:10:00", "+12:00"),
        phone("PXL_20260405_024500", "2026-04-05 02:45:00", "+13:00"),
        phone("PXL_20260405_024501", "2026-04-05 02:45:01", "+12:00"),
    ]
    assert [len(g) for g in assert_round_trip(files)] == [1, 1, 1]
    same = [replace(m, utc_offset="+12:00") for m in files]
    assert [len(g) for g in group_by_gap(same, timedelta(hours=1))] == [3]


def test_names_a_range_cannot_span_are_written_as_ranges_it_can() -> None:
    """A phone's names carry the date, a Canon switches to _MG_ in Adobe RGB, a card holds
    two cameras' folders: each row still covers exactly its group."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-03-01 09:00:00"),
        media("DCIM/100CANON/_MG_0002.JPG", "2026-03-01 09:00:10"),
        media("DCIM/100CANON/IMG_0003.JPG", "2026-03-01 09:00:20"),
        media("DCIM/100CANON/IMG_0004.JPG", "2026-03-01 09:00:30"),
        media("DCIM/100MSDCF/DSC00001.JPG", "2026-03-01 09:01:00"),
        media("DCIM/Camera/IMG_20260301_235900.jpg", "2026-03-01 23:59:00"),
        media("DCIM/Camera/IMG_20260302_000100.jpg", "2026-03-02 00:01:00"),
    ]
    groups = assert_round_trip(files)
    # The Canon's four (IMG_ and _MG_ in one numbering) with the Sony 30 s later; then the
    # phone's two photos, either side of midnight.
    assert [len(g) for g in groups] == [5, 2]
    text = map_template(files, GAP)
    assert "IMG_0001 _MG_0002 IMG_0003-IMG_0004" in text.replace("100CANON/", "")


def test_a_phones_second_photo_in_a_second_is_grouped_with_its_time() -> None:
    """A phone names a second photo taken in the same second IMG_…_100000_1. Grouped by the
    name before its last number, the ``_1`` photos made groups of their own after the day's
    others, so the 10:00 visit's second photo came after the 10:30 patient's group, and
    answering "." (the group before's patient) filed it under the 10:30 patient."""
    files = [
        media("DCIM/Camera/IMG_20240509_100000.jpg", "2024-05-09 10:00:00"),
        media("DCIM/Camera/IMG_20240509_100000_1.jpg", "2024-05-09 10:00:00"),
        media("DCIM/Camera/IMG_20240509_100100.jpg", "2024-05-09 10:01:00"),
        media("DCIM/Camera/IMG_20240509_103000.jpg", "2024-05-09 10:30:00"),
        media("DCIM/Camera/IMG_20240509_103000_1.jpg", "2024-05-09 10:30:00"),
        media("DCIM/Camera/IMG_20240509_103100.jpg", "2024-05-09 10:31:00"),
    ]
    groups = assert_round_trip(files)
    assert [[m.stem.removeprefix("IMG_20240509_") for m in g] for g in groups] == [
        ["100000", "100000_1", "100100"],
        ["103000", "103000_1", "103100"],
    ]
    assert [[m.stem for m in g] for g in group_by_gap(list(reversed(files)), GAP)] == [
        [m.stem for m in g] for g in groups
    ]


def random_card(rng: random.Random) -> list[MediaFile]:
    """Several cameras' folders (with a rollover), names with and without the colour-space
    prefix, numbers with and without leading zeros, a phone's dated names, RAW+JPEG shots,
    bursts, clock jumps both ways."""
    files: list[MediaFile] = []
    when = datetime(2026, 3, 1, 9)
    for folder, prefixes in rng.sample(FOLDERS, rng.randint(1, len(FOLDERS))):
        number = rng.choice([1, 8, 95, 9990])
        for _ in range(rng.randint(1, 12)):
            when += rng.choice([timedelta(0), timedelta(seconds=20), timedelta(minutes=30),
                                -timedelta(minutes=3), -timedelta(days=9000)])  # fmt: skip
            if folder == "Camera":
                stem = f"IMG_{when:%Y%m%d_%H%M%S}"
                if rng.random() < 0.3:  # a second photo in the same second
                    files.append(media(f"DCIM/Camera/{stem}.jpg", when.isoformat(sep=" ")))
                    stem += f"_{rng.choice([1, 1, 2])}"
            elif folder == "100NOPAD":
                stem = f"{rng.choice(prefixes)}{number % 10000}"
                number += rng.choice([1, 1, 2])
            else:
                stem = f"{rng.choice(prefixes)}{number % 10000:04d}"
                number += rng.choice([1, 1, 2])
            real = folder if number < 10000 or folder == "Camera" else f"101{folder[3:]}"
            stamp = when.isoformat(sep=" ")
            files.append(media(f"DCIM/{real}/{stem}.JPG", stamp))
            if rng.random() < 0.3:
                files.append(media(f"DCIM/{real}/{stem}.CR2", stamp, source="mtime"))
    unique = {m.path: m for m in files}  # a name met twice (a clock back in a phone) once
    return list(unique.values())


FOLDERS = [
    ("100CANON", ["IMG_", "IMG_", "_MG_"]),
    ("100MSDCF", ["DSC0"]),
    ("100_FUJI", ["DSCF"]),
    ("100OLYMP", ["P100"]),
    ("100NOPAD", ["IMG_"]),  # a device that writes no leading zeros: IMG_9, then IMG_10
    ("Camera", []),
]


@pytest.mark.parametrize("seed", range(40))
def test_every_row_covers_exactly_its_group_on_random_cards(seed: int) -> None:
    assert_round_trip(random_card(random.Random(seed)))


def test_folders_of_one_name_are_left_to_times_and_the_map_refuses_them() -> None:
    """DCIM/100CANON and DCIM/OLD/100CANON: a files cell names a folder by its name, so it
    would cover both. The template names them in comments, and a map that names either is
    refused (exit 2), never filed under the one row."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-03-10 09:00:00"),
        media("DCIM/OLD/100CANON/IMG_0001.JPG", "2026-03-10 11:00:00"),
        media("DCIM/101CANON/IMG_0002.JPG", "2026-03-10 12:00:00"),
    ]
    text = map_template(files, GAP)
    assert "# DCIM/OLD/100CANON/IMG_0001.JPG: another folder on this card" in text
    cells = [row[0] for row in csv.reader(io.StringIO(text)) if not row[0].startswith("#")]
    assert cells == ["files", "101CANON/IMG_0002"]
    for spec in ("100CANON/IMG_0001", "IMG_0001", "100CANON/IMG_0001-101CANON/IMG_0002"):
        with pytest.raises(MapError) as caught:
            resolve(parse_map_text(f"files,id\n{spec},JBX3656\n"), files)
        assert "DCIM/100CANON and DCIM/OLD/100CANON" in caught.value.details[0], spec


def test_a_photo_beside_the_folders_gets_a_name_a_map_can_read() -> None:
    files = [
        media("IMG_0001.JPG", "2026-03-10 09:00:00"),
        media("IMG_0002.JPG", "2026-03-10 09:00:10"),
        media("sub/IMG_0003.JPG", "2026-03-10 11:00:00"),
    ]
    assert [len(g) for g in assert_round_trip(files)] == [2, 1]


def test_at_the_prompt_folders_of_one_name_stay_on_the_card() -> None:
    """The interactive groups name photos as a map does: photos in DCIM/100CANON and
    DCIM/OLD/100CANON cannot be told apart, so they are left out (and stay on the card, with
    a warning) instead of the map failing once every ID was typed."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-03-10 09:00:00"),
        media("DCIM/OLD/100CANON/IMG_0001.JPG", "2026-03-10 11:00:00"),
        media("DCIM/101CANON/IMG_0002.JPG", "2026-03-10 12:00:00"),
    ]
    groups = make_groups(files, GAP)
    idmap, unnamed = build_idmap(groups, IDS[: len(groups)])
    assert sorted(unnamed) == ["DCIM/100CANON/IMG_0001.JPG", "DCIM/OLD/100CANON/IMG_0001.JPG"]
    assert list(resolve(idmap, files)) == ["DCIM/101CANON/IMG_0002.JPG"]


def test_a_pixels_motion_photo_names_are_written_so_the_map_finds_them() -> None:
    """A Pixel names a motion photo ``PXL_…123.MP.jpg``. The template wrote its stem,
    ``PXL_…123.MP``, which the map read as ``PXL_…123`` with the extension ``.MP``: no file,
    so the map was refused and the interactive ingest failed. Such a name is written whole."""
    files = [
        media("DCIM/Camera/PXL_20240509_100001123.MP.jpg", "2024-05-09 10:00:01"),
        media("DCIM/Camera/PXL_20240509_100002456.jpg", "2024-05-09 10:00:02"),
        media("DCIM/Camera/PXL_20240509_103000789.MP.jpg", "2024-05-09 10:30:00"),
    ]
    assert [len(g) for g in assert_round_trip(files)] == [2, 1]
    cells = [row[0] for row in csv.reader(io.StringIO(map_template(files, GAP)))]
    assert "PXL_20240509_100001123.MP.jpg PXL_20240509_100002456" in cells
    assert "PXL_20240509_103000789.MP.jpg" in cells
    for spec in ("PXL_20240509_100001123.MP", "PXL_20240509_100001123"):  # not the photo
        with pytest.raises(MapError):
            resolve(parse_map_text(f"files,id\n{spec},JBX3656\n"), files)
    # Beside a PXL_…123.jpg, the cell PXL_…123.MP must not be read as that photo's name.
    with pytest.raises(MapError) as caught:
        parse_map_text("files,id\nPXL_20240509_100001123.MP,JBX3656\n")
    assert "ends in .MP, which is no photo's extension" in caught.value.details[0]


def test_a_cell_copied_with_dcim_says_to_leave_it_out() -> None:
    files = [media("DCIM/100CANON/IMG_0001.JPG", "2026-03-10 09:00:00")]
    with pytest.raises(MapError) as caught:
        resolve(parse_map_text("files,id\nDCIM/100CANON/IMG_0001,JBX3656\n"), files)
    assert "leave out DCIM/: 100CANON/IMG_0001" in str(caught.value.details)


def test_groups_come_in_the_order_they_were_taken_across_name_series() -> None:
    """A GoPro names single photos GOPR0001 and a burst's G0010002-G0010004; in card order the
    burst (14:00:10) came after the next patient's GOPR0006 (14:20), its number read as
    10002, and at the prompt "." (the group before's patient) then filed the burst under
    that patient. Its number is 2 (the last four digits): it joins GOPR0001's group. A
    phone's IMG_ and PXL_ names are put in the order taken."""
    files = [
        media("DCIM/100GOPRO/GOPR0001.JPG", "2026-03-11 14:00:00"),
        *(media(f"DCIM/100GOPRO/G001000{n}.JPG", f"2026-03-11 14:00:1{n}") for n in (2, 3, 4)),
        media("DCIM/100GOPRO/GOPR0006.JPG", "2026-03-11 14:20:00"),
        media("DCIM/Camera/PXL_20260311_090000000.jpg", "2026-03-11 09:00:00"),
        media("DCIM/Camera/IMG_20260311_093000.jpg", "2026-03-11 09:30:00"),
    ]
    groups = assert_round_trip(files)
    assert [[m.stem for m in group] for group in groups] == [
        ["PXL_20260311_090000000"],
        ["IMG_20260311_093000"],
        ["GOPR0001", "G0010002", "G0010003", "G0010004"],
        ["GOPR0006"],
    ]
    prompts = [group.files[0].stem for group in make_groups(files, GAP)]
    assert prompts == ["PXL_20260311_090000000", "IMG_20260311_093000", "GOPR0001", "GOPR0006"]
    idmap, _ = build_idmap(make_groups(files, GAP), ["JBX3656", "MCJ1984", "ACA31FM", "ZAC5361"])
    burst = resolve(idmap, files)["DCIM/100GOPRO/G0010003.JPG"]
    assert burst.patient_id == "ACA31FM"


def test_a_group_whose_clock_was_reset_stays_where_the_camera_numbered_it() -> None:
    """A camera whose clock fell back to its factory date mid-card (a flat battery): its
    last patient's photos, dated 2000-01-01, would come first in time order, and filling
    the rows top-down gave them the first patient's ID. They stay after the group before
    them on the card."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-03-11 09:00:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-03-11 09:30:00"),
        media("DCIM/100CANON/IMG_0003.JPG", "2000-01-01 00:00:05"),
        media("DCIM/100CANON/IMG_0004.JPG", "2000-01-01 00:00:09"),
    ]
    groups = assert_round_trip(files)
    assert [[m.stem for m in group] for group in groups] == [
        ["IMG_0001"],
        ["IMG_0002"],
        ["IMG_0003", "IMG_0004"],
    ]


@pytest.mark.parametrize("reset", ["2019-01-01 00:00:05", "2026-03-11 08:00:05"])
def test_a_clock_set_back_mid_card_keeps_the_cameras_order(reset: str) -> None:
    """A camera whose clock fell back to a factory date later than 2000 (2019), or was set
    right an hour back mid-session: by time its last patient's group came first. Within
    one camera folder the camera's numbers are the order; another camera's folder, whose
    numbers say nothing of this one's, goes by time."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-03-11 09:00:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-03-11 09:30:00"),
        media("DCIM/100CANON/IMG_0003.JPG", reset),
        media("DCIM/100NIKON/DSC_0001.JPG", "2026-03-11 09:15:00"),
    ]
    groups = assert_round_trip(files)
    assert [[m.stem for m in group] for group in groups] == [
        ["IMG_0001"],
        ["DSC_0001"],
        ["IMG_0002"],
        ["IMG_0003"],
    ]


def _card(root: Path, day: str) -> Path:
    folder = root / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    for number, when in zip(
        (101, 102, 103, 104), ("09:00:10", "09:02:00", "10:00:10", "10:03:00"), strict=True
    ):
        (folder / f"IMG_{number:04d}.JPG").write_bytes(exif_jpeg(f"{day} {when}"))
    return root


def test_a_template_filled_in_for_one_card_holds_another_cards_photos(
    tmp_path: Path, test_ids: Path
) -> None:
    """A trial: the map written by map-template for one card, filled in, and given first to
    another card of the same names (another day) filed its photos under the IDs without a
    word. The template's `#` line above each row says when its photos were taken: a row
    none of whose photos on the card was taken then holds them. A row edited to name more
    photos (two groups of one patient in one row) keeps its own, and passes."""
    first, other = _card(tmp_path / "first", "2026:11:05"), _card(tmp_path / "other", "2026:11:20")
    template = tmp_path / "map.csv"
    code, _out, err = invoke("map-template", first, "--out", template)
    assert code == 0, err
    text = template.read_text(encoding="utf-8")
    assert "\nIMG_0101-IMG_0102,,,,\n" in text and "\nIMG_0103-IMG_0104,,,,\n" in text, text
    filled = text.replace("IMG_0101-IMG_0102,,", "IMG_0101-IMG_0102,ZZZ0016,").replace(
        "IMG_0103-IMG_0104,,", "IMG_0103-IMG_0104,ZZZ0024,"
    )
    template.write_text(filled, encoding="utf-8")
    archive = ("--archive", tmp_path / "archive")
    code, out, err = invoke("preview", other, "--map", template, *archive, "--json")
    items = json.loads(out)["items"]
    assert code == 3 and {i["action"] for i in items} == {"hold"}, err
    said = " ".join(i["reason"] for i in items)
    assert (
        "written by map-template for photos taken 2026-11-05 09:00:10 to 2026-11-05 09:02:00"
        in said
    )
    assert "2026-11-05 10:00:10 to 2026-11-05 10:03:00" in said
    code, out, err = invoke("preview", first, "--map", template, *archive, "--json")
    assert code == 0 and [i["id"] for i in json.loads(out)["items"]] == (
        ["ZZZ0016"] * 2 + ["ZZZ0024"] * 2
    ), err
    merged = filled.replace("IMG_0101-IMG_0102,ZZZ0016,", "IMG_0101-IMG_0104,ZZZ0016,")
    template.write_text(merged.replace("IMG_0103-IMG_0104,ZZZ0024,,,\n", ""), encoding="utf-8")
    code, out, err = invoke("preview", first, "--map", template, *archive, "--json")
    assert code == 0 and {i["id"] for i in json.loads(out)["items"]} == {"ZZZ0016"}, err


def test_the_template_lines_spans_are_read_back_with_their_rows() -> None:
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-05 23:59:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-06 00:01:00"),
        media("DCIM/100CANON/IMG_0003.JPG", "2026-11-06 09:00:00"),
    ]
    text = map_template(files, GAP).replace(",,,,", ",JBX3656,,,")
    rows = parse_map_text(text).rows
    assert [row.made_for for row in rows] == [
        (datetime(2026, 11, 5, 23, 59), datetime(2026, 11, 6, 0, 1)),
        (datetime(2026, 11, 6, 9, 0), datetime(2026, 11, 6, 9, 0)),
    ]
    assert template_span("# a note: 2 photo(s)") is None
    assert template_span("# 2026-11-06 09:00:00 to 08:00:00: 2 photo(s)") is None


def test_a_template_whose_rows_were_sorted_or_whose_columns_moved_is_read_safely() -> None:
    """A trial: sorted in a spreadsheet, the template's `#` lines came first and the first
    row took the last one's span (the right card's photos held, another card's filed);
    with the id column moved first its `#` lines became `,# …` and 19 problems. A block of
    span lines with no row between uses none; a lone `#` cell in any column is a comment."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-02 10:00:01"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-02 10:30:00"),
    ]
    text = map_template(files, GAP).replace(",,,,", ",JBX3656,,,")
    header, *lines = text.splitlines()
    assert [line.startswith("#") for line in lines] == [True, False, True, False]
    rows = parse_map_text("\n".join([header, *sorted(lines)])).rows
    assert [row.made_for for row in rows] == [None, None]
    moved = "\n".join(
        [
            "id,files",
            *(f",{line}" if line.startswith("#") else "JBX3656,IMG_0001" for line in lines[:2]),
        ]
    )
    rows = parse_map_text(moved).rows
    assert [(row.patient_id, row.made_for) for row in rows] == [
        ("JBX3656", (datetime(2026, 11, 2, 10, 0, 1), datetime(2026, 11, 2, 10, 0, 1)))
    ]


def _close_patients_card(root: Path) -> Path:
    """Two patients 30 seconds apart: 09:00:00, 09:00:20 and 09:00:40, then 09:01:10 and
    09:01:30 (groups by a gap of 0.4 minutes)."""
    folder = root / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    times = ("09:00:00", "09:00:20", "09:00:40", "09:01:10", "09:01:30")
    for number, when in enumerate(times, start=1):
        (folder / f"IMG_{number:04d}.JPG").write_bytes(exif_jpeg(f"2026:11:05 {when}"))
    return root


def _rows_from_the_spans(template: Path) -> Path:
    """The map a person writes from the template's `#` lines: a from and a to row under
    each, its times copied from the line above."""
    lines = []
    for line in template.read_text(encoding="utf-8").splitlines()[1:]:
        span = template_span(line)
        if line.startswith("#"):
            lines.append(line)
        if span is not None:
            patient = ("ZZZ0016", "ZZZ0024")[sum(1 for x in lines if template_span(x)) - 1]
            lines.append(f",{patient},{span[0]},{span[1]}")
    written = template.with_name(f"from-to-{template.name}")
    written.write_text("\n".join(["files,id,from,to", *lines]) + "\n", encoding="utf-8")
    return written


def test_from_and_to_copied_from_the_template_follow_its_clock_offset(
    tmp_path: Path, test_ids: Path
) -> None:
    """A trial: `map-template` shows camera times, and tells a person to give a photo by
    `from` and `to` times; those are compared with the camera's time plus --clock-offset.
    Copied from the `#` lines and run with `--clock-offset +00:00:35`, the first patient's
    last photo (09:00:40, 09:01:15 by the offset) fell in the second patient's row (09:01:10
    to 09:01:30) and was filed under that patient. Such a map is refused now (exit 2,
    nothing filed); a template written with the run's `--clock-offset` shows the times with
    it added, says so, and files every photo under its own patient, only with that offset."""
    card = _close_patients_card(tmp_path / "card")
    archive = ("--archive", tmp_path / "archive")
    plain = tmp_path / "plain.csv"
    code, _out, err = invoke("map-template", card, "--gap", "0.4", "--out", plain)
    assert code == 0, err
    copied = _rows_from_the_spans(plain)
    code, out, err = invoke(
        "ingest", card, "--map", copied, *archive, "--clock-offset", "+00:00:35"
    )
    said = " ".join(err.split())
    assert code == 2 and out == "", err
    assert "line(s) 3, 5 give photos by from and to times, in a map written by map-template" in said
    assert "map-template --clock-offset +00:00:35" in said
    assert not (tmp_path / "archive" / "ZZZ0024").exists()

    offset = tmp_path / "offset.csv"
    code, _out, err = invoke(
        "map-template", card, "--gap", "0.4", "--clock-offset", "+00:00:35", "--out", offset
    )
    assert code == 0, err
    written = offset.read_text(encoding="utf-8").splitlines()
    assert written[1] == (
        "# times are the camera's with --clock-offset +00:00:35 added: give preview and "
        "ingest the same --clock-offset"
    )
    assert written[2] == "# 2026-11-05 09:00:35 to 09:01:15: 3 photo(s)", written
    copied = _rows_from_the_spans(offset)
    code, out, err = invoke(
        "preview", card, "--map", copied, *archive, "--clock-offset", "+00:00:35", "--json"
    )
    assert code == 0, err
    assert [(i["source"][-12:], i["id"]) for i in json.loads(out)["items"]] == [
        ("IMG_0001.JPG", "ZZZ0016"),
        ("IMG_0002.JPG", "ZZZ0016"),
        ("IMG_0003.JPG", "ZZZ0016"),
        ("IMG_0004.JPG", "ZZZ0024"),
        ("IMG_0005.JPG", "ZZZ0024"),
    ]
    for other in ((), ("--clock-offset", "+00:01")):
        code, out, err = invoke("preview", card, "--map", copied, *archive, *other)
        assert code == 2 and out == "", err
        assert "written by map-template with --clock-offset +00:00:35" in " ".join(err.split())


def test_a_template_with_a_clock_offset_checks_its_rows_spans_by_it(
    tmp_path: Path, test_ids: Path
) -> None:
    """The `#` line above each row is in the template's times (the offset added): the check
    that its photos were taken then adds the offset too, so the right card passes (with any
    offset of the run: names do not move with the clock), and another day's card of the
    same names is held."""
    card = _close_patients_card(tmp_path / "card")
    template = tmp_path / "map.csv"
    code, _out, err = invoke(
        "map-template", card, "--gap", "0.4", "--clock-offset", "-01:00", "--out", template
    )
    assert code == 0, err
    text = template.read_text(encoding="utf-8")
    assert "# 2026-11-05 08:00:00 to 08:00:40: 3 photo(s)" in text, text
    template.write_text(
        text.replace("IMG_0001-IMG_0003,,", "IMG_0001-IMG_0003,ZZZ0016,").replace(
            "IMG_0004-IMG_0005,,", "IMG_0004-IMG_0005,ZZZ0024,"
        ),
        encoding="utf-8",
    )
    archive = ("--archive", tmp_path / "archive")
    for offset in (("--clock-offset", "-01:00"), (), ("--clock-offset", "+00:05")):
        code, out, err = invoke("preview", card, "--map", template, *archive, *offset, "--json")
        assert code == 0 and {i["action"] for i in json.loads(out)["items"]} == {"copy"}, err
    other = tmp_path / "other"
    shutil.copytree(card, other)
    for photo in sorted((other / "DCIM" / "100CANON").iterdir()):
        photo.write_bytes(exif_jpeg("2026:11:20 12:00:00"))
    code, out, err = invoke(
        "preview", other, "--map", template, *archive, "--clock-offset", "-01:00", "--json"
    )
    reasons = " ".join(i["reason"] for i in json.loads(out)["items"])
    assert code == 3 and "photos taken 2026-11-05 08:00:00 to 2026-11-05 08:00:40" in reasons


def test_two_clock_offset_lines_in_a_map_are_an_error() -> None:
    files = [media("DCIM/100CANON/IMG_0001.JPG", "2026-11-05 09:00:00")]
    text = map_template(files, GAP, timedelta(hours=1)).replace(",,,,", ",JBX3656,,,")
    assert parse_map_text(text).times_offset == timedelta(hours=1)
    assert parse_map_text(map_template(files, GAP).replace(",,,,", ",JBX3656,,,")).times_offset == (
        timedelta(0)
    )
    assert parse_map_text("files,id\nIMG_0001,JBX3656\n").times_offset is None
    twice = text + "# times are the camera's with --clock-offset +02:00:00 added: give …\n"
    with pytest.raises(MapError) as caught:
        parse_map_text(twice)
    assert "lines 2, 5: two clock offsets for the map's times" in " ".join(caught.value.details)
    typo = text.replace("+01:00:00", "+01:75:00")
    with pytest.raises(MapError) as caught:
        parse_map_text(typo)
    assert "line 2: --clock-offset '+01:75:00': minutes and seconds go up to 59" in (
        " ".join(caught.value.details)
    )


def test_an_out_that_is_a_folder_is_said_to_be_one(tmp_path: Path, test_ids: Path) -> None:
    """A trial: `map-template --out outdir` said "outdir exists; not overwriting it", as if a
    file would have been written over. A folder is said to be one, with a file to give."""
    from clinic_helpers import demo_card

    card, _ = demo_card(tmp_path)
    folder = tmp_path / "maps"
    folder.mkdir()
    code, out, err = invoke("map-template", card, "--out", folder)
    said = " ".join(err.split())
    assert code == 2 and out == "", err
    assert f"--out {folder} is a folder; give the file to write, such as {folder}/map.csv" in said
    assert list(folder.iterdir()) == []
    for name in ("slates", "slate.png"):
        slate = tmp_path / name
        slate.mkdir()
        code, _out, err = invoke("slate", "JBX3656", "--out", slate)
        said = " ".join(err.split())
        assert code == 2 and f"--out {slate} is a folder; give the file to write" in said, err


def test_an_out_in_a_missing_folder_names_the_folder(tmp_path: Path) -> None:
    """A trial: `map-template --out nope/map.csv` said "Cannot write nope/map.csv: No such
    file or directory", as if the file were expected to be there. The missing folder is named,
    for `map-template`, `slate` and `--sheet` alike, and nothing is made."""
    from clinic_helpers import demo_card

    card, _ = demo_card(tmp_path)
    missing = tmp_path / "nope"
    runs = {
        "map.csv": ("map-template", card, "--out"),
        "slate.png": ("slate", "JBX3656", "--out"),
        "sheet.html": ("preview", card, "--id", "JBX3656", "--sheet"),
    }
    for name, args in runs.items():
        target = missing / name
        code, out, err = invoke(*args, target)
        said = " ".join(err.split())
        assert code == 2 and out == "", err
        assert f"{target}: the folder {missing} does not exist; create it first" in said, err
        assert "No such file" not in said
    assert not missing.exists()
