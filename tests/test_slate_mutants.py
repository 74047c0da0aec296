"""The barcode reader's mutants (card/slate.py): what a mutation round found no test for.

Each test here failed on a mutant of `cardingest.card.slate` that the other tests let
through (docs/testing.md, "A mutation round on card/slate").
"""

from __future__ import annotations

import io
import struct
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from slate_photos import barcode_image

from cardingest.card import slate
from cardingest.card.slate import (
    CUT_OFF,
    SlateOptions,
    _beside,
    _crop,
    _frame,
    _marks_reason,
    _nowhere,
    _orientation,
    _read_again,
    _shifted,
    decode,
    describe,
    embedded_preview,
    payload_id,
    read_slates,
)
from cardingest.errors import ConfigError
from cardingest.models import MediaFile, SlateRead


def _found_at(left: float, top: float, right: float, bottom: float) -> Any:
    """A code as zxing reports one found (not read), at that box."""
    return SimpleNamespace(
        position=SimpleNamespace(
            top_left=SimpleNamespace(x=left, y=top),
            top_right=SimpleNamespace(x=right, y=top),
            bottom_right=SimpleNamespace(x=right, y=bottom),
            bottom_left=SimpleNamespace(x=left, y=bottom),
        )
    )


def _jpeg(size: tuple[int, int], exif: bytes | None = None) -> bytes:
    out = io.BytesIO()
    image = Image.new("L", size, 200)
    if exif is None:
        image.save(out, "JPEG", quality=50)
    else:
        image.save(out, "JPEG", quality=50, exif=exif)
    return out.getvalue()


# ---- the symbologies looked for -------------------------------------------------------


def test_the_reader_looks_for_the_plain_qr_code_not_micro_qr() -> None:
    """The formats given to zxing name the plain QR code (model 2), not the family with
    Micro QR, which zxing finds unreadable in a QR code's own modules (a slate held for
    nothing). `_formats` is cached, so its body is called afresh here."""
    formats = slate._formats.__wrapped__()  # type: ignore[attr-defined]
    assert set(str(formats).split(", ")) == {
        "QR Code Model 2", "Data Matrix", "Code 128", "Code 39", "PDF417", "Aztec",
    }  # fmt: skip
    micro = zxingcpp.create_barcode("JBX3656", zxingcpp.BarcodeFormat.MicroQRCode)
    bitmap = micro.to_image(scale=8)
    image = Image.frombytes("L", (bitmap.shape[1], bitmap.shape[0]), bytes(memoryview(bitmap)))
    assert [b.text for b in zxingcpp.read_barcodes(image)] == ["JBX3656"]
    assert zxingcpp.read_barcodes(image, formats=formats) == []


# ---- payloads and what is said of a code that gave no ID -------------------------------


def test_a_group_no_text_matched_in_is_passed_over_not_raised_on() -> None:
    """A match of ``slate_pattern`` in which no group took text (an alternative without a
    group) gives no ID; the ID after it is still found (it raised StopIteration)."""
    options = SlateOptions(slate_pattern=r"-|([A-Z0-9]+)")
    assert payload_id("-JBX3656", options) == "JBX3656"
    assert payload_id("--", options) is None


def test_values_taken_from_a_url_are_checked_as_ids_not_matched_again() -> None:
    """What ``slate_pattern`` took from a payload is checked as an ID as it is: matched
    again against the pattern (a URL's ``nhi=``), two patients' IDs and an ID beside a
    mistyped one were said to be "not a valid NHI", hiding that a valid ID was there."""
    url = SlateOptions(slate_pattern=r"[?&]nhi=([A-Za-z0-9]+)")
    two = "https://clinic.example/p?nhi=JBX3656&nhi=ACA31FM"
    assert payload_id(two, url) is None
    assert describe("QR Code", two, url) == (
        "barcode (QR Code, 48 characters) holds more than one ID by slate_pattern, so whose "
        "it is is in doubt"
    )
    mixed = "https://clinic.example/p?nhi=JBX3656&nhi=JBX3657"
    assert describe("QR Code", mixed, url) == (
        "barcode (QR Code, 48 characters) holds 2 values by slate_pattern, not all of them a "
        "valid NHI, so whose it is is in doubt"
    )


def test_texts_of_which_none_is_an_id_are_said_to_be_no_valid_id() -> None:
    """Several values by ``slate_pattern``, none of them an ID: the code is no valid ID,
    not "not all of them valid" (which says one of them was)."""
    split = SlateOptions(slate_pattern=r"([A-Z]+)|([0-9]+)")
    assert describe("QR Code", "JBX3656", split) == (
        "barcode (QR Code, 7 characters) is not a valid NHI"
    )


def test_a_test_range_id_is_named_with_the_setting_in_full() -> None:
    """The message for a Z NHI, word for word (the setting's name and value as the config
    spells them), without the payload."""
    assert describe("QR Code", "ZAC5361", SlateOptions()) == (
        "barcode (QR Code, 7 characters) holds a test-range NHI, not a real patient's; set "
        "allow_test_ids = true in the config to accept test IDs"
    )


# ---- where the marks of a code cut off are said to be ------------------------------------


@pytest.mark.parametrize(
    ("where", "place"),
    [
        ((0.1, 0.1), "at the top left of the photo"),
        ((0.5, 0.1), "at the top of the photo"),
        ((0.9, 0.1), "at the top right of the photo"),
        ((0.1, 0.5), "on the left side of the photo"),
        ((0.5, 0.5), "in the middle of the photo"),
        ((0.9, 0.5), "on the right side of the photo"),
        ((0.1, 0.9), "at the bottom left of the photo"),
        ((0.5, 0.9), "at the bottom of the photo"),
        ((0.9, 0.9), "at the bottom right of the photo"),
        ((1.0, 1.0), "at the bottom right of the photo"),  # the far edges themselves
        ((0.0, 1.0), "at the bottom left of the photo"),
    ],
)
def test_the_reason_says_in_which_ninth_of_the_photo_the_marks_are(
    where: tuple[float, float], place: str
) -> None:
    """Each ninth of the photo in words, so whoever looks at a held photo finds what was
    taken for a code; a mark at the photo's right or bottom edge (1.0) is in the last
    third (it raised IndexError)."""
    assert _marks_reason(where) == (
        f"{CUT_OFF}, {place} (a code cut off at the frame's edge, or covered)"
    )


def _exif_orientation(value: bytes, kind: int) -> bytes:
    """An EXIF block whose only tag is Orientation, of TIFF type ``kind`` (3 SHORT, 2 ASCII),
    its value (up to 4 bytes) in the entry."""
    entry = struct.pack("<HHI", 0x0112, kind, len(value) // (2 if kind == 3 else 1))
    return (
        b"Exif\x00\x00II*\x00"
        + struct.pack("<IH", 8, 1)
        + entry
        + value.ljust(4, b"\0")
        + (b"\0" * 4)
    )


def test_the_orientation_is_1_where_the_photo_has_none_or_none_that_reads() -> None:
    """A photo's EXIF Orientation as the marks' place is turned by: 1 (as stored) where it
    has no EXIF, the photo cannot be opened, or the tag is not a number; the number where
    it is one."""
    assert _orientation(_jpeg((40, 30))) == 1
    assert _orientation(b"not a photo") == 1
    assert _orientation(_jpeg((40, 30), _exif_orientation(struct.pack("<H", 6), 3))) == 6
    assert _orientation(_jpeg((40, 30), _exif_orientation(b"6\0", 2))) == 1


# ---- the crop around a code found but not read, and where a code read again may lie ---


def test_a_code_placed_past_the_right_edge_of_the_photo_gives_no_crop() -> None:
    """zxing places a cut-off code's corners where its pattern says, out of the frame too:
    past the right or bottom edge the crop would have its right before its left (Pillow raises), so
    none is made. One at the left edge is cropped from the photo's first column."""
    image = Image.new("L", (400, 300), 255)
    assert _crop(image, _found_at(500, 10, 600, 110), 1.0) is None
    assert _crop(image, _found_at(10, 400, 110, 500), 1.0) is None  # past the bottom
    assert _crop(image, _found_at(20, 50, 120, 150), 1.0) == (0, 0, 180, 210)


def test_a_code_read_again_may_lie_up_to_a_quarter_of_its_size_past_where_it_was_found() -> None:
    """A code read again in the crop belongs to the code found where its centre lies within
    a quarter of that code's size of where it was found, on every side: the code found
    (zxing's corners are rough) is up to that far off in a photo, and a code read again
    there dropped would hold the slate as not read."""
    canvas = Image.new("L", (800, 800), 255)
    canvas.paste(barcode_image("MCJ1984", "qr").resize((100, 100)), (350, 350))
    [code] = zxingcpp.read_barcodes(canvas)
    corners = [code.position.top_left, code.position.bottom_right]
    cx, cy = sum(p.x for p in corners) / 2, sum(p.y for p in corners) / 2
    size, off = 200.0, 0.125 * 200  # found boxes twice the code's size, the centre 25 off
    below_right = _found_at(cx + off, cy + off, cx + off + size, cy + off + size)
    above_left = _found_at(cx - off - size, cy - off - size, cx - off, cy - off)
    for found in (below_right, above_left):
        assert [c.text for c, _ in _read_again(canvas, found, 1.0)] == ["MCJ1984"]
    far = 0.3 * size  # past the quarter: another code, not the one found
    assert _read_again(canvas, _found_at(cx + far, cy, cx + far + size, cy + size), 1.0) == []


def test_the_sheets_codes_not_read_are_placed_along_a_turned_codes_sides() -> None:
    """The places of a sheet's codes not read lie along the read code's own sides, across
    and down, whichever way the sheet is turned: a code turned 30 degrees moves each corner
    by ``across * side_across + down * side_down``."""
    import math

    turn = math.radians(30)
    side = 100.0
    ax, ay = side * math.cos(turn), side * math.sin(turn)
    dx, dy = -ay, ax
    tl = (500.0, 500.0)
    corners = (
        tl,
        (tl[0] + ax, tl[1] + ay),
        (tl[0] + ax + dx, tl[1] + ay + dy),
        (tl[0] + dx, tl[1] + dy),
    )
    frame = _frame(corners)
    assert frame is not None
    spot = (1.294, 2.394)
    moved = _shifted(corners, frame, spot)
    for (x0, y0), (x1, y1) in zip(corners, moved, strict=True):
        assert x1 - x0 == pytest.approx(spot[0] * ax + spot[1] * dx)
        assert y1 - y0 == pytest.approx(spot[0] * ay + spot[1] * dy)


# ---- a RAW's embedded preview ------------------------------------------------------------


def test_the_largest_preview_is_taken_wherever_it_lies_among_the_others() -> None:
    """Of the JPEGs in a RAW (a thumbnail, previews of several sizes), the largest by area:
    not the last, nor the widest, past a SOI-like run of bytes that is no JPEG; a JPEG at the
    file's very start counts, and a preview exactly 640 pixels across is no thumbnail."""
    thumb, small, big, wide, last = (
        _jpeg((160, 120)), _jpeg((800, 600)), _jpeg((1600, 1200)), _jpeg((1000, 300)),
        _jpeg((700, 500)),
    )  # fmt: skip
    raw = b"II*\x00" + bytes(100) + thumb + bytes(50) + small + bytes(50) + big + bytes(20)
    raw += wide + bytes(20) + last + bytes(100)
    assert embedded_preview(raw) == big + bytes(20) + wide + bytes(20) + last + bytes(100)
    assert embedded_preview(big) == big  # at offset 0
    assert embedded_preview(b"II*\x00" + bytes(10) + _jpeg((640, 480))) == _jpeg((640, 480))
    # A SOI-like run (ff d8 ff) that is no JPEG before the preview: passed over.
    broken = b"II*\x00" + bytes(10) + b"\xff\xd8\xffXYZ" + big
    assert embedded_preview(broken) == big


# ---- codes found and not read: a phantom of the slate's own print, or placed nowhere ----


def _code(left: int, top: int, right: int, bottom: int, kind: str = "DataMatrix") -> Any:
    """A code as zxing reports it, of format ``kind``, at that box (zxing's are whole pixels)."""
    found = _found_at(left, top, right, bottom)
    found.format = getattr(zxingcpp.BarcodeFormat, kind)
    return found


@pytest.mark.parametrize(
    ("box", "phantom"),
    [
        ((210, 120, 260, 170), True),  # right of the QR code, exactly the gap (10) away
        ((211, 120, 261, 170), False),  # a pixel further
        ((40, 120, 90, 170), True),  # left, exactly the gap
        ((39, 120, 89, 170), False),
        ((120, 210, 170, 260), True),  # below, exactly the gap
        ((120, 211, 170, 261), False),
        ((120, 40, 170, 90), True),  # above, exactly the gap
        ((120, 39, 170, 89), False),
        ((205, 120, 265, 180), True),  # 60, BESIDE_SIZE of the code read: still its own
        ((205, 120, 266, 181), False),  # larger: another patient's label beside the slate
        ((205, 120, 275, 190), False),
        ((300, 300, 320, 320), False),  # small but far off
    ],
)
def test_a_code_not_read_is_the_slates_own_only_touching_it_and_smaller(
    box: tuple[int, int, int, int], phantom: bool
) -> None:
    """A code found and not read is taken for a phantom of a read QR code's own print
    (dropped) only where it lies within `BESIDE_GAP` (a tenth of the code's size) of it, on
    any side, and is at most `BESIDE_SIZE` (0.6) of its size; anything further off or larger
    may be another patient's label and holds the group. zxing's corners are whole pixels,
    so the bounds themselves are met."""
    read = _code(100, 100, 200, 200, "QRCode")
    assert _beside(_code(*box), [read]) is phantom


def test_a_linear_code_found_as_a_line_is_placed_somewhere() -> None:
    """zxing reports a linear code found in one row as a line (its top and bottom one):
    that is a place in the photo, not "nowhere" (which, beside two QR codes, drops a code
    not read as their finder patterns put together). Nowhere is all corners at one point."""
    assert _nowhere(_code(100, 50, 300, 50, "Code128")) is False
    assert _nowhere(_code(100, 50, 100, 90, "Code128")) is False
    assert _nowhere(_code(100, 50, 100, 50)) is True


# ---- a card's photos read: RAW previews, photos that do not decode, what is reported ----


def _slate_jpeg(payload: str, size: tuple[int, int] = (1200, 900)) -> bytes:
    """A plain JPEG of a white page holding ``payload`` as a QR code a quarter as wide."""
    page = Image.new("L", size, 255)
    side = size[0] // 4
    page.paste(barcode_image(payload, "qr").resize((side, side)), (size[0] // 3, size[1] // 3))
    out = io.BytesIO()
    page.save(out, "JPEG", quality=90)
    return out.getvalue()


def _media(path: str, size: int) -> MediaFile:
    return MediaFile(
        path=path, size=size, captured=datetime(2026, 12, 5, 9, 0), time_source="mtime"
    )


def test_a_cards_photos_are_read_through_a_raws_preview_and_each_reported_by_path(
    tmp_path: Path,
) -> None:
    """`read_slates` reads each photo by its path under the card's root: a JPEG as it is,
    a RAW through the largest JPEG it carries (the RAW itself is no image Pillow opens), and
    reports, by path, every photo with an ID, a code that gave none, a photo that could not
    be decoded, or a RAW with no preview to read (not a slate, but said); a photo with no
    code is not reported. ``on_file`` hears of every photo, in the card's order."""
    files = {
        "DCIM/100/A.JPG": _slate_jpeg("JBX3656"),
        "DCIM/100/B.CR2": b"RAW!" + bytes(200) + _slate_jpeg("ACA31FM") + bytes(64),
        "DCIM/100/C.NEF": b"RAW!" + bytes(200) + _jpeg((160, 120)) + bytes(64),
        "DCIM/100/D.JPG": b"\xff\xd8\xff\xe0 no more of a JPEG than this",
        "DCIM/100/E.JPG": _jpeg((1200, 900)),
    }
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    media = [_media(path, len(data)) for path, data in files.items()]
    heard: list[str] = []
    found = read_slates(tmp_path, media, SlateOptions(), on_file=heard.append)
    assert heard == list(files)
    assert found == {
        "DCIM/100/A.JPG": SlateRead(path="DCIM/100/A.JPG", ids=("JBX3656",)),
        "DCIM/100/B.CR2": SlateRead(path="DCIM/100/B.CR2", ids=("ACA31FM",)),
        "DCIM/100/C.NEF": SlateRead(
            path="DCIM/100/C.NEF", unread="a RAW file without a JPEG preview"
        ),
        "DCIM/100/D.JPG": SlateRead(
            path="DCIM/100/D.JPG", invalid=("the photo could not be decoded",)
        ),
    }


def test_a_slate_pattern_that_is_no_pattern_is_refused_before_any_photo_is_read(
    tmp_path: Path,
) -> None:
    """A ``slate_pattern`` without a group is a configuration error raised by `read_slates`
    itself, before a photo is read: were it checked only per payload, a card of photos
    without codes would pass it, and each photo's error would be a photo not decoded."""
    (tmp_path / "A.JPG").write_bytes(_jpeg((64, 48)))
    options = SlateOptions(slate_pattern=r"[A-Z]{3}[0-9]{4}")
    heard: list[str] = []
    with pytest.raises(ConfigError, match="needs a group"):
        read_slates(tmp_path, [_media("A.JPG", 1)], options, on_file=heard.append)
    assert heard == []


def _state(code: Any, valid: bool) -> Any:
    code.valid = valid
    return code


def test_codes_not_read_hold_the_group_unless_a_phantom_or_nowhere_beside_two_qr_codes() -> None:
    """`_sorted_out`: the codes that read, and the codes not read that may be another
    patient's. A code given no place is taken for two read QR codes' finder patterns only
    where two (or more) QR codes read: beside one it holds the group. A code not read far
    off holds it however many QR codes read; one touching a read code, small, is its own."""
    qr_a = _state(_code(100, 100, 200, 200, "QRCode"), True)
    qr_b = _state(_code(400, 100, 500, 200, "QRCode"), True)
    bars = _state(_code(100, 400, 400, 450, "Code128"), True)
    nowhere = _state(_code(300, 300, 300, 300, "QRCode"), False)
    far = _state(_code(700, 600, 800, 700), False)
    touching = _state(_code(205, 120, 245, 160), False)
    assert slate._sorted_out([qr_a, qr_b, nowhere]) == ([qr_a, qr_b], [])
    assert slate._sorted_out([qr_a, bars, nowhere]) == ([qr_a, bars], [nowhere])
    assert slate._sorted_out([qr_a, nowhere]) == ([qr_a], [nowhere])
    assert slate._sorted_out([qr_a, qr_b, far, nowhere]) == ([qr_a, qr_b], [far])
    assert slate._sorted_out([qr_a, touching, far]) == ([qr_a], [far])
    assert slate._sorted_out([nowhere, far]) == ([], [nowhere, far])


# ---- codes found and not read, read again: `_read_found` -------------------------------


def _page(size: tuple[int, int], codes: dict[str, tuple[int, int, int]]) -> Image.Image:
    """A white page with QR codes pasted at ``(left, top, side)``; a payload of ``"damaged"``
    is a QR code with a black square over its middle, which zxing finds and cannot read."""
    from PIL import ImageDraw

    page = Image.new("L", size, 255)
    for payload, (left, top, side) in codes.items():
        text = "JBX3656" if payload == "damaged" else payload
        page.paste(barcode_image(text, "qr").resize((side, side)), (left, top))
        if payload == "damaged":
            mid = left + side // 2
            ImageDraw.Draw(page).rectangle(
                (mid, mid - left + top, mid + side // 3, mid - left + top + side // 3), fill=0
            )
    return page


def _unread(left: float, top: float, right: float, bottom: float, kind: str) -> Any:
    found = _code(0, 0, 0, 0, kind)
    found.position = _found_at(left, top, right, bottom).position
    found.valid, found.text = False, ""
    return found


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _box_of(placed: Any) -> tuple[float, float, float, float]:
    xs, ys = [x for x, _ in placed.corners], [y for _, y in placed.corners]
    return min(xs), min(ys), max(xs), max(ys)


def _halved_box(page: Image.Image) -> tuple[float, ...]:
    """Where zxing reads the one code on ``page``, in the pixels of ``page`` halved."""
    [code] = zxingcpp.read_barcodes(page)
    xs = [p.x for p in (code.position.top_left, code.position.bottom_right)]
    ys = [p.y for p in (code.position.top_left, code.position.bottom_right)]
    return min(xs) / 2, min(ys) / 2, max(xs) / 2, max(ys) / 2


def test_each_code_not_read_is_said_unread_on_the_first_look_a_placeless_one_too() -> None:
    """On the first look (``finer`` given), a code found and not read whose crop reads
    nothing holds the photo, and so does one given no place (beside fewer than two QR codes)
    where the whole photo reads nothing: each is said, in the order found, a placeless one
    first in the list not stopping the others being read again."""
    blank = Image.new("L", (1000, 800), 255)
    nowhere = _unread(300, 300, 300, 300, "QRCode")
    matrix = _unread(100, 100, 200, 200, "DataMatrix")
    read, placed = slate._read_found(
        _png(blank), blank, [nowhere, matrix], SlateOptions(), finer=blank
    )
    assert read == SlateRead(
        path="",
        invalid=(
            f"a {matrix.format} barcode was found but could not be read",
            f"a {nowhere.format} barcode was found but could not be read",
        ),
    )
    assert placed == []


def test_a_code_not_read_on_the_second_look_is_dropped_as_texture() -> None:
    """On the second, finer look (``finer`` None: the photo in full is read), a code found
    whose crop reads nothing is dropped, placed or not: zxing finds such "codes" in the
    texture of plain photos, and the first look found nothing there either."""
    blank = Image.new("L", (1000, 800), 255)
    found = [_unread(300, 300, 300, 300, "QRCode"), _unread(100, 100, 200, 200, "DataMatrix")]
    read, placed = slate._read_found(_png(blank), blank, found, SlateOptions(), finer=None)
    assert (read, placed) == (SlateRead(path=""), [])


def test_a_code_read_again_in_the_finer_photo_is_placed_in_the_first_looks_pixels() -> None:
    """A code found at the first scale (half the fine one) and read again in a crop of the
    finer photo gives its ID, holds nothing, and is placed where it lies in the first look's
    pixels (the crop's offset added, then halved): the marks it explains are looked for
    there."""
    fine = _page((1000, 800), {"JBX3656": (400, 300, 200)})
    image = fine.reduce(2)
    found = _unread(195, 145, 305, 255, "QRCode")
    read, placed = slate._read_found(_png(fine), image, [found], SlateOptions(), finer=fine)
    assert read == SlateRead(path="", ids=("JBX3656",))
    [code] = placed
    assert _box_of(code) == pytest.approx(_halved_box(fine), abs=1)


def test_a_placeless_code_is_sought_in_the_whole_photo_held_if_one_there_is_unread() -> None:
    """A code given no place is looked for in the whole finer photo: the codes read there
    count, placed in the first look's pixels; but where one found there does not read, the
    photo is held and what did read there is not taken (it may be the other patient's)."""
    fine = _page((1000, 800), {"JBX3656": (100, 100, 200)})
    nowhere = _unread(300, 300, 300, 300, "QRCode")
    read, placed = slate._read_found(
        _png(fine), fine.reduce(2), [nowhere], SlateOptions(), finer=fine
    )
    assert read == SlateRead(path="", ids=("JBX3656",))
    [code] = placed
    assert _box_of(code) == pytest.approx(_halved_box(fine), abs=1)
    both = _page((1000, 800), {"JBX3656": (100, 100, 200), "damaged": (600, 400, 290)})
    read, _ = slate._read_found(_png(both), both.reduce(2), [nowhere], SlateOptions(), finer=both)
    assert read == SlateRead(
        path="",
        invalid=(f"a {nowhere.format} barcode was found but could not be read",),
    )


# ---- a photo decoded: the first look and the finer one ---------------------------------


def test_a_code_found_and_not_read_on_the_first_look_holds_the_photo_for_itself() -> None:
    """A photo (2000 pixels across: first looked at halved) holding one QR code that zxing
    finds and cannot read is held as that code found and not read, on the first look: not
    dropped as the second look's texture, nor left to be caught only by its corner marks."""
    page = _page((2000, 1500), {"damaged": (800, 600, 400)})
    assert decode(_png(page), SlateOptions()) == SlateRead(
        path="", invalid=("a QR Code barcode was found but could not be read",)
    )


def test_a_code_too_small_for_the_first_look_is_read_on_the_finer_one_and_not_held() -> None:
    """A QR code too small to be found in the photo halved (the first look) is read in the
    photo at the fine scale; its place, brought back to the first look's pixels, explains
    its own corner marks, so the photo is that patient's slate, not held as a code cut off."""
    for side in (48, 64):
        page = _page((2000, 1500), {"JBX3656": (900, 700, side)})
        assert slate._read(page.reduce(2), errors=True) == []  # not found at the first look
        assert decode(_png(page), SlateOptions()) == SlateRead(path="", ids=("JBX3656",))


def test_a_photo_1800_across_is_looked_at_once_its_code_read_or_its_marks_held() -> None:
    """A photo at least the fine scale (1800) across and under twice the first (1920) is
    looked at once, as it is: a code in it is read, and the corner marks of a QR code cut
    off at its right edge, where no code reads, hold it and say where they are."""
    page = _page((1800, 1350), {"JBX3656": (700, 500, 300)})
    assert decode(_png(page), SlateOptions()) == SlateRead(path="", ids=("JBX3656",))
    cut = Image.new("L", (1800, 1350), 255)
    cut.paste(barcode_image("JBX3656", "qr").resize((400, 400)), (1550, 500))
    assert decode(_png(cut), SlateOptions()) == SlateRead(
        path="",
        invalid=(
            f"{CUT_OFF}, on the right side of the photo (a code cut off at the frame's edge, "
            "or covered)",
        ),
    )
    # The same photo stored turned (EXIF Orientation 6: shown turned a quarter clockwise):
    # the marks are said where they are as shown, at the bottom.
    turned = io.BytesIO()
    cut.save(turned, "JPEG", quality=95, exif=_exif_orientation(struct.pack("<H", 6), 3))
    [reason] = decode(turned.getvalue(), SlateOptions()).invalid
    assert reason.startswith(f"{CUT_OFF}, at the bottom of the photo")
    # A photo 2400 across, looked at halved and then at the fine scale: the same.
    wide = Image.new("L", (2400, 1800), 255)
    wide.paste(barcode_image("JBX3656", "qr").resize((540, 540)), (2060, 660))
    turned = io.BytesIO()
    wide.save(turned, "JPEG", quality=95, exif=_exif_orientation(struct.pack("<H", 6), 3))
    [reason] = decode(turned.getvalue(), SlateOptions()).invalid
    assert reason.startswith(f"{CUT_OFF}, at the bottom of the photo")


def test_a_small_photo_is_read_and_a_code_found_only_on_the_finer_look_unread_is_dropped() -> None:
    """A photo smaller than the fine scale is read (looked at as it is, then enlarged). In a
    photo 2000 across, a code found only on the finer look (the first, halved, saw nothing)
    that does not read even in the full photo is dropped as the texture zxing finds in plain
    photos, the full photo decoded for that."""
    small = _page((1000, 750), {"JBX3656": (400, 300, 200)})
    assert decode(_png(small), SlateOptions()) == SlateRead(path="", ids=("JBX3656",))
    page = _page((2000, 1500), {"damaged": (900, 700, 52)})
    assert slate._read(page.reduce(2), errors=True) == []
    assert [code.valid for code in slate._read(page, errors=True)] == [False]
    assert decode(_png(page), SlateOptions()) == SlateRead(path="")


def test_a_code_read_only_on_the_finer_look_that_is_no_id_holds_the_photo() -> None:
    """A code read only on the finer look whose payload is no ID is said so, and holds the
    photo: the finer look's codes that gave no ID count as the first look's do."""
    page = _page((2000, 1500), {"HELLO": (900, 700, 52)})
    assert slate._read(page.reduce(2), errors=True) == []
    assert decode(_png(page), SlateOptions()) == SlateRead(
        path="", invalid=("barcode (QR Code, 5 characters) is not a valid NHI",)
    )
