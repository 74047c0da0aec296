"""XMP keyword sidecars: the document, atomic writes, and what an ingest leaves next to photos."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest
from clinic_helpers import camera_jpeg, demo_card, ingest_demo, invoke, subjects

from cardingest.archive.xmp import (
    TOOLKIT,
    Keywords,
    is_ours,
    render,
    sidecar_path,
    write_sidecar,
)
from cardingest.storage.transfer import TEMP_PREFIX

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


@pytest.fixture(autouse=True)
def _test_ids(test_ids: Path) -> Path:
    return test_ids


def bag(document: bytes, tag: str) -> list[str]:
    root = ET.fromstring(document)
    element = root.find(f".//{tag}")
    assert element is not None
    return [li.text or "" for li in element.iter(f"{RDF}li")]


def test_keywords_flat_and_hierarchical() -> None:
    keywords = Keywords(("melanoma", "lentigo"), "back", "teaching")
    assert keywords.flat == ["melanoma", "lentigo", "back", "teaching"]
    assert keywords.hierarchical == [
        "diagnosis|melanoma",
        "diagnosis|lentigo",
        "site|back",
        "consent|teaching",
    ]
    assert not Keywords()
    assert Keywords(consent="record")


def test_everything_is_xml_escaped_and_read_back_by_exiftool(tmp_path: Path) -> None:
    nasty = ('<script>&"x"', "a|b", "naevus 'atypical' > 6 mm")
    keywords = Keywords(nasty, "left & right <arm>", "publication")
    document = render(keywords)
    dc = "{http://purl.org/dc/elements/1.1/}subject"
    lr = "{http://ns.adobe.com/lightroom/1.0/}hierarchicalSubject"
    assert bag(document, dc) == [*nasty, "left & right <arm>", "publication"]
    assert bag(document, lr)[1] == "diagnosis|a/b"
    path = tmp_path / "X.xmp"
    path.write_bytes(document)
    flat, hierarchical = subjects(path)
    assert flat == [*nasty, "left & right <arm>", "publication"]
    assert hierarchical[0] == 'diagnosis|<script>&"x"'
    assert "site|left & right <arm>" in hierarchical


def test_characters_xml_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError):
        render(Keywords(("bad\x01",)))


def test_write_sidecar_lifecycle(tmp_path: Path) -> None:
    photo = tmp_path / "JBX3656-20080530-155601.jpg"
    photo.write_bytes(b"photo")
    assert sidecar_path(photo) == tmp_path / "JBX3656-20080530-155601.xmp"
    assert write_sidecar(photo, Keywords()) == "none"
    assert write_sidecar(photo, Keywords(("melanoma",))) == "written"
    assert is_ours(sidecar_path(photo))
    assert write_sidecar(photo, Keywords(("melanoma",))) == "unchanged"
    assert write_sidecar(photo, Keywords(("naevus",))) == "written"
    assert subjects(sidecar_path(photo))[0] == ["naevus"]
    assert write_sidecar(photo, Keywords()) == "removed"
    assert not sidecar_path(photo).exists()
    assert photo.read_bytes() == b"photo"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_another_programs_sidecar_is_never_touched(tmp_path: Path) -> None:
    photo = tmp_path / "A.jpg"
    foreign = b'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0"/>'
    sidecar_path(photo).write_bytes(foreign)
    assert write_sidecar(photo, Keywords(("melanoma",))) == "foreign"
    assert write_sidecar(photo, Keywords()) == "foreign"
    assert sidecar_path(photo).read_bytes() == foreign


def test_ingest_writes_sidecars_only_for_photos_with_keywords(tmp_path: Path) -> None:
    card, archive, document = ingest_demo(tmp_path)
    copied = {i["source"].rpartition("/")[2]: i["target"] for i in document["items"]}
    for name in ("IMG_0001.JPG", "IMG_0002.JPG", "IMG_0003.JPG"):
        xmp = sidecar_path(archive / copied[name])
        flat, hierarchical = subjects(xmp)
        assert flat == ["melanoma", "naevus", "left forearm", "record"]
        assert hierarchical == [
            "diagnosis|melanoma",
            "diagnosis|naevus",
            "site|left forearm",
            "consent|record",
        ]
    assert subjects(sidecar_path(archive / copied["IMG_0004.JPG"]))[0] == [
        "psoriasis",
        "right elbow",
        "teaching",
    ]
    assert not sidecar_path(archive / copied["IMG_0005.JPG"]).exists()
    for item in document["items"]:
        if item["target"]:
            original = card / item["source"]
            assert (archive / item["target"]).read_bytes() == original.read_bytes()
    assert not list(archive.rglob(f"{TEMP_PREFIX}*"))
    code, out, _ = invoke("verify", "--archive", archive, "--json")
    assert code == 0, out


def test_backup_copies_get_sidecars_too(tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    _card, _archive, document = ingest_demo(tmp_path, "--backup", str(backup))
    first = next(i for i in document["items"] if i["source"].endswith("IMG_0001.JPG"))
    assert subjects(sidecar_path(Path(first["backup"])))[0][0] == "melanoma"


def test_camera_xmp_on_the_card_is_kept_not_overwritten(tmp_path: Path) -> None:
    card, map_file = demo_card(tmp_path)
    camera_xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Camera 1.0"><!-- rating --></x:xmpmeta>'
    )
    (card / "DCIM" / "100DEMO_" / "IMG_0001.XMP").write_bytes(camera_xmp)
    archive = tmp_path / "archive"
    code, out, err = invoke("ingest", card, "--map", map_file, "--archive", archive, "--json")
    assert code == 3, err
    items = {i["source"]: i for i in json.loads(out)["items"]}
    xmp_item = items["DCIM/100DEMO_/IMG_0001.XMP"]
    photo_item = items["DCIM/100DEMO_/IMG_0001.JPG"]
    assert xmp_item["action"] == "copy"
    assert xmp_item["target"] == photo_item["target"].replace(".jpg", ".xmp")
    assert (archive / xmp_item["target"]).read_bytes() == camera_xmp
    code, out, _ = invoke("search", "--archive", archive, "--diagnosis", "melanoma", "--json")
    assert photo_item["target"] in [r["archive_path"] for r in json.loads(out)["results"]]
    code, out, _ = invoke("verify", "--archive", archive, "--json")
    assert code == 0, out  # the camera's XMP is not judged as a keywords sidecar
    (archive / xmp_item["target"]).unlink()  # lost: a missing copy, not a sidecar to write
    code, out, _ = invoke("verify", "--archive", archive, "--json")
    kinds = [(p["kind"], p["path"]) for p in json.loads(out)["problems"]]
    assert code == 1 and kinds == [("missing", xmp_item["target"])], kinds


def test_a_sidecar_that_cannot_be_written_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    card, map_file = demo_card(tmp_path)
    archive = tmp_path / "archive"
    code, out, _ = invoke("preview", card, "--map", map_file, "--archive", archive, "--json")
    first = json.loads(out)["items"][0]
    blocker = sidecar_path(archive / first["target"])
    blocker.mkdir(parents=True)
    code, out, err = invoke("ingest", card, "--map", map_file, "--archive", archive)
    assert code == 3, err
    assert "5 copied and verified" in out and "0 failed" in out
    assert (archive / first["target"]).is_file()
    assert f"keywords sidecar {blocker} not written" in " ".join(err.split())


def test_sidecar_of_a_real_camera_jpeg(tmp_path: Path) -> None:
    card = tmp_path / "card"
    camera_jpeg(card / "DCIM" / "100CANON" / "IMG_0001.JPG", datetime(2024, 3, 1, 10, 0, 0))
    map_file = tmp_path / "map.csv"
    map_file.write_text("files,id,diagnosis\nIMG_0001,JBX3656,basal cell carcinoma\n")
    archive = tmp_path / "archive"
    code, _, err = invoke("ingest", card, "--map", map_file, "--archive", archive)
    assert code == 0, err
    xmp = archive / "JBX3656" / "JBX3656-20240301-100000.xmp"
    assert subjects(xmp) == (["basal cell carcinoma"], ["diagnosis|basal cell carcinoma"])


def test_verify_names_sidecars_that_disagree_and_fix_sidecars_writes_them_again(
    tmp_path: Path,
) -> None:
    """A keywords sidecar deleted, edited, left after its keywords went, or missing beside a
    backup copy is named by `verify` (exit 1); one only another version wrote, or another
    program's file, is not. `--fix-sidecars` writes them again from the catalogue."""
    backup = tmp_path / "backup"
    _card, archive, document = ingest_demo(tmp_path, "--backup", str(backup))
    items = {i["source"].rpartition("/")[2]: i for i in document["items"] if i["target"]}
    xmp = {name: sidecar_path(archive / item["target"]) for name, item in items.items()}
    first = xmp["IMG_0001.JPG"].read_bytes()
    xmp["IMG_0001.JPG"].unlink()
    xmp["IMG_0002.JPG"].write_bytes(xmp["IMG_0002.JPG"].read_bytes().replace(b"melanoma", b"x"))
    older = xmp["IMG_0003.JPG"].read_bytes().replace(TOOLKIT.encode(), b"cardingest 0.1")
    xmp["IMG_0003.JPG"].write_bytes(older)
    xmp["IMG_0004.JPG"].write_bytes(b'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="digiKam"/>')
    sidecar_path(Path(items["IMG_0004.JPG"]["backup"])).unlink()
    xmp["IMG_0005.JPG"].write_bytes(render(Keywords(("naevus",))))
    xmp["IMG_0005.JPG"].chmod(0o600)  # as the archive keeps its files

    code, out, _ = invoke("verify", "--archive", archive, "--json")
    assert code == 1
    report = json.loads(out)
    found = {(p["path"], p["where"]): p["detail"] for p in report["problems"]}
    relative = {name: path.relative_to(archive).as_posix() for name, path in xmp.items()}
    assert found == {
        (relative["IMG_0001.JPG"], "archive"): "keywords sidecar missing: the catalogue has "
        "keywords for this photo",
        (relative["IMG_0002.JPG"], "archive"): "keywords sidecar out of date: it says other "
        "keywords than the catalogue",
        (str(sidecar_path(Path(items["IMG_0004.JPG"]["backup"]))), "backup"): "keywords sidecar "
        "missing: the catalogue has keywords for this photo",
        (relative["IMG_0005.JPG"], "archive"): "keywords sidecar left over: the catalogue has "
        "no keywords for this photo",
    }
    assert report["summary"]["keywords"] == 4
    code, out, _ = invoke("verify", "--archive", archive)
    assert code == 1 and "--fix-sidecars" in out

    code, out, _ = invoke("verify", "--archive", archive, "--fix-sidecars", "--json")
    assert code == 0, out
    assert len(json.loads(out)["rewritten"]) == 4
    assert xmp["IMG_0001.JPG"].read_bytes() == first
    assert bag(xmp["IMG_0002.JPG"].read_bytes(), "{http://purl.org/dc/elements/1.1/}subject")[
        0
    ] == ("melanoma")
    assert xmp["IMG_0003.JPG"].read_bytes() == older
    assert b"digiKam" in xmp["IMG_0004.JPG"].read_bytes()
    assert is_ours(sidecar_path(Path(items["IMG_0004.JPG"]["backup"])))
    assert not xmp["IMG_0005.JPG"].exists()
    events = (archive / ".cardingest" / "audit.jsonl").read_text().splitlines()
    assert json.loads(events[-2])["event"] == "sidecars"
    assert invoke("verify", "--archive", archive)[0] == 0


def test_a_keywords_sidecar_that_cannot_give_way_is_left_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backup made read-only (or pulled) just as its keywords sidecar was to give way
    to the camera's XMP: the OSError went up as a traceback (a fault trial). It is left;
    the copy that follows fails there with its own message."""
    import errno
    import os

    from cardingest.archive.xmp import Keywords, give_way, write_sidecar

    photo = tmp_path / "JBX3656" / "JBX3656-20240501-100001.jpg"
    photo.parent.mkdir()
    photo.write_bytes(b"photo")
    keywords = Keywords(diagnosis=("melanoma",))
    write_sidecar(photo, keywords)
    real_unlink = os.unlink

    def read_only(path: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(os, "unlink", read_only)
    name = "JBX3656/JBX3656-20240501-100001.xmp"
    assert give_way(tmp_path, name, keywords) is False
    monkeypatch.setattr(os, "unlink", real_unlink)
    assert (photo.parent / "JBX3656-20240501-100001.xmp").exists()
    assert give_way(tmp_path, name, Keywords(diagnosis=("naevus",))) is False  # not as catalogued
    assert give_way(tmp_path, name, keywords) is True
    assert not (photo.parent / "JBX3656-20240501-100001.xmp").exists()
    assert give_way(tmp_path / "pulled", name, keywords) is False


@pytest.mark.parametrize(
    "keywords",
    [
        ("melanoma",),
        ("naevus", 'a & b <c> "d"', "x|y", "黒色腫"),
        (),
    ],
)
def test_a_sidecar_as_written_is_told_from_one_edited_since(keywords: tuple[str, ...]) -> None:
    """Only the keywords sidecar cardingest writes for the catalogue's keywords may give way
    to a camera's XMP: a keyword added or changed by hand, even in both of its bags, lives
    nowhere else (a re-trial's "follow-up-6mo", "melanoma in situ"). A first version read
    the keywords back from the file itself, which a consistent edit passed."""
    from cardingest.archive.xmp import Keywords, as_written, render

    for site, consent in ((None, None), ("back", "teaching")):
        catalogued = Keywords(keywords, site, consent)
        written = render(catalogued)
        assert as_written(written, catalogued), keywords
        added = written.replace(b"</rdf:Bag>", b" <rdf:li>follow-up-6mo</rdf:li>\n</rdf:Bag>", 1)
        assert not as_written(added, catalogued)
        edited = render(Keywords((*keywords, "BRAF V600E"), site, consent))
        assert not as_written(edited, catalogued)  # both bags in step: still an edit
    assert not as_written(b'<x:xmpmeta x:xmptk="Canon camera"/>', Keywords(("melanoma",)))
