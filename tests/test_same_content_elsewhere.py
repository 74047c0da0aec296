"""A photo the patient has in the archive from another card path is planned as the ingest
does it: skipped, "already archived (same content)", not copied to a ``-2`` name that the
ingest's copy gate then skips. A trial found `preview` and `ingest` disagreeing so when the
card had been ingested before as its camera folder (`ingest CARD/DCIM/100CANON`).

The real command on real camera photos.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from badinput_helpers import cardingest, three_photo_card

ID = "JBX3656"


def actions(document: dict) -> dict[str, tuple[str, str | None, str | None]]:
    return {
        item["source"]: (item["action"], item["target"], item["reason"])
        for item in document["items"]
    }


def test_a_card_ingested_as_its_camera_folder_is_planned_as_archived(tmp_path: Path) -> None:
    card = three_photo_card(tmp_path / "card")
    home, archive = tmp_path / "home", tmp_path / "archive"
    first = cardingest("ingest", card / "DCIM" / "100CANON", "--id", ID, "--archive", archive,
                       "--json", home=home)  # fmt: skip
    assert first.code == 0, first.stderr
    filed = {Path(item["source"]).name: item["target"] for item in first.json()["items"]}

    preview = cardingest("preview", card, "--id", ID, "--archive", archive, "--json", home=home)
    planned = actions(preview.json())
    assert planned == {
        f"DCIM/100CANON/{name}": ("skip", target, "already archived (same content)")
        for name, target in filed.items()
    }, planned
    ingest = cardingest("ingest", card, "--id", ID, "--archive", archive, "--json", home=home)
    assert ingest.code == 0 and actions(ingest.json()) == planned, ingest.stdout
    assert sorted(p.name for p in (archive / ID).glob("*.jpg")) == sorted(
        Path(target).name for target in filed.values()
    )
    again = cardingest("preview", card, "--id", ID, "--archive", archive, "--json", home=home)
    assert {action for action, _, _ in actions(again.json()).values()} == {"skip"}
    wipe = cardingest("wipe", card, "--archive", archive, "--yes", "--json", home=home)
    assert wipe.code == 0 and wipe.json()["summary"] == {"removed": 3, "kept": 0}, wipe.stdout


def test_a_copy_of_an_archived_photo_in_another_folder_is_skipped_in_the_plan(
    tmp_path: Path,
) -> None:
    card = three_photo_card(tmp_path / "card")
    home, archive = tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", ID, "--archive", archive, home=home).code == 0
    (card / "DCIM" / "101CANON").mkdir()
    shutil.copyfile(card / "DCIM/100CANON/IMG_0002.JPG", card / "DCIM/101CANON/IMG_0102.JPG")
    preview = cardingest("preview", card, "--id", ID, "--archive", archive, "--json", home=home)
    planned = actions(preview.json())
    action, target, reason = planned["DCIM/101CANON/IMG_0102.JPG"]
    assert (action, reason) == ("skip", "already archived (same content)"), planned
    assert target == planned["DCIM/100CANON/IMG_0002.JPG"][1]
    ingest = cardingest("ingest", card, "--id", ID, "--archive", archive, "--json", home=home)
    assert actions(ingest.json()) == planned
    assert ingest.json()["summary"]["copied"] == 0


def test_a_camera_sidecar_archived_beside_the_photo_is_skipped_with_it(tmp_path: Path) -> None:
    """The review: the photo was planned skip, and its camera XMP, archived beside it, held
    with "… the name beside it … is held by another file: move that one aside": the archived
    sidecar itself."""
    card = three_photo_card(tmp_path / "card")
    folder = card / "DCIM" / "100CANON"
    (folder / "IMG_0001.XMP").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><!-- camera --></x:xmpmeta>'
    )
    home, archive = tmp_path / "home", tmp_path / "archive"
    first = cardingest("ingest", folder, "--id", ID, "--archive", archive, home=home)
    assert first.code == 0, first.stderr
    ingest = cardingest("ingest", card, "--id", ID, "--archive", archive, "--json", home=home)
    planned = actions(ingest.json())
    assert planned["DCIM/100CANON/IMG_0001.XMP"][0::2] == (
        "skip",
        "already archived (same content)",
    )
    assert ingest.code == 0 and ingest.json()["summary"]["copied"] == 0, planned
    wipe = cardingest("wipe", card, "--archive", archive, "--yes", "--json", home=home)
    assert wipe.code == 0 and wipe.json()["summary"] == {"removed": 4, "kept": 0}, wipe.stdout
