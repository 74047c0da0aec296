"""Slates: read the barcodes in a card's photos and keep only the patient IDs they carry.

A slate is a photo of a patient's label or wristband. Its barcode's payload may hold a name or
a birth date (GS1 wristbands do), so the payload never leaves :func:`_ids_of`: what comes out
is the valid IDs and, for each barcode that gave none, its symbology and length.

Speed: each photo is read from the card once and decoded once, at a reduced DCT scale
(Pillow's ``draft``; about 1800 pixels across, 1/2 of a 12 MP photo). zxing-cpp looks first
at that reduced to about 1000 pixels (and at its own downscaled copies, for large codes).
Where it found nothing at all, or only codes that read, it looks once more at the 1800
pixels: a slate whose code is small in the frame (a wristband's Code 128 at 20% of the
width, a QR code at 5%) is found there, also beside the last patient's slate still in frame,
where missing it would hand the next patient's photos to the last slate's patient; every
photo that is no slate pays for it. (Decoding the JPEG once, at the finer scale, and
reducing it costs about 14 ms of CPU less per 12 MP photo than decoding it at each scale.)
Only where it found a code it could not decode is a crop around that code decoded again,
finer (from the full photo on the second look, where a code that still does not read is
dropped: zxing finds such "codes" in the texture of plain photos). Photos are read on several
threads: Pillow and zxing-cpp release the GIL while they work. A code that is found but
cannot be read even then makes the photo a slate that is not valid (fail closed: a slate
missed would hand the next patient's photos to the last one).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, InvalidIdError
from ..ids import validate_id
from ..models import MediaFile, SlateRead
from .kinds import PHOTO_EXTENSIONS
from .qrmarks import Box, Corners, Point, Read, bounds, qr_marks_at, scaled

if TYPE_CHECKING:  # Pillow and zxing-cpp load only when a photo is read
    import zxingcpp
    from PIL import Image

CUT_OFF = "corner marks of a QR code were found where no code could be read"
"""Why a photo that shows a QR code's marks where no code reads is held (`qrmarks`); the
reason goes on to say where in the photo they are (`_marks_reason`)."""

SYMBOLOGIES = ("QRCode", "DataMatrix", "Code128", "Code39", "PDF417", "Aztec")
"""The symbologies a slate may use (patient labels and wristbands)."""


@cache
def _formats() -> zxingcpp.BarcodeFormats:
    import zxingcpp  # imported when a card is read, not at every start of the CLI

    return zxingcpp.BarcodeFormats([getattr(zxingcpp.BarcodeFormat, _kind(n)) for n in SYMBOLOGIES])


def _kind(name: str) -> str:
    """zxing-cpp 3 reads "QRCode" as the family with Micro QR and rMQR, which no patient
    label uses and which it finds, unreadable, in a QR code's own modules (a slate held for
    nothing): the plain QR code (model 2) alone, where it is named apart."""
    import zxingcpp

    plain = "QRCodeModel2"
    return plain if name == "QRCode" and hasattr(zxingcpp.BarcodeFormat, plain) else name


IMAGES = frozenset({"jpg", "jpeg", "tif", "tiff", "png"})
RAW = PHOTO_EXTENSIONS - IMAGES - {"heic", "heif", "hif"}
READABLE = IMAGES | RAW
"""Extensions read for a barcode. A RAW+JPEG pair is read through its JPEG, a RAW alone
through the largest JPEG preview embedded in it. HEIC is not read (Pillow cannot)."""
_PREVIEW_MIN = 640
"""An embedded preview smaller than this (long edge) is a thumbnail: too small to read."""
_PREVIEW_TRIES = 32

SCHEME_NAMES = {
    "nhi": "NHI",
    "nhs": "NHS number",
    "ihi": "IHI",
    "medicare": "Medicare number",
    "pattern": "patient ID",
}

_FIRST = 960
"""Long edge (pixels, at least) of the first look: the photo decoded at `_FINE` reduced by
a power of two (1/4 of a 4000-pixel-wide photo, 1/4 of a 6000-pixel one too: reduced by 3,
a 24 MP photo's first look missed PDF417 labels it had held before)."""
_FINE = 1800
"""Long edge (at least) asked of the JPEG decoder: draft picks the smallest DCT scale giving
it. The second look, at a photo where nothing was found, is at this, and so is the crop
around a code zxing found but could not decode (that crop from the full photo when the
second look found it)."""
_MARGIN = 0.6
"""The crop of the last pass grows the found region by this fraction on each side."""


@dataclass(frozen=True)
class SlateOptions:
    """How a payload becomes a patient ID: the ID scheme and the optional ``slate_pattern``."""

    scheme: str = "nhi"
    pattern: str | None = None
    allow_test_ids: bool = False
    slate_pattern: str | None = None

    @property
    def id_name(self) -> str:
        return SCHEME_NAMES.get(self.scheme, "patient ID")


def check_slate_pattern(text: str | None) -> re.Pattern[str] | None:
    """Compile ``slate_pattern``; it must have a group (the ID). ConfigError otherwise."""
    if text is None:
        return None
    try:
        compiled = re.compile(text)
    except re.error as exc:
        raise ConfigError(
            f"slate_pattern {text!r} is not a valid regular expression: {exc}"
        ) from None
    if compiled.groups < 1:
        raise ConfigError(f"slate_pattern {text!r} needs a group, e.g. (…), around the ID")
    return compiled


def payload_id(payload: str, options: SlateOptions) -> str | None:
    """The valid patient ID a payload carries, or None. Never "corrects" anything.

    With ``slate_pattern`` the ID is the first of its groups that matched (so alternatives
    such as ``\\(91\\)([A-Z0-9]+)|^([A-Z0-9]+)$`` work); without, the whole payload. A
    payload it takes two different texts from gives none: two patients' IDs, or one and a
    mistyped one (``(91)JBX3656(91)JBX3657`` was JBX3656's, and the other way round no one's).
    """
    text = payload
    pattern = check_slate_pattern(options.slate_pattern)
    if pattern is not None:
        found = _matched(payload, pattern)
        if len(found) != 1:
            return None
        text = found[0]
    if text != text.strip():
        return None
    try:
        return validate_id(
            text,
            options.scheme,
            pattern=options.pattern,
            allow_test_ids=options.allow_test_ids,
        )
    except InvalidIdError:
        # Its message quotes the text, which may be more than an ID: never pass it on.
        return None


def _ids_in(texts: list[str], options: SlateOptions) -> set[str]:
    """The valid IDs among texts ``slate_pattern`` took from one payload."""
    plain = replace(options, slate_pattern=None)
    return {found for text in texts if (found := payload_id(text, plain)) is not None}


def _matched(payload: str, pattern: re.Pattern[str]) -> list[str]:
    """The different texts ``slate_pattern`` takes from a payload: of each match, the first
    of its groups that matched."""
    found: list[str] = []
    for match in pattern.finditer(payload):
        text = next((group for group in match.groups() if group), None)
        if text is not None and text not in found:
            found.append(text)
    return found


def describe(symbology: str, payload: str, options: SlateOptions) -> str:
    """A barcode that gave no ID, named without its payload; a test-range ID (a Z NHI) is
    named as such, with the setting that accepts it."""
    named = f"barcode ({symbology}, {len(payload)} characters)"
    pattern = check_slate_pattern(options.slate_pattern)
    found = _matched(payload, pattern) if pattern is not None else []
    valid = _ids_in(found, options)
    if len(valid) > 1:
        return f"{named} holds more than one ID by slate_pattern, so whose it is is in doubt"
    if valid and len(found) > 1:
        return (
            f"{named} holds {len(found)} values by slate_pattern, not all of them a valid "
            f"{options.id_name}, so whose it is is in doubt"
        )
    if not options.allow_test_ids and payload_id(payload, replace(options, allow_test_ids=True)):
        return (
            f"{named} holds a test-range {options.id_name}, not a real patient's; set "
            "allow_test_ids = true in the config to accept test IDs"
        )
    return f"{named} is not a valid {options.id_name}"


def _ids_of(barcodes: Iterable[zxingcpp.Barcode], options: SlateOptions) -> SlateRead:
    ids: list[str] = []
    invalid: list[str] = []
    for barcode in barcodes:
        found = payload_id(barcode.text, options)
        if found is None:
            invalid.append(describe(str(barcode.format), barcode.text, options))
        elif found not in ids:
            ids.append(found)
    return SlateRead(path="", ids=tuple(sorted(ids)), invalid=tuple(invalid))


def _open_gray(data: bytes, long_edge: int | None) -> Image.Image:
    """Grey, at least ``long_edge`` pixels across and less than twice that where the photo is
    larger: a JPEG through the decoder's DCT scaling, other formats reduced after decoding."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    if long_edge is not None and image.format == "JPEG":
        width, height = image.size
        ratio = long_edge / max(width, height, 1)
        if ratio < 1:
            image.draft("L", (max(1, int(width * ratio)), max(1, int(height * ratio))))
    gray = image.convert("L")
    factor = max(gray.size) // long_edge if long_edge else 1
    return gray.reduce(factor) if factor > 1 else gray


def _read(image: Image.Image, *, errors: bool) -> list[zxingcpp.Barcode]:
    import zxingcpp

    return list(
        zxingcpp.read_barcodes(image, formats=_formats(), try_invert=False, return_errors=errors)
    )


def _crop(image: Image.Image, barcode: zxingcpp.Barcode, scale: float) -> Box | None:
    """The region of ``image`` around a code found at ``scale`` of it; None where that code's
    corners all lie outside the photo (a slate cut off by the frame: zxing places a code's
    corners where its pattern says they are, in the frame or not)."""
    position = barcode.position
    points = [position.top_left, position.top_right, position.bottom_left, position.bottom_right]
    xs = [p.x * scale for p in points]
    ys = [p.y * scale for p in points]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    pad = max(width, height) * _MARGIN
    box = (
        max(0, int(min(xs) - pad)),
        max(0, int(min(ys) - pad)),
        min(image.width, int(max(xs) + pad)),
        min(image.height, int(max(ys) + pad)),
    )
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return None
    return box


def decode(data: bytes, options: SlateOptions) -> SlateRead:
    """The IDs in one photo's bytes (a JPEG, TIFF or PNG); raises OSError/ValueError if the
    image cannot be decoded."""
    fine = _open_gray(data, _FINE)
    factor = 1  # a power of two, as the decoder's DCT scale was: 1/3 read fewer codes
    while max(fine.size) // (factor * 2) >= _FIRST:
        factor *= 2
    image = fine.reduce(factor) if factor > 1 else fine
    found = _dark_on_light(data, image, fine, options)
    return found if found.ids or found.invalid else _light_on_dark(image, options)


def _light_on_dark(image: Image.Image, options: SlateOptions) -> SlateRead:
    """The IDs of codes shown light on dark (a phone's screen in dark mode) in a photo in
    which no code was found, where one of them reads as a valid ID (with the others that
    read, held as anywhere). Inverted, the texture of a plain photo shows zxing codes it
    cannot read (one of the twenty sample photos), which would hold it; a light-on-dark
    slate that does not read is not seen, as before. One more look at the first scale:
    about 8 ms of CPU per 12 MP photo that holds no code."""
    from PIL import ImageOps

    read = _ids_of(_read(ImageOps.invert(image), errors=False), options)
    return read if read.ids else SlateRead(path="")


def _dark_on_light(
    data: bytes, image: Image.Image, fine: Image.Image, options: SlateOptions
) -> SlateRead:
    """`decode` of codes printed dark on light: ``image`` the first look, ``fine`` the
    photo at `_FINE`."""
    first, read = _read_found(data, image, _read(image, errors=True), options, finer=fine)
    if first.invalid:
        return first  # held as it is
    # Nothing found, or a code that reads: a code too small to be found at that scale is
    # looked for, the new patient's wristband beside the last patient's slate too.
    if fine.width <= image.width:  # the photo is smaller than the fine scale: seen in full
        if max(image.size) >= _FINE:
            return _unless_marked(first, image, read, data)
        # Looked at once more enlarged: zxing finds a code at one scale and not at another
        # (a scuffed wristband beside a 1600-pixel photo's slate was read at 1000 and 1800).
        from PIL import Image

        ratio = _FINE / max(image.size)
        size = (round(image.width * ratio), round(image.height * ratio))
        fine = image.resize(size, Image.Resampling.BICUBIC)
    second, more = _read_found(data, fine, _read(fine, errors=True), options, finer=None)
    ids = tuple(sorted({*first.ids, *second.ids}))
    scale = image.width / fine.width
    read.extend(replace(code, corners=_moved(code.corners, scale)) for code in more)
    return _unless_marked(SlateRead(path="", ids=ids, invalid=second.invalid), image, read, data)


def _unless_marked(
    read: SlateRead, image: Image.Image, placed: list[_Placed], data: bytes
) -> SlateRead:
    """``read``; held where ``image`` (of the photo ``data``) shows a QR code's corner marks
    outside the codes that were read (``placed``) and the places of their sheets' codes
    (`qrmarks`): a slate cut off at the frame's edge, or another patient's code that did not
    read beside one that did (a trial's sheet, its codes cut off, beside the next patient's
    label read as that patient's slate alone)."""
    codes: list[Read] = [(code.corners, sheet_places(code, placed)) for code in placed]
    if read.invalid:
        return read
    where = qr_marks_at(image, codes, one=bool(read.ids))
    if where is None:
        return read
    return SlateRead(path="", invalid=(_marks_reason(_as_shown(where, _orientation(data))),))


def _marks_reason(where: Point) -> str:
    """The reason a photo with marks at ``where`` (fractions of the photo as shown) is held:
    it says where, so that whoever looks at the photo can find what was taken for a code."""
    x, y = (min(2, max(0, int(f * 3))) for f in where)
    across, down = ("left", "", "right")[x], ("top", "", "bottom")[y]
    if down and across:
        place = f"at the {down} {across} of the photo"
    elif down:
        place = f"at the {down} of the photo"
    elif across:
        place = f"on the {across} side of the photo"
    else:
        place = "in the middle of the photo"
    return f"{CUT_OFF}, {place} (a code cut off at the frame's edge, or covered)"


def _as_shown(point: Point, orientation: int) -> Point:
    """``point`` (fractions of the stored image) where a viewer shows it: turned and
    mirrored as the photo's EXIF Orientation (1-8) says."""
    x, y = point
    return {
        2: (1 - x, y),
        3: (1 - x, 1 - y),
        4: (x, 1 - y),
        5: (y, x),
        6: (1 - y, x),
        7: (1 - y, 1 - x),
        8: (y, 1 - x),
    }.get(orientation, (x, y))


def _orientation(data: bytes) -> int:
    """The photo's EXIF Orientation; 1 (as stored) where it has none or it cannot be read."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            value = image.getexif().get(_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 1
    return value if isinstance(value, int) else 1


_ORIENTATION = 0x0112


@dataclass(frozen=True)
class _Placed:
    """A code that was read: its corners (in the pixels of the image the marks are looked
    for in), whether it is a QR code or a Code 128 (``qr``, ``bars``; else ``""``), and a
    key of its payload (one sheet's codes carry the same; the payload itself stays in
    `_ids_of`)."""

    corners: Corners
    kind: str
    payload: int


def _placed(barcode: zxingcpp.Barcode, factor: float = 1.0, at: Point = (0.0, 0.0)) -> _Placed:
    """``barcode``, found at ``at`` of an image ``1 / factor`` the size of the one its
    marks are looked for in."""
    import zxingcpp

    kinds = {zxingcpp.BarcodeFormat.QRCode: "qr", zxingcpp.BarcodeFormat.Code128: "bars"}
    return _Placed(
        _moved(_corners(barcode), factor, at), kinds.get(barcode.format, ""), hash(barcode.text)
    )


def _moved(corners: Corners, factor: float, at: Point = (0.0, 0.0)) -> Corners:
    tl, tr, br, bl = (((x + at[0]) * factor, (y + at[1]) * factor) for x, y in corners)
    return tl, tr, br, bl


SHEET_ACROSS = 1.294
"""From a QR code of `cardingest slate`'s sheet to the one beside it, centre to centre, in
the codes' sides (`tests/test_slates.py` measures the sheet)."""
SHEET_DOWN = 2.394
"""From a QR code of the sheet to the one below it, in the codes' sides."""
SHEET_BARS_DOWN = 0.834
"""From a top QR code of the sheet down to its Code 128's centre, in sides; the bars' centre
lies midway between the two columns of QR codes."""
_SHEET_SLACK = 0.4
"""How far (in sides) a code read may lie from where the sheet puts it and be of that
sheet: a sheet seen at an angle is not where a flat one would be."""


def sheet_places(code: _Placed, placed: Sequence[_Placed]) -> tuple[Corners, ...]:
    """Where the QR codes of ``code``'s sheet that were not read lie, if ``code`` is a QR
    code of `cardingest slate`'s sheet: the marks of its codes cut off at the frame's edge
    are its own, not another patient's code beside it. For each corner of the sheet ``code``
    may be in that the other codes read with its payload put it in (each QR code where that
    corner puts one, a Code 128 between the rows; at least one of them), the places of its
    other QR codes where none was read. A QR code read alone may be a label, not a sheet: a
    trial's label of the sheet's code size, beside a sheet cut off past its codes whose
    marks lay where the label's sheet would have had codes, was filed as the label's."""
    frame = _frame(code.corners)
    if code.kind != "qr" or frame is None:
        return ()
    same = [
        (other.kind, _in_sides(frame, _centre(other.corners)))
        for other in placed
        if other.payload == code.payload and other.kind in ("qr", "bars")
    ]
    if all(kind == "qr" and _near(at, [(0.0, 0.0)]) for kind, at in same):
        return ()  # itself alone (read twice, at two scales)
    places: list[Corners] = []
    for across in (SHEET_ACROSS, -SHEET_ACROSS):
        for down in (SHEET_DOWN, -SHEET_DOWN):
            spots = [(across, 0.0), (0.0, down), (across, down)]
            bars = (across / 2, SHEET_BARS_DOWN if down > 0 else SHEET_BARS_DOWN - SHEET_DOWN)
            allowed = {"qr": [(0.0, 0.0), *spots], "bars": [bars]}
            if all(_near(at, allowed[kind]) for kind, at in same):
                places.extend(
                    _shifted(code.corners, frame, spot)
                    for spot in spots
                    if not any(kind == "qr" and _near(at, [spot]) for kind, at in same)
                )
    return tuple(places)


_Frame = tuple[Point, Point, Point]
"""A code's centre, and its side across and its side down, as vectors."""


def _frame(corners: Corners) -> _Frame | None:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = corners
    across = ((x1 - x0 + x2 - x3) / 2, (y1 - y0 + y2 - y3) / 2)
    down = ((x3 - x0 + x2 - x1) / 2, (y3 - y0 + y2 - y1) / 2)
    if abs(across[0] * down[1] - across[1] * down[0]) < 1:  # no area: no place to go by
        return None
    return _centre(corners), across, down


def _centre(corners: Corners) -> Point:
    return sum(x for x, _ in corners) / 4, sum(y for _, y in corners) / 4


def _in_sides(frame: _Frame, point: Point) -> Point:
    """``point`` from the code's centre, in its sides across and down."""
    (cx, cy), (ax, ay), (dx, dy) = frame
    px, py = point[0] - cx, point[1] - cy
    det = ax * dy - ay * dx
    return (px * dy - py * dx) / det, (ax * py - ay * px) / det


def _shifted(corners: Corners, frame: _Frame, spot: Point) -> Corners:
    _, (ax, ay), (dx, dy) = frame
    x, y = spot[0] * ax + spot[1] * dx, spot[0] * ay + spot[1] * dy
    tl, tr, br, bl = ((px + x, py + y) for px, py in corners)
    return tl, tr, br, bl


def _near(at: Point, spots: Sequence[Point]) -> bool:
    return any(abs(at[0] - x) <= _SHEET_SLACK and abs(at[1] - y) <= _SHEET_SLACK for x, y in spots)


def _read_found(
    data: bytes,
    image: Image.Image,
    barcodes: list[zxingcpp.Barcode],
    options: SlateOptions,
    *,
    finer: Image.Image | None,
) -> tuple[SlateRead, list[_Placed]]:
    """The IDs of the codes zxing found in ``image``, those it could not decode read again
    from a crop of ``finer``, the photo at the fine scale (None: the photo in full); and the
    codes read, placed in ``image``'s pixels.

    A code found but not read holds the group even where another code reads: it could be
    another patient's (fail closed). One right beside a code that reads is taken for part
    of the same slate (a slate turned far can show zxing a "Data Matrix" in its own bars and
    print). One zxing gives no place (`_nowhere`) beside two QR codes that read is taken for
    their finder patterns put together (`cardingest slate`'s sheet has four); the corner
    marks of a code that did not read are looked for after (`_unless_marked`). Elsewhere it
    is looked for in the whole of ``finer``. On the second, finer look (``finer`` None) a
    code that does not read even in the full photo is dropped: there zxing finds such
    "codes" in the texture of plain photos (one in four of the sample photos), and at the
    first scale it found nothing either.
    """
    good, broken = _sorted_out(barcodes)
    placed = [_placed(b) for b in good]
    if not broken:
        return (_ids_of(good, options) if good else SlateRead(path="")), placed
    fine = finer if finer is not None else _open_gray(data, None)
    scale = fine.width / image.width
    found: list[zxingcpp.Barcode] = list(good)
    unread: list[str] = []
    for barcode in broken:
        if _nowhere(barcode):
            continue  # looked for in the whole photo once, below
        crop = _read_again(fine, barcode, scale)
        found.extend(code for code, _ in crop)
        placed.extend(_placed(code, 1 / scale, at) for code, at in crop)
        if not crop and finer is not None:
            unread.append(f"a {barcode.format} barcode was found but could not be read")
    placeless = [b for b in broken if _nowhere(b)]
    if placeless and finer is not None:
        whole, gone = _sorted_out(_read(fine, errors=True))
        if gone or not whole:
            unread.append(f"a {placeless[0].format} barcode was found but could not be read")
        else:
            found.extend(whole)
            placed.extend(_placed(code, 1 / scale) for code in whole)
    read = _ids_of(found, options)
    return SlateRead(path="", ids=read.ids, invalid=(*read.invalid, *unread)), placed


def _sorted_out(
    barcodes: list[zxingcpp.Barcode],
) -> tuple[list[zxingcpp.Barcode], list[zxingcpp.Barcode]]:
    """The codes that read, and those found and not read that may be another patient's:
    not a phantom of a read code's own sheet (`_beside`), nor a code zxing gives no place
    beside two QR codes that read (`_nowhere`)."""
    good = [b for b in barcodes if b.valid]
    phantoms = _qr_codes(good) >= 2
    broken = [
        b
        for b in barcodes
        if not b.valid and not _beside(b, good) and not (phantoms and _nowhere(b))
    ]
    return good, broken


_PLACE_SLACK = 0.25
"""How far (in its sizes) past where a code not read was found a code read again may lie."""


def _read_again(
    fine: Image.Image, barcode: zxingcpp.Barcode, scale: float
) -> list[tuple[zxingcpp.Barcode, Point]]:
    """The codes read in a crop of ``fine`` around ``barcode`` (found, not read, at ``scale``
    of it) that lie where it does, each with where the crop lies in ``fine``: a code beside
    it in the crop (a label of the next patient beside a sheet cut off at the frame) is not
    it, and read in its place let a trial's photo go to that label's patient alone."""
    region = _crop(fine, barcode, scale)
    if region is None:
        return []
    left, top, right, bottom = scaled(_box(barcode), scale)
    margin = max(right - left, bottom - top) * _PLACE_SLACK
    found = []
    for code in _read(fine.crop(region), errors=False):  # codes that read, only
        x, y = _centre(_corners(code))
        x, y = region[0] + x, region[1] + y
        if left - margin <= x <= right + margin and top - margin <= y <= bottom + margin:
            found.append((code, (float(region[0]), float(region[1]))))
    return found


def _nowhere(barcode: zxingcpp.Barcode) -> bool:
    """Whether zxing gave ``barcode`` no place in the photo (all corners at one point): with
    several QR codes in view (the four of `cardingest slate`'s sheet) it reports such a code,
    finder patterns of different codes taken for one (30 of a trial's 38 held sheets)."""
    left, top, right, bottom = _box(barcode)
    return left == right and top == bottom


def _qr_codes(barcodes: list[zxingcpp.Barcode]) -> int:
    import zxingcpp

    return sum(b.format == zxingcpp.BarcodeFormat.QRCode for b in barcodes)


def _corners(barcode: zxingcpp.Barcode) -> Corners:
    at = barcode.position
    tl, tr, br, bl = at.top_left, at.top_right, at.bottom_right, at.bottom_left
    return (tl.x, tl.y), (tr.x, tr.y), (br.x, br.y), (bl.x, bl.y)


def _box(barcode: zxingcpp.Barcode) -> Box:
    return bounds(_corners(barcode))


BESIDE_GAP = 0.1
"""How close (in sizes of the code that reads) a code not read must lie to be the sheet's own."""
BESIDE_SIZE = 0.6
"""How large (against the code that reads) a code not read may be to be the sheet's own."""


def _beside(barcode: zxingcpp.Barcode, good: list[zxingcpp.Barcode]) -> bool:
    """Whether ``barcode`` is a phantom of a ``good`` code's own sheet: touching it (within
    `BESIDE_GAP` of its size) and smaller (at most `BESIDE_SIZE` of it). A turned slate shows
    zxing such a "Data Matrix" in its bars and print, right against the QR code; another
    patient's label or wristband beside the slate is its own size and further off, and holds
    the group. A QR code found there is no phantom: the next patient's small QR label, half
    under a thumb against the last patient's sheet, was (a trial)."""
    if _qr_codes([barcode]):
        return False
    left, top, right, bottom = _box(barcode)
    size = max(right - left, bottom - top)
    for other in good:
        x0, y0, x1, y1 = _box(other)
        own = max(x1 - x0, y1 - y0)
        margin = own * BESIDE_GAP
        if (
            size <= own * BESIDE_SIZE
            and left <= x1 + margin
            and right >= x0 - margin
            and top <= y1 + margin
            and bottom >= y0 - margin
        ):
            return True
    return False


def embedded_preview(data: bytes) -> bytes | None:
    """The largest JPEG embedded in a RAW file (CR2, CR3, NEF, ARW, DNG, … carry one), or
    None when there is none at least ``_PREVIEW_MIN`` pixels across."""
    from PIL import Image

    best: bytes | None = None
    best_area = 0
    at = data.find(b"\xff\xd8\xff")
    for _ in range(_PREVIEW_TRIES):
        if at < 0:
            break
        candidate = data[at:]
        try:
            with Image.open(io.BytesIO(candidate)) as image:
                width, height = image.size
                ok = image.format == "JPEG"
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            ok, width, height = False, 0, 0
        if ok and max(width, height) >= _PREVIEW_MIN and width * height > best_area:
            best, best_area = candidate, width * height
        at = data.find(b"\xff\xd8\xff", at + 3)
    return best


def _read_one(root: Path, media: MediaFile, options: SlateOptions) -> SlateRead:
    from PIL import Image

    try:
        data = (root / media.path).read_bytes()
        if media.extension in RAW:
            preview = embedded_preview(data)
            if preview is None:
                return SlateRead(path=media.path, unread="a RAW file without a JPEG preview")
            data = preview
        found = decode(data, options)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return SlateRead(path=media.path, invalid=("the photo could not be decoded",))
    return SlateRead(path=media.path, ids=found.ids, invalid=found.invalid)


def read_slates(
    root: Path,
    images: Sequence[MediaFile],
    options: SlateOptions,
    *,
    workers: int | None = None,
    on_file: Callable[[str], None] | None = None,
) -> dict[str, SlateRead]:
    """Read every image; returns those with any barcode (or that failed to decode) by path."""
    check_slate_pattern(options.slate_pattern)
    count = workers or max(1, min(4, os.cpu_count() or 1))
    found: dict[str, SlateRead] = {}
    pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="slate")
    try:
        for read in pool.map(lambda m: _read_one(root, m, options), images):
            if on_file is not None:
                on_file(read.path)
            if read.ids or read.invalid or read.unread:
                found[read.path] = read
    except BaseException:
        # Ctrl-C: let the photos being read finish, drop the ones still queued.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return found
