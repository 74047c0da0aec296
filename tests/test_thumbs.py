"""Thumbnails of the real camera samples: EXIF thumbnail, RAW preview, draft decode, upright.

exiftool is the oracle: it sets the EXIF orientation on copies of real photos (in tmp_path,
the samples are never changed) and extracts a RAW's preview to compare with ours.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from clinic_helpers import require_exiftool
from PIL import Image, ImageChops, ImageOps, ImageStat

from cardingest.review.thumbs import SIZE, Thumbnail, make_thumbnail, make_thumbnails


def decoded(thumb: Thumbnail) -> Image.Image:
    assert thumb.jpeg is not None, thumb.note
    image = Image.open(io.BytesIO(thumb.jpeg))
    image.load()
    assert image.size == (thumb.width, thumb.height)
    assert max(image.size) <= SIZE
    return image


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute pixel difference (0-255) of two images at a's size."""
    b = b.convert("RGB").resize(a.size)
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b)).mean) / 3


def test_every_sample_gets_a_thumbnail_or_a_labelled_placeholder(samples_dir: Path) -> None:
    paths = sorted((samples_dir / "real").iterdir()) + sorted(
        p for p in (samples_dir / "raw").iterdir() if p.suffix != ".tsv"
    )
    thumbs = make_thumbnails(paths)
    assert len(thumbs) == len(paths)
    made = {p.name: t for p, t in zip(paths, thumbs, strict=True)}
    for name, thumb in made.items():
        if thumb.placeholder:
            assert thumb.note, name
        else:
            decoded(thumb)
    assert made["22-canon_tags.jpg"].origin == "exif thumbnail"
    assert made["no_exif.jpg"].origin == "reduced decode"
    assert made["corrupted.jpg"].jpeg is not None  # its EXIF thumbnail survived
    assert made["Canon-R6-pruned.CR3"].origin == "embedded preview"
    assert made["exiv2-canon-powershot-s40.crw"].origin == "embedded preview"
    assert made["IMG_1361.dng"].placeholder  # the pruned DNG's preview is cut off
    for name in ("issue_1097_poc.crw", "issue_857_poc.raf", "issue_839_poc.rw2"):
        assert made[name].placeholder, name  # hostile files: a placeholder, no exception
    try:
        import pillow_heif  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        assert "pillow-heif" in (made["IMG_5195.HEIC"].note or "")
    # The same thumbnails on one thread as on the pool, in the same order.
    assert [t.jpeg for t in make_thumbnails(paths, threads=1)] == [t.jpeg for t in thumbs]


def oriented_copy(source: Path, folder: Path, orientation: int) -> Path:
    target = folder / f"o{orientation}-{source.name}"
    shutil.copyfile(source, target)
    done = subprocess.run(
        [
            require_exiftool(),
            "-q",
            "-overwrite_original",
            "-n",
            f"-IFD0:Orientation={orientation}",
            str(target),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return target


@pytest.mark.parametrize(
    ("sample", "origin"),
    [("22-canon_tags.jpg", "exif thumbnail"), ("11-tests.jpg", "reduced decode")],
)
def test_thumbnails_are_upright_for_every_exif_orientation(
    samples_dir: Path, tmp_path: Path, sample: str, origin: str
) -> None:
    """The reference is Pillow's full decode turned by ImageOps.exif_transpose."""
    for orientation in range(1, 9):
        path = oriented_copy(samples_dir / "real" / sample, tmp_path, orientation)
        thumb = make_thumbnail(path)
        assert thumb.origin == origin
        got = decoded(thumb)
        with Image.open(path) as full:
            reference = ImageOps.exif_transpose(full)
        assert (got.width > got.height) == (reference.width > reference.height), orientation
        right = difference(got, reference)
        wrong = difference(got, reference.transpose(Image.Transpose.ROTATE_180))
        assert right < 20 and right < wrong / 2, (orientation, right, wrong)


def test_a_raw_thumbnail_is_its_embedded_preview(samples_dir: Path, tmp_path: Path) -> None:
    raw = samples_dir / "raw" / "Canon-R6-pruned.CR3"
    done = subprocess.run(
        [require_exiftool(), "-b", "-PreviewImage", str(raw)], capture_output=True, check=False
    )
    assert done.returncode == 0 and done.stdout.startswith(b"\xff\xd8")
    preview = Image.open(io.BytesIO(done.stdout))
    got = decoded(make_thumbnail(raw))
    assert max(got.size) == SIZE
    assert difference(got, preview) < 12


def test_a_file_saved_after_it_was_taken_is_shown_from_its_own_pixels(
    samples_dir: Path, tmp_path: Path
) -> None:
    """An editor can leave the camera's thumbnail of the photo as it was (here another
    picture entirely in its place): a file saved more than two minutes after it was taken is
    decoded, so the sheet shows what will be filed. The camera's own file keeps its fast
    EXIF thumbnail."""
    exiftool = require_exiftool()
    photo = tmp_path / "IMG_0002.JPG"
    shutil.copyfile(samples_dir / "real" / "22-canon_tags.jpg", photo)
    other = Image.new("RGB", (160, 120), (255, 0, 0))
    other.save(tmp_path / "other.jpg", "JPEG")
    planted = [exiftool, "-q", "-overwrite_original", f"-ThumbnailImage<={tmp_path / 'other.jpg'}"]
    subprocess.run([*planted, str(photo)], check=True)
    assert make_thumbnail(photo).origin == "exif thumbnail"  # same times: the camera's own
    earlier = [exiftool, "-q", "-overwrite_original", "-ModifyDate=2007:11:29 15:30:00"]
    subprocess.run([*earlier, str(photo)], check=True)  # 46 minutes before it was taken
    assert make_thumbnail(photo).origin == "reduced decode"
    utc = [exiftool, "-q", "-overwrite_original", "-ModifyDate=2007:11:29 03:17:00",
           "-OffsetTime=+00:00", "-OffsetTimeOriginal=+13:00"]  # fmt: skip
    subprocess.run([*utc, str(photo)], check=True)  # 16:16 at +13:00 is 03:16 UTC: same
    assert make_thumbnail(photo).origin == "exif thumbnail"
    later = [exiftool, "-q", "-overwrite_original", "-ModifyDate=2007:12:01 09:00:00"]
    subprocess.run([*later, str(photo)], check=True)
    thumb = make_thumbnail(photo)
    assert thumb.origin == "reduced decode"
    with Image.open(photo) as whole:
        assert difference(decoded(thumb), whole) < 12
        assert difference(decoded(thumb), other) > 40
