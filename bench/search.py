"""Time catalogue look-ups on a large catalogue. Prints numbers; asserts nothing.

    python bench/search.py [--rows 1000000] [--repeat 9]

Fills a catalogue in a temporary folder (10 photos per patient, 1-2 diagnosis keywords per
patient from a list of 40, plus one rare keyword) with ``executemany`` in one transaction (the
schema's own indexes dropped and rebuilt around it, as a bulk load would), reopens
it as a real run would, then reports the median of several runs of each query.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

from cardingest.archive.catalogue import _FILE_COLUMNS, Catalogue

PER_PATIENT = 10
COMMON = [f"diagnosis-{n:02d}" for n in range(40)]
COMMON[0] = "melanoma"
RARE = "merkel cell carcinoma"
RARE_EVERY = 1000


def patient(n: int) -> str:
    return f"P{n:07d}"


def file_rows(rows: int, rng: random.Random) -> Iterator[tuple[object, ...]]:
    start = datetime(2015, 1, 1)
    for n in range(rows):
        pid = patient(n // PER_PATIENT)
        when = start + timedelta(seconds=n * 97 + rng.randrange(60))
        stamp = when.isoformat()
        values = {
            "patient_id": pid,
            "archive_path": f"{pid}/{pid}-{when:%Y%m%d-%H%M%S}-{n}.jpg",
            "sha256": f"{rng.getrandbits(256):064x}",
            "size": rng.randrange(2_000_000, 8_000_000),
            "captured_at": stamp,
            "captured_raw": stamp,
            "time_source": "exif:DateTimeOriginal",
            "subsec": "",
            "utc_offset": None,
            "source_path": f"DCIM/100CANON/IMG_{n % 10000:04d}.JPG",
            "card_label": "EOS_DIGITAL",
            "card_serial": "1234-ABCD",
            "make": "Canon",
            "model": "Canon EOS 400D",
            "ingest_id": f"ingest-{n // 500}",
            "operator": "bench",
            "archived_at": stamp + "Z",
            "site": "forearm",
            "consent": "record",
            "backup_path": None,
            "role": "photo",
        }
        yield (n + 1, *(values[column] for column in _FILE_COLUMNS))


def keyword_rows(rows: int, rng: random.Random) -> Iterator[tuple[int, str, int, str]]:
    for p in range((rows + PER_PATIENT - 1) // PER_PATIENT):
        words = rng.sample(COMMON, rng.choice((1, 2)))
        if p % RARE_EVERY == 0:
            words.append(RARE)
        for file_id in range(p * PER_PATIENT + 1, min(rows, (p + 1) * PER_PATIENT) + 1):
            for position, word in enumerate(words):
                yield file_id, "diagnosis", position, word


def fill(archive: Path, rows: int) -> float:
    rng = random.Random(1)
    began = time.perf_counter()
    with Catalogue.open(archive) as cat:
        conn = cat._conn
        conn.execute("PRAGMA cache_size = -262144")
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall()
        columns = ", ".join(("id", *_FILE_COLUMNS))
        marks = ", ".join("?" * (len(_FILE_COLUMNS) + 1))
        conn.execute("BEGIN")
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        conn.executemany(f"INSERT INTO files ({columns}) VALUES ({marks})", file_rows(rows, rng))
        conn.executemany(
            "INSERT INTO keywords (file_id, kind, position, value) VALUES (?, ?, ?, ?)",
            keyword_rows(rows, rng),
        )
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
    return time.perf_counter() - began


def median_ms(run: Callable[[int], object], repeat: int) -> tuple[float, object]:
    times = []
    result: object = None
    for i in range(repeat):
        began = time.perf_counter()
        result = run(i)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    patients = (args.rows + PER_PATIENT - 1) // PER_PATIENT
    pick = random.Random(2)
    ids = [patient(pick.randrange(patients)) for _ in range(args.repeat)]

    with tempfile.TemporaryDirectory(prefix="cardingest-bench-") as tmp:
        archive = Path(tmp)
        seconds = fill(archive, args.rows)
        size = sum(p.stat().st_size for p in (archive / ".cardingest").iterdir()) / 2**20
        print(f"filled {args.rows:,} rows in {seconds:.1f} s ({size:.0f} MiB on disk)")
        with Catalogue.open(archive) as cat:
            print(f"catalogue holds {cat.count():,} rows")
            first_day = date(2015, 1, 2)
            cases: list[tuple[str, Callable[[int], object]]] = [
                ("search by ID", lambda i: cat.search(patient_id=ids[i])),
                ("has_sha (ID + sha256)", lambda i: cat.has_sha(ids[i], "0" * 64)),
                ("archive_state of one ID", lambda i: cat.archive_state([ids[i]]).archived),
                (f"search by diagnosis, rare ({RARE!r})", lambda i: cat.search(diagnosis=RARE)),
                (
                    "search by diagnosis, common ('Melanoma'), limit 100",
                    lambda i: cat.search(diagnosis="Melanoma", limit=100),
                ),
                (
                    "search by diagnosis, common ('Melanoma'), all rows",
                    lambda i: cat.search(diagnosis="Melanoma"),
                ),
                (
                    "search by diagnosis + ID",
                    lambda i: cat.search(patient_id=ids[i], diagnosis="melanoma"),
                ),
                (
                    "search by one day",
                    lambda i: cat.search(date_from=first_day, date_to=first_day),
                ),
            ]
            for label, run in cases:
                ms, result = median_ms(run, args.repeat)
                found = len(result) if isinstance(result, list | tuple) else int(bool(result))
                print(f"{label:<55} {ms:9.2f} ms median of {args.repeat}  ({found:,} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
