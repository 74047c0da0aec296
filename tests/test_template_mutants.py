"""Rules of `map-template` (`plan.template`) that its mutation round found unpinned: where a
group ends, which names a row may write as a range, and the comment lines' words. A row
whose range covers another group's photo files them under the wrong patient."""

from __future__ import annotations

import csv
import io

from factories import media
from test_map_template import GAP, assert_round_trip

from cardingest.models import MediaFile
from cardingest.plan.shots import EARLIEST_PLAUSIBLE
from cardingest.plan.template import group_by_gap, map_template


def _cells(text: str) -> list[str]:
    """The files cells of a template, without its header and comment lines."""
    rows = csv.reader(io.StringIO(text))
    return [row[0] for row in rows if row[0] != "files" and not row[0].startswith("#")]


def _stems(files: list[MediaFile]) -> list[list[str]]:
    return [[m.stem for m in group] for group in group_by_gap(files, GAP)]


def test_two_folders_of_the_same_file_names_are_written_with_their_folders() -> None:
    """Two camera folders (a card used in two cameras, or one after a folder rollover) each
    holding IMG_0001: a bare IMG_0001 would cover both, so the second patient's photo went
    under the first's row. With two folders on the card, and not only with three or more,
    every name carries its folder."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-03-10 09:00:00"),
        media("DCIM/101CANON/IMG_0001.JPG", "2026-03-10 11:00:00"),
    ]
    assert _cells(map_template(files, GAP)) == ["100CANON/IMG_0001", "101CANON/IMG_0001"]
    assert [len(group) for group in assert_round_trip(files)] == [1, 1]


def test_a_group_across_two_folders_gets_a_range_per_folder() -> None:
    """A session that went on into the camera's next folder (IMG_0099 in 100CANON, IMG_0100
    in 101CANON): a range runs within one folder, so the row holds one per folder, never
    100CANON/IMG_0098-101CANON/IMG_0101."""
    files = [
        media("DCIM/100CANON/IMG_0098.JPG", "2026-03-10 09:00:00"),
        media("DCIM/100CANON/IMG_0099.JPG", "2026-03-10 09:01:00"),
        media("DCIM/101CANON/IMG_0100.JPG", "2026-03-10 09:02:00"),
        media("DCIM/101CANON/IMG_0101.JPG", "2026-03-10 09:03:00"),
        media("DCIM/101CANON/IMG_0102.JPG", "2026-03-10 11:00:00"),
    ]
    assert _cells(map_template(files, GAP)) == [
        "100CANON/IMG_0098-100CANON/IMG_0099 101CANON/IMG_0100-101CANON/IMG_0101",
        "101CANON/IMG_0102",
    ]
    assert [len(group) for group in assert_round_trip(files)] == [4, 1]


def test_photos_beside_the_folders_are_named_one_by_one_never_as_a_range() -> None:
    """IMG_0001 and IMG_0003 beside DCIM/100CANON, whose IMG_0002 is the next patient's: a
    bare range IMG_0001-IMG_0003 covers the folder's IMG_0002 too, so each is named alone."""
    files = [
        media("IMG_0001.JPG", "2026-03-10 09:00:00"),
        media("IMG_0003.JPG", "2026-03-10 09:00:05"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-03-10 10:00:00"),
    ]
    assert _cells(map_template(files, GAP)) == ["IMG_0001 IMG_0003", "100CANON/IMG_0002"]
    assert [len(group) for group in assert_round_trip(files)] == [2, 1]


def test_a_photo_exactly_the_gap_after_the_last_stays_in_its_group() -> None:
    """The gap is the longest pause within one patient's group: a group ends only where the
    clock jumps forward by more than it."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-03-10 09:00:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-03-10 09:10:00"),  # GAP exactly
        media("DCIM/100CANON/IMG_0003.JPG", "2026-03-10 09:20:01"),  # one second more
    ]
    assert _stems(files) == [["IMG_0001", "IMG_0002"], ["IMG_0003"]]


def test_a_photo_dated_the_earliest_plausible_day_is_placed_by_its_time() -> None:
    """`EARLIEST_PLAUSIBLE` is the first time a clock may have been set: a group dated at it
    (in another camera's folder, whose numbers say nothing of this one's) goes by its time,
    first; one a second before it is an unset clock and stays after the group before it."""
    plausible = EARLIEST_PLAUSIBLE.isoformat(sep=" ")
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-03-10 09:00:00"),
        media("DCIM/101CANON/IMG_0002.JPG", plausible),
    ]
    assert _stems(files) == [["IMG_0002"], ["IMG_0001"]]
    unset = [files[0], media("DCIM/101CANON/IMG_0002.JPG", "2000-01-01 23:59:59")]
    assert _stems(unset) == [["IMG_0001"], ["IMG_0002"]]


def test_a_canon_and_a_panasonic_folder_are_walked_in_their_names_order() -> None:
    """100CANON and 100_PANA, in capitals as the card's names are compared: 100CANON first,
    so a patient photographed with the Canon and then, within the gap, the Panasonic is one
    group. Walked the other way the clock went back at the folder, and the patient took two
    rows."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-03-10 09:00:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-03-10 09:01:00"),
        media("DCIM/100_PANA/P1000001.JPG", "2026-03-10 09:02:00"),
    ]
    assert _stems(files) == [["IMG_0001", "IMG_0002", "P1000001"]]
    assert [len(group) for group in assert_round_trip(files)] == [3]


def test_a_canons_img_and_mg_names_of_one_number_are_walked_img_first() -> None:
    """A Canon numbers its IMG_ (sRGB) and _MG_ (Adobe RGB) names in one sequence: two of
    one number compare by the name in capitals, IMG_ first, so taken in that order within
    the gap they are one group, not a clock that went back between them."""
    files = [
        media("DCIM/100CANON/IMG_0042.JPG", "2026-03-10 09:00:00"),
        media("DCIM/100CANON/_MG_0042.JPG", "2026-03-10 09:01:00"),
    ]
    assert _stems(files) == [["IMG_0042", "_MG_0042"]]


def test_the_template_lines_end_with_a_bare_newline() -> None:
    """The map is text for the clinic's editor and `--out` file: lines end in ``\\n``, as every
    other file cardingest writes, not the csv module's ``\\r\\n``."""
    files = [media("DCIM/100CANON/IMG_0001.JPG", "2026-03-10 09:00:00")]
    text = map_template(files, GAP)
    assert "\r" not in text
    assert text == (
        "files,id,diagnosis,site,consent\n# 2026-03-10 09:00:00: 1 photo(s)\nIMG_0001,,,,\n"
    )


def test_a_name_a_map_cannot_hold_is_listed_in_a_comment_that_says_what_to_do() -> None:
    """IMG-0001 (a dash, which a files cell reads as a range): the template names the photo
    on a comment line, with the two ways to give it an ID, and writes no cell for it."""
    files = [
        media("DCIM/100CANON/IMG-0001.JPG", "2026-03-10 09:00:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-03-10 11:00:00"),
    ]
    rows = list(csv.reader(io.StringIO(map_template(files, GAP))))
    assert [
        "# DCIM/100CANON/IMG-0001.JPG: a name an ID map cannot hold (only letters A-Z, digits"
        " and _); give it from and to times, or ingest it with --id"
    ] in rows
    assert _cells(map_template(files, GAP)) == ["IMG_0002"]


def test_folders_of_one_name_are_listed_in_a_comment_that_says_what_to_do() -> None:
    """DCIM/100CANON and DCIM/OLD/100CANON: a files cell cannot tell them apart, so their
    photos are named on comment lines, with the two ways to give them an ID."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-03-10 09:00:00"),
        media("DCIM/OLD/100CANON/IMG_0001.JPG", "2026-03-10 11:00:00"),
    ]
    rows = list(csv.reader(io.StringIO(map_template(files, GAP))))
    for path in ("DCIM/100CANON/IMG_0001.JPG", "DCIM/OLD/100CANON/IMG_0001.JPG"):
        assert [
            f"# {path}: another folder on this card has its folder's name, and a files cell"
            " cannot tell them apart; give it from and to times, or ingest its folder as a"
            " source of its own"
        ] in rows
