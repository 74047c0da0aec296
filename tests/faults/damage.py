"""Damaged JPEGs made from real camera files, for scenario 11.

Every mutation starts from a real sample and breaks it the way cards, cameras and copying go
wrong, or the way a hostile file would: truncation at many offsets, bit flips inside the EXIF
block, absurd IFD entry counts and offsets, IFDs that point back at themselves, tags whose
count or type is absurd, dates that are not dates, a broken APP1 length, and empty files.
The EXIF structure is found with a small parser of its own (not cardingest's).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

DATE_TAGS = (0x9003, 0x9004, 0x0132)  # DateTimeOriginal, DateTimeDigitized, DateTime
POINTER_TAGS = (0x8769, 0x8825, 0xA005)  # Exif IFD, GPS IFD, Interoperability IFD
BAD_DATES = (
    b"0000:00:00 00:00:00",
    b"                   ",
    b"\x00" * 19,
    b"2008:02:30 12:00:00",
    b"2008:05:30 24:00:00",
    b"9999:99:99 99:99:99",
    b"\xff\xfe\xfd\xfc" * 4 + b"\xff\xfe\xfd",
)


@dataclass(frozen=True)
class Entry:
    at: int  # absolute offset of the 12-byte entry
    tag: int
    kind: int
    count: int
    value: int  # the value/offset field read as an offset (relative to the TIFF header)


@dataclass(frozen=True)
class Exif:
    """Where the EXIF APP1 segment and its TIFF block sit in a JPEG (absolute offsets)."""

    length_at: int
    tiff: int
    end: int
    little: bool

    def u16(self, data: bytes, at: int) -> int:
        return int.from_bytes(data[at : at + 2], "little" if self.little else "big")

    def u32(self, data: bytes, at: int) -> int:
        return int.from_bytes(data[at : at + 4], "little" if self.little else "big")

    def p16(self, value: int) -> bytes:
        return value.to_bytes(2, "little" if self.little else "big")

    def p32(self, value: int) -> bytes:
        return (value & 0xFFFFFFFF).to_bytes(4, "little" if self.little else "big")

    def ifd0(self, data: bytes) -> int:
        return self.tiff + self.u32(data, self.tiff + 4)

    def entries(self, data: bytes, ifd: int) -> list[Entry]:
        if not self.tiff <= ifd <= self.end - 2:
            return []
        count = min(self.u16(data, ifd), (self.end - ifd - 2) // 12)
        found = []
        for n in range(count):
            at = ifd + 2 + 12 * n
            found.append(
                Entry(
                    at,
                    self.u16(data, at),
                    self.u16(data, at + 2),
                    self.u32(data, at + 4),
                    self.u32(data, at + 8),
                )
            )
        return found

    def next_at(self, data: bytes, ifd: int) -> int | None:
        at = ifd + 2 + 12 * self.u16(data, ifd)
        return at if at + 4 <= self.end else None

    def ifds(self, data: bytes) -> dict[str, int]:
        """IFD0, IFD1 and the Exif, GPS and Interop IFDs that exist (absolute offsets)."""
        found = {"ifd0": self.ifd0(data)}
        next_at = self.next_at(data, found["ifd0"])
        if next_at is not None and self.u32(data, next_at):
            found["ifd1"] = self.tiff + self.u32(data, next_at)
        for entry in self.entries(data, found["ifd0"]):
            if entry.tag in (0x8769, 0x8825):
                found["exif" if entry.tag == 0x8769 else "gps"] = self.tiff + entry.value
        for entry in self.entries(data, found.get("exif", -1)):
            if entry.tag == 0xA005:
                found["interop"] = self.tiff + entry.value
        return {name: at for name, at in found.items() if self.tiff <= at < self.end}


def find_exif(data: bytes) -> Exif | None:
    """The ``Exif`` APP1 segment of a JPEG, walking its segments from SOI."""
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        code = data[pos + 1]
        if code in (0xD9, 0xDA):
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if code == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
            tiff = pos + 10
            order = data[tiff : tiff + 2]
            if order not in (b"II", b"MM"):
                return None
            return Exif(pos + 2, tiff, min(pos + 2 + length, len(data)), order == b"II")
        pos += 2 + length
    return None


def put(data: bytes, at: int, value: bytes) -> bytes:
    if at < 0 or at + len(value) > len(data):
        return data
    return data[:at] + value + data[at + len(value) :]


def truncations(data: bytes, exif: Exif | None, rng: random.Random, count: int) -> Iterator[bytes]:
    """Cuts at tiny offsets, densely through the EXIF block, and anywhere in the file."""
    cuts = {1, 2, 3, 4, 5, 6, len(data) - 1, len(data) - 2}
    if exif is not None:
        cuts.update(exif.tiff + k for k in (0, 1, 2, 4, 7, 8, 9, 10))
        while len(cuts) < count * 3 // 4:
            cuts.add(rng.randrange(exif.tiff - 8, exif.end + 64))
    while len(cuts) < count:
        cuts.add(rng.randrange(1, len(data)))
    for cut in sorted(cuts)[:count]:
        if 0 < cut < len(data):
            yield data[:cut]


def bit_flips(data: bytes, exif: Exif, rng: random.Random, count: int) -> Iterator[bytes]:
    """One flipped bit, or a few random bytes, somewhere in the TIFF block."""
    for n in range(count):
        at = rng.randrange(exif.tiff, exif.end)
        if n % 4 == 3:
            yield put(data, at, rng.randbytes(min(4, exif.end - at)))
        else:
            yield put(data, at, bytes([data[at] ^ (1 << rng.randrange(8))]))


def structural(data: bytes, exif: Exif) -> Iterator[bytes]:
    """Absurd counts and offsets, loops, bad types, bad dates, a broken APP1 length."""
    ifds = exif.ifds(data)
    ifd0 = ifds["ifd0"]
    for at in ifds.values():
        yield put(data, at, exif.p16(0xFFFF))
        yield put(data, at, exif.p16(0))
        next_at = exif.next_at(data, at)
        if next_at is not None:
            yield put(data, next_at, exif.p32(at - exif.tiff))  # points at itself
            yield put(data, next_at, exif.p32(ifd0 - exif.tiff))  # back to IFD0
            yield put(data, next_at, exif.p32(0xFFFFFFF0))
    for value in (0, 1, 7, 0xFFFFFFF0, exif.end - exif.tiff - 1, exif.end - exif.tiff + 8):
        yield put(data, exif.tiff + 4, exif.p32(value))
    yield put(data, exif.tiff, b"XX")
    yield put(data, exif.tiff, b"MM" if exif.little else b"II")
    for length in (0, 2, 8, 0xFFFF):
        yield put(data, exif.length_at, length.to_bytes(2, "big"))
    yield put(data, 0, b"\x00\x00")
    entries = [e for at in ifds.values() for e in exif.entries(data, at)]
    for entry in entries:
        if entry.tag in POINTER_TAGS:
            for target in (ifd0 - exif.tiff, entry.at - exif.tiff, 0xFFFFFF00, 0):
                yield put(data, entry.at + 8, exif.p32(target))
        if entry.tag in DATE_TAGS or entry.tag in POINTER_TAGS:
            for count in (0, 0x7FFFFFFF, 0xFFFFFFFF, 0x10000):
                yield put(data, entry.at + 4, exif.p32(count))
            for kind in (0, 12, 99):
                yield put(data, entry.at + 2, exif.p16(kind))
            yield put(data, entry.at + 8, exif.p32(0xFFFFFFF0))
        if entry.tag in DATE_TAGS and entry.kind == 2 and entry.count >= 20:
            for bad in BAD_DATES:
                yield put(data, exif.tiff + entry.value, bad)
    for entry in entries[:6]:
        yield put(data, entry.at + 4, exif.p32(0x7FFFFFFF))  # a huge value for any tag


def damaged_inputs(
    samples: dict[str, bytes], seed: int, per_sample: int = 24
) -> dict[str, list[bytes]]:
    """Distinct damaged files by kind: ``truncated``, ``flipped``, ``structural``, ``empty``.

    Per sample: 5/4 ``per_sample`` truncations, and 2/3 ``per_sample`` bit flips and
    structural breaks (picked at random from every one that applies).
    """
    rng = random.Random(seed)
    kinds: dict[str, list[bytes]] = {"truncated": [], "flipped": [], "structural": []}
    seen: set[bytes] = set(samples.values())

    def keep(kind: str, mutated: bytes) -> None:
        if mutated not in seen:
            seen.add(mutated)
            kinds[kind].append(mutated)

    for _name, data in sorted(samples.items()):
        exif = find_exif(data)
        for mutated in truncations(data, exif, rng, per_sample * 5 // 4):
            keep("truncated", mutated)
        if exif is None:
            continue
        for mutated in bit_flips(data, exif, rng, per_sample * 2 // 3):
            keep("flipped", mutated)
        shapes = list(structural(data, exif))
        for mutated in rng.sample(shapes, min(len(shapes), per_sample * 2 // 3)):
            keep("structural", mutated)
    kinds["empty"] = [b""] * 4
    return kinds
