"""memory: peak resident memory must not grow with the number of photos.

Peak RSS (``/usr/bin/time -v``, else ``getrusage(RUSAGE_CHILDREN)`` in a fresh Python
wrapper) of ``cardingest preview`` and ``cardingest ingest`` on cards of 1,000 and 10,000 small
photos (~5 KB). Target: the 10k/1k ratio <= 1.3 (memory flat in the number of files).

Peak RSS is not a timing: it varies by well under 1% between runs (0.1% measured), so this
case measures once unless ``--repeat N`` is given, which saves ~80 s of a default run.
"""

from __future__ import annotations

from pathlib import Path

from .common import (
    Card,
    Contender,
    Options,
    Table,
    Target,
    cardingest_env,
    expect_files,
    jpeg_template,
    log,
    make_card,
    measure,
    remove,
    run_peak_rss,
    workdir,
)
from .ingest import cardingest_command
from .preview import preview_command

SIZE = 5000


def label(files: int) -> str:
    return f"{files // 1000}k" if files % 1000 == 0 else f"{files:,}"


def run(options: Options, cardingest: str) -> list[Table]:
    small, large = (200, 2000) if options.quick else (1000, 10000)
    repeat = options.repeat if options.repeat_given else 1
    ratio = Target(1.3, label=f"{label(large)}/{label(small)} <= 1.3")
    template = jpeg_template(48, 36)
    with workdir("memory") as tmp:
        log(f"memory: making cards of {small:,} and {large:,} photos of {SIZE // 1000} KB")
        cards: dict[int, Card] = {
            n: make_card(tmp / f"card{n}", n, template, size=SIZE, seed=f"mem{n}")
            for n in (small, large)
        }
        env = cardingest_env(tmp)

        def preview(n: int) -> Contender:
            return Contender(
                f"preview, {n:,} files",
                preview_command(cardingest, cards[n].root, tmp / "empty-archive"),
                env=env,
                baseline=n == small,
                targets=() if n == small else (ratio,),
            )

        def ingest(n: int) -> Contender:
            dest = tmp / f"archive{n}"
            return Contender(
                f"ingest, {n:,} files",
                cardingest_command(cardingest, cards[n].root, dest),
                env=env,
                baseline=n == small,
                targets=() if n == small else (ratio,),
                before=remove(dest),
                after=expect_files(dest, n),
            )

        tables = []
        for what, make in (("preview", preview), ("ingest", ingest)):
            tables.append(
                measure(
                    f"memory: peak RSS of cardingest {what}",
                    [make(small), make(large)],
                    repeat=repeat,
                    logs=tmp / "logs",
                    cold=False,
                    probe=run_peak_rss,
                    unit="MiB",
                    note="ratio = peak RSS against the smaller card"
                    + ("" if options.repeat_given else "; one run each (--repeat N for more)"),
                )
            )
        for n in (small, large):
            remove(Path(tmp / f"archive{n}"))()
        return tables
