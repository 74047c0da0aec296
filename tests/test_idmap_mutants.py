"""The ID map's survivors of a mutation round (docs/testing.md, "A mutation round on the ID
map"): what `parse_map`, `parse_map_text` and `resolve` say, in full, for the maps and cards
where a changed line of `plan/idmap.py` went unnoticed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from clinic_helpers import invoke
from factories import media

from cardingest.demo import make_demo_card
from cardingest.errors import InvalidIdError, MapError
from cardingest.plan.idmap import (
    BadRowsError,
    UnfitMapError,
    file_spec,
    name_digests,
    offset_line,
    parse_map,
    parse_map_text,
    resolve,
    single_id_map,
    spec_covers,
)

CARD = [media(f"DCIM/100CANON/IMG_{n:04d}.JPG") for n in range(1, 21)]
COLUMNS = "columns are files, from, to, id, diagnosis, site, consent"
SPAN = "# 2026-11-24 09:00:00 to 09:01:00: 2 photo(s)"
NAMES_ROWS_DIGEST = "c889eb0172304231ee3adde40261bdb9dd9932ffaf40873408bdab996c250b17"
ROWS_DIGEST = "40d07ecd8cb9cc9193ce9a40f35ceff0f38409b72405d258ea422988bf5286fa"


def error(text: str, **options: object) -> MapError:
    with pytest.raises(MapError) as caught:
        parse_map_text(text, source="m.csv", **options)  # type: ignore[arg-type]
    return caught.value


def problems(text: str, **options: object) -> list[str]:
    return error(text, **options).details


def unfit(text: str, card: list, **options: object) -> UnfitMapError:
    with pytest.raises(UnfitMapError) as caught:
        resolve(parse_map_text(text, source="m.csv"), card, **options)  # type: ignore[arg-type]
    return caught.value


def test_rows_after_blank_lines_comments_and_rows_commented_out_are_read() -> None:
    idmap = parse_map_text(
        "files,id\nIMG_0001,JBX3656\n\n#IMG_0002,ACA31FM\n# a note\nIMG_0003,MCJ1984\n"
    )
    assert [(r.line, r.patient_id, r.files) for r in idmap.rows] == [
        (2, "JBX3656", "IMG_0001"),
        (6, "MCJ1984", "IMG_0003"),
    ]
    # A row of more cells than columns does not end the reading: the next row's fault too.
    assert problems("files,id\nIMG_0001,JBX3656,x\nIMG_0002,JBX365\n") == [
        "line 2: more cells than columns (a missing quote?)",
        "line 3: id: " + _id_problem("JBX365"),
    ]


def _id_problem(raw: str, **options: object) -> str:
    from cardingest.ids import validate_id

    with pytest.raises(InvalidIdError) as caught:
        validate_id(raw, **options)  # type: ignore[arg-type]
    return caught.value.message


def test_a_quote_in_a_comment_that_swallows_rows_is_refused() -> None:
    """A fault: a quote opened in a # comment's second cell and closed on a later line made
    the rows between part of the comment, skipped as it is: the map was accepted, and their
    photos held as "not in the ID map"."""
    text = (
        'files,id\nIMG_0001,JBX3656\n# next patient,"the tall one\nIMG_0002,ACA31FM\n'
        '# then,"x\nIMG_0003,MCJ1984\n'
    )
    assert problems(text) == [
        'line 3: a quote (") opened in this # comment is closed only on a later line, so the '
        "lines between were read as part of the comment, not as rows; remove the quote, or "
        "close it on this line"
    ]
    # A comment cell a spreadsheet wrote with a line break of its own is still a comment.
    idmap = parse_map_text('files,id\n"# a note\nover two lines"\nIMG_0002,ACA31FM\n')
    assert [(r.line, r.patient_id) for r in idmap.rows] == [(4, "ACA31FM")]


def test_a_comment_swallowing_rows_is_exit_2_naming_its_line(
    tmp_path: Path, test_ids: Path
) -> None:
    card, map_file = make_demo_card(tmp_path)
    map_file.write_text(
        "files,id\nIMG_0001-IMG_0002,ZAC5361\n"
        '# next patient,"the tall one\nIMG_0003-IMG_0004,ZAA0067\n# then,"x\nIMG_0005,ZAA0067\n',
        encoding="utf-8",
    )
    code, out, err = invoke(
        "preview", card, "--map", map_file, "--archive", tmp_path / "archive", "--json"
    )
    assert code == 2, (out, err)
    assert f"{map_file}: 1 problem(s) in the ID map" in err
    assert 'line 3: a quote (") opened in this # comment' in err


def test_the_lines_above_the_header() -> None:
    # Excel's sep= line, then a comment and a blank line: line numbers as the sheet's.
    (row,) = parse_map_text("sep=;\n# note\n\nfiles;id\nIMG_0001;JBX3656\n").rows
    assert (row.line, row.patient_id) == (5, "JBX3656")
    (row,) = parse_map_text("  # an indented note\nfiles,id\nIMG_0001,JBX3656\n").rows
    assert row.line == 3
    # A quote in a comment above the header opens no quoted cell over the header.
    (row,) = parse_map_text('# camera,"Canon\nfiles,id\nIMG_0001,JBX3656\n').rows
    assert (row.line, row.patient_id) == (3, "JBX3656")
    # The delimiter sep= names is the delimiter, though another would read the header:
    # said as such, not as a mistyped column ("did you mean 'files'?").
    wrong_sep = error("sep=;\nfiles,id\nIMG_0001,JBX3656\n")
    assert (wrong_sep.message, wrong_sep.details) == (
        "m.csv: the ID map's header is not right",
        [
            "line 1: sep=; says the columns are parted by semicolons, but the header on line 2 "
            "is parted by commas: remove the sep= line (or save the map again from the "
            "spreadsheet)"
        ],
    )
    assert problems("sep=;\nfilez,id\nIMG_0001,JBX3656\n")[0] == (
        f"line 2: unknown column 'filez,id' (did you mean 'files'?); {COLUMNS}"
    )
    nothing = error("sep=;")
    assert (nothing.message, nothing.details) == (
        "m.csv: the map has no header row",
        ["line 2: only # comments and blank lines up to here"],
    )
    assert problems("files,id") == ["line 2: the map has no rows"]


def test_what_a_wrong_header_is_told() -> None:
    assert problems("files,id,photographer\n") == [
        f"line 1: unknown column 'photographer'; {COLUMNS}"
    ]
    assert problems("files,id," + "x" * 50 + "\n") == [
        f"line 1: unknown column '{'x' * 40}'; {COLUMNS}"
    ]
    assert problems("from,to\n") == ["line 1: no 'id' column"]
    header = error("id,site\n")
    assert (header.message, header.details) == (
        "m.csv: the ID map's header is not right",
        ["line 1: give a 'files' column, or 'from' and 'to' columns"],
    )
    empty = error(" \n")
    assert (empty.message, empty.details) == ("m.csv: the map is empty", ["line 1: no header row"])
    comments = error("# only a note\n")
    assert comments.message == "m.csv: the map has no header row"
    huge = error("# note\nfiles," + "x" * 140_000 + ",id\nIMG_0001,JBX3656\n")
    assert (huge.message, huge.details) == (
        "m.csv: the ID map's header is not right",
        ["line 2: not CSV (field larger than field limit (131072))"],
    )
    assert parse_map_text("files,id\nIMG_0001,JBX3656\n", source="m.csv").source == "m.csv"


def test_what_a_wrong_row_is_told() -> None:
    assert problems("files,from,id\nIMG_0001,2026-11-25 14:05,JBX3656\n") == [
        "line 2: give files or from/to, not both"
    ]
    assert problems("from,to,id\n2026-11-25 14:05,,JBX3656\n") == [
        "line 2: to '' is not a time like 2026-11-25 14:05:00"
    ]
    long_time = "yesterday at nine in the morning or so honestly"
    assert problems(f"from,to,id\n{long_time},2026-11-25 14:05,JBX3656\n") == [
        f"line 2: from {long_time[:40]!r} is not a time like 2026-11-25 14:05:00"
    ]
    assert problems(f"files,id,consent\nIMG_0001,JBX3656,{'y' * 45}\n") == [
        f"line 2: consent {'y' * 40!r} is not one of record, teaching, publication"
    ]
    assert problems("files,from,to,id\n,,,JBX3656\n") == [
        "line 2: no files and no from/to: which photos are these?"
    ]
    empty_id = (
        "the id is empty but diagnosis, site or consent is filled in; give the id, or clear "
        "the row to leave its photos on the card"
    )
    assert problems(
        "files,id,diagnosis,site\nIMG_0001,JBX3656\nIMG_0002,,,left arm\nIMG_0003,,naevus\n"
    ) == [f"line 3: {empty_id}", f"line 4: {empty_id}"]
    assert problems("files,id\nIMG_0001,\n\nIMG_0002,\n") == [
        "lines 2-4: no row has an id; fill in the id column (a row left blank leaves its "
        "photos on the card). A card whose photos were all archived before needs no map: "
        "cardingest wipe clears it"
    ]
    assert problems("files,id\nIMG_0001,\n")[0].startswith("line 2: no row has an id; ")
    # A window of one instant (from = to, with seconds) is a window.
    (row,) = parse_map_text("from,to,id\n2026-11-25 14:05:00,2026-11-25 14:05:00,JBX3656\n").rows
    assert row.start == row.end == datetime(2026, 11, 25, 14, 5)
    # A row left blank has no patient, not one of another name; keywords kept once each.
    idmap = parse_map_text(
        "files,id,diagnosis\nIMG_0001,JBX3656,Melanoma;MELANOMA;naevus\nIMG_0002,,\n"
    )
    assert idmap.rows[0].diagnosis == ("Melanoma", "naevus")
    assert (idmap.rows[1].patient_id, idmap.rows[1].blank) == ("", True)


def test_a_test_id_in_a_keyword_is_refused_where_test_ids_are_allowed() -> None:
    found = problems(
        "files,id,diagnosis,site\nIMG_0001,ZAA0067,ZAC5361,ZAC5361\n", allow_test_ids=True
    )
    assert [p.split(" holds ")[0] for p in found] == ["line 2: diagnosis", "line 2: site"]


def test_rows_parted_by_another_delimiter() -> None:
    parted = (
        "line 2: its cells are parted by semicolons, the header's by commas: use one "
        "separator throughout"
    )
    assert problems("files,id\nIMG_0001;ZAC5361\n", allow_test_ids=True) == [parted]
    assert problems("files,id\nIMG_0001;mrn123456\n", scheme="pattern", pattern=r"MRN\d{6}") == [
        parted
    ]
    # A row of two cells with a fault of its own is told that fault.
    assert problems("files,id\nIMG_0001;JBX3656,x\n") == ["line 2: id: " + _id_problem("x")]
    # A whole row quoted as one cell is parted by the header's own delimiter: not this.
    assert not any("parted by" in p for p in problems('files,id\n"IMG_0001,JBX3656"\n'))


def test_where_rows_of_a_template_were_made_for() -> None:
    (row,) = parse_map_text(f"files,id\n{SPAN}\n# a note\nIMG_0001,JBX3656\n").rows
    assert row.made_for == (datetime(2026, 11, 24, 9, 0), datetime(2026, 11, 24, 9, 1))
    (row,) = parse_map_text(f"from,to,id\n{SPAN}\n2026-11-24 09:00,2026-11-24 09:01,JBX3656\n").rows
    assert row.made_for is None
    # A template's row commented out leaves the next group's span its own.
    later = "# 2026-11-24 10:00:00 to 10:01:00: 1 photo(s)"
    text = f"files,id\n{SPAN}\n#IMG_0001,JBX3656\n{later}\nIMG_0002,ACA31FM\n"
    (row,) = parse_map_text(text).rows
    assert row.made_for == (datetime(2026, 11, 24, 10, 0), datetime(2026, 11, 24, 10, 1))


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("IMG_0-IMG_12", None),
        ("IMG_05-IMG_100", "written with 2 and 3 digits"),
        ("IMG_1-5", "write both ends of the range in full, as the card names them: IMG_1-IMG_5 ("),
        ("IMG_9899-IMG_0002", "runs backwards: write the lower end first, IMG_0002-IMG_9899"),
        ("IMG_9900-IMG_0002", "where the camera passed 9999 and began again, give two ranges"),
        ("IMG_0001-IMG_0000", "the range runs backwards"),
        ("IMG_0001-IMG_0001", None),
        ("IMG_0001-IMG_0003-IMG_0005", "write one name or a range FIRST-LAST, e.g. IMG_0001-"),
        ("IMG_-IMG_0005", "both ends of a range need a file number, e.g. IMG_0001-IMG_0012"),
        ("100CANON/IMG_0001-IMG_0005", "give the folder on both ends of the range, or on neither"),
        ("IMG_0001-100CANON/IMG_0005", "give the folder on both ends of the range, or on neither"),
    ],
)
def test_range_ends(spec: str, said: str | None) -> None:
    text = f"files,id\n{spec},JBX3656\n"
    if said is None:
        assert parse_map_text(text).rows[0].files == spec
    else:
        (problem,) = problems(text)
        assert problem.startswith(f"line 2: files {spec!r}: ") and said in problem


def test_a_dash_is_advised_only_where_it_makes_the_cell_read() -> None:
    assert problems("files,id\nIMG_0001 - IMG_0003.txt,JBX3656\n") == [
        "line 2: files '-': write one name or a range FIRST-LAST, e.g. IMG_0001-IMG_0012",
        "line 2: files 'IMG_0003.txt': 'IMG_0003.txt' ends in .txt, which is no photo's "
        "extension: write the whole name (IMG_0003.txt.jpg, say) or leave the extension out",
    ]


def test_decoding_a_map_file(tmp_path: Path) -> None:
    def said(data: bytes) -> tuple[str, list[str]]:
        path = tmp_path / "m.csv"
        path.write_bytes(data)
        with pytest.raises(MapError) as caught:
            parse_map(path)
        return caught.value.message, caught.value.details

    utf16 = (
        f"{tmp_path / 'm.csv'}: the map is UTF-16 text; save it as 'CSV UTF-8 (comma delimited)'"
    )
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        # Māori names in macrons: no NUL bytes to give UTF-16 away but the mark.
        assert said(bom + "āē,ōū\n".encode(codec)) == (utf16, ["line 1: UTF-16 byte order mark"])
    assert said("files,id\n".encode("utf-16-le")) == (
        utf16,
        ["line 1: a NUL byte beside every letter, as UTF-16 text has"],
    )
    for workbook in (b"PK\x03\x04rest", b"\xd0\xcf\x11\xe0rest"):  # .xlsx/.ods, .xls
        assert said(workbook) == (
            f"{tmp_path / 'm.csv'}: the map is a spreadsheet workbook (.xlsx, .xls or .ods), "
            "not a CSV file; save it from the spreadsheet as 'CSV UTF-8 (comma delimited)'",
            ["line 1: a workbook, not text"],
        )
    assert said(b"files,id\nIMG_0001,JBX3656\nIMG_\x000002,x\n\x00\n") == (
        f"{tmp_path / 'm.csv'}: the map is not a text CSV file",
        ["line 3: contains NUL bytes (binary data)"],
    )
    assert said(b"files,id\nIMG_0001,J\xe9\n") == (
        f"{tmp_path / 'm.csv'}: the map is not UTF-8 text; save it as 'CSV UTF-8 (comma "
        "delimited)'",
        ["line 2: byte 0xe9 is not UTF-8"],
    )
    assert "UTF-16" not in said(b"id\n")[0]  # too short to tell: read as text
    missing = tmp_path / "none.csv"
    for path, message in (
        (missing, f"Cannot read the ID map {missing}: No such file or directory"),
        (tmp_path, f"{tmp_path} is a folder, not an ID map CSV file"),
        (Path(""), "--map is empty (or names this folder); give the ID map CSV file"),
        (
            Path("/dev/zero"),
            "/dev/zero: the map is larger than 2 MiB; an ID map is a small CSV file",
        ),
    ):
        with pytest.raises(MapError) as caught:
            parse_map(path)
        assert caught.value.message == message
    assert caught.value.details == ["line 1: file too large"]


def test_a_map_file_is_checked_as_told(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("files,id\nIMG_0001,ZAC5361\n", encoding="utf-8")
    with pytest.raises(MapError) as caught:
        parse_map(path)
    assert "test-range NHI" in caught.value.details[0]
    assert parse_map(path, allow_test_ids=True).rows[0].patient_id == "ZAC5361"
    path.write_text("files,id\nIMG_0001,mrn123456\n", encoding="utf-8")
    (row,) = parse_map(path, scheme="pattern", pattern=r"MRN\d{6}").rows
    assert row.patient_id == "MRN123456"


def test_what_is_recorded_of_a_map_file(tmp_path: Path) -> None:
    def read(name: str, text: str):  # type: ignore[no-untyped-def]
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return parse_map(path)

    text = "from,to,id\n2026-11-24 09:00,2026-11-24 09:30,JBX3656\n"
    times = read("a.csv", text)
    # What the catalogue holds of a map: a map recorded by an earlier version must still be
    # known as the same map (`IdMap.same_as`), so the rows' digest of this one is fixed.
    content = hashlib.sha256(text.encode()).hexdigest()
    assert times.recorded == f"map sha256:{content} rows sha256:{ROWS_DIGEST}"
    later = read("b.csv", "from,to,id\n2026-11-24 09:00,2026-11-24 09:40,JBX3656\n")
    earlier = read("c.csv", "from,to,id\n2026-11-24 08:50,2026-11-24 09:30,JBX3656\n")
    assert not later.same_as(times.recorded) and not earlier.same_as(times.recorded)
    # Each name's digest is recorded in the catalogue: one written by an earlier version
    # must still be found, so its text (patient, name as matching reads it) is fixed.
    names = read("d.csv", "files,id\n100canon/img_0001.jpg-100canon/img_0009 img_0010,jbx3656\n,\n")
    spelled = ("100CANON/IMG_0001-100CANON/IMG_0009", "IMG_0010")
    digests = [
        hashlib.sha256(json.dumps(["JBX3656", s]).encode()).hexdigest()[:16] for s in spelled
    ]
    assert name_digests(names.rows[0]) == tuple(
        zip(("100canon/img_0001.jpg-100canon/img_0009", "img_0010"), digests, strict=True)
    )
    assert names.recorded.endswith(
        f" rows sha256:{NAMES_ROWS_DIGEST} row sha256/64:{','.join(sorted(digests))}"
    )
    assert name_digests(parse_map_text("files,id\nIMG_0001,JBX3656\nIMG_0002,\n").rows[1]) == ()


def test_what_resolve_tells_of_rows_that_do_not_fit() -> None:
    text = (
        "files,id\nIMG_0099,\nIMG_0098,ACA31FM\nIMG_0001-IMG_0003,JBX3656\n"
        "IMG_0001-IMG_0003,MCJ1984\nIMG_0010-IMG_0011,JBX3656\nIMG_0010-IMG_0011,MCJ1984\n"
    )
    caught = unfit(text, CARD)
    found = [
        "line 2: files 'IMG_0099' matches no file on the card",
        "line 3: files 'IMG_0098' matches no file on the card",
        "lines 4 and 5 both cover DCIM/100CANON/IMG_0001.JPG and 2 more",
        "lines 6 and 7 both cover DCIM/100CANON/IMG_0010.JPG and 1 more",
    ]
    hint = (
        "A row that matches no photo may be one whose photos were archived and then wiped "
        "from the card (ingest --wipe, or wipe): check with `cardingest search --id ACA31FM` "
        "(what the archive holds of a patient) or `cardingest verify --id ACA31FM`, then "
        "remove the row from the map and run again. After an ingest --wipe stopped during "
        "its wipe, `cardingest wipe` finishes it."
    )
    assert caught.message == "m.csv: 4 problem(s) matching the ID map to the card"
    assert (caught.problems, caught.details) == (found, [*found, hint])
    assert [(row.line, spec) for row, spec in caught.unmatched] == [
        (2, "IMG_0099"),
        (3, "IMG_0098"),
    ]
    archived = ["line 3: IMG_0098 was archived under ACA31FM"]
    explained = caught.with_archived(archived, explained={3})
    assert (explained.message, explained.details) == (caught.message, [*found, *archived])
    assert caught.with_archived(archived).details == [*found, *archived, hint]
    # The groups of the interactive prompt are named as groups.
    with pytest.raises(UnfitMapError) as asked:
        resolve(replace(parse_map_text(text), source="interactive"), CARD)
    assert asked.value.problems == [problem.replace("line", "group") for problem in found]
    times = unfit("from,to,id\n2026-11-25 09:00,2026-11-25 09:10,JBX3656\n", CARD)
    assert times.problems == [
        "line 2: no photo was taken between 2026-11-25 09:00:00 and 2026-11-25 09:10:59"
    ]


def test_what_resolve_tells_of_names_in_two_folders_or_spelled_otherwise() -> None:
    two = [media("DCIM/100CANON/IMG_0001.JPG"), media("DCIM/101CANON/IMG_0001.JPG")]
    assert unfit("files,id\nIMG_0001,JBX3656\n", two).problems == [
        "line 2: files 'IMG_0001' matches files in 100CANON and 101CANON; put the folder in "
        "front, e.g. 100CANON/IMG_0001"
    ]
    alike = [media("DCIM/100CANON/IMG_0001.JPG"), media("DCIM/OLD/100CANON/IMG_0001.JPG")]
    assert unfit("files,id\n100CANON/IMG_0001,JBX3656\n", alike).problems == [
        "line 2: files '100CANON/IMG_0001' matches files in DCIM/100CANON and "
        "DCIM/OLD/100CANON, folders of one name that a map cannot tell apart; give them from "
        "and to times instead, or ingest each folder as a source of its own"
    ]
    nikon = [media("DCIM/100CANON/IMG_0001.JPG"), media("DCIM/100NIKON/_DSC0007.JPG")]
    assert unfit("files,id\nDSC_0007,JBX3656\n", nikon).problems == [
        "line 2: files 'DSC_0007' matches no file on the card (its names are spelled _DSC0007)"
    ]


def test_shots_split_between_rows_or_covered_in_part() -> None:
    card = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00"),
        media("DCIM/100CANON/IMG_0002.CR2", "2026-11-24 09:10:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:10:02"),
    ]
    # A shot no row covers comes first: the one a row covers in part is still found.
    assert unfit("from,to,id\n2026-11-24 09:10:01,2026-11-24 09:20,JBX3656\n", card).problems == [
        "line 2 covers DCIM/100CANON/IMG_0002.JPG but not DCIM/100CANON/IMG_0002.CR2, a file of "
        "the same shot, which goes to one patient: widen the row to both"
    ]
    three = [
        media("DCIM/100CANON/IMG_0003.CR2", "2026-11-24 10:00:00"),
        media("DCIM/100CANON/IMG_0003.JPG", "2026-11-24 10:05:00"),
        media("DCIM/100CANON/IMG_0003.HEIC", "2026-11-24 10:10:00"),
    ]
    rows = "".join(
        f"2026-11-24 10:{m:02d}:00,2026-11-24 10:{m:02d}:00,{pid}\n"
        for m, pid in ((0, "JBX3656"), (5, "ACA31FM"), (10, "MCJ1984"))
    )
    assert unfit("from,to,id\n" + rows, three).problems == [
        "lines 2 and 3 cover DCIM/100CANON/IMG_0003.CR2 and DCIM/100CANON/IMG_0003.JPG, files "
        "of one shot, which goes to one patient: give both to one row"
    ]


def test_rows_of_names_and_of_times_that_meet() -> None:
    card = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 10:20:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 10:20:59"),
    ]
    assert unfit(
        "files,from,to,id\nIMG_0001,,,JBX3656\n,2026-11-24 10:00,2026-11-24 10:20:00,ACA31FM\n",
        card,
    ).problems == ["lines 2 and 3 both cover DCIM/100CANON/IMG_0001.JPG"]
    minute = "from,to,id\n2026-11-24 10:00,2026-11-24 10:20,JBX3656\n{},2026-11-24 10:30,ACA31FM\n"
    # From 10:20:00 overlaps a to of 10:20 written with seconds too: no word of the minute.
    assert unfit(minute.format("2026-11-24 10:20:00"), card).problems == [
        "lines 2 and 3 both cover DCIM/100CANON/IMG_0001.JPG and 1 more"
    ]
    assert unfit(minute.format("2026-11-24 10:20:59"), card).problems == [
        "lines 2 and 3 both cover DCIM/100CANON/IMG_0002.JPG (a to time without seconds covers "
        "its whole minute: line 2's 10:20 runs to 10:20:59; start line 3 at 10:21)"
    ]


def test_problems_of_the_rows_with_what_they_match_on_the_card() -> None:
    # Line 11 sorts after line 2 by its number, not by its text.
    text = "files,from,id\nIMG_0098,,JBX3656\nIMG_0001,,JBX365\n" + "\n" * 7
    text += "IMG_0097 IMG_0001.txt,,ACA31FM\n,,\n"
    with pytest.raises(BadRowsError) as caught:
        parse_map_text(text, source="m.csv")
    card = [*CARD, media("DCIM/100CANON/IMG_0098.XMP"), media("DCIM/100CANON/IMG_0097.XMP")]
    with_card = caught.value.with_card(card)
    assert with_card.message == "m.csv: 4 problem(s) in the ID map"
    assert with_card.details == [
        "line 2: files 'IMG_0098' matches no file on the card",
        "line 3: id: " + _id_problem("JBX365"),
        "line 11: files 'IMG_0001.txt': 'IMG_0001.txt' ends in .txt, which is no photo's "
        "extension: write the whole name (IMG_0001.txt.jpg, say) or leave the extension out",
        "line 11: files 'IMG_0097' matches no file on the card",
    ]
    # A map of times has no names to look for on the card.
    with pytest.raises(BadRowsError) as timed:
        parse_map_text("from,to,id\n2026-11-24 09:00,2026-11-24 09:10,JBX365\n")
    assert timed.value.with_card(CARD).details == timed.value.details


def test_one_id_for_every_photo() -> None:
    with pytest.raises(InvalidIdError):
        single_id_map("ZAC5361")
    one = single_id_map("ZAC5361", allow_test_ids=True)
    assert (one.source, [(r.line, r.patient_id, r.everything) for r in one.rows]) == (
        "--id",
        [(0, "ZAC5361", True)],
    )
    pattern = single_id_map("mrn123456", scheme="pattern", pattern=r"MRN\d{6}")
    assert pattern.rows[0].patient_id == "MRN123456"
    rows = resolve(one, [*CARD[:1], media("DCIM/100CANON/IMG_0001.XMP")])
    assert rows["DCIM/100CANON/IMG_0001.JPG"].patient_id == "ZAC5361"
    with pytest.raises(KeyError, match=r"IMG_0001\.XMP"):
        rows["DCIM/100CANON/IMG_0001.XMP"]


def test_a_spec_covers_the_card_paths_it_names() -> None:
    covers = [
        ("100CANON/IMG_0001-100CANON/IMG_0003", "DCIM/100CANON/IMG_0002.JPG", True),
        ("100CANON/IMG_0001-100CANON/IMG_0003", "DCIM/101CANON/IMG_0002.JPG", False),
        ("100CANON/IMG_9998-101CANON/IMG_0002", "DCIM/101CANON/IMG_0001.CR2", True),
        ("IMG_0002", "DCIM/100CANON/IMG_0002.CR2", True),
        ("IMG_0002", "DCIM/100CANON/IMG_00021.JPG", False),
        ("IMG_0002", "IMG_0002.JPG", True),
        ("PXL_20240509_100001123.MP.jpg", "DCIM/Camera/PXL_20240509_100001123.MP.jpg", True),
    ]
    assert [spec_covers(spec, path) for spec, path, _ in covers] == [c for _, _, c in covers]


def test_how_a_map_names_a_photo() -> None:
    photo = media("DCIM/100CANON/IMG_0001.JPG")
    assert (file_spec(photo), file_spec(photo, qualify=False)) == ("100CANON/IMG_0001", "IMG_0001")


def test_a_csv_fault_in_the_first_row_is_said() -> None:
    assert problems("files,id\nIMG_" + "1" * 140_000 + ",JBX3656\n") == [
        "line 2: not readable as CSV (field larger than field limit (131072))"
    ]


def test_times_copied_from_a_template_with_no_clock_offset() -> None:
    row = "2026-11-24 09:00,2026-11-24 09:01,JBX3656\n"
    idmap = parse_map_text(f"from,to,id\n{SPAN}\n{row}")
    with pytest.raises(MapError) as caught:
        resolve(idmap, CARD, clock_offset=timedelta(hours=1))
    assert caught.value.message == (
        "map: line(s) 3 give photos by from and to times, in a map written by map-template "
        "with no clock offset: its # lines show the camera's times, and this run adds "
        "+01:00:00 to every camera time before comparing it with from and to"
    )
    written = parse_map_text(f"from,to,id\n{offset_line(timedelta(hours=1))}\n{SPAN}\n{row}")
    with pytest.raises(MapError) as caught:
        resolve(written, CARD)
    assert (caught.value.message, caught.value.details) == (
        "map: line(s) 4 give photos by from and to times, in a map written by map-template "
        "with --clock-offset +01:00:00: its # lines show the camera's times with +01:00:00 "
        "added, and this run adds +00:00:00 to every camera time before comparing it with "
        "from and to",
        [
            "times copied from the # lines would give photos to the wrong row: give "
            "--clock-offset +01:00:00, or write the map again with map-template --clock-offset "
            "+00:00:00",
            "or, if the from and to times are the true times (not the # lines'), delete the "
            "map's # time lines",
        ],
    )
