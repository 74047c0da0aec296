"""Patient data is never written onto a camera card: a map, a sheet, shared or DICOM copies
or a slate left there stays after the wipe (which takes only photos) and goes back into the
camera. Each is refused (exit 2) before anything is made, on the card the command reads and
on any mounted camera card (a real FAT32 card here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from badinput_helpers import cardingest, ingested_fat_card
from cardimage import CardFactory

from cardingest.demo import make_demo_card


def test_a_map_template_on_the_card_it_reads_is_refused(tmp_path: Path) -> None:
    card, _map = make_demo_card(tmp_path)
    for where in (card / "today.csv", card / "DCIM" / "today.csv"):
        done = cardingest("map-template", card, "--out", where, home=tmp_path / "home")
        said = " ".join(done.stderr.split())
        assert done.code == 2 and f"--out {where} is on the folder read as the card" in said
        assert not where.exists()


@pytest.mark.card
def test_copies_and_slates_are_not_written_on_a_mounted_card(
    fat_card: CardFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card, home, archive = ingested_fat_card(fat_card, tmp_path)
    before = sorted(p.name for p in card.iterdir())
    attempts = [
        ("share", "JBX3656", "--archive", archive, "--out", card / "referral"),
        ("dicom", "export", "JBX3656", "--archive", archive, "--out", card / "dicom"),
        ("slate", "JBX3656", "--out", card / "slate.png"),
    ]
    for args in attempts:
        done = cardingest(*args, home=home)
        assert done.code == 2 and "is on the card" in done.stderr, (args, done.stderr)
    monkeypatch.chdir(card)  # the default folder is made in the current one
    done = cardingest("share", "JBX3656", "--archive", archive, home=home)
    assert done.code == 2 and "is on the card" in done.stderr, done.stderr
    assert sorted(p.name for p in card.iterdir()) == before
