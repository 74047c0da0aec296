"""The ID map: which photos belong to which patient.

Parsing (`parse_map`) checks the CSV on its own; resolving (`resolve`) matches its rows against
the files found on the card. Both collect every problem, each with its line number, and raise
one `MapError` listing them all, so the operator can fix the sheet in one go.
"""

from __future__ import annotations

import bisect
import csv
import difflib
import functools
import io
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ..card.kinds import PHOTO_EXTENSIONS, SIDECAR_EXTENSIONS, is_sidecar
from ..errors import InvalidIdError, MapError, UsageError
from ..ids import keyword_refusal, validate_id
from ..models import CONSENT_LEVELS, IdMap, MapRow, MediaFile
from ..storage import ondisk
from ..storage.capped import read_capped
from ..text import keyword_text, unset_path
from .naming import format_clock_offset, parse_clock_offset
from .shots import by_shot

COLUMNS = ("files", "from", "to", "id", "diagnosis", "site", "consent")
_ID_WORDS = re.compile(
    r"(nhi|nhs|ihi|mrn|urn|medicare|patient)([ _-]?(id|number|no\.?|#))?", re.ASCII
)
"""What a clinic may call the ID column: "did you mean 'id'?", which no close spelling finds."""
MAX_MAP_BYTES = 2 * 1024 * 1024
_DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}
_SPEC_NAME = re.compile(
    r"^(?:(?P<folder>[A-Za-z0-9_]+)/)?"
    r"(?P<stem>[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*?)(?:\.(?P<ext>[A-Za-z0-9]+))?$"
)
"""A name, its folder optional, its extension optional: the last ``.part`` is the extension,
so a phone's ``PXL_20240509_100001123.MP.jpg`` is named with its extension (its stem is
``PXL_20240509_100001123.MP``)."""
SPECS_KEPT = 16384
"""Specs (and rows' name digests) kept once worked out: a map is read, checked, matched and
compared with earlier maps, each looking at every spec (a few MB for the largest map)."""
_TRAILING_NUMBER = re.compile(r"(\d+)$", re.ASCII)  # IMG_١٢٣٤ has no DCF number
_DCF_FOLDER = re.compile(r"(\d{3})([A-Z0-9_]{5})", re.ASCII)
"""A camera's numbered folder (DCF): 100CANON, then 101CANON when the numbers roll over."""
_SPREADSHEET_DATE = re.compile(r"^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b")
"""1/12/2026 9:00 or 01.12.26: what Excel writes back for a time it took for a date. Day or
month first depends on the machine's settings, so it is never read, only named."""
_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y:%m:%d %H:%M:%S",
)


@dataclass(frozen=True)
class _Name:
    """A file name as a map's spec or the card gives it, in upper case, without extension,
    with the parts matching compares worked out once (`_CardNames` compares each with many
    names)."""

    folder: str | None
    stem: str
    number: int | None = field(init=False, compare=False)
    digits: int = field(init=False, compare=False)
    """How many digits the name's number is written with (4 in IMG_0042)."""
    prefix: str = field(init=False, compare=False)
    """`number_prefix`: a range covers only names with its ends' prefix."""
    camera_folder: tuple[int, str] | None = field(init=False, compare=False)
    """A DCF folder's number and the name after it (100CANON: 100, CANON)."""

    def __post_init__(self) -> None:
        number = _TRAILING_NUMBER.search(self.stem)
        folder = _DCF_FOLDER.fullmatch(self.folder or "")
        parts = {
            "number": int(number.group(1)) if number else None,
            "digits": len(number.group(1)) if number else 0,
            "prefix": number_prefix(self.stem),
            "camera_folder": (int(folder.group(1)), folder.group(2)) if folder else None,
        }
        for name, value in parts.items():
            object.__setattr__(self, name, value)


def number_prefix(stem: str) -> str:
    """A file name before its number: ``IMG_`` of IMG_0042, ``IMG_20260311_`` of a phone's
    IMG_20260311_100000 (the whole name if it ends in no number)."""
    match = _TRAILING_NUMBER.search(stem)
    return stem[: match.start()] if match else stem


def _utf16_without_mark(data: bytes) -> bool:
    """Text with a NUL beside nearly every letter (UTF-16, no byte order mark): a NUL in
    most bytes of one parity and in none of the other, so a letter beyond Latin-1 (Māori's
    ā, both bytes set) does not hide it."""
    head = data[:400]
    if len(head) < 4:
        return False
    for nuls, letters in ((head[0::2], head[1::2]), (head[1::2], head[0::2])):
        if nuls.count(0) >= 0.7 * len(nuls) and letters.count(0) == 0:
            return True
    return False


def _decode(data: bytes, source: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_without_mark(data):
        raise MapError(
            f"{source}: the map is UTF-16 text; save it as 'CSV UTF-8 (comma delimited)'",
            details=[
                "line 1: UTF-16 byte order mark"
                if data.startswith((b"\xff\xfe", b"\xfe\xff"))
                else "line 1: a NUL byte beside every letter, as UTF-16 text has"
            ],
        )
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise MapError(
            f"{source}: the map is a spreadsheet workbook (.xlsx, .xls or .ods), not a CSV "
            "file; save it from the spreadsheet as 'CSV UTF-8 (comma delimited)'",
            details=["line 1: a workbook, not text"],
        )
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise MapError(
            f"{source}: the map is not a text CSV file",
            details=[f"line {line}: contains NUL bytes (binary data)"],
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MapError(
            f"{source}: the map is not UTF-8 text; save it as 'CSV UTF-8 (comma delimited)'",
            details=[f"line {line}: byte 0x{data[exc.start]:02x} is not UTF-8"],
        ) from None


NAMED_EXTENSIONS = PHOTO_EXTENSIONS | SIDECAR_EXTENSIONS
"""What a files cell may end in: the last ``.part`` of ``PXL_…123.MP`` is taken for its
extension, and ``MP`` is none, so the cell is refused rather than taken for ``PXL_…123``."""


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


_EXCEL_SEPARATOR = re.compile(r"^\ufeff?sep=([,;\t])\s*$", re.IGNORECASE)
"""The line Excel writes (and reads) above the header to name the delimiter: ``sep=;``."""


def _whole_minute(one: MapRow | None, other: MapRow | None) -> str:
    """Why two rows of times overlap when one's ``to`` has no seconds (it covers its whole
    minute: 10:20 runs to 10:20:59) and the other starts in that minute after its first
    second; '' when that is not why."""
    for row, then in ((one, other), (other, one)):
        if row is None or then is None or row.end is None or then.start is None:
            continue
        if row.end.second == 59 and row.end.replace(second=0) < then.start <= row.end:
            return (
                f" (a to time without seconds covers its whole minute: line {row.line}'s "
                f"{row.end:%H:%M} runs to {row.end:%H:%M:%S}; start line {then.line} at "
                f"{row.end + timedelta(seconds=1):%H:%M})"
            )
    return ""


def _other_delimiter(
    cells: Sequence[str],
    header: Sequence[str],
    delimiter: str,
    reads: Callable[[dict[str, str]], bool],
) -> str | None:
    """The delimiter that parts a row read as one cell into a row that ``reads`` (parses
    with no problem) under the ``header``, when the header's ``delimiter`` is another (a
    row typed or pasted with commas under a header a spreadsheet wrote with semicolons);
    None when it is not so. Asked of a row that is wrong as read: ``;`` also parts the
    names of a files cell, and such a row, wrong for another reason, is not this."""
    if len(header) < 2 or len([cell for cell in cells if cell]) != 1 or not cells[0]:
        return None
    for other in _DELIMITERS:
        if other == delimiter or other not in cells[0]:
            continue
        try:
            parted = [c.strip() for c in next(csv.reader([cells[0]], delimiter=other), [])]
        except csv.Error:  # a line break in a quoted cell
            continue
        if 2 <= len(parted) <= len(header) and reads(
            dict(zip(header, parted + [""] * (len(header) - len(parted)), strict=False))
        ):
            return other
    return None


def _known_header(cells: Sequence[str]) -> bool:
    """A header of an id column and known columns only (empty cells aside)."""
    return "id" in cells and all(cell in COLUMNS for cell in cells if cell)


def _header(first: str, source: str, line: int, delimiters: Sequence[str]) -> tuple[str, list[str]]:
    """Pick the delimiter whose header row names only known columns."""
    best: tuple[str, list[str]] | None = None
    for delimiter in delimiters:
        try:
            cells = [c.strip().lower() for c in next(csv.reader([first], delimiter=delimiter), [])]
        except csv.Error as exc:
            raise MapError(
                f"{source}: the ID map's header is not right",
                details=[f"line {line}: not CSV ({exc})"],
            ) from None
        if _known_header(cells):
            return delimiter, cells
        if best is None or len(cells) > len(best[1]):
            best = (delimiter, cells)
    assert best is not None
    return best


def _refuse_other_delimiter(
    first: str, source: str, head: int, named: str, header: Sequence[str]
) -> None:
    """A `sep=` line naming one delimiter above a header parted by another (the line kept
    when the map was saved again with commas): said as such, where the header's one cell
    was taken for a mistyped column ("unknown column 'files,id' (did you mean 'files'?)")."""
    if _known_header(header):
        return
    other, cells = _header(first, source, head, _DELIMITERS)
    if other == named or not _known_header(cells):
        return
    raise MapError(
        f"{source}: the ID map's header is not right",
        details=[
            f"line 1: sep={named} says the columns are parted by {_DELIMITER_NAMES[named]}, "
            f"but the header on line {head} is parted by {_DELIMITER_NAMES[other]}: remove "
            "the sep= line (or save the map again from the spreadsheet)"
        ],
    )


def _parse_time(text: str) -> datetime | None:
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _check_text(
    cell: str, column: str, line: int, scheme: str, allow_test_ids: bool, problems: list[str]
) -> None:
    problem = keyword_refusal(cell, scheme, allow_test_ids=allow_test_ids)
    if problem is not None:
        problems.append(f"line {line}: {column} {problem}")


_MISWRITTEN_RANGES = (
    (
        re.compile(r"\s*[\u2010-\u2015\u2212]\s*"),
        "write the range with a plain hyphen '-', not a dash",
    ),
    (re.compile(r"\s*-\s*"), "write a range without spaces around its '-'"),
)
"""A range a word processor gave a dash, or a person spaces: what to write instead."""


def _parse_names(cell: str, line: int, problems: list[str]) -> None:
    given = cell.strip()
    for pattern, advice in _MISWRITTEN_RANGES:
        fixed = pattern.sub("-", given)
        if fixed != given and _all_parse(split_specs(fixed)):
            problems.append(f"line {line}: files {given!r}: {advice}: {fixed}")
            return
    for spec in split_specs(cell):
        try:
            parse_spec(spec)
        except ValueError as exc:
            problems.append(f"line {line}: files {spec!r}: {exc}")


def _all_parse(specs: list[str]) -> bool:
    try:
        for spec in specs:
            parse_spec(spec)
    except ValueError:
        return False
    return bool(specs)


def split_specs(cell: str) -> list[str]:
    """A files cell may hold several specs separated by spaces or ';'."""
    return [part for part in re.split(r"[\s;]+", cell) if part]


def file_spec(media: MediaFile, *, qualify: bool = True) -> str | None:
    """How an ID map names this one photo (``100CANON/IMG_0001``; without its folder unless
    ``qualify``), or None if it cannot: a name of other characters than letters, digits and
    ``_`` (or a cell a spreadsheet would run as a formula). A stem with a dot of its own is
    written with its extension, which the map then reads as the extension."""
    folder = media.folder.rpartition("/")[2] if qualify else ""
    name = media.name if "." in media.stem else media.stem
    spec = f"{folder}/{name}" if folder else name
    try:
        named, _ = parse_spec(spec)
    except ValueError:
        return None
    return spec if named.stem == media.stem.upper() else None


@functools.lru_cache(maxsize=SPECS_KEPT)
def parse_spec(spec: str) -> tuple[_Name, _Name | None]:
    """``IMG_0001``, ``IMG_0001-IMG_0012`` or ``101CANON/IMG_0001-101CANON/IMG_0004``."""
    parts = spec.split("-")
    if len(parts) > 2 or not all(parts):
        raise ValueError("write one name or a range FIRST-LAST, e.g. IMG_0001-IMG_0012")
    names = []
    for part in parts:
        match = _SPEC_NAME.match(part)
        if not match:
            hint = ""
            if part.upper().startswith("DCIM/"):
                hint = f" (leave out DCIM/: {part.split('/', 1)[1]})"
            raise ValueError(
                f"{part!r} is not a file name like IMG_0001 or 100CANON/IMG_0001{hint}"
            )
        extension = match.group("ext")
        if extension is not None and extension.lower() not in NAMED_EXTENSIONS:
            raise ValueError(
                f"{part!r} ends in .{extension}, which is no photo's extension: write the whole "
                f"name ({part}.jpg, say) or leave the extension out"
            )
        folder = match.group("folder")
        names.append(_Name(folder.upper() if folder else None, match.group("stem").upper()))
    if len(names) == 1:
        return names[0], None
    first, last = names
    if first.number is None or last.number is None:
        raise ValueError("both ends of a range need a file number, e.g. IMG_0001-IMG_0012")
    if first.prefix != last.prefix and not (first.prefix and last.prefix):
        raise ValueError(
            f"write both ends of the range in full, as the card names them: "
            f"{_in_full(first, last)} (a range covers only names alike up to the number)"
        )
    if (first.folder is None) != (last.folder is None):
        raise ValueError("give the folder on both ends of the range, or on neither")
    padded = next((n for n in (first, last) if _padded(n)), None)
    if first.digits != last.digits and padded is not None:
        wide = next((n for n in (first, last) if n.digits > padded.digits), None)
        then = f", so it never writes {wide.stem}" if wide else f": write {_in_full(first, last)}"
        raise ValueError(
            f"the ends of the range are written with {first.digits} and {last.digits} digits, "
            f"but a camera that writes leading zeros ({padded.stem}) writes every number with "
            f"as many{then}"
        )
    if first.prefix != last.prefix:
        raise ValueError(
            f"both ends of a range must be named alike up to the number ({first.prefix} and "
            f"{last.prefix}): a range covers only such names, e.g. IMG_0001-IMG_0012; list "
            "the others, or use the from and to columns"
        )
    if first.folder != last.folder:
        one, other = first.camera_folder, last.camera_folder
        if one is None or other is None or one[1] != other[1]:
            raise ValueError(
                "a range over two folders needs one camera's numbered folders, e.g. "
                "100CANON/IMG_9998-101CANON/IMG_0002; list each folder's files otherwise"
            )
    if _order(first) > _order(last):
        raise ValueError(f"the range runs backwards{_backwards_hint(first, last)}")
    return first, last


def _backwards_hint(first: _Name, last: _Name) -> str:
    """What to write for a range whose first end is numbered after its last: two ranges
    where the camera passed its last number (9999) and began again at 1, else the ends
    swapped."""
    assert first.number is not None and last.number is not None
    top = 10**first.digits - 1
    if first.folder is None and first.digits == last.digits >= 4 and first.number > top - 100:
        start = f"{first.prefix}{1:0{first.digits}d}"
        return (
            f"; where the camera passed {top} and began again, give two ranges: "
            f"{first.stem}-{first.prefix}{top} {start}-{last.stem} (or, in its numbered "
            "folders, each end with its folder)"
        )
    return f": write the lower end first, {_in_full(last, first)}"


def _padded(name: _Name) -> bool:
    """Its number written with a leading zero (IMG_0042, not IMG_42)."""
    return name.digits > 1 and name.stem[len(name.prefix)] == "0"


def _in_full(first: _Name, last: _Name) -> str:
    """A range's ends written alike, as a camera names its files: an end given as its
    number alone takes the other's prefix and folder, and a number the width of the end
    written with leading zeros (``IMG_0001-03``: IMG_0001-IMG_0003)."""
    width = next((n.digits for n in (first, last) if _padded(n)), 0)

    def spelled(name: _Name, other: _Name) -> str:
        prefix = name.prefix or other.prefix
        folder = name.folder or other.folder
        number = (
            name.stem[len(name.prefix) :] if name.number is None else f"{name.number:0{width}d}"
        )
        return f"{folder}/{prefix}{number}" if folder else f"{prefix}{number}"

    return f"{spelled(first, last)}-{spelled(last, first)}"


def _order(name: _Name) -> tuple[int, int]:
    """Where a range end or a file stands in its camera's numbering: folder, then file."""
    folder = name.camera_folder
    return (folder[0] if folder else 0, name.number or 0)


def parse_map(
    path: Path,
    *,
    scheme: str = "nhi",
    pattern: str | None = None,
    allow_test_ids: bool = False,
) -> IdMap:
    """Read and check an ID map CSV; raises MapError listing every problem."""
    source = str(path)
    try:
        if unset_path(source):
            raise MapError("--map is empty (or names this folder); give the ID map CSV file")
        if ondisk.is_dir(path):
            raise MapError(f"{source} is a folder, not an ID map CSV file")
        data = read_capped(path, MAX_MAP_BYTES)
    except OSError as exc:
        raise MapError(f"Cannot read the ID map {source}: {exc.strerror or exc}") from None
    if data is None:  # also /dev/zero or a pipe that never ends: stat() cannot tell
        raise MapError(
            f"{source}: the map is larger than {MAX_MAP_BYTES // 1024 // 1024} MiB; "
            "an ID map is a small CSV file",
            details=["line 1: file too large"],
        )
    text = _decode(data, source)
    parsed = parse_map_text(
        text, source=source, scheme=scheme, pattern=pattern, allow_test_ids=allow_test_ids
    )
    import hashlib  # OpenSSL starts (2-3 ms) for a map file, not for --id

    content = hashlib.sha256(data).hexdigest()
    rows = hashlib.sha256(_meaning(parsed.rows).encode()).hexdigest()
    listed = ",".join(sorted({d for row in parsed.rows for _, d in name_digests(row)}))
    return replace(
        parsed,
        recorded=f"map sha256:{content} rows sha256:{rows}"
        + (f" row sha256/64:{listed}" if listed else ""),
    )


def _meaning(rows: Sequence[MapRow]) -> str:
    """What a map's rows say about whose photo is whose, in one canonical text: each row's
    patient and the photos it names (names in upper case) or its times, in sorted order.
    The same map saved again by a spreadsheet (a BOM, CRLF line ends, quotes), with its IDs
    in lower case, its rows in another order, or a column added (site, diagnosis) means
    the same: `IdMap.same_as` knows it as the same map by this, as by its bytes."""
    import json

    return json.dumps(
        sorted(
            json.dumps(
                [
                    row.patient_id,
                    [spec.upper() for spec in split_specs(row.files or "")],
                    row.start.isoformat() if row.start else None,
                    row.end.isoformat() if row.end else None,
                    row.everything,
                    row.blank,
                ]
            )
            for row in rows
        )
    )


def name_digests(row: MapRow) -> tuple[tuple[str, str], ...]:
    """Each name (a file or a range) a map row of names gives its patient, with a digest of
    the two: the first 64 bits of the SHA-256 of the patient and the name as matching reads
    it (upper case, no extension). A row of times, an empty id or ``--id`` has none. Two
    that differ share a digest only by a chance of one in 2**64, and then a photo is held
    that need not be: never filed wrongly."""
    if row.start is not None or row.blank or row.everything or not row.files:
        return ()
    return _name_digests(row.patient_id, row.files)


@functools.lru_cache(maxsize=SPECS_KEPT)
def _name_digests(patient_id: str, files: str) -> tuple[tuple[str, str], ...]:
    import hashlib
    import json

    said = ((spec, json.dumps([patient_id, _spec_key(spec)])) for spec in split_specs(files))
    return tuple((spec, hashlib.sha256(text.encode()).hexdigest()[:16]) for spec, text in said)


def _spec_key(spec: str) -> str:
    """``100canon/img_0001.jpg-100canon/img_0009`` as ``100CANON/IMG_0001-100CANON/IMG_0009``."""
    return "-".join(
        f"{name.folder}/{name.stem}" if name.folder else name.stem
        for name in parse_spec(spec)
        if name is not None
    )


def parse_map_text(
    text: str,
    *,
    source: str = "map",
    scheme: str = "nhi",
    pattern: str | None = None,
    allow_test_ids: bool = False,
) -> IdMap:
    problems: list[str] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # Excel for Mac: CR alone
    if not text.strip():
        raise MapError(f"{source}: the map is empty", details=["line 1: no header row"])
    lines = text.split("\n")
    hint = _EXCEL_SEPARATOR.match(lines[0])
    head = 2 if hint else 1  # the header's line: after `#` comments and blank lines
    while head < len(lines) and (not lines[head - 1].strip() or _comment(lines[head - 1])):
        head += 1
    if head > 1 + bool(hint):  # the lines before it read as empty rows: line numbers stay
        text = "\n".join(
            [*lines[: bool(hint)], *[""] * (head - 1 - bool(hint)), *lines[head - 1 :]]
        )
    first = lines[head - 1] if len(lines) >= head else ""
    if not first.strip() or _comment(first):
        raise MapError(
            f"{source}: the map has no header row",
            details=[f"line {head}: only # comments and blank lines up to here"],
        )
    delimiter, header = _header(first, source, head, [hint.group(1)] if hint else _DELIMITERS)
    if hint:
        _refuse_other_delimiter(first, source, head, delimiter, header)
    named = len(header)
    while header and not header[-1]:  # a spreadsheet's empty columns after the last one
        header.pop()
    seen: set[str] = set()
    for cell in header:
        if not cell:
            problems.append(f"line {head}: a column has no name")
        elif cell not in COLUMNS:
            close = difflib.get_close_matches(cell, COLUMNS, n=1)
            if not close and _ID_WORDS.fullmatch(cell):
                close = ["id"]
            hint_text = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(
                f"line {head}: unknown column '{cell[:40]}'{hint_text}; columns are "
                f"{', '.join(COLUMNS)}"
            )
        elif cell in seen:
            problems.append(f"line {head}: column '{cell}' appears twice")
        seen.add(cell)
    if "id" not in header:
        problems.append(f"line {head}: no 'id' column")
    if "files" not in header and not {"from", "to"} <= set(header):
        problems.append(f"line {head}: give a 'files' column, or 'from' and 'to' columns")
    if problems:
        raise MapError(f"{source}: the ID map's header is not right", details=problems)

    rows: list[MapRow] = []
    specs: list[tuple[int, str]] = []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for _ in range(head):
        next(reader)
    made_for: tuple[datetime, datetime] | None = None
    last_was_span = spans_seen = False
    spans_apart = True  # False once a span line follows a span line: rows moved (sorted)
    offsets: dict[timedelta, int] = {}  # each `offset_line`'s offset: its first line

    def reads(row: dict[str, str]) -> bool:
        return _parse_row(row, 0, scheme, pattern, allow_test_ids, []) is not None

    for line, record in _records(reader, problems, text.rstrip().endswith('"')):
        cells = [c.strip() for c in record]
        if not any(cells):
            continue
        filled = [cell for cell in cells if cell]
        if len(filled) == 1 and filled[0].startswith("#"):  # a comment, in any column
            try:
                offset = _offset_of(filled[0])
            except ValueError as exc:
                problems.append(f"line {line}: {exc}; write the map again with map-template")
                offset = None
            if offset is not None:
                offsets.setdefault(offset, line)
            span = template_span(filled[0])
            spans_seen = spans_seen or span is not None
            if span is not None and made_for is not None and last_was_span:
                spans_apart = False
            made_for, last_was_span = span or made_for, span is not None
            continue
        last_was_span = False
        if cells[0].startswith("#"):  # a row commented out, or a comment with more cells
            if any("\n" in cell for cell in cells[1:]):  # `# note,"x` … a later `"`
                problems.append(
                    f'line {line}: a quote (") opened in this # comment is closed only on a '
                    "later line, so the lines between were read as part of the comment, not "
                    "as rows; remove the quote, or close it on this line"
                )
            continue
        if len(cells) > len(header) and any(cells[len(header) :]):
            stray = next(n for n, cell in enumerate(cells) if n >= len(header) and cell)
            problems.append(
                f"line {line}: a value in column {stray + 1}, whose header cell is empty: "
                "name that column (one of " + ", ".join(COLUMNS) + ") or clear the cell"
                if stray < named
                else f"line {line}: more cells than columns (a missing quote?)"
            )
            continue
        row = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=False))
        found: list[str] = []
        parsed = _parse_row(row, line, scheme, pattern, allow_test_ids, found)
        # A blank row is asked too: "IMG_0001;JBX3656" under "files,id" reads as two names
        # and no id, and would leave its photos on the card as if left blank on purpose.
        asked = found or (parsed is not None and parsed.blank)
        other = _other_delimiter(cells, header, delimiter, reads) if asked else None
        if other is not None:  # the row's own problems would only puzzle
            found = [
                f"line {line}: its cells are parted by {_DELIMITER_NAMES[other]}, the "
                f"header's by {_DELIMITER_NAMES[delimiter]}: use one separator throughout"
            ]
        problems += found
        specs += [(line, spec) for spec in split_specs(row.get("files", "")) if _reads(spec)]
        if parsed is not None:
            if made_for is not None and parsed.files:
                parsed = replace(parsed, made_for=made_for)
            rows.append(parsed)
        made_for = None
    if not spans_apart:  # whose span a # line is can no longer be told: none is used
        rows = [replace(row, made_for=None) for row in rows]
    if len(offsets) > 1:
        problems.append(
            f"lines {', '.join(str(n) for n in sorted(offsets.values()))}: two clock offsets "
            "for the map's times; write the map again with map-template"
        )
    times_offset = next(iter(offsets), timedelta(0) if spans_seen else None)
    if not rows and not problems:
        problems.append(f"line {head + 1}: the map has no rows")
    elif rows and all(row.blank for row in rows) and not problems:
        top, bottom = rows[0].line, rows[-1].line
        where = f"line {top}" if top == bottom else f"lines {top}-{bottom}"
        problems.append(
            f"{where}: no row has an id; fill in the id column "
            "(a row left blank leaves its photos on the card). A card whose photos were all "
            "archived before needs no map: cardingest wipe clears it"
        )
    if problems:
        raise BadRowsError(source, problems, specs)
    return IdMap(rows=tuple(rows), source=source, times_offset=times_offset)


_OFFSET_LINE = re.compile(
    r"#\s*times are the camera's with --clock-offset ([+-]\d{2,3}:\d\d:\d\d) added\b.*",
    re.ASCII,
)


def offset_line(clock_offset: timedelta) -> str:
    """The `map-template` line that says its times have ``clock_offset`` added."""
    return (
        f"# times are the camera's with --clock-offset {format_clock_offset(clock_offset)} "
        "added: give preview and ingest the same --clock-offset"
    )


def _offset_of(cell: str) -> timedelta | None:
    """The offset an `offset_line` names (ValueError for one that is no offset); None for
    any other comment."""
    found = _OFFSET_LINE.fullmatch(cell)
    if found is None:
        return None
    try:
        return parse_clock_offset(found.group(1))
    except UsageError as exc:
        raise ValueError(exc.message) from None


_SPAN = r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?: to (?:(\d{4}-\d\d-\d\d) )?(\d\d:\d\d:\d\d))?"
_TEMPLATE_SPANS = (
    re.compile(rf"#\s*{_SPAN}: \d+ photo\(s\)"),
    re.compile(rf"#\s*slate .+: [^;]+; \d+ photo\(s\) {_SPAN}"),
)
"""The lines above each group's row of `template.map_template` (``# 2026-11-05 09:00:10 to
09:02:00: 2 photo(s)``, the end with its date when another day) and of
`slate_template.slate_map_template` (``# slate DCIM/…: JBX3656; 2 photo(s) 2026-11-05
09:00:00 to 09:00:20``)."""


def template_span(cell: str) -> tuple[datetime, datetime] | None:
    """The capture times a `map-template` comment line names, first and last; None for any
    other comment."""
    found = next((m for p in _TEMPLATE_SPANS if (m := p.fullmatch(cell))), None)
    if found is None:
        return None
    day, first, end_day, last = found.groups()
    try:
        start = datetime.fromisoformat(f"{day}T{first}")
        end = datetime.fromisoformat(f"{end_day or day}T{last or first}")
    except ValueError:
        return None
    return (start, end) if start <= end else None


def _reads(spec: str) -> bool:
    try:
        parse_spec(spec)
    except ValueError:
        return False
    return True


class BadRowsError(MapError):
    """Problems in a map's rows. ``specs``: each files spec that reads right, with its line,
    those of rows with other problems too: what they match on the card (`with_card`) is
    said with the rest, so one run lists every problem of the map."""

    def __init__(self, source: str, problems: Sequence[str], specs: Sequence[tuple[int, str]]):
        self.source, self.problems, self.specs = source, list(problems), tuple(specs)
        super().__init__(
            f"{source}: {len(problems)} problem(s) in the ID map", details=self.problems
        )

    def with_card(self, files: Sequence[MediaFile]) -> BadRowsError:
        """The same error, with each spec that matches no photo of ``files``, or photos in
        two folders, in line order among the others."""
        card = _CardNames([m for m in files if not m.sidecar])
        found = list(self.problems)
        for line, spec in self.specs:
            problem = _matches(spec, card)[1]
            if problem:
                found.append(f"line {line}: files {spec!r} {problem}")
        found.sort(key=_line_of)  # stable: a line's own problems keep their order
        return BadRowsError(self.source, found, ())


def _line_of(problem: str) -> int:
    number = re.match(r"lines? (\d+)", problem)
    return int(number.group(1)) if number else 0


def _records(
    reader: Any, problems: list[str], ends_quoted: bool
) -> Iterator[tuple[int, list[str]]]:
    """The reader's rows with the line each starts on (a quoted cell may hold line breaks,
    and the row is named by its first line, where a spreadsheet shows it); a CSV error (a
    cell over the csv module's field limit, a stray NUL) ends the reading with a problem
    naming its line, since nothing after it is sure. A last row whose last cell holds a line
    break while the text does not end in a quote (``ends_quoted``) opened a quote it never
    closed, which swallowed every line after it: said so, not read as a row. (A cell with a
    line break and cells after it was closed: Alt-Enter in a spreadsheet.)"""
    held: tuple[int, list[str]] | None = None
    while True:
        first = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if held is not None:
                yield held
            problems.append(f"line {reader.line_num}: not readable as CSV ({exc})")
            return
        if held is not None:
            yield held
        held = (first, record)
    if held is not None and not ends_quoted and held[1] and "\n" in held[1][-1]:
        problems.append(
            f'line {held[0]}: a quote (") opened on this line is never closed, so every line '
            "after it was read as one cell; close it, or remove it"
        )
    elif held is not None:
        yield held


def _parse_row(
    row: dict[str, str],
    line: int,
    scheme: str,
    pattern: str | None,
    allow_test_ids: bool,
    problems: list[str],
) -> MapRow | None:
    before = len(problems)
    raw_id = row.get("id", "")
    patient_id = ""
    if not raw_id:  # left blank: these photos stay on the card, unless more was filled in
        if any(row.get(column) for column in ("diagnosis", "site", "consent")):
            problems.append(
                f"line {line}: the id is empty but diagnosis, site or consent is filled in; "
                "give the id, or clear the row to leave its photos on the card"
            )
    else:
        try:
            patient_id = validate_id(raw_id, scheme, pattern=pattern, allow_test_ids=allow_test_ids)
        except InvalidIdError as exc:
            problems.append(f"line {line}: id: {exc.message}")
    files = row.get("files", "")
    start_text, end_text = row.get("from", ""), row.get("to", "")
    start = end = None
    if files and (start_text or end_text):
        problems.append(f"line {line}: give files or from/to, not both")
    elif files:
        _parse_names(files, line, problems)
    elif start_text or end_text:
        start, end = _parse_time(start_text), _parse_time(end_text)
        if end is not None and end_text.count(":") == 1:
            end += timedelta(seconds=59)
        for label, text, value in (("from", start_text, start), ("to", end_text, end)):
            if value is None:
                spreadsheet = (
                    " (a spreadsheet rewrote it in its own date format: format the column as "
                    "text, or type the time as 2026-11-25 14:05, then save again)"
                    if _SPREADSHEET_DATE.match(text)
                    else ""
                )
                problems.append(
                    f"line {line}: {label} {text[:40]!r} is not a time like "
                    f"2026-11-25 14:05:00{spreadsheet}"
                )
        if start and end and start > end:
            problems.append(f"line {line}: from is after to")
    else:
        problems.append(f"line {line}: no files and no from/to: which photos are these?")
    diagnosis: list[str] = []
    for keyword in (keyword_text(k) for k in row.get("diagnosis", "").split(";")):
        if keyword:
            _check_text(keyword, "diagnosis", line, scheme, allow_test_ids, problems)
            if keyword.lower() not in (d.lower() for d in diagnosis):
                diagnosis.append(keyword)
    site = keyword_text(row.get("site", "") or "") or None
    if site:
        _check_text(site, "site", line, scheme, allow_test_ids, problems)
    consent = (row.get("consent", "") or "").lower() or None
    if consent and consent not in CONSENT_LEVELS:
        problems.append(
            f"line {line}: consent {consent[:40]!r} is not one of {', '.join(CONSENT_LEVELS)}"
        )
    if len(problems) > before:
        return None
    return MapRow(
        line=line,
        patient_id=patient_id,
        files=files or None,
        start=start,
        end=end,
        diagnosis=tuple(diagnosis),
        site=site,
        consent=consent,
        blank=not raw_id,
    )


def single_id_map(
    patient_id: str,
    *,
    scheme: str = "nhi",
    pattern: str | None = None,
    allow_test_ids: bool = False,
) -> IdMap:
    """The map of ``--id ID``: every file on the card belongs to one patient."""
    checked = validate_id(patient_id, scheme, pattern=pattern, allow_test_ids=allow_test_ids)
    return IdMap(rows=(MapRow(line=0, patient_id=checked, everything=True),), source="--id")


def _folder_name(path: str) -> str:
    folder = path.rpartition("/")[0]
    return folder.rpartition("/")[2].upper()


def _file_name(media: MediaFile) -> _Name:
    return _Name(_folder_name(media.path), media.stem.upper())


class _CardNames:
    """The card's photos by name, each name read once, so a spec is compared only with the
    names it could cover: with every row compared with every photo, a map of 2,250 rows took
    30 s on a card of 4,000 photos."""

    def __init__(self, files: Sequence[MediaFile]) -> None:
        self.files = files
        self.names = [_file_name(media) for media in files]
        self._by_stem: dict[str, list[int]] = defaultdict(list)
        self._by_prefix: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self._by_time: list[tuple[datetime, int]] | None = None
        for index, name in enumerate(self.names):
            self._by_stem[name.stem].append(index)
            if name.number is not None:
                self._by_prefix[name.prefix].append((name.number, index))
        for numbered in self._by_prefix.values():
            numbered.sort()

    def covered(self, first: _Name, last: _Name | None) -> list[MediaFile]:
        """The files a spec (`parse_spec`) covers (`_covers`), in the card's order."""
        if last is None:
            candidates = self._by_stem.get(first.stem, [])
        else:
            numbered = self._by_prefix.get(first.prefix, [])
            if first.folder is None or first.folder == last.folder:
                low = bisect.bisect_left(numbered, (first.number, -1))
                high = bisect.bisect_right(numbered, (last.number, len(self.files)))
                numbered = numbered[low:high]
            candidates = [index for _, index in numbered]
        return [
            self.files[index]
            for index in sorted(candidates)
            if _covers(first, last, self.names[index])
        ]

    def spelled_near(self, first: _Name) -> list[tuple[str, str]]:
        """The card's names a spec that matched nothing may have meant, as the first and
        last of each spelling: the same letters before the number but another ``_``
        (DSC_0001 for a Nikon's _DSC0001) or another count of digits (DSC0001 for a Sony's
        DSC00001)."""
        if first.number is None:
            return []
        want = first.prefix.replace("_", "")
        spellings: dict[tuple[str, int], list[str]] = defaultdict(list)
        for prefix, numbered in self._by_prefix.items():
            if prefix.replace("_", "") != want:
                continue
            for _number, index in numbered:
                name = self.names[index]
                if (prefix, name.digits) != (first.prefix, first.digits):
                    spellings[(prefix, name.digits)].append(name.stem)
        return [(stems[0], stems[-1]) for _key, stems in sorted(spellings.items())]

    def taken_between(self, start: datetime, end: datetime) -> list[MediaFile]:
        """The files taken from ``start`` to ``end`` (camera times, both included), in the
        card's order."""
        if self._by_time is None:
            self._by_time = sorted((m.captured, n) for n, m in enumerate(self.files))
        low = bisect.bisect_left(self._by_time, (start, -1))
        high = bisect.bisect_right(self._by_time, (end, len(self.files)))
        return [self.files[index] for index in sorted(n for _, n in self._by_time[low:high])]


def _covers(first: _Name, last: _Name | None, name: _Name) -> bool:
    """Whether a spec (a name, or a range from `parse_spec`) covers a card file's name.

    A range covers the names with its ends' prefix whose number lies between theirs, in
    the ends' folder (any folder with none given), or across one camera's numbered folders
    (100CANON to 101CANON, never 100MSDCF between them): no other camera's photos, no
    IMG_0099_3 or a phone's next-day IMG_20260312_100100, whatever their last digits, and
    no number written wider or narrower than the ends' (IMG_00050 is not in IMG_0001-IMG_0099;
    IMG_9-IMG_12 of a camera that writes no leading zeros covers IMG_10).
    """
    if last is None:
        return name.stem == first.stem and first.folder in (None, name.folder)
    if name.number is None or name.prefix != first.prefix:
        return False
    if not min(first.digits, last.digits) <= name.digits <= max(first.digits, last.digits):
        return False
    if first.folder is None or first.folder == last.folder:
        in_folder = first.folder in (None, name.folder)
        return in_folder and first.number <= name.number <= last.number  # type: ignore[operator]
    folder, camera = name.camera_folder, first.camera_folder
    if folder is None or camera is None or folder[1] != camera[1]:
        return False
    return _order(first) <= _order(name) <= _order(last)


def spec_covers(spec: str, path: str) -> bool:
    """Whether a checked ``files`` spec names the card path ``path`` (POSIX, relative to the
    card root), as it names a photo of the card: for a card path the catalogue recorded."""
    first, last = parse_spec(spec)
    stem = path.rpartition("/")[2]
    return _covers(
        first, last, _Name(_folder_name(path), (stem.rpartition(".")[0] or stem).upper())
    )


def _matches(spec: str, card: _CardNames) -> tuple[list[MediaFile], str | None]:
    first, last = parse_spec(spec)
    hits = card.covered(first, last)
    if not hits:
        near = [a if a == b else f"{a} to {b}" for a, b in card.spelled_near(first)]
        if not near:
            return hits, "matches no file on the card"
        return hits, f"matches no file on the card (its names are spelled {', or '.join(near)})"
    alike = folders_alike(hits)
    if alike:
        return hits, (
            f"matches files in {' and '.join(alike[0])}, folders of one name that a map cannot "
            "tell apart; give them from and to times instead, or ingest each folder as a "
            "source of its own"
        )
    folders = sorted({_folder_name(m.path) for m in hits})
    if first.folder is None and len(folders) > 1:
        return hits, (
            f"matches files in {' and '.join(folders)}; put the folder in front, "
            f"e.g. {folders[0]}/{first.stem}"
        )
    return hits, None


def folders_alike(files: Iterable[MediaFile]) -> list[list[str]]:
    """The folders of ``files`` that share one name at different places (DCIM/100CANON and
    DCIM/OLD/100CANON, or two cards' folders copied side by side), name by name: a map
    names a folder by its name only, so it cannot tell them apart."""
    by_name: dict[str, set[str]] = {}
    for media in files:
        folder = media.path.rpartition("/")[0]
        by_name.setdefault(_folder_name(media.path), set()).add(folder)
    return [sorted(found) for _, found in sorted(by_name.items()) if len(found) > 1]


class Rows(Protocol):
    """The row that names the patient of each photo of the card, by card path (None: no
    row covers it). Asked only about the photos of the card it was resolved for, never
    about their sidecars, which go with their photo."""

    def get(self, path: str, /) -> MapRow | None: ...

    def __getitem__(self, path: str, /) -> MapRow: ...


class EveryPhoto:
    """The rows of ``--id``: its one row for every photo. A card of 10,000 photos does not
    hold a dict of 10,000 paths to one row while it is planned (bench/memory.py).

    A sidecar gets None, as from a map's rows: it goes with its photo. Not iterable, so
    ``path in rows`` raises rather than asking for rows[0], rows[1]... forever.
    """

    __slots__ = ("row",)
    __iter__ = None

    def __init__(self, row: MapRow) -> None:
        self.row = row

    def get(self, path: str, /) -> MapRow | None:
        return None if is_sidecar(path) else self.row

    def __getitem__(self, path: str, /) -> MapRow:
        row = self.get(path)
        if row is None:
            raise KeyError(path)
        return row


def require_offset(idmap: IdMap, clock_offset: timedelta) -> None:
    """Raises MapError for a map with ``from`` and ``to`` rows whose `map-template` times
    were written with another clock offset than this run's.

    `map-template` shows each group's times, and tells a photo a map cannot name to be given
    by ``from`` and ``to`` times: copied from its ``#`` lines, those are the camera's own
    times (plus the offset it was given, `offset_line`), but ``from`` and ``to`` are compared
    with the camera's plus this run's ``--clock-offset``. With an offset bigger than the
    pause between two patients, the first's last photos fell in the next one's row. Names
    do not move with the clock: a map of names alone passes."""
    written = idmap.times_offset
    timed = [row.line for row in idmap.rows if row.start is not None]
    if written is None or written == clock_offset or not timed:
        return
    lines = ", ".join(map(str, timed))
    this_run, then = format_clock_offset(clock_offset), format_clock_offset(written)
    how = f"with --clock-offset {then}" if written else "with no clock offset"
    raise MapError(
        f"{idmap.source}: line(s) {lines} give photos by from and to times, in a map written "
        f"by map-template {how}: its # lines show the camera's times"
        + (f" with {then} added" if written else "")
        + f", and this run adds {this_run} to every camera time before comparing it with "
        "from and to",
        details=[
            "times copied from the # lines would give photos to the wrong row: give "
            f"--clock-offset {then}, or write the map again with map-template --clock-offset "
            f"{this_run}",
            "or, if the from and to times are the true times (not the # lines'), delete the "
            "map's # time lines",
        ],
    )


def resolve(
    idmap: IdMap, files: Iterable[MediaFile], clock_offset: timedelta = timedelta(0)
) -> Rows:
    """Which row covers each photo (by path). Photos no row covers are simply absent.

    ``from``/``to`` rows compare with the corrected time (camera time + `clock_offset`), the
    time the preview shows. Raises MapError for ranges that match nothing, ambiguous bare
    names and files that two rows both claim. Pure: works on the scan records only.
    """
    require_offset(idmap, clock_offset)
    if len(idmap.rows) == 1 and idmap.rows[0].everything:
        return EveryPhoto(idmap.rows[0])
    media = [m for m in files if not m.sidecar]
    card = _CardNames(media)
    covered: dict[str, MapRow] = {}
    clashes: dict[tuple[int, int], list[str]] = defaultdict(list)
    problems: list[str] = []
    unmatched: list[tuple[MapRow, str | None]] = []
    for row in idmap.rows:
        hits: list[MediaFile] = []
        if row.everything:
            hits = media
        elif row.files:
            for spec in split_specs(row.files):
                found, problem = _matches(spec, card)
                if problem:
                    problems.append(f"line {row.line}: files {spec!r} {problem}")
                if not found:
                    unmatched.append((row, spec))
                hits.extend(found)
        elif row.start is not None and row.end is not None:
            hits = card.taken_between(row.start - clock_offset, row.end - clock_offset)
            if not hits:
                problems.append(
                    f"line {row.line}: no photo was taken between {row.start} and {row.end}"
                )
                unmatched.append((row, None))
        for m in hits:
            other = covered.get(m.path)
            if other is not None and other is not row:
                clashes[(other.line, row.line)].append(m.path)
            covered[m.path] = row
    timed = {row.line: row for row in idmap.rows if row.start is not None}
    for (a, b), paths in sorted(clashes.items()):
        more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
        minute = _whole_minute(timed.get(a), timed.get(b))
        problems.append(f"lines {a} and {b} both cover {paths[0]}{more}{minute}")
    problems += _split_shots(media, covered)
    if problems and idmap.source == "interactive":  # its rows are the groups asked about
        problems = [re.sub(r"^line(s?) ", r"group\1 ", problem) for problem in problems]
    if problems:
        raise UnfitMapError(
            f"{idmap.source}: {len(problems)} problem(s) matching the ID map to the card",
            details=problems,
            unmatched=unmatched,
        )
    return covered


def _split_shots(media: Iterable[MediaFile], covered: Mapping[str, MapRow]) -> list[str]:
    """A shot (a RAW and its JPEG) that rows cover only in part, or two rows cover: its
    RAW's own time may fall in another ``from``/``to`` window than its JPEG's, or in none,
    but a shot goes to one patient, and the map does not say which."""
    found = []
    for files in by_shot(media):
        rows = {covered[m.path].line: m.path for m in files if m.path in covered}
        if not rows:
            continue
        if len(rows) > 1:
            (a, one), (b, other) = sorted(rows.items())[:2]
            found.append(
                f"lines {a} and {b} cover {one} and {other}, files of one shot, which goes to "
                "one patient: give both to one row"
            )
        elif any(m.path not in covered for m in files):
            [(line, one)] = rows.items()
            left = next(m.path for m in files if m.path not in covered)
            found.append(
                f"line {line} covers {one} but not {left}, a file of the same shot, which "
                "goes to one patient: widen the row to both"
            )
    return found


class UnfitMapError(MapError):
    """The map does not fit the card. ``unmatched``: each row (with its ``files`` spec, None
    for a ``from``/``to`` row) that matches no photo of it. The details end with what to do
    about those: their photos may have been archived and wiped from the card already
    (`wiped_hint`); the caller, who can read the archive, may say which were (``archived``,
    see `with_archived`)."""

    def __init__(
        self,
        message: str,
        *,
        details: list[str],
        unmatched: Sequence[tuple[MapRow, str | None]],
        archived: Sequence[str] = (),
        explained: Collection[int] = (),
    ) -> None:
        self.problems = list(details)
        self.unmatched = tuple(unmatched)
        hint = wiped_hint(
            [(row, spec) for row, spec in self.unmatched if row.line not in explained]
        )
        super().__init__(message, details=[*details, *archived, *([hint] if hint else [])])

    def with_archived(
        self, archived: Sequence[str], explained: Collection[int] = ()
    ) -> UnfitMapError:
        """The same error, with what the archive holds of the rows that matched nothing, and
        what else they name; the lines ``explained`` so get no hint that they were wiped."""
        return UnfitMapError(
            self.message,
            details=self.problems,
            unmatched=self.unmatched,
            archived=archived,
            explained=explained,
        )


def wiped_hint(unmatched: Sequence[tuple[MapRow, str | None]]) -> str:
    """What to do about map rows that match no photo: they may be rows of an earlier ingest
    whose photos were wiped from the card since, which loses nothing."""
    ids = [row.patient_id for row, _ in unmatched if not row.blank]
    if not ids:
        return ""
    return (
        "A row that matches no photo may be one whose photos were archived and then wiped "
        "from the card (ingest --wipe, or wipe): check with "
        f"`cardingest search --id {ids[0]}` (what the archive holds of a patient) or "
        f"`cardingest verify --id {ids[0]}`, then remove the row from the map and run again. "
        "After an ingest --wipe stopped during its wipe, `cardingest wipe` finishes it."
    )
