"""Patient ID validation and normalisation for each supported scheme.

Every accepted ID also matches `SAFE_ID`, because IDs become folder and file names in the
archive. Error messages quote only the ID itself, never any other detail.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from .errors import ConfigError, InvalidIdError
from .idtext import nhi_candidates, reading
from .text import keyword_problem

SCHEMES: tuple[str, ...] = ("nhi", "nhs", "ihi", "medicare", "pattern")

# \A and \Z rather than ^ and $: `$` also matches before a trailing newline.
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{port}{n}" for port in ("COM", "LPT") for n in range(1, 10)]
)
SAFE_ID: re.Pattern[str] = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")

_DIGITS = frozenset("0123456789")
_NHI_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_NHI_VALUE = {letter: value for value, letter in enumerate(_NHI_LETTERS, start=1)}
_NHI_WEIGHTS = (7, 6, 5, 4, 3, 2)
_MEDICARE_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9)
_IHI_PREFIX = "800360"
_SHOW_MAX = 40
_KINDS = {"letter": "A–Z", "digit": "0–9"}


def _show(raw: str) -> str:
    """Quote an ID for a message: repr() makes control characters visible, and a byte that
    is not UTF-8 (kept as a lone surrogate) is shown as that byte, ``\\xff``; cap the length."""
    if len(raw) > _SHOW_MAX:
        return _quoted(raw[:_SHOW_MAX]) + f"… ({len(raw)} characters)"
    return _quoted(raw)


def _quoted(text: str) -> str:
    return _SURROGATE_ESCAPE.sub(r"\\x\1", repr(text))


_SURROGATE_ESCAPE = re.compile(r"\\udc([89a-f][0-9a-f])")


def _should_be(char: str, position: int, kind: str) -> str:
    """``character N ('c') should be a letter`` (or ``digit``). A character outside ASCII is
    named, and the letters A–Z or digits 0–9 said: a look-alike (Cyrillic Ј, fullwidth Ｊ or
    ９) is told from what it resembles only by its name."""
    if char.isascii():
        return f"character {position} ({char!r}) should be a {kind}"
    name = unicodedata.name(char, f"U+{ord(char):04X}")
    return f"character {position} ({char!r}, {name}) should be a {kind} {_KINDS[kind]}"


def _fails_check(label: str, shown: str) -> InvalidIdError:
    """The one answer to an ID whose check character does not fit the rest.

    It never says which character was expected, nor that the rest could be completed: a
    transposed typo "corrected" that way is another patient's valid ID. It sends the user back
    to the record instead.
    """
    return InvalidIdError(
        f"{label} {shown} fails its check: it is not a valid {label}. Re-check the whole ID "
        "against the patient's record; do not change one character to make it pass."
    )


def check_scheme(scheme: str, pattern: str | None) -> None:
    """Raise ConfigError unless `scheme` is known and, for 'pattern', `pattern` compiles."""
    if scheme not in SCHEMES:
        raise ConfigError(
            f"Unknown patient ID scheme {scheme!r}; choose one of {', '.join(SCHEMES)}."
        )
    if scheme != "pattern":
        return
    if not pattern:
        raise ConfigError("The 'pattern' ID scheme needs a pattern (a regular expression).")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(
            f"The ID pattern {pattern!r} is not a valid regular expression: {exc}."
        ) from exc


def validate_id(
    raw: str,
    scheme: str = "nhi",
    *,
    pattern: str | None = None,
    allow_test_ids: bool = False,
) -> str:
    """Return the normalised ID, or raise InvalidIdError saying exactly what is wrong.

    Normalising strips surrounding whitespace, upper-cases NHIs and pattern IDs and removes
    spaces and hyphens from the numeric schemes. Upper-casing keeps `ab12` and `AB12` from
    becoming two patients who share a folder on the case-insensitive disks of macOS and
    Windows; so the pattern is matched in any case, or an ID filed as `AB12` under the
    pattern ``[a-z]{2}[0-9]{2}`` could not be searched, tagged or verified by its name.
    """
    check_scheme(scheme, pattern)
    text = raw.strip()
    if not text:
        raise InvalidIdError("The patient ID is empty.")
    if "\n" in text or "\r" in text:  # Alt-Enter in a spreadsheet's cell: two lines, two IDs?
        raise InvalidIdError(
            f"{_show(text[:40])} holds a line break (Alt-Enter in a spreadsheet cell): one "
            "patient ID per cell, on one line"
        )
    if text[0] in "=@":  # =HYPERLINK(…, "JBX3656"): a spreadsheet shows its value, not it
        raise InvalidIdError(
            f"{_show(text[:40])} is a spreadsheet formula, not a patient ID: the spreadsheet "
            "shows what it works out; type the ID itself in the cell"
        )
    if scheme == "nhi":
        normalised = _validate_nhi(text, allow_test_ids=allow_test_ids)
    elif scheme == "nhs":
        normalised = _validate_nhs(text, allow_test_ids=allow_test_ids)
    elif scheme in _VALIDATORS:
        normalised = _VALIDATORS[scheme](text)
    else:
        assert pattern is not None
        if re.fullmatch(pattern, text, re.IGNORECASE) is None:
            raise InvalidIdError(
                f"Patient ID {_show(text)} does not match the ID pattern {pattern!r}."
            )
        normalised = text.upper() if text.isascii() else text
    if SAFE_ID.fullmatch(normalised) is None:
        raise InvalidIdError(
            f"Patient ID {_show(text)} cannot be used as a folder name: it must be 1–64 "
            "characters, start with a letter or digit, and contain only letters, digits, "
            "'-' and '_'."
        )
    if normalised.upper() in _WINDOWS_RESERVED:
        raise InvalidIdError(
            f"Patient ID {_show(normalised)} cannot be used as a folder name: Windows reserves it."
        )
    return normalised


def _nhi_char_problem(char: str, position: int, expected: str) -> str | None:
    """Describe why `char` cannot stand at 1-based `position`, or return None if it can."""
    if expected == "digit":
        if char in _DIGITS:
            return None
        return _should_be(char, position, "digit")
    if char in _NHI_VALUE:
        return None
    if char in "IO":
        return f"character {position} ({char!r}) is not allowed (I and O are not used in NHIs)"
    return _should_be(char, position, "letter")


def _validate_nhi(text: str, *, allow_test_ids: bool) -> str:
    nhi = "".join(char.upper() if char.isascii() else char for char in text)
    shown = _show(nhi)
    if len(nhi) != 7:
        raise InvalidIdError(
            f"NHI {shown} has {len(nhi)} character{'' if len(nhi) == 1 else 's'}; an NHI has "
            "7 (3 letters and 4 digits, or 3 letters, 2 digits and 2 letters)."
        )
    new_format = nhi[5].isascii() and nhi[5].isalpha()
    if new_format:
        layout = ("letter",) * 3 + ("digit",) * 2 + ("letter",) * 2
    else:
        layout = ("letter",) * 3 + ("digit",) * 4
    for position, (char, expected) in enumerate(zip(nhi, layout, strict=True), start=1):
        problem = _nhi_char_problem(char, position, expected)
        if problem is not None:
            raise InvalidIdError(f"NHI {shown} is not valid: {problem}.")

    total = sum(
        (_NHI_VALUE[c] if c in _NHI_VALUE else int(c)) * w
        for c, w in zip(nhi[:6], _NHI_WEIGHTS, strict=True)
    )
    if new_format:
        remainder = total % 23
        expected_check = _NHI_LETTERS[23 - remainder - 1] if remainder else None
    else:
        remainder = total % 11
        expected_check = str((11 - remainder) % 10) if remainder else None
    if expected_check is None or nhi[6] != expected_check:
        raise _fails_check("NHI", shown)
    if nhi[0] == "Z" and not allow_test_ids:
        raise InvalidIdError(
            f"NHI {shown} is a test-range NHI (starts with Z), not a real patient's; set "
            "allow_test_ids = true in the config to accept test IDs."
        )
    return nhi


def _digits_only(text: str, label: str) -> str:
    """Remove spaces and hyphens; raise if anything but ASCII digits is left."""
    for position, char in enumerate(text, start=1):
        if char not in _DIGITS and char not in " -":
            raise InvalidIdError(
                f"{label} {_show(text)} is not valid: {_should_be(char, position, 'digit')} "
                "(only digits, spaces and hyphens are allowed)."
            )
    return text.replace(" ", "").replace("-", "")


def _check_length(number: str, label: str, allowed: tuple[int, ...]) -> None:
    if len(number) not in allowed:
        need = " or ".join(str(n) for n in allowed)
        raise InvalidIdError(
            f"{label} {_show(number)} has {len(number)} digits; it should have {need}."
        )


def _validate_nhs(text: str, *, allow_test_ids: bool) -> str:
    """An NHS number; those NHS England reserves for tests (999…) and placeholders of one
    digit ten times (every such number passes the check digit, and systems use them for
    an unknown patient) only with ``allow_test_ids``, as the NHI's Z range."""
    label = "NHS number"
    number = _digits_only(text, label)
    _check_length(number, label, (10,))
    total = sum(int(d) * w for d, w in zip(number[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 10 or number[9] != str(check % 11):
        raise _fails_check(label, _show(number))
    if allow_test_ids:
        return number
    if len(set(number)) == 1:
        raise InvalidIdError(
            f"{label} {_show(number)} is a placeholder (one digit ten times), not a real "
            "patient's; set allow_test_ids = true in the config to accept test IDs."
        )
    if number.startswith("999"):
        raise InvalidIdError(
            f"{label} {_show(number)} is a test-range NHS number (starts with 999), not a real "
            "patient's; set allow_test_ids = true in the config to accept test IDs."
        )
    return number


def luhn_check_digit(digits: str) -> str:
    """The Luhn digit to append to `digits`: double every second digit from the right."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str(-total % 10)


def _validate_ihi(text: str) -> str:
    label = "IHI"
    number = _digits_only(text, label)
    _check_length(number, label, (16,))
    if not number.startswith(_IHI_PREFIX):
        raise InvalidIdError(
            f"{label} {_show(number)} is not valid: an IHI starts with {_IHI_PREFIX}."
        )
    if number[15] != luhn_check_digit(number[:15]):
        raise _fails_check(label, _show(number))
    return number


def _validate_medicare(text: str) -> str:
    label = "Medicare number"
    number = _digits_only(text, label)
    _check_length(number, label, (10, 11))
    if number[0] not in "23456":
        raise InvalidIdError(
            f"{label} {_show(number)} is not valid: it should start with a digit from 2 to 6, "
            f"not {number[0]}."
        )
    total = sum(int(d) * w for d, w in zip(number[:8], _MEDICARE_WEIGHTS, strict=True))
    if number[8] != str(total % 10):
        raise _fails_check(label, _show(number))
    return number


_VALIDATORS: dict[str, Callable[[str], str]] = {
    "ihi": _validate_ihi,
    "medicare": _validate_medicare,
}


_NUMBER = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9])+(?![0-9])")


def ids_within(text: str, scheme: str, *, allow_test_ids: bool = False) -> list[str]:
    """The patient IDs of ``scheme`` written inside ``text`` (a diagnosis or a site), each
    as it would be filed. Only the schemes with a check character are looked for: a word
    that passes one is an ID by intent; a ``pattern`` (``[0-9]+``, say) could take "2 mm".
    The text is read as a person reads it (`idtext.reading`: fullwidth forms, marked and
    look-alike letters, other scripts' digits), an NHI also set apart in parts
    (`idtext.nhi_candidates`)."""
    if scheme == "nhi":
        words = nhi_candidates(text)
    elif scheme in ("nhs", "ihi", "medicare"):  # grouped (943 476 5919), and each run alone
        text = reading(text)
        words = [*_NUMBER.findall(text), *re.findall(r"[0-9]+", text)]
    else:
        return []
    found: list[str] = []
    for word in words:
        try:
            found.append(validate_id(word, scheme, allow_test_ids=allow_test_ids))
        except InvalidIdError:
            continue
    return found


def keyword_refusal(text: str, scheme: str | None, *, allow_test_ids: bool) -> str | None:
    """Why a diagnosis or site is not kept, or None: what `text.keyword_problem` refuses,
    then a patient ID of ``scheme`` inside it (`id_within_problem`; not looked for with
    ``scheme`` None, as when a keyword is being removed)."""
    problem = keyword_problem(text)
    if problem is None and scheme is not None:
        problem = id_within_problem(text, scheme, allow_test_ids=allow_test_ids)
    return problem


def id_within_problem(text: str, scheme: str, *, allow_test_ids: bool = False) -> str | None:
    """Why a diagnosis or site must not hold a patient ID, naming the first, or None: a
    keyword goes with the photo into its sidecar, DICOM files for the PACS and referrals,
    where an ID in it (another patient's, as likely as not) is patient data in a place no
    one looks for it."""
    found = ids_within(text, scheme, allow_test_ids=allow_test_ids)
    if not found:
        return None
    return (
        f"holds a patient ID ({found[0]}); a keyword goes with the photos into their "
        "sidecars, DICOM files and referrals, so give IDs only as the photos' ID (if it is "
        "no ID, put brackets or a word between its letters and digits)"
    )
