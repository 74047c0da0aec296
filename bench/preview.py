"""preview: reading capture times of a whole card, against exiftool.

Baseline: ``exiftool -r -T -DateTimeOriginal CARD`` (one Perl process, the usual tool).
Contender: ``cardingest preview CARD --id JBX3656 --json`` (scan + plan + JSON).
Also ``--map`` with one row for every two photos (each patient's photos named by a range, as
a clinic's map names them): at most 1.5x the ``--id`` preview.
Target: at least 10x faster than exiftool, start-up included. Warm page cache for both (an untimed
check run of cardingest reads every file first): this measures the work per file, not the
disk.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .common import (
    NHI,
    Contender,
    Options,
    Skip,
    Table,
    Target,
    cardingest_env,
    jpeg_template,
    log,
    make_card,
    measure,
    tool_version,
    workdir,
)

TARGETS = (Target(0.1, label="<= 0.10x (>= 10x faster)"),)


def preview_command(cardingest: str, card: Path, archive: Path) -> list[str]:
    return [cardingest, "preview", str(card), "--id", NHI, "--archive", str(archive), "--json"]


MAP_PATIENTS = (NHI, "MCJ1984", "EPT6335")
BY_ID = "cardingest preview --json"


def write_map(card: Path, into: Path) -> Path:
    """An ID map naming every photo of ``card``: one row for every two, by folder and range."""
    rows = ["files,id"]
    for number, folder in enumerate(sorted((card / "DCIM").iterdir())):
        names = sorted(path.stem for path in folder.iterdir())
        for at in range(0, len(names), 2):
            pair = names[at : at + 2]
            spec = "-".join(f"{folder.name}/{name}" for name in (pair[0], pair[-1]))
            rows.append(f"{spec},{MAP_PATIENTS[(number + at // 2) % len(MAP_PATIENTS)]}")
    into.write_text("\n".join(rows) + "\n")
    return into


def check_preview(command: list[str], env: dict[str, str], files: int) -> None:
    """Untimed: the preview lists every photo with its EXIF time (else the timing lies)."""
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"preview exited {out.returncode}: {out.stderr[-2000:]}")
    items = json.loads(out.stdout)["items"]
    exif = sum(1 for item in items if item.get("time_source") == "exif:DateTimeOriginal")
    if len(items) != files or exif != files:
        raise RuntimeError(f"preview listed {len(items)} items ({exif} with EXIF), want {files}")


def case(options: Options, cardingest: str, files: int) -> Table:
    if tool_version(["exiftool", "-ver"]) is None:
        raise Skip("exiftool is missing (apt-get install libimage-exiftool-perl)")
    template = jpeg_template(200, 150)
    with workdir(f"preview{files}") as tmp:
        log(f"preview: making {files:,} JPEGs ({len(template.data) / 1e3:.0f} KB each)")
        card = make_card(tmp / "card", files, template)
        env = cardingest_env(tmp)
        command = preview_command(cardingest, card.root, tmp / "archive")
        check_preview(command, env, files)  # also warms the page cache
        mapped = [*command[:3], "--map", str(write_map(card.root, tmp / "map.csv")), *command[5:]]
        check_preview(mapped, env, files)
        contenders = [
            Contender(
                "exiftool -r -T -DateTimeOriginal",
                ["exiftool", "-r", "-T", "-DateTimeOriginal", str(card.root)],
                baseline=True,
            ),
            Contender(BY_ID, command, env=env, targets=TARGETS),
            Contender(
                "cardingest preview --map --json (a row for every 2 photos)",
                mapped,
                env=env,
                targets=(Target(1.5, against=BY_ID),),
            ),
        ]
        return measure(
            f"preview: {files:,} JPEGs in DCIM/1xxCANON",
            contenders,
            repeat=options.repeat,
            logs=tmp / "logs",
            cold=False,
            note="warm page cache (the check run read every file); ratio < 1: faster",
        )


def run(options: Options, cardingest: str) -> list[Table]:
    counts = [300] if options.quick else [3000, 10000]
    return [case(options, cardingest, files) for files in counts]
