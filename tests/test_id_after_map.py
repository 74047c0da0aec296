"""`--id` after an ingest of the card filed some of its photos under another patient: the
photos left on the card from then are in doubt, and are warned about
(`prepare.left_by_another_patients_ingest`)."""

from __future__ import annotations

import json
from pathlib import Path

from clinic_helpers import cli
from exif_bytes import exif_jpeg, timed_card

from cardingest.errors import EXIT_HELD, EXIT_OK

WARNED = "photo(s) to be filed under JBX3656 were on the card when ingest"


def _warnings(result: object) -> list[str]:
    return list(json.loads(result.stdout)["warnings"])  # type: ignore[attr-defined]


def another_patients_map_ingested(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A card of four photos whose map gave the first two to MCJ1984 and held the rest (an
    ingest, exit 3): the card, the archive and the map."""
    card, archive = tmp_path / "card", tmp_path / "archive"
    timed_card(card, count=4)
    idmap = tmp_path / "map.csv"
    idmap.write_text("files,id\nIMG_0001-IMG_0002,MCJ1984\n")
    first = cli("ingest", card, "--map", idmap, "--archive", archive, "--json")
    assert first.exit_code == EXIT_HELD, first.output
    return card, archive, idmap


def test_id_warns_of_the_photos_another_patients_map_held(tmp_path: Path) -> None:
    """The map gave two of four photos to MCJ1984 and held two; a run with `--id JBX3656`
    then files those two, and says they were on the card at that ingest, not filed by it.
    The other patient's ID is not said."""
    card, archive, _map = another_patients_map_ingested(tmp_path)
    for command in ("preview", "ingest"):
        result = cli(command, card, "--id", "JBX3656", "--archive", archive, "--json")
        assert result.exit_code == EXIT_HELD, result.output  # the first two, MCJ1984's
        said = [w for w in _warnings(result) if WARNED in w]
        assert len(said) == 1 and said[0].startswith("2 photo(s)"), _warnings(result)
        assert "MCJ1984" not in said[0]
    assert len(list((archive / "JBX3656").glob("*.jpg"))) == 2


def test_id_for_the_photos_taken_since_another_patients_ingest_is_not_warned(
    tmp_path: Path,
) -> None:
    """A card not wiped between two patients: yesterday's photos are archived under
    MCJ1984, today's are all JBX3656's, taken after them."""
    card, archive = tmp_path / "card", tmp_path / "archive"
    folder = timed_card(card, count=2)
    first = cli("ingest", card, "--id", "MCJ1984", "--archive", archive, "--json")
    assert first.exit_code == EXIT_OK, first.output
    (folder / "IMG_0003.JPG").write_bytes(exif_jpeg("2024:05:02 09:00:00"))
    result = cli("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    assert result.exit_code == EXIT_HELD, result.output  # yesterday's two, held as MCJ1984's
    assert not [w for w in _warnings(result) if WARNED in w], _warnings(result)
    assert len(list((archive / "JBX3656").glob("*.jpg"))) == 1
