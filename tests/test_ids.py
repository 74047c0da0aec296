from __future__ import annotations

import pytest
from stdnum import luhn
from stdnum.gb import nhs as stdnum_nhs

from cardingest.errors import ConfigError, InvalidIdError
from cardingest.ids import SAFE_ID, SCHEMES, check_scheme, validate_id

VALID_NHIS = ["JBX3656", "MCJ1984", "EPT6335", "CGC2720", "ACA31FM", "ASE37QK", "BGJ06AS"]
TEST_RANGE_NHIS = ["ZAC5361", "ZAA0067", "ZAT2348"]
INVALID_NHIS = ["ZZZ0044", "ZAC3561", "DAB8233", "ZVU27KZ", "ZZZ00AA"]
PATH_LIKE_IDS = ["../x", "a/b", "..", "", " ", "A" * 65, "x\\y", "C:", "\x00", "ab\x00c", "ab\nc"]


def _message(raw: str, scheme: str = "nhi", **kwargs: object) -> str:
    with pytest.raises(InvalidIdError) as info:
        validate_id(raw, scheme, **kwargs)  # type: ignore[arg-type]
    return info.value.message


@pytest.mark.parametrize("nhi", VALID_NHIS)
def test_valid_nhi(nhi: str) -> None:
    assert validate_id(nhi) == nhi


@pytest.mark.parametrize("nhi", VALID_NHIS)
def test_valid_nhi_is_normalised(nhi: str) -> None:
    assert validate_id(f"  {nhi.lower()}\t") == nhi


@pytest.mark.parametrize("nhi", TEST_RANGE_NHIS)
def test_test_range_nhi_refused_by_default(nhi: str) -> None:
    message = _message(nhi)
    assert "test-range" in message
    assert "allow_test_ids" in message
    assert nhi in message


@pytest.mark.parametrize("nhi", TEST_RANGE_NHIS)
def test_test_range_nhi_accepted_when_allowed(nhi: str) -> None:
    assert validate_id(nhi, allow_test_ids=True) == nhi


@pytest.mark.parametrize("nhi", INVALID_NHIS)
@pytest.mark.parametrize("allow_test_ids", [False, True])
def test_invalid_nhi_always_refused(nhi: str, allow_test_ids: bool) -> None:
    message = _message(nhi, allow_test_ids=allow_test_ids)
    assert "fails its check" in message
    assert "test-range" not in message


@pytest.mark.parametrize("raw", ["ZAC3561", "ZVU27KZ", "ZZZ00AA", "JBX3657", "ZZZ0044", "DAB8233"])
def test_nhi_checksum_messages(raw: str) -> None:
    # No "should be": the expected check character is never given (tests/test_no_correction.py).
    assert _message(raw, allow_test_ids=True) == (
        f"NHI {raw!r} fails its check: it is not a valid NHI. Re-check the whole ID against "
        "the patient's record; do not change one character to make it pass."
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("JBX365", "has 6 characters; an NHI has 7"),
        ("JBX36566", "has 8 characters; an NHI has 7"),
        ("JBI3656", "character 3 ('I') is not allowed (I and O are not used in NHIs)"),
        ("OBX3656", "character 1 ('O') is not allowed (I and O are not used in NHIs)"),
        ("ACA31FO", "character 7 ('O') is not allowed (I and O are not used in NHIs)"),
        ("J4X3656", "character 2 ('4') should be a letter"),
        ("JBXA656", "character 4 ('A') should be a digit"),
        ("JBX3A56", "character 5 ('A') should be a digit"),
        ("JBX365A", "character 7 ('A') should be a digit"),
        ("ACA31F5", "character 7 ('5') should be a letter"),
        ("JBX-656", "character 4 ('-') should be a digit"),
        ("JBX 656", "character 4 (' ') should be a digit"),
    ],
)
def test_nhi_format_messages(raw: str, expected: str) -> None:
    message = _message(raw)
    assert expected in message
    assert repr(raw.upper()) in message


def test_nhi_rejects_non_ascii_lookalikes() -> None:
    # "ſ".upper() == "S": a lookalike must not be folded into a valid NHI.
    assert "('ſ', LATIN SMALL LETTER LONG S) should be a letter A–Z" in _message("AſE37QK")


def test_nhi_message_names_only_the_id() -> None:
    message = _message("jbx3657")
    assert message.startswith("NHI 'JBX3657' fails its check: it is not a valid NHI.")


@pytest.mark.parametrize("raw", ["9434765919", "943 476 5919", "943-476-5919", "4010232137"])
def test_valid_nhs(raw: str) -> None:
    expected = raw.replace(" ", "").replace("-", "")
    assert validate_id(raw, "nhs") == expected
    assert stdnum_nhs.is_valid(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("9434765918", "'9434765918' fails its check"),
        ("1000000010", "'1000000010' fails its check"),
        ("943476591", "has 9 digits; it should have 10"),
        ("94347659190", "has 11 digits; it should have 10"),
        ("943476591X", "character 10 ('X') should be a digit"),
        ("９434765919", "character 1 ('９', FULLWIDTH DIGIT NINE) should be a digit 0–9"),
    ],
)
def test_invalid_nhs(raw: str, expected: str) -> None:
    assert expected in _message(raw, "nhs")


def test_nhs_agrees_with_stdnum() -> None:
    for first_nine in range(943476500, 943476600):
        for check in "0123456789":
            number = f"{first_nine}{check}"
            try:
                ours = validate_id(number, "nhs") == number
            except InvalidIdError:
                ours = False
            assert ours == stdnum_nhs.is_valid(number), number


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ("9990000018", "is a test-range NHS number (starts with 999)"),
        ("0000000000", "is a placeholder (one digit ten times)"),
        ("1111111111", "is a placeholder (one digit ten times)"),
        ("4444444444", "is a placeholder (one digit ten times)"),
    ],
)
def test_nhs_test_range_and_placeholders_need_allow_test_ids(raw: str, said: str) -> None:
    """Each passes the check digit (a repeated digit always does), so each filed the photos
    of whoever it stood in for into one folder: refused as the NHI's Z range is."""
    assert stdnum_nhs.is_valid(raw)
    message = _message(raw, "nhs")
    assert said in message and "allow_test_ids = true" in message
    assert validate_id(raw, "nhs", allow_test_ids=True) == raw


def test_a_pattern_id_is_matched_in_any_case_as_it_is_filed_upper_cased() -> None:
    """A pattern of small letters: the ID typed ``ab12`` was filed as ``AB12``, which the
    pattern then refused in search, tag, verify and share."""
    assert validate_id("ab12", "pattern", pattern="[a-z]{2}[0-9]{2}") == "AB12"
    assert validate_id("AB12", "pattern", pattern="[a-z]{2}[0-9]{2}") == "AB12"
    assert validate_id("p-0001", "pattern", pattern=r"P-\d{4}") == "P-0001"


@pytest.mark.parametrize("raw", ["8003608166690503", "8003 6081 6669 0503", "8003-6081-6669-0503"])
def test_valid_ihi(raw: str) -> None:
    assert validate_id(raw, "ihi") == "8003608166690503"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8003608166690504", "'8003608166690504' fails its check"),
        ("1234568166690505", "an IHI starts with 800360"),
        ("800360816669050", "has 15 digits; it should have 16"),
    ],
)
def test_invalid_ihi(raw: str, expected: str) -> None:
    assert expected in _message(raw, "ihi")


def test_ihi_wrong_prefix_is_luhn_valid() -> None:
    assert luhn.is_valid("1234568166690505")


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("2123456701", "2123456701"),
        ("2123 45670 1", "2123456701"),
        ("21234567011", "21234567011"),
    ],
)
def test_valid_medicare(raw: str, normalised: str) -> None:
    assert validate_id(raw, "medicare") == normalised


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2123456711", "'2123456711' fails its check"),
        ("1123456701", "should start with a digit from 2 to 6, not 1"),
        ("7123456701", "should start with a digit from 2 to 6, not 7"),
        ("212345670", "has 9 digits; it should have 10 or 11"),
        ("212345670112", "has 12 digits; it should have 10 or 11"),
    ],
)
def test_invalid_medicare(raw: str, expected: str) -> None:
    assert expected in _message(raw, "medicare")


@pytest.mark.parametrize(
    ("raw", "pattern", "normalised"),
    [("P-0001", r"P-\d{4}", "P-0001"), (" study_12 ", r"study_\d+", "STUDY_12")],
)
def test_pattern_accepts(raw: str, pattern: str, normalised: str) -> None:
    assert validate_id(raw, "pattern", pattern=pattern) == normalised


def test_pattern_must_match_whole_id() -> None:
    message = _message("P-00012", "pattern", pattern=r"P-\d{4}")
    assert "does not match the ID pattern 'P-\\\\d{4}'" in message


@pytest.mark.parametrize("raw", PATH_LIKE_IDS)
def test_path_like_ids_refused(raw: str) -> None:
    with pytest.raises(InvalidIdError):
        validate_id(raw, "pattern", pattern=".*")


@pytest.mark.parametrize("raw", ["../x", "a/b", "..", "A" * 65, "x\\y", "C:", "ab\x00c"])
def test_path_like_message(raw: str) -> None:
    assert "cannot be used as a folder name" in _message(raw, "pattern", pattern=".*")


def test_long_id_is_shortened_in_message() -> None:
    message = _message("A" * 500, "pattern", pattern=".*")
    assert "(500 characters)" in message
    assert "A" * 41 not in message


def test_control_characters_are_visible_in_message() -> None:
    assert "'ab\\x00c'" in _message("ab\x00c", "pattern", pattern=".*")


@pytest.mark.parametrize("raw", ["A", "a" + "b" * 63, "P-1_x", "0"])
def test_safe_id_accepts(raw: str) -> None:
    assert SAFE_ID.fullmatch(raw)
    assert validate_id(raw, "pattern", pattern=".*") == raw.upper()


@pytest.mark.parametrize("raw", ["abc\n", "-a", "_a", "a.b", "a b", "é"])
def test_safe_id_rejects(raw: str) -> None:
    assert not SAFE_ID.match(raw)


def test_empty_id_message() -> None:
    assert _message("   ") == "The patient ID is empty."


def test_schemes() -> None:
    assert SCHEMES == ("nhi", "nhs", "ihi", "medicare", "pattern")


@pytest.mark.parametrize("scheme", ["nhi", "nhs", "ihi", "medicare"])
def test_check_scheme_accepts_known(scheme: str) -> None:
    check_scheme(scheme, None)


def test_check_scheme_accepts_pattern() -> None:
    check_scheme("pattern", r"[A-Z]{3}\d+")


@pytest.mark.parametrize(
    ("scheme", "pattern", "expected"),
    [
        ("ssn", None, "Unknown patient ID scheme 'ssn'"),
        ("NHI", None, "Unknown patient ID scheme 'NHI'"),
        ("pattern", None, "needs a pattern"),
        ("pattern", "", "needs a pattern"),
        ("pattern", "([A-Z]", "is not a valid regular expression"),
    ],
)
def test_check_scheme_rejects(scheme: str, pattern: str | None, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_scheme(scheme, pattern)
    assert expected in info.value.message


def test_validate_id_checks_scheme() -> None:
    with pytest.raises(ConfigError):
        validate_id("JBX3656", "nope")
    with pytest.raises(ConfigError):
        validate_id("x", "pattern")


def test_pattern_ids_are_upper_cased_after_matching() -> None:
    assert validate_id("ab12", "pattern", pattern="[a-z]{2}[0-9]+") == "AB12"


@pytest.mark.parametrize("raw", ["CON", "nul", "com1", "LPT9"])
def test_windows_reserved_names_are_refused(raw: str) -> None:
    with pytest.raises(InvalidIdError, match="Windows reserves"):
        validate_id(raw, "pattern", pattern=".*")


def test_luhn_agrees_with_stdnum() -> None:
    from stdnum import luhn

    from cardingest.ids import luhn_check_digit

    for number in range(0, 10**6, 997):
        digits = f"800360{number:09d}"
        assert luhn_check_digit(digits) == luhn.calc_check_digit(digits)


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x","JBX3656")', "=A2", "@JBX3656"])
def test_a_spreadsheet_formula_is_said_to_be_one(cell: str) -> None:
    """An ID map cell holding a formula was "NHI … has 32 characters", upper-cased."""
    with pytest.raises(InvalidIdError) as caught:
        validate_id(cell)
    assert "is a spreadsheet formula, not a patient ID" in caught.value.message
    assert cell[:20] in caught.value.message
