"""Issue 12, item 5: a card file name that is not valid UTF-8, end to end."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from badinput_helpers import cardingest, folder_card, photos
from cardimage import (
    MountedCard,
    build_fat32_image,
    require,
    require_fat_tools,
    require_samples,
)

BAD = b"DCIM/100CANON/IMG_\xe90002.JPG"
BAD_FOLDER = b"DCIM/101\xffCAM/IMG_0003.JPG"


@pytest.fixture
def card(tmp_path: Path) -> Path:
    require_samples()
    first, second, third = photos(3)
    return folder_card(
        tmp_path / "card",
        {b"DCIM/100CANON/IMG_0001.JPG": first, BAD: second, BAD_FOLDER: third},
    )


def catalogued(archive: Path) -> set[str]:
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as db:
        return {row[0] for row in db.execute("SELECT archive_path FROM files")}


def on_disk(archive: Path) -> set[str]:
    return {
        p.relative_to(archive).as_posix()
        for p in archive.rglob("*")
        if p.is_file() and ".cardingest" not in p.parts
    }


def test_undecodable_names_are_held_and_every_command_answers(card: Path, tmp_path: Path) -> None:
    home, archive = tmp_path / "home", tmp_path / "archive"
    preview = cardingest(
        "preview", card, "--id", "JBX3656", "--archive", archive, "--json", home=home
    )
    assert preview.code == 3
    items = {item["source"]: item for item in preview.json()["items"]}
    held = items["DCIM/100CANON/IMG_\\xe90002.JPG"]
    assert held["action"] == "hold" and "not valid UTF-8" in held["reason"]
    assert items["DCIM/101\\xffCAM/IMG_0003.JPG"]["action"] == "hold"
    assert items["DCIM/100CANON/IMG_0001.JPG"]["action"] == "copy"

    for _ in range(2):  # the re-run must answer the same way, not crash
        run = cardingest(
            "ingest", card, "--id", "JBX3656", "--archive", archive, "--json", home=home
        )
        assert run.code == 3, run.stderr
        summary = run.json()["summary"]
        assert summary["failed"] == 0 and summary["held"] == 2
    # Every published file has its row, and nothing else was published.
    assert on_disk(archive) == catalogued(archive) == {"JBX3656/JBX3656-20080530-155601.jpg"}

    text = cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home)
    assert text.code == 3
    assert "IMG_\\xe90002.JPG" in text.text and "\udce9" not in text.text

    verify = cardingest("verify", "--archive", archive, "--json", home=home)
    assert verify.code == 0 and verify.json()["summary"]["records"] == 1

    wipe = cardingest("wipe", card, "--archive", archive, "--yes", "--json", home=home)
    assert wipe.code == 3, wipe.stderr
    kept = {
        item["source"]: item["reason"] for item in wipe.json()["items"] if item["action"] == "keep"
    }
    assert set(kept) == {"DCIM/100CANON/IMG_\\xe90002.JPG", "DCIM/101\\xffCAM/IMG_0003.JPG"}
    assert not (card / "DCIM/100CANON/IMG_0001.JPG").exists()
    assert (tmp_path / "card").joinpath(BAD.decode("utf-8", "surrogateescape")).exists()
    assert cardingest("audit", "--archive", archive, home=home).code == 0


def test_stray_file_with_an_undecodable_name_in_the_archive(card: Path, tmp_path: Path) -> None:
    home, archive = tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 3
    (archive / "JBX3656").joinpath(
        b"stray-\xfe.jpg".decode("utf-8", "surrogateescape")
    ).write_bytes(b"x")
    verify = cardingest("verify", "--archive", archive, "--json", home=home)
    assert verify.code == 1
    problems = [p for p in verify.json()["problems"] if p["kind"] != "exposed"]  # umask
    assert [(p["kind"], p["path"]) for p in problems] == [("unexpected", "JBX3656/stray-\\xfe.jpg")]
    assert cardingest("audit", "--archive", archive, home=home).code == 0


def test_a_damaged_fat32_card_entry_is_held_and_kept(tmp_path: Path) -> None:
    """A FAT short name holds code-page bytes; a damaged or foreign one reaches Linux through
    fusefat as bytes that are not UTF-8. Here one directory entry of a real FAT32 image is
    damaged that way, and the card is mounted with fusefat."""
    require_fat_tools()
    require_samples()
    first, second = photos(2)
    image = build_fat32_image(
        tmp_path / "card.img",
        {"DCIM/100CANON/IMG_0001.JPG": first, "DCIM/100CANON/IMG_0002.JPG": second},
        64,
        "CARD",
    )
    data = bytearray(image.read_bytes())
    assert data.count(b"IMG_0002JPG") == 1
    at = data.index(b"IMG_0002JPG")
    data[at : at + 11] = b"IMG_\xe9002JPG"
    image.write_bytes(bytes(data))
    home, archive = tmp_path / "home", tmp_path / "archive"
    with MountedCard(image, tmp_path / "media" / "CARD") as card:
        names = os.listdir(os.fsencode(card / "DCIM" / "100CANON"))
        require(b"IMG_\xe9002.JPG" in names, f"this fusefat shows the entry as {names!r}")
        for _ in range(2):
            run = cardingest(
                "ingest", card, "--id", "JBX3656", "--archive", archive, "--json", home=home
            )
            assert run.code == 3, run.stderr
            held = [i for i in run.json()["items"] if i["action"] == "hold"]
            assert [i["source"] for i in held] == ["DCIM/100CANON/IMG_\\xe9002.JPG"]
        assert on_disk(archive) == catalogued(archive) == {"JBX3656/JBX3656-20080530-155601.jpg"}
        wipe = cardingest("wipe", card, "--archive", archive, "--yes", "--json", home=home)
        assert wipe.code == 3, wipe.stderr
        assert wipe.json()["summary"] == {"removed": 1, "kept": 1}
        assert os.listdir(os.fsencode(card / "DCIM" / "100CANON")) == [b"IMG_\xe9002.JPG"]
    assert cardingest("verify", "--archive", archive, home=home).code == 0
    assert cardingest("audit", "--archive", archive, home=home).code == 0


def test_a_source_or_archive_path_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    require_samples()
    card = folder_card(
        Path(os.fsdecode(os.fsencode(tmp_path) + b"/card-\xff")),
        {b"DCIM/100CANON/IMG_0001.JPG": photos(1)[0]},
    )
    home, archive = tmp_path / "home", tmp_path / "archive"
    run = cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, "--json", home=home)
    assert run.code == 2 and "card-\\xff is not valid UTF-8" in run.json()["error"]["message"]
    bad_archive = Path(os.fsdecode(os.fsencode(tmp_path) + b"/archive-\xfe"))
    good = folder_card(tmp_path / "card", {b"DCIM/100CANON/IMG_0001.JPG": photos(1)[0]})
    run = cardingest("ingest", good, "--id", "JBX3656", "--archive", bad_archive, home=home)
    assert run.code == 2 and "archive-\\xfe is not valid UTF-8" in run.stderr
    assert not archive.exists() and not bad_archive.exists()


@pytest.mark.parametrize("digit", ["²", "①", "٣"])
def test_a_number_in_other_digits_orders_a_burst_without_a_traceback(
    tmp_path: Path, digit: str
) -> None:
    """Two shots of one second are ordered by their DCF number; a name whose "number" is a
    superscript, a circled or an Arabic-Indic digit is still a name (not an int() error)."""
    [first] = photos(1)
    card = folder_card(
        tmp_path / "card",
        {
            b"DCIM/100CANON/IMG_0001.JPG": first,
            f"DCIM/100CANON/IMG_000{digit}.JPG".encode(): first,
        },
    )
    ran = cardingest("ingest", card, "--id", "JBX3656", "--archive", tmp_path / "a",
                     "--json", home=tmp_path)  # fmt: skip
    assert ran.code in (0, 3), ran.stderr
    summary = ran.json()["summary"]
    assert summary["copied"] + summary["skipped"] + summary["held"] == 2, summary
