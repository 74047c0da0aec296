"""Archive names from templates, and the camera clock correction."""

from __future__ import annotations

import re
import string
import unicodedata
from datetime import datetime, timedelta

from ..card.kinds import PHOTO_EXTENSIONS, SIDECAR_EXTENSIONS
from ..errors import ConfigError, UsageError

DEFAULT_FOLDER_TEMPLATE = "{id}"
DEFAULT_NAME_TEMPLATE = "{id}-{date}-{time}"
TOKENS = {
    "id": "the patient ID",
    "date": "capture date, YYYYMMDD",
    "time": "capture time, HHMMSS",
    "year": "YYYY",
    "month": "MM",
    "day": "DD",
    "hour": "HH",
    "minute": "MM",
    "second": "SS",
}
_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_OFFSET = re.compile(r"^([+-])?([0-9]{1,3}):([0-9]{2})(?::([0-9]{2}))?$")
"""ASCII digits only (``\\d`` takes a full-width ``０１``); no sign is ``+``."""


def _fields(patient_id: str, when: datetime) -> dict[str, str]:
    year, month, day = f"{when.year:04d}", f"{when.month:02d}", f"{when.day:02d}"
    hour, minute, second = f"{when.hour:02d}", f"{when.minute:02d}", f"{when.second:02d}"
    return {
        "id": patient_id,
        "date": year + month + day,
        "time": hour + minute + second,
        "year": year,
        "month": month,
        "day": day,
        "hour": hour,
        "minute": minute,
        "second": second,
    }


_EXTENSION = re.compile(r"[a-z][a-z0-9]{1,4}")
"""After the last dot of a name template, what reads as a file's extension (``png``,
``mp4``, ``v2``), a token there (``{date}``) being none: each file's own is added after it."""


def check_templates(folder_template: str, name_template: str) -> None:
    """Refuse templates with unknown tokens or that could leave the archive."""
    for key, template, may_nest in (
        ("folder_template", folder_template, True),
        ("name_template", name_template, False),
    ):
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            raise ConfigError(f"{key} {template!r}: {exc}") from None
        unknown = [n for n in names if n not in TOKENS]
        if unknown:
            raise ConfigError(
                f"{key} {template!r}: unknown token {{{unknown[0]}}}; "
                f"tokens are {', '.join('{' + t + '}' for t in TOKENS)}"
            )
        if "id" not in names and key == "folder_template":
            raise ConfigError(f"{key} {template!r} must contain {{id}}: one folder per patient")
        if not may_nest and "/" in template:
            raise ConfigError(f"{key} {template!r} may not contain '/'")
        extension = template.rpartition(".")[2].lower() if "." in template else ""
        if not may_nest and (
            extension in PHOTO_EXTENSIONS | SIDECAR_EXTENSIONS or _EXTENSION.fullmatch(extension)
        ):
            raise ConfigError(
                f"{key} {template!r} ends in '.{extension}': each file's own extension is "
                f"added to the name (it would give '….{extension}.jpg', and '….{extension}.cr3' "
                "for a RAW): leave it out"
            )
        sample = render(template, "ABC1235", datetime(2026, 1, 2, 3, 4, 5))
        if not all(_COMPONENT.match(part) for part in sample.split("/")):
            raise ConfigError(
                f"{key} {template!r} gives {sample!r}: each part must be letters, digits, "
                "'_', '-' or '.', and not start with '.'"
            )


def render(template: str, patient_id: str, when: datetime) -> str:
    return template.format_map(_fields(patient_id, when))


def base_path(folder_template: str, name_template: str, patient_id: str, when: datetime) -> str:
    """``JBX3656/JBX3656-20080530-155601``: a photo's target without ``-N`` or extension."""
    fields = _fields(patient_id, when)
    return f"{folder_template.format_map(fields)}/{name_template.format_map(fields)}"


def suffixed(base: str, suffix: int, extension: str) -> str:
    """``base`` with ``-N`` (suffix 1 means none) and the extension."""
    name = f"{base}-{suffix}" if suffix > 1 else base
    return f"{name}.{extension}" if extension else name


def target_path(
    folder_template: str,
    name_template: str,
    patient_id: str,
    when: datetime,
    suffix: int,
    extension: str,
) -> str:
    """``JBX3656/JBX3656-20080530-155601-2.jpg``; suffix 1 means no ``-N``."""
    return suffixed(base_path(folder_template, name_template, patient_id, when), suffix, extension)


def parse_clock_offset(text: str | None) -> timedelta:
    """``+01:00``, ``-00:02:30``: what to add to the camera's clock to get the true time."""
    if text is None:
        return timedelta(0)
    given = text.strip()
    if not given:  # an unset variable in a script: no silent "no offset"
        raise UsageError("--clock-offset is empty: give ±HH:MM or ±HH:MM:SS (e.g. +01:00)")
    first = given[0]
    if first not in "+-" and (unicodedata.category(first) == "Pd" or first in "\u2212\uff0b"):
        meant = "+" if "PLUS" in unicodedata.name(first, "") else "-"
        raise UsageError(
            f"--clock-offset {text!r} starts with {first!r} "
            f"({unicodedata.name(first, 'a dash').lower()}, as a word processor writes it), "
            f"not the keyboard's {meant}: type it again ({meant}{given[1:]})"
        )
    match = _OFFSET.match(given)
    if not match:
        raise UsageError(
            f"--clock-offset {text!r} is not ±HH:MM or ±HH:MM:SS (e.g. +01:00, -00:02:30)"
        )
    sign, hours, minutes, seconds = match.groups()
    if int(minutes) > 59 or int(seconds or 0) > 59:
        raise UsageError(f"--clock-offset {text!r}: minutes and seconds go up to 59")
    delta = timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0))
    return -delta if sign == "-" else delta


def format_clock_offset(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"
