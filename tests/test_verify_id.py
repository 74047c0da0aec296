"""`verify --id ID` reports exactly what a whole-archive `verify` reports in that patient's
folder and backup copies: no more, no fewer, at every depth and with flat and nested folder
templates. Two gaps closed here: a `.cardingest` folder inside a patient folder (only the
archive's own is metadata), and files directly in the patient folder when the photos sit in
sub-folders (``folder_template = "{id}/{date}"``).

Archives are made by the real CLI from card folders of JPEGs with known capture times (the
helpers of test_verify_mutants.py), then damaged by hand.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from clinic_helpers import cli
from test_verify_mutants import (  # noqa: F401 (config and private_umask are fixtures)
    MAP,
    OPERATOR,
    SHOTS,
    config,
    events,
    flip_byte,
    ingest,
    make_card,
    private_umask,
    verify_json,
)

X, Y, HAND = "JBX3656", "MCJ1984", "ACA31FM"  # HAND: a folder filed by hand, no catalogue row
LINK = "EPT6335"  # a link to HAND's folder: not a folder, so no patient's


# Each test has its own config (CARDINGEST_CONFIG) and makes its files private, so only what
# it opens up on purpose is "exposed".
pytestmark = pytest.mark.usefixtures("config", "private_umask")


def use_template(folder_template: str) -> None:
    Path(os.environ["CARDINGEST_CONFIG"]).write_text(
        f'operator = "{OPERATOR}"\nfolder_template = "{folder_template}"\n', encoding="utf-8"
    )


def patient_folder(relpath: str, patient_id: str) -> str | None:
    """The folder of ``patient_id`` that ``relpath`` lies in or is: down to the first folder
    whose name holds the ID (``2024/JBX3656`` for ``2024/JBX3656/x.jpg``)."""
    parts = relpath.rstrip("/").split("/")
    for end, part in enumerate(parts, start=1):
        if patient_id in part:
            return "/".join(parts[:end])
    return None


def belongs(problem: dict[str, Any], patient_id: str, archive: Path, backup: Path) -> bool:
    """A whole-archive problem lies in the patient's folder (or is that folder) in the
    archive or the backup."""
    path = problem["path"]
    root, relpath = archive, path
    if Path(path).is_absolute():
        root, relpath = backup, Path(path).relative_to(backup).as_posix()
    folder = patient_folder(relpath, patient_id)
    if folder is None:
        return False
    on_disk = root / relpath
    is_folder = relpath.endswith("/") or (on_disk.is_dir() and not on_disk.is_symlink())
    return folder != relpath.rstrip("/") or is_folder


def as_set(problems: list[dict[str, Any]]) -> set[tuple[tuple[str, Any], ...]]:
    return {tuple(sorted(problem.items())) for problem in problems}


def damage(archive: Path, backup: Path, targets: dict[str, str]) -> None:
    """Problems in and around every patient's folder, at every depth, for any template."""
    x1, x2, y1 = (targets[f"DCIM/100CANON/{name}"] for name in sorted(SHOTS))
    flip_byte(archive / x1)
    (archive / y1).unlink()
    flip_byte(backup / x2)
    (backup / y1).chmod(0o644)
    for photo, patient_id in ((x2, X), (y1, Y)):
        folder = patient_folder(photo, patient_id)
        assert folder is not None
        home, beside = archive / folder, (archive / photo).parent
        (home / "stray.jpg").write_text("directly in the patient folder")
        (beside / "notes.txt").write_text("beside the photos")
        (home / "old" / "deeper").mkdir(parents=True)
        (home / "old" / "deeper" / "x.jpg").write_text("two folders down")
        (home / "empty").mkdir()
        (home / ".cardingest").mkdir()
        (home / ".cardingest" / "catalogue.db").write_text("copied in by hand")
        (beside / ".cardingest" / "sub").mkdir(parents=True)  # empty, beside the photos
        (home / ".cardingest-tmp-5").write_text("a copy in progress: not a stray")
        (beside / f"{Path(photo).stem}.XMP").write_text("the photo's sidecar: expected")
        (home / f"{patient_id}-other.xmp").write_text("no photo's sidecar")
        (home / "link").symlink_to(beside)  # a link is not entered
        (home / "old").chmod(0o755)
        (home / "stray.jpg").chmod(0o644)
        if home.parent != archive:  # {year}/{id}: a stray beside the patient folders
            (home.parent / "stray.jpg").write_text("in no patient's folder")
    (archive / HAND / "sub").mkdir(parents=True)
    (archive / HAND / "sub" / "x.jpg").write_text("filed by hand")
    (archive / LINK).symlink_to(archive / HAND)
    (archive / f"{X}-note.txt").write_text("at the top, its name holds an ID")
    (archive / "EMPTY").mkdir()
    archive.chmod(0o755)
    for photo, patient_id in ((x1, X), (y1, Y)):  # the backup's folders count as the archive's
        folder = patient_folder(photo, patient_id)
        assert folder is not None
        (backup / folder).chmod(0o755)
        (backup / photo).parent.chmod(0o705)
    backup.chmod(0o755)
    (backup / ".cardingest" / "manifests").chmod(0o755)


@pytest.mark.parametrize(
    "folder_template", ["{id}", "{id}/{date}", "{year}/{id}", "{year}/{id}/{date}"]
)
def test_one_patients_problems_are_the_whole_archives_in_that_folder(
    tmp_path: Path, folder_template: str
) -> None:
    use_template(folder_template)
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    document = ingest(make_card(tmp_path / "card", list(SHOTS)), archive, MAP, "--backup", backup)
    targets = {item["source"]: item["target"] for item in document["items"]}
    damage(archive, backup, targets)

    code, whole = verify_json(archive)
    assert code == 1
    kinds = {p["kind"] for p in whole["problems"]}
    assert kinds == {"missing", "changed", "unexpected", "exposed"}

    for patient_id in (X, Y, HAND):
        code, one = verify_json(archive, "--id", patient_id)
        assert (code, one["id"]) == (1, patient_id)
        mine = [p for p in whole["problems"] if belongs(p, patient_id, archive, backup)]
        assert as_set(one["problems"]) == as_set(mine), patient_id
        assert len(one["problems"]) == len(mine)
        paths = {p["path"] for p in mine}
        if patient_id != HAND:  # the two gaps, for every template
            folder = patient_folder(
                targets[min(t for t in targets if patient_id in targets[t])], patient_id
            )
            assert f"{folder}/stray.jpg" in paths
            assert f"{folder}/.cardingest/catalogue.db" in paths
            assert f"{folder}/empty/" in paths
            assert str(backup / folder) in paths  # the backup's folder too
        counts = {kind: sum(p["kind"] == kind for p in mine) for kind in kinds}
        assert {k: one["summary"][k] for k in kinds} == counts
    # Nothing outside the three folders was reported for any of them.
    outside = [
        p
        for p in whole["problems"]
        if not any(belongs(p, i, archive, backup) for i in (X, Y, HAND))
    ]
    assert {p["path"] for p in outside} >= {f"{X}-note.txt", LINK, "EMPTY/", "."}
    assert {p["path"] for p in outside} >= {str(backup), str(backup / ".cardingest/manifests")}
    # A link is not a patient's folder, nor followed: nothing to check for that ID.
    assert cli("verify", "--archive", archive, "--id", LINK).exit_code == 2
    assert [e["id"] for e in events(archive, "verify")] == [None, X, Y, HAND]


def test_a_metadata_folder_inside_a_patient_folder_is_looked_into(tmp_path: Path) -> None:
    """Gap 1: only the archive's own `.cardingest` is metadata."""
    archive = tmp_path / "archive"
    ingest(make_card(tmp_path / "card", ["IMG_0001.JPG"]), archive, "files,id\nIMG_0001,JBX3656\n")
    (archive / X / ".cardingest" / "manifests").mkdir(parents=True)
    (archive / X / ".cardingest" / "manifests" / "a.sha256").write_text("copied in by hand")
    expected = [("unexpected", f"{X}/.cardingest/manifests/a.sha256")]

    for extra in ((), ("--id", X), ("--id", X.lower())):
        code, document = verify_json(archive, *extra)
        assert code == 1
        assert [(p["kind"], p["path"]) for p in document["problems"]] == expected


def test_files_directly_in_the_patient_folder_of_a_nested_template(tmp_path: Path) -> None:
    """Gap 2: with ``{id}/{date}`` the photos sit in ``JBX3656/20240102/``; a photo or stray
    put at ``JBX3656/x.jpg`` is still in the patient's folder."""
    use_template("{id}/{date}")
    archive = tmp_path / "archive"
    card = make_card(tmp_path / "card", ["IMG_0001.JPG"])
    ingest(card, archive, "files,id\nIMG_0001,JBX3656\n")
    assert (archive / X / "20240102" / "JBX3656-20240102-030405.jpg").is_file()
    (archive / X / "x.jpg").write_bytes((card / "DCIM" / "100CANON" / "IMG_0001.JPG").read_bytes())
    (archive / X / "2023").mkdir()
    expected = [
        ("unexpected", f"{X}/x.jpg", "not in the catalogue"),
        ("unexpected", f"{X}/2023/", "an empty folder, not catalogued"),
    ]

    for extra in ((), ("--id", X)):
        code, document = verify_json(archive, *extra)
        assert code == 1
        assert sorted((p["kind"], p["path"], p["detail"]) for p in document["problems"]) == sorted(
            expected
        )


def test_an_id_that_is_not_there_invalid_or_in_lower_case(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    ingest(make_card(tmp_path / "card", ["IMG_0001.JPG"]), archive, "files,id\nIMG_0001,JBX3656\n")
    before = len(events(archive, "verify"))

    absent = cli("verify", "--archive", archive, "--id", HAND)
    assert absent.exit_code == 2, absent.output
    assert f"No photos of {HAND} are archived: is the ID or --archive right?" in absent.stderr
    assert absent.stdout == ""
    as_json = cli("verify", "--archive", archive, "--id", HAND, "--json")
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["error"]["message"].startswith(f"No photos of {HAND}")

    invalid = cli("verify", "--archive", archive, "--id", "JBX3657")
    assert invalid.exit_code == 2
    assert "NHI 'JBX3657' fails its check" in invalid.stderr
    layout = cli("verify", "--archive", archive, "--id", "JB3656")
    assert layout.exit_code == 2
    assert "NHI 'JB3656' has 6 characters" in layout.stderr
    for result in (absent, as_json, invalid, layout):
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(events(archive, "verify")) == before  # refused before anything was checked

    upper, lower = verify_json(archive, "--id", X), verify_json(archive, "--id", X.lower())
    assert upper == lower
    assert upper[0] == 0 and upper[1]["id"] == X and upper[1]["summary"]["records"] == 1


def test_a_short_id_inside_a_folder_name_is_not_that_patients_folder(tmp_path: Path) -> None:
    """With ``id_scheme = "pattern"`` an ID may be ``24``: the year folder ``2024`` holds
    those digits but is not patient 24's folder; ``2024/24`` is."""
    Path(os.environ["CARDINGEST_CONFIG"]).write_text(
        f'operator = "{OPERATOR}"\nid_scheme = "pattern"\nid_pattern = "^[0-9]{{2}}$"\n'
        'folder_template = "{year}/{id}"\n',
        encoding="utf-8",
    )
    archive = tmp_path / "archive"
    card = make_card(tmp_path / "card", ["IMG_0001.JPG", "IMG_0003.JPG"])
    ingest(card, archive, "files,id\nIMG_0001,24\nIMG_0003,12\n")
    assert (archive / "2024" / "24" / "24-20240102-030405.jpg").is_file()
    (archive / "2024" / "stray.jpg").write_text("in the year folder")
    (archive / "2024" / "24" / "stray.jpg").write_text("in patient 24's folder")
    (archive / "2024" / "12" / "stray.jpg").write_text("in patient 12's folder")

    code, whole = verify_json(archive)
    assert code == 1
    assert sorted(p["path"] for p in whole["problems"]) == [
        "2024/12/stray.jpg",
        "2024/24/stray.jpg",
        "2024/stray.jpg",
    ]
    for patient_id in ("24", "12"):
        code, one = verify_json(archive, "--id", patient_id)
        assert code == 1
        assert [p["path"] for p in one["problems"]] == [f"2024/{patient_id}/stray.jpg"]
