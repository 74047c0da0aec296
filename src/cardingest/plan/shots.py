"""What the planner and the slate assignment both need to know about one exposure: which files
make it, which of them gives its capture time, and where it stands among shots of the same
second."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from ..models import MediaFile

EARLIEST_PLAUSIBLE = datetime(2000, 1, 2)
"""Before this a photo's date is a camera clock never set (cameras start at 2000-01-01, or
1970 and 1980 for a file time), not a clinic's photo: its time tells no shot from another."""

TIME_SOURCE_RANK = {
    "exif:DateTimeOriginal": 0,
    "exif:DateTimeDigitized": 1,
    "exif:DateTime": 2,
    "mtime": 3,
}


def shutter_time(media: MediaFile) -> bool:
    """Whether its time says when the shot was taken: EXIF DateTimeOriginal or
    DateTimeDigitized. EXIF DateTime is when the file was last saved (an edit), a file time
    when the card's copy was written, shifted by the driver's idea of the card's time zone."""
    return TIME_SOURCE_RANK[media.time_source] <= TIME_SOURCE_RANK["exif:DateTimeDigitized"]


def elapsed(before: MediaFile, after: MediaFile) -> timedelta:
    """The time from one photo to another: by the camera's clock, corrected where both carry
    their UTC offset (EXIF OffsetTimeOriginal), so that the hour the clocks go back for
    daylight saving counts as an hour, not as none."""
    gap = after.captured - before.captured
    if before.utc_offset and after.utc_offset:
        gap -= _offset(after.utc_offset) - _offset(before.utc_offset)
    return gap


def _offset(text: str) -> timedelta:
    """``+13:00`` as a timedelta (the scan keeps only offsets of that form)."""
    sign = -1 if text.startswith("-") else 1
    hours, minutes = text[1:].split(":")
    return sign * timedelta(hours=int(hours), minutes=int(minutes))


def primary_photo(photos: Iterable[MediaFile]) -> MediaFile | None:
    """The file whose time stands for the shot: the best time source, then a JPEG, then the
    path (so a RAW+JPEG pair takes one time for both)."""
    return min(
        photos,
        key=lambda m: (TIME_SOURCE_RANK[m.time_source], m.extension != "jpg", m.path),
        default=None,
    )


NameOrder = tuple[str | int, ...]


def same_second_order(primary: MediaFile) -> tuple[float, str, NameOrder, str]:
    """Order among shots of one second: sub-seconds as a fraction ("5" is .5, "10" is .10),
    then folder before the name's numbers (100CANON before 101CANON; `name_order`), then
    the stem."""
    return (subsec_fraction(primary.subsec), primary.folder, name_order(primary.stem), primary.stem)


def name_order(stem: str) -> NameOrder:
    """Where a name stands in the order its camera or phone gave names: a camera's file
    number (IMG_0042: 42; _MG_0043 next, in the same sequence; a GoPro's burst G0010002 is
    file 2, between GOPR0001 and GOPR0006), else the name's text and numbers in turn, the
    text without regard to case.

    A phone's second photo in one second is IMG_20240305_101500_1 (Samsung: 20240305_101500(0),
    a Pixel its milliseconds: PXL_20240305_101500123): after IMG_20240305_101500 by its
    numbers. By the last four characters alone (``_1``: 1, ``1500``: 1500) it came first, and
    took the second's plain name (a trial). An iPhone's edited copy IMG_E0042 comes after
    IMG_0042 (a review: by its text it came after every numbered photo, after the next
    patient's slate)."""
    upper = stem.upper()
    if _DCF_NAME.fullmatch(upper):
        return ("", int(upper[-4:]), upper[4:-4])
    parts = _DIGITS.split(upper)  # text, number, text, ...: the types line up in a compare
    return tuple(int(part) if n % 2 else part for n, part in enumerate(parts))


_DCF_NAME = re.compile(r"[A-Za-z0-9_]{4}[A-Za-z]?\d{4}", re.ASCII)
"""A camera's file name: four characters, then the file number (IMG_0042, _MG_0043); an
iPhone's edited copy has an E before the number (IMG_E0042)."""
_DIGITS = re.compile(r"(\d+)", re.ASCII)


def subsec_fraction(subsec: str) -> float:
    """EXIF sub-seconds as a fraction of a second ("5" is .5, "10" is .10); 0 if none."""
    return float(f"0.{subsec}") if subsec.isascii() and subsec.isdigit() else 0.0


_DCF_FOLDER = re.compile(r"([1-9][0-9]{2})[A-Za-z0-9_]{5}")
_DCF_STEM = re.compile(r"[A-Za-z0-9_]{4}([0-9]{4})")


def dcf_position(path: str, source: str = "") -> tuple[int, int] | None:
    """Where a camera numbered a card file: its DCF folder's number and its file number
    (``DCIM/101CANON/IMG_0042.JPG``: 101, 42); None for a name no camera numbered so (a
    phone's, one out of its folder). A camera numbers a new photo after every one on the
    card, whatever its clock says; only a card emptied since may start again lower.
    ``source``: the folder ``path`` is in (the SOURCE given), whose name is the file's
    folder when the card was given as its camera folder (``…/DCIM/101CANON``)."""
    folder, _, name = path.rpartition("/")
    folder = folder or source.rstrip("/")
    in_folder = _DCF_FOLDER.fullmatch(folder.rpartition("/")[2])
    number = _file_number(name)
    if in_folder is None or number is None:
        return None
    return int(in_folder.group(1)), number


def _file_number(name: str) -> int | None:
    """The number of a DCF file name (IMG_0042.JPG: 42); None for another name."""
    numbered = _DCF_STEM.fullmatch(name.rpartition(".")[0] or name)
    return int(numbered.group(1)) if numbered else None


def numbered_position(path: str, source: str = "") -> tuple[int, int] | None:
    """`dcf_position`, or for a camera's name out of its DCF folder (photos copied into a
    folder of their own, ``photos/IMG_0042.JPG``) folder 0 and its number: such a position
    is compared only with another of folder 0."""
    at = dcf_position(path, source)
    if at is not None:
        return at
    number = _file_number(path.rpartition("/")[2])
    return None if number is None else (0, number)


def by_shot(files: Iterable[MediaFile]) -> list[list[MediaFile]]:
    """The files grouped by shot (`shot_key`), in order of each shot's first file."""
    shots: dict[str, list[MediaFile]] = {}
    for media in files:
        shots.setdefault(shot_key(media), []).append(media)
    return list(shots.values())


def shot_key(media: MediaFile) -> str:
    """The files of one shot share their folder and stem, whatever the stem's case (NUL is in
    no path)."""
    return shot_of(media.path)


def shot_of(path: str) -> str:
    """`shot_key` of a card path (``DCIM/100CANON/IMG_0003.CR2`` and ``…/IMG_0003.JPG``)."""
    folder, _, name = path.rpartition("/")
    return f"{folder}\0{(name.rpartition('.')[0] or name).upper()}"
