"""Whether the coreutils manifests say what the catalogue says.

The manifests are the archive's proof without cardingest (``sha256sum -c``). `verify` hashes
the copies against the catalogue; this compares the manifests with it, line by line: a
catalogued copy a manifest leaves out (or lists with another digest) goes unchecked by
``sha256sum -c``, and a line for a file the catalogue does not have fails it.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..storage import ondisk
from .manifest import manifest_path, read_manifest


@dataclass(frozen=True)
class ManifestFault:
    """One way a manifest disagrees with the catalogue: ``path`` is the copy's (relative
    to the archive for its own copies, in full for a backup's) or, where the manifest
    itself is missing or unreadable, the manifest's."""

    root: Path
    ingest_id: str
    path: str
    detail: str

    @property
    def manifest(self) -> Path:
        """The manifest that disagrees."""
        return manifest_path(self.root, self.ingest_id)


@dataclass
class ExpectedManifests:
    """What each manifest should list: ingest ID and folder (the archive, or a backup
    folder) -> each catalogued copy's path relative to that folder -> its SHA-256."""

    archive: Path
    copies: dict[tuple[Path, str], dict[str, str]] = field(default_factory=dict)

    def add(self, root: Path, ingest_id: str, copy: Path, sha256: str) -> None:
        try:
            rel = copy.relative_to(root).as_posix()
        except ValueError:
            return  # a copy that lies under no root names no manifest line
        self.copies.setdefault((root, ingest_id), {})[rel] = sha256

    def cover(self, roots: Collection[Path], ingest_ids: Collection[str]) -> None:
        """Look at these ingests' manifests in these folders too, where they list no
        catalogued copy of what was looked at: a line there the catalogue does not have."""
        for root in roots:
            for ingest_id in ingest_ids:
                self.copies.setdefault((root, ingest_id), {})

    def faults(
        self,
        unfinished: Collection[str],
        ignored: Collection[str],
        folders: list[str] | None,
        ignored_sha256: Collection[str] = (),
    ) -> Iterator[ManifestFault]:
        """Every disagreement, but for the ``unfinished`` ingests (running, or stopped until
        the next run's recovery writes their manifests from their rows) and for lines that
        name ``ignored`` paths or list ``ignored_sha256`` digests (damaged records, listed on
        their own: a row whose path was edited leaves its photo's line naming no row). With
        ``folders`` (one patient's), lines the catalogue does not have, and lines listed
        twice, count only inside them."""
        for (root, ingest_id), expected in sorted(self.copies.items()):
            if not ingest_id or ingest_id in unfinished:
                continue
            if root != self.archive and not ondisk.is_dir(root):
                continue  # a backup not connected: said as such
            yield from self._of(root, ingest_id, expected, ignored, folders, ignored_sha256)

    def _of(
        self,
        root: Path,
        ingest_id: str,
        expected: dict[str, str],
        ignored: Collection[str],
        folders: list[str] | None,
        ignored_sha256: Collection[str],
    ) -> Iterator[ManifestFault]:
        try:
            path = manifest_path(root, ingest_id)
        except ValueError:
            return
        shown = self._shown(root, path.relative_to(root).as_posix())
        try:
            lines = read_manifest(path)
        except FileNotFoundError:
            if not expected:
                return
            whose = "" if folders is None else " of the patient's"
            detail = (
                f"missing: ingest {ingest_id} has {len(expected)}{whose} catalogued copy(ies) here"
            )
            yield ManifestFault(root, ingest_id, shown, detail)
            return
        except (OSError, ValueError) as exc:
            yield ManifestFault(root, ingest_id, shown, f"cannot be read: {exc}")
            return
        listed: dict[str, str] = {}
        for sha256, rel in lines:
            if rel in listed and in_folders(rel, folders):
                yield ManifestFault(
                    root, ingest_id, self._shown(root, rel), f"listed twice in {shown}"
                )
            listed[rel] = sha256
        for rel, sha256 in expected.items():
            if rel not in listed:
                yield ManifestFault(
                    root, ingest_id, self._shown(root, rel), f"catalogued, not in {shown}"
                )
            elif listed[rel] != sha256:
                detail = f"in {shown} with sha256 {listed[rel][:16]}…, catalogued {sha256[:16]}…"
                yield ManifestFault(root, ingest_id, self._shown(root, rel), detail)
        for rel, sha256 in listed.items():
            damaged = self._shown(root, rel) in ignored or sha256 in ignored_sha256
            if rel not in expected and in_folders(rel, folders) and not damaged:
                detail = f"in {shown}, but the catalogue has no such copy of ingest {ingest_id}"
                yield ManifestFault(root, ingest_id, self._shown(root, rel), detail)

    def _shown(self, root: Path, rel: str) -> str:
        return rel if root == self.archive else os.path.join(root, rel)


def in_folders(rel: str, folders: list[str] | None) -> bool:
    """Whether an archive-relative path is one of ``folders`` or inside one (any, without)."""
    return folders is None or any(
        rel == folder or rel.startswith(folder + "/") for folder in folders
    )
