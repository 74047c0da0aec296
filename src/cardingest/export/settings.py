"""DICOM settings from the config: the UID root, the issuer of patient IDs and the PACS.

Kept free of pydicom so that reading the config stays quick for every command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_UID_ROOT = "2.25"
"""UUID-derived UIDs (PS3.5 B.2): no organisation root needed."""
MAX_ROOT_LENGTH = 40
_ROOT = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
DEFAULT_CALLING_AE = "CARDINGEST"
DEFAULT_TIMEOUT = 30.0

ISSUERS = {"nhi": "NHI", "nhs": "NHS", "ihi": "IHI", "medicare": "Medicare"}
"""Issuer of Patient ID by ID scheme when the config does not name one."""


@dataclass(frozen=True)
class DicomOptions:
    uid_root: str = DEFAULT_UID_ROOT
    issuer: str | None = None


@dataclass(frozen=True)
class PacsConfig:
    """The ``[pacs]`` table of the config."""

    host: str | None = None
    port: int | None = None
    ae_title: str | None = None
    calling_ae_title: str = DEFAULT_CALLING_AE
    stow_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def destination(self) -> str:
        """Where photos go, as recorded in the catalogue: ``AE@host:port`` or the STOW URL."""
        if self.stow_url:
            return self.stow_url
        return f"{self.ae_title}@{self.host}:{self.port}"


def check_uid_root(root: str) -> str:
    """The UID root, checked; raises ValueError with the reason."""
    root = root.strip().rstrip(".")
    if not _ROOT.match(root) or root[0] not in "012":
        raise ValueError(
            f"dicom_uid_root {root!r} is not a UID root: digits in dot-separated parts,"
            " no leading zeros, starting with 0, 1 or 2 (e.g. 1.2.826.0.1.3680043.10.1234)"
        )
    if len(root) > MAX_ROOT_LENGTH:
        raise ValueError(
            f"dicom_uid_root {root!r} is longer than {MAX_ROOT_LENGTH} characters; UIDs derived"
            " from it would have too few digits left of the 64 allowed"
        )
    return root
