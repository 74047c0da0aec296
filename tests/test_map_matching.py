"""Matching a map's names and times to a card through its index (`idmap._CardNames`) finds
exactly the photos the rules themselves (`idmap._covers`, a row's from and to) give, on
random cards: the index only skips photos a spec cannot cover, never changes which it does."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from factories import media

from cardingest.models import MediaFile
from cardingest.plan.idmap import _CardNames, _covers, _file_name, parse_spec, resolve
from cardingest.plan.idmap import parse_map_text as parse

FOLDERS = ["100CANON", "101CANON", "102CANON", "100MSDCF", "DCIM", "OLD"]
PREFIXES = ["IMG_", "img_", "DSC", "IMG_2026_", "P"]
START = datetime(2026, 11, 30, 9, 0, 0)


def random_card(rng: random.Random) -> list[MediaFile]:
    files: dict[str, MediaFile] = {}
    for _ in range(rng.randint(0, 60)):
        digits = rng.choice([3, 4, 4, 4, 5])
        number = rng.randint(0, 10**digits - 1)
        stem = f"{rng.choice(PREFIXES)}{number:0{digits}d}{rng.choice(['', '', '_3', 'A'])}"
        path = f"DCIM/{rng.choice(FOLDERS)}/{stem}.{rng.choice(['JPG', 'jpg', 'CR2'])}"
        when = START + timedelta(seconds=rng.randint(0, 4000))
        files[path] = media(path, when)
    return list(files.values())


def random_spec(rng: random.Random, card: list[MediaFile]) -> str:
    """A spec that reads: often the name of a photo of the card, or a range around some."""
    names = [_file_name(m) for m in card] or [_file_name(media("DCIM/100CANON/IMG_0001.JPG"))]

    def end(name_of: object) -> str:
        name = rng.choice(names)
        number = name.number if name.number is not None else rng.randint(0, 99)
        shift = rng.choice([0, 0, -1, 1, rng.randint(-500, 500)])
        digits = max(name.digits, 1)
        text = f"{name.prefix or 'IMG_'}{max(0, number + shift):0{digits}d}"
        return f"{name.folder}/{text}" if name_of else text

    while True:
        folder = rng.random() < 0.5
        spec = end(folder) if rng.random() < 0.3 else f"{end(folder)}-{end(folder)}"
        try:
            parse_spec(spec)
        except ValueError:
            continue
        return spec


@pytest.mark.parametrize("seed", range(150))
def test_the_index_finds_what_the_rules_cover(seed: int) -> None:
    rng = random.Random(seed)
    card = random_card(rng)
    index = _CardNames(card)
    for _ in range(20):
        first, last = parse_spec(random_spec(rng, card))
        by_rule = [m for m in card if _covers(first, last, _file_name(m))]
        assert index.covered(first, last) == by_rule
    for _ in range(10):
        start = START + timedelta(seconds=rng.randint(-100, 4100))
        end = start + timedelta(seconds=rng.choice([0, 1, rng.randint(0, 2000)]))
        assert index.taken_between(start, end) == [m for m in card if start <= m.captured <= end]


def test_a_map_of_many_rows_files_every_photo_under_its_own_row() -> None:
    """2,000 photos over two folders, each pair named by a row of its own: every photo gets
    its row; a row from and to a time takes the photos of its minutes, clock offset added."""
    folders = ["100CANON", "101CANON"]
    card = [
        media(f"DCIM/{folder}/IMG_{n:04d}.JPG", START + timedelta(seconds=7 * (n + 1000 * k)))
        for k, folder in enumerate(folders)
        for n in range(1, 1001)
    ]
    patients = ["JBX3656", "MCJ1984", "EPT6335"]
    rows = [
        (f"{folder}/IMG_{n:04d}-{folder}/IMG_{n + 1:04d}", patients[(n // 2 + k) % 3])
        for k, folder in enumerate(folders)
        for n in range(1, 1001, 2)
    ]
    found = resolve(parse("files,id\n" + "".join(f"{s},{p}\n" for s, p in rows)), card)
    for k, folder in enumerate(folders):
        for n in range(1, 1001):
            row = found[f"DCIM/{folder}/IMG_{n:04d}.JPG"]
            assert row.line == 2 + 500 * k + (n - 1) // 2
            assert row.patient_id == rows[row.line - 2][1]
    timed = parse("from,to,id\n2026-11-30 11:00,2026-11-30 11:01,JBX3656\n")
    shifted = resolve(timed, card, clock_offset=timedelta(hours=1))
    first, last = START + timedelta(hours=1), START + timedelta(hours=1, minutes=1, seconds=59)
    expected = [m.path for m in card if first <= m.captured <= last]
    assert expected and [m.path for m in card if shifted.get(m.path)] == expected


def test_a_range_that_matches_nothing_says_how_the_card_spells_its_names() -> None:
    """A Nikon writes _DSC0001 (Adobe RGB), a Sony DSC00001: a range typed DSC_0001-DSC_0003
    or DSC0001-DSC0003 matched nothing, with no word of the names on the card."""
    from cardingest.errors import MapError

    files = [
        *(media(f"DCIM/100MSDCF/DSC{n:05d}.JPG") for n in (1, 2, 3)),
        *(media(f"DCIM/101NIKON/_DSC{n:04d}.JPG") for n in (7, 8)),
        media("DCIM/102CANON/IMG_0001.JPG"),
    ]
    text = "files,id\nDSC_0001-DSC_0003,JBX3656\nIMG_0009,MCJ1984\nDSC0001,ACA31FM\n"
    with pytest.raises(MapError) as refused:
        resolve(parse(text), files)
    details = "\n".join(refused.value.details)
    both = "(its names are spelled DSC00001 to DSC00003, or _DSC0007 to _DSC0008)"
    assert f"line 2: files 'DSC_0001-DSC_0003' matches no file on the card {both}" in details
    assert "line 4: files 'DSC0001' matches no file on the card (its names are spelled" in details
    assert "line 3: files 'IMG_0009' matches no file on the card\n" in details + "\n"
