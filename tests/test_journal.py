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
import threading
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

    synced: list[int] = []

    def full(fd: int) -> None:
        """The header reaches the disk; no line after it does."""
        if synced:
            raise OSError(28, os.strerror(28))
        synced.append(fd)

    monkeypatch.setattr(journal_module, "sync_file", full)
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_FAILURE
    assert {item["action"] for item in document["items"]} == {"failed"}
    reason = document["items"][0]["reason"]
    assert reason.startswith("No space left on device writing the publish journal "), reason
    assert not list((archive / PATIENT).iterdir())
    assert not rows(archive)


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


def test_a_line_is_durable_only_once_a_sync_that_began_after_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: `durable` waits for a sync begun after the line was written, and one
    sync answers for every line written before it began. The sync is held on an event, so
    no outcome here depends on timing (a `durable` that returned early would be seen
    returned; one that waits is never seen returned before the event)."""
    from cardingest.archive.catalogue import CatalogueRecord

    real = journal_module.sync_file
    release = threading.Event()
    syncs: list[int] = []

    def held_sync(fd: int) -> None:
        if syncs:  # the header's sync (the first) goes through
            assert release.wait(60)
        real(fd)
        syncs.append(os.fstat(fd).st_size)

    monkeypatch.setattr(journal_module, "sync_file", held_sync)
    journal = journal_module.PublishJournal.start(tmp_path, "ingest-1", None, ())
    record = CatalogueRecord(
        patient_id=PATIENT, archive_path=f"{PATIENT}/a.jpg", sha256="ab" * 32, size=1,
        captured_at="2026-01-01T00:00:00", captured_raw="2026-01-01T00:00:00", time_source="x",
    )  # fmt: skip
    first, second = journal.note(record), journal.note(record)
    waited: list[int] = []
    waiter = threading.Thread(target=lambda: (journal.durable(second), waited.append(second)))
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive() and not waited, "durable returned before its sync"
    release.set()
    waiter.join(60)
    journal.durable(first)
    assert waited == [second]
    assert syncs[-1] == journal.path.stat().st_size  # both lines were on the disk
    journal.close()
    with pytest.raises(OSError, match="the ingest has ended"):
        journal.note(record)
    journal.remove()
    assert not journal.path.exists()
