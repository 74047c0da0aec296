"""verify: re-checking an archive against its manifests, against coreutils.

After one (untimed) ingest of its own card: baseline ``cd DEST && sha256sum -c
.cardingest/manifests/*.sha256`` against ``cardingest verify --archive DEST``. The page cache
is dropped before every run: a verify reads the archive from the disk. No target is set yet.
"""

from __future__ import annotations

import subprocess

from .common import (
    Contender,
    MiB,
    Options,
    Skip,
    Table,
    cardingest_env,
    human,
    jpeg_template,
    log,
    make_card,
    measure,
    workdir,
)
from .ingest import cardingest_command


def available(cardingest: str) -> bool:
    done = subprocess.run(
        [cardingest, "verify", "--help"], capture_output=True, check=False, timeout=60
    )
    return done.returncode == 0


def run(options: Options, cardingest: str) -> list[Table | str]:
    if not available(cardingest):
        raise Skip("verify: not available yet (`cardingest verify --help` fails)")
    files, size = (10, 1 * MiB) if options.quick else (100, 5 * MiB)
    with workdir("verify") as tmp:
        log(f"verify: making {files} files of {human(size)} and ingesting them once")
        card = make_card(tmp / "card", files, jpeg_template(48, 36), size=size, seed="verify")
        archive = tmp / "archive"
        env = cardingest_env(tmp)
        subprocess.run(
            cardingest_command(cardingest, card.root, archive),
            env=env,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        contenders = [
            Contender(
                "sha256sum -c manifests",
                "sha256sum --quiet -c .cardingest/manifests/*.sha256",
                cwd=archive,
                baseline=True,
            ),
            Contender(
                "cardingest verify",
                [cardingest, "verify", "--archive", str(archive), "--json"],
                env=env,
            ),
        ]
        return [
            measure(
                f"verify: archive of {files} photos ({human(card.bytes)})",
                contenders,
                repeat=options.repeat,
                logs=tmp / "logs",
                cold=True,
                data_bytes=card.bytes,
                note="page cache dropped before every run; no target set",
            )
        ]
