"""Templates, names and the clock offset, checked against texts written out by hand.

What an operator reads when a template or an offset is wrong is part of the contract, so
the messages are compared whole.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cardingest.errors import ConfigError, UsageError
from cardingest.plan.naming import (
    check_templates,
    format_clock_offset,
    parse_clock_offset,
    render,
    target_path,
)

WHEN = datetime(2026, 1, 2, 3, 4, 5)


def test_every_token_renders_zero_padded() -> None:
    template = "{id}_{date}_{time}_{year}-{month}-{day}_{hour}.{minute}.{second}"
    assert render(template, "JBX3656", WHEN) == ("JBX3656_20260102_030405_2026-01-02_03.04.05")
    assert render("{year}{month}{day}", "X", datetime(987, 6, 5)) == "09870605"


@pytest.mark.parametrize(
    ("suffix", "extension", "expected"),
    [
        (1, "jpg", "JBX3656/JBX3656-20260102-030405.jpg"),
        (2, "jpg", "JBX3656/JBX3656-20260102-030405-2.jpg"),
        (12, "cr2", "JBX3656/JBX3656-20260102-030405-12.cr2"),
        (1, "", "JBX3656/JBX3656-20260102-030405"),
        (3, "", "JBX3656/JBX3656-20260102-030405-3"),
    ],
)
def test_target_path(suffix: int, extension: str, expected: str) -> None:
    assert target_path("{id}", "{id}-{date}-{time}", "JBX3656", WHEN, suffix, extension) == (
        expected
    )


def test_nested_folder_template() -> None:
    assert target_path("{id}/{year}/{month}", "{time}", "JBX3656", WHEN, 1, "jpg") == (
        "JBX3656/2026/01/030405.jpg"
    )
    check_templates("{id}/{year}/{month}", "{time}")


@pytest.mark.parametrize(
    ("folder", "name", "message"),
    [
        (
            "{id}/{nope}",
            "{id}",
            "folder_template '{id}/{nope}': unknown token {nope}; tokens are {id}, {date}, "
            "{time}, {year}, {month}, {day}, {hour}, {minute}, {second}",
        ),
        (
            "{id}",
            "{id}-{when}",
            "name_template '{id}-{when}': unknown token {when}; tokens are {id}, {date}, "
            "{time}, {year}, {month}, {day}, {hour}, {minute}, {second}",
        ),
        ("{year}", "{id}", "folder_template '{year}' must contain {id}: one folder per patient"),
        ("{id}", "{year}/{id}", "name_template '{year}/{id}' may not contain '/'"),
        (
            "{id}",
            "{id}-{date}-{time}.JPG",
            "name_template '{id}-{date}-{time}.JPG' ends in '.jpg': each file's own extension "
            "is added to the name (it would give '….jpg.jpg', and '….jpg.cr3' for a RAW): "
            "leave it out",
        ),
        (
            "{id}",
            "{id}-{date}.png",
            "name_template '{id}-{date}.png' ends in '.png': each file's own extension is "
            "added to the name (it would give '….png.jpg', and '….png.cr3' for a RAW): "
            "leave it out",
        ),
        (
            ".{id}",
            "{id}",
            "folder_template '.{id}' gives '.ABC1235': each part must be letters, digits, "
            "'_', '-' or '.', and not start with '.'",
        ),
        (
            "{id}",
            "{id} {date}",
            "name_template '{id} {date}' gives 'ABC1235 20260102': each part must be letters, "
            "digits, '_', '-' or '.', and not start with '.'",
        ),
        (
            "{id}/../x",
            "{id}",
            "folder_template '{id}/../x' gives 'ABC1235/../x': each part must be letters, "
            "digits, '_', '-' or '.', and not start with '.'",
        ),
        (
            "{id}",
            "{time} {id}",
            "name_template '{time} {id}' gives '030405 ABC1235': each part must be letters, "
            "digits, '_', '-' or '.', and not start with '.'",
        ),
        ("{id", "{id}", "folder_template '{id': expected '}' before end of string"),
    ],
)
def test_template_messages(folder: str, name: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_templates(folder, name)
    assert error.value.message == message


def test_name_template_need_not_hold_the_id() -> None:
    check_templates("{id}", "{date}-{time}")
    check_templates("{id}", "photo")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, timedelta(0)),
        ("+01:00", timedelta(hours=1)),
        ("01:00", timedelta(hours=1)),
        ("-00:02:30", -timedelta(minutes=2, seconds=30)),
        (" +13:00 ", timedelta(hours=13)),
        ("+100:59:59", timedelta(hours=100, minutes=59, seconds=59)),
        ("-0:00", timedelta(0)),
    ],
)
def test_parse_clock_offset(text: str | None, expected: timedelta) -> None:
    assert parse_clock_offset(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "--clock-offset is empty: give ±HH:MM or ±HH:MM:SS (e.g. +01:00)"),  # trial
        ("  ", "--clock-offset is empty: give ±HH:MM or ±HH:MM:SS (e.g. +01:00)"),
        ("+1:60", "--clock-offset '+1:60': minutes and seconds go up to 59"),
        ("+1:00:60", "--clock-offset '+1:00:60': minutes and seconds go up to 59"),
        (
            "1h",
            "--clock-offset '1h' is not ±HH:MM or ±HH:MM:SS (e.g. +01:00, -00:02:30)",
        ),
        (
            "+1000:00",
            "--clock-offset '+1000:00' is not ±HH:MM or ±HH:MM:SS (e.g. +01:00, -00:02:30)",
        ),
        (
            "+０1:00",
            "--clock-offset '+０1:00' is not ±HH:MM or ±HH:MM:SS (e.g. +01:00, -00:02:30)",
        ),
        (
            "+01:0",
            "--clock-offset '+01:0' is not ±HH:MM or ±HH:MM:SS (e.g. +01:00, -00:02:30)",
        ),
        (  # a trial: pasted from a document, the sign was not said to be the fault
            "\u221201:00",
            "--clock-offset '\u221201:00' starts with '\u2212' (minus sign, as a word "
            "processor writes it), not the keyboard's -: type it again (-01:00)",
        ),
        (
            "\u201300:30",
            "--clock-offset '\u201300:30' starts with '\u2013' (en dash, as a word processor "
            "writes it), not the keyboard's -: type it again (-00:30)",
        ),
        (
            "\uff0b01:00",
            "--clock-offset '\uff0b01:00' starts with '\uff0b' (fullwidth plus sign, as a "
            "word processor writes it), not the keyboard's +: type it again (+01:00)",
        ),
    ],
)
def test_bad_clock_offset_messages(text: str, message: str) -> None:
    with pytest.raises(UsageError) as error:
        parse_clock_offset(text)
    assert error.value.message == message


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "+00:00:00"),
        (timedelta(hours=1), "+01:00:00"),
        (-timedelta(hours=1, seconds=30), "-01:00:30"),
        (-timedelta(seconds=59), "-00:00:59"),
        (timedelta(hours=26, minutes=3, seconds=4), "+26:03:04"),
        (timedelta(minutes=59, seconds=59), "+00:59:59"),
        (timedelta(minutes=59), "+00:59:00"),
        (-timedelta(hours=2, minutes=1), "-02:01:00"),
    ],
)
def test_format_clock_offset(delta: timedelta, text: str) -> None:
    assert format_clock_offset(delta) == text
    assert parse_clock_offset(text) == delta
