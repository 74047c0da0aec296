"""What DICOM needs to know about a camera JPEG, read from its markers (no decoding).

The frame header (SOF) says which JPEG process coded the image (baseline, extended,
progressive, lossless), its size and its colour components; the EXIF APP1 segment holds the
Orientation the camera wrote. Nothing here changes a byte of the photo.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

BASELINE = "baseline"
EXTENDED = "extended"
PROGRESSIVE = "progressive"
OTHER = "other"

_SOF = {
    0xC0: BASELINE,
    0xC1: EXTENDED,
    0xC2: PROGRESSIVE,
    0xC3: "lossless",
    0xC5: "differential sequential",
    0xC6: "differential progressive",
    0xC7: "differential lossless",
    0xC9: "arithmetic extended",
    0xCA: "arithmetic progressive",
    0xCB: "arithmetic lossless",
    0xCD: "arithmetic differential sequential",
    0xCE: "arithmetic differential progressive",
    0xCF: "arithmetic differential lossless",
}
STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
"""Markers with no length after them: TEM and the restart markers."""


@dataclass(frozen=True)
class JpegInfo:
    """The frame header of a JPEG and the colour facts DICOM's pixel module records."""

    process: str
    precision: int
    rows: int
    columns: int
    components: int
    subsampled: bool
    """Chroma is subsampled (4:2:2, 4:2:0, ...): a colour JPEG's luma is sampled more."""
    adobe_transform: int | None = None
    """The Adobe APP14 colour transform flag (0: RGB stored as is), when present."""
    orientation: int = 1
    """EXIF Orientation (1-8); 1 when absent or unreadable."""

    @property
    def baseline(self) -> bool:
        """Codable as DICOM JPEG Baseline (Process 1): SOF0, 8 bits, 1 or 3 components."""
        return self.process == BASELINE and self.precision == 8 and self.components in (1, 3)

    @property
    def photometric(self) -> str:
        """PhotometricInterpretation for this JPEG encapsulated as it is.

        The VL Image module allows only MONOCHROME2, RGB, YBR_FULL_422 (and others not from
        JPEG Baseline): a YCbCr camera JPEG is YBR_FULL_422 even when its chroma is not
        subsampled (as dcmtk's img2dcm writes it); the decoder reads the sampling from the
        JPEG's own frame header. An Adobe "no transform" JPEG holds RGB.
        """
        if self.components == 1:
            return "MONOCHROME2"
        if self.adobe_transform == 0:
            return "RGB"
        return "YBR_FULL_422"


def _exif_orientation(body: bytes) -> int:
    """Orientation (0x0112) from an APP1 ``Exif\\0\\0`` body; 1 when absent or malformed."""
    tiff = body[6:]
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for n in range(count):
            tag, kind, _num = struct.unpack_from(order + "HHI", tiff, ifd + 2 + 12 * n)
            if tag == 0x0112 and kind == 3:
                (value,) = struct.unpack_from(order + "H", tiff, ifd + 2 + 12 * n + 8)
                return value if 1 <= value <= 8 else 1
    except struct.error:
        return 1
    return 1


def segments(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """Each marker of a JPEG after its start-of-image, in order: ``(marker, where its body
    starts, where it ends, where the next marker is)``. A scan's entropy-coded data lies
    between its header's end and the next marker; a segment is skipped by its length, so an
    EXIF thumbnail's markers inside it are never met. The end-of-image marker comes last,
    with an empty body. Raises ValueError for what is not a JPEG or ends too soon."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no start-of-image marker)")
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {pos}")
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1
        if pos >= len(data):
            break
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            yield marker, pos, pos, pos
            return
        if marker in STANDALONE:
            continue
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2 or pos + length > len(data):
            raise ValueError(f"the JPEG segment at byte {pos - 2} runs past the end of the file")
        body, pos = pos + 2, pos + length
        following = scan_end(data, pos) if marker == 0xDA else pos
        yield marker, body, pos, following
        pos = following
    raise ValueError("the JPEG has no end marker")


def jpeg_info(data: bytes) -> JpegInfo:
    """Read the markers up to the first scan. Raises ValueError for what is not a JPEG."""
    adobe: int | None = None
    orientation = 1
    frame: tuple[str, int, int, int, int, bool] | None = None
    for marker, start, end, _ in segments(data):
        if marker in (0xD9, 0xDA):
            break
        body = data[start:end]
        if marker == 0xE1 and body.startswith(b"Exif\x00\x00") and orientation == 1:
            orientation = _exif_orientation(body)
        elif marker == 0xEE and body.startswith(b"Adobe") and len(body) >= 12:
            adobe = body[11]  # before the frame header or after it, up to the scan
        elif marker in _SOF and frame is None:
            if len(body) < 6:
                raise ValueError("JPEG frame header is too short")
            precision, rows, columns, components = struct.unpack_from(">BHHB", body, 0)
            if len(body) < 6 + 3 * components or components == 0:
                raise ValueError("JPEG frame header is too short for its components")
            factors = [body[6 + 3 * n + 1] for n in range(components)]
            luma_h, luma_v = factors[0] >> 4, factors[0] & 0x0F
            subsampled = any((f >> 4) < luma_h or (f & 0x0F) < luma_v for f in factors[1:])
            frame = (_SOF[marker], precision, rows, columns, components, subsampled)
    if frame is None:
        raise ValueError("JPEG has no frame header (SOF)")
    return JpegInfo(*frame, adobe_transform=adobe, orientation=orientation)


def scan_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data that starts at ``pos`` ends (the next real marker)."""
    while True:
        j = data.find(b"\xff", pos)
        if j < 0 or j + 1 >= len(data):
            raise ValueError("the JPEG ends inside its image data")
        follower = data[j + 1]
        if follower == 0x00 or 0xD0 <= follower <= 0xD7:
            pos = j + 2
            continue
        return j


def image_end(data: bytes) -> int:
    """Where the photo's own JPEG ends: just after the end-of-image marker that closes its
    last scan. What follows, a phone's motion video or an MPO's second image, is no part of
    the photo. Raises ValueError where no such marker is found."""
    for marker, _, end, _ in segments(data):
        if marker == 0xD9:
            return end
    raise AssertionError("segments() ends at the end-of-image marker or raises")
