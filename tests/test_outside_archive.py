"""Nothing a command writes for people goes into the archive: shared or DICOM copies, a
contact sheet, a map or a slate there would sit among the photos (in a patient's folder,
taken for that patient's). Each is refused (exit 2) before anything is made, as `share`
always was: given inside, through a link to the archive, or as the default folder made in
the current one; for `map-template` and `slate`, which take no --archive, the configured
archive counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from clinic_helpers import ingest_demo, invoke


def tree(root: Path) -> list[tuple[str, int]]:
    return sorted(
        (str(path.relative_to(root)), path.stat().st_size)
        for path in root.rglob("*")
        if path.is_file()
    )


def test_outputs_inside_the_archive_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "archive"  # the configured archive, and the one ingest_demo makes
    config = tmp_path / "config.toml"
    config.write_text(f"archive = {str(archive)!r}\nallow_test_ids = true\n", encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
    card, _archive, _document = ingest_demo(tmp_path)
    map_file = tmp_path / "demo-map.csv"
    link = tmp_path / "link"
    link.symlink_to(archive)
    one, other = archive / "ZAC5361", archive / "ZAA0067"
    assert one.is_dir() and other.is_dir()
    before = tree(archive)
    attempts = [
        ("dicom", "export", "ZAC5361", "--archive", archive, "--out", other),
        ("dicom", "export", "ZAC5361", "--archive", archive, "--out", link / "ZAA0067"),
        ("preview", card, "--map", map_file, "--archive", archive, "--sheet", one / "s.html"),
        ("preview", card, "--slates", "--archive", archive, "--sheet", one / "s.html"),
        ("ingest", card, "--map", map_file, "--archive", archive, "--sheet", one / "s.html"),
        ("map-template", card, "--out", archive / "map.csv"),
        ("map-template", card, "--sheet", link / "groups.html"),
        ("slate", "ZAC5361", "--out", one / "slate.png"),
        ("share", "ZAC5361", "--archive", archive, "--out", other),
    ]
    for args in attempts:
        code, _out, err = invoke(*args)
        assert code == 2, (args, err)
        assert "is inside the archive" in " ".join(err.split()), (args, err)
    monkeypatch.chdir(other)  # the default folder is made in the current one
    for args in [("dicom", "export", "ZAC5361", "--archive", archive), ("slate", "ZAC5361")]:
        code, _out, err = invoke(*args)
        assert code == 2 and "is inside the archive" in " ".join(err.split()), (args, err)
    assert tree(archive) == before
    # Beside the archive is fine.
    monkeypatch.chdir(tmp_path)
    code, _out, err = invoke("map-template", card, "--out", tmp_path / "map.csv")
    assert code == 0 and (tmp_path / "map.csv").is_file(), err


def test_outputs_inside_the_backup_are_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backup is the archive's second copy: a sheet or shared copies in a patient's
    folder there would be taken for that patient's photos as surely."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    config = tmp_path / "config.toml"
    config.write_text(
        f"archive = {str(archive)!r}\nbackup = {str(backup)!r}\nallow_test_ids = true\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
    card, _archive, _document = ingest_demo(tmp_path)
    one, other = backup / "ZAC5361", backup / "ZAA0067"
    assert one.is_dir() and other.is_dir()
    before = tree(backup)
    map_file = tmp_path / "demo-map.csv"
    attempts = [
        ("dicom", "export", "ZAC5361", "--out", other),
        ("preview", card, "--map", map_file, "--sheet", one / "s.html"),
        ("ingest", card, "--map", map_file, "--sheet", one / "s.html"),
        ("map-template", card, "--out", backup / "map.csv"),
        ("slate", "ZAC5361", "--out", one / "slate.png"),
        ("share", "ZAC5361", "--out", other),
    ]
    for args in attempts:
        code, _out, err = invoke(*args)
        assert code == 2, (args, err)
        assert f"is inside the backup {backup}" in " ".join(err.split()), (args, err)
    assert tree(backup) == before


def test_an_empty_sheet_or_slate_file_is_said_to_be_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--sheet "$SHEET"`` with the variable unset said "--sheet . exists; a contact sheet
    never writes over a file", and ``slate --out ""`` that "." must end in .png or .pdf."""
    from exif_bytes import exif_jpeg

    card = tmp_path / "card"
    (card / "DCIM" / "100CANON").mkdir(parents=True)
    (card / "DCIM" / "100CANON" / "IMG_0001.JPG").write_bytes(exif_jpeg("2024:05:01 10:00:00"))
    monkeypatch.chdir(tmp_path)
    archive = ("--archive", tmp_path / "archive")
    for args, said in (
        (("preview", card, "--id", "JBX3656", *archive, "--sheet", ""), "--sheet is empty"),
        (("slate", "JBX3656", "--out", ""), "--out is empty"),
        (("preview", card, "--map", "", *archive), "--map is empty"),
        (("map-template", card, "--out", ""), "--out is empty"),
        (("preview", card, "--map", " ", *archive), "--map is empty"),
        (("map-template", card, "--out", " "), "--out is empty"),
        (("map-template", card, "--sheet", " "), "--sheet is empty"),
        (("slate", "JBX3656", "--out", " "), "--out is empty"),
        # A trial: HTML written into sheet.pdf, exit 0, where slate --out makes real PDFs.
        (("preview", card, "--id", "JBX3656", *archive, "--sheet", "sheet.pdf"), "HTML page"),
    ):
        code, _out, err = invoke(*args)
        assert code == 2 and said in " ".join(err.split()), (args, err)
    assert not (tmp_path / "sheet.pdf").exists()


@pytest.mark.parametrize("command", ["preview", "ingest", "wipe", "map-template"])
def test_an_empty_source_is_not_this_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """``cardingest ingest "$CARD" --id …`` with the variable unset filed every photo under
    the current folder (a home's holiday pictures) under the patient."""
    from exif_bytes import timed_card

    timed_card(tmp_path)  # the current folder holds photos
    monkeypatch.chdir(tmp_path)
    archive = tmp_path.parent / f"{tmp_path.name}-archive"
    patient = ("--id", "JBX3656") if command in ("preview", "ingest") else ()
    where = ("--archive", archive) if command != "map-template" else ()
    code, _out, err = invoke(command, "", *patient, *where)
    assert code == 2 and "SOURCE is empty" in err, err
    assert not archive.exists()


def test_outputs_in_a_dcim_folder_or_another_archive_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A card copied to a folder (not a mounted card): shared copies written into its DCIM
    were filed under the next ingest's patient. And `map-template`, which takes no
    --archive, wrote its CSV into an archive not configured, which `verify` then failed."""
    config = tmp_path / "config.toml"
    config.write_text("allow_test_ids = true\n", encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
    card, archive, _document = ingest_demo(tmp_path)
    dcim = next(card.rglob("DCIM"))
    before = tree(card)
    for args, said in (
        (("share", "ZAC5361", "--archive", archive, "--out", dcim / "share"), "in a DCIM folder"),
        (("dicom", "export", "ZAC5361", "--archive", archive, "--out", dcim / "d"), "DCIM"),
        (("map-template", card, "--out", archive / "map.csv"), f"is inside {archive}, an"),
        (("map-template", card, "--out", archive / "ZAC5361" / "m.csv"), "an archive or its"),
    ):
        code, _out, err = invoke(*args)
        assert code == 2 and said in " ".join(err.split()), (args, err)
    assert tree(card) == before
    assert code == 2 and not (archive / "map.csv").exists()
    # Not refused: a path that only passes through DCIM or an archive (`..`), and a folder
    # whose `.cardingest` holds no archive's records (an empty one in a home).
    home, copied = tmp_path / "home", tmp_path / "copied"
    (home / ".cardingest").mkdir(parents=True)
    (copied / "DCIM").mkdir(parents=True)
    for out in (copied / "DCIM" / ".." / "a.csv", archive / ".." / "b.csv", home / "c.csv"):
        code, _out, err = invoke("map-template", card, "--out", out)
        assert code == 0, (out, err)


def test_outputs_on_proc_sys_or_dev_are_for_the_user_to_fix(tmp_path: Path, test_ids: Path) -> None:
    """A trial: `share … --out /proc/x` was exit 1 ("Cannot create /proc/x"), where an
    archive there is exit 2 with what to give."""
    card, archive, _document = ingest_demo(tmp_path)
    attempts = [
        ("share", "ZAC5361", "--archive", archive, "--out", "/proc/x"),
        ("dicom", "export", "ZAC5361", "--archive", archive, "--out", "/sys/x"),
        ("map-template", card, "--out", "/proc/map.csv"),
        ("preview", card, "--id", "ZAC5361", "--archive", archive, "--sheet", "/proc/s.html"),
    ]
    for args in attempts:
        code, _out, err = invoke(*args)
        said = " ".join(err.split())
        assert code == 2 and "a view of the running system that holds no files" in said, said
