"""The publish journal (`archive.journal`): a run that dies between naming its copies and
recording them leaves a journal, and the next ingest records what it names, so no photo
stays in a patient's folder unknown to the catalogue.

A dead run is made in process: the catalogue's ``add`` raises a `Killed` (a BaseException,
as nothing catches it), so the run stops after it published, before any row, and unwinds
without removing its journal or closing its ingest record, as kill -9 would leave them.
``tests/faults/test_mislabel.py`` does the same with a real kill -9 on a FUSE card.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from badinput_helpers import three_photo_card
from cardimage import require_samples
from conftest import tmpfs_on
from typer.testing import CliRunner

from cardingest.archive import journal as journal_module
from cardingest.archive.catalogue import Catalogue, CatalogueRecord
from cardingest.archive.journal import journal_folder
from cardingest.cli.app import app
from cardingest.errors import EXIT_FAILURE, EXIT_HELD, EXIT_OK, ArchiveError

runner = CliRunner()
PATIENT, OTHER = "JBX3656", "MCJ1984"


class Killed(BaseException):
    """Stands for SIGKILL: no handler of the product catches it."""


@pytest.fixture
def card(tmp_path: Path) -> Path:
    require_samples()
    return three_photo_card(tmp_path / "card")


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
    assert header["ingest_id"] == journal.stem and header["folders"] == [PATIENT]
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


def test_a_journal_is_all_recorded_only_once_each_named_copy_has_its_row(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an interrupted run asks of its own journal before it removes it (`all_recorded`):
    three photos named with no row say no; with their rows (the next run's), yes."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    kept = the_journal(archive).read_bytes()
    copy = tmp_path / "journal.jsonl"
    copy.write_bytes(kept)
    with Catalogue.open(archive, create=False) as catalogue:
        assert not journal_module.all_recorded(catalogue, archive, copy, None)
    assert ingest(card, "--id", PATIENT, "--archive", archive)[0] == EXIT_OK
    with Catalogue.open(archive, create=False) as catalogue:
        assert journal_module.all_recorded(catalogue, archive, copy, None)
        copy.write_bytes(kept + b'{"half a line\n')
        assert not journal_module.all_recorded(catalogue, archive, copy, None)
        copy.write_bytes(kept)  # a file with no row where it named photos: a changed copy?
        (archive / PATIENT / "JBX3656-20990101-000000.jpg").write_bytes(b"no row")
        assert not journal_module.all_recorded(catalogue, archive, copy, None)


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
    [said] = [w for w in document["warnings"] if "have no catalogue row" in w]
    assert f"{PATIENT}/{changed.name}" in said
    assert not any("every photo it copied is recorded" in w for w in document["warnings"])


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


def test_an_empty_file_a_kill_left_under_a_photos_name_is_removed_and_the_name_used(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without hard links (exFAT, FAT) publishing takes a name with an empty file, then
    renames the verified copy onto it: a kill in between leaves the empty file under the
    photo's name, in the archive or the backup. The next ingest removes it, says so, and
    the photo takes its own name, not ``-2`` beside an empty file.
    ``tests/faults/test_kill.py`` makes this state with a real kill -9 on an exFAT drive."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    args = (card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    dead_run(monkeypatch, *args)
    first, second, kept = sorted((archive / PATIENT).glob("*.jpg"))
    os.truncate(first, 0)  # and its backup copy not yet written: the kill came first
    (backup / PATIENT / first.name).unlink()
    os.truncate(backup / PATIENT / second.name, 0)
    code, document = ingest(*args)
    assert code == EXIT_OK, document
    archived, backed = [w for w in document["warnings"] if "without hard links" in w]
    assert f"removed {first}" in archived and "still on their card" in archived
    assert f"removed {backup / PATIENT / second.name}" in backed
    assert "the card's next ingest makes it again" in backed
    found = rows(archive)
    assert sorted(found) == [f"{PATIENT}/{p.name}" for p in (first, second, kept)]
    for photo in (first, second):
        copy = backup / PATIENT / photo.name
        assert found[f"{PATIENT}/{photo.name}"] == (PATIENT, str(copy), None)
        assert sha256(photo) == sha256(copy) and photo.stat().st_size > 0
    assert not [p for p in (archive / PATIENT).iterdir() if p.stem.endswith("-2")]
    assert not [p for p in (backup / PATIENT).iterdir() if p.stem.endswith("-2")]


def test_an_empty_file_that_held_a_photos_name_before_the_dead_run_keeps_its_copy_found(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty file held a photo's name before the dead run published it (a kill's
    placeholder whose line a power cut lost, another desk's photo of the same name, or one
    put there by hand): publishing passed it over and took ``-2``. That copy is the photo's
    and is recorded, as before placeholders were removed; the empty file is not the dead
    run's placeholder, so it is neither removed nor said to be, and no second copy of the
    photo is filed beside the first with no row."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    first, second, third = sorted((archive / PATIENT).glob("*.jpg"))
    moved = first.with_name(f"{first.stem}-2{first.suffix}")
    first.rename(moved)  # where publishing put it, the name being taken
    first.touch()
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK, document
    assert not [w for w in document["warnings"] if "without hard links" in w]
    assert sorted(rows(archive)) == [f"{PATIENT}/{p.name}" for p in (moved, second, third)]
    assert first.exists() and first.stat().st_size == 0
    assert [item["action"] for item in document["items"]] == ["skip"] * 3


def test_a_placeholder_beside_another_ingests_row_of_its_photo_is_removed(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A desk of a PostgreSQL archive on exFAT was killed as it named a photo, leaving its
    placeholder; another desk, not alone, filed the same photo for the same patient from its
    own card at ``-2`` (the name was taken) and recorded it. The lone run that recovers the
    dead one finds the photo recorded at ``-2`` under that other ingest: the dead run never
    went past its name, so the empty file there is its placeholder and is removed. It was
    left under the photo's name for good, and `verify` called it unexpected (a trial: two
    desks, kill -9 at renameat)."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    first = sorted((archive / PATIENT).glob("*.jpg"))[0]
    os.truncate(first, 0)  # the dead run's placeholder
    dead = the_journal(archive)
    aside = dead.rename(tmp_path / dead.name)  # the other desk was not alone: not recovered
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK, document
    beside = first.with_name(f"{first.stem}-2{first.suffix}")
    assert rows(archive)[f"{PATIENT}/{beside.name}"][0] == PATIENT
    aside.rename(dead)
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK, document
    [said] = [w for w in document["warnings"] if "without hard links" in w]
    assert f"removed {first}" in said and said.startswith(f"ingest {dead.stem} ")
    assert not first.exists()
    assert not [p for p in (archive / PATIENT).iterdir() if not p.stat().st_size]
    assert not journal_folder(archive).exists() or not any(journal_folder(archive).iterdir())


def test_a_placeholder_removed_for_one_dead_run_is_no_end_of_the_names_another_took(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs died before either was recovered (desks of a PostgreSQL archive: the second
    was not alone): the first as it named a photo, leaving its placeholder, the second after
    it filed another photo of that name at ``-2``, beside the placeholder. Removing the
    first's placeholder frees the name, but the second's copy is still found at ``-2`` and
    recorded: publishing took ``-2`` as the name was taken then."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    first, second, _ = sorted((archive / PATIENT).glob("*.jpg"))
    os.truncate(first, 0)  # the first run's placeholder
    earlier = the_journal(archive)
    aside = earlier.rename(tmp_path / earlier.name)  # not recovered by the second run
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    beside = first.with_name(f"{first.stem}-2{first.suffix}")
    second_bytes = second.read_bytes()
    beside.write_bytes(second_bytes)  # another photo of that name, not the first's
    _, *lines = [json.loads(n) for n in the_journal(archive).read_text().splitlines()]
    [line] = [n for n in lines if n["archive_path"] == f"{PATIENT}/{beside.name}"]
    named = f"{PATIENT}/{first.name}"  # planned while the name was free, taken as it published
    forge(archive, [dict(line, archive_path=named, sha256=sha256(beside), size=len(second_bytes))])
    aside.rename(earlier.with_name(f"0{earlier.name}"))  # read first, whatever the IDs' order
    _, document = ingest(card, "--id", PATIENT, "--archive", archive)
    [said] = [w for w in document["warnings"] if "without hard links" in w]
    assert f"removed {first}" in said and said.startswith(f"ingest {earlier.stem} ")
    found = rows(archive)
    assert f"{PATIENT}/{beside.name}" in found and f"{PATIENT}/{first.name}" in found
    assert sha256(beside) == sha256(second) and first.stat().st_size > 0


def test_a_backup_copy_under_its_shots_free_stem_is_found_there(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another archive sharing the backup folder has a RAW named as each shot's stem there:
    the shots' backup copies take `-2` (`backupstems`), the journal's lines name those, and
    the next ingest records each row with its copy where it is, not as missing."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    code, plan = runner_preview(card, archive)
    targets = [item["target"] for item in plan["items"] if item["action"] == "copy"]
    assert code == EXIT_OK and targets, plan
    for target in targets:
        theirs = backup / Path(target).with_suffix(".dng")
        theirs.parent.mkdir(parents=True, exist_ok=True)
        theirs.write_bytes(b"another archive's RAW")
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    code, document = ingest(card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    assert code == EXIT_OK, document
    found = rows(archive)
    for target in targets:
        copy = backup / target.replace(".jpg", "-2.jpg")
        assert found[target] == (PATIENT, str(copy), None)
        assert sha256(copy) == sha256(archive / target)
        assert not (backup / target).exists()
        assert (backup / Path(target).with_suffix(".dng")).read_bytes() == b"another archive's RAW"


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


def test_a_line_naming_another_ingest_is_passed_over_and_said(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line of the journal that names another ingest (an edit, or a journal mixed up with
    another's) is no row of the dead run: passed over and said, not recorded under the
    ingest it names (a mutant that took it passed every test)."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    journal = the_journal(archive)
    header, *lines = journal.read_text().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(journal.stem, "20200101-000000-elsewhere", 1)
    assert journal.stem not in lines[-1]
    journal.write_text(header + "".join(lines))
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK, document
    assert any(
        w.startswith("1 line(s) of ") and "are not rows of its ingest" in w
        for w in document["warnings"]
    ), document["warnings"]
    with Catalogue.open(archive, create=False) as catalogue:
        assert "20200101-000000-elsewhere" not in {i["ingest_id"] for i in catalogue.ingests()}
        assert {record.ingest_id for record in catalogue.records()} <= {
            journal.stem, document["ingest_id"]
        }  # fmt: skip
    assert len(rows(archive)) == 3


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
    assert not (archive / PATIENT).exists()  # the folder made for them is taken away again
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
    [said] = [w for w in document["warnings"] if "have no catalogue row" in w]
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
    said = f"ingest {journal.stem} is running, or it stopped before it recorded"
    assert any(w.startswith(said) for w in document["warnings"]), document["warnings"]


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_wipe_after_a_dead_run_says_its_copies_are_not_recorded_yet(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    """A trial: the wipe after a killed ingest kept every photo as "not archived (held,
    failed or never ingested)", with no word of the copies the next ingest records."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", OTHER, "--archive", archive)
    journal = the_journal(archive)
    flags = ["--dry-run"] if dry_run else ["--yes"]
    result = runner.invoke(app, ["wipe", str(card), "--archive", str(archive), *flags, "--json"])
    assert result.exit_code in (EXIT_OK, EXIT_HELD), result.stderr
    said = f"ingest {journal.stem} is running, or it stopped before it recorded"
    assert said in result.stderr
    [in_json] = json.loads(result.stdout)["warnings"]  # a script learns it too
    assert in_json.startswith(said)
    assert len(list(card.rglob("*.JPG"))) == 3 and journal.is_file()


def forge(archive: Path, lines: list[dict[str, Any]], folders: list[str] | None = None) -> Path:
    """Replace the dead run's journal lines (its header kept, ``folders`` put in it)."""
    journal = the_journal(archive)
    header, first, *_ = [json.loads(line) for line in journal.read_text().splitlines()]
    if folders is not None:
        header["folders"] = folders
    text = [json.dumps(header)] + [json.dumps(dict(first, **line)) for line in lines]
    journal.write_text("\n".join(text) + "\n")
    return journal


def test_a_journal_edited_to_reach_outside_the_archive_records_nothing_there(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines naming a file outside the archive, one in ``.cardingest``, a backup path
    outside the ingest's backup folder, or a folder outside the archive: each is passed over
    (named in a warning), nothing outside is read into the catalogue, listed or written."""
    archive = tmp_path / "archive"
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.jpg"
    secret.write_bytes((card / "DCIM/100CANON/IMG_0001.JPG").read_bytes())
    (outside / "Smith_John.pdf").write_bytes(b"%PDF")
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    audit_head = archive / ".cardingest" / "audit.head"
    forged = [
        {"archive_path": "../outside/secret.jpg", "sha256": sha256(secret)},
        {"archive_path": "/etc/hostname"},
        {"archive_path": ".cardingest/audit.head"},
        {"backup_path": str(outside / "secret.jpg"), "diagnosis": ["melanoma"]},
        {"size": "12"},
        {"diagnosis": "melanoma"},
        {"captured_at": "yesterday"},
    ]
    forge(archive, forged, folders=["../outside", PATIENT])
    before = audit_head.read_bytes() if audit_head.exists() else None
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK, document
    warnings = "\n".join(document["warnings"])
    assert f"{len(forged)} line(s) of " in warnings and "were passed over" in warnings
    assert "Smith_John" not in warnings and "secret" not in warnings
    assert sorted(rows(archive)) == sorted(
        f"{PATIENT}/{p.name}" for p in (archive / PATIENT).glob("*.jpg")
    )
    assert sorted(p.name for p in outside.iterdir()) == ["Smith_John.pdf", "secret.jpg"]
    if before is not None:
        assert audit_head.exists()
    assert not list(journal_folder(archive).iterdir())


@pytest.mark.parametrize("kind", ["folder", "garbage", "types", "unknown ingest"])
def test_a_file_in_the_journal_folder_that_is_no_journal_is_named_not_a_traceback(
    card: Path, tmp_path: Path, kind: str
) -> None:
    archive = tmp_path / "archive"
    assert ingest(card, "--id", PATIENT, "--archive", archive)[0] == EXIT_OK
    odd = journal_folder(archive) / "20261201T000000Z-dddddd.jsonl"
    if kind == "folder":
        odd.mkdir()
    elif kind == "garbage":
        odd.write_bytes(b"\x00\xffnot json\n")
    elif kind == "types":
        odd.write_text('{"journal": 1, "ingest_id": "x", "folders": 5, "reserved": 5}\n')
    else:
        header = {"journal": 1, "ingest_id": "nope", "folders": [], "reserved": []}
        odd.write_text(json.dumps(header) + "\n" + json.dumps({"archive_path": "a"}) + "\n")
    for _ in range(2):  # the next ingest is not blocked either
        code, document = ingest(card, "--id", PATIENT, "--archive", archive)
        assert code == EXIT_OK, document
        [said] = [w for w in document["warnings"] if w.startswith(str(odd))]
        assert "is not a publish journal this cardingest can read" in said
    assert odd.exists()


@pytest.mark.parametrize("written", [b"", b'{"journal":1,"ingest_id":"2026'])
def test_a_journal_a_kill_cut_in_its_header_is_removed_without_a_word(
    card: Path, tmp_path: Path, written: bytes
) -> None:
    """A run killed as it wrote its journal's first line (before its ingest began) named
    nothing: the next ingest removes the file. Before, it said "not a publish journal" and
    left it there for good (the kill fault test found it, with kills at random moments)."""
    archive = tmp_path / "archive"
    assert ingest(card, "--id", PATIENT, "--archive", archive)[0] == EXIT_OK
    cut = journal_folder(archive) / "20261201T000000Z-abcdef.jsonl"
    cut.write_bytes(written)
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK, document
    assert not [w for w in document["warnings"] if str(cut) in w], document["warnings"]
    assert not cut.exists()


def test_rows_a_killed_recovery_wrote_have_their_audit_event(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `recover` event comes before the rows: a recovery killed after the rows leaves no
    row without an event; one killed before them, an event the next run's rows fulfil."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", OTHER, "--archive", archive)
    dead_run(monkeypatch, card, "--id", OTHER, "--archive", archive)  # killed in its recovery
    assert not rows(archive)
    events = [
        json.loads(line) for line in (archive / ".cardingest/audit.jsonl").read_text().splitlines()
    ]
    [event] = [e for e in events if e["event"] == "recover"]
    assert len(event["recorded"]) == 3
    code, document = ingest(card, "--id", OTHER, "--archive", archive)
    assert code == EXIT_OK, document
    assert set(rows(archive)) == set(event["recorded"])


def killed_as_it_closes(monkeypatch: pytest.MonkeyPatch, card: Path, archive: Path) -> None:
    """An ingest of ``card`` killed as it closes its record (`Catalogue.finish_ingest`)."""

    def finish(self: Catalogue, *args: object, **kwargs: object) -> None:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(Catalogue, "finish_ingest", finish)
        with pytest.raises(Killed):
            runner.invoke(app, ["ingest", str(card), "--id", OTHER, "--archive", str(archive)],
                          catch_exceptions=False)  # fmt: skip


def test_a_recovery_killed_before_it_closed_the_dead_ingest_is_finished_by_the_next(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its journal stays until the dead ingest is closed: the next run does not say the
    dead run had none."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", OTHER, "--archive", archive)

    killed_as_it_closes(monkeypatch, card, archive)
    code, document = ingest(card, "--id", OTHER, "--archive", archive)
    assert code == EXIT_OK, document
    said = "\n".join(document["warnings"])
    assert "every photo it copied is recorded" in said and "left no publish" not in said
    assert len(rows(archive)) == 3 and not list(journal_folder(archive).iterdir())


def test_a_run_killed_after_it_removed_its_journal_is_said_to_have_left_none(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between the journal's removal (every row committed) and the ingest's close (a
    PostgreSQL server stopped then): the next run said only that photos "may lie in the
    archive … unknown to the catalogue"; it now says a run removes its journal once every
    photo is recorded, so they are, unless the run was older than the journal."""
    archive = tmp_path / "archive"

    killed_as_it_closes(monkeypatch, card, archive)
    assert len(rows(archive)) == 3 and not list(journal_folder(archive).iterdir())
    code, document = ingest(card, "--id", OTHER, "--archive", archive)
    assert code == EXIT_OK, document
    [said] = [w for w in document["warnings"] if "stopped before it finished" in w]
    assert "left no publish journal: a run removes its journal once every photo it" in said
    assert document["summary"]["copied"] == 0


def test_ingest_wipe_keeps_what_it_held_even_if_archived_under_another_patient(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "held on the card" is true: the card stays the copy a person checks the archive's
    (another patient's) against."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", OTHER, "--archive", archive)
    before = sorted(p.name for p in (card / "DCIM/100CANON").iterdir())
    code, document = ingest(card, "--id", PATIENT, "--archive", archive, "--wipe", "--yes")
    assert code == EXIT_HELD, document
    assert sorted(p.name for p in (card / "DCIM/100CANON").iterdir()) == before
    kept = [i for i in document["wipe"]["items"] if i["action"] == "keep"]
    assert len(kept) == 3 and document["wipe"]["summary"] == {"removed": 0, "kept": 3}
    assert all(
        k["reason"].startswith(
            f"held by the ingest: the same photo is already archived under patient {OTHER}"
        )
        for k in kept
    ), kept


def test_a_journal_that_cannot_be_started_leaves_no_ingest_running(
    card: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    assert ingest(card, "--id", PATIENT, "--archive", archive)[0] == EXIT_OK
    folder = journal_folder(archive)
    folder.rmdir()
    folder.write_bytes(b"a file where the journal folder goes")
    result = runner.invoke(
        app,
        ["ingest", str(card), "--id", OTHER, "--archive", str(archive), "--allow-other-patient"],
    )
    assert result.exit_code == EXIT_FAILURE, result.output
    folder.unlink()
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK
    assert not any("stopped" in w for w in document["warnings"]), document["warnings"]


def test_verify_says_why_a_dead_runs_copies_are_unexpected(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    result = runner.invoke(app, ["verify", "--archive", str(archive), "--json"])
    assert result.exit_code == EXIT_FAILURE
    assert json.loads(result.stdout)["summary"]["unexpected"] == 3
    said = f"ingest {the_journal(archive).stem} is running, or it stopped before it recorded"
    assert said in result.stderr
    assert json.loads(result.stdout)["warnings"][0].startswith(said)


def test_a_backup_path_edited_to_lie_outside_the_backup_folder_is_passed_over(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else the keywords sidecar of the line would be written next to any file there."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    victim = tmp_path / "elsewhere" / "victim.jpg"
    victim.parent.mkdir()
    victim.write_bytes(b"not ours")
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    forge(archive, [{"backup_path": str(victim), "diagnosis": ["melanoma"], "site": "back"}])
    code, document = ingest(card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    assert code == EXIT_OK, document
    assert any("1 line(s) of " in w for w in document["warnings"]), document["warnings"]
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.jpg"]
    assert all(
        copy is not None and Path(copy).is_relative_to(backup)
        for _, copy, _ in rows(archive).values()
    )


def test_a_name_taken_by_another_recorded_photo_is_passed_over_for_the_next(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishing took ``-2`` because the planned name held another photo: the copy is found
    there, past the name whose row is another content's."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    journal = the_journal(archive)
    planned = json.loads(journal.read_text().splitlines()[1])["archive_path"]
    taken = archive / planned
    later = taken.with_name(taken.stem + "-2" + taken.suffix)
    taken.rename(later)
    other = card.parent / "other.jpg"
    other.write_bytes(b"another photo, recorded: its row" + b"x" * 8)
    taken.write_bytes(other.read_bytes())
    with Catalogue.open(archive, create=False) as catalogue:
        [dead] = [i for i in catalogue.ingests() if i["ingest_id"] == journal.stem]
        catalogue.add([CatalogueRecord(
            patient_id=PATIENT, archive_path=planned, sha256=sha256(other), size=len(b"x" * 40),
            captured_at="2020-01-01T00:00:00", captured_raw="2020-01-01T00:00:00",
            time_source="file", source_path="DCIM/OTHER.JPG", ingest_id=dead["ingest_id"],
        )])  # fmt: skip
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK, document
    found = rows(archive)
    assert f"{PATIENT}/{later.name}" in found and len(found) == 4
    assert not any("have no catalogue row" in w for w in document["warnings"]), document["warnings"]


def test_a_photo_named_as_the_run_failed_is_recorded_by_the_next_ingest(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while the first result is being filed: that photo is named, off the queue,
    and not recorded. The journal stays (only a run that settled every result removes it),
    and the next ingest records it: nothing named stays unknown. (A Ctrl-C there waits for
    the photo's row: `test_interrupt_handover`.)"""
    from cardingest import ingest as ingest_module

    archive = tmp_path / "archive"
    real = ingest_module.write_for_copy
    filed: list[str] = []

    def failed(item: Any, published: Any, reserved: Any) -> list[str]:
        filed.append(item.source)
        if len(filed) == 1:
            raise ArchiveError("the disk went away")
        return real(item, published, reserved)

    with monkeypatch.context() as patched:
        patched.setattr(ingest_module, "write_for_copy", failed)
        result = runner.invoke(
            app, ["ingest", str(card), "--id", PATIENT, "--archive", str(archive)]
        )
    assert result.exit_code == EXIT_FAILURE, result.output
    assert "the disk went away" in result.stderr
    named = {f"{PATIENT}/{p.name}" for p in (archive / PATIENT).glob("*.jpg")}
    assert named - set(rows(archive)), "the first photo is named and not recorded"
    assert the_journal(archive).is_file()
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK, document
    assert named <= set(rows(archive)) and len(rows(archive)) == 3
    assert not list(journal_folder(archive).iterdir())


def test_what_a_dead_run_left_is_said_before_the_photos_it_explains(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: after a killed run under the wrong ID, the next ingest's "held: the same
    photo is already archived under patient …" lines came first and the warning that
    explains them (those copies were the killed run's, recorded only now) after them."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", OTHER, "--archive", archive)
    result = runner.invoke(app, ["ingest", str(card), "--id", PATIENT, "--archive", str(archive)])
    assert result.exit_code == EXIT_HELD, result.output
    text = " ".join(result.output.split())  # stdout and stderr as a terminal shows them
    recorded = text.index("without recording them; they are recorded now")
    assert recorded < text.index("held on the card:") < text.index("Ingest "), text
    assert text.count("they are recorded now") == 1


def test_move_records_a_dead_runs_copies_first_so_they_can_be_moved(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command one reaches for after a wrong map's run was killed: it finds the photos
    (not "nothing was ever archived under …") and moves them."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", OTHER, "--archive", archive)
    result = runner.invoke(
        app, ["move", "--from", OTHER, "--to", PATIENT, "--archive", str(archive), "--json"]
    )
    assert result.exit_code == EXIT_OK, result.output
    assert len(json.loads(result.stdout)["moved"]) == 3
    assert "without recording them; they are recorded now" in " ".join(result.stderr.split())
    assert {patient for patient, _, _ in rows(archive).values()} == {PATIENT}
    assert not list(journal_folder(archive).iterdir())
    code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    assert code == EXIT_OK and {i["action"] for i in document["items"]} == {"skip"}


def test_a_line_a_full_disk_cut_short_is_taken_back(tmp_path: Path) -> None:
    """A trial, seen once: on a full archive disk a line was cut short, a later one (space
    freed by then) joined it, unreadable, while its photo was named; the next run found a
    named copy with no row and no line. On a real full file system (a tmpfs of 1 MiB) the
    line that does not fit is taken back, and the next one is whole."""
    disk = tmp_path / "disk"
    disk.mkdir()
    with tmpfs_on(disk, 1):
        journal = journal_module.PublishJournal.start(disk, "20261203T000000Z-0a1b2c", [], [])

        def note(number: int) -> None:
            when = "2026-11-02T10:00:00"
            path = f"{PATIENT}/{PATIENT}-20261102-100000-{number}.jpg"
            journal.note(CatalogueRecord(PATIENT, path, "0" * 64, 1, when, when, "mtime"))

        filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        with contextlib.suppress(OSError):
            while True:
                os.write(filler, bytes(4096))
        os.close(filler)
        for number in range(1, 1000):
            try:
                note(number)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        else:
            raise AssertionError("the disk never filled")
        (disk / "filler").unlink()
        note(9999)
        journal.close()
        lines = [json.loads(line) for line in journal.path.read_text().splitlines()]
        assert lines[-1]["archive_path"].endswith("-9999.jpg")
        assert len(lines) == number + 1  # the header, the lines that fitted, the last


@pytest.mark.parametrize("where", ["another folder", "no name tried"])
def test_a_backup_path_edited_to_another_folder_or_name_form_is_passed_over(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A mutation round's find (mutants S10, S9): the line's backup copy edited to the
    planned name in a folder outside the backup, or to ``NAME-02.jpg`` (a name publishing
    never tries): each line is passed over and named, as one naming any other file is."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    line = json.loads(the_journal(archive).read_text().splitlines()[1])
    *folders, name = line["archive_path"].split("/")
    stem, _, ext = name.rpartition(".")
    edited = (
        tmp_path.joinpath("elsewhere", *folders, name)
        if where == "another folder"
        else backup.joinpath(*folders, f"{stem}-02.{ext}")
    )
    forge(archive, [{"backup_path": str(edited)}])
    code, document = ingest(card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    assert code == EXIT_OK, document
    assert any("1 line(s) of " in w for w in document["warnings"]), document["warnings"]
    for _, copy, _ in rows(archive).values():
        assert copy is not None and Path(copy).is_relative_to(backup) and "-02." not in copy


def test_a_photo_in_two_archives_is_recorded_with_its_own_backup_copy(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutation round's find (mutant S11: recovery looked from the planned name on): two
    archives sharing a backup folder hold the same card; the second's run, killed before
    its rows, had published its backup copies under `-2` beside the first's identical ones.
    Looked for from the planned name on, the first archive's copy would be taken for the
    second's, and both catalogues name one file. Each row names the archive's own copy."""
    backup, first, second = tmp_path / "backup", tmp_path / "first", tmp_path / "second"
    code, document = ingest(card, "--id", PATIENT, "--archive", first, "--backup", backup)
    assert code == EXIT_OK, document
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", second, "--backup", backup)
    code, document = ingest(card, "--id", PATIENT, "--archive", second, "--backup", backup)
    assert code == EXIT_OK, document
    theirs = {copy for _, copy, _ in rows(first).values()}
    found = rows(second)
    assert len(found) == 3, found
    for target, (_patient, copy, problem) in found.items():
        assert copy == str(backup / target.replace(".jpg", "-2.jpg")), (target, copy)
        assert copy not in theirs and problem is None


def test_a_dead_run_with_no_journal_on_sqlite_is_never_said_to_have_copied_none(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutation round's find (mutant P2): SQLite keeps no content claims, so a dead run
    with no journal and no row (a cardingest older than the journal, killed before its
    rows) may have left copies the catalogue does not know. The warning stays; "it copied
    none" is said only where PostgreSQL's claims prove it."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    the_journal(archive).unlink()
    assert rows(archive) == {}
    _code, document = ingest(card, "--id", PATIENT, "--archive", archive)
    [said] = [w for w in document["warnings"] if "stopped before it finished" in w]
    assert "left no publish journal" in said and "copied none" not in said, said
