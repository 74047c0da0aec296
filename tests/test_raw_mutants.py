"""The RAW and HEIF parsers (``card/raw.py``) at the edges their mutants found untested.

Each container is built here, byte by byte, from its documented layout (the builders of
``test_raw_capture.py`` where they fit), and where exiftool is installed it reads the same
bytes first: the expected time is exiftool's, not a copy of our code's. See the "mutation
round on the RAW parsers" in docs/testing.md.
"""

from __future__ import annotations

import io
import struct
from datetime import datetime
from pathlib import Path

import pytest
from clinic_helpers import exiftool, require_exiftool
from exif_bytes import DATETIME, DTD, DTO, EOI, MAKE, POINTER, SOI, app1, build, segment, text
from test_raw_capture import box, build_mrw, ciff

from cardingest.card.capture import read_capture
from cardingest.card.raw import read_raw

MTIME = datetime(2026, 1, 2, 3, 4, 6).timestamp()


def ours(path: Path):
    with open(path, "rb") as fh:
        return read_capture(fh, MTIME, path.name)


def exiftool_times(path: Path) -> dict[str, str]:
    """Every time tag exiftool reads from ``path``, by ``Group1:Name``."""
    require_exiftool()
    [seen] = exiftool("-a", "-G1", "-time:all", "-Make", "-Model", "-Warning", path)
    return {k: str(v) for k, v in seen.items() if not k.startswith(("System:", "File:"))}


# --- CRW (CIFF) -------------------------------------------------------------------------------


CANON_S40 = b"Canon\0Canon PowerShot S40\0"


def test_a_crw_time_stamp_of_zero_is_no_time(tmp_path: Path) -> None:
    """A CRW whose TimeStamp is 0 (a clock never set): exiftool reads its DateTimeOriginal as
    the zero date, no time; it was named 1970-01-01 00:00:00, without a word."""
    path = tmp_path / "CRW_0001.CRW"
    path.write_bytes(ciff([(0x180E | 0x4000, 0, 0), (0x080A, len(CANON_S40), 0)], CANON_S40))
    seen = exiftool_times(path)
    assert seen["CanonRaw:DateTimeOriginal"] == "0000:00:00 00:00:00"
    capture = ours(path)
    assert (capture.source, capture.make) == ("mtime", "Canon")
    assert capture.captured == datetime.fromtimestamp(MTIME)
    assert capture.warning is not None and "'0000:00:00 00:00:00' is not a date" in capture.warning


# --- TIFF blocks inside RAW containers (an MRW's TTW record carries them here) ---------------

A_TIME, B_TIME = b"2021:01:01 01:01:01\0", b"2022:02:02 02:02:02\0"


def mrw_file(tmp_path: Path, block: bytes, name: str = "PICT0001.MRW") -> Path:
    path = tmp_path / name
    path.write_bytes(build_mrw(block))
    return path


def exiftool_original(path: Path) -> str | None:
    """exiftool's DateTimeOriginal as it shows it without ``-a`` (the one that wins)."""
    require_exiftool()
    [seen] = exiftool("-DateTimeOriginal", path)
    return seen.get("DateTimeOriginal")


def read_as_exiftool_reads(path: Path, when: str, model: str | None = None) -> None:
    """exiftool reads ``when`` as ``path``'s DateTimeOriginal, and so do we, with no warning
    (and the camera's ``model``, where given)."""
    assert exiftool_original(path) == when
    capture = ours(path)
    assert (capture.source, capture.warning) == ("exif:DateTimeOriginal", None)
    if model is not None:
        assert capture.model == model
    assert f"{capture.captured:%Y:%m:%d %H:%M:%S}" == when


def test_a_tag_held_twice_in_one_ifd_reads_as_its_later_entry(tmp_path: Path) -> None:
    """Two DateTimeOriginal entries in one EXIF IFD: exiftool shows the later, and so did the
    JPEG reader for the same block; the RAW reader took the first, another time."""
    block = build("<", [text(MAKE, b"Minolta\0")], [text(DTO, A_TIME), text(DTO, B_TIME)])
    path = mrw_file(tmp_path, block)
    assert exiftool_original(path) == "2022:02:02 02:02:02"
    capture = ours(path)
    assert (f"{capture.captured:%Y:%m:%d %H:%M:%S}", capture.warning) == (
        "2022:02:02 02:02:02",
        None,
    )
    jpeg = tmp_path / "same.jpg"
    jpeg.write_bytes(SOI + app1(block) + EOI)
    assert ours(jpeg).captured == capture.captured


@pytest.mark.parametrize(("order", "kind"), [("<", 3), (">", 3), ("<", 1), (">", 1), (">", 9)])
def test_an_exif_pointer_of_any_integer_type_is_followed(
    tmp_path: Path, order: str, kind: int
) -> None:
    """An EXIF pointer stored as a SHORT, a BYTE or an SLONG rather than a LONG: exiftool
    follows it (and exifread did for a JPEG); the RAW reader passed it over and named the
    photo by IFD0's DateTime, when it was saved, with a warning."""
    block = bytearray(
        build(order, [text(MAKE, b"Minolta\0"), text(DATETIME, B_TIME)], [text(DTO, A_TIME)])
    )
    entry = block.index(struct.pack(order + "H", POINTER))
    target = struct.unpack_from(order + "I", block, entry + 8)[0]
    code = {1: "B", 3: "H", 9: "i"}[kind]
    struct.pack_into(order + "HI", block, entry + 2, kind, 1)
    block[entry + 8 : entry + 12] = struct.pack(order + code, target).ljust(4, b"\0")
    path = mrw_file(tmp_path, bytes(block))
    read_as_exiftool_reads(path, "2021:01:01 01:01:01")


def tiff(
    order: str, ifds: list[list[tuple[int, int, int, bytes | None]]], tail: bool = True
) -> bytes:
    """A TIFF block: values first, then the IFDs in the order given, each entry written as
    given (``None`` as a value: a pointer to the next IFD of the list). ``tail=False`` leaves
    the last IFD without its next-IFD field, so its table ends the block."""
    mark = b"II" if order == "<" else b"MM"
    data = bytearray(mark + struct.pack(order + "HI", 42, 0))
    at: dict[tuple[int, int], int] = {}
    for i, entries in enumerate(ifds):
        for j, (_, _, _, value) in enumerate(entries):
            if value is not None and len(value) > 4:
                at[i, j] = len(data)
                data += value
    starts = []
    position = len(data)
    for i, entries in enumerate(ifds):
        starts.append(position)
        position += 2 + 12 * len(entries) + (4 if tail or i < len(ifds) - 1 else 0)
    struct.pack_into(order + "I", data, 4, starts[0])
    for i, entries in enumerate(ifds):
        data += struct.pack(order + "H", len(entries))
        for j, (tag, kind, count, value) in enumerate(entries):
            if value is None:
                data += struct.pack(order + "HHII", tag, kind, count, starts[i + 1])
            elif (i, j) in at:
                data += struct.pack(order + "HHII", tag, kind, count, at[i, j])
            else:
                data += struct.pack(order + "HHI", tag, kind, count) + value.ljust(4, b"\0")
        if tail or i < len(ifds) - 1:
            data += bytes(4)
    return bytes(data)


def ascii_entry(tag: int, value: bytes) -> tuple[int, int, int, bytes]:
    return (tag, 2, len(value), value)


def test_ifd0_entries_after_the_exif_pointer_are_read(tmp_path: Path) -> None:
    """IFD0 in tag order: Make, the EXIF pointer (0x8769), then a DateTimeOriginal of its own
    (0x9003, as a few cameras write): exiftool reads it; the walk must not stop at the
    pointer. The table of the EXIF IFD ends the block (no next-IFD field): it is read too."""
    block = tiff(
        "<",
        [
            [ascii_entry(MAKE, b"Canon\0junk\0"), (POINTER, 4, 1, None), ascii_entry(DTO, B_TIME)],
            [ascii_entry(DTD, A_TIME)],
        ],
        tail=False,
    )
    path = mrw_file(tmp_path, block)
    require_exiftool()
    [seen] = exiftool("-DateTimeOriginal", "-CreateDate", "-Make", path)
    assert (seen["DateTimeOriginal"], seen["CreateDate"], seen["Make"]) == (
        "2022:02:02 02:02:02",
        "2021:01:01 01:01:01",
        "Canon",
    )
    with open(path, "rb") as fh:
        found = read_raw(fh)
    assert found is not None and found.problem is None
    assert found.tags == {
        "Image Make": "Canon",
        "Image DateTimeOriginal": "2022:02:02 02:02:02",
        "EXIF DateTimeDigitized": "2021:01:01 01:01:01",
    }


# --- HEIF, ISO/IEC 23008-12 -------------------------------------------------------------------


def fbox(kind: bytes, version: int, body: bytes) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + body)


def exif_item(when: bytes, model: bytes = b"ILCE-7M4\0") -> bytes:
    block = build(">", [text(MAKE, b"SONY\0"), text(0x0110, model)], [text(DTO, when)])
    return struct.pack(">I", 6) + b"Exif\x00\x00" + block


def heif(
    items: list[tuple[int, bytes, bytes]],
    refs: list[tuple[int, int]],
    *,
    wide: bool = False,
    iinf_version: int = 0,
    iloc_version: int = 1,
    index_size: int = 0,
    offset_size: int = 4,
    empty_extent: bool = False,
    iinf_first: bytes = b"",
    iref_first: bytes = b"",
) -> bytes:
    """A HEIF still: ftyp, meta (hdlr, pitm = item 1, iinf, iref of ``cdsc`` references,
    iloc), mdat with every item's data one after another from a base offset."""
    n = 4 if wide else 2
    infe = b"".join(
        fbox(b"infe", 3 if wide else 2, i.to_bytes(n, "big") + b"\0\0" + kind + b"\0")
        for i, kind, _ in items
    )
    count = (len(items) + (1 if iinf_first else 0)).to_bytes(2 if iinf_version == 0 else 4, "big")
    iinf = fbox(b"iinf", iinf_version, count + iinf_first + infe)
    cdsc = b"".join(
        box(b"cdsc", a.to_bytes(n, "big") + b"\0\1" + b.to_bytes(n, "big")) for a, b in refs
    )
    iref = fbox(b"iref", 1 if wide else 0, iref_first + cdsc)
    pitm = fbox(b"pitm", 1 if wide else 0, (1).to_bytes(n, "big"))
    hdlr = fbox(b"hdlr", 0, bytes(4) + b"pict" + bytes(12) + b"\0")
    version = 2 if wide else iloc_version

    def iloc(data_at: int) -> bytes:
        idn = 4 if version == 2 else 2
        body = bytes([offset_size << 4 | 4, 4 << 4 | (index_size if version else 0)])
        body += len(items).to_bytes(idn, "big")
        position = 0
        for i, _, data in items:
            body += i.to_bytes(idn, "big") + (b"\0\0" if version else b"") + b"\0\0"
            body += data_at.to_bytes(4, "big")
            parts = [(position, len(data))] + ([(position + len(data), 0)] if empty_extent else [])
            body += len(parts).to_bytes(2, "big")
            for offset, length in parts:
                body += bytes(index_size if version else 0)
                body += offset.to_bytes(offset_size, "big") + length.to_bytes(4, "big")
            position += len(data)
        return fbox(b"iloc", version, body)

    ftyp = box(b"ftyp", b"heic" + bytes(4) + b"mif1heic")

    def meta(data_at: int) -> bytes:
        return fbox(b"meta", 0, hdlr + pitm + iinf + iref + iloc(data_at))

    data_at = len(ftyp + meta(0)) + 8
    return ftyp + meta(data_at) + box(b"mdat", b"".join(data for _, _, data in items))


THUMB_FIRST = [
    (1, b"hvc1", bytes(32)),
    (2, b"Exif", exif_item(A_TIME, b"thumbnail\0")),
    (3, b"Exif", exif_item(B_TIME)),
    (4, b"hvc1", bytes(16)),
]
THUMB_REFS = [(2, 4), (3, 1)]
THMB = box(b"thmb", (4).to_bytes(2, "big") + b"\0\1" + (1).to_bytes(2, "big"))
MANY = [(i, b"hvc1", bytes(4)) for i in range(1, 101)] + [(101, b"Exif", exif_item(B_TIME))]
HEIF_CASES = {
    "thumbnail's Exif item first": (THUMB_FIRST, THUMB_REFS, {"iref_first": THMB}),
    "thumbnail's Exif first, 32-bit IDs": (THUMB_FIRST, THUMB_REFS, {"wide": True}),
    "iinf version 1": (THUMB_FIRST, THUMB_REFS, {"iinf_version": 1}),
    "iloc with extent indexes": (THUMB_FIRST, THUMB_REFS, {"index_size": 4}),
    "iloc with 8-byte offsets": (THUMB_FIRST, THUMB_REFS, {"offset_size": 8}),
    "an empty extent after the data": (THUMB_FIRST, THUMB_REFS, {"empty_extent": True}),
    "a version 1 infe (no type) first": (
        THUMB_FIRST,
        THUMB_REFS,
        {"iinf_first": fbox(b"infe", 1, b"\0\x09\0\0name\0\0")},
    ),
    "100 images and 70 thumbnail references": (
        MANY,
        [(101, 1)],
        {"iref_first": THMB * 70},
    ),
}


@pytest.mark.parametrize("case", sorted(HEIF_CASES))
def test_heif_layouts_read_the_primary_image_s_exif_as_exiftool_does(
    case: str, tmp_path: Path
) -> None:
    items, refs, options = HEIF_CASES[case]
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(heif(items, refs, **options))
    read_as_exiftool_reads(path, "2022:02:02 02:02:02", "ILCE-7M4")


def ftyp_file(size: int, body: bytes, rest: bytes = b"") -> bytes:
    return struct.pack(">I", size) + b"ftyp" + body + rest


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("16-byte ftyp, major brand only", ftyp_file(16, b"heic\0\0\0\0"), "no 'meta' box"),
        ("brand in the last place", ftyp_file(28, b"isom\0\0\0\0mp41iso2heic"), "no 'meta' box"),
        (
            "1024-byte ftyp",
            ftyp_file(1024, b"isom\0\0\0\0" + b"mp41" * 251 + b"heix"),
            "no 'meta' box",
        ),
        ("1025-byte ftyp", ftyp_file(1025, b"heic" + bytes(1013)), None),
        ("ftyp of 12 bytes", ftyp_file(12, b"heic", bytes(8)), None),
        ("ftyp past the end", ftyp_file(24, b"heic\0\0\0\0mif1"), None),
        ("brand after a cut", ftyp_file(27, b"isom\0\0\0\0mp41iso2hei", b"c"), None),
        ("major brand not HEIF", ftyp_file(20, b"isom\0\0\0\0iso2"), None),
    ],
)
def test_heif_is_told_by_its_ftyp_brands(name: str, data: bytes, problem: str | None) -> None:
    """A HEIF brand (major or compatible) in an ``ftyp`` of 16 to 1024 bytes makes a HEIF;
    anything else (a video, a cut ``ftyp``) is no container of ours (``None``)."""
    found = read_raw(io.BytesIO(data))
    if problem is None:
        assert found is None, name
    else:
        assert found is not None and found.problem == f"unreadable HEIF header (HEIF has {problem})"


# --- CR3 --------------------------------------------------------------------------------------

CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
CR3_FTYP = box(b"ftyp", b"crx \0\0\0\1crx isom")


def canon_uuid(cmt1: bytes | None = None, cmt2: bytes | None = None) -> bytes:
    if cmt1 is None:
        cmt1 = build("<", [text(MAKE, b"Canon\0"), text(0x0110, b"Canon EOS R6\0")])
    if cmt2 is None:
        cmt2 = build("<", [text(DTO, B_TIME)])  # CMT2's first IFD is the EXIF IFD
    return box(b"uuid", CANON_UUID + box(b"CMT1", cmt1) + box(b"CMT2", cmt2))


def cr3(moov: str = "plain", body: bytes | None = None) -> bytes:
    """ftyp, then moov holding an empty ``free`` box, a small ``mvhd``, another vendor's
    ``uuid`` and Canon's (CMT1, CMT2), where the file ends: ``moov`` as a plain box, one of
    size 0 (to the end of the file) or one with a 64-bit size."""
    if body is None:
        body = box(b"free", b"") + box(b"mvhd", bytes(4))
        body += box(b"uuid", bytes(range(16)) + bytes(8)) + canon_uuid()
    if moov == "size 0":
        return CR3_FTYP + struct.pack(">I", 0) + b"moov" + body
    if moov == "64-bit size":
        return CR3_FTYP + struct.pack(">I4sQ", 1, b"moov", 16 + len(body)) + body
    return CR3_FTYP + box(b"moov", body)


@pytest.mark.parametrize("moov", ["plain", "64-bit size"])
def test_a_cr3_s_canon_box_is_found_past_other_boxes(tmp_path: Path, moov: str) -> None:
    path = tmp_path / "IMG_0001.CR3"
    path.write_bytes(cr3(moov))
    read_as_exiftool_reads(path, "2022:02:02 02:02:02", "Canon EOS R6")


# --- CRW: heaps within heaps ------------------------------------------------------------------

STAMP = int((datetime(2005, 4, 23, 17, 54, 36) - datetime(1970, 1, 1)).total_seconds())


def heap(entries: list[tuple[int, int, int]], values: bytes = b"") -> bytes:
    table = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HII", *e) for e in entries)
    return values + table + struct.pack("<I", len(values))


def crw(root: bytes) -> bytes:
    return b"II" + struct.pack("<I", 26) + b"HEAPCCDR" + bytes(12) + root


def nested_crw(depth: int) -> tuple[bytes, int]:
    """A CRW whose TimeStamp (in its entry, the second of its table) lies ``depth`` heaps
    below the root; the root has 4 more entries. Returns the file and its entry count."""
    inner = heap([(0x4032, 0, 0), (0x4000 | 0x180E, STAMP, 0)])
    entries = 2
    for level in range(depth - 1):
        tag = (0x300A, 0x2804, 0x3102)[level % 3]  # heap types 0x28 and 0x30, 0x3102: bit 8
        inner = heap([(tag, len(inner), 0)], inner)
        entries += 1
    root = heap([(0x300A, len(inner), 0)] + [(0x4032, 0, 0)] * 4, inner)
    return crw(root), entries + 5


def test_a_crw_time_stamp_eight_heaps_deep_is_read_as_exiftool_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "CRW_0001.CRW"
    data, _ = nested_crw(8)
    path.write_bytes(data)
    assert exiftool_times(path)["CanonRaw:DateTimeOriginal"] == "2005:04:23 17:54:36"
    capture = ours(path)
    assert (capture.source, capture.warning) == ("exif:DateTimeOriginal", None)
    assert capture.captured == datetime(2005, 4, 23, 17, 54, 36)


def test_a_crw_nine_heaps_deep_or_with_too_many_entries_is_refused(monkeypatch) -> None:
    from cardingest.card import raw

    data, entries = nested_crw(9)
    found = read_raw(io.BytesIO(data))
    assert found is not None and found.problem == "unreadable CRW header (CRW heaps nest too deep)"
    data, entries = nested_crw(8)
    monkeypatch.setattr(raw, "MAX_HEAP_ENTRIES", entries)
    found = read_raw(io.BytesIO(data))
    assert found is not None and found.problem is None, found
    assert found.tags == {"EXIF DateTimeOriginal": "2005:04:23 17:54:36"}
    monkeypatch.setattr(raw, "MAX_HEAP_ENTRIES", entries - 1)
    found = read_raw(io.BytesIO(data))
    assert found is not None and found.problem is not None
    assert "entries" in found.problem


def test_a_crw_time_stamp_in_the_heap_is_read_as_exiftool_reads_it(tmp_path: Path) -> None:
    """A TimeStamp of exactly 4 bytes among the heap's values, not in its entry."""
    path = tmp_path / "CRW_0002.CRW"
    values = struct.pack("<I", STAMP) + CANON_S40
    path.write_bytes(crw(heap([(0x180E, 4, 0), (0x080A, len(CANON_S40), 4)], values)))
    assert exiftool_times(path)["CanonRaw:DateTimeOriginal"] == "2005:04:23 17:54:36"
    capture = ours(path)
    assert (capture.source, capture.warning, capture.model) == (
        "exif:DateTimeOriginal",
        None,
        "Canon PowerShot S40",
    )
    assert capture.captured == datetime(2005, 4, 23, 17, 54, 36)


# --- MRW, RAF, X3F at their edges -------------------------------------------------------------

BLOCK_A = build(">", [text(MAKE, b"FUJIFILM\0")], [text(DTO, A_TIME)])
BLOCK_B = build(">", [text(MAKE, b"FUJIFILM\0")], [text(DTO, B_TIME)])


def test_an_mrw_of_records_alone_is_read(tmp_path: Path) -> None:
    """The TTW record last, and the records' end the file's end (no image data)."""
    prd = b"21860002" + struct.pack(">4H3B4xH", 8, 8, 8, 8, 12, 12, 0x59, 1)
    records = b"\0PRD" + struct.pack(">I", len(prd)) + prd
    records += b"\0TTW" + struct.pack(">I", len(BLOCK_B)) + BLOCK_B
    path = tmp_path / "PICT0002.MRW"
    path.write_bytes(b"\0MRM" + struct.pack(">I", len(records)) + records)
    read_as_exiftool_reads(path, "2022:02:02 02:02:02")


def raf(jpeg: bytes, trailer: bytes = b"") -> bytes:
    """A RAF whose JPEG follows its 0x5C-byte header at once (and ends the file)."""
    header = b"FUJIFILMCCD-RAW 0201FF129502" + b"X-T4".ljust(32, b"\0") + b"0100" + bytes(20)
    return header + struct.pack(">II", 0x5C, len(jpeg)) + jpeg + trailer


RAF_JPEGS = {
    # an empty APP2 segment, then the Exif one, then the scan, which ends the JPEG and the
    # file (exiftool reads no Exif segment that is the JPEG's last bytes: "format error")
    "at the header's end": (
        SOI + segment(0xE2, b"") + app1(BLOCK_B) + b"\xff\xda\x00\x02",
        "2022:02:02 02:02:02",
    ),
    "an Exif-like APP2 first": (
        SOI + segment(0xE2, b"Exif\0\0" + BLOCK_A) + app1(BLOCK_B) + EOI,
        "2022:02:02 02:02:02",
    ),
    "Exif after the scan": (SOI + segment(0xDA, bytes(6)) + app1(BLOCK_A) + EOI, None),
    "Exif after the end": (SOI + EOI + b"\0\4\0\0" + app1(BLOCK_A) + EOI, None),
}


@pytest.mark.parametrize("case", sorted(RAF_JPEGS))
def test_a_raf_s_jpeg_is_walked_as_exiftool_walks_it(tmp_path: Path, case: str) -> None:
    jpeg, when = RAF_JPEGS[case]
    path = tmp_path / "DSCF0002.RAF"
    path.write_bytes(raf(jpeg))
    assert exiftool_original(path) == when
    capture = ours(path)
    if when is None:
        assert capture.source == "mtime"
        assert capture.warning and "unreadable RAF header (RAF JPEG has no EXIF segment)" in (
            capture.warning
        )
        return
    assert (capture.source, capture.warning) == ("exif:DateTimeOriginal", None)
    assert f"{capture.captured:%Y:%m:%d %H:%M:%S}" == when


def x3f_sections(sections: list[tuple[bytes, bytes]], extra: int = 0) -> bytes:
    """An X3F: header, each (kind, section bytes), ``extra`` more directory entries of kind
    CAMF (first, pointing at the header), then the directory and the pointer to it."""
    data = b"FOVb" + struct.pack("<I", 0x00020000) + bytes(16) + struct.pack("<4I", 0, 8, 8, 0)
    table = [struct.pack("<II4s", 0, 8, b"CAMF")] * extra
    for kind, body in sections:
        table.append(struct.pack("<II4s", len(data), len(body), kind))
        data += body
    directory = b"SECd" + struct.pack("<II", 0x00020000, len(table)) + b"".join(table)
    return data + directory + struct.pack("<I", len(data))


X3F_PROP = b"SECp" + struct.pack("<5I", 0x00020000, 0, 0, 0, 0) + bytes(12)
X3F_RAW = b"SECi" + struct.pack("<6I", 0x00020000, 3, 6, 2, 2, 4) + bytes(16)
X3F_JPEG = b"SECi" + struct.pack("<6I", 0x00020000, 2, 18, 8, 8, 0) + SOI + app1(BLOCK_B) + EOI


def test_an_x3f_s_jpeg_section_is_found_as_the_32nd_of_its_directory(tmp_path: Path) -> None:
    """PROP, a raw image section, then the JPEG one, the last of 32 directory entries."""
    path = tmp_path / "SDIM0002.X3F"
    path.write_bytes(
        x3f_sections([(b"PROP", X3F_PROP), (b"IMA2", X3F_RAW), (b"IMA2", X3F_JPEG)], extra=29)
    )
    read_as_exiftool_reads(path, "2022:02:02 02:02:02")
    found = read_raw(io.BytesIO(x3f_sections([(b"IMA2", X3F_JPEG)], extra=32)))
    assert found is not None and found.problem is not None and "33 sections" in found.problem


# --- the read bounds --------------------------------------------------------------------------


def test_the_read_budget_and_largest_read_are_exact_bounds(monkeypatch) -> None:
    """A file that needs exactly the budget (or a read exactly the largest allowed) is read;
    one byte less refuses it."""
    from test_raw_capture import CountingFile, build_raf, exif_jpeg

    from cardingest.card import raw

    data = build_raf(exif_jpeg("FUJIFILM", "X-T4"))
    fh = CountingFile(data)
    assert read_raw(fh) is not None
    total, largest = fh.total - 16, fh.largest  # read_raw's own first 16 bytes are no part
    for name, limit, problem in (
        ("READ_BUDGET", total, "more header data than any camera writes"),
        ("MAX_READ", largest, f"claims {largest} bytes"),
    ):
        monkeypatch.setattr(raw, name, limit)
        found = read_raw(io.BytesIO(data))
        assert found is not None and found.problem is None, (name, found)
        assert found.tags["EXIF DateTimeOriginal"] == "2024:03:05 10:11:12"
        monkeypatch.setattr(raw, name, limit - 1)
        found = read_raw(io.BytesIO(data))
        assert found is not None and found.problem and problem in found.problem, (name, found)
        monkeypatch.undo()


X3F_JFIF_FIRST = X3F_JPEG[:30] + segment(0xE0, b"JFIF\0\1\1\0\0\1\0\1\0\0") + X3F_JPEG[30:]


@pytest.mark.parametrize(
    ("kind", "section"), [(b"IMAG", X3F_JPEG), (b"IMA2", X3F_JFIF_FIRST)], ids=["IMAG", "JFIF"]
)
def test_an_x3f_jpeg_exiftool_reads_no_exif_from_gives_no_time(
    tmp_path: Path, kind: bytes, section: bytes
) -> None:
    """A JPEG in an ``IMAG`` section (exiftool's PreviewImage), or one whose first segment is
    not its Exif one: exiftool reads no EXIF from it, and the photo was named by it."""
    path = tmp_path / "SDIM0003.X3F"
    path.write_bytes(x3f_sections([(kind, section)]))
    assert exiftool_original(path) is None
    capture = ours(path)
    assert capture.source == "mtime"
    assert capture.warning is not None
    assert "unreadable X3F header (X3F has no JPEG with EXIF" in capture.warning


# --- what a damaged header is said as ---------------------------------------------------------

HF = box(b"ftyp", b"heic\0\0\0\0mif1heic")
HDLR = fbox(b"hdlr", 0, bytes(4) + b"pict" + bytes(12) + b"\0")


def meta(*boxes):
    return HF + fbox(b"meta", 0, HDLR + b"".join(boxes))


IINF = fbox(b"iinf", 0, b"\0\1" + fbox(b"infe", 2, b"\0\2\0\0Exif\0"))


def iloc(method, extents, version=1):
    body = bytes([0x44, 0x40]) + b"\0\1" + b"\0\2" + struct.pack(">H", method) + b"\0\0" + bytes(4)
    body += struct.pack(">H", len(extents)) + b"".join(struct.pack(">II", a, b) for a, b in extents)
    return fbox(b"iloc", version, body)


def mrw(records, length=None):
    body = b"".join(k + struct.pack(">I", len(v) if s is None else s) + v for k, v, s in records)
    return b"\0MRM" + struct.pack(">I", len(body) if length is None else length) + body


DAMAGED = {
    "cr3 without moov": CR3_FTYP + box(b"free", bytes(8)),
    "cr3 without Canon's box": cr3(body=box(b"free", b"")),
    "cr3 64-bit size cut": CR3_FTYP + struct.pack(">I4s", 1, b"moov") + b"\0\0",
    "cr3 CMT1 not TIFF": cr3(body=canon_uuid(cmt1=b"XXXXXXXX")),
    "cr3 CMT2 IFD outside": cr3(body=canon_uuid(cmt2=b"II*\0" + struct.pack("<I", 100))),
    "cr3 CMT2 IFD runs past": cr3(body=canon_uuid(cmt2=b"II*\0\x08\0\0\0\x05\0")),
    "cr3 box runs past": cr3(
        body=box(
            b"uuid",
            bytes.fromhex("85c0b687820f11e08111f4ce462b6a48") + struct.pack(">I4s", 99, b"CMT1"),
        )
    ),
    "heif without meta": HF + box(b"mdat", bytes(8)),
    "heif without iinf": meta(iloc(0, [(0, 4)])),
    "heif without Exif": meta(fbox(b"iinf", 0, b"\0\0"), iloc(0, [(0, 4)])),
    "heif Exif in a missing idat": meta(IINF, iloc(1, [(0, 4)])),
    "heif method 2": meta(IINF, iloc(2, [(0, 4)])),
    "heif Exif nowhere": meta(IINF, iloc(0, [])),
    "heif Exif too big": meta(IINF, iloc(0, [(0, 300000), (0, 300000)])),
    "heif Exif of 3 bytes": meta(IINF, iloc(0, [(0, 3)])),
    "heif Exif of 4 bytes": meta(IINF, iloc(0, [(4, 4)])),
    "heif Exif past the end": meta(IINF, iloc(0, [(0, 99999)])),
    "heif iloc cut": meta(IINF, fbox(b"iloc", 1, bytes([0x44, 0x40]) + b"\0\1\0\2")),
    "heif iloc bad field": meta(
        IINF, fbox(b"iloc", 1, bytes([0x34, 0x40]) + b"\0\1\0\2" + bytes(8) + b"\0\1" + bytes(8))
    ),
    "heif pitm cut": meta(
        fbox(b"pitm", 1, b"\0\1"), IINF, fbox(b"iref", 0, b""), iloc(0, [(0, 4)])
    ),
    "crw header length 10": b"II" + struct.pack("<I", 10) + b"HEAPCCDR" + bytes(12) + heap([]),
    "crw header length 14": b"II" + struct.pack("<I", 14) + b"HEAPCCDR" + heap([]),
    "crw empty root heap": crw(heap([])),
    "crw sub-heap of 6 bytes, empty": crw(heap([(0x300A, 6, 0)], heap([]))),
    "crw sub-heap of 5 bytes": crw(heap([(0x300A, 5, 0)], bytes(5))),
    "crw bad entry": crw(heap([(0x8000, 0, 0)])),
    "crw sub-heap past its heap": crw(heap([(0x300A, 6, 0)], heap([(0x300A, 6, 4)]) + bytes(6))),
    "crw value past its heap": crw(
        heap([(0x300A, 20, 0)], heap([(0x180E, 4, 30)], bytes(4)) + bytes(12))
    ),
    "crw table claims too much": crw(
        heap([(0x300A, 12, 0)], b"\3\0" + bytes(6) + struct.pack("<I", 0))
    ),
    "mrw header past the file": b"\0MRM" + struct.pack(">I", 2**31),
    "mrw record past": mrw([(b"\0TTW", b"", 2**31)]),
    "mrw without TTW": mrw([(b"\0PRD", bytes(4), None)]),
    "mrw empty TTW last": mrw([(b"\0TTW", b"", None)]),
    "mrw TTW of 4 bytes": mrw([(b"\0TTW", b"II*\0", None)]),
    "mrw TTW header only": mrw([(b"\0TTW", b"II*\0\x08\0\0\0", None)]),
    "raf JPEG outside": b"FUJIFILM".ljust(84, b"\0") + struct.pack(">II", 0x5C, 200),
    "raf JPEG of 4 bytes": raf(SOI + EOI, b"\0" * 8),
    "raf not a JPEG": raf(b"\0\0\0\0"),
    "raf segment past the JPEG": raf(SOI + app1(BLOCK_B)[:-2], b"\0" * 8),
    "x3f pointer not a directory": b"FOVb" + bytes(16) + struct.pack("<I", 4),
    "x3f 33 sections": x3f_sections([(b"IMA2", X3F_JPEG)], extra=32),
    "x3f section past the end": x3f_sections([])[:-16]
    + b"SECd"
    + struct.pack("<II", 0x20000, 1)
    + struct.pack("<II4s", 8, 2**31, b"IMA2")
    + struct.pack("<I", 40),
    "x3f section of 32 bytes": x3f_sections([(b"IMA2", X3F_JPEG[:28] + SOI + EOI)]),
}

PROBLEMS = {
    "cr3 without moov": "CR3 has no 'moov' box",
    "cr3 without Canon's box": "CR3 has no Canon metadata box",
    "cr3 64-bit size cut": "CR3 box size at byte 32 (8 bytes) is past the end",
    "cr3 CMT1 not TIFF": "CR3 CMT1 is not a TIFF block",
    "cr3 CMT2 IFD outside": "CR3 CMT2: IFD at 100 is outside the block",
    "cr3 CMT2 IFD runs past": "CR3 CMT2: IFD at 8 runs past the block",
    "cr3 box runs past": "CR3 Canon uuid box 'CMT1' at byte 56 runs past its parent",
    "heif without meta": "HEIF has no 'meta' box",
    "heif without iinf": "HEIF has no item list",
    "heif without Exif": "HEIF has no Exif item",
    "heif Exif in a missing idat": "HEIF Exif item is in an 'idat' box the file lacks",
    "heif method 2": "HEIF Exif item is stored by construction method 2",
    "heif Exif nowhere": "HEIF Exif item has no place in the file, or claims too much",
    "heif Exif too big": "HEIF Exif item has no place in the file, or claims too much",
    "heif Exif of 3 bytes": "HEIF Exif item is cut short",
    "heif Exif of 4 bytes": "HEIF Exif item is not a TIFF block",
    "heif Exif past the end": "HEIF Exif item at byte 0 (99999 bytes) is past the end",
    "heif iloc cut": "HEIF iloc is cut short",
    "heif iloc bad field": "HEIF iloc: a field of 3 bytes",
    "heif pitm cut": "HEIF pitm is cut short",
    "crw header length 10": "CRW header length 10 does not fit the 32-byte file",
    "crw header length 14": None,
    "crw empty root heap": None,
    "crw sub-heap of 6 bytes, empty": None,
    "crw sub-heap of 5 bytes": "CRW heap at byte 26 is too small",
    "crw bad entry": "CRW entry 0 of the heap table at byte 26 is bad",
    "crw sub-heap past its heap": "CRW heap table at byte 405540 is outside its heap",
    "crw value past its heap": "CRW value at byte 56 is outside its heap",
    "crw table claims too much": "CRW heap table at byte 26 claims 3 entries",
    "mrw header past the file": "MRW header claims 2147483648 bytes of records in a smaller file",
    "mrw record past": "MRW record 'TTW' at byte 8 runs past the header",
    "mrw without TTW": "MRW has no TTW record",
    "mrw empty TTW last": "MRW TTW is not a TIFF block",
    "mrw TTW of 4 bytes": "MRW TTW is not a TIFF block",
    "mrw TTW header only": "MRW TTW: IFD at 8 is outside the block",
    "raf JPEG outside": (
        "RAF header points its JPEG to byte 92 (200 bytes), outside the 92-byte file"
    ),
    "raf JPEG of 4 bytes": "RAF JPEG has no EXIF segment",
    "raf not a JPEG": "RAF JPEG at byte 92 is not a JPEG",
    "raf segment past the JPEG": "RAF JPEG segment at byte 94 runs past the JPEG",
    "x3f pointer not a directory": "X3F directory pointer leads to byte 4, not a directory",
    "x3f 33 sections": "X3F directory at byte 167 claims 33 sections",
    "x3f section past the end": "X3F section 'IMA2' at byte 8 runs past the end",
    "x3f section of 32 bytes": "X3F has no JPEG with EXIF (SD9 and SD10 files have none)",
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_header_is_named_in_the_warning(name: str) -> None:
    """The warning says which container, which block and where (``None``: read without a
    problem, and without a time)."""
    found = read_raw(io.BytesIO(DAMAGED[name]))
    assert found is not None
    problem = PROBLEMS[name]
    expected = None if problem is None else f"unreadable {found.format} header ({problem})"
    assert found.problem == expected
    assert "EXIF DateTimeOriginal" not in found.tags
