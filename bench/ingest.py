"""ingest: copying a card into the archive, against the tools a clinic would otherwise use.

Contenders, each into a fresh destination (removed between runs, untimed), with ``sync`` and
the page cache dropped before every timed run so every one reads the card from the disk:

- ``cp -r CARD DEST && sync`` (baseline: unverified, but durable);
- ``sha256sum`` of the card, ``cp -r && sync``, then ``sha256sum -c`` in the copy (the usual
  hand-made verified copy; note its check reads the copies back from the page cache);
- ``rsync -a CARD/ DEST/ && sync``;
- exiftool's unverified copy-and-rename (``-o DEST/ '-FileName<DateTimeOriginal'``) ``&& sync``
  (without the sync its copies would still be in the page cache when the clock stops);
- ``cardingest ingest CARD --id JBX3656 --archive DEST --json`` (sha256, fsync, page cache
  dropped and every copy read back from the disk, catalogue, manifest);
- the copy rules in compiled code (``rules.c``, built with ``cc`` where it can be; no
  catalogue, manifest, journal or capture time): what any copy that keeps the rules costs.

Targets (issue 16): the 1 GB card <= 1.3x ``cp -r && sync`` (aim 1.15x), no slower than
exiftool's copy; 2,000 small photos <= 1.5x (aim 1.2x). CPU-seconds (user + system, which
the load of other processes hardly moves) of the ingest <= 2.0x one Python ``hashlib.sha256``
pass over the same files (aim 1.6x). Also reported: the 1 GB card with the card in the page
cache; ``ingest --wipe`` against ``cp -r && sync && rm``, and the wipe gate's re-read
(``wipe --dry-run``) against one read of card and archive (``cat``), target no slower.
Then the same card on a FAT32 image mounted with fusefat (FUSE), to see what FUSE costs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .common import (
    NHI,
    Card,
    Contender,
    MiB,
    Options,
    Skip,
    Table,
    Target,
    can_drop_caches,
    cardingest_env,
    count_files,
    expect_files,
    hashlib_pass,
    human,
    jpeg_template,
    log,
    make_card,
    measure,
    remove,
    run_cpu,
    tool_version,
    workdir,
)

EXIFTOOL = "exiftool -o (copy+rename) && sync"
FLOOR = "cp -r && sync, copies read back from disk"
"""The least disk work the rules allow: every copy is read back from the disk, so on a
machine whose card and archive share one disk (this bench) ingest moves 3 GB per GB of
photos where cp moves 2. Timed in the same run, it shows how much of the gap to cp is
that rule and how much is cardingest."""
COMPILED = "the copy rules in C, 8 threads"
"""The copy rules in compiled code (`RULES_C`), no records: what any copy that keeps them
costs with no interpreter at all."""
RULES_C = Path(__file__).with_name("rules.c")
BIG_TARGETS = (
    Target(1.3, label="<= 1.3x cp -r && sync"),
    Target(1.15, label="aim <= 1.15x"),
    Target(1.0, against=EXIFTOOL, label="<= exiftool -o"),
    Target(1.15, against=FLOOR, label="ours: <= 1.15x the read-back floor"),
)
SMALL_TARGETS = (
    Target(1.5, label="<= 1.5x cp -r && sync"),
    Target(1.2, label="aim <= 1.2x"),
    Target(1.0, against=EXIFTOOL, label="<= exiftool -o"),
    Target(1.15, against=FLOOR, label="ours: <= 1.15x the read-back floor"),
)
CPU_TARGETS = (
    Target(2.0, label="<= 2.0x one sha256 pass"),
    Target(1.6, label="aim <= 1.6x"),
)
FAT_TOOLS = ("mkfs.vfat", "mcopy", "fusefat", "fusermount")


def exiftool_can_copy() -> str | None:
    """Why exiftool's copy-and-rename cannot run here, or None if it can.

    ``-o DIR/`` with ``-FileName<DateTimeOriginal`` and ``%%-c`` in ``-d`` has worked since
    exiftool 7; the first run of each case also checks that every file arrived.
    """
    version = tool_version(["exiftool", "-ver"])
    if version is None:
        return "exiftool is missing"
    match = re.match(r"(\d+)\.", version)
    if not match or int(match.group(1)) < 7:
        return f"exiftool {version} is too old for -o with -FileName<DateTimeOriginal"
    return None


def compiled_rules(tmp: Path) -> Path | str:
    """`rules.c` built into ``tmp``: its path, or why it could not be built (no compiler,
    no OpenSSL headers)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return "no C compiler (cc)"
    binary = tmp / "rules"
    built = subprocess.run(
        [compiler, "-O2", "-o", str(binary), str(RULES_C), "-lcrypto", "-lpthread"],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        lines = built.stderr.strip().splitlines()
        return f"{RULES_C.name} did not build: {lines[0] if lines else built.returncode}"
    return binary


def cardingest_command(cardingest: str, source: Path, archive: Path) -> list[str]:
    return [cardingest, "ingest", str(source), "--id", NHI, "--archive", str(archive), "--json"]


def copy_contenders(
    card: Card,
    tmp: Path,
    cardingest: str,
    *,
    all_tools: bool = True,
    targets: tuple[Target, ...] = BIG_TARGETS,
) -> list[Contender]:
    """The contenders; without ``all_tools`` only those the targets name (time budget)."""
    src, dest, sums = card.root, tmp / "dest", tmp / "card.sha256"
    q = shlex.quote
    clean, check = remove(dest, sums), expect_files(dest, card.files)
    contenders = [
        Contender(
            "cp -r && sync",
            f"cp -r {q(str(src))} {q(str(dest))} && sync",
            baseline=True,
            before=clean,
            after=check,
        )
    ]
    if can_drop_caches():
        contenders.append(
            Contender(
                FLOOR,
                f"cp -r {q(str(src))} {q(str(dest))} && sync"
                " && echo 1 > /proc/sys/vm/drop_caches"
                f" && find {q(str(dest))} -type f -exec cat {{}} + > /dev/null",
                before=clean,
                after=check,
            )
        )
    else:
        targets = tuple(t for t in targets if t.against != FLOOR)
    rules = compiled_rules(tmp)
    if isinstance(rules, Path):
        contenders.append(
            Contender(
                COMPILED,
                [str(rules), str(src), str(dest), "8"],
                before=clean,
                after=check,
            )
        )
    else:
        log(f"ingest: no compiled copy rules: {rules}")
    if all_tools:
        contenders += [
            Contender(
                "sha256sum, cp -r && sync, sha256sum -c",
                f"cd {q(str(src))} && find . -type f -print0 | sort -z | xargs -0 sha256sum"
                f" > {q(str(sums))} && cp -r {q(str(src))} {q(str(dest))} && sync"
                f" && cd {q(str(dest))} && sha256sum --quiet -c {q(str(sums))}",
                before=clean,
                after=check,
            ),
            Contender(
                "rsync -a && sync",
                f"rsync -a {q(str(src))}/ {q(str(dest))}/ && sync",
                before=clean,
                after=check,
            ),
        ]
    why_not = exiftool_can_copy()
    if why_not is None:
        contenders.append(
            Contender(
                EXIFTOOL,
                f"exiftool -q -o {q(str(dest))}/ '-FileName<DateTimeOriginal'"
                f" -d %Y%m%d-%H%M%S%%-c.%%e -r {q(str(src))} && sync",
                before=clean,
                after=check,
            )
        )
    else:
        log(f"ingest: no exiftool contender: {why_not}")
        targets = tuple(t for t in targets if t.against is None)
    contenders.append(
        Contender(
            "cardingest ingest --json",
            cardingest_command(cardingest, src, dest),
            env=cardingest_env(tmp),
            before=clean,
            after=check,
            targets=targets,
        )
    )
    return contenders


def local_case(
    options: Options,
    cardingest: str,
    card: Card,
    tmp: Path,
    label: str,
    *,
    all_tools: bool,
    targets: tuple[Target, ...],
) -> Table:
    table = measure(
        f"ingest: {card.files:,} photos of {label} ({human(card.bytes)}), local disk",
        copy_contenders(card, tmp, cardingest, all_tools=all_tools, targets=targets),
        repeat=options.repeat,
        logs=tmp / "logs",
        cold=True,
        data_bytes=card.bytes,
        note="sync + page cache dropped before every run; fresh destination each run"
        "\ndisk busy: seconds the bench disk had a request in flight (share of the run's time)",
        disk=tmp,
    )
    remove(tmp / "dest")()
    return table


RULES_FLOOR = """
import hashlib, mmap, os, sys, xxhash
card, dest = sys.argv[1], sys.argv[2]
os.mkdir(dest)
held, back = [], memoryview(mmap.mmap(-1, 1 << 20))


def uncached(path, flags):
    try:
        return os.open(path, flags | os.O_DIRECT, 0o600)
    except OSError:  # a file system that refuses O_DIRECT (tmpfs)
        return os.open(path, flags, 0o600)


for folder, dirs, files in os.walk(card):
    dirs.sort()
    for name in sorted(files):
        digest, check, chunks = hashlib.sha256(), xxhash.xxh3_128(), []
        with open(os.path.join(folder, name), "rb", buffering=0) as fh:
            while True:
                if len(held) == len(chunks):
                    held.append(memoryview(mmap.mmap(-1, 1 << 20)))
                count = fh.readinto(held[len(chunks)])
                if not count:
                    break
                chunk = held[len(chunks)][:count]
                digest.update(chunk)
                check.update(chunk)
                chunks.append(chunk)
        path = os.path.join(dest, f"{len(os.listdir(dest))}-{name}")
        fd = uncached(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        offset = 0
        for chunk in chunks:
            whole = len(chunk) - len(chunk) % 4096
            os.pwrite(fd, chunk[:whole], offset)
            if whole < len(chunk):
                os.close(fd)
                fd = os.open(path, os.O_WRONLY)
                os.pwrite(fd, chunk[whole:], offset + whole)
            offset += len(chunk)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        fd, again, offset = uncached(path, os.O_RDONLY), xxhash.xxh3_128(), 0
        while count := os.preadv(fd, [back], offset):
            again.update(back[:count])
            offset += count
        os.close(fd)
        assert (offset, again.digest()) == (sum(map(len, chunks)), check.digest()), path
"""
"""The copy rules alone, with nothing else of cardingest: each photo of up to 16 MiB read
once (sha256 and XXH3-128), written with O_DIRECT, fsynced, dropped from the page cache and
read back with O_DIRECT against its XXH3, one file at a time in one thread. What a Python
ingest costs at the least; the rest of the ingest's CPU is start-up, the scan, the plan,
the records and the threads."""


def cpu_case(options: Options, cardingest: str, card: Card, tmp: Path) -> Table:
    """CPU-seconds of the ingest against one Python sha256 pass over the card (both cold),
    and the copy rules' floor in the same rounds."""
    dest = tmp / "dest"
    floor = Contender(
        "the copy rules alone (python, one thread)",
        [sys.executable, "-c", RULES_FLOOR, str(card.root), str(dest)],
        before=remove(dest),
        after=expect_files(dest, card.files),
    )
    ours = Contender(
        "cardingest ingest --json",
        cardingest_command(cardingest, card.root, dest),
        env=cardingest_env(tmp),
        before=remove(dest),
        after=expect_files(dest, card.files),
        targets=CPU_TARGETS,
    )
    note = "page cache dropped before every run; getrusage(RUSAGE_CHILDREN) of each run"
    table = cpu_against_sha256("ingest CPU", ours, options, card, tmp, note, floor)
    remove(dest)()
    return table


def cpu_against_sha256(
    what: str,
    ours: Contender,
    options: Options,
    card: Card,
    tmp: Path,
    note: str,
    *others: Contender,
) -> Table:
    """A table of CPU-seconds: ``ours`` (and ``others``) against one Python sha256 pass over
    the card, all with the page cache dropped first."""
    return measure(
        f"{what}: {card.files:,} photos ({human(card.bytes)}), user + system CPU-seconds",
        [
            Contender("hashlib.sha256 pass (python)", hashlib_pass(card.root), baseline=True),
            *others,
            ours,
        ],
        repeat=options.repeat,
        logs=tmp / "logs",
        cold=True,
        probe=run_cpu,
        unit="CPU s",
        note=note,
    )


def warm_case(options: Options, cardingest: str, card: Card, tmp: Path) -> Table:
    """cp against cardingest with the card in the page cache (read once before each run)."""
    dest, q = tmp / "dest", shlex.quote
    warm = f"find {q(str(card.root))} -type f -exec cat {{}} + > /dev/null"
    clean = remove(dest)

    def before() -> None:
        clean()
        subprocess.run(["sh", "-c", warm], check=True)

    contenders = [
        Contender(
            "cp -r && sync",
            f"cp -r {q(str(card.root))} {q(str(dest))} && sync",
            baseline=True,
            before=before,
            after=expect_files(dest, card.files),
        ),
        Contender(
            "cardingest ingest --json",
            cardingest_command(cardingest, card.root, dest),
            env=cardingest_env(tmp),
            before=before,
            after=expect_files(dest, card.files),
        ),
    ]
    table = measure(
        f"ingest: {card.files:,} photos ({human(card.bytes)}), card in the page cache",
        contenders,
        repeat=options.repeat,
        logs=tmp / "logs",
        cold=False,
        data_bytes=card.bytes,
        note="the card read once before every run (untimed); copies still fsynced, read back",
    )
    clean()
    return table


def wipe_cases(options: Options, cardingest: str, card: Card, tmp: Path) -> list[Table]:
    """``ingest --wipe`` against ``cp -r && sync && rm``, and the gate's re-read alone.

    Each run gets a fresh card: a hard-linked copy of ``card`` (untimed), so removing its
    files leaves the original alone.
    """
    target, dest, archive, q = tmp / "wipecard", tmp / "dest", tmp / "gate-archive", shlex.quote
    env = cardingest_env(tmp)

    def fresh_card() -> None:
        remove(target, dest)()
        subprocess.run(["cp", "-al", str(card.root), str(target)], check=True)

    def emptied() -> None:
        expect_files(dest, card.files)()
        left = count_files(target / "DCIM")
        if left:
            raise RuntimeError(f"{left} files left on the card after the wipe")

    copy_and_wipe = measure(
        f"ingest --wipe: {card.files:,} photos ({human(card.bytes)}), local disk",
        [
            Contender(
                "cp -r && sync && rm",
                f"cp -r {q(str(target))} {q(str(dest))} && sync"
                f" && find {q(str(target / 'DCIM'))} -type f -delete",
                baseline=True,
                before=fresh_card,
                after=emptied,
            ),
            Contender(
                "cardingest ingest --wipe --yes",
                [*cardingest_command(cardingest, target, dest), "--wipe", "--yes"],
                env=env,
                before=fresh_card,
                after=emptied,
            ),
        ],
        repeat=options.repeat,
        logs=tmp / "logs",
        cold=True,
        data_bytes=card.bytes,
        note="copy, read-back, then the gate re-reads card and archive before removing",
    )
    remove(target, dest)()
    subprocess.run(
        cardingest_command(cardingest, card.root, archive),
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    both = f"{q(str(card.root / 'DCIM'))} {q(str(archive / NHI))}"
    dry_wipe = [
        cardingest,
        "wipe",
        str(card.root),
        "--archive",
        str(archive),
        "--dry-run",
        "--json",
    ]
    gate = measure(
        f"wipe gate: re-read of {card.files:,} photos on the card and in the archive",
        [
            Contender(
                "cat card and archive copies",
                f"find {both} -type f -exec cat {{}} + > /dev/null",
                baseline=True,
            ),
            Contender(
                "cardingest wipe --dry-run --json",
                dry_wipe,
                env=env,
                targets=(Target(1.0, label="<= one read of each"),),
            ),
        ],
        repeat=options.repeat,
        logs=tmp / "logs",
        cold=True,
        data_bytes=2 * card.bytes,
        note="sha256 of every card file, XXH3-128 of its archive copy, against reading both once",
    )
    gate_cpu = cpu_against_sha256(
        "wipe gate CPU",
        Contender("cardingest wipe --dry-run --json", dry_wipe, env=env),
        options,
        card,
        tmp,
        "the card's sha256 is the gate's floor; the copies are compared by XXH3-128",
    )
    remove(archive)()
    return [copy_and_wipe, gate, gate_cpu]


# --------------------------------------------------------------------------- FUSE


def _mounted(mountpoint: Path) -> bool:
    target = os.path.realpath(mountpoint)
    with open("/proc/mounts") as fh:
        return any(line.split()[1] == target for line in fh if len(line.split()) > 1)


def _wait(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return bool(callable(condition) and condition())


class FatCard:
    """A FAT32 image mounted read-write with fusefat, run in the foreground as our child."""

    def __init__(self, image: Path, mountpoint: Path) -> None:
        self.image, self.mountpoint = image, mountpoint
        self.driver: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Path:
        self.mountpoint.mkdir(exist_ok=True)
        self.driver = subprocess.Popen(
            ["fusefat", "-f", "-o", "rw+", str(self.image), str(self.mountpoint)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # fusefat chatters on stdout when it mounts
            stderr=subprocess.DEVNULL,
        )
        driver = self.driver
        if not _wait(lambda: _mounted(self.mountpoint) or driver.poll() is not None, 10):
            self.__exit__()
            raise RuntimeError(f"fusefat did not mount {self.image}")
        if not _mounted(self.mountpoint):
            raise RuntimeError(f"fusefat exited {driver.returncode} mounting {self.image}")
        return self.mountpoint

    def __exit__(self, *_exc: object) -> None:
        if _mounted(self.mountpoint):
            done = _wait(
                lambda: (
                    subprocess.run(
                        ["fusermount", "-u", str(self.mountpoint)], capture_output=True, check=False
                    ).returncode
                    == 0
                ),
                5,
            )
            if not done:
                subprocess.run(["fusermount", "-uz", str(self.mountpoint)], check=False)
        if self.driver is not None:
            try:
                self.driver.wait(30)
            except subprocess.TimeoutExpired:
                self.driver.kill()
                self.driver.wait()


def build_image(tmp: Path, card: Card, image_mib: int) -> Path:
    image = tmp / "card.img"
    with open(image, "wb") as fh:
        fh.truncate(image_mib * MiB)
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    for command in (
        ["mkfs.vfat", "-F", "32", "-n", "EOS_DIGITAL", str(image)],
        ["mcopy", "-s", "-m", "-i", str(image), str(card.root / "DCIM"), "::/"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(command)} failed: {done.stdout}{done.stderr}")
    return image


def fuse_case(options: Options, cardingest: str, card: Card, tmp: Path) -> Table:
    """``card`` copied onto a FAT32 image (mcopy), mounted with fusefat: cp against us."""
    missing = [tool for tool in FAT_TOOLS if shutil.which(tool) is None]
    if missing:
        raise Skip(f"{', '.join(missing)} missing (apt-get install fusefat dosfstools mtools)")
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        raise Skip("/dev/fuse is not usable here")
    image_mib = card.bytes * 6 // 5 // MiB + 64  # 1,264 MiB for the 1.05 GB card
    log(f"ingest/fuse: copying the card onto a {image_mib} MiB FAT32 image")
    image = build_image(tmp, card, image_mib)
    dest = tmp / "dest"
    try:
        with FatCard(image, tmp / "mnt") as mount:
            clean, check = remove(dest), expect_files(dest, card.files)
            q = shlex.quote
            contenders = [
                Contender(
                    "cp -r MOUNT && sync",
                    f"cp -r {q(str(mount))}/DCIM {q(str(dest))} && sync",
                    baseline=True,
                    before=clean,
                    after=check,
                ),
                Contender(
                    "cardingest ingest MOUNT --json",
                    cardingest_command(cardingest, mount, dest),
                    env=cardingest_env(tmp),
                    before=clean,
                    after=check,
                    targets=(Target(1.5, label="<= 1.5x cp -r && sync"),),
                ),
            ]
            return measure(
                f"ingest: the same {card.files} photos ({human(card.bytes)}) "
                "from a fusefat FAT32 mount",
                contenders,
                repeat=options.repeat,
                logs=tmp / "logs",
                cold=True,
                data_bytes=card.bytes,
                note="compare with the local-disk table above to see the FUSE cost",
            )
    finally:
        remove(dest, image)()


def run(options: Options, cardingest: str) -> list[Table | str]:
    results: list[Table | str] = []
    template = jpeg_template(48, 36)
    if options.quick:
        big, small = (20, 1 * MiB, "~1 MB"), (200, 100 * 1024, "~100 KB")
    else:
        big, small = (200, 5 * MiB, "~5 MB"), (2000, 300 * 1024, "~300 KB")
    with workdir("ingest") as tmp:
        files, size, label = big
        log(f"ingest: making {files:,} files of {human(size)}")
        card = make_card(tmp / "card", files, template, size=size, seed="big")
        results.append(
            local_case(options, cardingest, card, tmp, label, all_tools=True, targets=BIG_TARGETS)
        )
        results.append(cpu_case(options, cardingest, card, tmp))
        results.append(warm_case(options, cardingest, card, tmp))
        results += wipe_cases(options, cardingest, card, tmp)
        try:
            results.append(fuse_case(options, cardingest, card, tmp))
        except Skip as why:
            results.append(f"== ingest from a fusefat mount: skipped: {why}")
    # Many small files: only the contenders the targets name (cp, exiftool, cardingest);
    # sha256sum and rsync would add ~70 s and say nothing the first table does not.
    with workdir("ingest-small") as tmp:
        files, size, label = small
        log(f"ingest: making {files:,} files of {human(size)}")
        card = make_card(tmp / "card", files, template, size=size, seed="small")
        results.append(
            local_case(
                options, cardingest, card, tmp, label, all_tools=False, targets=SMALL_TARGETS
            )
        )
    return results
