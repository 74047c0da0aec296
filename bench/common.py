"""What every benchmark case shares: inputs, fair timing, tables.

Rules (docs/performance.md): each case makes its own inputs in a temporary folder, runs each
contender ``repeat`` times (interleaved, in a rotating order, so drift hits all alike), and
reports medians and ratios against a baseline measured in the same run. Copy cases run
``sync`` and drop the page cache before every timed run, so every contender reads the source
from the disk.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

NHI = "JBX3656"
MiB = 1024 * 1024

Command = Sequence[str] | str
"""An argv list, or a string run through ``sh -c``."""


@dataclass(frozen=True)
class Options:
    repeat: int = 3
    quick: bool = False
    repeat_given: bool = False
    """--repeat was on the command line (else the memory case measures once)."""


class Skip(Exception):
    """This case (or one contender) cannot run on this machine; the message says why."""


def log(message: str) -> None:
    """Progress goes to stderr; tables go to stdout."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- environment


def bench_dir() -> Path:
    return Path(os.environ.get("BENCH_DIR") or tempfile.gettempdir())


@contextmanager
def workdir(case: str) -> Iterator[Path]:
    """A fresh folder for one case's inputs and outputs, removed afterwards."""
    base = bench_dir()
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"cardingest-bench-{case}-", dir=base) as tmp:
        yield Path(tmp)


def cardingest_exe() -> str:
    """The installed console script. A pyenv shim (a bash script that re-executes pyenv,
    ~0.1 s a call) is resolved to the script it runs, as a pipx or venv install would be."""
    found = shutil.which("cardingest")
    if found is None:
        raise SystemExit("cardingest is not on PATH: run `pip install -e .` first")
    if f"{os.sep}shims{os.sep}" in found and shutil.which("pyenv"):
        real = subprocess.run(
            ["pyenv", "which", "cardingest"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if real and os.access(real, os.X_OK):
            return real
    return found


def cardingest_env(folder: Path) -> dict[str, str]:
    """The environment for cardingest runs: an empty config file, no archive from outside."""
    config = folder / "bench-config.toml"
    if not config.exists():
        config.write_text("# cardingest bench: defaults only\n")
    # No archive from outside; and bytecode may be cached, as a pip install has it compiled
    # (with PYTHONDONTWRITEBYTECODE every edited module would be compiled on every run).
    drop = {"CARDINGEST_ARCHIVE", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["CARDINGEST_CONFIG"] = str(config)
    return env


def tool_version(argv: Sequence[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else None


def _meminfo_total() -> str:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / MiB:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _filesystem(path: Path) -> str:
    out = subprocess.run(
        ["df", "--output=fstype,avail", str(path)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if len(out) >= 4:
        return f"{out[2]}, {int(out[3]) / MiB:.0f} GiB free"
    return "unknown"


def can_drop_caches() -> bool:
    return os.access("/proc/sys/vm/drop_caches", os.W_OK)


def load() -> str:
    """The 1-minute load average against the core count: other work skews every number."""
    try:
        one = os.getloadavg()[0]
    except OSError:
        return "load average unknown"
    busy = "  (BUSY: other processes compete; expect noise)" if one > 0.5 else ""
    return f"load average {one:.2f} on {os.cpu_count()} cores{busy}"


def machine_header(cardingest: str) -> list[str]:
    ours = tool_version([cardingest, "--version"]) or "cardingest (does not start!)"
    return [
        f"machine   nproc={os.cpu_count()}  RAM={_meminfo_total()}  cpu={_cpu_model()}",
        f"system    {platform.system()} {platform.release()}  Python {platform.python_version()}",
        f"bench dir {bench_dir()} ({_filesystem(bench_dir())})",
        f"tools     {ours} ({cardingest}); "
        f"exiftool {tool_version(['exiftool', '-ver']) or 'missing'}; "
        f"{tool_version(['rsync', '--version']) or 'rsync missing'}",
        "caches    "
        + (
            "sync + drop_caches before every timed copy run"
            if can_drop_caches()
            else "sync only (/proc/sys/vm/drop_caches not writable: source may be cached)"
        ),
        f"at start {load()}",
    ]


def disk_busy_clock(folder: Path) -> Callable[[], float] | None:
    """Seconds the block device holding ``folder`` has been busy (``io_ticks`` in
    /proc/diskstats): how much of a run the disk had a request in flight. Busy time near the
    wall time means the run waits on the disk, not on its CPU. None where the folder is not
    on a listed block device (tmpfs, overlay, another system)."""
    device = os.stat(folder).st_dev
    key = (str(os.major(device)), str(os.minor(device)))

    def busy() -> float:
        with open("/proc/diskstats") as stats:
            for line in stats:
                fields = line.split()
                if (fields[0], fields[1]) == key:
                    return int(fields[12]) / 1000
        raise LookupError(key)

    try:
        busy()
    except (OSError, LookupError, IndexError, ValueError):
        return None
    return busy


def drop_caches() -> None:
    """Flush dirty pages and drop the page cache, so the next read comes from the disk."""
    subprocess.run(["sync"], check=False)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
    except OSError:
        pass


# --------------------------------------------------------------------------- running


def argv_of(command: Command) -> list[str]:
    return ["sh", "-c", command] if isinstance(command, str) else list(command)


def describe(command: Command) -> str:
    return command if isinstance(command, str) else shlex.join(command)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_timed(
    command: Command,
    *,
    errlog: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    ok: Sequence[int] = (0,),
) -> float:
    """Wall-clock seconds of one run; stdout to /dev/null, stderr to ``errlog``."""
    with open(errlog, "wb") as err:
        began = time.perf_counter()
        proc = subprocess.run(
            argv_of(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            check=False,
        )
        seconds = time.perf_counter() - began
    if proc.returncode not in ok:
        raise RuntimeError(
            f"`{describe(command)}` exited {proc.returncode}:\n{_tail(errlog)}".rstrip()
        )
    return seconds


def run_cpu(
    command: Command,
    *,
    errlog: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    ok: Sequence[int] = (0,),
) -> float:
    """CPU-seconds (user + system) of one run and its children (``RUSAGE_CHILDREN``).

    Unlike wall-clock time this hardly moves with the load other processes put on the
    machine, so it is the measure for work done per byte.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_timed(command, errlog=errlog, cwd=cwd, env=env, ok=ok)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


HASHLIB_PASS = """
import hashlib, os, sys
view = memoryview(bytearray(1 << 20))
for folder, dirs, files in os.walk(sys.argv[1]):
    dirs.sort()
    for name in sorted(files):
        digest = hashlib.sha256()
        with open(os.path.join(folder, name), "rb", buffering=0) as fh:
            while count := fh.readinto(view):
                digest.update(view[:count])
"""
"""One Python ``hashlib.sha256`` pass over every file below argv[1], 1 MiB at a time."""


def hashlib_pass(root: Path) -> list[str]:
    return [sys.executable, "-c", HASHLIB_PASS, str(root)]


def run_peak_rss(
    command: Command,
    *,
    errlog: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    ok: Sequence[int] = (0,),
) -> float:
    """Peak resident set size of one run in MiB (``/usr/bin/time -v``, else getrusage)."""
    report = errlog.with_suffix(".rss")
    if os.access("/usr/bin/time", os.X_OK):
        wrapped = ["/usr/bin/time", "-v", "-o", str(report), *argv_of(command)]
    else:
        wrapped = [
            sys.executable,
            "-c",
            "import resource, subprocess, sys\n"
            "code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL).returncode\n"
            "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "open(sys.argv[1], 'w').write(f'Maximum resident set size (kbytes): {rss}\\n')\n"
            "sys.exit(code)\n",
            str(report),
            *argv_of(command),
        ]
    run_timed(wrapped, errlog=errlog, cwd=cwd, env=env, ok=ok)
    for line in report.read_text().splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1]) / 1024
    raise RuntimeError(f"no peak RSS reported for `{describe(command)}`")


@dataclass(frozen=True)
class Target:
    """``median(this) / median(against) <= max_ratio``; ``against`` None is the baseline."""

    max_ratio: float
    against: str | None = None
    label: str = ""

    def text(self) -> str:
        if self.label:
            return self.label
        return f"<= {self.max_ratio:g}x {self.against or 'baseline'}"


@dataclass
class Contender:
    name: str
    command: Command
    baseline: bool = False
    targets: tuple[Target, ...] = ()
    cwd: Path | None = None
    env: dict[str, str] | None = None
    ok: tuple[int, ...] = (0,)
    before: Callable[[], None] | None = None
    """Untimed, before every run (e.g. remove the previous run's destination)."""
    after: Callable[[], None] | None = None
    """Untimed, after every run: check the output is complete (raise if not)."""


@dataclass
class Series:
    name: str
    samples: list[float]
    baseline: bool = False
    targets: tuple[Target, ...] = ()
    busy: list[float] = field(default_factory=list)
    """Seconds the disk was busy in each run (`disk_busy_clock`), where measured."""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Table:
    title: str
    series: list[Series]
    unit: str = "s"
    note: str = ""
    data_bytes: int | None = None
    """Bytes each run moves: adds a MB/s column."""
    rows: list[str] = field(default_factory=list)

    def find(self, name: str | None) -> Series:
        for series in self.series:
            if (name is None and series.baseline) or series.name == name:
                return series
        raise KeyError(name or "baseline")

    def outcomes(self) -> list[tuple[str, str, bool]]:
        """(contender, target text, met) for every target."""
        found = []
        for series in self.series:
            for target in series.targets:
                ratio = series.median / self.find(target.against).median
                found.append((series.name, target.text(), ratio <= target.max_ratio))
        return found

    def render(self) -> str:
        base = self.find(None).median
        value_head = "median s" if self.unit == "s" else f"median {self.unit}"
        head = ["contender", value_head, "min-max", "ratio"]
        if self.data_bytes:
            head.insert(3, "MB/s")
        with_busy = all(series.busy for series in self.series)
        if with_busy:
            head.insert(3, "disk busy")
        head += ["target", "result"]
        body: list[list[str]] = []
        for series in self.series:
            low, high = min(series.samples), max(series.samples)
            cells = [
                series.name + (" (baseline)" if series.baseline else ""),
                f"{series.median:.2f}",
                f"{low:.2f}-{high:.2f}",
                f"{series.median / base:.2f}x",
            ]
            if self.data_bytes:
                cells.insert(3, f"{self.data_bytes / series.median / 1e6:.0f}")
            if with_busy:
                busy = statistics.median(series.busy)
                cells.insert(3, f"{busy:.2f} ({busy / series.median:.0%})")
            targets = list(series.targets)
            if not targets:
                body.append([*cells, "-", ""])
            for index, target in enumerate(targets):
                ratio = series.median / self.find(target.against).median
                verdict = "PASS" if ratio <= target.max_ratio else "MISS"
                if target.against is not None:
                    verdict += f" ({ratio:.2f}x)"
                row = cells if index == 0 else [""] * len(cells)
                body.append([*row, target.text(), verdict])
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        numeric = set(range(1, len(head) - 2))

        def line(cells: list[str]) -> str:
            parts = [
                cell.rjust(w) if i in numeric else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
            ]
            return "  ".join(parts).rstrip()

        samples = len(self.series[0].samples)
        out = [f"== {self.title} (median of {samples})", line(head)]
        out.append("  ".join("-" * w for w in widths))
        out += [line(r) for r in body]
        if self.note:
            out += [f"   {text}" for text in self.note.splitlines()]
        return "\n".join(out)


def measure(
    title: str,
    contenders: Sequence[Contender],
    *,
    repeat: int,
    logs: Path,
    cold: bool,
    warmup: bool = False,
    note: str = "",
    data_bytes: int | None = None,
    probe: Callable[..., float] = run_timed,
    unit: str = "s",
    disk: Path | None = None,
) -> Table:
    """Time every contender ``repeat`` times, interleaved in a rotating order.

    ``cold``: sync and drop the page cache before every timed run. ``warmup``: one untimed
    run of each contender first (for warm-cache cases, so the first timed run is not special).
    ``probe``/``unit``: what one run measures (``run_peak_rss`` and "MiB" for memory).
    ``disk``: a folder on the disk the runs work on, to report how long it was busy.
    """
    logs.mkdir(parents=True, exist_ok=True)
    samples: dict[str, list[float]] = {c.name: [] for c in contenders}
    busy: dict[str, list[float]] = {c.name: [] for c in contenders}
    clock = disk_busy_clock(disk) if disk is not None else None
    slug = "".join(ch if ch.isalnum() else "-" for ch in title)[:40]

    def once(contender: Contender, index: int) -> float:
        if contender.before is not None:
            contender.before()
        if cold:
            drop_caches()
        errlog = logs / f"{slug}-{index}-{len(samples[contender.name])}.err"
        busy_before = clock() if clock is not None else 0.0
        seconds = probe(
            contender.command,
            errlog=errlog,
            cwd=contender.cwd,
            env=contender.env,
            ok=contender.ok,
        )
        if clock is not None:
            busy[contender.name].append(clock() - busy_before)
        if contender.after is not None:
            contender.after()
        return seconds

    if warmup:
        for index, contender in enumerate(contenders):
            once(contender, index)
        for measured in busy.values():
            measured.clear()
    for round_ in range(repeat):
        shift = round_ % len(contenders)
        order = list(enumerate(contenders))[shift:] + list(enumerate(contenders))[:shift]
        for index, contender in order:
            seconds = once(contender, index)
            samples[contender.name].append(seconds)
            log(f"  {title}: {contender.name} run {round_ + 1}/{repeat}: {seconds:.2f} {unit}")
    series = [
        Series(c.name, samples[c.name], c.baseline, c.targets, busy[c.name]) for c in contenders
    ]
    return Table(title, series, unit=unit, note=note, data_bytes=data_bytes)


# --------------------------------------------------------------------------- inputs

PLACEHOLDER = b"2000:01:01 00:00:00"
FIRST_SHOT = datetime(2024, 3, 15, 9, 0, 0)


@dataclass(frozen=True)
class JpegTemplate:
    """A real JPEG with EXIF; ``stamp_at`` is where DateTimeOriginal's 19 bytes are."""

    data: bytes
    stamp_at: int

    def with_time(self, when: datetime) -> bytes:
        stamp = when.strftime("%Y:%m:%d %H:%M:%S").encode()
        return self.data[: self.stamp_at] + stamp + self.data[self.stamp_at + len(stamp) :]


def random_bytes(seed: str, size: int) -> bytes:
    """Incompressible, reproducible bytes (SHAKE-128: ~300 MB/s where os.urandom is slower)."""
    return hashlib.shake_128(seed.encode()).digest(size)


def jpeg_template(width: int, height: int, *, quality: int = 90) -> JpegTemplate:
    """One JPEG of noise (so it does not compress to nothing) with camera EXIF.

    Encoded once with Pillow; every photo on a bench card is a copy with the
    DateTimeOriginal bytes patched, so capture times differ at no cost.
    """
    from PIL import ExifTags, Image

    image = Image.frombytes("RGB", (width, height), random_bytes("image", width * height * 3))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "Canon EOS 400D DIGITAL"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = PLACEHOLDER.decode()
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, exif=exif.tobytes())
    data = buffer.getvalue()
    at = data.find(PLACEHOLDER)
    if at < 0 or data.find(PLACEHOLDER, at + 1) >= 0:
        raise RuntimeError("the JPEG template should hold DateTimeOriginal exactly once")
    return JpegTemplate(data, at)


@dataclass(frozen=True)
class Card:
    root: Path
    files: int
    bytes: int


def make_card(
    root: Path,
    count: int,
    template: JpegTemplate,
    *,
    size: int | None = None,
    per_folder: int = 2000,
    seed: str = "card",
) -> Card:
    """A camera card: ``DCIM/100CANON/IMG_0001.JPG``… ``per_folder`` photos a folder.

    Photos are the template with its own capture time (7 s apart). ``size``: pad each file
    with incompressible bytes after the image data (after EOI) up to that many bytes.
    File times are set to the capture times, as a camera does.
    """
    if not 1 <= per_folder <= 9999:
        raise ValueError("DCF numbers run from 0001 to 9999")
    total = 0
    for index in range(count):
        folder = root / "DCIM" / f"{100 + index // per_folder}CANON"
        if index % per_folder == 0:
            folder.mkdir(parents=True, exist_ok=True)
        when = FIRST_SHOT + timedelta(seconds=7 * index)
        data = template.with_time(when)
        if size is not None and size > len(data):
            data += random_bytes(f"{seed}-{index}", size - len(data))
        path = folder / f"IMG_{index % per_folder + 1:04d}.JPG"
        path.write_bytes(data)
        stamp = when.timestamp()
        os.utime(path, (stamp, stamp))
        total += len(data)
    return Card(root, count, total)


def count_files(root: Path, *, skip_hidden: bool = True) -> int:
    """Regular files below ``root``; hidden folders (``.cardingest``) left out by default."""
    found = 0
    for _folder, dirs, files in os.walk(root):
        if skip_hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            files = [f for f in files if not f.startswith(".")]
        found += len(files)
    return found


def expect_files(root: Path, count: int) -> Callable[[], None]:
    """An ``after`` check: ``root`` holds exactly ``count`` files (outside hidden folders)."""

    def check() -> None:
        got = count_files(root) if root.exists() else 0
        if got != count:
            raise RuntimeError(f"{root} holds {got} files after the run, expected {count}")

    return check


def remove(*paths: Path) -> Callable[[], None]:
    """A ``before`` step: delete what the previous run made."""

    def clean() -> None:
        for path in paths:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()

    return clean


def sizes(quick: bool, full: int, small: int) -> int:
    return small if quick else full


def human(size: int) -> str:
    if size >= 1e9:
        return f"{size / 1e9:.2f} GB"
    if size >= 1e6:
        return f"{size / 1e6:.0f} MB"
    return f"{size / 1e3:.0f} KB"
