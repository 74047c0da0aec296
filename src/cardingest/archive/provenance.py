"""What the catalogue and the audit log keep of where the photos came from."""

from __future__ import annotations

import hashlib
import os

from ..models import Card


def recorded_source(source: str, card: Card | None) -> str:
    """What the catalogue and the audit log keep of where the photos came from.

    A card's mount point is kept (it is named after the volume). A plain folder is kept only
    as a digest of its path: clinics name folders after patients, and these records are kept
    for years. The same folder always gives the same digest, so runs can still be matched.
    """
    return source if card is not None else recorded_folder(source)


def recorded_folder(path: str) -> str:
    """A folder as the records keep it: a digest of its path, never its name (clinics name
    folders after patients: a card copied off, a share or DICOM export for a referral)."""
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
    return f"folder sha256:{digest}"
