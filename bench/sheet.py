"""sheet: what ``--sheet`` adds to ``preview``, per photo.

Two cards: camera-like JPEGs with an EXIF thumbnail (the usual case: nothing of the photo is
decoded), and 12 MP JPEGs without one (each decoded at 1/8 scale, Pillow ``draft``).
Contenders: ``preview --json`` (baseline) and the same with ``--sheet`` (the sheet removed
before every run), interleaved in the same run, warm page cache.
Targets (issue 17): at most +20 ms per photo with thumbnails, +60 ms per photo without, on
both cores. The CPU time of an untimed ``--sheet`` run, against its wall time, shows how many
cores the thumbnails kept busy.
"""

from __future__ import annotations

import io
import resource
import shutil
import subprocess
import time
from pathlib import Path

from .common import (
    Contender,
    JpegTemplate,
    Options,
    Skip,
    Table,
    Target,
    cardingest_env,
    human,
    jpeg_template,
    log,
    make_card,
    measure,
    random_bytes,
    remove,
    workdir,
)
from .preview import check_preview, preview_command

EXIFTOOL = "exiftool"


def photo_like(width: int, height: int) -> bytes:
    """A 12 MP JPEG that compresses like a photo (~4 MB): smooth shapes plus sensor noise."""
    from PIL import Image

    coarse = Image.frombytes(
        "RGB", (width // 10, height // 10), random_bytes("coarse", width * height * 3 // 100)
    )
    smooth = coarse.resize((width, height), Image.Resampling.BICUBIC)
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    buffer = io.BytesIO()
    Image.blend(smooth, noise, 0.15).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def with_exif(photo: bytes, folder: Path, *, thumbnail: bool) -> JpegTemplate:
    """``photo`` with camera EXIF (DateTimeOriginal placeholder) and, if asked, a 160×120
    EXIF thumbnail written by exiftool, as a camera writes it."""
    from PIL import Image

    exif = jpeg_template(8, 8)  # its EXIF block: Make, Model, DateTimeOriginal placeholder
    path = folder / "template.jpg"
    with Image.open(io.BytesIO(exif.data)) as small:
        block = small.info["exif"]
    with Image.open(io.BytesIO(photo)) as image:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90, exif=block)
    path.write_bytes(buffer.getvalue())
    if thumbnail:
        thumb = folder / "thumb.jpg"
        with Image.open(path) as image:
            image.draft("RGB", (160, 120))
            image.convert("RGB").resize((160, 120)).save(thumb, "JPEG", quality=85)
        done = subprocess.run(
            [EXIFTOOL, "-q", "-overwrite_original", f"-ThumbnailImage<={thumb}", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"exiftool could not embed the thumbnail: {done.stderr}")
    data = path.read_bytes()
    at = data.find(b"2000:01:01 00:00:00")
    if at < 0:
        raise RuntimeError("the template lost its DateTimeOriginal placeholder")
    return JpegTemplate(data, at)


def cpu_and_wall(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds (user + system, all threads) and wall seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def case(
    options: Options,
    cardingest: str,
    *,
    files: int,
    thumbnail: bool,
    budget_ms: float,
    size: tuple[int, int],
) -> Table:
    kind = "with EXIF thumbnails" if thumbnail else "12 MP, no EXIF thumbnail"
    with workdir(f"sheet-{'thumb' if thumbnail else 'draft'}") as tmp:
        log(f"sheet: making a {size[0]}×{size[1]} template ({kind})")
        template = with_exif(photo_like(*size), tmp, thumbnail=thumbnail)
        log(f"sheet: {files} photos of {human(len(template.data))}")
        card = make_card(tmp / "card", files, template)
        env = cardingest_env(tmp)
        plain = preview_command(cardingest, card.root, tmp / "archive")
        check_preview(plain, env, files)  # also warms the page cache
        sheet = tmp / "sheet.html"
        with_sheet = [*plain, "--sheet", str(sheet)]
        remove(sheet)()
        cpu_sheet, wall_sheet = cpu_and_wall(with_sheet, env)
        cpu_plain, _ = cpu_and_wall(plain, env)
        if not sheet.exists() or sheet.read_text().count("<figure") != files:
            raise RuntimeError("the --sheet run did not put every photo on the sheet")
        contenders = [
            Contender("preview --json", plain, env=env, ok=(0, 3), baseline=True),
            Contender(
                "preview --json --sheet",
                with_sheet,
                env=env,
                ok=(0, 3),
                before=remove(sheet),
            ),
        ]
        table = measure(
            f"sheet: preview of {files} JPEGs {kind}",
            contenders,
            repeat=options.repeat,
            logs=tmp / "logs",
            cold=False,
            warmup=True,
        )
    base, sheeted = table.find(None), table.find("preview --json --sheet")
    added_ms = (sheeted.median - base.median) / files * 1000
    allowed = (base.median + budget_ms * files / 1000) / base.median
    sheeted.targets = (Target(allowed, label=f"<= +{budget_ms:g} ms/photo"),)
    cpu_ms = (cpu_sheet - cpu_plain) / files * 1000
    table.note = (
        f"added by --sheet: {added_ms:.1f} ms wall per photo (budget {budget_ms:g}); "
        f"{human(len(template.data))} per photo; warm page cache\n"
        f"CPU added per photo (untimed runs, all threads): {cpu_ms:.1f} ms; "
        f"the --sheet run used {cpu_sheet / wall_sheet:.2f} cores on average (CPU / wall)"
    )
    return table


def run(options: Options, cardingest: str) -> list[Table]:
    if shutil.which(EXIFTOOL) is None:
        raise Skip("exiftool is missing (apt-get install libimage-exiftool-perl)")
    thumbs = 100 if options.quick else 400
    draft = 30 if options.quick else 150
    return [
        case(options, cardingest, files=thumbs, thumbnail=True, budget_ms=20, size=(2000, 1500)),
        case(options, cardingest, files=draft, thumbnail=False, budget_ms=60, size=(4000, 3000)),
    ]
