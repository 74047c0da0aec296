"""``cardingest slate ID``: a printable slate for clinics whose labels carry no barcode.

An A6 page at 300 dpi (PNG, or PDF when the file name ends in ``.pdf``): four QR codes, a
Code 128 and the ID in large type. Nothing else about the patient is on it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from ..errors import UsageError
from ..storage import modes
from ..text import unset_path

DPI = 300
PAGE = (1240, 1748)
"""A6 (105 × 148 mm) at 300 dpi."""
_MARGIN = 90
_QR_SIDE = 470
"""Each QR code's side: two fit side by side, and two rows with the bars and the ID between."""
_QR_GAP = 60
"""Between a code and the bars: with the margins, more than a QR code's quiet zone."""


def _code(payload: str, kind: str) -> Image.Image:
    import zxingcpp

    fmt = zxingcpp.BarcodeFormat.QRCode if kind == "qr" else zxingcpp.BarcodeFormat.Code128
    bitmap = zxingcpp.create_barcode(payload, fmt).to_image(scale=1)
    height, width = bitmap.shape
    return Image.frombytes("L", (width, height), bytes(memoryview(bitmap)))  # type: ignore[arg-type]


def render(patient_id: str) -> Image.Image:
    """The sheet for an already validated ID: a QR code in each corner, the Code 128 and the
    ID between them. A slate cut off by the frame at one edge, or at a corner up to nearly
    half its width and height, still shows one of the codes whole: a trial's slate with its
    left third out of the frame, when the sheet had one QR code, read as no slate, and its
    patient's photos went to the patient before; with two (top left, lower right) a slate
    cut at the top right corner did the same."""
    page = Image.new("L", PAGE, 255)
    width = PAGE[0] - 2 * _MARGIN
    qr = _code(patient_id, "qr")
    qr = qr.crop(ImageOps.invert(qr).getbbox())  # the page's white is its quiet zone
    scale = _QR_SIDE // qr.width
    qr = qr.resize((qr.width * scale, qr.height * scale), Image.Resampling.NEAREST)
    for x in (_MARGIN, PAGE[0] - _MARGIN - qr.width):
        for y in (_MARGIN, PAGE[1] - _MARGIN - qr.height):
            page.paste(qr, (x, y))
    top = _MARGIN + qr.height + _QR_GAP
    bars = _code(patient_id, "code128")
    scale = max(1, width // bars.width)
    bars = bars.resize((bars.width * scale, 190), Image.Resampling.NEAREST)
    page.paste(bars, ((PAGE[0] - bars.width) // 2, top))
    top += bars.height + 25
    draw = ImageDraw.Draw(page)
    size = 170
    font = ImageFont.load_default(size=size)
    while size > 40 and draw.textlength(patient_id, font=font) > width:
        size -= 10
        font = ImageFont.load_default(size=size)
    draw.text((PAGE[0] // 2, top), patient_id, fill=0, font=font, anchor="ma")
    return page


def write_sheet(patient_id: str, out: Path) -> Path:
    """Write the sheet; never over an existing file (UsageError, exit 2)."""
    kind = "PDF" if out.suffix.lower() == ".pdf" else "PNG"
    if unset_path(out):
        raise UsageError("--out is empty; give the .png or .pdf file for the slate")
    if (folder := modes.folder_given(out, "--out", "slate.pdf")) is not None:
        raise folder
    if out.suffix.lower() not in (".pdf", ".png"):
        raise UsageError(f"--out {out}: the file name must end in .png or .pdf")
    buffer = io.BytesIO()
    render(patient_id).save(buffer, kind, dpi=(DPI, DPI), resolution=DPI)
    try:
        with os.fdopen(modes.create(out, os.O_WRONLY), "wb") as handle:
            handle.write(buffer.getvalue())
    except FileExistsError:
        raise UsageError(f"{out} exists; not overwriting it") from None
    except OSError as exc:
        raise modes.cannot_create(out, "--out", exc) from None
    return out
