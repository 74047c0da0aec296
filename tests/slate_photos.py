"""Slate photos for tests and the bench, made from real camera photos.

A label (white card, a barcode written by zxing-cpp, nothing else) is pasted into a real
sample photo with a keystone (perspective) warp, rotation, blur, noise and JPEG compression,
and the photo is saved with its camera EXIF and a chosen capture time. ``photo_at`` gives a
real photo a chosen capture time (no barcode).
"""

from __future__ import annotations

import io
import random
from datetime import datetime
from pathlib import Path
from statistics import NormalDist

import zxingcpp
from PIL import Image, ImageFilter

from cardingest.card.slate import CUT_OFF
from cardingest.models import SlateRead

_EXIF_IFD = 0x8769
_DATE_TIME_ORIGINAL = 0x9003
_DATE_TIME_DIGITIZED = 0x9004
_DATE_TIME = 0x0132

FORMATS = {
    "qr": zxingcpp.BarcodeFormat.QRCode,
    "datamatrix": zxingcpp.BarcodeFormat.DataMatrix,
    "code128": zxingcpp.BarcodeFormat.Code128,
    "code39": zxingcpp.BarcodeFormat.Code39,
    "pdf417": zxingcpp.BarcodeFormat.PDF417,
    "aztec": zxingcpp.BarcodeFormat.Aztec,
}


def barcode_image(payload: str, kind: str, *, gs1: bool = False) -> Image.Image:
    """The code at one pixel per module, with its quiet zone."""
    options = {"gs1": True} if gs1 else {}
    bitmap = zxingcpp.create_barcode(payload, FORMATS[kind], **options).to_image(scale=1)
    height, width = bitmap.shape
    return Image.frombytes("L", (width, height), bytes(memoryview(bitmap)))


def label(payload: str, kind: str, width: int, *, gs1: bool = False) -> Image.Image:
    """A white label ``width`` pixels wide holding the code (linear codes get some height)."""
    code = barcode_image(payload, kind, gs1=gs1)
    inner = int(width * 0.86)
    height = int(inner * code.height / code.width)
    if code.height <= 2 * 10 + 1 or height < inner // 4:  # a linear code: bars a third as tall
        height = max(height, inner // 3)
    code = code.resize((inner, height), Image.Resampling.NEAREST)
    card = Image.new("L", (width, height + (width - inner)), 255)
    card.paste(code, ((width - inner) // 2, (width - inner) // 2))
    return card.convert("RGB")


def _keystone(image: Image.Image, amount: float) -> Image.Image:
    """A perspective-like warp: the top edge narrower than the bottom by ``amount``."""
    w, h = image.size
    d = w * amount
    # Source quad (upper left, lower left, lower right, upper right) larger at the top.
    quad = (-d, 0, 0, h, w, h, w + d, 0)
    return image.transform(
        (w, h), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC, fillcolor=(0, 0, 0)
    )


def with_time(image: Image.Image, exif: Image.Exif, when: datetime, quality: int) -> bytes:
    stamp = when.strftime("%Y:%m:%d %H:%M:%S")
    exif[_DATE_TIME] = stamp
    ifd = exif.get_ifd(_EXIF_IFD)
    ifd[_DATE_TIME_ORIGINAL] = stamp
    ifd[_DATE_TIME_DIGITIZED] = stamp
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


def photo_at(background: Path, when: datetime, *, size: tuple[int, int] | None = None) -> bytes:
    """A real photo with a chosen capture time (re-encoded; its camera EXIF kept)."""
    with Image.open(background) as source:
        exif = source.getexif()
        image = source.convert("RGB")
    if size is not None:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return with_time(image, exif, when, 90)


def slate_photo(
    background: Path,
    payload: str,
    kind: str,
    when: datetime,
    *,
    fraction: float = 0.3,
    angle: float = 12.0,
    keystone: float = 0.08,
    blur: float = 1.0,
    noise: float = 6.0,
    quality: int = 80,
    gs1: bool = False,
    size: tuple[int, int] | None = None,
    seed: int = 0,
) -> bytes:
    """A real photo with a label holding ``payload`` as a ``kind`` code pasted into it.

    ``fraction``: the label's width as a share of the photo's width; ``angle`` in degrees.
    """
    rng = random.Random(seed)
    with Image.open(background) as source:
        exif = source.getexif()
        image = source.convert("RGB")
    if size is not None:
        image = image.resize(size, Image.Resampling.BILINEAR)
    card = label(payload, kind, max(40, int(image.width * fraction)), gs1=gs1)
    card = _keystone(card, keystone)
    mask = _keystone(Image.new("RGB", card.size, (255, 255, 255)), keystone).convert("L")
    card = card.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    mask = mask.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    x = rng.randint(0, max(0, image.width - card.width))
    y = rng.randint(0, max(0, image.height - card.height))
    image.paste(card, (x, y), mask)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        image = Image.blend(image, grain(image.size, noise, rng), 0.08)
    return with_time(image, exif, when, quality)


def grain(size: tuple[int, int], sigma: float, rng: random.Random) -> Image.Image:
    """Gaussian grey noise around 128 drawn from ``rng``: the same photo on every run.

    Pillow's ``Image.effect_noise`` draws from C's ``rand()``, which nothing seeds, so its
    grain changed with whatever ran before in the process, and a slate read in one test
    order could miss in another.
    """
    normal = NormalDist(128, sigma)
    levels = [max(0, min(255, round(normal.inv_cdf((u + 0.5) / 256)))) for u in range(256)]
    uniform = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
    return uniform.point(levels).convert("RGB")


def held_by_marks(found: SlateRead) -> bool:
    """Whether a decoded photo is a slate held for a QR code's corner marks alone."""
    return found.ids == () and len(found.invalid) == 1 and found.invalid[0].startswith(CUT_OFF)
