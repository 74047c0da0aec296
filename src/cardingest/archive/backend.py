"""Where an archive's catalogue lives: SQLite in ``.cardingest/`` (the default) or PostgreSQL.

The CLI binds each archive it opens to a :class:`CatalogueLocation` (from ``--catalogue``,
``$CARDINGEST_CATALOGUE`` or the config); the catalogue, the audit log and the locks ask
:func:`location_for` which backend to use, so the use cases below the CLI stay the same for
both. An archive nobody bound uses SQLite, as before.

SQLite refuses an archive on a network file system (NFS, SMB/CIFS, sshfs and other FUSE
network mounts): SQLite's own documentation says its locking, and WAL above all, does not
work there. ``single_workstation = true`` says only one machine ever writes there; then the
catalogue uses a rollback journal instead of WAL and the lock file is kept.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import ArchiveError, CatalogueError, ConfigError, UsageError
from ..models import ARCHIVE_ID_NAME, CATALOGUE_NAME, MANIFEST_DIR, METADIR
from ..storage import identity, ondisk
from ..storage import mounts as mount_table
from ..text import some_of

MIGRATED_TABLE = "migrated_to"
"""The table a SQLite catalogue moved to PostgreSQL holds its new URL in."""

POSTGRES_SCHEMES = ("postgresql", "postgres")

NETWORK_FSTYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "davfs",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.davfs2",
        "fuse.gvfsd-fuse",
        "fuse.s3fs",
        "fuse.glusterfs",
        "fuse.cephfs",
        "fuse.smbnetfs",
        "fuse.curlftpfs",
        "webdav",
    }
)
"""File system types (as the mount table names them) that live on another machine."""


@dataclass(frozen=True)
class CatalogueLocation:
    """``url`` None: SQLite in the archive; else a ``postgresql://`` URL."""

    url: str | None = None
    single_workstation: bool = False
    source: str = "default"

    @property
    def postgres(self) -> bool:
        return self.url is not None


_BOUND: dict[Path, CatalogueLocation] = {}


def _key(archive: Path) -> Path:
    return Path(os.path.abspath(archive))


def bind(archive: Path, location: CatalogueLocation) -> None:
    """Use ``location`` for ``archive`` from now on in this process."""
    _BOUND[_key(archive)] = location


def location_for(archive: Path) -> CatalogueLocation:
    return _BOUND.get(_key(archive), CatalogueLocation())


_KEY_VALUE = re.compile(r"^\s*[A-Za-z_]+\s*=")
"""The start of a libpq ``key=value`` connection string (``host=… password=…``)."""


def check_url(url: str, where: str) -> str:
    """A PostgreSQL URL as given, or a ConfigError naming where it came from.

    A libpq ``key=value`` connection string is refused (exit 2) without being repeated: the
    catalogue is always a URL (README "Several workstations"), which is what is redacted,
    compared and recorded, and any libpq setting fits in one as ``?key=value``."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:  # "Invalid IPv6 URL": a bracket left open
        raise ConfigError(
            f"{where}: the catalogue URL cannot be read ({scrubbed(str(exc), url)}); it is "
            "postgresql://USER:PASSWORD@HOST/DATABASE"
        ) from None
    if _KEY_VALUE.match(url):  # a URL's scheme never holds "=": this is key=value
        raise ConfigError(
            f"{where}: the catalogue must be a postgresql:// URL, not a key=value connection "
            "string (host=… user=… password=…)",
            details=[
                "Write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE (a password holding "
                "@, :, /, ?, # or % percent-encoded: @ as %40, : as %3A); other settings go "
                "after a ?, e.g. ?sslmode=require."
            ],
        )
    if scheme not in POSTGRES_SCHEMES:
        raise ConfigError(
            f"{where}: catalogue must be a postgresql:// URL (got {redact(url)!r}); "
            "leave it out to keep the SQLite catalogue in the archive"
        )
    why = _unusable(url)
    if why is not None:
        raise ConfigError(
            f"{where}: the catalogue URL {redact(url)} cannot be read: {scrubbed(why, url)}; "
            "it is postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    return url


def _unusable(url: str) -> str | None:
    """Why libpq cannot use ``url`` whatever the server does, or None: it cannot parse it (a
    space, a bad ``%``, an unknown ``?key``), or what it reads as a port is no port number or
    a host holds an ``@`` (an ``@`` or ``:`` left unescaped in the password ends it early)."""
    import psycopg  # loaded only when a catalogue URL is given

    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for port in str(parts.get("port") or "").split(","):
        if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            return f"port {port!r} is not a number from 1 to 65535"
    for host in str(parts.get("host") or "").split(","):
        if "@" in host:
            return f"host {host!r} holds an @"
    return None


def _userinfo(url: str) -> tuple[int, int] | None:
    """Where the password of a ``scheme://user:password@host…`` URL lies (start, end), found
    as libpq finds it: up to the last ``@``, so that a ``?``, ``#``, ``/`` or ``@`` left
    unescaped in it is still taken for part of the password (``urlsplit`` would end it at
    the first ``?`` or ``#`` and see none)."""
    scheme_end = url.find("://")
    if scheme_end < 0:
        return None
    start = scheme_end + 3
    at = url.rfind("@", start)
    if at < 0:
        return _no_at(url, start)
    colon = url.find(":", start, at)
    if colon < 0:  # `user;password@`: a shift key missed, the rest is still the password
        slip = re.search(r"[;,= ]|%3[aA]", url[start:at])
        return (start + slip.end(), at) if slip else None
    return (colon + 1, at)


def _no_at(url: str, start: int) -> tuple[int, int] | None:
    """A URL whose ``@`` was left out (``postgresql://u:PW/db``, ``u:PW:host:5432``): its
    hosts and ports are read from after ``start`` to the path; where they are not plainly
    ``host[:port]`` (comma-separated), all after the first ``:`` may be a password."""
    end = len(url)
    for stop in "/?#":
        found = url.find(stop, start)
        end = found if 0 <= found < end else end
    hosts = url[start:end]
    if ":" not in hosts or all(_HOST_PORT.fullmatch(part) for part in hosts.split(",")):
        return None
    return start + hosts.index(":") + 1, end


_HOST_PORT = re.compile(r"(?:\[[0-9A-Fa-f:.]*(?:%25\w+)?\]|[\w.-]*)(?::\d*)?")
"""A host (a name, an IPv4 or a bracketed IPv6 address, with its zone) with its port."""
_LOOSE_SECRET = re.compile(
    r"(?:[?&;#]|\s)\s*((?:ssl)?pass(?:word|wd)?|pwd)\s*(?:[:= ]|%3[dD])\s*([^&#\s]*)",
    re.IGNORECASE,
)
"""A password setting typed loosely: ``?password:PW``, ``?pwd=PW``, ``#password=PW``,
``?password%3DPW``, or after a space in place of the ``?`` (``…/db password=PW``)."""


_URL_START = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.-]*://")
_QUERY_SETTING = re.compile(r"[?&]([^?&=#]*)=([^&]*)")
"""A ``?key=value`` or ``&key=value`` of a URL's query; libpq reads it up to the next ``&``."""
_KEY_VALUE_SETTING = re.compile(
    r"(?<![^\s])([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'?|(?:[^\s\\]|\\.)+)", re.DOTALL
)
"""A ``key=value`` of a libpq connection string: the value bare, or quoted with '…'."""


_PLAIN_SETTINGS = frozenset(
    {
        *("host", "hostaddr", "port", "dbname", "user", "passfile", "channel_binding"),
        *("connect_timeout", "client_encoding", "options", "application_name"),
        *("fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval"),
        *("keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode"),
        *("sslnegotiation", "sslcompression", "sslcert", "sslkey", "sslcertmode", "sslrootcert"),
        *("sslcrl", "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version"),
        *("ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation", "service"),
        *("target_session_attrs", "load_balance_hosts", "require_auth"),
        *("min_protocol_version", "max_protocol_version"),
    }
)
"""libpq's settings that hold no secret: the value of any other key (``password``,
``sslpassword``, and a key libpq does not know, which is as likely ``?passwrd=`` or
``?pw=`` mistyped as anything) is not shown."""


def _secret_key(key: str) -> bool:
    """A setting whose value may be a secret: any but `_PLAIN_SETTINGS`, in any case and
    however percent-encoded (libpq decodes a URL's keys)."""
    return unquote(key).strip().lower() not in _PLAIN_SETTINGS


_MISTYPED_START = re.compile(r"^\s*(?:[A-Za-z][A-Za-z0-9+.-]*:?)?[/\\]*")
"""A scheme typed wrong (``postgresql:/``, ``postgresql//``, ``postgresql:\\``, ``postgresql:``)."""


def _mistyped_userinfo(url: str) -> list[tuple[int, int]]:
    """A URL with its ``://`` mistyped still holds its password where the user put it: after
    the user name's ``:``, up to the last ``@`` (its query's, `_secret_spans` finds)."""
    start = _MISTYPED_START.match(url)
    at = url.rfind("@")
    if start is None or at <= start.end():
        return []
    colon = url.find(":", start.end(), at)
    if colon < 0:  # `u:PW@h/db`: no scheme, its user name's colon taken for one's
        colon = url.find(":", 0, at)
    return [(colon + 1, at)] if colon >= 0 else []


def _secret_spans(url: str) -> list[tuple[int, int]]:
    """Where ``url`` holds a password (start, end), in order, overlaps merged: the user
    info's and a ``?password=`` query setting of a URL, or a ``password=`` setting of a
    libpq key=value connection string."""
    spans: list[tuple[int, int]] = []
    where = None
    if _URL_START.match(url):
        where = _userinfo(url)
        if where is not None:
            spans.append(where)
    else:
        spans += [m.span(2) for m in _KEY_VALUE_SETTING.finditer(url) if _secret_key(m.group(1))]
        spans += _mistyped_userinfo(url)
    after = where[1] if where is not None else 0  # a "?" inside the password is no query
    spans += [
        m.span(2)
        for m in _QUERY_SETTING.finditer(url)
        if m.start() >= after and _secret_key(m.group(1))
    ]
    spans += [m.span(2) for m in _LOOSE_SECRET.finditer(url)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def redact(url: str) -> str:
    """The URL (or connection string) without its passwords, for messages, output and
    anything stored: each becomes ``***``."""
    shown, last = [], 0
    for start, end in _secret_spans(url):
        shown += [url[last:start], "***"]
        last = end
    return "".join(shown) + url[last:]


def has_password(url: str) -> bool:
    """Whether ``url`` holds a password (in its user info or a ``?password=`` setting)."""
    return bool(_passwords(url))


def _passwords(url: str) -> set[str]:
    """Each password in ``url``, as written and percent-decoded."""
    found = {url[start:end] for start, end in _secret_spans(url)}
    found |= {unquote(text) for text in found}
    return {text.strip("'") for text in found} - {""}


PRIVILEGE_DENIED = "42501"
"""PostgreSQL's SQLSTATE insufficient_privilege ("permission denied for schema …")."""


def role_denied(where: str, role: str | None, reason: str) -> ConfigError:
    """A database role that may not use the archive's schema or tables: a setup problem of
    the role's permissions (README "Setting up the database"), not of the server."""
    who = f"The database role {role}" if role else "This database role"
    return ConfigError(
        f"{who} may not use the archive's tables in {where}: {reason}",
        details=[
            "This is a permissions problem of the database role, not of the server or the "
            'network. The usual cause: the ALTER DEFAULT PRIVILEGES lines of "Setting up the '
            'database" (README.md) were run while connected to another database (postgres), '
            "so they did nothing here. Run them again connected to this one (\\c NAME); for "
            "the archives made already, also the GRANT lines the README gives after them.",
            "Or this archive is new, and a desk's role cannot make it: make each archive "
            "once with the owner's URL (its first ingest, with --catalogue OWNER-URL); then "
            "the desks use it.",
        ],
    )


SERVER_GONE = (
    "the server was stopped or restarted, ended this workstation's session "
    "(pg_terminate_backend), or the network between them failed"
)
"""What a connection lost mid-command can mean: the desk cannot tell which."""
SERVER_ADVICE = (
    "Check that the catalogue's server is running and that this workstation reaches it "
    "(whoever looks after it), then run the same command again."
)


def catalogue_lost(where: str, reason: str) -> CatalogueError:
    """A catalogue whose PostgreSQL connection is gone mid-command (``reason``: the driver's
    line): the server named, what may have happened, what to do. The command says what it
    had done by then (`CardingestError.stopped_midway`)."""
    return CatalogueError(
        f"The catalogue server {where} stopped answering ({reason}): {SERVER_GONE}",
        details=[SERVER_ADVICE],
    )


def scrubbed(text: str, url: str) -> str:
    """``text`` (a database driver's message), unless it repeats a piece of the URL's
    password: the driver reads an unescaped ``@`` or ``:`` or a bad ``%`` differently, and
    quotes what it could not parse."""
    passwords = _passwords(url)
    pieces = {p for pw in passwords for p in re.split(r"[@:/?#%&=' \[\]\"]+", pw) if len(p) >= 2}
    if any(_shown(piece, text) for piece in pieces | passwords):
        return (
            "the URL could not be used as given, and the reason would show what may be its "
            "password (check that a port is a number, that a password comes before an @, and "
            "that one holding @, :, /, ?, # or % is percent-encoded: @ as %40, : as %3A)"
        )
    return text


_SHORT = 6
"""A piece of a password shorter than this is looked for as a word of its own: a password
of one letter is in every message, and every message was then taken for one showing it."""


def _shown(piece: str, text: str) -> bool:
    if len(piece) >= _SHORT:
        return piece in text
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(piece)}(?![A-Za-z0-9])", text) is not None


def catalogue_path(archive: Path) -> Path:
    """The SQLite catalogue's place in the archive (which may not exist yet)."""
    return Path(archive) / METADIR / CATALOGUE_NAME


def audit_log_path(archive: Path) -> Path:
    """The audit log file's place in the archive (for a SQLite catalogue)."""
    return Path(archive) / METADIR / "audit.jsonl"


def refuse_lost(archive: Path) -> None:
    """Refuse an archive whose SQLite catalogue is gone or empty while its audit log or its
    manifests record earlier ingests: a new catalogue would not know the photos already
    filed there, so the same photo could be filed again, even under another patient. Both
    are asked, since a trial's archive that had lost its catalogue and its audit log was
    taken for a new one."""
    path = catalogue_path(archive)
    with suppress(OSError):
        if ondisk.is_file(path) and path.stat().st_size:
            return
    state = "empty" if os.path.lexists(path) else "missing"
    with suppress(OSError):
        if audit_log_path(archive).stat().st_size:
            raise CatalogueError(
                f"The catalogue {path} is {state}, but the audit log beside it records earlier "
                "ingests: the record of which photos this archive holds, and for whom, is "
                "gone. Restore catalogue.sqlite from the archive's backup and run the command "
                "again; nothing was changed"
            )
    if not ondisk.is_dir(archive / METADIR / MANIFEST_DIR):
        return  # a new archive: the preview of one imports no manifest code
    from .manifest import manifested_ingests

    if ingests := manifested_ingests(archive):
        raise CatalogueError(
            f"The catalogue {path} is {state}, but the archive holds the manifests of "
            f"{len(ingests)} earlier ingest(s) ({archive / METADIR / MANIFEST_DIR}): the "
            "record of which photos this archive holds, and for whom, is gone. Restore "
            "catalogue.sqlite from the archive's backup and run the command again; nothing "
            "was changed"
        )


def refuse_emptied(archive: Path, ingests: Sequence[dict]) -> None:
    """Refuse a catalogue with no photo records whose ingests say they copied photos: its
    records were deleted (by hand, or a tool), so the same photos could be filed again under
    another patient, as with a catalogue gone (`refuse_lost`)."""
    copied = sum(
        n for i in ingests if isinstance(n := (i["counts"] or {}).get("copied"), int) and n > 0
    )
    if copied:
        raise CatalogueError(
            f"The catalogue of {archive} holds no photo records, but its ingests record "
            f"{copied} photo(s) copied: the record of which photos this archive holds, and "
            "for whom, is gone. Restore the catalogue from the archive's backup (or the "
            "database's) and run the command again; nothing was changed"
        )


def refuse_unknown_ingests(archive: Path, ingests: Sequence[dict]) -> None:
    """Refuse a catalogue that does not know ingests whose manifests the archive holds (each
    is written from its ingest's catalogue rows, after the ingest is recorded): a copy of
    the archive's database (a restored or staging one) given as ``--catalogue``, or a
    catalogue restored from a backup older than them. It would not know the photos those
    ingests filed, so the same card could be filed again, under another patient: a trial's
    second desk did, and wiped the card, with no word."""
    from .manifest import manifested_ingests  # and its durable writes: not for `cards`

    known = {str(ingest["ingest_id"]) for ingest in ingests}
    unknown = [ingest for ingest in manifested_ingests(archive) if ingest not in known]
    if not unknown:
        return
    raise CatalogueError(
        f"The catalogue of {archive} does not know {len(unknown)} of the ingests whose "
        f"manifests the archive holds (the last {unknown[-1]}): it is not the archive's "
        "catalogue as it is now, but a copy of its database, or one restored from a backup "
        "older than them. It does not know the photos they filed, so the same card could be "
        "filed again, under another patient. Nothing was changed",
        details=[
            "Check --catalogue (or the config and $CARDINGEST_CATALOGUE): every desk uses "
            "the archive's one catalogue",
            "A catalogue restored from a backup lacks what was filed since: restore a newer "
            "one. If there is none, move the manifests of those ingests out of "
            f"{Path(archive) / METADIR / 'manifests'} (not one is lost: each lists what its "
            "ingest filed); the catalogue then goes on without them, and `cardingest "
            "verify` lists the photos they filed as not catalogued, for a person to check",
            f"unknown ingest(s): {some_of(unknown, 10)}",
        ],
    )


def mount_of(path: Path) -> tuple[str, str] | None:
    """(file system type, mount point) of the mount holding ``path``, from the mount table."""
    real = os.path.realpath(identity.nearest_existing(path))
    best: tuple[str, str] | None = None
    try:
        partitions = mount_table.mounts()
    except (OSError, RuntimeError):
        return None
    for part in partitions:
        point = part.mountpoint
        inside = real == point or real.startswith(point.rstrip(os.sep) + os.sep)
        if inside and (best is None or len(point) > len(best[1])):
            best = (part.fstype.lower(), point)
    return best


IN_MEMORY_FSTYPES = frozenset({"tmpfs", "ramfs"})
SYSTEM_FSTYPES = frozenset(
    {
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "debugfs",
        "tracefs",
        "securityfs",
        "pstore",
        "bpf",
        "configfs",
        "fusectl",
        "mqueue",
        "hugetlbfs",
        "efivarfs",
        "binfmt_misc",
    }
)
"""File systems that show the running system (processes, devices, kernel settings): they
hold no files, and what is written there is a setting, not a copy."""


def system_view(path: Path) -> tuple[str, str] | None:
    """(file system type, mount point) when ``path`` (or where it would be made) lies on one
    of `SYSTEM_FSTYPES` (/proc, /sys, /dev), else None."""
    found = mount_of(path)
    return found if found is not None and found[0] in SYSTEM_FSTYPES else None


MODELESS_FSTYPES = frozenset(
    {"vfat", "msdos", "exfat", "fuseblk", "fuse.fusefat", "fuse.exfat", "fuse.exfat-fuse"}
)
"""File systems that keep no Unix owners or modes (FAT, exFAT: USB drives and cards; fuseblk
is exfat-fuse's or ntfs-3g's): their mount options decide who may read or change them."""


def modeless_fstype(path: Path) -> str | None:
    """The type of the file system without Unix modes ``path`` lies on, or None."""
    found = mount_of(path)
    return found[0] if found is not None and found[0] in MODELESS_FSTYPES else None


def memory_fstype(path: Path) -> str | None:
    """The in-memory file system type (tmpfs, ramfs) ``path`` lies on, or None: whatever is
    written there is gone at the next restart."""
    found = mount_of(path)
    return found[0] if found is not None and found[0] in IN_MEMORY_FSTYPES else None


def network_fstype(path: Path) -> str | None:
    """The network file system type ``path`` lies on, or None for a local disk."""
    found = mount_of(path)
    if found is None:
        return None
    fstype = found[0]
    if fstype in NETWORK_FSTYPES or fstype.startswith(("nfs", "smb", "cifs")):
        return fstype
    return None


def refuse_network(archive: Path) -> None:
    """SQLite with WAL on a network file system corrupts: refuse it (exit 2) with advice."""
    fstype = network_fstype(archive)
    if fstype is None:
        return
    raise ConfigError(
        f"The archive {archive} is on a network file system ({fstype}); a SQLite catalogue"
        " there can be corrupted when more than one machine writes to it.",
        details=[
            "Several workstations: keep the catalogue in PostgreSQL"
            ' (catalogue = "postgresql://…" in the config, or --catalogue URL;'
            ' see "Several workstations" in the README).',
            "Only ever one machine writing there: set single_workstation = true in the config.",
        ],
    )


def refuse_fusefat(archive: Path) -> None:
    """Every SQLite write on a fusefat mount (a disk image mounted with fusefat) fails with
    'disk I/O error' (measured): refuse an archive there (exit 2) before anything is
    written, not with that error after its first folders are made."""
    found = mount_of(archive)
    if found is None or found[0] != "fuse.fusefat":
        return
    raise ConfigError(
        f"The archive {archive} is on a fusefat mount ({found[1]}), where SQLite cannot write "
        "its catalogue; nothing was changed.",
        details=[
            "Keep the archive on a disk the kernel mounts itself (ext4, xfs, vfat, exfat).",
            "A disk image: mount it with the kernel's driver (mount -o loop IMAGE DIR) instead.",
        ],
    )


def migrated_to(archive: Path) -> str | None:
    """The PostgreSQL URL (without password) this archive's SQLite catalogue moved to, if any."""
    mark = migration_mark(archive)
    return mark[0] if mark else None


def migration_mark(archive: Path) -> tuple[str, str] | None:
    """Where this archive's SQLite catalogue moved to, if it did: the PostgreSQL URL (without
    password) and the archive's id there."""
    path = catalogue_path(archive)
    if not ondisk.is_file(path):
        return None
    from .readonly import private_copy, sqlite_could_fault

    if sqlite_could_fault(archive):
        with private_copy(archive) as folder:
            return migration_mark(folder)
    import sqlite3  # only for an archive with a SQLite catalogue

    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATED_TABLE,)
        ).fetchone()
        if row is None:
            return None
        found = conn.execute(f"SELECT url, archive_id FROM {MIGRATED_TABLE} LIMIT 1").fetchone()
        # redacted again: an older cardingest kept a ?password= setting in it
        return (redact(str(found[0])), str(found[1])) if found else None
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def check_not_migrated(archive: Path) -> None:
    """Refuse SQLite for an archive whose catalogue is in PostgreSQL (exit 2), and one whose
    records this account may not read (exit 1)."""
    require_readable(archive)
    if ondisk.exists(Path(archive) / METADIR / ARCHIVE_ID_NAME) and not ondisk.is_file(
        catalogue_path(archive)
    ):
        raise ConfigError(
            f"The catalogue of {archive} is in PostgreSQL, and no --catalogue URL was given",
            details=[
                'Give --catalogue URL, set $CARDINGEST_CATALOGUE, or put catalogue = "…"'
                ' in the config (see "Several workstations" in the README).'
            ],
        )
    url = migrated_to(archive)
    if url is not None:
        raise ConfigError(
            f"The catalogue of {archive} has moved to PostgreSQL: {url}",
            details=[_use_desk_role(url)],
        )


def _use_desk_role(url: str) -> str:
    """How to reach a migrated catalogue: the URL ``catalogue migrate`` was given names the
    role that made (owns) the tables, which the README keeps off the desks; a desk's command
    uses the desk role, so only the database is pointed to."""
    from urllib.parse import urlsplit, urlunsplit

    how = 'set $CARDINGEST_CATALOGUE, or put catalogue = "…" in the config.'
    parts = urlsplit(url)
    if not parts.username:
        return f"Use --catalogue {url} (with the password, if it needs one), {how}"
    host = parts.netloc.rpartition("@")[2]
    desk = urlunsplit((parts.scheme, f"DESK_ROLE@{host}", parts.path, parts.query, ""))
    return (
        f"Use --catalogue {desk} with the desks' role and its password (not "
        f"{parts.username}, which migrated the catalogue and owns its tables: see "
        f'"Several workstations" in the README), {how}'
    )


def require_folder(root: Path) -> None:
    """An archive (or backup) that is there must be a folder, not a file or a device, and
    so must its ``.cardingest``, with no symbolic link in it (`refuse_links`)."""
    for path in (root, root / METADIR):
        if ondisk.exists(path) and not ondisk.is_dir(path):
            raise UsageError(f"{path} is not a folder: an archive or backup must be one")
    refuse_links(root)


def refuse_links(root: Path) -> None:
    """Refuse an archive whose ``.cardingest``, or anything directly in it (the lock, the
    catalogue, the log, the manifests' folder), is a symbolic link (`not_ours`), or is open
    to every account while another account owns it (`refuse_open_records`)."""
    meta = root / METADIR
    if ondisk.is_symlink(meta):
        raise UsageError(not_ours(meta))
    try:
        with os.scandir(meta) as entries:
            listed = [Path(entry.path) for entry in entries]
    except OSError:
        return  # none yet; or one this account may not list, which opening it will say
    linked = next((path for path in listed if ondisk.is_symlink(path)), None)
    if linked is not None:
        raise UsageError(not_ours(linked))
    refuse_open_records([meta, *listed])


def refuse_open_records(records: Sequence[Path]) -> None:
    """Refuse records (``.cardingest`` and what is directly in it) that every account may
    use, that another account (root too) owns, so this one cannot close them, and that this
    one may write (else its first write fails, naming the file): the catalogue, log and
    manifests written there (patient IDs, diagnoses) would be every account's to read. A
    trial's other account made ``.cardingest/catalogue.sqlite`` 0777 in advance, and an
    ingest filled it. Root, which may change any file's mode, is not refused: `verify
    --fix-permissions` as root closes them."""
    if os.name != "posix" or not records or _may_chmod_any():
        return
    found = mount_of(records[0])
    if found is not None and found[0] in _MOUNT_DECIDES:
        return  # owners and modes shown there are the mount's options, not the files'
    from ..storage.modes import account_name

    for path in records:
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if info.st_uid != os.geteuid() and info.st_mode & 0o007 and _may_write(info):
            raise ArchiveError(
                f"{path} belongs to {account_name(info.st_uid)} and is open to every account "
                f"(mode {stat.filemode(info.st_mode)}): the patient records cardingest keeps "
                "there could be read or changed by any of them, and this account cannot "
                "close it",
                details=[
                    "Ask that account, or whoever looks after the archive, to close it "
                    f"(chmod o-rwx {shlex.quote(str(path))}, or `sudo cardingest verify "
                    "--fix-permissions`), or give another --archive; nothing was changed."
                ],
            )


_MOUNT_DECIDES = MODELESS_FSTYPES | {"cifs", "smb3"}
"""File systems whose owners and modes, as shown, come from the mount's options (uid=,
file_mode=): `refuse_open_records` would refuse a whole share and advise a chmod that does
nothing there."""


def _may_write(info: os.stat_result) -> bool:
    """Whether this account may write a file or folder of another account's, by its mode:
    one it may not fails at its first write, with that file named (`denied`)."""
    mine = info.st_gid == os.getegid() or info.st_gid in os.getgroups()
    return bool(info.st_mode & 0o002 or (mine and info.st_mode & 0o020))


def _may_chmod_any() -> bool:
    """Root with CAP_FOWNER (bit 3 of the effective set): it may change any file's mode."""
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            found = next((line for line in status if line.startswith("CapEff:")), "")
        return bool(int(found.split()[1], 16) >> 3 & 1)
    except (OSError, ValueError, IndexError):
        return True  # no /proc: root as such


def not_ours(path: Path) -> str:
    """Why cardingest will not use a symbolic link (or anything but a file of its own)
    where it keeps its records: whoever may write the archive could point it at any file,
    and a run as root (`sudo cardingest verify`) would write to that file."""
    return (
        f"{path} is a symbolic link or not a regular file, where cardingest keeps its own "
        "records: it could make cardingest write elsewhere. Remove it (ask whoever looks "
        "after the archive who put it there) and run the command again"
    )


def check_destination_root(root: Path, what: str = "archive") -> None:
    """Refuse an archive (or, ``what``, a backup) on a drive that is not there: below a
    folder /etc/fstab mounts a disk at, with none mounted there (`mounts.not_mounted`), or,
    to be made, with its parent folder missing too. That is how an unplugged drive or an
    unmounted share looks; the archive would quietly go on the system disk instead."""
    require_folder(root)
    require_one_file_system(root)
    found = system_view(root)
    if found is not None:
        raise UsageError(
            f"The {what} {root} is on {found[0]} ({found[1]}), a view of the running system "
            "that holds no files: give a folder on a disk."
        )
    unmounted = mount_table.not_mounted(root)
    if unmounted is not None:
        raise ArchiveError(
            f"{unmounted} is where /etc/fstab mounts a disk, and none is mounted there now: "
            f"the {what} {root} would be made, or looked for, on the disk below it. Is the "
            f"{what} drive connected? Mount it (`mount {shlex.quote(unmounted)}`) and run the "
            "command again; nothing was copied."
        )
    above = identity.nearest_existing(root)
    if not ondisk.exists(root) and not ondisk.is_dir(above):
        raise UsageError(
            f"{above} is not a folder, so the {what} {root} cannot be made in it: give "
            "a folder (or a new one in a folder that exists)."
        )
    if not ondisk.exists(root) and not ondisk.is_dir(root.parent):
        raise ArchiveError(
            f"{root} does not exist, and neither does {root.parent}. Is the {what} drive "
            f"connected? To start a new {what} there, create {root.parent} first."
        )


def refuse_gone_since(root: Path, what: str = "archive") -> None:
    """ArchiveError for an archive (or, ``what``, a backup) that held its folder of records
    before, in this run, and does not now: its drive was unplugged or unmounted since, and
    the card's photos would start a new one on the disk below, where no one looks for them
    (a trial's `watch` filed a card there, and a `wipe` then cleared it)."""
    if not ondisk.is_dir(root / METADIR):
        raise ArchiveError(
            f"The {what} {root} was there for an earlier card, and is not now (its drive "
            f"unplugged or unmounted?): nothing was copied from this card. Connect the "
            f"{what} drive, then take the card out and insert it again."
        )


def require_one_file_system(root: Path) -> None:
    """Nothing mounted inside an archive (or backup): a bind mount of the card's folder in
    place of a patient's folder would put the copies on the card."""
    inside = mount_table.mounted_below(root)
    if inside:
        raise UsageError(
            f"{inside[0]} is another file system mounted inside {root}: cardingest keeps an "
            "archive on one file system, so that no copy can land on the card or in memory. "
            "Unmount it, or choose another folder."
        )


def refuse_inside_archive(
    path: Path | None, option: str, archive: Path, backup: Path | None = None
) -> None:
    """What a command writes for people (shared or DICOM copies, a sheet, a map, a slate)
    never goes into /proc, /sys or /dev (exit 2, not a failed write), nor into the archive or
    its backup, which hold only the photos cardingest files
    and its own records: there it would be taken for part of it, in a patient's folder for
    that patient's. Exit 2 before anything is made; judged by path and by device and inode,
    so a link or a bind mount is no way round."""
    if path is None:
        return
    where = Path(path).expanduser().absolute()
    found = system_view(where)
    if found is not None:
        raise UsageError(
            f"{option} {path} is on {found[0]} ({found[1]}), a view of the running system that "
            "holds no files: write it to a folder on a disk"
        )
    for what, root in (("archive", archive), ("backup", backup)):
        if root is not None and identity.inside(where, Path(root)):
            raise UsageError(
                f"{option} {path} is inside the {what} {root}; write it elsewhere: the {what}"
                " holds only the photos cardingest files and its own records"
            )
    with suppress(OSError, RuntimeError):
        where = where.resolve()  # `held/../x` is not in `held`; a link is followed
    other = archive_above(where)
    if other is not None:
        raise UsageError(
            f"{option} {path} is inside {other}, an archive or its backup (it holds "
            f"{METADIR}/); write it elsewhere: it holds only the photos cardingest files and "
            "its own records"
        )


def archive_above(path: Path) -> Path | None:
    """The archive ``path`` (absolute) lies in, by the ``.cardingest`` folder every archive
    holds: another than the one configured (``map-template`` has no ``--archive``), or the
    same reached by a path the settings do not name. Its folders are looked at as they are
    reached (links followed, as writing there would)."""
    for folder in [path, *path.parents]:
        with suppress(OSError):
            meta = folder / METADIR
            if any(ondisk.exists(meta / name) for name in _ARCHIVE_MARKS):
                return folder
    return None


_ARCHIVE_MARKS = (CATALOGUE_NAME, ARCHIVE_ID_NAME, "audit.jsonl", "manifests")
"""What an archive's ``.cardingest`` (or a backup's: its manifests) holds; an empty one
elsewhere (a home's) is none."""


def archive_records(folder: Path) -> list[str]:
    """The records only an archive keeps (a catalogue, its ID, an audit log) that
    ``folder``'s ``.cardingest`` holds: none for a backup folder, which keeps manifests."""
    meta = folder / METADIR
    return [name for name in _ARCHIVE_MARKS[:3] if ondisk.exists(meta / name)]


def denied(path: Path | str, doing: str = "read") -> str:
    """The message of a PermissionError met on one of the archive's own files (``doing``:
    "read", "write", "create"...): the path, why, and what to do, with no errno."""
    if doing == "read":
        return (
            f"Cannot read {path}: permission denied. The archive's records belong to another "
            "account; run cardingest as that account, or ask whoever looks after the archive "
            "to give yours access."
        )
    return (
        f"Cannot {doing} {path}: permission denied. This account may not change the "
        "archive's records (they belong to another account, or the folder is read-only for "
        "it); run cardingest as the account the archive belongs to, or ask whoever looks "
        "after the archive to give yours write access."
    )


def require_readable(archive: Path) -> None:
    """The archive's own folder (``.cardingest``, 0700) of another account: one message, not
    a traceback from the first file looked for in it."""
    meta = Path(archive) / METADIR
    try:
        os.stat(meta / ARCHIVE_ID_NAME)
    except PermissionError:
        raise ArchiveError(denied(meta)) from None
    except OSError:
        pass


def check_sqlite_place(archive: Path, *, single_workstation: bool) -> None:
    """Before a SQLite archive is written: not moved to PostgreSQL, not on a network share."""
    check_not_migrated(archive)
    refuse_fusefat(archive)
    if not single_workstation:
        refuse_network(archive)
