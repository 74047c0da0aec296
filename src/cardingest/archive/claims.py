"""One photo, one patient, across desks: content claims in PostgreSQL at publish time.

The planner holds a photo whose content is already filed under another patient, but it
sees only committed catalogue rows. With PostgreSQL several desks ingest into one archive
at once, each holding only its own patients' locks, so two desks given the same photos for
two patients both plan before either records a row, and both would file them. Rows are
also written in batches (50 files or 2 s), so a photo published by one desk is unknown to
the others for a while.

So, with PostgreSQL, each photo claims its content for its patient right before it gets its
final name (`ContentGate.enter`): in a transaction of its own, under an advisory lock on
the content, it looks for a catalogue row or a claim of another running ingest with the
same SHA-256 under another patient; if there is one, the photo is held (`Held`), as the
planner holds it, else the claim is committed and the photo published. A claim lives until
its ingest ends, by which time its rows are committed. Claims of an ingest whose desk died
(its connection, and with it its advisory lock ``ingest\\0ID``, gone) count for nothing and
are removed. SQLite needs none of this: there one ingest holds the archive's lock file
from its planning to its end, so the planner saw every row there will be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..models import PlanItem
from ..storage.durable import remove_empty_folders
from ..storage.transfer import ContentGate, Held
from .backend import location_for

if TYPE_CHECKING:  # psycopg loads only for a PostgreSQL catalogue
    from .pgclaims import ContentClaims


@contextmanager
def content_claims(roots: Sequence[Path], ingest_id: str) -> Iterator[ContentClaims | None]:
    """An ingest's claims, for its whole run (None with SQLite, which needs none).

    ``roots``: the archive, then the backup if any. At the end the folders that a held photo's
    temporary files made and that are still empty are removed (`verify` would call them
    unexpected); every copy worker has finished by then.
    """
    url = location_for(roots[0]).url
    if url is None:
        yield None
        return
    from .pgclaims import ContentClaims

    claims = ContentClaims(url, roots[0], ingest_id)
    try:
        yield claims
    finally:
        claims.close()
        remove_empty_folders(
            (Path(root, *target.split("/")[:-1]) for target in claims.held for root in roots),
            roots,
        )


class ClaimingGate:
    """A `ContentGate` that claims each photo's content before it is published.

    ``inner`` (the ingest's own gate) first settles the same content twice for one patient
    (a ``skip``); only a photo about to be published is claimed. A held photo holds the rest
    of its shot (RAW twin, sidecars) that is not yet published, as the planner holds a shot.
    """

    def __init__(
        self,
        inner: ContentGate,
        claims: ContentClaims,
        item_of: Callable[[Path], PlanItem | None],
        *,
        check: bool,
    ) -> None:
        self._inner = inner
        self._claims = claims
        self._item_of = item_of
        self._check = check
        self._held: dict[str, str] = {}
        """Shot (its photo's card path) -> why it is held."""

    def claim(self, source: Path, sha256: str) -> None:
        self._inner.claim(source, sha256)

    def enter(self, source: Path, sha256: str) -> str | None:
        item = self._item_of(source)
        if item is not None and (held := self._held.get(item.timed.path)) is not None:
            self._claims.held.append(item.target or "")
            raise Held(held)
        existing = self._inner.enter(source, sha256)
        if existing is not None or item is None or item.patient_id is None:
            return existing
        # A sidecar is claimed too, never checked (a camera writes the same XMP for many
        # shots): its claim is what lets a dead run's journal line for it be recorded.
        check = self._check and not item.sidecar
        reason = self._claims.claim(sha256, item.patient_id, item.target or "", check=check)
        if reason is not None:
            self._held.setdefault(item.timed.path, reason)
            self._claims.held.append(item.target or "")
            raise Held(reason)
        return None

    def leave(self, source: Path, sha256: str, relpath: str | None) -> None:
        self._inner.leave(source, sha256, relpath)


def guarded(
    gate: ContentGate | None,
    claims: ContentClaims | None,
    item_of: Callable[[Path], PlanItem | None],
    *,
    allow_other_patient: bool,
) -> ContentGate | None:
    """``gate``, claiming content first where there are claims (PostgreSQL); ``item_of``
    gives the plan item of a card file. With ``allow_other_patient`` the photos are claimed
    (other desks see them) but never held."""
    if claims is None or gate is None:
        return gate
    return ClaimingGate(gate, claims, item_of, check=not allow_other_patient)
