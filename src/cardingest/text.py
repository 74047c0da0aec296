"""Names from outside (card files, folders, map cells) made safe to show, store and parse.

On POSIX a file name is bytes. Python decodes the bytes that are not UTF-8 as lone surrogates
(U+DC80..U+DCFF, "surrogateescape"); such a string cannot be written to SQLite, a UTF-8
terminal or a JSON document. Control characters and escape sequences in a name would act on
the terminal they are printed to. Everything here is pure and has no dependencies.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence

_SURROGATES = re.compile("[\ud800-\udfff]")
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
"""C0 and C1 controls, DEL, and invisible or direction-changing format characters."""


MAX_KEYWORD = 200
"""The longest diagnosis, site or consent value kept (a map cell, `cardingest tag`)."""


def not_utf8_target(target: str) -> str | None:
    """Why a path or ID given on the command line names nothing archived, where its bytes
    are not UTF-8 (no archived photo's name or ID is), or None."""
    if not undecodable(target):
        return None
    return f"{printable(target)}: holds bytes that are not UTF-8, as no archived photo's name does"


def keyword_text(value: str) -> str:
    """A diagnosis, site or consent value as it is kept: without surrounding blanks, and in
    Unicode's composed form (NFC), so that "mélanome" typed on a Mac (e and a combining
    accent) and on Windows (é) is one keyword, not two that look the same. A space of
    another kind (a no-break space pasted from a document) is kept as a plain one, or no
    search typed for the keyword would find it."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value.strip()))


_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
"""Unicode's spaces (category Zs) other than the plain one."""


def keyword_problem(text: str) -> str | None:
    """What makes a diagnosis, site or consent value unfit to keep, or None. Kept values go
    into the catalogue, XMP sidecars, DICOM files and spreadsheets: no formula a spreadsheet
    would run (a lone ``-`` is no formula), nothing too long, and no control character or
    invisible or direction-changing one (U+202E would show a diagnosis reversed; a soft
    hyphen would make "melanoma" one that no search for it finds)."""
    if text[:1] in ("=", "+", "@") or (text.startswith("-") and len(text) > 1):
        return f"{text[:40]!r} looks like a spreadsheet formula"
    if len(text) > MAX_KEYWORD:
        return f"is longer than {MAX_KEYWORD} characters"
    if undecodable(text):  # a byte of another character set (Latin-1's é) from the terminal
        return "holds bytes that are not UTF-8 text: check the terminal's character set"
    for char in text:
        if _unseen(char):
            return f"contains a control or invisible formatting character ({_escaped(char)})"
    return None


def _unseen(char: str) -> bool:
    code = ord(char)
    noncharacter = 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE
    return char not in _JOINERS and (
        unicodedata.category(char) in _UNSEEN or char in _BLANK or noncharacter
    )


_UNSEEN = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})
"""Controls, format characters (direction marks, zero-width spaces, soft hyphens, tags),
private use, lone surrogates (bytes that were not UTF-8), line and paragraph separators.
Not every unassigned code point: this Python's Unicode may predate a new emoji or letter."""
_JOINERS = frozenset("\u200c\u200d")
"""Zero-width non-joiner and joiner: invisible, but Persian, the Indic scripts and emoji
sequences cannot be written without them."""
_BLANK = frozenset("\u034f\u115f\u1160\u3164\uffa0")
"""Letters and marks that show nothing: the combining grapheme joiner, the Hangul fillers."""


def undecodable(text: str) -> bool:
    """Whether ``text`` came from bytes that are not valid UTF-8 (it holds lone surrogates)."""
    return _SURROGATES.search(text) is not None


def _escape_char(match: re.Match[str]) -> str:
    return _escaped(match.group())


def _escaped(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as surrogateescape keeps it
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


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


def some_of(names: Sequence[str], most: int = 5) -> str:
    """``a, b, c`` or ``a, b, c, d, e and 3 more``."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def unset_path(value: object) -> bool:
    """Whether a file option was given as ``""`` or blanks (a script's unset variable):
    Typer reads ``""`` as the path ``.``, this folder, which no such option means."""
    return str(value).strip() in ("", ".")
