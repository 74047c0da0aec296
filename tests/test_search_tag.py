"""`cardingest search` and `cardingest tag`: filters, documents, sidecars, audit, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clinic_helpers import ingest_demo, invoke, subjects

from cardingest.archive.audit import AuditLog
from cardingest.archive.lock import ArchiveLock


@pytest.fixture(autouse=True)
def _test_ids(test_ids: Path) -> Path:
    return test_ids


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return ingest_demo(tmp_path)[1]


def xmp_beside(photo: Path) -> Path:
    """Where exiftool and Lightroom look for a photo's sidecar: same name, ``.xmp``."""
    return photo.parent / (photo.name.rsplit(".", 1)[0] + ".xmp")


def search(archive: Path, *args: str) -> list[dict]:
    code, out, err = invoke("search", "--archive", archive, "--json", *args)
    assert code == 0, err
    return json.loads(out)["results"]


def paths(results: list[dict]) -> list[str]:
    return [r["archive_path"] for r in results]


def test_search_by_id_diagnosis_and_dates(archive: Path) -> None:
    assert len(search(archive)) == 5
    by_id = search(archive, "--id", "zac5361")
    assert paths(by_id) == [
        "ZAC5361/ZAC5361-20261124-091502.jpg",
        "ZAC5361/ZAC5361-20261124-091502-2.jpg",
        "ZAC5361/ZAC5361-20261124-091640.jpg",
    ]
    first = by_id[0]
    assert first["diagnosis"] == ["melanoma", "naevus"]
    assert (first["site"], first["consent"], first["patient_id"]) == (
        "left forearm",
        "record",
        "ZAC5361",
    )
    assert {"captured_at", "sha256", "size", "time_source", "source_path"} <= set(first)
    assert "rowid" not in first
    assert paths(search(archive, "--diagnosis", "MELANOMA")) == paths(by_id)
    code, _out, err = invoke("tag", "ZAC5361", "--diagnosis", "Mélanome", "--archive", archive)
    assert code == 0, err
    for spelling in ("MÉLANOME", "mélanome", "MéLaNoMe"):  # SQLite's lower() is ASCII only
        assert paths(search(archive, "--diagnosis", spelling)) == paths(by_id)
        assert paths(search(archive, "--id", "ZAC5361", "--diagnosis", spelling)) == paths(by_id)
    assert search(archive, "--diagnosis", "MÉLANOMES") == []
    assert paths(search(archive, "--diagnosis", "Psoriasis")) == [
        "ZAA0067/ZAA0067-20261124-094107.jpg"
    ]
    assert search(archive, "--diagnosis", "melan") == []
    day = ["--from", "2026-11-24", "--to", "2026-11-24"]
    assert len(search(archive, *day)) == 4
    assert len(search(archive, *day, "--id", "ZAA0067")) == 1
    assert search(archive, "--id", "ZAA0067", "--diagnosis", "melanoma") == []
    assert search(archive, "--to", "2026-11-23") == []


def test_search_from_the_first_to_the_last_day_a_date_can_have(archive: Path) -> None:
    """9999-12-31 has no next day to search up to: every photo is on or before it."""
    assert len(search(archive, "--from", "0001-01-01", "--to", "9999-12-31")) == 5
    assert search(archive, "--from", "9999-12-31", "--to", "9999-12-31") == []


def test_search_table(archive: Path) -> None:
    code, out, _ = invoke("search", "--archive", archive, "--diagnosis", "melanoma")
    assert code == 0
    assert "ZAC5361/ZAC5361-20261124-091640.jpg" in out
    row = next(line for line in out.splitlines() if "ZAC5361-20261124-091640" in line)
    cells = [cell.strip() for cell in row.split("│")]
    assert "melanoma; naevus" in cells and "left forearm" in cells
    assert "diagnosis" in out and "site" in out
    assert "3 photo(s)" in out
    code, out, _ = invoke("search", "--archive", archive, "--diagnosis", "lichen")
    assert code == 0 and "0 photo(s)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday"], "--from 'yesterday' is not a date"),
        (["--to", "2026-02-30"], "--to '2026-02-30' is not a date"),
        (["--from", "2026-12-01", "--to", "2026-11-01"], "is after --to"),
        (["--id", "ZAC3561"], "fails its check"),
        (["--id", "../x"], "NHI"),
        (["--diagnosis", " "], "--diagnosis is empty"),
        # A byte that is not UTF-8 from the terminal (kept as a lone surrogate): it was a
        # traceback (UnicodeEncodeError) at the catalogue's query.
        (["--diagnosis", "x\udcffy"], "--diagnosis x\\xffy holds bytes that are not UTF-8"),
        (["--id", "JBX\udcff3656"], "NHI 'JBX\\xff3656' has 8 characters"),
    ],
)
def test_search_bad_input_is_exit_2(archive: Path, args: list[str], message: str) -> None:
    code, out, err = invoke("search", "--archive", archive, *args)
    assert code == 2
    assert message in err
    code, out, _ = invoke("search", "--archive", archive, "--json", *args)
    assert code == 2 and json.loads(out)["error"]["exit"] == 2


def test_search_without_catalogue_is_exit_2_and_creates_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "nowhere"
    code, _, err = invoke("search", "--archive", archive, "--id", "JBX3656")
    assert code == 2
    assert "No catalogue" in err and "--archive" in err
    assert not archive.exists()


def last_event(archive: Path) -> dict:
    return list(AuditLog(archive).events())[-1]


def test_tag_adds_and_removes_diagnosis_and_rewrites_sidecars(archive: Path) -> None:
    code, out, err = invoke(
        "tag", "ZAC5361", "--diagnosis", "Melanoma;lentigo maligna", "--archive", archive
    )
    assert code == 0, err
    assert "3 file(s) retagged" in out
    records = search(archive, "--id", "ZAC5361")
    assert all(r["diagnosis"] == ["melanoma", "naevus", "lentigo maligna"] for r in records)
    assert len(search(archive, "--diagnosis", "LENTIGO MALIGNA")) == 3
    for record in records:
        flat, hierarchical = subjects(xmp_beside(archive / record["archive_path"]))
        assert flat == ["melanoma", "naevus", "lentigo maligna", "left forearm", "record"]
        assert "diagnosis|lentigo maligna" in hierarchical
    *_, event, sidecars = AuditLog(archive).events()
    assert sidecars["event"] == "tag-sidecars" and sidecars["written"] and not sidecars["kept"]
    assert event["event"] == "tag"
    assert [c["path"] for c in event["changes"]] == sorted(r["archive_path"] for r in records)
    assert event["changes"][0]["old"]["diagnosis"] == ["melanoma", "naevus"]
    assert event["changes"][0]["new"]["diagnosis"] == ["melanoma", "naevus", "lentigo maligna"]

    code, out, err = invoke(
        "tag", "ZAC5361", "--diagnosis", "melanoma;naevus", "--remove", "--archive", archive
    )
    assert code == 0, err
    assert search(archive, "--diagnosis", "melanoma") == []
    flat, _ = subjects(xmp_beside(archive / records[0]["archive_path"]))
    assert flat == ["lentigo maligna", "left forearm", "record"]
    assert AuditLog(archive).check().ok


def test_tag_by_path_sets_site_and_consent(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relative = "ZAA0067/ZAA0067-20261124-094107.jpg"
    code, _, err = invoke(
        "tag", relative, "--consent", "Publication", "--site", "", "--archive", archive
    )
    assert code == 0, err
    record = search(archive, "--id", "ZAA0067")[0]
    assert (record["consent"], record["site"], record["diagnosis"]) == (
        "publication",
        None,
        ["psoriasis"],
    )
    assert subjects(xmp_beside(archive / relative)) == (
        ["psoriasis", "publication"],
        ["diagnosis|psoriasis", "consent|publication"],
    )
    absolute = str(archive / relative)
    code, out, _ = invoke("tag", absolute, "--diagnosis", "psoriasis", "--archive", archive)
    assert code == 0 and "0 file(s) retagged, 1 already so" in out
    monkeypatch.chdir(archive / "ZAA0067")
    code, _, err = invoke(
        "tag", "ZAA0067-20261124-094107.jpg", "--diagnosis", "eczema", "--archive", archive
    )
    assert code == 0, err
    assert search(archive, "--diagnosis", "eczema")[0]["archive_path"] == relative


def test_tag_gives_keywords_to_a_photo_that_had_none(archive: Path) -> None:
    bare = next(r for r in search(archive, "--id", "ZAA0067") if not r["diagnosis"])
    xmp = xmp_beside(archive / bare["archive_path"])
    assert not xmp.exists()
    code, _, err = invoke(
        "tag", bare["archive_path"], "--diagnosis", "psoriasis", "--archive", archive
    )
    assert code == 0, err
    assert subjects(xmp) == (["psoriasis"], ["diagnosis|psoriasis"])


def test_tag_writes_no_sidecar_through_a_linked_patient_folder(
    archive: Path, tmp_path: Path
) -> None:
    """The patient's folder moved elsewhere (onto a card, say) and a link left in its place:
    a diagnosis written through it would land there. Not written, said, exit 1."""
    bare = next(r for r in search(archive, "--id", "ZAA0067") if not r["diagnosis"])
    folder = archive / "ZAA0067"
    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere)
    before = sorted(path.name for path in elsewhere.iterdir())
    code, _, err = invoke(
        "tag", bare["archive_path"], "--diagnosis", "melanoma", "--archive", archive
    )
    assert code == 1
    assert f"{folder} is a symbolic link, not a folder of {archive}" in err
    assert sorted(path.name for path in elsewhere.iterdir()) == before


def test_tag_leaves_a_foreign_sidecar_alone(archive: Path) -> None:
    record = search(archive, "--id", "ZAA0067")[0]
    xmp = xmp_beside(archive / record["archive_path"])
    foreign = b'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0"/>'
    xmp.write_bytes(foreign)
    code, _, err = invoke(
        "tag", record["archive_path"], "--diagnosis", "eczema", "--archive", archive
    )
    assert code == 0, err
    assert xmp.read_bytes() == foreign
    assert "kept" in err
    assert search(archive, "--diagnosis", "eczema")
    assert last_event(archive)["kept"] == [str(xmp)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ZAC5361"], "Nothing to change"),
        (["ZAC5361", "--consent", "marketing"], "is not one of record, teaching, publication"),
        (["ZAC5361", "--remove"], "--remove needs --diagnosis"),
        (["ZAC5361", "--diagnosis", ";;;"], "--diagnosis ';;;' holds no keyword"),
        (["ZAC5361", "--remove", "--diagnosis", " ; "], "--diagnosis ' ; ' holds no keyword"),
        (
            ["ZAC5361", "--remove", "--diagnosis", "x", "--site", "arm"],
            "removes diagnosis keywords only",
        ),
        (["ZAC5361", "--diagnosis", "=HYPERLINK(1)"], "looks like a spreadsheet formula"),
        (["ZAC5361", "--diagnosis", "x" * 201], "longer than 200"),
        (["ZAC5361", "--site", "arm\u202e"], "site contains a control or invisible formatting"),
        # Another patient's ID (or this one's) in a keyword would go with the photos into
        # their sidecars, DICOM files and referrals.
        (["ZAC5361", "--site", "hand, see JBX3656"], "site holds a patient ID (JBX3656)"),
        (["ZAC5361", "--diagnosis", "bcc;mcj1984"], "diagnosis holds a patient ID (MCJ1984)"),
        (["ZAC5361", "--site", "bed JBX\u2013 3656"], "site holds a patient ID (JBX3656)"),
        (["ZAC5361", "--site", "NHI: ACA 31 FM"], "site holds a patient ID (ACA31FM)"),
        (["ZAC5361", "--diagnosis", "prev \u0408BX3656"], "holds a patient ID (JBX3656)"),
        (["ZAC3561", "--diagnosis", "x"], "fails its check"),
        (["JBX3656", "--diagnosis", "x"], "no archived photos of this ID"),
        (["ZAC5361/nope.jpg", "ZAC5361", "--diagnosis", "x"], "not an archived photo"),
        (
            ["\u0408BX3656", "--diagnosis", "x"],  # a Cyrillic Je: no path, a look-alike ID
            "character 1 ('\u0408', CYRILLIC CAPITAL LETTER JE) should be a letter A–Z",
        ),
    ],
)
def test_tag_bad_input_is_exit_2_and_changes_nothing(
    archive: Path, args: list[str], message: str
) -> None:
    before = search(archive)
    events = len(list(AuditLog(archive).events()))
    code, _, err = invoke("tag", *args, "--archive", archive)
    assert code == 2, err
    assert message in " ".join(err.split())
    assert search(archive) == before
    assert len(list(AuditLog(archive).events())) == events


def test_tag_without_catalogue_is_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke("tag", "JBX3656", "--diagnosis", "x", "--archive", tmp_path / "none")
    assert code == 2 and "No catalogue" in err
    assert not (tmp_path / "none").exists()


def test_tag_waits_for_no_one_while_another_holds_the_archive(archive: Path) -> None:
    with ArchiveLock(archive, "ingest"):
        code, _, err = invoke("tag", "ZAC5361", "--diagnosis", "x", "--archive", archive)
    assert code == 1
    assert "is using" in err
    assert search(archive, "--diagnosis", "x") == []


def test_a_keyword_filter_no_keyword_can_hold_is_refused(archive: Path) -> None:
    """A trial: `search --diagnosis $'x\\ny'` found "0 photo(s)", exit 0, where `tag`
    refuses the same value: a search for what no keyword holds is a mistake to say."""
    code, out, err = invoke("search", "--archive", archive, "--diagnosis", "x\ny")
    assert code == 2 and out == ""
    assert "--diagnosis contains a control or invisible formatting character (\\x0a)" in err


def test_a_keyword_holding_an_id_can_still_be_removed(archive: Path) -> None:
    """One kept before keywords holding IDs were refused is not stuck there."""
    code, _, err = invoke(
        "tag", "ZAC5361", "--remove", "--diagnosis", "JBX3656", "--archive", archive
    )
    assert code == 0, err


def test_search_for_two_keywords_at_once_is_refused(archive: Path) -> None:
    """``tag`` and the map split keywords at ';', so no keyword holds one: a search for
    'melanoma;naevus' found nothing and said nothing."""
    code, out, err = invoke("search", "--archive", archive, "--diagnosis", "melanoma;naevus")
    assert code == 2 and out == ""
    assert "give one keyword at a time" in " ".join(err.split())


def test_a_camera_xmp_come_to_the_card_later_takes_its_photos_name(tmp_path: Path) -> None:
    """A photo archived with keywords, whose camera XMP came to the card after (a photo app
    opened the card): the XMP was filed as ``NAME-2.xmp``, beside no photo of that name,
    the keywords sidecar at ``NAME.xmp`` was called a stray, and a `move` left the XMP under
    the old patient. The keywords sidecar now gives way, in the archive and the backup, as
    a first ingest keeps the camera's XMP; the move takes it along; verify is clean."""
    from exif_bytes import timed_card

    card, archive, backup = tmp_path / "card", tmp_path / "a", tmp_path / "b"
    folder = timed_card(card, count=1)
    idmap = tmp_path / "m.csv"
    idmap.write_text("files,id,diagnosis\nIMG_0001,JBX3656,melanoma\n", encoding="utf-8")
    run = ("ingest", card, "--map", idmap, "--archive", archive, "--backup", backup, "--json")
    assert invoke(*run)[0] == 0
    name = "JBX3656/JBX3656-20240501-100001"
    for root in (archive, backup):
        assert b'x:xmptk="cardingest' in (root / f"{name}.xmp").read_bytes()
    camera = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><!-- rating 5 --></x:xmpmeta>'
    (folder / "IMG_0001.XMP").write_bytes(camera)
    documents = []
    for command in ("preview", "ingest"):
        code, out, err = invoke(command, *run[1:])
        assert code == 0, err
        documents.append(json.loads(out))
    for document in documents:
        [xmp] = [i for i in document["items"] if i["source"].endswith(".XMP")]
        assert (xmp["action"], xmp["target"]) == ("copy", f"{name}.xmp")
        warned = " ".join(" ".join(document["warnings"]).split())
        assert "2 keywords sidecar(s) cardingest wrote (such as " in warned, warned  # and backup
        assert "files its catalogue does not hold" not in warned
    for root in (archive, backup):
        assert (root / f"{name}.xmp").read_bytes() == camera
        assert not (root / f"{name}-2.xmp").exists()
    assert [r["diagnosis"] for r in search(archive, "--id", "JBX3656")] == [["melanoma"]]
    code, out, err = invoke("move", f"{name}.jpg", "--to", "MCJ1984", "--archive", archive)
    assert code == 0, err
    moved = "MCJ1984/MCJ1984-20240501-100001"
    assert (archive / f"{moved}.xmp").read_bytes() == camera
    assert not (archive / "JBX3656").exists()
    code, out, err = invoke("verify", "--archive", archive, "--json")  # backup copies too
    assert code == 0 and json.loads(out)["problems"] == [], out


def test_a_camera_xmp_put_in_the_backup_later_takes_its_photos_name_there_too(
    tmp_path: Path,
) -> None:
    """The camera's XMP ingested first without --backup (the archive's keywords sidecar gave
    way), then with it: the backup's copy is put back as a repair, which met the backup's
    keywords sidecar at NAME.xmp and took NAME-2.xmp; `move` then refused the photo."""
    from exif_bytes import timed_card

    card, archive, backup = tmp_path / "card", tmp_path / "a", tmp_path / "b"
    folder = timed_card(card, count=1)
    idmap = tmp_path / "m.csv"
    idmap.write_text("files,id,diagnosis\nIMG_0001,JBX3656,melanoma\n", encoding="utf-8")
    run = ("ingest", card, "--map", idmap, "--archive", archive)
    assert invoke(*run, "--backup", backup)[0] == 0
    camera = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><!-- rating 5 --></x:xmpmeta>'
    (folder / "IMG_0001.XMP").write_bytes(camera)
    assert invoke(*run)[0] == 0
    code, _out, err = invoke(*run, "--backup", backup)
    assert code == 0, err
    name = "JBX3656/JBX3656-20240501-100001"
    for root in (archive, backup):
        assert (root / f"{name}.xmp").read_bytes() == camera, root
        assert not (root / f"{name}-2.xmp").exists()
    code, _out, err = invoke("move", f"{name}.jpg", "--to", "MCJ1984", "--archive", archive)
    assert code == 0, err
    code, out, _err = invoke("verify", "--archive", archive, "--json")
    assert code == 0 and json.loads(out)["problems"] == [], out


def test_tagging_one_file_of_a_shot_tags_the_whole_shot(tmp_path: Path) -> None:
    """`tag NAME.jpg --site …` on a RAW+JPEG shot: the RAW kept the old site, the two shared
    one keywords sidecar, `verify` called it out of date for ever, and `--fix-sidecars`
    wrote the old keywords back (an everyday trial). The whole shot is tagged now."""
    from exif_bytes import DTO, build, exif_jpeg, text

    card, archive = tmp_path / "card", tmp_path / "a"
    folder = card / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    (folder / "IMG_0001.JPG").write_bytes(exif_jpeg("2024:05:01 10:00:01"))
    (folder / "IMG_0001.DNG").write_bytes(build("<", [], [text(DTO, b"2024:05:01 10:00:01\0")]))
    idmap = tmp_path / "m.csv"
    idmap.write_text("files,id,site\nIMG_0001,JBX3656,scalp\n", encoding="utf-8")
    code, _out, err = invoke("ingest", card, "--map", idmap, "--archive", archive)
    assert code == 0, err
    name = "JBX3656/JBX3656-20240501-100001"
    assert sorted(p.name for p in (archive / "JBX3656").iterdir()) == [
        f"{name[8:]}.dng", f"{name[8:]}.jpg", f"{name[8:]}.xmp",
    ]  # fmt: skip
    code, out, err = invoke("tag", f"{name}.jpg", "--site", "right shin", "--archive", archive)
    assert code == 0, err
    assert "sidecars: 1 written" in " ".join(out.split()), out  # one sidecar for the shot
    assert {r["archive_path"]: r["site"] for r in search(archive, "--id", "JBX3656")} == {
        f"{name}.dng": "right shin",
        f"{name}.jpg": "right shin",
    }
    code, out, _err = invoke("verify", "--archive", archive, "--json")
    assert code == 0 and json.loads(out)["problems"] == [], out
    assert "right shin" in (archive / f"{name}.xmp").read_text(encoding="utf-8")


def test_a_keywords_sidecar_edited_by_hand_does_not_give_way_to_a_camera_xmp(
    tmp_path: Path,
) -> None:
    """A keyword added to the sidecar by hand, the file still marked as cardingest's: it was
    replaced by the camera's XMP come to the card since, and the keyword was lost (it was
    never in the catalogue). It stays now, and the camera's XMP is held on the card."""
    from exif_bytes import timed_card

    card, archive = tmp_path / "card", tmp_path / "a"
    folder = timed_card(card, count=1)
    idmap = tmp_path / "m.csv"
    idmap.write_text("files,id,diagnosis\nIMG_0001,JBX3656,naevus\n", encoding="utf-8")
    run = ("ingest", card, "--map", idmap, "--archive", archive, "--json")
    assert invoke(*run)[0] == 0
    sidecar = archive / "JBX3656" / "JBX3656-20240501-100001.xmp"
    edited = sidecar.read_bytes().replace(
        b"</rdf:Bag>", b" <rdf:li>follow-up-6mo</rdf:li>\n</rdf:Bag>", 1
    )
    sidecar.write_bytes(edited)
    (folder / "IMG_0001.XMP").write_bytes(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>')
    code, out, err = invoke(*run)
    assert code == 3, err
    [xmp] = [i for i in json.loads(out)["items"] if i["source"].endswith(".XMP")]
    assert xmp["action"] == "hold" and "is held by another file" in xmp["reason"], xmp
    assert sidecar.read_bytes() == edited
    assert (folder / "IMG_0001.XMP").exists()
    # Edited in both of its bags, as a careful editor would: still not the catalogue's.
    from cardingest.archive.xmp import Keywords, render

    consistent = render(Keywords(("naevus", "BRAF V600E")))
    sidecar.write_bytes(consistent)
    code, out, err = invoke(*run)
    assert code == 3, err
    assert sidecar.read_bytes() == consistent


def test_a_tag_stopped_part_way_changes_nothing_and_one_stopped_after_is_audited(
    archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: Ctrl-C (or kill -9) part way through `tag ID --consent publication` left
    some photos' consent changed and no `tag` event, and `share --anonymous` then went
    ahead. The rows change in one transaction, and a Ctrl-C after it waits for the event."""
    import os
    import signal

    from cardingest.archive.catalogue import Catalogue

    before = {r["archive_path"]: r["consent"] for r in search(archive, "--id", "ZAC5361")}
    events = len(list(AuditLog(archive).events()))
    calls: list[int] = []
    real = Catalogue._write_diagnosis

    def stopped_on_the_second(*args: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(*args)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr(Catalogue, "_write_diagnosis", staticmethod(stopped_on_the_second))
        code, _, _ = invoke("tag", "ZAC5361", "--consent", "publication", "--diagnosis", "x",
                            "--archive", archive)  # fmt: skip
    assert code == 130 and len(calls) == 2
    after = {r["archive_path"]: r["consent"] for r in search(archive, "--id", "ZAC5361")}
    assert after == before and len(list(AuditLog(archive).events())) == events

    retag = Catalogue.retag

    def interrupted_after(self: Catalogue, changes: list) -> None:  # type: ignore[type-arg]
        retag(self, changes)
        os.kill(os.getpid(), signal.SIGINT)

    with monkeypatch.context() as patched:
        patched.setattr(Catalogue, "retag", interrupted_after)
        code, _, _ = invoke("tag", "ZAC5361", "--consent", "publication", "--archive", archive)
    assert code == 130
    assert {r["consent"] for r in search(archive, "--id", "ZAC5361")} == {"publication"}
    event = last_event(archive)  # the Ctrl-C came before the sidecars: no tag-sidecars event
    assert event["event"] == "tag" and len(event["changes"]) == len(before)
    assert all(c["new"]["consent"] == "publication" for c in event["changes"])


def test_a_keyword_of_bytes_that_are_not_utf8_is_said_to_be_so(archive: Path) -> None:
    """A trial: `tag ID --site $'\\xe9'` (Latin-1's é from a terminal) was called "a control
    or invisible formatting character"."""
    code, _, err = invoke("tag", "ZAC5361", "--site", "\udce9", "--archive", archive)
    assert code == 2 and "holds bytes that are not UTF-8 text" in err, err


def test_a_keyword_typed_composed_or_decomposed_is_one_keyword(archive: Path) -> None:
    """A trial: "mélanome" typed with é (U+00E9) and with e + U+0301 was kept as two
    keywords that look the same; a search for one missed the other."""
    composed, decomposed = "m\u00e9lanome", "me\u0301lanome"
    assert invoke("tag", "ZAC5361", "--diagnosis", decomposed, "--archive", archive)[0] == 0
    code, out, _ = invoke("tag", "ZAC5361", "--diagnosis", composed, "--archive", archive)
    assert code == 0 and "0 file(s) retagged" in out, out
    records = search(archive, "--id", "ZAC5361")
    assert all(r["diagnosis"].count(composed) == 1 for r in records), records
    assert all(decomposed not in r["diagnosis"] for r in records)
    assert len(search(archive, "--diagnosis", decomposed)) == len(records)
    code, _, _ = invoke("tag", "ZAC5361", "--diagnosis", decomposed, "--remove", "--archive",
                        archive)  # fmt: skip
    assert code == 0 and search(archive, "--diagnosis", composed) == []


def test_a_keyword_pasted_with_a_no_break_space_is_found_by_typing_it(archive: Path) -> None:
    """A trial: ``mela<no-break space>noma`` pasted from a document was kept as it was, and
    no search typed for "mela noma" found it."""
    code, _, err = invoke("tag", "ZAA0067", "--diagnosis", "mela\u00a0noma", "--archive", archive)
    assert code == 0, err
    assert len(search(archive, "--diagnosis", "mela noma")) == 2
    assert len(search(archive, "--diagnosis", "mela\u2009noma")) == 2


def test_tag_of_a_photo_missing_from_the_archive_says_so(archive: Path) -> None:
    """A trial: tag of a photo deleted from disk wrote its sidecar beside nothing, exit 0,
    "2 file(s) retagged": the loss went unseen until someone ran verify."""
    photo = sorted((archive / "ZAA0067").glob("*.jpg"))[0]
    sidecar = photo.with_suffix(".xmp")
    before = sidecar.read_bytes() if sidecar.exists() else None
    photo.unlink()
    code, _, err = invoke("tag", "ZAA0067", "--diagnosis", "after", "--archive", archive)
    said = " ".join(err.split())
    assert code == 1, err
    assert "its photo is missing from the archive; the keywords are in the catalogue" in said
    assert (sidecar.read_bytes() if sidecar.exists() else None) == before  # not written
    assert all("after" in r["diagnosis"] for r in search(archive, "--id", "ZAA0067"))


def test_tag_with_the_backup_disk_not_connected_says_so_not_a_missing_photo(
    tmp_path: Path,
) -> None:
    """A second reader: with the backup's disk unplugged, each backup copy was called a
    photo "missing from the archive", to be put back by the next ingest."""
    backup = tmp_path / "backup"
    archive = ingest_demo(tmp_path, "--backup", str(backup))[1]
    backup.rename(tmp_path / "unplugged")
    code, _, err = invoke("tag", "ZAA0067", "--diagnosis", "later", "--archive", archive)
    said = " ".join(err.split())
    assert code == 1, err
    assert f"the backup folder {backup} is not there (its disk not connected?)" in said, said
    assert "missing from the archive" not in said
