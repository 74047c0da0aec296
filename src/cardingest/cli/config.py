"""Settings: the flag, then the environment, then the TOML config file, then a default."""

from __future__ import annotations

import errno
import getpass
import os
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from ..archive.backend import CatalogueLocation, bind, check_url, has_password
from ..errors import ConfigError, UsageError
from ..export.settings import (
    DEFAULT_CALLING_AE,
    DEFAULT_TIMEOUT,
    DEFAULT_UID_ROOT,
    ISSUERS,
    DicomOptions,
    PacsConfig,
    check_uid_root,
    split_stow_url,
)
from ..ids import check_scheme
from ..models import Settings
from ..plan.naming import DEFAULT_FOLDER_TEMPLATE, DEFAULT_NAME_TEMPLATE, check_templates
from ..storage import modes, ondisk
from ..storage.capped import read_capped
from ..text import printable

ENV_ARCHIVE = "CARDINGEST_ARCHIVE"
ENV_CONFIG = "CARDINGEST_CONFIG"
ENV_CATALOGUE = "CARDINGEST_CATALOGUE"
MAX_CONFIG_BYTES = 256 * 1024
MAX_GAP_MINUTES = 10080
KEYS: dict[str, type | tuple[type, ...]] = {
    "archive": str,
    "backup": str,
    "id_scheme": str,
    "id_pattern": str,
    "allow_test_ids": bool,
    "folder_template": str,
    "name_template": str,
    "gap_minutes": (int, float),
    "operator": str,
    "catalogue": str,
    "single_workstation": bool,
    "archive_group": str,
    "pacs": dict,
    "dicom_uid_root": str,
    "issuer_of_patient_id": str,
    "slates": bool,
    "slate_pattern": str,
    "slate_max_gap": (int, float),
}


def default_config_path() -> Path:
    """Where the config file lives when $CARDINGEST_CONFIG is not set."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "cardingest" / "config.toml"


def default_archive() -> Path:
    return Path.home() / "cardingest-archive"


def _read(path: Path) -> str:
    """The config's text: capped in size whatever the file is (/dev/zero, a pipe), and
    UTF-8 (as TOML requires), else a message with the line of the first bad byte."""
    try:
        if ondisk.is_dir(path):
            raise ConfigError(f"Config file {path} is a folder")
        raw = read_capped(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist (from ${ENV_CONFIG})") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror or exc}") from None
    if raw is None:
        raise ConfigError(
            f"Config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB: not a "
            "cardingest config"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"Config file {path}, line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8; "
            "save the file as UTF-8 text"
        ) from None


def _load(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a config file to read

    text = _read(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}") from None
    for key, value in data.items():
        if key not in KEYS:
            raise ConfigError(
                f"Config file {path}: unknown key '{key}'; keys are {', '.join(KEYS)}"
            )
        expected = KEYS[key]
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise ConfigError(f"Config file {path}: '{key}' should be {_kind(expected)}")
    return data


def _group_id(name: str, config_path: Path | None) -> int:
    """The gid of ``archive_group``; this account must belong to it to hand files to it."""
    try:
        import grp
    except ImportError:  # Windows: access is the folder's ACL, set by the administrator
        raise ConfigError(
            f"Config file {config_path}: archive_group works on Linux and macOS only"
        ) from None
    try:
        gid = grp.getgrnam(name).gr_gid
    except KeyError:
        raise ConfigError(
            f"Config file {config_path}: archive_group '{name}' is not a group"
        ) from None
    if os.geteuid() != 0 and gid != os.getegid() and gid not in os.getgroups():
        raise ConfigError(
            f"Config file {config_path}: archive_group '{name}': this account is not a member, "
            "so it cannot give files to that group"
        )
    return gid


def _expand(text: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(text)))


_VARIABLE = re.compile(r"\$(\w+|\{([^}]*)\})")


def _absolute(text: str, where: str) -> Path:
    """A folder named once for every run (config file, environment): a relative one would be
    another folder, a new archive, in every folder cardingest is started from. So would a
    variable in it that is unset (left as ``$NAME``) or empty (``$ROOT/archive`` made
    ``/archive``)."""
    for match in _VARIABLE.finditer(text):
        name = match.group(2) if match.group(2) is not None else match.group(1)
        if not os.environ.get(name):
            state = "not set" if name not in os.environ else "empty"
            raise ConfigError(f"{where} is {text!r}, and ${name} is {state} here")
    path = _expand(text)
    if not path.is_absolute():
        raise ConfigError(
            f"{where} is {text!r}, a relative path: it would mean a different folder wherever "
            "cardingest is run from. Give the full path (/srv/photo-archive, or "
            "~/photo-archive)"
        )
    return path


def _full(path: Path) -> Path:
    """``path`` made absolute; with a ``..`` in it (``--backup ../backup``), the folder the
    system reaches by it, links resolved, since a catalogue row holds a backup copy's full
    path, and one with ``..`` in it is no path cardingest writes."""
    absolute = path.absolute()
    return Path(os.path.realpath(absolute)) if ".." in absolute.parts else absolute


_KINDS = {str: "text in quotes", bool: "true or false", int: "a whole number"}


def _kind(expected: type | tuple[type, ...]) -> str:
    """What a config value should be, in words ("'port' should be a whole number")."""
    return _KINDS.get(expected, "a number") if isinstance(expected, type) else "a number"


def _not_a_broken_link(path: Path, what: str) -> None:
    """A folder that is a loop of symbolic links, or a link to nothing: exit 2 saying so,
    not "no catalogue" or "File exists" from what would try to use it."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(
                f"{what} {path} leads round a loop of symbolic links; give a real folder"
            ) from None
        if ondisk.is_symlink(path):
            raise UsageError(
                f"{what} {path} is a symbolic link to {os.readlink(path)}, which is not "
                "there; give a real folder (or connect its drive)"
            ) from None


def load_settings(
    *,
    archive: str | Path | None = None,
    backup: str | Path | None = None,
    catalogue: str | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Resolve the settings, and bind the archive to its catalogue (SQLite or PostgreSQL)."""
    env = os.environ if environ is None else environ
    config_path: Path | None = None
    data: dict[str, Any] = {}
    if ENV_CONFIG in env and not env[ENV_CONFIG].strip():
        raise ConfigError(
            f"${ENV_CONFIG} is set but empty; give the config file, or unset it (an empty "
            "value would mean the default config, not the one meant)"
        )
    if env.get(ENV_CONFIG):
        config_path = _expand(env[ENV_CONFIG])
        data = _load(config_path)
    elif ondisk.is_file(default_config_path()):
        config_path = default_config_path()
        data = _load(config_path)

    if archive is not None and not str(archive).strip():
        raise ConfigError("--archive is empty; give the archive folder")
    if archive:
        archive_path, archive_from = _expand(str(archive)), "--archive"
    elif ENV_ARCHIVE in env:
        if not env[ENV_ARCHIVE].strip():
            raise ConfigError(
                f"${ENV_ARCHIVE} is set but empty; give the archive folder, or unset it (an "
                "empty value would mean the default archive, not the one meant)"
            )
        archive_path, archive_from = (
            _absolute(env[ENV_ARCHIVE], f"${ENV_ARCHIVE}"),
            f"${ENV_ARCHIVE}",
        )
    elif "archive" in data:
        if not str(data["archive"]).strip():
            raise ConfigError(
                f"Config file {config_path}: 'archive' is empty; give the archive folder "
                "(an empty value would mean the current folder)"
            )
        where = f"Config file {config_path}: 'archive'"
        archive_path, archive_from = _absolute(data["archive"], where), f"config {config_path}"
    else:
        archive_path, archive_from = default_archive(), "default"

    if backup is not None and not str(backup).strip():
        raise ConfigError(
            "--backup is empty; give the backup folder, or leave --backup out (an empty value "
            "would make no backup copy, and --wipe would then clear the card of photos with one)"
        )
    if "backup" in data and not str(data["backup"]).strip():
        raise ConfigError(
            f"Config file {config_path}: 'backup' is empty; give the backup folder, or remove "
            "the line (an empty value would make no backup copy)"
        )
    if not backup and data.get("backup"):
        _absolute(data["backup"], f"Config file {config_path}: 'backup'")
    backup_text = backup or data.get("backup")
    scheme = str(data.get("id_scheme", "nhi")).strip().lower()  # "NHI" as the README writes it
    pattern = data.get("id_pattern")
    check_scheme(scheme, pattern)
    folder_template = data.get("folder_template", DEFAULT_FOLDER_TEMPLATE)
    name_template = data.get("name_template", DEFAULT_NAME_TEMPLATE)
    check_templates(folder_template, name_template)
    gap = float(data.get("gap_minutes", 5))
    if not 0 < gap <= MAX_GAP_MINUTES:
        raise ConfigError(
            f"Config file {config_path}: gap_minutes must be more than 0 and at most "
            f"{MAX_GAP_MINUTES} (a week)"
        )
    group = data.get("archive_group")
    gid = _group_id(group, config_path) if group else None
    modes.share_with_group(gid)
    if gid is not None and modes.holds_everyone(gid):
        _warn(
            [
                f"config file {config_path}: archive_group '{group}' is a group every account "
                "is in: each of them can read every photo filed from now on. Give the archive "
                "a group of those who are to see the photos"
            ]
        )
    modes.keep_owner(archive_path)
    _dicom_settings(data, config_path, scheme)  # a typo in [pacs] is an error for every command
    slate_pattern = data.get("slate_pattern")
    if slate_pattern is not None:
        from ..card.slate import check_slate_pattern  # the slate reader, only when configured

        try:
            check_slate_pattern(slate_pattern)
        except ConfigError as exc:
            raise ConfigError(f"Config file {config_path}: {exc.message}") from None
    slate_gap = float(data.get("slate_max_gap", 30))
    if not 0 < slate_gap <= MAX_GAP_MINUTES:
        raise ConfigError(
            f"Config file {config_path}: slate_max_gap must be more than 0 and at most "
            f"{MAX_GAP_MINUTES} minutes (a week)"
        )
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    if config_path is not None:
        _warn([said] if (said := _config_open(config_path)) else [])
    warn_passwords(catalogue, data, config_path)  # before a URL refused for a typo
    if catalogue is not None:  # empty too: a script's unset variable is no "not given"
        url: str | None = check_url(catalogue, "--catalogue")
    elif ENV_CATALOGUE in env:  # set but empty: a script's unset variable, as --catalogue ""
        url = check_url(env[ENV_CATALOGUE], f"${ENV_CATALOGUE}")
    elif "catalogue" in data:
        url = check_url(data["catalogue"], f"Config file {config_path}")
    else:
        url = None
    single = bool(data.get("single_workstation", False))
    _not_a_broken_link(archive_path, "The archive")
    if backup_text:
        _not_a_broken_link(_expand(str(backup_text)), "The backup")
    archive_path = _full(archive_path)
    bind(archive_path, CatalogueLocation(url=url, single_workstation=single))
    return Settings(
        catalogue=url,
        single_workstation=single,
        archive=archive_path,
        archive_from=archive_from,
        backup=_full(_expand(str(backup_text))) if backup_text else None,
        id_scheme=scheme,
        id_pattern=pattern,
        allow_test_ids=bool(data.get("allow_test_ids", False)),
        folder_template=folder_template,
        name_template=name_template,
        gap_minutes=gap,
        operator=data.get("operator") or user,
        config_file=config_path,
        archive_group=group,
        slates=bool(data.get("slates", False)),
        slate_pattern=slate_pattern,
        slate_max_gap=slate_gap,
    )


PACS_KEYS: dict[str, type | tuple[type, ...]] = {
    "host": str,
    "port": int,
    "ae_title": str,
    "calling_ae_title": str,
    "stow_url": str,
    "timeout": (int, float),
}


def _ae_title(value: str, key: str, where: str) -> str:
    text = value.strip()
    if not 1 <= len(text) <= 16 or not text.isascii():
        raise ConfigError(f"{where}: [pacs] {key} {value!r} must be 1-16 ASCII characters")
    if "\\" in text or not text.isprintable():
        raise ConfigError(
            f"{where}: [pacs] {key} {value!r} holds a backslash or a control character, "
            "which an AE title may not (DICOM keeps \\ to separate values)"
        )
    return text


def _host_name(host: str | None, key: str, where: str) -> None:
    """A host name the name lookup can take: Python encodes it (IDNA) before asking, and one
    with an empty or over-long label (``pacs..example``) is refused there, not looked up.
    An empty host (the lookup takes it for this machine), blanks, a port or a URL in it
    are refused too: each was sent to the wrong place or "not found", exit 1."""
    if host is None:
        return
    problem = _host_problem(host)
    if problem is None:
        try:
            host.encode("idna")
        except UnicodeError:
            problem = "an empty or over-long part between dots"
    if problem is not None:
        raise ConfigError(
            f"{where}: [pacs] {key} has {host!r}, which is not a host name ({problem})"
        )


def _host_problem(host: str) -> str | None:
    import ipaddress

    if not host.strip():
        return "it is empty, which would mean this machine: give the PACS's host"
    if any(char.isspace() for char in host):
        return "it holds a blank"
    if "/" in host or "@" in host:
        return "a URL or a path: give the host alone, or a DICOMweb URL as stow_url"
    if host.startswith("[") and host.endswith("]"):
        return "an IPv6 address is given without its brackets here"
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "it holds a port: give that as port = …"
    return None


def load_dicom_settings(settings: Settings) -> tuple[DicomOptions, PacsConfig | None]:
    """``dicom_uid_root``, ``issuer_of_patient_id`` and the ``[pacs]`` table, checked.

    ``PacsConfig`` is None when the config has no ``[pacs]`` table.
    """
    data = _load(settings.config_file) if settings.config_file else {}
    return _dicom_settings(data, settings.config_file, settings.id_scheme)


def warn_passwords(
    flag: str | None,
    data: dict[str, Any],
    config_path: Path | None,
    option: str = "--catalogue",
) -> None:
    """`password_warnings`, on stderr."""
    _warn(password_warnings(flag, data, config_path, option))


def _warn(said: list[str]) -> None:
    if said:
        from .output import print_warnings

        print_warnings(said)


def password_warnings(
    flag: str | None,
    data: dict[str, Any],
    config_path: Path | None,
    option: str = "--catalogue",
) -> list[str]:
    """Where a password can be read by other accounts: on the command line (``ps`` shows it
    to every account while the command runs), or in a config file others may read."""
    said = []
    if flag and has_password(flag):
        said.append(
            f"the {option} URL holds a password, which every account on this computer can "
            "read while cardingest runs (ps, /proc): leave it out of the URL and put it in "
            "~/.pgpass (mode 0600)"
            + (", or put the URL in the config file (mode 0600)" if option == "--catalogue" else "")
        )
    table = data.get("pacs") or {}
    secret = [
        name
        for name, value in (
            ("catalogue", data.get("catalogue")),
            ("[pacs] stow_url", table.get("stow_url")),
        )
        if isinstance(value, str) and has_password(value)
    ]
    if secret and config_path is not None:
        try:
            mode = config_path.stat().st_mode
        except OSError:
            return said
        if mode & 0o077:
            said.append(
                f"config file {printable(str(config_path))} holds a password ({', '.join(secret)}) "
                f"and other accounts may read it (mode {mode & 0o777:04o}): chmod 600 "
                f"{printable(str(config_path))}"
            )
    return said


def _config_open(path: Path) -> str | None:
    """A warning when another account can change the config file (or put another in its
    place): it says where photos and records go, so that account could send them to a
    server or folder of its own."""
    why = modes.changeable_by_others(path)
    if why is None:
        return None
    shown = printable(str(path))
    return (
        f"config file {shown} {why}: it says where the photos and records go (archive, "
        "backup, catalogue, PACS), so whoever can change it can send patient data elsewhere. "
        f"Make it yours alone (chown, chmod 600 {shown}) in a folder only you can change"
    )


def _dicom_settings(
    data: dict[str, Any], path: Path | None, scheme: str
) -> tuple[DicomOptions, PacsConfig | None]:
    where = f"Config file {path}"
    try:
        root = check_uid_root(data.get("dicom_uid_root", DEFAULT_UID_ROOT))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    issuer = data.get("issuer_of_patient_id", ISSUERS.get(scheme))
    if issuer is not None:
        problem = (
            "is longer than 64 characters"
            if len(issuer) > 64
            else "holds a backslash, which DICOM reads as the end of a value"
            if "\\" in issuer
            else "holds a control character, which DICOM's LO values may not"
            if any(ord(c) < 32 or ord(c) == 127 for c in issuer)
            else None
        )
        if problem is not None:
            raise ConfigError(f"{where}: issuer_of_patient_id {problem}")
    options = DicomOptions(uid_root=root, issuer=issuer or None)
    table = data.get("pacs")
    if table is None:
        return options, None
    for key, value in table.items():
        expected = PACS_KEYS.get(key)
        if expected is None:
            raise ConfigError(f"{where}: unknown key [pacs] {key}; keys are {', '.join(PACS_KEYS)}")
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(f"{where}: [pacs] {key} should be {_kind(expected)}")
    stow, stow_auth = table.get("stow_url"), None
    if stow is not None:
        try:
            stow, stow_auth = split_stow_url(stow)
        except ValueError as exc:
            raise ConfigError(f"{where}: [pacs] stow_url {exc}") from None
    dimse = [key for key in ("host", "port", "ae_title") if key in table]
    if stow is not None and dimse:
        raise ConfigError(
            f"{where}: [pacs] has stow_url and {', '.join(dimse)}: give host, port and ae_title "
            "(DICOM C-STORE) or stow_url (DICOMweb), not both, so that it is clear where the "
            "photos go"
        )
    if stow is None:
        missing = [key for key in ("host", "port", "ae_title") if key not in table]
        if missing:
            raise ConfigError(
                f"{where}: [pacs] needs {', '.join(missing)} (or stow_url for DICOMweb)"
            )
    _host_name(table.get("host"), "host", where)
    if stow is not None:
        try:
            _host_name(urllib.parse.urlsplit(stow).hostname, "stow_url", where)
        except ValueError:
            raise ConfigError(f"{where}: [pacs] stow_url {stow!r} is not a URL") from None
    port = table.get("port")
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"{where}: [pacs] port {port} is not between 1 and 65535")
    timeout = float(table.get("timeout", DEFAULT_TIMEOUT))
    if not 0 < timeout <= 3600:
        raise ConfigError(f"{where}: [pacs] timeout must be more than 0 and at most 3600 seconds")
    return options, PacsConfig(
        host=table.get("host"),
        port=port,
        ae_title=_ae_title(table["ae_title"], "ae_title", where) if "ae_title" in table else None,
        calling_ae_title=_ae_title(
            table.get("calling_ae_title", DEFAULT_CALLING_AE), "calling_ae_title", where
        ),
        stow_url=stow,
        timeout=timeout,
        stow_auth=stow_auth,
    )
