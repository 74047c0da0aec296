"""Issue 12, item 1: a mistyped ID is never "corrected".

For every scheme with a check character, typos of valid IDs (a wrong check character, two
neighbours swapped) are refused with one message that depends only on what was typed: it
never names, or hints at, the check character that would make the ID pass. The expected
character is computed here independently of cardingest (python-stdnum where it has the
scheme, a separate implementation of the published algorithm where it does not).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from clinic_helpers import invoke
from stdnum import luhn
from stdnum.gb import nhs as stdnum_nhs
from test_interactive import finish, spawn

from cardingest.demo import make_demo_card
from cardingest.errors import InvalidIdError
from cardingest.ids import validate_id

NHI_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def nhi_expected(first_six: str) -> str | None:
    """HISO 10046:2023: old format mod 11 (check 10 is 0), new format mod 23 (letter 23 - r)."""
    values = [NHI_LETTERS.index(c) + 1 if c.isalpha() else int(c) for c in first_six]
    total = sum(v * w for v, w in zip(values, range(7, 1, -1), strict=True))
    if first_six[5].isalpha():
        remainder = total % 23
        return NHI_LETTERS[23 - remainder - 1] if remainder else None
    remainder = total % 11
    return str((11 - remainder) % 10) if remainder else None


def medicare_expected(first_eight: str) -> str:
    """Services Australia: weights 1 3 7 9 1 3 7 9 over digits 1-8, check = sum mod 10."""
    return str(sum(int(d) * w for d, w in zip(first_eight, (1, 3, 7, 9) * 2, strict=True)) % 10)


def nhs_expected(first_nine: str) -> str | None:
    """The one digit python-stdnum accepts after these nine, if any."""
    passing = [d for d in "0123456789" if stdnum_nhs.is_valid(first_nine + d)]
    assert len(passing) <= 1
    return passing[0] if passing else None


SCHEMES = {
    # scheme: (valid IDs, index of the check character, expected check of the other chars)
    "nhi": (
        ["JBX3656", "MCJ1984", "EPT6335", "CGC2720", "ACA31FM", "ASE37QK", "BGJ06AS"],
        6,
        lambda text: nhi_expected(text[:6]),
    ),
    "nhs": (["9434765919", "4010232137"], 9, lambda text: nhs_expected(text[:9])),
    "ihi": (["8003608166690503", "8003601234567894"], 15, lambda t: luhn.calc_check_digit(t[:15])),
    "medicare": (["2123456701", "21234567011"], 8, lambda text: medicare_expected(text[:8])),
}
LABELS = {"nhi": "NHI", "nhs": "NHS number", "ihi": "IHI", "medicare": "Medicare number"}


def typos(valid: str, check_at: int) -> Iterator[str]:
    """Every other check character, and every swap of two different neighbours."""
    alphabet = NHI_LETTERS if valid[check_at].isalpha() else "0123456789"
    for char in alphabet:
        if char != valid[check_at]:
            yield valid[:check_at] + char + valid[check_at + 1 :]
    for n in range(len(valid) - 1):
        if valid[n] != valid[n + 1]:
            yield valid[:n] + valid[n + 1] + valid[n] + valid[n + 2 :]


def failing_check_cases() -> Iterator[tuple[str, str, str | None]]:
    for scheme, (valid_ids, check_at, expected) in SCHEMES.items():
        for valid in valid_ids:
            for typo in typos(valid, check_at):
                yield scheme, typo, expected(typo)


def refusal(raw: str, scheme: str) -> str | None:
    try:
        validate_id(raw, scheme, allow_test_ids=True)
    except InvalidIdError as exc:
        return exc.message
    return None


def residue(message: str, raw: str) -> str:
    """The message without the ID the user typed (quoted as repr)."""
    return message.replace(repr(raw), "<ID>")


def test_the_valid_ids_are_valid_by_the_independent_algorithms() -> None:
    for scheme, (valid_ids, check_at, expected) in SCHEMES.items():
        for valid in valid_ids:
            assert expected(valid) == valid[check_at], (scheme, valid)
            assert validate_id(valid, scheme) == valid


def test_no_refusal_names_the_expected_check_character() -> None:
    seen: dict[str, set[str]] = {scheme: set() for scheme in SCHEMES}
    refused = 0
    for scheme, typo, expected in failing_check_cases():
        message = refusal(typo, scheme)
        if message is None:
            # A swap that happens to pass the check is another valid ID: nothing to refuse.
            assert expected == typo[SCHEMES[scheme][1]]
            continue
        if "fails its check" not in message:
            # A swap that breaks the layout or a fixed prefix: said as such.
            assert "is not valid:" in message and "check" not in message, message
            continue
        refused += 1
        rest = residue(message, typo)
        assert "<ID>" in rest, message
        assert "should" not in rest and "expected" not in rest and "mean" not in rest
        if expected is not None:
            # As a word of its own (digits never appear in the text at all).
            assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(expected)}(?![A-Za-z0-9])", rest)
        assert not re.search(r"\d", rest), message
        seen[scheme].add(rest)
    assert refused > 200
    for scheme, texts in seen.items():
        # One text per scheme: it cannot carry anything about the right character.
        assert texts == {
            f"{LABELS[scheme]} <ID> fails its check: it is not a valid {LABELS[scheme]}. "
            "Re-check the whole ID against the patient's record; do not change one character "
            "to make it pass."
        }, scheme


def test_the_issue_example() -> None:
    message = refusal("JBX3566", "nhi")
    assert message is not None
    assert nhi_expected("JBX356") == "7"
    assert "7" not in message
    assert "Re-check the whole ID" in message


def test_pattern_scheme_gives_no_suggestion() -> None:
    with pytest.raises(InvalidIdError) as info:
        validate_id("P-0O12", "pattern", pattern=r"P-\d{4}")
    message = info.value.message
    assert "does not match the ID pattern" in message
    assert "P-0012" not in message and "should" not in message and "mean" not in message


# The CLI, the ID map, --json and the interactive prompt carry the same message.
TYPO = "JBX3566"  # JBX3656 with two digits swapped; the check digit of JBX356 is 7


@pytest.fixture
def card(tmp_path: Path, test_ids: Path) -> Path:
    return make_demo_card(tmp_path)[0]


def no_seven(text: str, *paths: Path) -> None:
    """No 7 (the check digit that would make the typo pass) outside the ID and file paths."""
    for path in paths:
        text = text.replace(str(path), "")
    assert "7" not in text.replace(TYPO, ""), text


@pytest.mark.parametrize("command", ["preview", "ingest"])
def test_cli_id_typo(card: Path, tmp_path: Path, command: str) -> None:
    code, out, err = invoke(command, card, "--id", TYPO, "--archive", tmp_path / "a")
    assert code == 2
    assert "fails its check" in err and "Re-check the whole ID" in err
    no_seven(out + err, tmp_path)
    code, out, err = invoke(command, card, "--id", TYPO, "--archive", tmp_path / "a", "--json")
    assert code == 2
    document = json.loads(out)
    no_seven(document["error"]["message"] + " ".join(document["error"]["details"]), tmp_path)
    no_seven(err, tmp_path)
    assert not (tmp_path / "a").exists()


def test_map_typo(card: Path, tmp_path: Path) -> None:
    map_file = tmp_path / "typo.csv"
    map_file.write_text(f"files,id\nIMG_0001-IMG_0003,{TYPO}\n", encoding="utf-8")
    code, out, err = invoke("preview", card, "--map", map_file, "--archive", tmp_path / "a")
    assert code == 2
    assert "line 2" in err and "fails its check" in err
    no_seven(out + err.replace("line 2", ""), map_file)


def test_interactive_prompt_typo(card: Path, tmp_path: Path) -> None:
    child = spawn("preview", card, "--archive", tmp_path / "a")
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    child.sendline(TYPO)
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    told = child.before
    assert "fails its check" in told
    no_seven(told, tmp_path)
    child.sendcontrol("c")
    assert finish(child) != 0
