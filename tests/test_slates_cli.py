"""Slates through the CLI: the slate sheet, settings, flags and share on folders, and watch on
a FAT32 card."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import zxingcpp
from cardimage import CardFactory
from clinic_helpers import invoke
from PIL import Image, ImageFilter
from slate_photos import held_by_marks, label, photo_at, slate_photo, with_time

from cardingest.card.slate import SlateOptions, decode
from cardingest.models import SlateRead

T0 = datetime(2026, 11, 25, 9, 0, 0)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(path))


@pytest.fixture
def card(tmp_path: Path, samples_dir: Path) -> Path:
    """A folder card: a slate for JBX3656, then two photos."""
    real = samples_dir / "real"
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    (folder / "IMG_0001.JPG").write_bytes(
        slate_photo(real / "45-gps_ifd.jpg", "JBX3656", "qr", T0, fraction=0.25)
    )
    for n in (2, 3):
        (folder / f"IMG_{n:04d}.JPG").write_bytes(
            photo_at(real / "22-canon_tags.jpg", T0 + timedelta(minutes=n))
        )
    return tmp_path / "card"


def test_slate_sheet_decodes_to_the_id_in_both_codes(tmp_path: Path, samples_dir: Path) -> None:
    code, _, err = invoke("slate", "jbx3656")
    assert code == 0, err
    sheet = tmp_path / "slate-JBX3656.png"
    with Image.open(sheet) as image:
        assert image.format == "PNG"
        found = zxingcpp.read_barcodes(image.convert("L"))
    assert sorted((str(b.format), b.text) for b in found) == [
        ("Code 128", "JBX3656"),
        ("QR Code", "JBX3656"),
        ("QR Code", "JBX3656"),
        ("QR Code", "JBX3656"),
        ("QR Code", "JBX3656"),
    ]
    # Photographed from across the room: a real photo with the sheet in it.
    shot = slate_photo(samples_dir / "real" / "22-canon_tags.jpg", "JBX3656", "qr", T0)
    assert decode(shot, SlateOptions()).ids == ("JBX3656",)
    assert invoke("slate", "JBX3656")[0] == 2  # never overwrites
    assert invoke("slate", "JBX3657")[0] == 2  # an invalid ID is refused, not corrected
    code, _, _ = invoke("slate", "JBX3656", "--out", str(tmp_path / "sheet.pdf"))
    assert code == 0
    assert (tmp_path / "sheet.pdf").read_bytes().startswith(b"%PDF")
    assert invoke("slate", "JBX3656", "--out", str(tmp_path / "sheet.txt"))[0] == 2


def test_slates_exclude_map_and_id(card: Path, tmp_path: Path) -> None:
    map_file = tmp_path / "map.csv"
    map_file.write_text("files,id\nIMG_0001-IMG_0003,JBX3656\n", encoding="utf-8")
    for extra in (["--id", "JBX3656"], ["--map", str(map_file)]):
        code, _, err = invoke("preview", str(card), "--slates", *extra)
        assert code == 2 and "--slates" in err
    assert invoke("watch", "--slates", "--id", "JBX3656", "--once")[0] == 2
    assert invoke("map-template", str(card), "--slates", "--gap", "3")[0] == 2


def test_bad_slate_settings_are_exit_2(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for text, words in (
        ("slate_pattern = '[A-Z]+'\n", "group"),
        ("slate_pattern = '([A-Z'\n", "not a valid regular expression"),
        ("slate_max_gap = 0\n", "slate_max_gap"),
        ("slates = 'yes'\n", "'slates' should be true or false"),
        # true is a number to Python (1): a mutant that took it passed every test
        ("slate_max_gap = true\n", "'slate_max_gap' should be"),
        ("gap_minutes = false\n", "'gap_minutes' should be"),
    ):
        config(tmp_path, monkeypatch, text)
        code, _, err = invoke("preview", str(card), "--slates")
        assert code == 2, text
        assert words in err.replace("\n", " "), err


def test_slates_from_the_config_then_share_and_search_leave_slates_out(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "archive"
    config(tmp_path, monkeypatch, f"slates = true\narchive = '{archive}'\n")
    code, out, err = invoke("ingest", str(card), "--json")
    assert code == 0, err
    items = json.loads(out)["items"]
    assert [(i["role"], i["target"]) for i in items] == [
        ("slate", "JBX3656/JBX3656-20261125-090000-slate.jpg"),
        ("photo", "JBX3656/JBX3656-20261125-090200.jpg"),
        ("photo", "JBX3656/JBX3656-20261125-090300.jpg"),
    ]
    code, out, _ = invoke("search", "--id", "JBX3656", "--json")
    assert [r["role"] for r in json.loads(out)["results"]] == ["photo", "photo"]

    code, _, err = invoke("share", "JBX3656", "--out", str(tmp_path / "share"))
    assert code == 0, err
    assert len(list((tmp_path / "share").iterdir())) == 2
    code, _, err = invoke("share", "JBX3656", "--slates", "--out", str(tmp_path / "with"))
    assert code == 0, err
    assert len(list((tmp_path / "with").iterdir())) == 3
    code, _, err = invoke("share", "JBX3656", "--slates", "--anonymous", "--out", "x")
    assert code == 2 and "slates" in err
    # With slates = true, --id is checked against the slates read all the same (a trial:
    # another patient's slate and photos went under the --id without a word): the card says
    # JBX3656, so they stay on it; --no-slates leaves the slates unread and --id gives all.
    code, out, _ = invoke("preview", str(card), "--id", "ACA31FM", "--json")
    items = json.loads(out)["items"]
    assert code == 3 and {i["action"] for i in items} == {"hold"}, out
    assert items[0]["reason"].startswith("it is the slate of JBX3656, and the --id gives it to")
    assert "comes after the slate DCIM/100CANON/IMG_0001.JPG of JBX3656" in items[1]["reason"]
    code, out, _ = invoke("preview", str(card), "--id", "JBX3656", "--json")
    assert code == 0 and {i["id"] for i in json.loads(out)["items"]} == {"JBX3656"}
    code, out, _ = invoke("preview", str(card), "--id", "ACA31FM", "--no-slates", "--json")
    items = json.loads(out)["items"]  # held as JBX3656's archived photos, not by the slate
    assert {i["id"] for i in items} == {"ACA31FM"}
    assert all("already archived under patient JBX3656" in i["reason"] for i in items), items


@pytest.mark.parametrize("given", [["--id", "JBX3656"], ["--map", "map.csv"]])
def test_a_slate_the_map_agrees_with_is_still_a_slate(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: list[str]
) -> None:
    """With ``slates = true`` and a map or ``--id`` that agrees with the slate, the slate is
    archived as a slate (a trial: filed as the patient's first photo, sent to the PACS)."""
    archive = tmp_path / "archive"
    config(tmp_path, monkeypatch, f"slates = true\narchive = '{archive}'\n")
    (tmp_path / "map.csv").write_text("files,id\nIMG_0001-IMG_0003,JBX3656\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke("ingest", str(card), *given, "--json")
    assert code == 0, err
    assert [(i["role"], i["target"]) for i in json.loads(out)["items"]] == [
        ("slate", "JBX3656/JBX3656-20261125-090000-slate.jpg"),
        ("photo", "JBX3656/JBX3656-20261125-090200.jpg"),
        ("photo", "JBX3656/JBX3656-20261125-090300.jpg"),
    ]
    code, out, _ = invoke("search", "--id", "JBX3656", "--json")
    assert [r["role"] for r in json.loads(out)["results"]] == ["photo", "photo"]


def test_a_move_leaves_the_slate_with_the_patient_it_names(card: Path, tmp_path: Path) -> None:
    """A trial: ``move --from JBX3656 --to ACA31FM`` took JBX3656's slate along, and
    ``share ACA31FM --slates`` sent a picture of JBX3656's label in ACA31FM's referral. A
    slate stays with the patient its barcode names; given by its path it is refused."""
    archive = str(tmp_path / "archive")
    code, _, err = invoke("ingest", str(card), "--slates", "--archive", archive)
    assert code == 0, err
    slate = "JBX3656/JBX3656-20261125-090000-slate.jpg"
    code, _, err = invoke("move", slate, "--to", "ACA31FM", "--archive", archive)
    assert code == 2 and "is the slate of JBX3656" in err, err
    code, out, err = invoke("move", "--from", "JBX3656", "--to", "ACA31FM", "--archive", archive,
                            "--json")  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    assert [m["new"] for m in document["moved"]] == [
        "ACA31FM/ACA31FM-20261125-090200.jpg", "ACA31FM/ACA31FM-20261125-090300.jpg"
    ]  # fmt: skip
    assert [k["path"] for k in document["kept"]] == [slate]
    assert (tmp_path / "archive" / slate).is_file()
    code, out, err = invoke("move", "--from", "JBX3656", "--to", "ACA31FM", "--archive", archive)
    assert code == 0 and "already moved: 2 file(s) of JBX3656 to ACA31FM" in out, out + err
    assert "stays under JBX3656" in out
    code, _, err = invoke("share", "ACA31FM", "--slates", "--archive", archive, "--out", "sh")
    assert code == 0, err
    assert len(list((tmp_path / "sh").iterdir())) == 2
    code, _, err = invoke("move", "--from", "JBX3656", "--to", "MCJ1984", "--archive", archive)
    assert code == 2 and "only slates match, and a slate stays with the patient" in err, err


@pytest.mark.card
def test_watch_with_slates_ingests_the_card_by_its_slates(
    card: Path, tmp_path: Path, fat_card: CardFactory
) -> None:
    fat_card({str(p.relative_to(card)): p for p in card.rglob("*") if p.is_file()})
    archive = tmp_path / "archive"
    code, out, err = invoke("watch", "--slates", "--archive", str(archive), "--once")
    assert code == 0, err
    assert "3 copied and verified" in out
    assert sorted(p.name for p in (archive / "JBX3656").iterdir()) == [
        "JBX3656-20261125-090000-slate.jpg",
        "JBX3656-20261125-090200.jpg",
        "JBX3656-20261125-090300.jpg",
    ]


def slates_after_photos(tmp_path: Path, samples_dir: Path) -> Path:
    """A folder card whose slates were each photographed after their patient's two photos
    (JBX3656's slate is IMG_0003, ACA31FM's IMG_0006); its camera folder."""
    real = samples_dir / "real"
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    shots = ["photo", "photo", "JBX3656", "photo", "photo", "ACA31FM"]
    for n, what in enumerate(shots, start=1):
        when = T0 + timedelta(minutes=2 * n)
        (folder / f"IMG_{n:04d}.JPG").write_bytes(
            photo_at(real / "22-canon_tags.jpg", when)
            if what == "photo"
            else slate_photo(real / "45-gps_ifd.jpg", what, "qr", when, fraction=0.25)
        )
    return folder


def test_a_card_a_killed_wipe_left_mid_visit_is_finished_with_no_word_of_slates_after(
    tmp_path: Path, samples_dir: Path
) -> None:
    """A helper's trial killed `ingest --slates --wipe` (kill -9) while it wiped: the card
    began with the rest of ACA31FM's visit, a photo ended it, and the next run told the
    clinician the slates may have been taken after the photos and to move them, of photos
    filed under their right patients. The wipe's state is made here by removing the first
    five files of an ingested card; the next run says nothing of the kind and finishes."""
    real = samples_dir / "real"
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    shots = ["JBX3656", "photo", "photo", "ACA31FM", "photo", "photo", "MCJ1984", "photo"]
    for n, what in enumerate(shots, start=1):
        when = T0 + timedelta(minutes=n)
        (folder / f"IMG_{n:04d}.JPG").write_bytes(
            photo_at(real / "22-canon_tags.jpg", when)
            if what == "photo"
            else slate_photo(real / "45-gps_ifd.jpg", what, "qr", when, fraction=0.25)
        )
    card, archive = str(tmp_path / "card"), str(tmp_path / "archive")
    code, _out, err = invoke("ingest", card, "--slates", "--archive", archive)
    assert code == 0, err
    for n in range(1, 6):
        (folder / f"IMG_{n:04d}.JPG").unlink()
    code, out, err = invoke(
        "ingest", card, "--slates", "--archive", archive, "--wipe", "--yes", "--json"
    )
    assert code == 0, err
    said = " ".join(json.loads(out)["warnings"]) + err
    assert "slate before them" not in said and "cardingest move" not in said
    assert list(folder.iterdir()) == []
    filed = Counter(photo.parent.name for photo in (tmp_path / "archive").glob("*/*.jpg"))
    assert filed == {"JBX3656": 3, "ACA31FM": 3, "MCJ1984": 2}


def test_a_card_of_slates_taken_after_the_photos_is_held_and_not_wiped(
    tmp_path: Path, samples_dir: Path
) -> None:
    """Real slates, each photographed after its patient's photos: `ingest --slates --wipe
    --yes` filed ACA31FM's photos as JBX3656's and cleared them off the card, exit 3 with
    one warning (an outside tester's trial). Every photo is held now; the slates alone are
    filed and wiped, and the map template of the slates is there to correct it with."""
    folder = slates_after_photos(tmp_path, samples_dir)
    archive = tmp_path / "archive"
    code, out, err = invoke(
        "ingest", str(tmp_path / "card"), "--slates", "--archive", str(archive),
        "--wipe", "--yes", "--json",
    )  # fmt: skip
    assert code == 3, err
    document = json.loads(out)
    actions = {i["source"].rpartition("/")[2]: i["action"] for i in document["items"]}
    assert actions == {
        "IMG_0001.JPG": "hold", "IMG_0002.JPG": "hold", "IMG_0003.JPG": "copy",
        "IMG_0004.JPG": "hold", "IMG_0005.JPG": "hold", "IMG_0006.JPG": "copy",
    }  # fmt: skip
    held = next(i for i in document["items"] if i["source"].endswith("IMG_0004.JPG"))
    assert "each slate was photographed after its patient's photos" in held["reason"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "IMG_0001.JPG", "IMG_0002.JPG", "IMG_0004.JPG", "IMG_0005.JPG",
    ]  # fmt: skip
    assert sorted(p.name for p in archive.glob("*/*.jpg")) == sorted(
        p.name for p in archive.glob("*/*-slate.jpg")
    )


def test_photos_a_map_archived_are_not_said_held_by_the_slates_ingest_that_wipes_them(
    tmp_path: Path, samples_dir: Path
) -> None:
    """An end-to-end trial: the card's photos were ingested with a map (their slates held,
    "not in the ID map"); `ingest --slates --wipe` of the card then warned "2 file(s) held
    (first: …)" of the photos it skipped as archived and wiped, so a clinician read that
    held photos were removed. The warning says they are not held, as archived; the plan and
    the wipe are as before."""
    folder = slates_after_photos(tmp_path, samples_dir)
    archive, id_map = tmp_path / "archive", tmp_path / "today.csv"
    id_map.write_text("files,id\nIMG_0001-IMG_0002,JBX3656\nIMG_0004-IMG_0005,ACA31FM\n")
    card = str(tmp_path / "card")
    code, _out, err = invoke("ingest", card, "--map", str(id_map), "--archive", str(archive))
    assert code == 3, err  # the slates: "not in the ID map"
    code, out, err = invoke(
        "ingest", card, "--slates", "--archive", str(archive), "--wipe", "--yes", "--json"
    )
    assert code == 0, err
    document = json.loads(out)
    actions = {i["source"].rpartition("/")[2]: i["action"] for i in document["items"]}
    assert actions == {
        "IMG_0001.JPG": "skip", "IMG_0002.JPG": "skip", "IMG_0003.JPG": "copy",
        "IMG_0004.JPG": "skip", "IMG_0005.JPG": "skip", "IMG_0006.JPG": "copy",
    }  # fmt: skip
    assert list(folder.iterdir()) == []
    said = " ".join(document["warnings"])
    assert "held (first" not in said and "held (first" not in err
    assert (
        "2 file(s) not held, as an earlier ingest of this card archived them (first: "
        "DCIM/100CANON/IMG_0004.JPG): photos with no slate before them"
    ) in said


def test_map_template_of_slates_says_what_the_slates_say_of_the_card(
    tmp_path: Path, samples_dir: Path
) -> None:
    """A helper's trial: `map-template --slates` of a card whose slates were taken after the
    photos wrote the held photos as comments and said nothing of why, where `preview` warns
    that each group may be the next slate's patient's. The warning is on stderr; the CSV on
    stdout is the map alone."""
    slates_after_photos(tmp_path, samples_dir)
    code, out, err = invoke("map-template", str(tmp_path / "card"), "--slates")
    assert code == 0, err
    assert "photos with no slate before them" in err
    assert "file(s) held (first: DCIM/100CANON/IMG_0004.JPG)" in err
    assert out.startswith("files,id") and "Warning" not in out


def test_with_slates_in_the_config_a_slate_that_cannot_be_used_holds_its_photos_under_id(
    tmp_path: Path, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: with `slates = true`, `--id` was checked only against slates that read a
    valid ID: a second slate whose ID fails its check (a new patient starts there) let
    `--id` file that patient's photos under the first one's ID."""
    real = samples_dir / "real"
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    for n, slate in ((1, "JBX3656"), (3, "JBX3657")):  # JBX3657 fails the NHI check
        (folder / f"IMG_{n:04d}.JPG").write_bytes(
            slate_photo(
                real / "45-gps_ifd.jpg", slate, "qr", T0 + timedelta(minutes=n), fraction=0.25
            )
        )
        (folder / f"IMG_{n + 1:04d}.JPG").write_bytes(
            photo_at(real / "22-canon_tags.jpg", T0 + timedelta(minutes=n, seconds=30))
        )
    config(tmp_path, monkeypatch, f"slates = true\narchive = '{tmp_path / 'archive'}'\n")
    code, out, err = invoke("preview", str(tmp_path / "card"), "--id", "JBX3656", "--json")
    items = {i["source"].rpartition("/")[2]: i for i in json.loads(out)["items"]}
    assert code == 3, err
    assert [items[f"IMG_000{n}.JPG"]["action"] for n in (1, 2, 3, 4)] == [
        "copy", "copy", "hold", "hold"
    ]  # fmt: skip
    assert "that cannot be used" in items["IMG_0004.JPG"]["reason"]
    assert "the card and the --id disagree" in items["IMG_0004.JPG"]["reason"]
    assert "right about these photos, run again with --no-slates" in items["IMG_0004.JPG"]["reason"]
    assert "--slates or" not in items["IMG_0004.JPG"]["reason"]  # it would hold it again


def test_a_slate_template_given_to_another_card_of_the_same_names_holds_its_photos(
    card: Path, tmp_path: Path, samples_dir: Path
) -> None:
    """A trial: `map-template --slates` writes its span in another form of `#` line, which
    the check did not read: the map, given to another card of the same names, filed it."""
    code, _out, err = invoke("map-template", str(card), "--slates", "--out", "slates.csv")
    assert code in (0, 3), err
    folder = tmp_path / "other" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    for n in (1, 2, 3):
        (folder / f"IMG_{n:04d}.JPG").write_bytes(
            photo_at(samples_dir / "real" / "22-canon_tags.jpg", T0 + timedelta(days=2, minutes=n))
        )
    args = ("--map", "slates.csv", "--archive", str(tmp_path / "a"), "--json")
    code, out, err = invoke("preview", str(tmp_path / "other"), *args)
    items = [i for i in json.loads(out)["items"] if i["source"] != "DCIM/100CANON/IMG_0001.JPG"]
    assert code == 3 and {i["action"] for i in items} == {"hold"}, out
    assert all("written by map-template for photos taken" in i["reason"] for i in items), items
    code, out, err = invoke("preview", str(card), *args)
    assert [i["action"] for i in json.loads(out)["items"]][1:] == ["copy", "copy"], out


def _cut_off_slate(
    tmp_path: Path,
    background: Path,
    patient: str,
    when: datetime,
    *,
    width: float = 0.4,
    size: tuple[int, int] | None = None,
    orientation: int = 1,
) -> bytes:
    """A real photo (scaled to ``size``) with a QR label at ``width`` of its width, its right
    45% outside the frame: two of the code's three corner marks. A slate printed before the
    sheet had two codes (or a wristband's QR label); a label taller than the photo is cut at
    the top and bottom. ``orientation``: its EXIF Orientation."""
    with Image.open(background) as source:
        exif = source.getexif()
        photo = source.convert("RGB")
    exif[0x0112] = orientation
    if size is not None:
        photo = photo.resize(size, Image.Resampling.BILINEAR)
    across = int(photo.width * width)
    slate = label(patient, "qr", across)
    top = max((photo.height - slate.height) // 2, -slate.height // 20)
    photo.paste(slate, (int(photo.width - across * 0.55), top))
    return with_time(photo, exif, when, 88)


def _sheet_photo(
    tmp_path: Path, background: Path, patient: str, *, out: tuple[float, float], angle: float
) -> bytes:
    """A real photo of 3000 x 2000 with the sheet `cardingest slate` prints at 35% of its
    width, turned ``angle`` degrees, ``out`` (a share of its width, of its height; negative:
    off the left or top) outside the frame, blurred a little."""
    sheet = tmp_path / f"sheet-{patient}.png"
    if not sheet.exists():
        assert invoke("slate", patient, "--out", str(sheet))[0] == 0
    with Image.open(background) as source:
        exif = source.getexif()
        photo = source.convert("RGB").resize((3000, 2000), Image.Resampling.BILINEAR)
    with Image.open(sheet) as printed:
        across = int(photo.width * 0.35)
        slate = printed.convert("RGB").resize(
            (across, int(across * printed.height / printed.width)), Image.Resampling.BILINEAR
        )
    mask = Image.new("L", slate.size, 255).rotate(angle, expand=True)
    slate = slate.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    x = slate.width * out[0] if out[0] < 0 else photo.width - slate.width * (1 - out[0])
    y = slate.height * out[1] if out[1] < 0 else photo.height - slate.height * (1 - out[1])
    if out[0] == 0:
        x = (photo.width - slate.width) / 2
    if out[1] == 0:
        y = (photo.height - slate.height) / 2
    photo.paste(slate, (int(x), int(y)), mask)
    photo = photo.filter(ImageFilter.GaussianBlur(1.5))
    return with_time(photo, exif, when=T0, quality=80)


@pytest.mark.parametrize(
    ("out", "angle"),
    [((-0.36, 0), 4.0), ((-0.24, 0), 0.0), ((-0.43, 0), -8.0), ((0.4, 0), 8.0),
     ((0, -0.3), 3.0), ((0, 0.3), -3.0), ((0.42, -0.42), 0.0), ((-0.42, -0.42), 8.0),
     ((0.4, 0.4), -8.0), ((-0.35, 0.35), 0.0)],
    ids=["left third, turned", "left quarter", "left, turned back", "right", "top", "bottom",
         "top right corner", "top left corner, turned", "bottom right corner, turned back",
         "bottom left corner"],
)  # fmt: skip
def test_the_sheet_cut_off_at_an_edge_or_a_corner_still_reads(
    tmp_path: Path, samples_dir: Path, out: tuple[float, float], angle: float
) -> None:
    """A trial: the sheet, with one QR code, photographed with its left third out of the
    frame (one corner mark left) read as no slate, and it and its patient's photos were
    filed under the patient before, exit 0; with two (top left, lower right), one cut at its
    top right corner did the same. The sheet now has a code in each corner: one of them is
    whole whichever edge or corner cuts it (up to nearly half its width and height)."""
    real = samples_dir / "real" / "22-canon_tags.jpg"
    shot = _sheet_photo(tmp_path, real, "ACA31FM", out=out, angle=angle)
    assert decode(shot, SlateOptions()) == SlateRead(path="", ids=("ACA31FM",))


@pytest.mark.parametrize(
    ("size", "width"),
    [((3000, 4000), 0.25), ((3000, 4000), 0.55), ((3000, 4000), 0.9), ((4000, 3000), 0.4),
     ((4000, 3000), 0.8), ((1600, 1200), 0.7)],
)  # fmt: skip
def test_a_cut_off_slate_is_seen_at_every_size_it_fills_the_frame_to(
    tmp_path: Path, samples_dir: Path, size: tuple[int, int], width: float
) -> None:
    """A review: marks of more than about 10 pixels at the one scale looked at were never
    told from specks, so a slate photographed close up (80-90% of the frame) and cut off
    read as no slate."""
    real = samples_dir / "real" / "22-canon_tags.jpg"
    cut = _cut_off_slate(tmp_path, real, "MCJ1984", T0, width=width, size=size)
    assert held_by_marks(decode(cut, SlateOptions()))


def test_a_slate_cut_off_at_the_frames_edge_holds_its_photos(
    tmp_path: Path, samples_dir: Path
) -> None:
    """A trial: MCJ1984's slate with 45% of it outside the frame (two of the QR code's
    corner marks, half the barcode and "MCJ1" in sharp focus) read as no slate at all, and
    it and MCJ1984's photos were filed under JBX3656, exit 0, with no word."""
    real = samples_dir / "real"
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    (folder / "IMG_0001.JPG").write_bytes(
        slate_photo(real / "45-gps_ifd.jpg", "JBX3656", "qr", T0, fraction=0.25)
    )
    for n in (2, 3, 5, 6):
        (folder / f"IMG_{n:04d}.JPG").write_bytes(
            photo_at(real / "22-canon_tags.jpg", T0 + timedelta(minutes=n))
        )
    cut = _cut_off_slate(tmp_path, real / "22-canon_tags.jpg", "MCJ1984", T0 + timedelta(minutes=4))
    (folder / "IMG_0004.JPG").write_bytes(cut)
    assert held_by_marks(decode(cut, SlateOptions()))
    archive = tmp_path / "archive"
    code, out, err = invoke(
        "ingest", str(tmp_path / "card"), "--slates", "--archive", str(archive), "--json"
    )
    assert code == 3, err
    items = {i["source"].rpartition("/")[2]: i for i in json.loads(out)["items"]}
    assert {name: item["action"] for name, item in items.items()} == {
        "IMG_0001.JPG": "copy", "IMG_0002.JPG": "copy", "IMG_0003.JPG": "copy",
        "IMG_0004.JPG": "hold", "IMG_0005.JPG": "hold", "IMG_0006.JPG": "hold",
    }  # fmt: skip
    assert "corner marks of a QR code were found" in items["IMG_0004.JPG"]["reason"]
    assert "on the right side of the photo" in items["IMG_0004.JPG"]["reason"]
    assert len(list((archive / "JBX3656").glob("*.jpg"))) == 3


@pytest.mark.samples
def test_a_blurred_slate_taken_again_at_once_is_held_not_filed_under_the_patient_before(
    tmp_path: Path, samples_dir: Path
) -> None:
    """A trial: MCJ1984's slate came out too blurred for its code to be found, and was taken
    again 5 s later; the blurred photo of MCJ1984's label was filed under JBX3656, exit 0."""
    real = samples_dir / "real"
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    blurred = slate_photo(real / "45-gps_ifd.jpg", "MCJ1984", "qr", T0 + timedelta(minutes=3),
                          fraction=0.25, blur=12, noise=0, seed=1)  # fmt: skip
    assert decode(blurred, SlateOptions()) == SlateRead(path="")  # no code found at all
    photos = {
        1: slate_photo(real / "45-gps_ifd.jpg", "JBX3656", "qr", T0, fraction=0.25),
        2: photo_at(real / "22-canon_tags.jpg", T0 + timedelta(minutes=1)),
        3: blurred,
        4: slate_photo(real / "45-gps_ifd.jpg", "MCJ1984", "qr",
                       T0 + timedelta(minutes=3, seconds=5), fraction=0.25),
        5: photo_at(real / "22-canon_tags.jpg", T0 + timedelta(minutes=4)),
    }  # fmt: skip
    for n, data in photos.items():
        (folder / f"IMG_{n:04d}.JPG").write_bytes(data)
    archive = tmp_path / "archive"
    code, out, err = invoke(
        "ingest", str(tmp_path / "card"), "--slates", "--archive", str(archive), "--json"
    )
    assert code == 3, err
    items = {i["source"].rpartition("/")[2]: i for i in json.loads(out)["items"]}
    assert items["IMG_0003.JPG"]["action"] == "hold"
    assert items["IMG_0003.JPG"]["reason"].startswith(
        "taken 5 s before the slate DCIM/100CANON/IMG_0004.JPG (MCJ1984), and no code was found"
    )
    assert len(list((archive / "JBX3656").glob("*.jpg"))) == 2
    assert len(list((archive / "MCJ1984").glob("*.jpg"))) == 2
    assert (folder / "IMG_0003.JPG").read_bytes() == blurred


@pytest.mark.samples
@pytest.mark.parametrize(
    ("orientation", "place"),
    [(1, "on the right side"), (3, "on the left side"), (6, "at the bottom"), (8, "at the top")],
)
def test_a_cut_off_slate_is_held_saying_where_its_marks_are_as_the_photo_is_shown(
    tmp_path: Path, samples_dir: Path, orientation: int, place: str
) -> None:
    """The last note: a photo held for corner marks did not say where they were, so whoever
    looked at it (a lesion photo with a bull's-eye lesion, say) could not find the cause.
    The place is said as a viewer shows the photo, turned by its EXIF Orientation."""
    real = samples_dir / "real" / "22-canon_tags.jpg"
    cut = _cut_off_slate(tmp_path, real, "MCJ1984", T0, orientation=orientation)
    found = decode(cut, SlateOptions())
    assert held_by_marks(found), found
    assert f"found where no code could be read, {place} of the photo (" in found.invalid[0]


def test_a_code_placed_outside_the_photo_is_no_photo_that_could_not_be_decoded() -> None:
    """A trial: zxing placed the corners of a code found at a cut-off slate outside the
    photo; the crop around them was empty, zxing raised ValueError, and the slate was held
    as "the photo could not be decoded", which sent the clinician looking for a damaged card."""
    from types import SimpleNamespace

    from cardingest.card.slate import _crop

    def corner(x: float, y: float) -> SimpleNamespace:
        return SimpleNamespace(x=x, y=y)

    outside = SimpleNamespace(
        position=SimpleNamespace(
            top_left=corner(-300, 10), top_right=corner(-200, 10),
            bottom_left=corner(-300, 110), bottom_right=corner(-200, 110),
        )
    )  # fmt: skip
    image = Image.new("L", (400, 300), 255)
    assert _crop(image, outside, 1.0) is None  # type: ignore[arg-type]
    inside = SimpleNamespace(position=SimpleNamespace(
        top_left=corner(100, 50), top_right=corner(200, 50),
        bottom_left=corner(100, 150), bottom_right=corner(200, 150),
    ))  # fmt: skip
    region = _crop(image, inside, 1.0)  # type: ignore[arg-type]
    assert region == (40, 0, 260, 210)  # 60 around, cut at the top


def _shoot(folder: Path, samples_dir: Path, n: int, nhi: str | None, when: datetime) -> None:
    """IMG_000n: a real photo, or with ``nhi`` a QR slate over one, taken ``when``."""
    real = samples_dir / "real"
    (folder / f"IMG_{n:04d}.JPG").write_bytes(
        photo_at(real / "22-canon_tags.jpg", when)
        if nhi is None
        else slate_photo(real / "45-gps_ifd.jpg", nhi, "qr", when, fraction=0.25, noise=0)
    )


def _desk_card(card: Path, samples_dir: Path, start: datetime) -> Path:
    """JBX3656's slate and photo, MCJ1984's, then JBX3656's sheet on the desk in MCJ1984's
    photo and one more: the camera folder."""
    folder = card / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    shots = {1: ("JBX3656", 0), 2: (None, 60), 3: ("MCJ1984", 200), 4: (None, 260),
             5: ("JBX3656", 300), 6: (None, 330)}  # fmt: skip
    for n, (nhi, second) in shots.items():
        _shoot(folder, samples_dir, n, nhi, start + timedelta(seconds=second))
    return folder


def test_a_photo_held_for_what_came_before_it_stays_held_once_that_was_wiped(
    tmp_path: Path, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: JBX3656's sheet on the desk in MCJ1984's photo was held by `ingest --slates
    --wipe`, which cleared the card of the visits before it; the next `ingest --slates
    --wipe` saw a slate and a photo alone, filed both under JBX3656 and wiped them, exit 0.
    The photos this card gave the archive that day are looked at with the card's."""
    folder = _desk_card(tmp_path / "card", samples_dir, T0)
    archive = tmp_path / "archive"
    config(tmp_path, monkeypatch, f'archive = "{archive}"\n')
    command = ("ingest", str(tmp_path / "card"), "--slates", "--wipe", "--yes", "--json")
    for run in (1, 2):
        code, out, err = invoke(*command)
        assert code == 3, (run, err)
        items = {i["source"].rpartition("/")[2]: i for i in json.loads(out)["items"]}
        for name in ("IMG_0005.JPG", "IMG_0006.JPG"):
            assert items[name]["action"] == "hold", (run, items[name])
            assert "JBX3656's slate again" in items[name]["reason"], (run, items[name])
        assert sorted(p.name for p in folder.iterdir()) == ["IMG_0005.JPG", "IMG_0006.JPG"]
    assert len(list((archive / "JBX3656").glob("*.jpg"))) == 2
    code, out, err = invoke("map-template", str(tmp_path / "card"), "--slates")
    assert code == 0, err
    assert "slate DCIM/100CANON/IMG_0005.JPG: held (JBX3656's slate again" in out


@pytest.mark.parametrize("first", ["DCIM", "DCIM/100CANON"])
def test_the_photos_a_folder_of_the_card_gave_are_found_from_the_card_given_whole(
    tmp_path: Path, samples_dir: Path, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    """The other way round (a mutant that knew an earlier ingest of one of the card's
    folders only by the folder now given passed every test, and filed MCJ1984's photos
    under JBX3656): the first ingest given a folder of the card (`--wipe` asks for the
    card's root, so the card is wiped by `wipe`), the next runs given the card."""
    folder = _desk_card(tmp_path / "card", samples_dir, T0)
    archive = tmp_path / "archive"
    config(tmp_path, monkeypatch, f'archive = "{archive}"\n')
    code, out, err = invoke("ingest", str(tmp_path / "card" / first), "--slates")
    assert code == 3, err
    code, out, err = invoke("wipe", str(tmp_path / "card"), "--yes")
    assert code == 3, err  # the held sheet's photos stay
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_0005.JPG", "IMG_0006.JPG"]
    for given in (tmp_path / "card", tmp_path / "card" / "DCIM"):
        code, out, err = invoke("preview", str(given), "--slates", "--json")
        assert code == 3, (given, err)
        items = {i["source"].rpartition("/")[2]: i for i in json.loads(out)["items"]}
        assert [items[n]["action"] for n in ("IMG_0005.JPG", "IMG_0006.JPG")] == ["hold"] * 2


def test_the_photos_the_card_gave_are_found_whichever_folder_of_it_was_given(
    tmp_path: Path, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review: the first ingest given the card, the second its DCIM folder (a plain
    folder, known by a digest of its path), were two sources, and the held sheet's photos
    were filed; so were they on a card whose clock ran ahead of today (the ingests of it were
    looked for from the day before its photos). Any folder of the card finds the others'
    ingests, from the day before the earlier of its photos' first day and today."""
    ahead = datetime.combine(datetime.now().date() + timedelta(days=20), T0.time())
    folder = _desk_card(tmp_path / "card", samples_dir, ahead)
    archive = tmp_path / "archive"
    config(tmp_path, monkeypatch, f'archive = "{archive}"\n')
    code, out, err = invoke("ingest", str(tmp_path / "card"), "--slates", "--wipe", "--yes")
    assert code == 3, err
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_0005.JPG", "IMG_0006.JPG"]
    for given in (tmp_path / "card" / "DCIM", folder, tmp_path / "card"):
        code, out, err = invoke("preview", str(given), "--slates", "--json")
        assert code == 3, (given, err)
        items = {i["source"].rpartition("/")[2]: i for i in json.loads(out)["items"]}
        assert [items[n]["action"] for n in ("IMG_0005.JPG", "IMG_0006.JPG")] == ["hold"] * 2
        assert "JBX3656's slate again" in items["IMG_0005.JPG"]["reason"], given


def test_the_cards_history_spans_midnight_and_a_file_name_given_again(
    tmp_path: Path, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review: the visits before the held sheet were of the day before (across midnight),
    and were left out; and a new photo under a wiped file's name (the camera's numbering
    started again) took that file for still on the card: both times the held photos were
    filed under the sheet's patient and wiped. A damaged record of the card's history is
    said, not passed over in silence."""
    night = datetime(2026, 11, 25, 23, 59, 0)
    folder = _desk_card(tmp_path / "card", samples_dir, night)
    archive = tmp_path / "archive"
    config(tmp_path, monkeypatch, f'archive = "{archive}"\n')
    command = ("ingest", str(tmp_path / "card"), "--slates", "--wipe", "--yes", "--json")
    code, out, err = invoke(*command)
    assert code == 3, err
    _shoot(folder, samples_dir, 1, "DEF1007", night + timedelta(hours=10))  # numbered again
    _shoot(folder, samples_dir, 2, None, night + timedelta(hours=10, minutes=1))
    code, out, err = invoke(*command)
    assert code == 3, err
    items = {i["source"].rpartition("/")[2]: i for i in json.loads(out)["items"]}
    assert [items[f"IMG_000{n}.JPG"]["action"] for n in (1, 2, 5, 6)] == [
        "copy", "copy", "hold", "hold",
    ]  # fmt: skip
    assert "JBX3656's slate again" in items["IMG_0005.JPG"]["reason"]
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_0005.JPG", "IMG_0006.JPG"]
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as db:
        db.execute(
            "UPDATE files SET captured_raw = captured_raw || '+13:00' WHERE patient_id = ? "
            "AND role = 'slate' AND source_path LIKE '%IMG_0001.JPG'",
            ("JBX3656",),
        )
    code, out, err = invoke("preview", str(tmp_path / "card"), "--slates", "--json")
    warnings = json.loads(out)["warnings"]
    assert any("1 record(s) of photos this card gave the archive before" in w for w in warnings)
