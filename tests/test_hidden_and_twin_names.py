"""Names a trial found passed over or confused. A photo hidden on the card (a name starting
with a dot, or in such a folder) is named and kept, never passed over: a wipe that said "kept
0" would let the card be formatted with it; what operating systems leave on any drive
(macOS's ``._`` files and .DS_Store) stays quiet. Two photos of one name (`.JPG`, `.JPEG`)
and different times are held: a map row naming one takes both.

The real command on a real folder of real camera photos (a trial found the loss this way).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from badinput_helpers import cardingest, photos
from cardimage import samples_real

ID = "ABC1006"


def test_hidden_photos_are_named_and_kept_through_ingest_and_wipe(tmp_path: Path) -> None:
    first, second, third = photos(3)
    card = tmp_path / "card"
    (card / "DCIM" / "100CANON").mkdir(parents=True)
    (card / "DCIM" / ".101CANON").mkdir()
    shutil.copyfile(first, card / "DCIM/100CANON/IMG_0001.JPG")
    shutil.copyfile(second, card / "DCIM/.101CANON/IMG_0002.JPG")
    shutil.copyfile(third, card / "DCIM/100CANON/.IMG_0003.JPG")
    (card / "DCIM/100CANON/._IMG_0001.JPG").write_bytes(b"\x00\x05\x16\x07" + bytes(4092))
    shutil.copyfile(third, card / "DCIM/100CANON/._IMG_0004.JPG")  # a photo, named as macOS's
    (card / "DCIM/.DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    home, archive = tmp_path / "home", tmp_path / "archive"

    run = cardingest("ingest", card, "--id", ID, "--archive", archive, "--wipe", "--yes", "--json",
                     home=home)  # fmt: skip
    assert run.code == 3, run.stderr
    stderr = " ".join(run.stderr.split())
    hidden_ones = ("DCIM/.101CANON", "DCIM/100CANON/.IMG_0003.JPG", "DCIM/100CANON/._IMG_0004.JPG")
    for hidden in hidden_ones:
        assert f"{hidden}: hidden (its name starts with a dot), not archived" in stderr, stderr
    assert "._IMG_0001" not in stderr and "DS_Store" not in stderr
    wipe = run.json()["wipe"]
    assert wipe["summary"] == {"removed": 1, "kept": 3}, wipe
    kept = {item["source"]: item["reason"] for item in wipe["items"] if item["action"] == "keep"}
    assert set(kept) == set(hidden_ones)
    assert all("hidden" in why for why in kept.values())
    assert (card / "DCIM/.101CANON/IMG_0002.JPG").read_bytes() == second.read_bytes()
    assert (card / "DCIM/100CANON/.IMG_0003.JPG").read_bytes() == third.read_bytes()
    assert not (card / "DCIM/100CANON/IMG_0001.JPG").exists()

    preview = cardingest("preview", card, "--id", ID, "--archive", archive, home=home)
    assert "DCIM/.101CANON: hidden" in " ".join(preview.stderr.split())


def test_two_photos_of_one_name_are_held_and_map_template_names_them(tmp_path: Path) -> None:
    """`IMG_0001.JPG` and `IMG_0001.JPEG` of two times (a trial: a row naming `IMG_0001` gave
    both to its patient, and map-template listed one group, showing one of them)."""
    first, second, _ = photos(3)
    card = tmp_path / "card"
    (card / "DCIM" / "100CANON").mkdir(parents=True)
    shutil.copyfile(first, card / "DCIM/100CANON/IMG_0001.JPG")
    shutil.copyfile(second, card / "DCIM/100CANON/IMG_0001.JPEG")
    home, archive = tmp_path / "home", tmp_path / "archive"
    template = cardingest("map-template", card, home=home)
    assert template.code == 0
    said = " ".join(template.stderr.split())
    assert (
        "DCIM/100CANON/IMG_0001.JPEG, DCIM/100CANON/IMG_0001.JPG: held on the card whatever "
        "their row says" in said
    ), said
    (tmp_path / "map.csv").write_text("files,id\nIMG_0001,ABC1006\n")
    run = cardingest("ingest", card, "--map", tmp_path / "map.csv", "--archive", archive,
                     "--json", home=home)  # fmt: skip
    assert run.code == 3 and run.json()["summary"]["copied"] == 0, run.stderr
    assert not (archive / ID).exists()


def test_a_file_named_as_a_jpeg_that_holds_something_else_is_held(tmp_path: Path) -> None:
    """A trial: a HEIF photo, a PNG, a video and a letter, each named .JPG, were filed as
    the patient's JPEGs (the HEIF with its own capture time). Each is held now, saying what
    it holds; a real JPEG beside them is filed."""
    from PIL import Image

    first = photos(1)[0]
    heif = samples_real() / "IMG_5195.HEIC"
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    shutil.copyfile(first, folder / "IMG_0001.JPG")
    shutil.copyfile(heif, folder / "IMG_0002.JPG")
    Image.new("RGB", (8, 8)).save(folder / "IMG_0003.JPG", format="PNG")
    (folder / "IMG_0004.jpeg").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    (folder / "IMG_0005.JPG").write_bytes(b"<html>referral letter</html>")
    home, archive = tmp_path / "home", tmp_path / "archive"
    run = cardingest("ingest", tmp_path / "card", "--id", ID, "--archive", archive, "--json",
                     home=home)  # fmt: skip
    assert run.code == 3, run.stderr
    items = {item["source"].rpartition("/")[2]: item for item in run.json()["items"]}
    assert items["IMG_0001.JPG"]["action"] == "copy"
    held = {name: items[name]["reason"] for name in items if name != "IMG_0001.JPG"}
    assert all(item["action"] == "hold" for name, item in items.items() if name in held)
    assert "holds a HEIF photo (rename it .HEIC)" in held["IMG_0002.JPG"]
    assert "holds a PNG image" in held["IMG_0003.JPG"]
    assert "holds an MP4 or MOV video" in held["IMG_0004.jpeg"]
    assert "holds text, not a JPEG (it starts with '<html>referr')" in held["IMG_0005.JPG"]
    assert [p.name for p in (archive / ID).iterdir() if p.suffix == ".jpg"] == [
        items["IMG_0001.JPG"]["target"].rpartition("/")[2]
    ]
    template = cardingest("map-template", tmp_path / "card", home=home)
    said = " ".join(template.stderr.split())
    assert (
        "DCIM/100CANON/IMG_0002.JPG: held on the card whatever their row says: named as a "
        "JPEG, but it holds a HEIF photo" in said
    ), said


def test_what_a_desktop_leaves_on_a_drive_is_not_named_as_hidden(tmp_path: Path) -> None:
    """The review: on a folder with no DCIM, a Linux desktop's `.Trash-1000` and macOS's
    `.TemporaryItems` and `.apdisk` were each named as a hidden file, and every wipe of it
    ended in exit 3. A hidden photo beside them still is named."""
    from cardingest.card.scan import HIDDEN, scan

    first = photos(1)[0]
    for name in (".Trash-1000/files/IMG_0009.JPG", ".TemporaryItems/x", ".apdisk"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    shutil.copyfile(first, tmp_path / "IMG_0001.JPG")
    shutil.copyfile(first, tmp_path / ".IMG_0002.JPG")
    specials: list[tuple[str, str]] = []
    assert [m.path for m in scan(tmp_path, specials=specials)] == ["IMG_0001.JPG"]
    assert specials == [(".IMG_0002.JPG", HIDDEN)]


def test_a_file_named_as_a_raw_or_heif_photo_that_holds_another_kind_is_held(
    tmp_path: Path,
) -> None:
    """A trial: a JPEG named .CR2 was filed as ID-date-time.cr2, a HEIF named .CR2 planned
    as one, while a CR3 named .JPG was held. The rule is the same both ways now; a real RAW
    beside them is filed, and a RAW whose bytes are of no kind told (a TIFF, binary) too."""
    first = photos(1)[0]
    raw = sorted((samples_real().parent / "raw").glob("*.CR3"))[0]
    heif = samples_real() / "IMG_5195.HEIC"
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    shutil.copyfile(first, folder / "IMG_0009.CR2")
    shutil.copyfile(heif, folder / "IMG_0018.CR2")
    shutil.copyfile(first, folder / "IMG_0019.HEIC")
    shutil.copyfile(raw, folder / "IMG_0020.HEIC")
    shutil.copyfile(raw, folder / "IMG_0021.CR3")
    run = cardingest("preview", tmp_path / "card", "--id", ID, "--archive", tmp_path / "a",
                     "--json", home=tmp_path / "home")  # fmt: skip
    assert run.code == 3, run.stderr
    items = {item["source"].rpartition("/")[2]: item for item in run.json()["items"]}
    assert items["IMG_0021.CR3"]["action"] == "copy", items
    reasons = {name: item.get("reason") for name, item in items.items()}
    assert {name: item["action"] for name, item in items.items()} == {
        "IMG_0009.CR2": "hold", "IMG_0018.CR2": "hold", "IMG_0019.HEIC": "hold",
        "IMG_0020.HEIC": "hold", "IMG_0021.CR3": "copy",
    }, reasons  # fmt: skip
    assert (
        "named as a CR2 file, but it holds a JPEG photo (rename it .JPG)" in reasons["IMG_0009.CR2"]
    )
    assert "holds a HEIF photo (rename it .HEIC)" in reasons["IMG_0018.CR2"]
    assert "named as a HEIC file, but it holds a JPEG photo" in reasons["IMG_0019.HEIC"]
    assert "holds a Canon CR3 RAW file (rename it .CR3)" in reasons["IMG_0020.HEIC"]
