"""The PostgreSQL catalogue: concurrent ingests, and search on a large catalogue.

    python -m bench.pg [--quick] [--repeat N] [--rows N] [--only ingest|search]

Starts a throwaway PostgreSQL server (``initdb`` + ``pg_ctl`` on a Unix socket in a temporary
folder; as root it runs as the ``postgres`` user), with its default durability (fsync on).

- ingest: four cards of 50 photos of ~5 MB (``--quick``: 10 of ~1 MB), ingested at once by
  four ``cardingest`` processes into one archive with a PostgreSQL catalogue, against the same
  four ingests one after the other on SQLite. The four share the machine's cores and disk;
  the point is that the database adds no serialisation of its own.
- search: ``search --id`` and ``search --diagnosis`` through the real ``Catalogue`` on
  1,000,000 rows in PostgreSQL (``--rows``), filled with COPY, medians of several runs.

Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from .common import cardingest_exe, jpeg_template, make_card
from .search import COMMON, PER_PATIENT, RARE, file_rows, keyword_rows, patient


class Server:
    def __init__(self) -> None:
        found = shutil.which("initdb")
        if found:
            self.bindir = Path(os.path.realpath(found)).parent
        else:
            folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
            if not folders:
                raise SystemExit("PostgreSQL server programs not found (Debian: postgresql)")
            self.bindir = Path(folders[0])
        self.root = Path(tempfile.mkdtemp(prefix="cdbench-pg-"))
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, cwd=self.root)

    def start(self) -> None:
        data = str(self.root / "data")
        self._run(str(self.bindir / "initdb"), "-D", data, "--auth=trust", "-E", "UTF8")
        options = f"-c listen_addresses='' -k {self.root} -c shared_buffers=256MB"
        self._run(
            str(self.bindir / "pg_ctl"), "-D", data, "-l", str(self.root / "log"), "-o",
            options, "-w", "start",
        )  # fmt: skip

    def url(self) -> str:
        user = self.user or pwd.getpwuid(os.geteuid()).pw_name
        return f"postgresql://{user}@/postgres?host={quote(str(self.root), safe='')}"

    def close(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ingest_case(server: Server, quick: bool, repeat: int) -> None:
    photos, size = (10, 1_000_000) if quick else (50, 5_000_000)
    exe = cardingest_exe()
    patients = ("JBX3656", "MCJ1984", "EPT6335", "CGC2720")
    template = jpeg_template(1600, 1200)
    base = Path(tempfile.mkdtemp(prefix="cdbench-ingest-"))
    try:
        cards = [
            make_card(base / f"card{n}", photos, template, size=size, seed=f"card{n}")
            for n in range(4)
        ]
        total = sum(card.bytes for card in cards)
        sequential, concurrent = [], []
        for run in range(repeat):
            archive = base / f"sqlite-{run}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("CARDINGEST_")}
            began = time.perf_counter()
            for card, patient_id in zip(cards, patients, strict=True):
                subprocess.run(
                    [exe, "ingest", str(card.root), "--id", patient_id, "--archive", str(archive)],
                    check=True,
                    capture_output=True,
                    env=env,
                )
            sequential.append(time.perf_counter() - began)
            shutil.rmtree(archive)
            subprocess.run(["sync"], check=True)
            archive = base / f"pg-{run}"
            db = f"bench{run}"
            subprocess.run(
                ["psql", server.url(), "-qc", f"CREATE DATABASE {db}"],
                check=True, capture_output=True,
            )  # fmt: skip
            url = server.url().replace("/postgres?", f"/{db}?")
            began = time.perf_counter()
            procs = [
                subprocess.Popen(
                    [
                        exe,
                        "ingest",
                        str(card.root),
                        "--id",
                        patient_id,
                        "--archive",
                        str(archive),
                        "--catalogue",
                        url,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    env=env,
                )
                for card, patient_id in zip(cards, patients, strict=True)
            ]
            for proc in procs:
                _out, err = proc.communicate()
                if proc.returncode != 0:
                    raise SystemExit(f"a concurrent ingest failed: {err.decode()[-2000:]}")
            concurrent.append(time.perf_counter() - began)
            shutil.rmtree(archive)
            subprocess.run(["sync"], check=True)
            log(f"ingest run {run + 1}: {sequential[-1]:.1f} s / {concurrent[-1]:.1f} s")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    seq, con = statistics.median(sequential), statistics.median(concurrent)
    print(
        f"== ingest: 4 cards x {photos} photos of ~{size / 1e6:.0f} MB "
        f"({total / 1e6:,.0f} MB in all), median of {repeat}"
    )
    print(f"four one after the other, SQLite      {seq:8.1f} s")
    print(f"four at once, PostgreSQL catalogue    {con:8.1f} s")
    print(f"ratio (target: at most 1.3x)          {con / seq:8.2f}x")


def fill(url: str, rows: int) -> float:
    """Rows through COPY into the archive's schema, indexes built after, then ANALYZE."""
    import random

    import psycopg

    from cardingest.archive.catalogue import _FILE_COLUMNS
    from cardingest.archive.pg import _ARCHIVE_DDL, register

    began = time.perf_counter()
    archive = Path(tempfile.mkdtemp(prefix="cdbench-search-"))
    with psycopg.connect(url, autocommit=True) as conn:
        tie = register(conn, archive)
        conn.execute(f'SET search_path TO "{tie.schema}"')
        indexes = [s for s in _ARCHIVE_DDL if s.startswith("CREATE INDEX")]
        for statement in indexes:
            conn.execute(f"DROP INDEX {statement.split()[2]}")  # type: ignore[arg-type]
        rng = random.Random(1)
        columns = ", ".join(("id", *_FILE_COLUMNS))
        with conn.cursor() as cursor:
            with cursor.copy(f"COPY files ({columns}) FROM STDIN") as copy:  # type: ignore[arg-type]
                for row in file_rows(rows, rng):
                    copy.write_row(row)
            with cursor.copy("COPY keywords (file_id, kind, position, value) FROM STDIN") as copy:
                for keyword in keyword_rows(rows, rng):
                    copy.write_row(keyword)
        for statement in indexes:
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("ANALYZE")
    fill.archive = archive  # type: ignore[attr-defined]
    return time.perf_counter() - began


def median_ms(run: Callable[[int], object], repeat: int) -> tuple[float, int]:
    times, found = [], 0
    for i in range(repeat):
        began = time.perf_counter()
        result = run(i)
        times.append((time.perf_counter() - began) * 1000)
        found = len(result) if isinstance(result, list) else int(bool(result))
    return statistics.median(times), found


def search_case(server: Server, rows: int, repeat: int) -> None:
    import random

    from cardingest.archive.pg import open_catalogue

    url = server.url()
    seconds = fill(url, rows)
    archive: Path = fill.archive  # type: ignore[attr-defined]
    print(f"== search: {rows:,} rows in PostgreSQL (filled by COPY in {seconds:.0f} s)")
    patients = (rows + PER_PATIENT - 1) // PER_PATIENT
    pick = random.Random(2)
    ids = [patient(pick.randrange(patients)) for _ in range(repeat)]
    with open_catalogue(url, archive, create=False) as cat:
        cases: list[tuple[str, Callable[[int], object]]] = [
            ("search --id", lambda i: cat.search(patient_id=ids[i])),
            (f"search --diagnosis (rare, {RARE!r})", lambda i: cat.search(diagnosis=RARE)),
            (
                "search --diagnosis (common, 'Melanoma'), first 100",
                lambda i: cat.search(diagnosis="Melanoma", limit=100),
            ),
            (
                f"search --diagnosis (common, 1 of {len(COMMON)}), all rows",
                lambda i: cat.search(diagnosis="Melanoma"),
            ),
            ("search --id --diagnosis", lambda i: cat.search(patient_id=ids[i], diagnosis="x")),
            ("archive_state of one ID (ingest planning)", lambda i: cat.archive_state([ids[i]])),
        ]
        for label, run in cases:
            ms, found = median_ms(run, repeat)
            print(f"{label:<55} {ms:9.2f} ms median of {repeat}  ({found:,} rows)")
    shutil.rmtree(archive, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pg", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--only", choices=("ingest", "search"))
    args = parser.parse_args()
    server = Server()
    server.start()
    try:
        if args.only in (None, "ingest"):
            ingest_case(server, args.quick, args.repeat or (1 if args.quick else 3))
        if args.only in (None, "search"):
            rows = args.rows or (100_000 if args.quick else 1_000_000)
            search_case(server, rows, args.repeat or 9)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
