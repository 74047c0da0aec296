"""`cardingest share`: referral sizes, upright, no GPS/serial/owner, audit, never overwrite.

The last test is the issue's done-when on a FAT32 card of real camera photos.
"""

from __future__ import annotations

import io
import json
import shutil
import signal
import stat
import subprocess
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from cardimage import CardFactory
from clinic_helpers import (
    camera_jpeg,
    exiftool,
    invoke,
    private_tags,
    subjects,
    tree,
)
from PIL import Image
from terminal import injected

from cardingest.archive.audit import AuditLog
from cardingest.archive.catalogue import CatalogueRecord
from cardingest.archive.provenance import recorded_folder
from cardingest.archive.xmp import sidecar_path
from cardingest.clinic.jpeg import fit, strip_jpeg
from cardingest.clinic.share import share_names
from cardingest.storage.durable import TEMP_PREFIX

MEDIUM = (640, 480)


@pytest.fixture(autouse=True)
def _test_ids(test_ids: Path) -> Path:
    return test_ids


def within(size: tuple[int, int], box: tuple[int, int]) -> bool:
    """Fits ``box`` turned to match the photo: long side ≤ long bound, short ≤ short."""
    return max(size) <= max(box) and min(size) <= min(box)


def test_fit_keeps_aspect_never_enlarges_and_turns_the_box() -> None:
    assert fit((4032, 3024), MEDIUM) == (640, 480)
    assert fit((3024, 4032), MEDIUM) == (480, 640)
    assert fit((3872, 2403), MEDIUM) == (640, 397)
    assert fit((2164, 1626), MEDIUM) == (639, 480)
    assert fit((100, 68), MEDIUM) == (100, 68)
    assert fit((4000, 3000), (320, 320)) == (320, 240)
    assert fit((4000, 3000), None) == (4000, 3000)
    assert fit((6000, 4000), (2016, 1512)) == (2016, 1344)


def record(path: str, when: str, subsec: str = "") -> CatalogueRecord:
    return CatalogueRecord("JBX3656", path, "0" * 64, 1, when, when, "mtime", subsec=subsec)


def test_share_names_number_photos_of_one_second() -> None:
    records = [
        record("a.jpg", "2024-03-01T10:00:00"),
        record("b.jpg", "2024-03-01T10:00:00"),
        record("c.jpg", "2024-03-01T10:00:01"),
    ]
    assert share_names(records, "JBX3656", "small") == [
        "JBX3656-20240301-100000-small.jpg",
        "JBX3656-20240301-100000-2-small.jpg",
        "JBX3656-20240301-100001-small.jpg",
    ]
    assert share_names(records[2:], "7F3A9C21", "original") == ["7F3A9C21-20240301-100001.jpg"]


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


@pytest.mark.samples
@pytest.mark.parametrize(
    "name",
    ["45-gps_ifd.jpg", "87_OSError.jpg", "32-lens_data.jpeg", "no_exif.jpg", "Nikon_D70.jpg"],
)
def test_strip_jpeg_keeps_the_pixels_and_drops_the_metadata(
    samples_dir: Path, tmp_path: Path, name: str
) -> None:
    original = (samples_dir / "real" / name).read_bytes()
    stripped = strip_jpeg(original)
    assert pixels(stripped) == pixels(original)
    assert stripped.endswith(b"\xff\xd9") and len(stripped) < len(original)
    for marker in (b"Exif\x00\x00", b"http://ns.adobe.com/xap", b"Photoshop 3.0", b"MPF\x00"):
        assert marker not in stripped
    out = tmp_path / name
    out.write_bytes(stripped)
    assert private_tags(exiftool("-a", "-G1", out)[0]) == []


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """JBX3656: three camera JPEGs (one turned by EXIF, one large), consent teaching.

    MCJ1984: one photo with consent record only.
    """
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    camera_jpeg(folder / "IMG_0001.JPG", datetime(2024, 3, 1, 10, 0, 0))
    camera_jpeg(folder / "IMG_0002.JPG", datetime(2024, 3, 1, 10, 0, 30), orientation=6)
    camera_jpeg(folder / "IMG_0003.JPG", datetime(2024, 3, 1, 10, 1, 0), size=(3000, 2000))
    camera_jpeg(folder / "IMG_0004.JPG", datetime(2024, 3, 2, 9, 0, 0))
    map_file = tmp_path / "map.csv"
    map_file.write_text(
        "files,id,diagnosis,site,consent\n"
        "IMG_0001-IMG_0003,JBX3656,melanoma,back,teaching\n"
        "IMG_0004,MCJ1984,psoriasis,,record\n",
        encoding="utf-8",
    )
    archive = tmp_path / "archive"
    code, _, err = invoke("ingest", tmp_path / "card", "--map", map_file, "--archive", archive)
    assert code == 0, err
    return archive


def jpegs(folder: Path) -> dict[str, Image.Image]:
    found = {}
    for path in sorted(folder.iterdir()):
        with Image.open(path) as image:
            image.load()
            found[path.name] = image
    return found


def test_share_medium_is_small_upright_and_clean(archive: Path, tmp_path: Path) -> None:
    before = tree(archive)
    out = tmp_path / "referral"
    code, stdout, err = invoke(
        "share", "JBX3656", "--size", "medium", "--out", out, "--archive", archive
    )
    assert code == 0, err
    shared = jpegs(out)
    assert list(shared) == [
        "JBX3656-20240301-100000-medium.jpg",
        "JBX3656-20240301-100030-medium.jpg",
        "JBX3656-20240301-100100-medium.jpg",
    ]
    sizes = [image.size for image in shared.values()]
    assert sizes == [(640, 480), (480, 640), (640, 427)]
    turned = shared["JBX3656-20240301-100030-medium.jpg"]
    assert turned.getpixel((turned.width - 5, 5))[2] > 150
    for entry in exiftool("-a", "-G1", *sorted(out.iterdir())):
        assert private_tags(entry) == [], entry["SourceFile"]
        assert "Orientation" not in str(entry.keys())
        assert entry["ExifIFD:DateTimeOriginal"].startswith("2024:03:01 10:0")
        assert not [k for k in entry if k.startswith(("XMP", "IPTC", "Photoshop"))]
    assert tree(archive) == before
    assert "Shared 3 of 3" in stdout
    event = list(AuditLog(archive).events())[-1]
    assert event["event"] == "share"
    assert (event["count"], event["size"], event["out"], event["anonymous"]) == (
        3,
        "medium",
        recorded_folder(str(out.absolute())),
        False,
    )
    assert str(out) not in json.dumps(event), "a folder a clinic may name after the patient"
    assert len(event["paths"]) == 3 and event["paths"][0].startswith("JBX3656/")


def test_share_sizes_and_date_range(archive: Path, tmp_path: Path) -> None:
    for size, box in (("small", (320, 320)), ("large", (2016, 1512))):
        out = tmp_path / size
        code, _, err = invoke(
            "share", "JBX3656", "--size", size, "--out", out, "--archive", archive
        )
        assert code == 0, err
        for name, image in jpegs(out).items():
            assert name.endswith(f"-{size}.jpg")
            assert within(image.size, box)
    assert jpegs(tmp_path / "large")["JBX3656-20240301-100100-large.jpg"].size == (2016, 1344)
    out = tmp_path / "original"
    code, _, _ = invoke(
        "share", "JBX3656", "--size", "original", "--out", out, "--archive", archive
    )
    assert code == 0
    originals = jpegs(out)
    assert originals["JBX3656-20240301-100100.jpg"].size == (3000, 2000)
    assert originals["JBX3656-20240301-100030.jpg"].size == (600, 800)
    archived = archive / "JBX3656" / "JBX3656-20240301-100100.jpg"
    assert pixels((out / "JBX3656-20240301-100100.jpg").read_bytes()) == pixels(
        archived.read_bytes()
    )
    out = tmp_path / "range"
    code, _, _ = invoke(
        "share", "JBX3656", "--from", "2024-03-02", "--out", out, "--archive", archive
    )
    assert code == 2
    assert not out.exists()
    out = tmp_path / "always"
    code, _, err = invoke(
        "share", "JBX3656", "--from", "0001-01-01", "--to", "9999-12-31", "--out", out,
        "--archive", archive,
    )  # fmt: skip
    assert code == 0, err
    assert len(jpegs(out)) == 3


def test_default_out_folder_and_refusal_to_overwrite(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke("share", "jbx3656", "--size", "small", "--archive", archive)
    assert code == 0, err
    out = tmp_path / f"share-JBX3656-{date.today():%Y%m%d}"
    before = tree(out)
    assert len(before) == 3
    events = len(list(AuditLog(archive).events()))
    code, _, err = invoke("share", "JBX3656", "--size", "small", "--archive", archive)
    assert code == 2
    assert "Not overwriting 3 file(s)" in err
    assert tree(out) == before
    assert len(list(AuditLog(archive).events())) == events


def test_anonymous_needs_teaching_or_publication_consent(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "anon"
    code, _, err = invoke("share", "MCJ1984", "--anonymous", "--out", out, "--archive", archive)
    assert code == 2
    assert "lack teaching or publication consent" in err
    assert "consent record" in err
    assert not out.exists()
    code, stdout, err = invoke(
        "share", "JBX3656", "--anonymous", "--out", out, "--archive", archive
    )
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    token = names[0].split("-")[0]
    assert len(token) == 8 and all(name.startswith(token + "-") for name in names)
    assert not any("JBX3656" in name for name in names)
    assert f"of token {token}" in stdout.splitlines()[-1]
    event = list(AuditLog(archive).events())[-1]
    assert (event["anonymous"], event["token"]) == (True, token)


def test_an_anonymous_shares_default_folder_is_named_by_its_token_not_the_nhi(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --out a share goes into share-<who>-<date> here. A mutant that named an
    anonymous share's folder by the NHI passed every test (they all gave --out): the folder
    sent on with the copies would carry the patient's ID."""
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke("share", "JBX3656", "--anonymous", "--archive", archive, "--json")
    assert code == 0, err
    token = json.loads(out)["token"]
    [folder] = [path for path in tmp_path.iterdir() if path.name.startswith("share-")]
    assert folder.name == f"share-{token}-{date.today():%Y%m%d}"
    assert "JBX3656" not in " ".join(str(path) for path in folder.rglob("*"))


def test_tag_then_anonymous_share(archive: Path, tmp_path: Path) -> None:
    code, _, _ = invoke("tag", "MCJ1984", "--consent", "publication", "--archive", archive)
    assert code == 0
    code, out, err = invoke(
        "share", "MCJ1984", "--anonymous", "--out", tmp_path / "a", "--archive", archive, "--json"
    )
    assert code == 0, err
    document = json.loads(out)
    [written] = [path.name for path in (tmp_path / "a").iterdir()]
    assert document["token"] and written.startswith(document["token"])
    assert [item["name"] for item in document["items"]] == [written]
    assert f"Shared 1 of 1 photo(s) of token {document['token']}" in err
    assert document["id"] is None and "MCJ1984" not in out  # kept beside the copies, it leaks
    assert "source" not in document["items"][0]


def test_a_share_stopped_by_ctrl_c_says_how_to_share_them_all(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not "run again to finish": the copies made are there, and a second run into the same
    folder is refused (it never overwrites)."""
    from cardingest.clinic import share as share_module

    real = share_module._share_one
    done: list[str] = []

    def ctrl_c_at_the_second(plan: Any, item: Any, result: Any) -> Any:
        if done:
            raise KeyboardInterrupt
        done.append(item.name)
        return real(plan, item, result)

    monkeypatch.setattr(share_module, "_share_one", ctrl_c_at_the_second)
    out = tmp_path / "out"
    code, stdout, _ = invoke("share", "JBX3656", "--out", out, "--archive", archive, "--json")
    assert code == 130
    message = json.loads(stdout)["error"]["message"]
    assert message == (
        f"Interrupted after 1 of 3 photo(s) were shared in {out}; none is half-written, and the "
        "share is in the audit log. To share them all, remove that folder or give another "
        "--out, and run it again."
    )
    assert [path.name for path in out.iterdir()] == done


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["JBX3656", "--size", "huge"], 2, "--size 'huge' is not one of"),
        (["ZAC3561"], 2, "fails its check"),
        (["EPT6335"], 2, "No archived photos of EPT6335 in "),
        (["JBX3656", "--from", "2030-01-01"], 2, "for those dates"),
        (["JBX3656", "--from", "2024-13-01"], 2, "not a date"),
        (["JBX3656", "--from", "2024-03-02", "--to", "2024-03-01"], 2, "is after"),
        (
            ["\u0408BX3656"],  # a Cyrillic Ј
            2,
            "character 1 ('\u0408', CYRILLIC CAPITAL LETTER JE) should be a letter A–Z",
        ),
    ],
)
def test_share_bad_input(
    archive: Path, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    out = tmp_path / "out"
    got, _, err = invoke("share", *args, "--out", out, "--archive", archive)
    assert got == code
    assert message in " ".join(err.split())
    assert "dates" not in err or "--from" in args  # no dates given, none named
    assert not out.exists()


def test_share_into_the_archive_is_refused(archive: Path) -> None:
    code, _, err = invoke("share", "JBX3656", "--out", archive / "x", "--archive", archive)
    assert code == 2 and "inside the archive" in err


def test_share_without_catalogue_is_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke(
        "share", "JBX3656", "--archive", tmp_path / "none", "--out", tmp_path / "o"
    )
    assert code == 2 and "No catalogue" in err


def test_missing_archived_file_fails_that_photo_only(archive: Path, tmp_path: Path) -> None:
    (archive / "JBX3656" / "JBX3656-20240301-100000.jpg").unlink()
    out = tmp_path / "out"
    code, _, err = invoke("share", "JBX3656", "--out", out, "--archive", archive)
    assert code == 1
    assert "failed:" in err and "JBX3656-20240301-100000.jpg" in err
    assert len(list(out.iterdir())) == 2
    code, stdout, _ = invoke(
        "share", "JBX3656", "--out", tmp_path / "o2", "--archive", archive, "--json"
    )
    document = json.loads(stdout)  # nothing else on stdout
    assert code == 1 and document["summary"] == {"written": 2, "skipped": 0, "failed": 1}
    [failed] = [item for item in document["items"] if item["action"] == "failed"]
    assert failed["source"] == "JBX3656/JBX3656-20240301-100000.jpg" and failed["reason"]


def test_a_share_that_wrote_nothing_leaves_no_folder(archive: Path, tmp_path: Path) -> None:
    """A trial: every photo failed, and the share left its empty new folder, which looks
    like a share made. A folder it made stays only with a photo in it; one given is kept."""
    for copy in (archive / "JBX3656").glob("*.jpg"):
        copy.unlink()
    out = tmp_path / "out"
    code, _, err = invoke("share", "JBX3656", "--out", out, "--archive", archive)
    assert code == 1 and "failed:" in err
    assert not out.exists()
    out.mkdir()
    code, _, err = invoke("share", "JBX3656", "--out", out, "--archive", archive)
    assert code == 1 and out.is_dir()


@pytest.mark.parametrize("swap", ["link", "file"])
def test_another_patients_photo_in_place_of_a_copy_is_never_shared(
    archive: Path, tmp_path: Path, swap: str
) -> None:
    """A copy replaced by a link to MCJ1984's photo, or by a file with its bytes: shared,
    it would go out on a referral under JBX3656's name. Each photo is proven by its
    record's SHA-256 (and reached without a link) before it is shared, as for DICOM."""
    copy = archive / "JBX3656" / "JBX3656-20240301-100000.jpg"
    [other] = (archive / "MCJ1984").glob("*.jpg")
    copy.unlink()
    if swap == "link":
        copy.symlink_to(other)
    else:
        copy.write_bytes(other.read_bytes())
    out = tmp_path / "out"
    options = ("--size", "original", "--out", out, "--archive", archive)
    code, _, err = invoke("share", "JBX3656", *options)
    assert code == 1
    why = "is a symbolic link" if swap == "link" else "no longer matches its checksum"
    assert "JBX3656-20240301-100000.jpg" in err and why in err
    shared = sorted(path.name for path in out.iterdir())
    assert shared == ["JBX3656-20240301-100030.jpg", "JBX3656-20240301-100100.jpg"]
    for path in out.iterdir():
        assert pixels(path.read_bytes()) != pixels(other.read_bytes())


@pytest.mark.samples
def test_heic_is_skipped_with_a_message(samples_dir: Path, tmp_path: Path) -> None:
    card = tmp_path / "card" / "DCIM" / "100APPLE"
    card.mkdir(parents=True)
    shutil.copy(samples_dir / "real" / "IMG_5195.HEIC", card / "IMG_0001.HEIC")
    shutil.copy(samples_dir / "real" / "Canon_40D.jpg", card / "IMG_0002.JPG")
    archive = tmp_path / "archive"
    code, _, err = invoke("ingest", tmp_path / "card", "--id", "JBX3656", "--archive", archive)
    assert code == 0, err
    out = tmp_path / "out"
    code, stdout, err = invoke("share", "JBX3656", "--out", out, "--archive", archive)
    assert code == 0, err
    assert "skipped:" in err and "HEIC" in err
    assert "1 skipped" in stdout
    assert len(list(out.iterdir())) == 1


REAL_JPEGS = (
    ("32-lens_data.jpeg", "MCJ1984"),
    ("42_IndexError.jpg", "MCJ1984"),
    ("45-gps_ifd.jpg", "MCJ1984"),
    ("67-0_length_string.jpg", "MCJ1984"),
    ("87_OSError.jpg", "MCJ1984"),
    ("Canon_40D.jpg", "MCJ1984"),
    ("Kodak_CX7530.jpg", "MCJ1984"),
    ("corrupted.jpg", "MCJ1984"),
    ("11-tests.jpg", "MCJ1984"),
    ("22-canon_tags.jpg", "ACA31FM"),
    ("28-hex_value.jpg", "ACA31FM"),
    ("30-type_error.jpg", "ACA31FM"),
    ("33-type_error.jpg", "ACA31FM"),
    ("35-empty.jpg", "ACA31FM"),
    ("36-memory_error.jpg", "ACA31FM"),
    ("Canon_40D_photoshop_import.jpg", "ACA31FM"),
    ("Nikon_D70.jpg", "ACA31FM"),
    ("Pentax_K10D.jpg", "ACA31FM"),
    ("no_exif.jpg", "ACA31FM"),
)
"""19 distinct real JPEGs; MCJ1984 gets the ones with GPS, serial numbers, artist and MPO."""


@pytest.mark.card
@pytest.mark.samples
def test_done_when_on_a_card_of_real_photos(
    fat_card: CardFactory, samples_dir: Path, tmp_path: Path
) -> None:
    files = {
        f"DCIM/100CANON/IMG_{n:04d}.JPG": samples_dir / "real" / name
        for n, (name, _) in enumerate(REAL_JPEGS, start=1)
    }
    mount = fat_card(files, label="EOS_DIGITAL")
    map_file = tmp_path / "map.csv"
    map_file.write_text(
        "files,id,diagnosis,site,consent\n"
        "IMG_0001-IMG_0009,MCJ1984,melanoma;lentigo,back,teaching\n"
        "IMG_0010-IMG_0019,ACA31FM,psoriasis,,record\n",
        encoding="utf-8",
    )
    archive = tmp_path / "archive"
    code, _, err = invoke("ingest", mount, "--map", map_file, "--archive", archive)
    assert code == 0, err

    def count(*args: str) -> int:
        code, out, err = invoke("search", "--archive", archive, "--json", *args)
        assert code == 0, err
        return len(json.loads(out)["results"])

    assert count("--id", "MCJ1984") == 9
    assert count("--diagnosis", "MELANOMA") == 9
    assert count("--diagnosis", "psoriasis") == 10
    melanoma = json.loads(invoke("search", "--archive", archive, "--id", "MCJ1984", "--json")[1])
    for result in melanoma["results"]:
        flat, hierarchical = subjects(sidecar_path(archive / result["archive_path"]))
        assert "melanoma" in flat and "diagnosis|melanoma" in hierarchical
        assert (archive / result["archive_path"]).read_bytes() == (
            mount / result["source_path"]
        ).read_bytes()

    out = tmp_path / "referral"
    code, _, err = invoke(
        "share", "MCJ1984", "--size", "medium", "--out", out, "--archive", archive
    )
    assert code == 0, err
    shared = sorted(out.iterdir())
    assert len(shared) == 9
    for path in shared:
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert within(image.size, MEDIUM), (path.name, image.size)
            assert image.width * image.height <= 640 * 480
    for entry in exiftool("-a", "-G1", "-u", *shared):
        assert private_tags(entry) == [], entry["SourceFile"]
        assert not [k for k in entry if k.startswith(("XMP", "IPTC", "Photoshop", "MPF"))]


def test_a_share_into_a_folder_that_holds_other_files_is_refused(
    archive: Path, tmp_path: Path
) -> None:
    """Another patient's photo already there would go out on this referral with the rest
    (and an identified one with an anonymous share): a share goes into a new or empty
    folder. A file given as --out is input to fix too."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "MCJ1984-20240301-100000-medium.jpg").write_bytes(b"another patient's photo")
    code, stdout, err = invoke("share", "JBX3656", "--out", out, "--archive", archive, "--json")
    assert code == 2, err
    message = json.loads(stdout)["error"]["message"]
    assert f"--out {out} already holds 1 file(s) or folder(s)" in message
    assert "choose another --out" in message
    assert [p.name for p in out.iterdir()] == ["MCJ1984-20240301-100000-medium.jpg"]
    (out / ".cardingest-tmp-297eefd4c0b48ac6").write_bytes(b"half a photo")  # a killed share's
    code, _, err = invoke("share", "JBX3656", "--out", out, "--archive", archive)
    assert code == 2 and "already holds 1 file(s) or folder(s)" in err, err
    assert "and 1 unfinished copy a stopped share left (.cardingest-tmp-" in err, err
    afile = tmp_path / "referral.jpg"
    afile.write_bytes(b"x")
    code, _, err = invoke("share", "JBX3656", "--out", afile, "--archive", archive)
    assert code == 2 and "is a file, not a folder" in err and afile.read_bytes() == b"x"
    # A trial: a folder inside that file was "--out …/referral.jpg/sub is a file".
    code, _, err = invoke("share", "JBX3656", "--out", afile / "sub", "--archive", archive)
    assert code == 2, err
    assert f"--out {afile / 'sub'}: {afile} is a file, so it cannot hold" in " ".join(err.split())


def test_the_next_share_removes_what_a_killed_one_was_writing(
    archive: Path, tmp_path: Path
) -> None:
    """kill -9 while a copy is written under its temporary name leaves that partial file (a
    patient's photo) in --out; the next share into the folder removes it rather than
    sending it out with the rest."""
    out = tmp_path / "out"
    args = ("share", "JBX3656", "--out", out, "--archive", archive)
    killed_share("share-temp", *args)
    (left,) = out.iterdir()
    assert left.name.startswith(TEMP_PREFIX) and left.stat().st_size > 0
    code, _, err = invoke(*args)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == SHARED_NAMES


SHARED_NAMES = [
    "JBX3656-20240301-100000-medium.jpg",
    "JBX3656-20240301-100030-medium.jpg",
    "JBX3656-20240301-100100-medium.jpg",
]
"""What `share JBX3656` writes from the `archive` fixture."""


def killed_share(point: str, *args: object) -> None:
    """The CLI run through ``tests/faults/inject.py``, killed (SIGKILL) at ``point``."""
    killed = subprocess.run(
        injected(point, *args),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr


def test_a_share_killed_as_a_copy_takes_its_name_without_hard_links_leaves_no_empty_file(
    archive: Path, tmp_path: Path
) -> None:
    """A stick in FAT or exFAT under Linux's own drivers has no hard links, but can rename
    a file without replacing another: a copy takes its name in that one step. Killed at it,
    the share leaves no empty file under a photo's name (which would go out with the
    folder), only the temporary, which the next share into the folder removes before it
    copies them all. Played on this disk with every link refused."""
    out = tmp_path / "referral"
    args = ("share", "JBX3656", "--out", out, "--archive", archive)
    killed_share("share-nolinks-rename", *args)
    (left,) = out.iterdir()
    assert left.name.startswith(TEMP_PREFIX) and left.stat().st_size > 0
    code, _, err = invoke(*args)
    assert code == 0, err
    shared = sorted(out.iterdir())
    assert [p.name for p in shared] == SHARED_NAMES
    assert all(p.stat().st_size > 0 for p in shared)


def test_a_share_killed_as_a_copy_took_its_name_on_an_exfat_fuse_stick_is_finished_by_the_next(
    archive: Path, exfat_card: CardFactory
) -> None:
    """exfat-fuse has neither hard links nor a rename that never replaces: a copy takes its
    name with an empty file, then is renamed onto it. kill -9 in between leaves that empty
    file under a photo's name; the next share into the folder writes the copy there, as
    the next DICOM export does, where it refused the folder ("Not overwriting 1 file(s)")
    and left the empty file in it for whoever sent the folder on."""
    out = exfat_card({}, size_mb=64, private=True) / "referral"
    args = ("share", "JBX3656", "--out", out, "--archive", archive)
    killed_share("share-rename", *args)
    (empty,) = [p for p in out.iterdir() if not p.name.startswith(TEMP_PREFIX)]
    assert empty.stat().st_size == 0
    code, _, err = invoke(*args)
    assert code == 0, err
    shared = sorted(out.iterdir())
    assert [p.name for p in shared] == SHARED_NAMES
    assert empty in shared and all(p.stat().st_size > 0 for p in shared)


def test_an_empty_file_of_another_name_still_keeps_a_share_out_of_the_folder(
    archive: Path, tmp_path: Path
) -> None:
    """Only an empty file under one of this share's own names is a killed share's: any
    other file, empty or not, keeps the share out, and nothing is written there."""
    out = tmp_path / "referral"
    out.mkdir(mode=0o700)
    (out / "notes.txt").write_bytes(b"")
    code, _, err = invoke("share", "JBX3656", "--out", out, "--archive", archive)
    assert code == 2 and "already holds 1 file(s) or folder(s)" in err, err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("mode", [0o755, 0o777, 0o750, 0o2770])
def test_an_open_out_folder_is_made_private_before_a_copy_goes_in(
    archive: Path, tmp_path: Path, mode: int
) -> None:
    """`mkdir referral` (0755 under the usual umask) or a folder left open to all: the copies'
    names carry the patient's ID, and anyone who may write there could swap a copy or add
    another patient's photo to the referral. The empty folder is closed as share's own are
    (no archive_group: to the owner alone), and the user is told."""
    out = tmp_path / "referral"
    out.mkdir()
    out.chmod(mode)
    code, stdout, err = invoke("share", "JBX3656", "--out", out, "--archive", archive, "--json")
    assert code == 0, err
    assert json.loads(stdout)["summary"]["written"] == 3
    assert stat.S_IMODE(out.stat().st_mode) & 0o777 == 0o700
    said = " ".join(err.split())
    assert f"--out {out} was open to" in said and "made it private (drwx" in said
    again = tmp_path / "private"
    again.mkdir(mode=0o700)
    code, _, err = invoke("share", "JBX3656", "--out", again, "--archive", archive)
    assert code == 0 and "made it private" not in err


def test_an_empty_out_is_refused_not_taken_for_here(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--out "$DEST"`` with the variable unset wrote the copies into the current folder
    and made that folder private (0700), as `dicom export` refuses to."""
    here = tmp_path / "here"
    here.mkdir(mode=0o755)
    monkeypatch.chdir(here)
    code, _out, err = invoke("share", "JBX3656", "--out", "", "--archive", archive)
    assert code == 2 and "--out is empty" in err
    assert list(here.iterdir()) == [] and stat.S_IMODE(here.stat().st_mode) == 0o755


def test_an_out_folder_another_account_owns_is_refused(archive: Path, tmp_path: Path) -> None:
    """An empty folder another account made (0777), or a link to one: the copies went in,
    "made private", yet its owner could open it again and read the patients' IDs in the
    names, or swap the copies (an outside tester's report)."""
    import os

    if os.geteuid() != 0:
        pytest.skip("needs root to give the folder to another account")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o777)
    os.chown(theirs, 65534, 65534)
    link = tmp_path / "link"
    link.symlink_to(theirs)
    for out in (theirs, link):
        code, _out, err = invoke("share", "JBX3656", "--out", out, "--archive", archive)
        assert code == 2, err
        assert f"--out {out} belongs to the account nobody" in " ".join(err.split())
    assert list(theirs.iterdir()) == []


def test_an_out_that_another_account_could_redirect_or_see_into_is_refused(
    archive: Path, tmp_path: Path
) -> None:
    """As root: a link another account made to a folder of root's every account writes in
    (root then closed it to 0700 and filled it), a new folder in another account's folder
    (they could rename it or swap it), and an empty shared folder like /tmp (its mode is not
    ours to change). A new folder inside a shared one is fine."""
    import os

    if os.geteuid() != 0:
        pytest.skip("needs root to give files to another account")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    link = tmp_path / "their-link"
    link.symlink_to(shared)
    os.lchown(link, 65534, 65534)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    for out, said in (
        (link, f"--out {link} leads through {link}, a symbolic link the account nobody made"),
        (theirs / "new", f"--out {theirs / 'new'} (in {theirs}) belongs to the account nobody"),
        (shared, f"--out {shared} is a folder every account writes in"),
    ):
        code, _out, err = invoke("share", "JBX3656", "--out", out, "--archive", archive)
        assert code == 2 and said in " ".join(err.split()), (out, err)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777 and not (theirs / "new").exists()
    through = tmp_path / "through"  # their link mid-path: it chose where "newref" is made
    through.symlink_to(shared)
    os.lchown(through, 65534, 65534)
    code, _out, err = invoke("share", "JBX3656", "--out", through / "newref", "--archive", archive)
    assert code == 2 and f"leads through {through}, a symbolic link" in " ".join(err.split())
    assert not (shared / "newref").exists()
    code, _out, err = invoke("share", "JBX3656", "--out", shared / "mine", "--archive", archive)
    assert code == 0, err


def test_a_raw_and_jpeg_shot_is_shared_once_under_its_own_name(tmp_path: Path) -> None:
    """The RAW twin was "skipped" (it cannot be re-encoded) and took the second number of
    its second: the JPEG went out as ``…-2-medium.jpg`` and "6 of 7" were shared (an
    everyday trial). The shot is shared once, through its JPEG."""
    from exif_bytes import DTO, build, text

    card, archive, out = tmp_path / "card", tmp_path / "a", tmp_path / "out"
    folder = card / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    camera_jpeg(folder / "IMG_0001.JPG", datetime(2024, 5, 1, 10, 0, 1))
    (folder / "IMG_0001.DNG").write_bytes(build("<", [], [text(DTO, b"2024:05:01 10:00:01\0")]))
    code, _out, err = invoke("ingest", card, "--id", "JBX3656", "--archive", archive)
    assert code == 0, err
    code, stdout, err = invoke("share", "JBX3656", "--archive", archive, "--out", out, "--json")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["JBX3656-20240501-100001-medium.jpg"]
    document = json.loads(stdout)
    assert [item["action"] for item in document["items"]] == ["written"], document


def test_a_share_killed_part_way_is_in_the_audit_log_from_before_its_first_copy(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: kill -9 during `share` left copies (of an anonymous share, a token nobody
    could trace) and no audit event. The plan is recorded before the first copy. (The
    run is cut here by an exception no handler catches, as a kill cuts it.)"""
    from cardingest.clinic import share as share_module

    real = share_module._share_one

    class Killed(BaseException):
        pass

    def killed_at_the_second(plan: Any, item: Any, result: Any) -> Any:
        if result.written:
            raise Killed
        return real(plan, item, result)

    monkeypatch.setattr(share_module, "_share_one", killed_at_the_second)
    from cardingest.cli.clinic import run_share
    from cardingest.cli.config import load_settings

    with pytest.raises(Killed):
        run_share(load_settings(archive=str(archive)), "JBX3656", size="small", start=None,
                  end=None, out_dir=tmp_path / "out", anonymous=True)  # fmt: skip
    assert len(list((tmp_path / "out").iterdir())) == 1
    event = list(AuditLog(archive).events())[-1]
    assert event["event"] == "share-started" and event["anonymous"] and event["token"]
    assert len(event["paths"]) == 3 and event["out"] == recorded_folder(str(tmp_path / "out"))
    assert next((tmp_path / "out").iterdir()).name.startswith(event["token"])


def test_a_share_whose_folder_cannot_be_made_begins_no_share(archive: Path, tmp_path: Path) -> None:
    """A trial: `--out x/<300 letters>/y` was exit 1 the first time (exit 2 the next), left
    an empty `x`, and a `share-started` event naming every photo with no share to follow,
    which reads as copies on their way out. Now exit 2 each time, nothing made or logged."""
    events = len(list(AuditLog(archive).events()))
    out = tmp_path / "x" / ("a" * 300) / "y"
    for _ in range(2):
        code, _out, err = invoke("share", "JBX3656", "--archive", archive, "--out", out)
        assert code == 2 and "too long" in err, err
    assert not (tmp_path / "x").exists()
    assert len(list(AuditLog(archive).events())) == events


def test_an_out_this_account_cannot_write_in_is_refused_before_anything(
    archive: Path, tmp_path: Path
) -> None:
    """A trial: a share into a folder of root's (0755) by another account logged the share,
    tried every photo ("Permission denied: …/.cardingest-tmp-…"), exit 1, and blamed the
    file system for the mode it could not change. Now exit 2 before anything, as is a new
    folder in such a folder; and a link to a folder that does not exist is named so, not
    "Cannot create …: File exists"."""
    from badinput_helpers import NO_OVERRIDE, cardingest

    shut = tmp_path / "shut"
    shut.mkdir()
    shut.chmod(0o555)
    events = len(list(AuditLog(archive).events()))
    for out in (shut, shut / "new"):
        run = cardingest(
            "share", "JBX3656", "--out", out, "--archive", archive,
            home=tmp_path / "home", prefix=("setpriv", *NO_OVERRIDE),
        )  # fmt: skip
        said = " ".join(run.stderr.split())
        assert run.code == 2, run.stderr
        assert "the account root cannot write in" in said, said
        assert "give a folder this account can write in" in said, said
    assert list(shut.iterdir()) == []
    assert len(list(AuditLog(archive).events())) == events
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    code, _, err = invoke("share", "JBX3656", "--out", dangling, "--archive", archive)
    assert code == 2 and "is a link to" in err and "which does not exist" in err, err


def test_the_audit_log_tells_a_failed_copy_from_a_skipped_one(
    archive: Path, tmp_path: Path
) -> None:
    """A trial: a copy that failed its checksum was logged under ``skipped``, which reads as
    a RAW file left out on purpose, not a damaged archive copy."""
    damaged = archive / "JBX3656" / "JBX3656-20240301-100000.jpg"
    damaged.write_bytes(damaged.read_bytes()[:-10] + b"0123456789")
    code, _, _ = invoke("share", "JBX3656", "--out", tmp_path / "out", "--archive", archive)
    assert code == 1
    event = [e for e in AuditLog(archive).events() if e.get("event") == "share"][-1]
    assert event["failed"] == ["JBX3656/JBX3656-20240301-100000.jpg"]
    assert event["skipped"] == [] and event["count"] == 2
