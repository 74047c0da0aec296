from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from factories import media

from cardingest.errors import InvalidIdError, MapError
from cardingest.plan.idmap import parse_map, parse_map_text, resolve, single_id_map

CARD = [media(f"DCIM/100CANON/IMG_{n:04d}.JPG") for n in range(1, 21)] + [
    media(f"DCIM/101CANON/IMG_{n:04d}.JPG") for n in range(1, 5)
]


def problems(text: str, **options: object) -> list[str]:
    with pytest.raises(MapError) as caught:
        parse_map_text(text, **options)  # type: ignore[arg-type]
    return caught.value.details


def test_design_example_parses() -> None:
    idmap = parse_map_text(
        "files,id,diagnosis,site,consent\n"
        "IMG_0001-IMG_0012,JBX3656,melanoma;naevus,left forearm,record\n"
        "IMG_0013,ACA31FM,psoriasis,,teaching\n"
        "101CANON/IMG_0001-101CANON/IMG_0004,MCJ1984,,,\n"
    )
    first, second, third = idmap.rows
    assert (first.line, first.patient_id, first.diagnosis) == (2, "JBX3656", ("melanoma", "naevus"))
    assert first.site == "left forearm" and first.consent == "record"
    assert second.consent == "teaching" and second.site is None
    assert third.files == "101CANON/IMG_0001-101CANON/IMG_0004"


def test_spreadsheet_dialects(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_bytes(
        '\ufefffiles;id;diagnosis\r\nIMG_0001-IMG_0003;jbx3656;"melanoma;naevus"\r\n'.encode()
    )
    (row,) = parse_map(path).rows
    assert row.patient_id == "JBX3656"
    assert row.diagnosis == ("melanoma", "naevus")


def test_excels_separator_line_names_the_delimiter_and_counts_as_a_line() -> None:
    """Excel writes ``sep=;`` above the header (and reads it back): it names the delimiter,
    and line numbers still match the spreadsheet's rows."""
    idmap = parse_map_text('sep=;\r\nfiles;id;diagnosis\r\nIMG_0001;JBX3656;"a,b"\r\n')
    assert [(r.line, r.patient_id, r.diagnosis) for r in idmap.rows] == [(3, "JBX3656", ("a,b",))]
    assert problems("SEP=,\nfiles,id\nIMG_0001,../x\n")[0].startswith("line 3:")
    assert problems("sep=;\nfiles;idd\n")[0].startswith("line 2: unknown column 'idd'")


def test_a_row_parted_by_another_separator_than_its_header_says_so() -> None:
    """A trial: a row typed with commas under a header a spreadsheet wrote with semicolons
    said only "'100CANON/IMG_0001,JBX3656' is not a file name"."""
    assert problems("files;id\n100CANON/IMG_0001,JBX3656\n") == [
        "line 2: its cells are parted by commas, the header's by semicolons: use one "
        "separator throughout"
    ]
    assert problems("files\tid\tsite\nIMG_0001,JBX3656,arm\n")[0].startswith(
        "line 2: its cells are parted by commas, the header's by tabs"
    )
    assert problems("files;id;diagnosis;site;consent\nIMG_0013,ACA31FM\n") == [
        "line 2: its cells are parted by commas, the header's by semicolons: use one "
        "separator throughout"
    ]
    # A row typed with semicolons under a comma header read as a files cell of two names
    # and no id: "left blank", its photos kept on the card with no word of why.
    assert problems("files,id\n100CANON/IMG_0001;JBX3656\n") == [
        "line 2: its cells are parted by semicolons, the header's by commas: use one "
        "separator throughout"
    ]
    assert problems("files,id,site\nIMG_0001,JBX3656,arm\nIMG_0002;MCJ1984;leg\n")[0].startswith(
        "line 3: its cells are parted by semicolons, the header's by commas"
    )
    # ";" also parts a files cell's names: a row left blank so is no mixed separator, nor
    # is one wrong for another reason (its own fault is said), nor a cell of two lines.
    idmap = parse_map_text("files,id\nIMG_0001;IMG_0002,\nIMG_0003,JBX3656\n")
    assert [(r.files, r.blank) for r in idmap.rows] == [
        ("IMG_0001;IMG_0002", True),
        ("IMG_0003", False),
    ]
    assert "IMG-0002" in problems("files,id\nIMG_0001;IMG-0002\nIMG_0003,JBX3656\n")[0]
    assert "IMG-0002" in problems('files,id\n"IMG_0001\nIMG-0002"\nIMG_0003,JBX3656\n')[0]


def test_a_workbook_and_a_spreadsheets_own_dates_say_what_to_do(tmp_path: Path) -> None:
    """An .xlsx saved under .csv, and a time Excel rewrote as 1/12/2026 9:00 (day or month
    first depends on the machine, so it is never read): each says how to save it right."""
    path = tmp_path / "map.csv"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(64))
    with pytest.raises(MapError, match=r"spreadsheet workbook .* 'CSV UTF-8"):
        parse_map(path)
    (found,) = problems("from,to,id\n1/12/2026 9:00,1/12/2026 10:00,JBX3656\n")[:1]
    assert found.startswith("line 2: from '1/12/2026 9:00' is not a time like")
    assert "format the column as text" in found


def test_excel_for_mac_line_ends_are_lines() -> None:
    """ "CSV (Macintosh)" ends lines with CR alone: rows, and their line numbers, as usual."""
    idmap = parse_map_text("files,id\rIMG_0001,JBX3656\rIMG_0002,MCJ1984\r")
    assert [(row.line, row.patient_id) for row in idmap.rows] == [(2, "JBX3656"), (3, "MCJ1984")]
    found = problems("files,id\rIMG_0001,JBX3656\rIMG_0002,../x\r")
    assert [p.split(":")[0] for p in found] == ["line 3"]


def test_every_error_reported_at_once_with_line_numbers() -> None:
    found = problems(
        "files,id,consent\n"
        "IMG_0001,ZAC3561,record\n"
        "IMG_0002,../x,record\n"
        "IMG_0003,JBX3656,secret\n"
        "IMG_0004,,teaching\n"  # an empty id is "leave on the card", unless more is filled in
    )
    assert [p.split(":")[0] for p in found] == ["line 2", "line 3", "line 4", "line 5"]
    assert "fails its check" in found[0]
    assert "consent" in found[2]


def test_unknown_column_suggests_the_right_one() -> None:
    (problem,) = problems("files,id,diagnoss\nIMG_0001,JBX3656,x\n")
    assert problem.startswith("line 1: unknown column 'diagnoss'")
    assert "did you mean 'diagnosis'" in problem


def test_duplicate_header_and_missing_id_column() -> None:
    assert any("appears twice" in p for p in problems("files,id,id\nIMG_0001,JBX3656,x\n"))
    assert any("no 'id' column" in p for p in problems("files,site\nIMG_0001,arm\n"))


def test_test_range_needs_allow_test_ids() -> None:
    text = "files,id\nIMG_0001,ZAC5361\n"
    assert "allow_test_ids" in problems(text)[0]
    assert parse_map_text(text, allow_test_ids=True).rows[0].patient_id == "ZAC5361"


def test_a_keyword_holding_a_patient_id_is_refused() -> None:
    """A trial: a site "hand, see JBX3656" went under another patient into the PACS
    (ImageComments) and sidecars. Only words that pass the scheme's check are IDs: a code
    that fails it, or any number under a pattern scheme, is text."""
    assert problems("files,id,site\nIMG_0001,JBX3656,right hand (mcj1984)\n") == [
        "line 2: site holds a patient ID (MCJ1984); a keyword goes with the photos into their "
        "sidecars, DICOM files and referrals, so give IDs only as the photos' ID (if it is "
        "no ID, put brackets or a word between its letters and digits)"
    ]
    (problem,) = problems("files,id,diagnosis\nIMG_0001,JBX3656,bcc;JBX3656\n")
    assert problem.startswith("line 2: diagnosis holds a patient ID (JBX3656)")
    idmap = parse_map_text("files,id,site,diagnosis\nIMG_0001,JBX3656,MCJ1985 arm,ABC12345\n")
    assert idmap.rows[0].site == "MCJ1985 arm"
    nhs = "files,id,site\nIMG_0001,943 476 5919,arm 943-476-5919\n"
    assert "site holds a patient ID (9434765919)" in problems(nhs, scheme="nhs")[0]
    beside = "files,id,diagnosis\nIMG_0001,943 476 5919,9434765919 2 lesions\n"  # a review
    assert "diagnosis holds a patient ID (9434765919)" in problems(beside, scheme="nhs")[0]
    # As a person reads it (a trial's went through): apart, glued to a word, a look-alike.
    # A second trial's got through: a word processor's en dash, parts set apart, a joiner
    # nobody sees, a mark on a letter, another script's digits.
    for written in (
        "JBX 3656", "prevJBX3656x", "\u0408BX3656", "\uff2aBX3656", "JBX\u20133656",
        "JBX - 3656", "NHI: JBX 36 56", "ACA31 FM", "J.B.X. 3656", "JBX\u200d3656",
        "J\u0332BX3656", "JBX\u0663\u0666\u0665\u0666", "JBX:3656",
        "NHI: JBX 1904", "JBX 19 04", "see JBX3656 12/05/2025",  # a year, a date after
    ):  # fmt: skip
        found = problems(f"files,id,site\nIMG_0001,JBX3656,{written}\n")
        assert found and "site holds a patient ID (" in found[0], written
    # Its 494 keywords refused 14 that held no ID: years, sizes, doses, long numbers.
    kept = (
        "BCC 2019;BCC-2019;BCC/2019;Mar-2017;01-Mar-2025;12MAR2024;SCC 2021;SCC 15mm;"
        "MTX 30mg;SCT 254651007;DSC_1234;lesion 0006;LES (0006);JBX36561;"
        "BCC 12MM;AZA 50MG;Mohs Jan 04 24;Excised Jan-04-24;"  # a second reader's
        "BCC 06/01/2025;MMS 01.09.25;SCC exc 01-02-25;"  # dates a third trial's refused
        "thyroid SCC 2019"  # "id" ends a word: no label
    )
    history = parse_map_text(f"files,id,diagnosis\nIMG_0001,JBX3656,{kept}\n")
    assert history.rows[0].diagnosis == tuple(kept.split(";"))  # BCC2019 etc. pass the check
    pattern = "files,id,site\nIMG_0001,AB12,lesion 2 of 3\n"
    assert parse_map_text(pattern, scheme="pattern", pattern="[A-Z0-9]+").rows[0].site


@pytest.mark.parametrize(
    "written",
    ["JBX\u0301 - 3656", "JBX -\u0301 3656", "JBX\u0301 - 36 56", "prevJ\u0301BX3656"],
    ids=["accent before the separator", "accent on the dash", "accent, parts apart",
         "accent, glued to a word"],
)  # fmt: skip
def test_a_combining_accent_does_not_hide_an_nhi_set_apart(written: str) -> None:
    """A mark on a letter or a dash is dropped as a person reads it, not counted as one more
    separator: counted, "JBX\u0301 - 3656" had four characters between its parts (more than
    the three allowed) and "prevJ\u0301BX3656" a separator after a word's end, and the
    patient's NHI went with the photos into their sidecars, DICOM files and referrals."""
    found = problems(f"files,id,site\nIMG_0001,JBX3656,{written}\n")
    assert found and "site holds a patient ID (JBX3656)" in found[0], written


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1+1", "@SUM(A1)", "-2+3"])
def test_formula_cells_refused(cell: str) -> None:
    (problem,) = problems(f'files,id,diagnosis\nIMG_0001,JBX3656,"{cell}"\n')
    assert problem.startswith("line 2: diagnosis") and "formula" in problem


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("naevus\u202e", "\\u202e"), ("naevus\u200b", "\\u200b"), ("a\x1b[31mb", "\\x1b"),
     ("a\x85b", "\\x85"), ("a\ufffeb", "\\ufffe"), ("mela\u00adnoma", "\\xad"),
     ("a\U000e0041", "\\U000e0041"), ("a\u3164b", "\\u3164"), ("a\ue000", "\\ue000")],
    ids=["right-to-left override", "zero-width space", "escape", "C1 control", "noncharacter",
         "soft hyphen", "tag character", "Hangul filler", "private use"],
)  # fmt: skip
def test_hidden_characters_in_a_keyword_cell_are_refused(cell: str, shown: str) -> None:
    """A diagnosis goes into the catalogue, the XMP sidecar and the DICOM file: U+202E would
    show it reversed in a viewer, a zero-width space would split one keyword into two that
    look alike. The character is named (escaped), not printed."""
    (problem,) = problems(f'files,id,site,diagnosis\nIMG_0001,JBX3656,arm,"{cell}"\n')
    assert problem == (
        f"line 2: diagnosis contains a control or invisible formatting character ({shown})"
    )


def test_a_row_with_a_line_break_in_a_quoted_cell_is_named_by_its_first_line() -> None:
    """Where a spreadsheet shows the row; the rows after it keep their own lines."""
    text = 'files,id,diagnosis\nIMG_0001,JBX3656,"naevus\nmelanoma"\nIMG_0002,JBX365,ok\n'
    first, second = problems(text)
    assert first == "line 2: diagnosis contains a control or invisible formatting character (\\x0a)"
    assert second.startswith("line 4: id: NHI 'JBX365'")


def test_a_quote_never_closed_is_said_so_not_taken_for_a_file_name() -> None:
    """It swallowed every line after it into one cell: the map was "'IMG_0002,MCJ1984
    IMG_0006,JBX3656' is not a file name"."""
    text = 'files,id\nIMG_0001,JBX3656\n"IMG_0002,MCJ1984\nIMG_0006,JBX3656\n'
    assert problems(text) == [
        'line 3: a quote (") opened on this line is never closed, so every line after it '
        "was read as one cell; close it, or remove it"
    ]
    closed = 'files,id,diagnosis\nIMG_0001,JBX3656,"naevus\nmelanoma"\n'
    assert problems(closed)[0].startswith("line 2: diagnosis contains a control")


def test_an_id_cell_with_a_line_break_is_said_so_not_an_unclosed_quote() -> None:
    """A trial: Alt-Enter in the id cell of the last row, with cells after it, was called
    "a quote opened on this line is never closed", which it was not."""
    text = 'files,id,site,diagnosis\nIMG_0001-IMG_0003,"JBX3656\nMCJ1984",,\n'
    assert problems(text) == [
        "line 2: id: 'JBX3656\\nMCJ1984' holds a line break (Alt-Enter in a spreadsheet "
        "cell): one patient ID per cell, on one line"
    ]
    unclosed = 'files,id,site,diagnosis\nIMG_0001-IMG_0003,"JBX3656\nMCJ1984,,\n'
    assert problems(unclosed)[0].startswith('line 2: a quote (") opened on this line is never')


@pytest.mark.parametrize(
    "cell",
    ["\u067e\u0634\u062a\u200c\u062f\u0633\u062a", "\U0001f469\u200d\u2695\ufe0f",
     "\u05de\u05dc\u05e0\u05d5\u05de\u05d4", "me\u0301lanome", "left\u00a0forearm"],
    ids=["Persian with a zero-width non-joiner", "emoji joined", "Hebrew", "combining accent",
         "no-break space"],
)  # fmt: skip
def test_keyword_cells_of_every_script_are_kept(cell: str) -> None:
    """The joiners are invisible, but Persian, the Indic scripts and emoji sequences need
    them; right-to-left letters are letters. A combining accent is kept composed (NFC), so
    that "mélanome" typed either way is one keyword."""
    idmap = parse_map_text(f'files,id,diagnosis\nIMG_0001,JBX3656,"{cell}"\n')
    kept = unicodedata.normalize("NFC", cell).replace("\u00a0", " ")  # as a search types it
    assert idmap.rows[0].diagnosis == (kept,)


def test_non_utf8_and_binary_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_bytes(b"files,id\nIMG_0001,JBX3656\nIMG_0002,caf\xe9\n")
    with pytest.raises(MapError) as caught:
        parse_map(path)
    assert caught.value.details == ["line 3: byte 0xe9 is not UTF-8"]
    path.write_bytes(b"files,id\n\x00\x01\x02")
    with pytest.raises(MapError, match="not a text CSV"):
        parse_map(path)


def test_files_and_times_are_exclusive_and_times_checked() -> None:
    found = problems(
        "files,from,to,id\n"
        "IMG_0001,2026-01-01 10:00,2026-01-01 11:00,JBX3656\n"
        ",2026-01-01 12:00,yesterday,JBX3656\n"
        ",2026-01-01 12:00,2026-01-01 11:00,JBX3656\n"
    )
    assert "not both" in found[0]
    assert "line 3: to 'yesterday'" in found[1]
    assert "line 4: from is after to" in found[2]


def test_bad_range_syntax() -> None:
    found = problems("files,id\nIMG_0009-IMG_0001,JBX3656\nIMG_1-2-3,JBX3656\n../etc,JBX3656\n")
    assert "backwards" in found[0]
    assert found[1].startswith("line 3") and found[2].startswith("line 4")


def test_resolve_ranges_singles_and_folders() -> None:
    idmap = parse_map_text(
        "files,id\n"
        "100CANON/IMG_0001-100CANON/IMG_0012,JBX3656\n"
        "100CANON/IMG_0013 100CANON/IMG_0015,ACA31FM\n"
        "101CANON/IMG_0001-101CANON/IMG_0004,MCJ1984\n"
    )
    covered = resolve(idmap, CARD)
    assert covered["DCIM/100CANON/IMG_0012.JPG"].patient_id == "JBX3656"
    assert covered["DCIM/100CANON/IMG_0015.JPG"].patient_id == "ACA31FM"
    assert "DCIM/100CANON/IMG_0014.JPG" not in covered
    assert covered["DCIM/101CANON/IMG_0004.JPG"].patient_id == "MCJ1984"


def test_resolve_reports_ambiguous_empty_and_overlapping_rows_together() -> None:
    idmap = parse_map_text(
        "files,id\n"
        "IMG_0001-IMG_0003,JBX3656\n"
        "IMG_0500,ACA31FM\n"
        "100CANON/IMG_0005-100CANON/IMG_0008,MCJ1984\n"
        "100CANON/IMG_0008-100CANON/IMG_0009,EPT6335\n"
    )
    with pytest.raises(MapError) as caught:
        resolve(idmap, CARD)
    found = caught.value.details
    assert any(p.startswith("line 2") and "100CANON and 101CANON" in p for p in found)
    assert any(p.startswith("line 3") and "matches no file" in p for p in found)
    assert "lines 4 and 5 both cover DCIM/100CANON/IMG_0008.JPG" in found


def test_time_windows() -> None:
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-01-01 10:30:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-01-01 11:30:00"),
    ]
    idmap = parse_map_text("from,to,id\n2026-01-01 10:00,2026-01-01 11:00,JBX3656\n")
    assert list(resolve(idmap, files)) == ["DCIM/100CANON/IMG_0001.JPG"]
    empty = parse_map_text("from,to,id\n2025-01-01 10:00,2025-01-01 11:00,JBX3656\n")
    with pytest.raises(MapError, match="problem"):
        resolve(empty, files)


def test_rows_of_times_that_meet_at_a_minute_overlap_and_say_why() -> None:
    """With the row's own time (a trial: it gave the README's 10:20 for every row)."""
    files = [media("DCIM/100CANON/IMG_0001.JPG", "2026-01-01 09:14:30")]
    idmap = parse_map_text(
        "from,to,id\n2026-01-01 09:00,2026-01-01 09:14,JBX3656\n"
        "2026-01-01 09:14:01,2026-01-01 09:45,ACA31FM\n"
    )
    with pytest.raises(MapError) as caught:
        resolve(idmap, files)
    assert caught.value.details == [
        "lines 2 and 3 both cover DCIM/100CANON/IMG_0001.JPG (a to time without seconds covers "
        "its whole minute: line 2's 09:14 runs to 09:14:59; start line 3 at 09:15)"
    ]
    later = parse_map_text(  # the rows in the other order: the row whose to time it is
        "from,to,id\n2026-01-01 09:14:01,2026-01-01 09:45,ACA31FM\n"
        "2026-01-01 09:00,2026-01-01 09:14,JBX3656\n"
    )
    with pytest.raises(MapError) as caught:
        resolve(later, files)
    assert "line 3's 09:14 runs to 09:14:59; start line 2 at 09:15)" in caught.value.details[0]
    plain = parse_map_text(  # an overlap of whole minutes is no question of seconds
        "from,to,id\n2026-01-01 09:00,2026-01-01 09:30,JBX3656\n"
        "2026-01-01 09:10,2026-01-01 09:45,ACA31FM\n"
    )
    with pytest.raises(MapError) as caught:
        resolve(plain, files)
    assert caught.value.details == ["lines 2 and 3 both cover DCIM/100CANON/IMG_0001.JPG"]


def test_single_id_covers_everything() -> None:
    idmap = single_id_map("jbx3656")
    covered = resolve(idmap, CARD)
    for photo in CARD:
        assert covered.get(photo.path) is covered[photo.path] is idmap.rows[0]
    assert idmap.rows[0].patient_id == "JBX3656"
    # A sidecar goes with its photo, as with a map's rows; and `in` is refused, not endless.
    assert covered.get("DCIM/100CANON/IMG_0001.XMP") is None
    with pytest.raises(KeyError):
        covered["DCIM/100CANON/IMG_0001.thm"]
    with pytest.raises(TypeError):
        "DCIM/100CANON/IMG_0001.JPG" in covered  # type: ignore[operator]  # noqa: B015
    with pytest.raises(InvalidIdError):
        single_id_map("ZZZ0044")


def test_a_range_covers_only_names_like_its_ends() -> None:
    """A range compares file numbers only among names with its ends' prefix: a phone's
    next-day photo whose last digits fall inside (IMG_20260312_100100 in a range of the
    11th), an edited copy (IMG_0003_2) or another camera's name are not in it."""
    phone = [
        media("DCIM/Camera/IMG_20260311_100000.jpg"),
        media("DCIM/Camera/IMG_20260311_100200.jpg"),
        media("DCIM/Camera/IMG_20260312_100100.jpg"),
        media("DCIM/Camera/IMG_20260312_143000.jpg"),
    ]
    idmap = parse_map_text(
        "files,id\nIMG_20260311_100000-IMG_20260311_100200,JBX3656\nIMG_20260312_143000,ACA31FM\n"
    )
    covered = resolve(idmap, phone)
    assert sorted(covered) == [
        "DCIM/Camera/IMG_20260311_100000.jpg",
        "DCIM/Camera/IMG_20260311_100200.jpg",
        "DCIM/Camera/IMG_20260312_143000.jpg",
    ]
    card = [media(f"DCIM/100CANON/{name}.JPG") for name in ("IMG_0001", "IMG_0003_2", "_MG_0002")]
    covered = resolve(parse_map_text("files,id\nIMG_0001-IMG_0004,JBX3656\n"), card)
    assert list(covered) == ["DCIM/100CANON/IMG_0001.JPG"]


def test_a_range_covers_only_numbers_written_like_its_ends() -> None:
    """IMG_00050 (another device's five digits) is not in IMG_0001-IMG_0099, though 50 lies
    between 1 and 99; a camera that writes no leading zeros still gets IMG_9-IMG_12."""
    card = [media(f"DCIM/100CANON/{name}.JPG") for name in ("IMG_0001", "IMG_00050", "IMG_0099")]
    covered = resolve(parse_map_text("files,id\nIMG_0001-IMG_0099,JBX3656\n"), card)
    assert sorted(covered) == ["DCIM/100CANON/IMG_0001.JPG", "DCIM/100CANON/IMG_0099.JPG"]
    unpadded = [media(f"DCIM/100PHONE/IMG_{n}.JPG") for n in (8, 9, 10, 12, 13)]
    covered = resolve(parse_map_text("files,id\nIMG_9-IMG_12,JBX3656\n"), unpadded)
    assert sorted(covered) == [f"DCIM/100PHONE/IMG_{n}.JPG" for n in (10, 12, 9)]
    # Another script's digits are no file number (a trial: IMG_١٢٣٤ was in IMG_0001-IMG_1999)
    card = [
        media("DCIM/100CANON/IMG_0001.JPG"),
        media("DCIM/100CANON/IMG_\u0661\u0662\u0663\u0664.JPG"),
    ]
    covered = resolve(parse_map_text("files,id\nIMG_0001-IMG_1999,JBX3656\n"), card)
    assert list(covered) == ["DCIM/100CANON/IMG_0001.JPG"]


def test_a_range_over_folders_stays_in_one_cameras_folders() -> None:
    """100CANON/IMG_9998-101CANON/IMG_0002 (a rollover) covers those two folders' photos,
    never the Sony, Olympus or Fuji folders that sort between them."""
    card = [
        media("DCIM/100CANON/IMG_9998.JPG"),
        media("DCIM/100CANON/IMG_9999.JPG"),
        media("DCIM/100MSDCF/IMG_9999.JPG"),
        media("DCIM/100OLYMP/P1000001.JPG"),
        media("DCIM/100_FUJI/DSCF0001.JPG"),
        media("DCIM/101CANON/IMG_0001.JPG"),
        media("DCIM/101CANON/IMG_0002.JPG"),
        media("DCIM/101CANON/IMG_0003.JPG"),
    ]
    idmap = parse_map_text("files,id\n100CANON/IMG_9998-101CANON/IMG_0002,JBX3656\n")
    assert sorted(resolve(idmap, card)) == [
        "DCIM/100CANON/IMG_9998.JPG",
        "DCIM/100CANON/IMG_9999.JPG",
        "DCIM/101CANON/IMG_0001.JPG",
        "DCIM/101CANON/IMG_0002.JPG",
    ]
    fuji = resolve(parse_map_text("files,id\nDSCF0001-DSCF0003,JBX3656\n"), card)
    assert list(fuji) == ["DCIM/100_FUJI/DSCF0001.JPG"]  # no other folder to qualify


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("IMG_0001-DSC_0004", "named alike up to the number (IMG_ and DSC_)"),
        # trial: "(IMG_ and )", the second end written as its number alone
        ("IMG_0001-0005", "write both ends of the range in full, as the card names"),
        ("0001-IMG_0005", "in full, as the card names them: IMG_0001-IMG_0005"),
        # trial: IMG_03 suggested; a folder on one end got the folder message
        ("IMG_0001-03", "in full, as the card names them: IMG_0001-IMG_0003 ("),
        ("100CANON/IMG_0001-0003", "names them: 100CANON/IMG_0001-100CANON/IMG_0003"),
        # trial: accepted, though a camera writing IMG_0001 writes IMG_0003
        ("IMG_0001-IMG_3", "written with 4 and 1 digits, but a camera that writes leading"),
        (
            "IMG_0001-IMG_3",
            "zeros (IMG_0001) writes every number with as many: write IMG_0001-IMG_0003",
        ),
        ("IMG_0001-IMG_10000", "writes every number with as many, so it never writes IMG_10000"),
        # trial: the suggestion had the folder on one end only, itself refused
        ("IMG_0001-100CANON/0003", "names them: 100CANON/IMG_0001-100CANON/IMG_0003 ("),
        # trial: "runs backwards" alone, and "'-'" alone
        ("IMG_9998-IMG_0002", "where the camera passed 9999 and began again, give two ranges:"),
        ("IMG_9998-IMG_0002", "IMG_9998-IMG_9999 IMG_0001-IMG_0002 (or, in its numbered folders"),
        ("IMG_0003-IMG_0001", "backwards: write the lower end first, IMG_0001-IMG_0003"),
        ("IMG_0001 - IMG_0003", "without spaces around its '-': IMG_0001-IMG_0003"),
        # trial: an en dash (a word processor's) got only "not a file name"
        ("IMG_0001\u2013IMG_0003", "with a plain hyphen '-', not a dash: IMG_0001-IMG_0003"),
        ("100CANON/IMG_0001-101NIKON/IMG_0004", "one camera's numbered folders"),
        ("Camera/IMG_0001-Other/IMG_0004", "one camera's numbered folders"),
        ("101CANON/IMG_0001-100CANON/IMG_0004", "backwards"),
    ],
)
def test_ranges_that_would_cross_names_or_cameras_are_refused(spec: str, words: str) -> None:
    [found] = problems(f"files,id\n{spec},JBX3656\n")
    assert found.startswith("line 2") and words in found, found


def test_a_spreadsheets_empty_columns_after_the_last_are_no_columns() -> None:
    """Excel saves ``files,id,,,`` when cells beside the table were ever touched; a value in
    such a column is still refused, and an empty name between columns too."""
    idmap = parse_map_text("files,id,,,\nIMG_0001,JBX3656,,,\n")
    assert [row.patient_id for row in idmap.rows] == ["JBX3656"]
    # A trial: a value under an empty header cell was "more cells than columns (a missing
    # quote?)", where no quote is missing. Past the header's last cell it still is.
    [found] = problems("files,id,,\nIMG_0001,JBX3656,,oops\n")
    assert found == (
        "line 2: a value in column 4, whose header cell is empty: name that column (one of "
        "files, from, to, id, diagnosis, site, consent) or clear the cell"
    )
    [found] = problems("files,id\nIMG_0001,JBX3656,oops\n")
    assert found == "line 2: more cells than columns (a missing quote?)"
    assert problems("files,,id\nIMG_0001,,JBX3656\n") == ["line 1: a column has no name"]


@pytest.mark.parametrize("name", ["NHI", "nhi number", "Patient ID", "MRN", "patient_no"])
def test_what_a_clinic_calls_the_id_column_is_pointed_to_id(name: str) -> None:
    """A trial: a header ``File,NHI`` got "did you mean 'files'?" for File, and nothing for
    NHI, the name clinicians use most."""
    found = problems(f"files,{name}\nIMG_0001,JBX3656\n")
    assert found[0].startswith(f"line 1: unknown column '{name.lower()}' (did you mean 'id'?)")


def test_a_shot_whose_raw_and_jpeg_two_rows_cover_is_refused() -> None:
    """A DNG whose own time falls in another row's from/to window than its JPEG's: the shot
    goes to one patient, so the map must say which, not have the JPEG's row win."""
    files = [
        media("DCIM/100CANON/IMG_9998.JPG", "2026-03-10 09:00:30"),
        media("DCIM/100CANON/IMG_9998.DNG", "2020-12-29 14:24:45"),
    ]
    idmap = parse_map_text(
        "from,to,id\n2026-03-10 09:00,2026-03-10 09:01:59,JBX3656\n"
        "2020-12-29 14:00,2020-12-29 15:00,ACA31FM\n"
    )
    with pytest.raises(MapError) as caught:
        resolve(idmap, files)
    assert caught.value.details == [
        "lines 2 and 3 cover DCIM/100CANON/IMG_9998.JPG and DCIM/100CANON/IMG_9998.DNG, files "
        "of one shot, which goes to one patient: give both to one row"
    ]


def test_a_shot_a_row_covers_only_in_part_is_refused() -> None:
    """The RAW's own time falls in a window, its JPEG's in none: held as "not in the ID map"
    before, with the row that covers the RAW silently doing nothing."""
    files = [
        media("DCIM/100CANON/IMG_0002.JPG", "2026-03-16 10:05:00"),
        media("DCIM/100CANON/IMG_0002.CR2", "2026-03-16 10:06:00"),
    ]
    idmap = parse_map_text("from,to,id\n2026-03-16 10:05:30,2026-03-16 10:06:30,JBX3656\n")
    with pytest.raises(MapError) as caught:
        resolve(idmap, files)
    assert caught.value.details == [
        "line 2 covers DCIM/100CANON/IMG_0002.CR2 but not DCIM/100CANON/IMG_0002.JPG, a file "
        "of the same shot, which goes to one patient: widen the row to both"
    ]


def test_comments_and_blank_lines_above_the_header_are_passed_over() -> None:
    """The README says lines starting with # are ignored: above the header too, where the
    header was read from the comment ("unknown column '# …'"). Line numbers stay the file's."""
    idmap = parse_map_text("# clinic of 2 December\n\nfiles,id\nIMG_0001,JBX3656\n")
    assert [(row.line, row.files) for row in idmap.rows] == [(4, "IMG_0001")]
    assert problems("sep=;\n# notes\nfiles;id\nIMG_0001;JBX365\n")[0].startswith("line 4:")
    assert problems("# only a note\n") == ["line 2: only # comments and blank lines up to here"]


def test_utf16_without_a_byte_order_mark_is_named(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    for encoding in ("utf-16-le", "utf-16-be"):
        path.write_bytes("files,id,site\nIMG_0001,JBX3656,Māori ā\n".encode(encoding))
        with pytest.raises(MapError) as caught:
            parse_map(path)
        assert "UTF-16" in caught.value.message, encoding
        assert "NUL" in caught.value.details[0]
