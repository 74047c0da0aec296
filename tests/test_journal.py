"""The publish journal (`archive.journal`): a run that dies between naming its copies and
recording them leaves a journal, and the next ingest records what it names, so no photo
stays in a patient's folder unknown to the catalogue.

A dead run is made in process: the catalogue's ``add`` raises a `Killed` (a BaseException,
as nothing catches it), so the run stops after it published, before any row, and unwinds
without removing its journal or closing its ingest record, as kill -9 would leave them.
``tests/faults/test_mislabel.py`` does the same with a real kill -9 on a FUSE card.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from badinput_helpers import folder_card, photos
from cardimage import require_samples
from typer.testing import CliRunner

from cardingest.archive import journal as journal_module
from cardingest.archive.catalogue import Catalogue
from cardingest.archive.journal import journal_folder
from cardingest.cli.app import app
from cardingest.errors import EXIT_FAILURE, EXIT_HELD, EXIT_OK

runner = CliRunner()
PATIENT, OTHER = "JBX3656", "MCJ1984"


class Killed(BaseException):
    """Stands for SIGKILL: no handler of the product catches it."""


@pytest.fixture
def card(tmp_path: Path) -> Path:
    require_samples()
    first, second, third = photos(3)
    return folder_card(
        tmp_path / "card",
        {
            b"DCIM/100CANON/IMG_0001.JPG": first,
            b"DCIM/100CANON/IMG_0002.JPG": second,
            b"DCIM/100CANON/IMG_0003.JPG": third,
        },
    )


def ingest(*args: object) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["ingest", *map(str, args), "--json"])
    return result.exit_code, json.loads(result.stdout)


def dead_run(monkeypatch: pytest.MonkeyPatch, *args: object) -> None:
    def add(self: Catalogue, records: object) -> None:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(Catalogue, "add", add)
        with pytest.raises(Killed):
            runner.invoke(app, ["ingest", *map(str, args), "--json"], catch_exceptions=False)


def rows(archive: Path) -> dict[str, tuple[str, str | None, str | None]]:
    """archive path -> (patient, backup path, problem)."""
    with Catalogue.open(archive, create=False) as catalogue:
        problems = catalogue.problems()
        return {
            r.archive_path: (r.patient_id, r.backup_path, problems.get(r.archive_path))
            for r in catalogue.records()
        }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def the_journal(archive: Path) -> Path:
    [path] = journal_folder(archive).iterdir()
    return path


def test_the_journal_names_each_photo_before_it_is_named_and_is_private(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    published = sorted((archive / PATIENT).glob("*.jpg"))
    assert len(published) == 3 and not rows(archive)
    journal = the_journal(archive)
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    header, *lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert header["ingest_id"] == journal.stem and header["backup"] is None
    named = {line["archive_path"]: line["sha256"] for line in lines}
    assert named == {f"{PATIENT}/{p.name}": sha256(p) for p in published}
    assert {line["patient_id"] for line in lines} == {PATIENT}


def test_the_next_ingest_records_them_under_the_dead_runs_ids_and_holds_them(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", OTHER, "--archive", archive)
    ingest_id = the_journal(archive).stem
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_HELD, document
    assert [item["action"] for item in document["items"]] == ["hold"] * 3
    assert document["warnings"][0].startswith(
        f"ingest {ingest_id} stopped after it copied 3 photo(s) without recording them"
    )
    assert any("every photo it copied is recorded" in w for w in document["warnings"])
    assert {patient for patient, _, _ in rows(archive).values()} == {OTHER}
    assert not list(journal_folder(archive).iterdir())
    with Catalogue.open(archive, create=False) as catalogue:
        [dead] = [i for i in catalogue.ingests() if i["ingest_id"] == ingest_id]
    assert dead["status"] == "crashed"
    manifest = archive / ".cardingest" / "manifests" / f"{ingest_id}.sha256"
    assert len(manifest.read_text().splitlines()) == 3


def test_a_photo_published_under_a_later_name_is_found_there(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishing never replaces a file: the name was taken, so the photo took ``-2``."""
    archive = tmp_path / "archive"
    code, document = runner_preview(card, archive)
    first = document["items"][0]["target"]
    (archive / PATIENT).mkdir(parents=True)
    (archive / first).write_bytes(b"a file someone put here")
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK, document
    second = first.replace(".jpg", "-2.jpg")
    assert second in rows(archive) and first not in rows(archive)
    assert (archive / first).read_bytes() == b"a file someone put here"
    assert [item["action"] for item in document["items"]] == ["skip"] * 3


def runner_preview(card: Path, archive: Path) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(
        app, ["preview", str(card), "--id", PATIENT, "--archive", str(archive), "--json"]
    )
    return result.exit_code, json.loads(result.stdout)


def test_a_copy_changed_since_is_not_recorded_and_its_photo_is_copied_again(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    changed = sorted((archive / PATIENT).glob("*.jpg"))[0]
    changed.write_bytes(b"not the photo any more")
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK, document
    assert f"{PATIENT}/{changed.name}" not in rows(archive)
    assert len(rows(archive)) == 3  # the photo itself is copied again, under -2
    assert changed.read_bytes() == b"not the photo any more"


def test_a_backup_copy_that_never_got_its_name_is_marked_for_repair(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    gone = sorted((backup / PATIENT).glob("*.jpg"))[0]
    gone.unlink()
    code, document = ingest(card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    assert code == EXIT_OK, document
    # Recorded with the mark "backup copy … is missing"; the plan, made after, repairs it.
    [repaired] = [item for item in document["items"] if item["action"] == "copy"]
    assert repaired["target"] == f"{PATIENT}/{gone.name}"
    assert repaired["reason"].startswith("repaired"), repaired
    found = rows(archive)
    assert found[f"{PATIENT}/{gone.name}"] == (PATIENT, str(gone), None)
    assert sha256(gone) == sha256(archive / PATIENT / gone.name)
    assert all(copy is not None and Path(copy).is_file() for _, copy, _ in found.values())


def test_a_line_cut_short_by_the_kill_is_passed_over(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    journal = the_journal(archive)
    text = journal.read_bytes()
    journal.write_bytes(text[: text.rstrip(b"\n").rfind(b"\n") + 40])
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK, document
    assert len(rows(archive)) == 3
    actions = sorted(item["action"] for item in document["items"])
    assert actions == ["copy", "skip", "skip"]  # the third: its file reused, its name kept
    assert not list(journal_folder(archive).iterdir())


def test_a_photo_whose_line_cannot_be_written_is_not_published(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "archive"
    real = journal_module.write_all
    written: list[int] = []

    def full(fd: int, data: bytes) -> None:
        """The header is written; no line after it is."""
        if written:
            raise OSError(28, os.strerror(28))
        written.append(fd)
        real(fd, data)

    monkeypatch.setattr(journal_module, "write_all", full)
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_FAILURE
    assert {item["action"] for item in document["items"]} == {"failed"}
    reason = document["items"][0]["reason"]
    assert reason.startswith("No space left on device writing the publish journal "), reason
    assert not list((archive / PATIENT).iterdir())
    assert not rows(archive)


def test_the_lines_of_a_batch_are_on_the_disk_before_its_rows(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch syncs the journal first: a power cut after a row never loses the line of
    a photo named since (the same order as the folders' syncs before the rows)."""
    archive = tmp_path / "archive"
    real_sync, real_add = journal_module.sync_file, Catalogue.add
    synced: list[int] = []

    def sync(fd: int) -> None:
        real_sync(fd)
        synced.append(os.fstat(fd).st_size)

    def add(self: Catalogue, records: Any) -> None:
        [journal] = journal_folder(archive).iterdir()
        on_disk = journal.read_bytes()[: synced[-1]]
        for record in records:
            assert f'"archive_path":"{record.archive_path}"'.encode() in on_disk
        real_add(self, records)

    monkeypatch.setattr(journal_module, "sync_file", sync)
    monkeypatch.setattr(Catalogue, "add", add)
    code, _ = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK
    assert len(rows(archive)) == 3 and len(synced) >= 2


def test_a_file_the_journal_does_not_name_is_named_in_the_warning(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut can keep a name and lose its line: that file is named, not recorded, and
    the run is not said to have left every photo recorded."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", OTHER, "--archive", archive)
    journal = the_journal(archive)
    *kept, lost = journal.read_text().splitlines()
    journal.write_text("\n".join(kept) + "\n")
    unnamed = json.loads(lost)["archive_path"]
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_HELD, document
    [said] = [w for w in document["warnings"] if "not in its publish journal" in w]
    assert "1 file(s) in the folders it copied into" in said and unnamed in said
    assert unnamed not in rows(archive)
    assert any("see above for what it may have left" in w for w in document["warnings"])
    assert not any("every photo it copied is recorded" in w for w in document["warnings"])


def test_a_finished_run_leaves_no_journal(card: Path, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    code, _ = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK
    assert journal_folder(archive).is_dir() and not list(journal_folder(archive).iterdir())


def test_preview_says_the_next_ingest_records_a_dead_runs_photos_first(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dry run changes nothing, so it cannot record them: it says the plan may change."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", OTHER, "--archive", archive)
    journal = the_journal(archive)
    code, document = runner_preview(card, archive)
    assert code == EXIT_OK and journal.is_file()
    said = f"ingest {journal.stem} stopped before it recorded"
    assert any(w.startswith(said) for w in document["warnings"]), document["warnings"]
