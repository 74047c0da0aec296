"""The UIDs cardingest gives a photo's DICOM instance, study and series: derived from what
they are of, so the same photo sent again goes under the same UID.

Free of pydicom, so that a `move` can tell which instance a PACS holds without loading it.
"""

from __future__ import annotations

import hashlib
import uuid

from .settings import DEFAULT_UID_ROOT

_NAMESPACE = uuid.UUID("6f1c3c5e-1c0b-5d7c-9a53-63617264696e")


def derive(root: str, kind: str, *parts: str) -> str:
    """A deterministic UID for ``kind`` (instance, study, series) of ``parts``."""
    name = "\x1f".join(("cardingest", kind, *parts))
    if root == DEFAULT_UID_ROOT:
        return f"2.25.{uuid.uuid5(_NAMESPACE, name).int}"
    digits = str(int(hashlib.sha256(name.encode("utf-8")).hexdigest(), 16))
    return f"{root}.{digits}"[:64]


def instance(root: str, patient_id: str, sha256: str) -> str:
    """The SOP Instance UID of a photo: from its ID and the sha256 of the archived file."""
    return derive(root, "instance", patient_id, sha256.lower())
