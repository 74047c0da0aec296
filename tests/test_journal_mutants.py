"""A mutation round on `archive.journal` (docs/testing.md, "A mutation round on
archive/journal"): each test here failed on a mutant the other tests let through.

Dead runs are made as in `test_journal.py` (the catalogue's ``add`` raises a `Killed`);
`journal.recover` and the other functions are then called on the real archive on disk."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from test_journal import OTHER, PATIENT, card, dead_run, forge, ingest, rows, the_journal

from cardingest.archive import journal as journal_module
from cardingest.archive.catalogue import Catalogue, CatalogueRecord
from cardingest.archive.journal import journal_folder
from cardingest.errors import EXIT_OK, ArchiveError

__all__ = ["card"]  # the fixture, used by name


def recover(archive: Path) -> tuple[list[journal_module.Recovered], list[str], list[tuple]]:
    """`journal.recover` on ``archive``'s catalogue: what it did, its warnings, the
    ``audited`` calls."""
    told: list[tuple] = []
    with Catalogue.open(archive, create=False) as catalogue:
        done, warnings = journal_module.recover(
            catalogue, archive, lambda ingest_id, paths: told.append((ingest_id, paths))
        )
    return done, warnings, told


def lines_of(journal: Path) -> tuple[dict, list[dict]]:
    header, *lines = [json.loads(line) for line in journal.read_text().splitlines()]
    return header, lines


def with_suffix_number(relpath: str, number: int) -> str:
    stem, _, ext = relpath.rpartition(".")
    return f"{stem}-{number}.{ext}"


@pytest.mark.samples
def test_a_backup_copy_published_under_a_later_name_is_recorded_there(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_backed_up` (mutants: its guard's ``backup is not None``, ``backup_path`` not
    replaced, no backup passed): the journal names the planned backup copy; publishing
    took ``-2`` there (the name was taken meanwhile). The row names the copy at ``-2``,
    never the stranger's file at the planned name."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    _, lines = lines_of(the_journal(archive))
    planned = Path(lines[0]["backup_path"])
    later = planned.with_name(planned.stem + "-2" + planned.suffix)
    planned.rename(later)
    planned.write_bytes(b"a stranger's file, where the copy was planned")
    code, document = ingest(card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    assert code == EXIT_OK, document
    found = rows(archive)
    assert found[lines[0]["archive_path"]] == (PATIENT, str(later), None)
    assert all(copy != str(planned) for _, copy, _ in found.values())


@pytest.mark.samples
def test_a_backup_copy_never_named_is_marked_missing_by_the_recovery(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mark itself (`_backed_up`'s ``CopyState("missing")`` and ``"backup"``, and
    ``set_problems`` given the marks), before any plan repairs it; and the ``recover``
    audit call names the dead run's ingest (mutant: ``audited(None, …)``)."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    journal = the_journal(archive)
    _, lines = lines_of(journal)
    gone = Path(lines[0]["backup_path"])
    gone.unlink()
    done, warnings, told = recover(archive)
    assert warnings == []
    [recovered] = done
    assert recovered.ingest_id == journal.stem and recovered.path == journal
    assert sorted(r.archive_path for r in recovered.recorded) == sorted(
        line["archive_path"] for line in lines
    )
    assert told == [(journal.stem, [r.archive_path for r in recovered.recorded])]
    found = rows(archive)
    assert found[lines[0]["archive_path"]] == (
        PATIENT, str(gone), f"backup copy {gone.name} is missing"
    )  # fmt: skip
    assert [problem for _, _, problem in found.values()].count(None) == 2


@pytest.mark.samples
def test_one_file_answers_one_line_and_the_next_name_is_looked_at(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_copy_named` and `_recover_one` (mutants: a taken name ends the search; the found
    name and backup name not kept as taken): two lines of one photo (the same content
    planned under one name, as two identical files on a card would be) each publish a
    copy, the second under ``-2`` in the archive and the backup. Each line gets its own
    copy: two rows, never two rows of one file."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive, "--backup", backup)
    journal = the_journal(archive)
    header, lines = lines_of(journal)
    first = lines[0]
    second_path = with_suffix_number(first["archive_path"], 2)
    second_backup = with_suffix_number(first["backup_path"], 2)
    (archive / second_path).write_bytes((archive / first["archive_path"]).read_bytes())
    Path(second_backup).write_bytes(Path(first["backup_path"]).read_bytes())
    journal.write_text("\n".join(json.dumps(x) for x in [header, *lines, first]) + "\n")
    done, warnings, _ = recover(archive)
    assert warnings == [] and done[0].problems == () and done[0].unknown == ()
    found = rows(archive)
    assert len(found) == 4
    assert found[first["archive_path"]] == (PATIENT, first["backup_path"], None)
    assert found[second_path] == (PATIENT, second_backup, None)


@pytest.mark.samples
def test_a_line_whose_copy_is_gone_does_not_stop_the_lines_after_it(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_recover_one` (mutant: ``continue`` → ``break`` for a line found nowhere or
    recorded): the first line's photo was never named (the kill came first); the two after
    it are recorded. `all_recorded` (mutant: ``found is None`` says "not recorded") says
    yes once they are, the missing one asking nothing."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    journal = the_journal(archive)
    kept = tmp_path / "kept.jsonl"
    kept.write_bytes(journal.read_bytes())
    _, lines = lines_of(journal)
    (archive / lines[0]["archive_path"]).unlink()
    done, _, _ = recover(archive)
    assert sorted(r.archive_path for r in done[0].recorded) == sorted(
        line["archive_path"] for line in lines[1:]
    )
    with Catalogue.open(archive, create=False) as catalogue:
        assert journal_module.all_recorded(catalogue, archive, kept, None)
        assert journal_module.recover(catalogue, archive, lambda *a: None)[0][0].recorded == ()


@pytest.mark.samples
def test_a_journal_all_recorded_cannot_read_is_never_all_recorded(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`all_recorded` (mutant: a journal that is no journal counted as all recorded, so a
    Ctrl-C'd run would remove it): a folder, and a link to the real journal."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    journal = the_journal(archive)
    folder, link = tmp_path / "folder.jsonl", tmp_path / "link.jsonl"
    folder.mkdir()
    link.symlink_to(journal)
    assert ingest(card, "--id", PATIENT, "--archive", archive)[0] == EXIT_OK
    with Catalogue.open(archive, create=False) as catalogue:
        assert journal_module.all_recorded(catalogue, archive, journal.parent, None) is False
        assert not journal_module.all_recorded(catalogue, archive, folder, None)
        assert not journal_module.all_recorded(catalogue, archive, link, None)


def no_journal_warning(odd: Path, why: str) -> str:
    return (
        f"{odd} is not a publish journal this cardingest can read ({why}): nothing in it was "
        "recorded. Move it out of that folder once you have looked at it"
    )


@pytest.mark.samples
def test_why_a_file_is_no_journal_is_said_in_full(card: Path, tmp_path: Path) -> None:
    """`_lines` and `_header`'s reasons (mutants: each reason's text, ``None``, ``strerror
    and str(exc)``; the header's ``and`` → ``or``, which took a header whose folders are
    not a list and then failed on them), and `recover`'s warning in full."""
    archive = tmp_path / "archive"
    assert ingest(card, "--id", PATIENT, "--archive", archive)[0] == EXIT_OK
    folder = journal_folder(archive)
    odd = {
        "not a regular file": folder / "20261201T000000Z-000001.jsonl",
        "Too many levels of symbolic links": folder / "20261201T000000Z-000002.jsonl",
        "its first line is not a publish journal's": folder / "20261201T000000Z-000003.jsonl",
        f"a line longer than {1 << 20} bytes": folder / "20261201T000000Z-000004.jsonl",
    }
    odd["not a regular file"].mkdir()
    odd["Too many levels of symbolic links"].symlink_to(tmp_path)
    header = {"journal": 1, "ingest_id": "x", "folders": 5, "reserved": []}
    odd["its first line is not a publish journal's"].write_text(json.dumps(header) + "\n")
    header = {"journal": 1, "ingest_id": "x", "folders": [], "reserved": []}
    odd[f"a line longer than {1 << 20} bytes"].write_bytes(
        json.dumps(header).encode() + b"\n" + b"x" * (1 << 20) + b"\n"
    )
    done, warnings, _ = recover(archive)
    assert done == []
    assert warnings == [no_journal_warning(path, why) for why, path in odd.items()]


@pytest.mark.samples
def test_a_line_of_exactly_the_longest_length_is_one_line(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_lines`' bound (mutants: ``>=``, ``readline(_LONGEST - 1)``): a line of 1 MiB
    with its newline is read as one line (passed over as no row), not as no journal or as
    two lines; the text of the count said in full."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    journal = the_journal(archive)
    journal.write_bytes(journal.read_bytes() + b" " * ((1 << 20) - 1) + b"\n")
    done, warnings, _ = recover(archive)
    assert warnings == [] and len(done[0].recorded) == 3
    assert done[0].problems == (
        f"1 line(s) of {journal} are not rows of its ingest (a line a kill cut short, or an "
        "edit) and were passed over",
    )


@pytest.mark.samples
def test_a_whole_header_of_an_ingest_never_begun_is_returned_as_named_nothing(
    card: Path, tmp_path: Path
) -> None:
    """`_recover_one`'s second branch (mutants: the next line read with no default, its
    ingest ID, path or records not given): a run killed after its header and before its
    ingest's record, so the catalogue does not know the ingest, named nothing."""
    archive = tmp_path / "archive"
    assert ingest(card, "--id", PATIENT, "--archive", archive)[0] == EXIT_OK
    header = {"journal": 1, "ingest_id": "20261201T000000Z-abcdef", "folders": [], "reserved": []}
    begun = journal_folder(archive) / "someone-elses-name.jsonl"
    begun.write_text(json.dumps(header) + "\n")
    done, warnings, told = recover(archive)
    assert warnings == [] and told == []
    assert done == [journal_module.Recovered("20261201T000000Z-abcdef", begun, ())]


@pytest.mark.samples
def test_a_journal_cut_in_its_header_is_returned_as_named_nothing(
    card: Path, tmp_path: Path
) -> None:
    """`_recover_one`'s first branch (mutants: its ingest ID ``None`` or another suffix
    taken off, its path or records not given): the file's own ingest, its path, no rows."""
    archive = tmp_path / "archive"
    assert ingest(card, "--id", PATIENT, "--archive", archive)[0] == EXIT_OK
    cut = journal_folder(archive) / "20261201T000000Z-abcdef.jsonl"
    cut.write_bytes(b'{"journal":1,"ingest_id":"2026')
    done, warnings, told = recover(archive)
    assert warnings == [] and told == []
    assert done == [journal_module.Recovered("20261201T000000Z-abcdef", cut, ())]


@pytest.mark.samples
def test_a_line_with_a_wrong_kind_of_value_is_passed_over(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_row` (mutants: ``and`` for ``or`` in the kind check, which took a number for
    ``site`` or ``null`` for a patient; ``and size < 0``, which took a negative size): each
    line is passed over and counted, none is recorded."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    journal = forge(archive, [{"site": 5}, {"patient_id": None}, {"size": -1}])
    done, _, _ = recover(archive)
    assert done[0].recorded == ()
    assert done[0].problems[0].startswith(f"3 line(s) of {journal} are not rows of its ingest")


@pytest.mark.samples
def test_the_keywords_sidecars_a_dead_run_did_not_write_are_written_by_the_recovery(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_sidecars` (mutants: photos with keywords passed over, nothing written, no copies
    given, the backup copy left out, the archive root or reserved names not given): the
    dead run's keywords sidecars are gone; the recovery writes them beside each photo, in
    the archive and the backup, with the diagnosis in them."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    names = sorted(p.stem for p in card.rglob("*.JPG"))
    map_file = tmp_path / "map.csv"
    map_file.write_text(
        "files,id,diagnosis\n" + "".join(f"{n},{PATIENT},melanoma\n" for n in names)
    )
    dead_run(monkeypatch, card, "--map", map_file, "--archive", archive, "--backup", backup)
    for sidecar in [*archive.rglob("*.xmp"), *backup.rglob("*.xmp")]:
        sidecar.unlink()
    done, warnings, _ = recover(archive)
    assert warnings == [] and done[0].problems == () and len(done[0].recorded) == 3
    for record in done[0].recorded:
        assert record.diagnosis == ("melanoma",)
        for copy in (archive / record.archive_path, Path(str(record.backup_path))):
            sidecar = copy.with_suffix(".xmp")
            assert "melanoma" in sidecar.read_text(), sidecar


@pytest.mark.samples
def test_the_pending_warning_is_said_in_full(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pending_warnings` (mutants: its text in other case or altered)."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", OTHER, "--archive", archive)
    assert journal_module.pending_warnings(archive) == [
        f"ingest {the_journal(archive).stem} is running, or it stopped before it recorded "
        "the photos it had copied: if it stopped, the next ingest that has the archive to "
        "itself records them, before it plans, under the IDs it gave them; until then the "
        "catalogue does not know them (and a plan shown now may hold them then)"
    ]


def test_a_line_that_cannot_be_written_says_so_in_full_and_removal_is_idempotent(
    tmp_path: Path,
) -> None:
    """`note`'s message (mutants: its text altered) and `remove` (mutant: a journal already
    gone raises): a journal closed (the run failed) takes no line and says why."""
    journal = journal_module.PublishJournal.start(tmp_path, "20261203T000000Z-0a1b2c", [], [])
    journal.close()
    when = "2026-11-02T10:00:00"
    record = CatalogueRecord(PATIENT, f"{PATIENT}/a.jpg", "0" * 64, 1, when, when, "mtime")
    with pytest.raises(OSError) as raised:
        journal.note(record)
    assert raised.value.errno == errno.ESHUTDOWN and raised.value.strerror == (
        f"the ingest has ended writing the publish journal {journal.path}: the verified copy "
        "was not named (nothing was left half-written), after"
    )
    journal.remove()
    journal.remove()
    assert not journal.path.exists()


def test_unlisted_names_root_files_by_name_passes_over_xmp_and_links(tmp_path: Path) -> None:
    """`unlisted` (mutants: a folder through a link ends the look, ``/name`` for a file at
    the root, ``.XMP`` never matched): files with no row in each folder named, keywords
    sidecars passed over, a folder through a link not looked into but not the end."""
    archive, outside = tmp_path / "archive", tmp_path / "outside"
    outside.mkdir()
    (outside / "theirs.jpg").write_bytes(b"outside")
    with Catalogue.open(archive, create=True) as catalogue:
        (archive / "AAA").symlink_to(outside)
        (archive / PATIENT).mkdir()
        (archive / PATIENT / "stray.jpg").write_bytes(b"no row")
        (archive / PATIENT / "stray.xmp").write_bytes(b"keywords")
        (archive / "root.jpg").write_bytes(b"no row")
        found = journal_module.unlisted(catalogue, archive, ["AAA", PATIENT, ""])
    assert found == ["root.jpg", f"{PATIENT}/stray.jpg"]


@pytest.mark.samples
def test_a_patient_folder_swapped_for_a_link_is_not_followed_by_the_recovery(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_copy_named` (mutant: the copy checked with no ``root``): after a dead run, the
    patient's folder in the archive is moved out and a link to it put in its place. The
    copies are now outside the archive, however right their bytes: the recovery records
    none of them (a catalogue row would vouch for a file the archive does not hold)."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    journal = the_journal(archive)
    _, lines = lines_of(journal)
    folder = archive / PATIENT
    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere, target_is_directory=True)
    assert all((archive / line["archive_path"]).is_file() for line in lines)  # through the link
    done, _, _ = recover(archive)
    assert [r.archive_path for d in done for r in d.recorded] == []
    assert rows(archive) == {}


def test_an_empty_file_is_removed_only_where_a_kill_could_have_left_it(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_placeholder_removed` (mutants: the link check, or the empty-file check, answering
    "removed" without removing): only an empty file under a journaled name, reached through
    no link, is a kill's placeholder. A copy changed since (bytes, not empty) stays and is
    named as a file with no row; so does an empty file under a name no line names; and an
    empty file through a patient folder swapped for a link is neither removed nor said to
    be."""
    archive = tmp_path / "archive"
    dead_run(monkeypatch, card, "--id", PATIENT, "--archive", archive)
    first, second, third = sorted((archive / PATIENT).glob("*.jpg"))
    first.write_bytes(b"not the photo any more")
    os.truncate(second, 0)
    stray = archive / PATIENT / "JBX3656-19990101-000000.jpg"
    stray.touch()
    folder, elsewhere = archive / PATIENT, tmp_path / "elsewhere"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere, target_is_directory=True)
    done, _, _ = recover(archive)
    assert not any("without hard links" in p for d in done for p in d.problems), done
    assert (elsewhere / second.name).stat().st_size == 0

    folder.unlink()
    elsewhere.rename(folder)
    done, _, _ = recover(archive)
    [said] = [p for d in done for p in d.problems if "without hard links" in p]
    assert f"removed {second}" in said and str(first) not in said and str(stray) not in said
    assert not second.exists() and stray.exists()
    assert first.read_bytes() == b"not the photo any more"
    assert [r.archive_path for d in done for r in d.recorded] == [f"{PATIENT}/{third.name}"]
    unknown = {f"{PATIENT}/{first.name}", f"{PATIENT}/{stray.name}"}
    assert {u for d in done for u in d.unknown} == unknown


def test_a_journal_folder_that_is_a_link_is_neither_read_nor_written(tmp_path: Path) -> None:
    """`recover` and `PublishJournal.start` (mutants: the link check left out, its message
    garbled): a journal folder swapped for a link to another place, such as anyone who may
    write the archive could make, is not read from (a forged journal there would name
    rows) nor written to (the rows-to-be would go where it leads), and each says so."""
    archive, elsewhere = tmp_path / "archive", tmp_path / "elsewhere"
    (archive / ".cardingest").mkdir(parents=True)
    elsewhere.mkdir()
    folder = journal_folder(archive)
    folder.symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "20261201T000000Z-abcdef.jsonl").write_text("{}\n")
    with Catalogue.open(archive, create=True) as catalogue:
        done, warnings = journal_module.recover(catalogue, archive, lambda *a: None)
    assert done == []
    assert warnings == [f"{folder} is a symbolic link: no publish journal there is read"]
    with pytest.raises(ArchiveError) as raised:
        journal_module.PublishJournal.start(archive, "20261201T000001Z-abcdef", [PATIENT], [])
    path = folder / "20261201T000001Z-abcdef.jsonl"
    assert str(raised.value) == f"Cannot write {path}: {folder} is a symbolic link"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["20261201T000000Z-abcdef.jsonl"]


def test_a_journal_that_cannot_be_made_says_why(tmp_path: Path) -> None:
    """`PublishJournal.start` (mutants: the reason left out or garbled): a journal the disk
    refuses (its folder a file here) is an error naming the journal and why."""
    archive = tmp_path / "archive"
    (archive / ".cardingest").mkdir(parents=True)
    journal_folder(archive).write_text("not a folder")
    with pytest.raises(ArchiveError) as raised:
        journal_module.PublishJournal.start(archive, "20261201T000001Z-abcdef", [PATIENT], [])
    path = journal_folder(archive) / "20261201T000001Z-abcdef.jsonl"
    assert str(raised.value) == f"Cannot write {path}: File exists"
