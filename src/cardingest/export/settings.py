"""DICOM settings from the config: the UID root, the issuer of patient IDs and the PACS.

Kept free of pydicom so that reading the config stays quick for every command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

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
    """The STOW-RS URL without any user name or password (those are in ``stow_auth``)."""
    timeout: float = DEFAULT_TIMEOUT
    stow_auth: tuple[str, str] | None = field(default=None, repr=False)
    """(user, password) for HTTP basic authentication, from the ``stow_url`` of the config."""

    @property
    def destination(self) -> str:
        """Where photos go, as recorded in the catalogue: ``AE@host:port`` or the STOW URL."""
        if self.stow_url:
            return self.stow_url
        return f"{self.ae_title}@{self.host}:{self.port}"


_SECRET_NAME = (
    r"(?:[\w.-]*(?:password|passwd|token|apikey|api[_-]key|jwt|bearer|credentials?|signature"
    r"|sessionid)|[\w.-]*secret[\w.-]*|pwd|pw|pass|code|session|key|auth|sig)"
)
_SECRET_SETTING = re.compile(
    rf"(?:[?&;/#]\s*({_SECRET_NAME})\s*=|[?&#]\s*({_SECRET_NAME})\s*:|/(bearer)\s)",
    re.IGNORECASE,
)
"""A setting that holds a secret, in the query, the path's parameters or the fragment, the
URL percent-decoded first (``?to%6Ben=`` is ``?token=`` to the server): ``?password=``,
``?access_token=``, ``;jsessionid=``, ``#api_key=``, ``?jwt:``, ``?code=``…; a name that
only holds such a word (``institution_code``, ``keyword``, ``sessiondate``, ``tokenized``)
is none: the word ends the name (``access_token``), or is the whole of it (``code``). Its
name is said, never its value."""


def split_stow_url(url: str) -> tuple[str, tuple[str, str] | None]:
    """``http(s)://USER:PASSWORD@host…`` as (the URL without them, (user, password)), both
    percent-decoded; a URL without user info as (itself, None). Raises ValueError with a
    reason that never repeats the URL (it may hold a password)."""
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    try:
        parts = urlsplit(url)
        readable = bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a bracket left open, or a port that is not a number
        readable = False
    # an @ past the host: a password's unescaped / ? or # ended the host before it
    if not readable or "@" in url[len(parts.scheme) + 3 + len(parts.netloc) :]:
        raise ValueError(
            "cannot be read as http(s)://[USER:PASSWORD@]HOST[:PORT]/PATH (a user name or "
            "password holding @, :, /, ?, # or % must be percent-encoded: @ as %40, : as %3A, "
            "/ as %2F)"
        )
    if any(char.isspace() or not char.isprintable() for char in url):
        raise ValueError("holds a space or a control character: percent-encode it (%20)")
    after_host = unquote(url[len(parts.scheme) + 3 + len(parts.netloc) :])
    secret = _SECRET_SETTING.search(after_host)
    if secret:
        name = next(group for group in secret.groups() if group)
        raise ValueError(
            f"holds what looks like a secret after its host ({name}…): the URL is "
            "shown in messages and recorded with every send, so it would be too. Give a user "
            "name and password as http(s)://USER:PASSWORD@HOST/… instead (never shown)"
        )
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if re.search(r"%(?![0-9A-Fa-f]{2})", userinfo):
        raise ValueError(
            "has a % in its user name or password that starts no percent-encoding: write a "
            "% itself as %25"
        )
    user, _, password = userinfo.partition(":")
    plain = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return plain, (unquote(user), unquote(password))


DICOM_ROOT = "1.2.840.10008"


def check_uid_root(root: str) -> str:
    """The UID root, checked; raises ValueError with the reason."""
    root = root.strip().rstrip(".")
    if not _ROOT.match(root) or root[0] not in "012":
        raise ValueError(
            f"dicom_uid_root {root!r} is not a UID root: digits in dot-separated parts,"
            " no leading zeros, starting with 0, 1 or 2 (e.g. 1.2.826.0.1.3680043.10.1234)"
        )
    if root == DICOM_ROOT or root.startswith(DICOM_ROOT + "."):
        raise ValueError(
            f"dicom_uid_root {root!r} lies under {DICOM_ROOT}, which DICOM keeps for the UIDs"
            " its standard defines: use your organisation's root, or leave the setting out"
        )
    if len(root) > MAX_ROOT_LENGTH:
        raise ValueError(
            f"dicom_uid_root {root!r} is longer than {MAX_ROOT_LENGTH} characters; UIDs derived"
            " from it would have too few digits left of the 64 allowed"
        )
    return root
