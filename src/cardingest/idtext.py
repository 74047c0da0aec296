"""Where an NHI could be written inside free text (a diagnosis, a site), as a person reads it.

A keyword goes with the photos into sidecars, DICOM files and referrals, so one that holds a
patient's NHI is refused (`ids.id_within_problem`). People write an NHI set apart in many
ways (``JBX 3656``, ``JBX-3656``, ``NHI: JBX 36 56``, ``ACA31 FM``, an en dash from a word
processor) and in characters that look like its letters (fullwidth, Cyrillic, a letter with
a mark). Each reading here is only a candidate: `ids.validate_id` keeps those that pass the
NHI's check, so a random code passes about one time in eleven. What is not read as an NHI,
though it may pass: a year after three letters and a separator (``BCC 2019``, ``BCC-2019``,
``Mar-2017``, ``12MAR2024``; not after ``NHI:`` or ``pt``, nor split as ``19 84``) or a month
set apart (``Jan 04 24``), the start of a date (``BCC 06/01/2025``), a size or dose (``SCC
15mm``, ``MTX 30MG``), letters that end a longer word before a separator (``lesion 0006``),
a longer run of digits (``SCT 254651007``), and anything set apart by brackets or
underscores (``LES (0006)``, ``DSC_1234``).
"""

from __future__ import annotations

import re
import unicodedata

_LOOK_ALIKES = str.maketrans(
    "АВСЕНІЈКМОРЅТХУаесіјкорѕхуΑΒΕΖΗΙΚΜΝΟΡΤΥΧοικνρτυχ",
    "ABCEHIJKMOPSTXYaecijkopsxyABEZHIKMNOPTYXoikvptux",
)
"""Cyrillic and Greek letters drawn as Latin ones: an ID typed with one reads as that ID."""
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_APART = 3
"""At most this many characters between two parts of one NHI: `` - ``, ``: ``, two spaces."""
_NOT_APART = frozenset("()[]{}<>_")
"""Characters that set a code apart on purpose, not the parts of one NHI."""
_YEAR = re.compile(r"(?:19|20)[0-9]{2}")
_UNITS = frozenset({"mm", "cm", "mg", "ml", "kg", "um"})
"""Two letters that end a size or a dose (``15mm``, ``30MG``), not an NHI's."""
_MONTHS = frozenset(
    {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
)
"""A month set apart from its digits begins a date (``Jan 04 24``), not an NHI."""
_LENGTH = 7


def reading(text: str) -> str:
    """``text`` as a person reads it: compatibility forms (fullwidth) as their plain letters,
    marks on letters dropped, every script's digits as ASCII, Cyrillic and Greek look-alikes
    as Latin, and the invisible joiners (kept in keywords for Persian, Indic scripts and
    emoji) gone."""
    kept = []
    for char in unicodedata.normalize("NFKD", text):
        kind = unicodedata.category(char)
        if kind in ("Mn", "Me") or char in "\u200c\u200d":
            continue
        kept.append(str(unicodedata.decimal(char)) if kind == "Nd" else char)
    return "".join(kept).translate(_LOOK_ALIKES)


def nhi_candidates(text: str) -> list[str]:
    """Every 7 letters and digits in ``text`` (read as `reading` does) shaped like an NHI:
    three letters, then two digits, then two letters or digits, within one word or across
    words set apart by at most `_APART` characters, and not part of a longer run of the
    same kind (an 8-digit number holds no NHI)."""
    text = reading(text)
    tokens = list(_TOKEN.finditer(text))
    found = []
    for first, token in enumerate(tokens):
        for offset in range(len(token[0])):
            window = _window(text, tokens, first, offset)
            if window is not None:
                found.append(window)
    return found


def _window(text: str, tokens: list[re.Match[str]], first: int, offset: int) -> str | None:
    """The NHI-shaped reading that starts at ``offset`` in token ``first``, if one does."""
    start = tokens[first].start() + offset
    chars: list[str] = []
    apart_at: set[int] = set()  # places in the window a separator stands before
    index, position = first, start
    while len(chars) < _LENGTH:
        token = tokens[index]
        if position == token.end():
            index += 1
            if index == len(tokens):
                return None
            gap = text[token.end() : tokens[index].start()]
            if len(gap) > _APART or any(c in _NOT_APART or c.isalnum() for c in gap):
                return None
            apart_at.add(len(chars))
            position = tokens[index].start()
            continue
        chars.append(text[position])
        position += 1
    window = "".join(chars)
    if not (window[:3].isalpha() and window[3:5].isdigit()):
        return None
    after = text[position] if position < tokens[index].end() else ""
    if after and after.isdigit() == window[-1].isdigit():
        return None  # a longer run of the same kind: JBX36561, SCT 254651007
    if not after and 3 in apart_at and _date_goes_on(text, tokens, index):
        return None  # BCC 06/01/2025, exc 01-02-25 (JBX3656 06/01/2025 is an ID)
    before = text[start - 1] if start else ""
    if window[-2:].lower() in _UNITS:
        return None  # SCC 15mm, MTX 30MG
    dated = 3 in apart_at or before.isdigit()
    year = _YEAR.fullmatch(window[3:]) and not apart_at & {4, 5, 6}  # MCJ 19 84 is no year
    calendar = year or window[:3].upper() in _MONTHS
    if dated and calendar and not _labelled(text, start):
        return None  # BCC 2019, BCC-2019, 12MAR2024, Jan 04 24; not NHI: MCJ 1984
    if apart_at and offset and before.isalpha():
        return None  # lesion 0006: the end of a word, then a number
    return window


def _date_goes_on(text: str, tokens: list[re.Match[str]], last: int) -> bool:
    """Whether a date separator (``/``, ``.``, ``-``) and digits follow token ``last``: the
    window's digits are a date's day and month."""
    if last + 1 >= len(tokens):
        return False
    gap = text[tokens[last].end() : tokens[last + 1].start()]
    return gap in ("/", ".", "-") and tokens[last + 1][0][0].isdigit()


_LABEL = re.compile(r"(?<![A-Za-z])(?:NHI|patient|pt|ID)\W{0,3}$", re.IGNORECASE)


def _labelled(text: str, start: int) -> bool:
    """Whether the words before ``start`` name what follows as a patient's ID (``NHI:``)."""
    return _LABEL.search(text[max(0, start - 12) : start]) is not None
