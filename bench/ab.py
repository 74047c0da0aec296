"""Alternating runs of versions of cardingest: how each change in docs/performance.md was
measured, since this machine's disk moves too much from run to run for two separate
`python -m bench` runs to show a change of 10%.

    python -m bench.ab [--runs 5] [--small] [--gate] REV [REV...]

REV is a git revision of this repository (its ``src`` exported with ``git archive``) or
``.`` (the working tree's ``src``). The card is the ingest case's (200 photos of 5 MiB, or
with ``--small`` 2,000 of 300 KiB), made once. Each round runs every version once, in turn
(each round starting with the next version), each after ``sync``, a drop of the page cache
(as root) and 0.3 s idle; the table shows each version's median wall time (min-max) and
CPU-seconds (user + system). A version runs
``python -m cardingest.cli ingest CARD --id JBX3656 --archive FRESH --json``, or with
``--gate`` ``wipe CARD --archive ARCHIVE --dry-run --json`` on an archive made by one
untimed ingest, with a ``cat`` of card and archive run in the same rounds.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .common import NHI, Card, MiB, drop_caches, jpeg_template, log, make_card, workdir

REPO = Path(__file__).resolve().parent.parent
CAT = "cat"


def export(rev: str, into: Path) -> Path:
    """The ``src`` folder of ``rev`` (``.``: the working tree's)."""
    if rev == ".":
        return REPO / "src"
    folder = into / rev.replace("/", "_")
    folder.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "src"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder / "src"


def once(argv: list[str], src: Path | None) -> tuple[float, float]:
    """Wall and CPU seconds of one run, the page cache dropped before it."""
    env = {"CARDINGEST_CONFIG": "/dev/null", "PATH": "/usr/bin:/bin"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    drop_caches()
    time.sleep(0.3)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n")[0])
    parser.add_argument("revs", nargs="+", metavar="REV", help="git revisions, or . (working tree)")
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--small", action="store_true", help="2,000 photos of 300 KiB")
    parser.add_argument("--gate", action="store_true", help="time wipe --dry-run, and cat")
    options = parser.parse_args()
    with workdir("ab") as tmp:
        sources = {rev: export(rev, tmp) for rev in options.revs}
        count, size = (2000, 300 * 1024) if options.small else (200, 5 * MiB)
        log(f"making {count:,} photos of {size // 1024:,} KiB")
        card = make_card(tmp / "card", count, jpeg_template(48, 36), size=size, seed="ab")
        cli = [sys.executable, "-m", "cardingest.cli"]
        archive, dest = tmp / "archive", tmp / "dest"
        commands: dict[str, list[str]] = {}
        if options.gate:
            ingest = [*cli, "ingest", str(card.root), "--id", NHI, "--archive", str(archive)]
            once([*ingest, "--json"], sources[options.revs[0]])
            both = f"find {card.root / 'DCIM'} {archive / NHI} -type f -exec cat {{}} + >/dev/null"
            commands[CAT] = ["sh", "-c", both]
            wipe = ["wipe", str(card.root), "--archive", str(archive), "--dry-run", "--json"]
            commands.update({rev: [*cli, *wipe] for rev in options.revs})
        else:
            ingest = ["ingest", str(card.root), "--id", NHI, "--archive", str(dest), "--json"]
            commands.update({rev: [*cli, *ingest] for rev in options.revs})
        samples = rounds(commands, sources, dest, options.runs)
    print(table(samples, card, options))
    return 0


def rounds(
    commands: dict[str, list[str]], sources: dict[str, Path], dest: Path, runs: int
) -> dict[str, list[tuple[float, float]]]:
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    names = list(commands)
    for number in range(runs):
        # Each round starts with the next version: the first of a round was measured about
        # 0.1 CPU-s (3%) cheaper on the small photos whichever version it was.
        turn = number % len(names)
        for name in names[turn:] + names[:turn]:
            argv = commands[name]
            shutil.rmtree(dest, ignore_errors=True)
            wall, cpu = once(argv, sources.get(name))
            samples[name].append((wall, cpu))
            log(f"round {number + 1}/{runs}: {name}: {wall:.2f} s, {cpu:.2f} CPU-s")
    shutil.rmtree(dest, ignore_errors=True)
    return samples


def table(
    samples: dict[str, list[tuple[float, float]]], card: Card, options: argparse.Namespace
) -> str:
    what = "wipe --dry-run" if options.gate else "ingest"
    lines = [
        f"== {what}: {card.files:,} photos ({card.bytes / 1e9:.2f} GB), "
        f"{options.runs} alternating rounds, page cache dropped before each run",
        f"{'version':<24} {'median s':>8} {'min-max':>11} {'CPU-s':>6}",
    ]
    for name, runs in samples.items():
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        spread = f"{min(walls):.2f}-{max(walls):.2f}"
        lines.append(f"{name:<24} {wall:8.2f} {spread:>11} {cpu:6.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
