"""Settings: the flag, then the environment, then the TOML config file, then a default."""

from __future__ import annotations

import getpass
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from ..archive.backend import CatalogueLocation, bind, check_url
from ..errors import ConfigError
from ..ids import check_scheme
from ..models import Settings
from ..plan.naming import DEFAULT_FOLDER_TEMPLATE, DEFAULT_NAME_TEMPLATE, check_templates
from ..storage import modes

ENV_ARCHIVE = "CARDINGEST_ARCHIVE"
ENV_CONFIG = "CARDINGEST_CONFIG"
ENV_CATALOGUE = "CARDINGEST_CATALOGUE"
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


def _load(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist (from ${ENV_CONFIG})") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}") from None
    for key, value in data.items():
        if key not in KEYS:
            raise ConfigError(
                f"Config file {path}: unknown key '{key}'; keys are {', '.join(KEYS)}"
            )
        expected = KEYS[key]
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            names = expected.__name__ if isinstance(expected, type) else "number"
            raise ConfigError(f"Config file {path}: '{key}' should be a {names}")
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
    if env.get(ENV_CONFIG):
        config_path = _expand(env[ENV_CONFIG])
        data = _load(config_path)
    elif default_config_path().is_file():
        config_path = default_config_path()
        data = _load(config_path)

    if archive:
        archive_path, archive_from = _expand(str(archive)), "--archive"
    elif env.get(ENV_ARCHIVE):
        archive_path, archive_from = _expand(env[ENV_ARCHIVE]), f"${ENV_ARCHIVE}"
    elif "archive" in data:
        archive_path, archive_from = _expand(data["archive"]), f"config {config_path}"
    else:
        archive_path, archive_from = default_archive(), "default"

    backup_text = backup or data.get("backup")
    scheme = data.get("id_scheme", "nhi")
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
    modes.share_with_group(_group_id(group, config_path) if group else None)
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    if catalogue:
        url: str | None = check_url(catalogue, "--catalogue")
    elif env.get(ENV_CATALOGUE):
        url = check_url(env[ENV_CATALOGUE], f"${ENV_CATALOGUE}")
    elif data.get("catalogue"):
        url = check_url(data["catalogue"], f"Config file {config_path}")
    else:
        url = None
    single = bool(data.get("single_workstation", False))
    bind(archive_path.absolute(), CatalogueLocation(url=url, single_workstation=single))
    return Settings(
        catalogue=url,
        single_workstation=single,
        archive=archive_path.absolute(),
        archive_from=archive_from,
        backup=_expand(str(backup_text)).absolute() if backup_text else None,
        id_scheme=scheme,
        id_pattern=pattern,
        allow_test_ids=bool(data.get("allow_test_ids", False)),
        folder_template=folder_template,
        name_template=name_template,
        gap_minutes=gap,
        operator=data.get("operator") or user,
        config_file=config_path,
        archive_group=group,
    )
