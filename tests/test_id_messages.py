"""What the operator reads when an ID is refused, compared whole and written out by hand:
which scheme and which character is out of place; for a failed check, never what it should be."""

from __future__ import annotations

import pytest

from cardingest.errors import ConfigError, InvalidIdError
from cardingest.ids import check_scheme, validate_id

NHI_LENGTH = "an NHI has 7 (3 letters and 4 digits, or 3 letters, 2 digits and 2 letters)."
DIGITS_ONLY = "should be a digit (only digits, spaces and hyphens are allowed)."
NO_HINT = (
    " Re-check the whole ID against the patient's record; do not change one character to make "
    "it pass."
)
"""A failed check never says which character is wrong or what it should be (issue 12): a
transposed typo "corrected" by the tool would be another patient's valid ID."""


@pytest.mark.parametrize(
    ("raw", "scheme", "message"),
    [
        ("JBX365", "nhi", f"NHI 'JBX365' has 6 characters; {NHI_LENGTH}"),
        ("A" * 40, "nhi", f"NHI '{'A' * 40}' has 40 characters; {NHI_LENGTH}"),
        ("A" * 41, "nhi", f"NHI '{'A' * 40}'… (41 characters) has 41 characters; {NHI_LENGTH}"),
        (
            "JBX31F\u00e9",
            "nhi",
            "NHI 'JBX31F\u00e9' is not valid: character 7 ('\u00e9', LATIN SMALL LETTER E WITH "
            "ACUTE) should be a letter A–Z.",
        ),
        (
            "\u0408BX3656",
            "nhi",
            "NHI '\u0408BX3656' is not valid: character 1 ('\u0408', CYRILLIC CAPITAL LETTER JE) "
            "should be a letter A–Z.",
        ),
        (
            "\uff2aBX3656",
            "nhi",
            "NHI '\uff2aBX3656' is not valid: character 1 ('\uff2a', FULLWIDTH LATIN CAPITAL "
            "LETTER J) should be a letter A–Z.",
        ),
        (
            "jbx365\uff16",
            "nhi",
            "NHI 'JBX365\uff16' is not valid: character 7 ('\uff16', FULLWIDTH DIGIT SIX) should "
            "be a digit 0–9.",
        ),
        ("JBX365A", "nhi", "NHI 'JBX365A' is not valid: character 7 ('A') should be a digit."),
        ("JB13656", "nhi", "NHI 'JB13656' is not valid: character 3 ('1') should be a letter."),
        (
            "JBI3656",
            "nhi",
            "NHI 'JBI3656' is not valid: character 3 ('I') is not allowed "
            "(I and O are not used in NHIs).",
        ),
        (
            "JBX00LY",
            "nhi",
            "NHI 'JBX00LY' fails its check: it is not a valid NHI." + NO_HINT,
        ),
        (
            "ZAC5361",
            "nhi",
            "NHI 'ZAC5361' is a test-range NHI (starts with Z), not a real patient's; set "
            "allow_test_ids = true in the config to accept test IDs.",
        ),
        ("943 476 591", "nhs", "NHS number '943476591' has 9 digits; it should have 10."),
        (
            "9434765918",
            "nhs",
            "NHS number '9434765918' fails its check: it is not a valid NHS number." + NO_HINT,
        ),
        (
            "94347659xx",
            "nhs",
            f"NHS number '94347659xx' is not valid: character 9 ('x') {DIGITS_ONLY}",
        ),
        (
            "\uff19434765919",
            "nhs",
            "NHS number '\uff19434765919' is not valid: character 1 ('\uff19', FULLWIDTH DIGIT "
            "NINE) should be a digit 0–9 (only digits, spaces and hyphens are allowed).",
        ),
        ("800360123456789", "ihi", "IHI '800360123456789' has 15 digits; it should have 16."),
        (
            "8003601234567890",
            "ihi",
            "IHI '8003601234567890' fails its check: it is not a valid IHI." + NO_HINT,
        ),
        (
            "80036012345678x0",
            "ihi",
            f"IHI '80036012345678x0' is not valid: character 15 ('x') {DIGITS_ONLY}",
        ),
        (
            "21234567",
            "medicare",
            "Medicare number '21234567' has 8 digits; it should have 10 or 11.",
        ),
        (
            "1123456701",
            "medicare",
            "Medicare number '1123456701' is not valid: it should start with a digit from 2 to "
            "6, not 1.",
        ),
        (
            "2123456791",
            "medicare",
            "Medicare number '2123456791' fails its check: it is not a valid Medicare number."
            + NO_HINT,
        ),
    ],
)
def test_refusal_messages(raw: str, scheme: str, message: str) -> None:
    with pytest.raises(InvalidIdError) as error:
        validate_id(raw, scheme)  # type: ignore[arg-type]
    assert error.value.message == message


def test_nhs_checksum_with_no_check_digit_possible() -> None:
    """000000006: weighted sum 6 * 2 = 12, 12 % 11 = 1, 11 - 1 = 10: not a digit."""
    with pytest.raises(InvalidIdError) as error:
        validate_id("0000000060", "nhs")
    assert error.value.message == (
        "NHS number '0000000060' fails its check: it is not a valid NHS number." + NO_HINT
    )


def test_medicare_with_a_letter() -> None:
    with pytest.raises(InvalidIdError) as error:
        validate_id("2123x56701", "medicare")
    assert error.value.message == (
        f"Medicare number '2123x56701' is not valid: character 5 ('x') {DIGITS_ONLY}"
    )


def test_an_id_that_cannot_be_a_folder_name() -> None:
    with pytest.raises(InvalidIdError) as error:
        validate_id("../x", "pattern", pattern=".*")
    assert error.value.message == (
        "Patient ID '../x' cannot be used as a folder name: it must be 1–64 characters, start "
        "with a letter or digit, and contain only letters, digits, '-' and '_'."
    )


@pytest.mark.parametrize(
    ("scheme", "pattern", "message"),
    [
        (
            "nope",
            None,
            "Unknown patient ID scheme 'nope'; choose one of nhi, nhs, ihi, medicare, pattern.",
        ),
        ("pattern", None, "The 'pattern' ID scheme needs a pattern (a regular expression)."),
        ("pattern", "", "The 'pattern' ID scheme needs a pattern (a regular expression)."),
    ],
)
def test_scheme_messages(scheme: str, pattern: str | None, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_scheme(scheme, pattern)
    assert error.value.message == message
