"""A JPEG cut short (the card pulled or the battery gone while the camera wrote it) is copied
as it is, with a warning to check the photo; a whole one never gets that warning, whatever
follows its end (a phone's motion video, padding) or precedes its image (an EXIF thumbnail
with its own end marker)."""

from __future__ import annotations

import io
import json
import random
import shutil
from pathlib import Path

import pytest
from clinic_helpers import cli

from cardingest.card.capture import CUT_SHORT, TAIL_BYTES, cut_short, read_capture


def _capture_warning(path: Path) -> str | None:
    with open(path, "rb") as fh:
        return read_capture(fh, path.stat().st_mtime, path.name).warning


def _samples(samples_dir: Path) -> list[Path]:
    return sorted(p for p in (samples_dir / "real").iterdir() if p.suffix in (".jpg", ".jpeg"))


def test_no_real_camera_jpeg_is_called_cut_short(samples_dir: Path) -> None:
    for sample in _samples(samples_dir):
        with open(sample, "rb") as fh:
            assert not cut_short(fh), sample.name


@pytest.mark.parametrize("keep", [0.5, 0.9, "headers", "header end"])
def test_a_jpeg_cut_anywhere_is_named(samples_dir: Path, tmp_path: Path, keep: object) -> None:
    """Cut in the image data (the thumbnail's end marker in the EXIF block before it must not
    count), in the headers, or right after the image data's header."""
    sample = (samples_dir / "real" / "Canon_40D.jpg").read_bytes()
    assert sample.count(b"\xff\xd9") >= 2, "a thumbnail with its own end marker"
    sos = sample.rindex(b"\xff\xda")  # the main image's: image data holds no FF DA
    image_data = sos + 2 + int.from_bytes(sample[sos + 2 : sos + 4], "big")
    if keep == "headers":
        size = 300
    elif keep == "header end":
        size = image_data
    else:
        assert isinstance(keep, float)
        size = image_data + int((len(sample) - image_data) * keep)
    path = tmp_path / "IMG_0001.JPG"
    path.write_bytes(sample[:size])
    warning = _capture_warning(path)
    assert warning is not None and CUT_SHORT in warning


@pytest.mark.parametrize(
    "tail",
    [
        b"\x00" * 4096,
        b"\x00" * (TAIL_BYTES - 1),  # the end marker across the first two pieces read
        b"\x00\x00\x00\x18ftypmp42" + bytes(3 << 20),
        b"Image_UTC_Data1458170015363SEFH" * 3000,  # text after the image holds no FF at all
    ],
    ids=["zeros", "marker-across-pieces", "video-then-zeros", "text"],
)
def test_bytes_after_the_end_marker_are_passed_over(
    samples_dir: Path, tmp_path: Path, tail: bytes
) -> None:
    path = tmp_path / "PXL_0001.MP.jpg"
    path.write_bytes((samples_dir / "real" / "Nikon_D70.jpg").read_bytes() + tail)
    assert _capture_warning(path) is None


def test_the_preview_names_a_cut_photo_and_the_ingest_copies_it_as_it_is(
    samples_dir: Path, tmp_path: Path
) -> None:
    card = tmp_path / "card" / "DCIM" / "100NIKON"
    card.mkdir(parents=True)
    shutil.copyfile(samples_dir / "real" / "Nikon_D70.jpg", card / "DSC_0001.JPG")
    whole = (samples_dir / "real" / "Nikon_D70.jpg").read_bytes()
    (card / "DSC_0002.JPG").write_bytes(whole[: len(whole) - 4000])
    archive = tmp_path / "archive"
    args = ("--id", "JBX3656", "--archive", archive, "--json")
    preview = json.loads(cli("preview", tmp_path / "card", *args).stdout)
    assert [w.split(":")[0] for w in preview["warnings"]] == ["DCIM/100NIKON/DSC_0002.JPG"]
    assert CUT_SHORT in preview["warnings"][0]
    done = cli("ingest", tmp_path / "card", *args)
    assert done.exit_code == 0, done.stderr
    copied = {i["source"]: i["target"] for i in json.loads(done.stdout)["items"]}
    assert (archive / copied["DCIM/100NIKON/DSC_0002.JPG"]).read_bytes() == whole[:-4000]


LARGE = "42_IndexError.jpg"
"""A real camera JPEG whose image data is far longer than the window `cut_short` reads."""


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.97])
@pytest.mark.parametrize("filled", [False, True], ids=["cut", "cut-then-zeros"])
def test_a_long_jpeg_cut_anywhere_is_named(
    samples_dir: Path, tmp_path: Path, keep: float, filled: bool
) -> None:
    """Cut far from the start of its image data; or cut and then filled with zeros to the
    size the camera had reserved."""
    sample = (samples_dir / "real" / LARGE).read_bytes()
    assert len(sample) > 16 * TAIL_BYTES
    kept = sample[: int(len(sample) * keep)]
    path = tmp_path / "IMG_0001.JPG"
    path.write_bytes(kept + bytes(len(sample) - len(kept)) if filled else kept)
    warning = _capture_warning(path)
    assert warning is not None and CUT_SHORT in warning


@pytest.mark.parametrize("keep", [2, 300, 3000, 5800, "after exif"])
@pytest.mark.parametrize("fill", [b"\x00", b"\xff"])
def test_a_jpeg_filled_with_padding_from_its_headers_on_is_named(
    samples_dir: Path, tmp_path: Path, keep: object, fill: bytes
) -> None:
    """The battery gone while the camera wrote the headers: the clusters it had reserved
    read as zeros. A trial: zeros where the next segment's marker should be stopped the
    walk of the headers, and the file went as whole (and was wiped) with no warning."""
    sample = (samples_dir / "real" / "Canon_40D.jpg").read_bytes()
    size = keep if isinstance(keep, int) else 4 + int.from_bytes(sample[4:6], "big")
    path = tmp_path / "IMG_0001.JPG"
    path.write_bytes(sample[:size] + fill * (len(sample) - size))
    with open(path, "rb") as fh:
        assert cut_short(fh)


def test_a_jpeg_with_other_bytes_among_its_headers_is_not_called_cut(
    samples_dir: Path, tmp_path: Path
) -> None:
    """Headers that cannot be walked, not followed by padding alone, are not judged."""
    sample = (samples_dir / "real" / "Canon_40D.jpg").read_bytes()
    after = 4 + int.from_bytes(sample[4:6], "big")
    path = tmp_path / "IMG_0001.JPG"
    path.write_bytes(sample[:after] + bytes(64) + b"junk" + sample[after:])
    with open(path, "rb") as fh:
        assert not cut_short(fh)


def test_a_progressive_jpeg_cut_in_a_later_scan_is_named(tmp_path: Path) -> None:
    """A progressive JPEG's later scans bring their own tables and headers (FF C4, FF DA):
    image data still, not something after the image."""
    from PIL import Image

    noise = Image.frombytes("RGB", (900, 700), random.Random(5).randbytes(900 * 700 * 3))
    path = tmp_path / "IMG_0001.JPG"
    noise.save(path, "JPEG", quality=95, progressive=True)
    whole = path.read_bytes()
    assert whole.count(b"\xff\xda") > 3 and len(whole) > 4 * TAIL_BYTES
    assert CUT_SHORT not in (_capture_warning(path) or "")
    last_scan = whole.rindex(b"\xff\xda")
    path.write_bytes(whole[: last_scan - 1000])
    warning = _capture_warning(path)
    assert warning is not None and CUT_SHORT in warning


def test_a_long_trailer_is_passed_over_from_its_last_bytes(samples_dir: Path) -> None:
    """A phone's motion video after the image, with no end marker in its last bytes, and
    only those read: the card is not read backwards to find the image's end."""
    video = random.Random(7).randbytes(4 << 20).replace(b"\xff\xd9", b"\xff\x00")
    data = (samples_dir / "real" / LARGE).read_bytes() + video

    class Counted(io.BytesIO):
        read_bytes = 0

        def read(self, size: int | None = -1, /) -> bytes:
            got = super().read(size)
            self.read_bytes += len(got)
            return got

    fh = Counted(data)
    assert not cut_short(fh)
    assert fh.read_bytes <= 2 * TAIL_BYTES


@pytest.mark.parametrize(
    ("sample", "size"),
    [("raw/IMG_1361.dng", 3180), ("real/IMG_5195.HEIC", 3755), ("real/Canon_40D.jpg", 642)],
)
def test_a_date_cut_at_its_minute_by_the_files_end_is_no_date(
    samples_dir: Path, tmp_path: Path, sample: str, size: int
) -> None:
    """A file cut inside its DateTimeOriginal, right after the minutes: exifread gave
    ``2020:12:29 14:24``, read as 14:24:00 (a date with no seconds), and the photo was
    named, and placed by a map of times, by it, silently for a DNG or HEIC. exiftool reads
    no DateTimeOriginal there; neither do we now, and the warning says why."""
    from clinic_helpers import exiftool, require_exiftool

    require_exiftool()
    cut = tmp_path / Path(sample).name
    cut.write_bytes((samples_dir / sample).read_bytes()[:size])
    read = exiftool("-DateTimeOriginal", cut)[0]
    assert "DateTimeOriginal" not in read, read
    with open(cut, "rb") as fh:
        capture = read_capture(fh, 0.0, cut.name)
    assert capture.source != "exif:DateTimeOriginal", capture
    assert capture.warning is not None and "is cut short (the file ends in it)" in capture.warning
