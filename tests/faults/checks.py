"""The consistency checker every fault scenario ends with.

It reads the card, the archive tree, the catalogue (SQLite, read-only), every manifest and the
audit log directly, with no cardingest code in the loop, and counts:

- lost: a photo put on the card that is neither still on the card, byte for byte, nor
  archived byte-identical with a catalogue row made from that card path;
- doubled: two catalogue rows for one patient, sha256 and card path, or for one archive path;
- mislabelled: a catalogue row (an archived photo) whose patient is not the one the scenario
  intended for the photo with those bytes (every scenario states its intent: `photos_of`);
- wiped unverified: a photo gone from the card without an audited ``wipe-remove`` backed by a
  catalogue row whose archive copy (and backup copy) still hash to the photo's bytes;
- stray: temporary ``.cardingest-tmp-*`` files anywhere, and in a final check anything under
  ``.cardingest/`` that is not the catalogue, the audit log, a manifest, the clean mark, a
  copy a repair set aside or a move journal kept by ``move --abandon-journal`` (a lock
  included);
- problems: everything else that does not add up (rows vs files on disk vs manifest lines,
  a card file that changed, a manifest entry that disagrees).

A *final* check (after the last re-run) wants catalogue rows = files on disk (without
``.cardingest/`` and uncatalogued ``.xmp`` sidecars) = manifest lines. A check right after a
kill wants less: every row's copy exists and matches (a killed run may have published files
whose rows were never written; the next run adopts them), and every manifest line is a row.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cardingest.storage.durable import TEMP_PREFIX

from .helpers import sha256, sha256_file

METADIR = ".cardingest"
META_FILES = frozenset(
    {
        "catalogue.sqlite",
        "catalogue.sqlite-wal",
        "catalogue.sqlite-shm",
        "catalogue.sqlite-journal",
        "audit.jsonl",
        "audit.head",
        "clean",
    }
)


@dataclass(frozen=True)
class Photo:
    """One file put on the card (or source folder): its path there, its content, and the
    patient(s) the scenario means it for (more than one only where it says so on purpose)."""

    path: str
    sha256: str
    size: int
    patients: frozenset[str]


Intent = str | Mapping[str, str | Iterable[str]]
"""One patient ID for every file, or a patient ID (or several) per card path."""


def intended(intent: Intent, path: str) -> frozenset[str]:
    if isinstance(intent, str):
        return frozenset({intent})
    value = intent[path]
    return frozenset({value} if isinstance(value, str) else value)


def photos_of(files: Mapping[str, bytes], intent: Intent) -> dict[str, Photo]:
    """The photos of a card and whose they are meant to be (no default: a scenario says)."""
    return {
        path: Photo(path, sha256(data), len(data), intended(intent, path))
        for path, data in files.items()
    }


@dataclass(frozen=True)
class Source:
    """A card (or folder) and what it should hold; ``photos`` is updated by tests that change it."""

    root: Path
    photos: Mapping[str, Photo]


@dataclass(frozen=True)
class Row:
    patient_id: str
    archive_path: str
    sha256: str
    size: int
    source_path: str
    backup_path: str | None
    ingest_id: str


CopyOk = Callable[[Row], bool]


@dataclass
class Findings:
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    mislabelled: list[str] = field(default_factory=list)
    wiped_unverified: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    photos: int = 0
    archived: int = 0
    on_card: int = 0
    rows: int = 0
    files: int = 0
    manifest_lines: int = 0

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.doubled
            or self.mislabelled
            or self.wiped_unverified
            or self.stray
            or self.problems
        )

    def summary(self) -> str:
        return (
            f"photos {self.photos}: archived {self.archived}, still on the card {self.on_card}; "
            f"catalogue rows {self.rows}, files on disk {self.files}, "
            f"manifest lines {self.manifest_lines}; lost {len(self.lost)}, "
            f"doubled {len(self.doubled)}, mislabelled {len(self.mislabelled)}, "
            f"wiped unverified {len(self.wiped_unverified)}, "
            f"stray {len(self.stray)}, other problems {len(self.problems)}"
        )

    def report(self, context: str) -> str:
        lines = [context, self.summary()]
        for name in ("lost", "doubled", "mislabelled", "wiped_unverified", "stray", "problems"):
            for entry in getattr(self, name)[:20]:
                lines.append(f"  {name}: {entry}")
        return "\n".join(lines)


def _snapshot(path: Path) -> sqlite3.Connection:
    """An in-memory copy of the catalogue, its write-ahead log applied.

    Right after a kill -9 the WAL is hot and only a writer may recover it: a ``mode=ro``
    connection then fails with "attempt to write a readonly database". The checker must not
    write to the archive it judges, so it copies the database and its WAL to a private
    folder and recovers the copy there.
    """
    with tempfile.TemporaryDirectory(prefix="checker-") as private:
        copy = Path(private, path.name)
        for suffix in ("", "-wal"):
            source = Path(f"{path}{suffix}")
            if source.exists():
                shutil.copyfile(source, f"{copy}{suffix}")
        disk = sqlite3.connect(copy)
        try:
            memory = sqlite3.connect(":memory:")
            disk.backup(memory)
        finally:
            disk.close()
    return memory


def read_rows(archive: Path) -> list[Row]:
    path = archive / METADIR / "catalogue.sqlite"
    if not path.is_file():
        return []
    conn = _snapshot(path)
    try:
        cursor = conn.execute(
            "SELECT patient_id, archive_path, sha256, size, source_path, backup_path, ingest_id"
            " FROM files ORDER BY archive_path"
        )
        return [Row(*row) for row in cursor]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def tree(root: Path) -> tuple[dict[str, Path], list[str]]:
    """Files under ``root`` outside ``.cardingest/`` (relative POSIX path -> path) and strays.

    Strays are temporaries anywhere and unknown files inside ``.cardingest/`` (checked by the
    caller only in a final check, since a lock may rightly remain after a kill).
    """
    files: dict[str, Path] = {}
    strays: list[str] = []
    if not root.is_dir():
        return files, strays
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            if name.startswith(TEMP_PREFIX):
                strays.append(rel)
            elif rel.split("/")[0] == METADIR:
                if not _expected_meta(rel):
                    strays.append(rel)
            else:
                files[rel] = path
    return files, strays


def _expected_meta(rel: str) -> bool:
    parts = rel.split("/")
    if len(parts) == 2:
        return parts[1] in META_FILES
    if parts[1] == "damaged":
        return True  # bad copies a repair set aside (cardingest.archive.repair)
    if parts[1] == "abandoned-moves":
        return len(parts) == 3 and parts[2].endswith(".json")  # move --abandon-journal
    return len(parts) == 3 and parts[1] == "manifests" and parts[2].endswith(".sha256")


def manifest_entries(root: Path) -> list[tuple[str, str, str]]:
    """(manifest name, sha256, path) for every line of every manifest under ``root``."""
    entries: list[tuple[str, str, str]] = []
    folder = root / METADIR / "manifests"
    if not folder.is_dir():
        return entries
    for manifest in sorted(folder.glob("*.sha256")):
        for line in manifest.read_text(encoding="utf-8").splitlines():
            digest, _sep, path = line.partition("  ")
            entries.append((manifest.name, digest.lower(), path))
    return entries


def audit_events(archive: Path) -> list[dict[str, object]]:
    path = archive / METADIR / "audit.jsonl"
    if not path.is_file():
        return []
    events = []
    for line in path.read_bytes().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"event": "unparseable"})
    return events


def names_file(recorded: str, source: str) -> bool:
    """A row made from card path ``source`` (the ingest may have started below the root)."""
    return bool(recorded) and (source == recorded or source.endswith("/" + recorded))


class _Hashes:
    """sha256 of files, each read once per check."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[int, str] | None] = {}

    def of(self, path: Path) -> tuple[int, str] | None:
        if path not in self._seen:
            try:
                self._seen[path] = (path.stat().st_size, sha256_file(path))
            except OSError:
                self._seen[path] = None
        return self._seen[path]


def card_files(root: Path) -> dict[str, Path]:
    """Files a card (under DCIM/) or a plain source folder holds, by relative POSIX path."""
    dcim = next((p for p in root.iterdir() if p.name.lower() == "dcim" and p.is_dir()), None)
    base = dcim or root
    found: dict[str, Path] = {}
    for folder, dirs, names in os.walk(base):
        dirs.sort()
        for name in names:
            path = Path(folder, name)
            found[path.relative_to(root).as_posix()] = path
    return found


def inspect(
    archive: Path,
    sources: Sequence[Source],
    *,
    backup: Path | None = None,
    tampered: Iterable[str] = (),
    final: bool = True,
) -> Findings:
    """Everything the checker can see without running cardingest (see the module doc)."""
    found = Findings()
    spoiled = set(tampered)
    hashes = _Hashes()
    rows = read_rows(archive)
    disk, strays = tree(archive)
    found.rows = len(rows)
    _check_strays(found, strays, final)

    by_path = {row.archive_path: row for row in rows}

    def copy_ok(row: Row) -> bool:
        if row.archive_path in spoiled or hashes.of(archive / row.archive_path) != (
            row.size,
            row.sha256,
        ):
            return False
        if row.backup_path is None:
            return True
        return row.backup_path not in spoiled and hashes.of(Path(row.backup_path)) == (
            row.size,
            row.sha256,
        )

    _check_doubled(found, rows)
    _check_mislabelled(found, rows, sources)
    _check_rows_on_disk(found, rows, disk, spoiled, hashes, archive, final)
    _check_manifests(found, rows, archive, final)
    if backup is not None:
        _check_backup(found, rows, backup, spoiled, hashes, final)
    events = audit_events(archive)
    removals = [e for e in events if e.get("event") == "wipe-remove"]
    for source in sources:
        _check_source(found, source, rows, by_path, removals, copy_ok, hashes)
    return found


def _check_strays(found: Findings, strays: list[str], final: bool) -> None:
    """Strays count in a final check; right after a kill they are expected (swept next run)."""
    if final:
        found.stray += strays


def _check_doubled(found: Findings, rows: list[Row]) -> None:
    same_photo = Counter((r.patient_id, r.sha256, r.source_path) for r in rows)
    for (patient, digest, source), count in same_photo.items():
        if count > 1:
            found.doubled.append(f"{source} ({digest[:12]}…) archived {count}× for {patient}")
    for path, count in Counter(r.archive_path for r in rows).items():
        if count > 1:
            found.doubled.append(f"{path} has {count} catalogue rows")


def _check_mislabelled(found: Findings, rows: list[Row], sources: Sequence[Source]) -> None:
    """Every row of a scenario's photo is filed under a patient the scenario meant it for."""
    meant: dict[str, set[str]] = defaultdict(set)
    for source in sources:
        for photo in source.photos.values():
            meant[photo.sha256].update(photo.patients)
    for row in rows:
        patients = meant.get(row.sha256)
        if patients and row.patient_id not in patients:
            found.mislabelled.append(
                f"{row.archive_path} (from {row.source_path}) is filed under {row.patient_id}, "
                f"meant for {', '.join(sorted(patients))}"
            )


def _check_rows_on_disk(
    found: Findings,
    rows: list[Row],
    disk: dict[str, Path],
    spoiled: set[str],
    hashes: _Hashes,
    archive: Path,
    final: bool,
) -> None:
    catalogued = {row.archive_path for row in rows}
    counted = {rel for rel in disk if rel in catalogued or not rel.lower().endswith(".xmp")}
    found.files = len(counted)
    for row in rows:
        if row.archive_path in spoiled:
            continue
        if row.archive_path not in disk:
            found.problems.append(f"catalogued but not on disk: {row.archive_path}")
        elif hashes.of(archive / row.archive_path) != (row.size, row.sha256):
            found.problems.append(f"archive copy differs from its row: {row.archive_path}")
    if final:
        for rel in sorted(counted - catalogued):
            found.problems.append(f"on disk but not in the catalogue: {rel}")


def _check_manifests(found: Findings, rows: list[Row], archive: Path, final: bool) -> None:
    entries = manifest_entries(archive)
    found.manifest_lines = len(entries)
    by_path = {row.archive_path: row for row in rows}
    for path, count in Counter(path for _m, _d, path in entries).items():
        if count > 1:
            found.problems.append(f"{path} is listed in {count} manifest lines")
    listed = set()
    for manifest, digest, path in entries:
        listed.add(path)
        row = by_path.get(path)
        if row is None:
            found.problems.append(f"{manifest} lists {path}, which has no catalogue row")
        elif row.sha256 != digest:
            found.problems.append(f"{manifest} gives {path} another sha256 than its row")
        elif not manifest.startswith(row.ingest_id):
            found.problems.append(f"{path} is in {manifest}, its row says {row.ingest_id}")
    if final:
        for path in sorted(set(by_path) - listed):
            found.problems.append(f"catalogued but in no manifest: {path}")


def _check_backup(
    found: Findings,
    rows: list[Row],
    backup: Path,
    spoiled: set[str],
    hashes: _Hashes,
    final: bool,
) -> None:
    disk, strays = tree(backup)
    _check_strays(found, strays, final)
    expected: dict[str, Row] = {}
    for row in rows:
        if row.backup_path is None:
            found.problems.append(f"{row.archive_path} has no backup copy recorded")
            continue
        rel = Path(row.backup_path).relative_to(backup).as_posix()
        expected[rel] = row
        if row.backup_path in spoiled:
            continue
        if hashes.of(Path(row.backup_path)) != (row.size, row.sha256):
            found.problems.append(f"backup copy missing or different: {row.backup_path}")
    listed: dict[str, str] = {}
    for _manifest, digest, path in manifest_entries(backup):
        listed[path] = digest
        if path not in expected:
            found.problems.append(f"backup manifest lists {path}, which has no row")
    if final:
        counted = {rel for rel in disk if not rel.lower().endswith(".xmp") or rel in expected}
        for rel in sorted(counted - set(expected)):
            found.problems.append(f"backup holds {rel}, which no row names")
        for rel in sorted(set(expected) - set(listed)):
            found.problems.append(f"backup copy {rel} is in no backup manifest")


def _check_source(
    found: Findings,
    source: Source,
    rows: list[Row],
    by_path: Mapping[str, Row],
    removals: list[dict[str, object]],
    copy_ok: CopyOk,
    hashes: _Hashes,
) -> None:
    now = card_files(source.root)
    rows_by_sha: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        rows_by_sha[row.sha256].append(row)
    for rel in sorted(set(now) - set(source.photos)):
        found.problems.append(f"{source.root}: unexpected file on the card: {rel}")
    for photo in source.photos.values():
        found.photos += 1
        present = now.get(photo.path)
        state = hashes.of(present) if present is not None else None
        on_card = state == (photo.size, photo.sha256)
        if present is not None and not on_card:
            found.problems.append(f"{photo.path} changed on the card (cardingest never writes)")
        archived = any(
            names_file(row.source_path, photo.path) and copy_ok(row)
            for row in rows_by_sha.get(photo.sha256, [])
        )
        found.on_card += on_card
        found.archived += archived
        if not on_card and not archived:
            found.lost.append(f"{photo.path} ({photo.sha256[:12]}…)")
        if present is None and not _proven_removal(photo, removals, by_path, copy_ok):
            found.wiped_unverified.append(f"{photo.path} ({photo.sha256[:12]}…)")


def _proven_removal(
    photo: Photo,
    removals: list[dict[str, object]],
    by_path: Mapping[str, Row],
    copy_ok: CopyOk,
) -> bool:
    """An audited wipe-remove of this photo whose row and copies prove its bytes now."""
    for event in removals:
        if event.get("source") != photo.path or event.get("sha256") != photo.sha256:
            continue
        row = by_path.get(str(event.get("archive_path")))
        if row is not None and row.sha256 == photo.sha256 and copy_ok(row):
            return True
    return False
