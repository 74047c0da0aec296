"""Names from outside (card files, folders, map cells) made safe to show, store and parse.

On POSIX a file name is bytes. Python decodes the bytes that are not UTF-8 as lone surrogates
(U+DC80..U+DCFF, "surrogateescape"); such a string cannot be written to SQLite, a UTF-8
terminal or a JSON document. Control characters and escape sequences in a name would act on
the terminal they are printed to. Everything here is pure and has no dependencies.
"""

from __future__ import annotations

import os
import re

_SURROGATES = re.compile("[\ud800-\udfff]")
_HIDDEN = "\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff"
_UNSAFE = re.compile(f"[{_HIDDEN}]")
"""C0 and C1 controls, DEL, and invisible or direction-changing format characters."""
_UNFIT = re.compile(f"[{_HIDDEN}\ufffe\uffff]")
"""What no kept keyword holds: those, and the two noncharacters some tools stop at."""


MAX_KEYWORD = 200
"""The longest diagnosis, site or consent value kept (a map cell, `cardingest tag`)."""


def keyword_problem(text: str) -> str | None:
    """What makes a diagnosis, site or consent value unfit to keep, or None. Kept values go
    into the catalogue, XMP sidecars, DICOM files and spreadsheets: no formula a spreadsheet
    would run (a lone ``-`` is no formula), nothing too long, and no control character or
    invisible or direction-changing one (U+202E would show a diagnosis reversed)."""
    if text[:1] in ("=", "+", "@") or (text.startswith("-") and len(text) > 1):
        return f"{text[:40]!r} looks like a spreadsheet formula"
    if len(text) > MAX_KEYWORD:
        return f"is longer than {MAX_KEYWORD} characters"
    found = _UNFIT.search(text)
    if found is not None:
        return f"contains a control or invisible formatting character ({_escape_char(found)})"
    return None


def undecodable(text: str) -> bool:
    """Whether ``text`` came from bytes that are not valid UTF-8 (it holds lone surrogates)."""
    return _SURROGATES.search(text) is not None


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as surrogateescape keeps it
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control, format or undecodable character shown as ``\\xNN`` or
    ``\\uNNNN``: safe to print on a terminal, to write as UTF-8, and still recognisable."""
    return _UNSAFE.sub(_escape_char, text)


def json_safe(text: str) -> str:
    """``text`` encodable as UTF-8: undecodable bytes shown as ``\\xNN`` (controls are left
    to the JSON encoder, which escapes them)."""
    return _SURROGATES.sub(_escape_char, text)


def json_safe_value(value: object) -> object:
    """``value`` (str, dict, list, tuple or anything else) with every string `json_safe`."""
    if isinstance(value, str):
        return json_safe(value)
    if isinstance(value, dict):
        return {json_safe_value(key): json_safe_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe_value(item) for item in value]
    return value


def original_bytes_hex(text: str) -> str:
    """The file name's original bytes, in hex: a lossless record of an undecodable name."""
    return os.fsencode(text).hex()
