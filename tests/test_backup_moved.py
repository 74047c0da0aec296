"""`cardingest catalogue backup-moved OLD NEW`: a backup drive mounted at another folder is
pointed at once every copy there is read back, all or nothing; the wipe and verify say how.

The real command, real folders, real camera photos; the PostgreSQL case on a real server.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from badinput_helpers import cardingest, dated_card
from pg_helpers import Desk, card_files, json_out, write_folder

ID = "JBX3656"


def ingested(tmp_path: Path, count: int = 3) -> tuple[Path, Path, Path, Path]:
    """A card ingested with a backup in ``b1``: (card, home, archive, backup)."""
    card = dated_card(tmp_path / "card", count)
    home, archive, backup = tmp_path / "home", tmp_path / "archive", tmp_path / "b1"
    run = cardingest("ingest", card, "--id", ID, "--archive", archive, "--backup", backup,
                     home=home)  # fmt: skip
    assert run.code == 0, run.stderr
    return card, home, archive, backup


def backup_paths(archive: Path) -> list[str]:
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as db:
        return [row[0] for row in db.execute("SELECT backup_path FROM files ORDER BY id")]


def test_a_backup_moved_to_another_folder_is_pointed_at_and_the_card_can_be_cleared(
    tmp_path: Path,
) -> None:
    card, home, archive, old = ingested(tmp_path)
    new = old.rename(tmp_path / "b2")
    kept = cardingest("wipe", card, "--archive", archive, "--backup", new, "--yes", "--json",
                      home=home)  # fmt: skip
    assert kept.code == 3 and kept.json()["summary"] == {"removed": 0, "kept": 3}
    why = kept.json()["items"][0]["reason"]
    assert f"backup-moved {old} {new}" in why and "is not there" in why, why
    checked = cardingest("verify", "--archive", archive, "--json", home=home)
    assert checked.code == 1 and checked.json()["summary"]["missing"] == 3
    assert f"backup-moved {old} NEW_FOLDER" in checked.json()["warnings"][0]

    moved = cardingest("catalogue", "backup-moved", old, new, "--archive", archive, "--json",
                       home=home)  # fmt: skip
    assert moved.code == 0, moved.stderr
    document = moved.json()
    assert document["moved"] and document["photos"] == 3 and document["mismatches"] == []
    assert document["ingests"] == 1 and document["bytes"] == sum(
        p.stat().st_size for p in (card / "DCIM" / "100CANON").iterdir()
    )
    assert all(path.startswith(f"{new}/{ID}/") for path in backup_paths(archive))
    log = [json.loads(line) for line in (archive / ".cardingest/audit.jsonl").read_text().split(
        "\n") if line]  # fmt: skip
    assert log[-1]["event"] == "backup-moved" and log[-1]["old"] == str(old), log[-1]
    assert cardingest("audit", "--archive", archive, home=home).code == 0
    assert cardingest("verify", "--archive", archive, home=home).code == 0
    wiped = cardingest("wipe", card, "--archive", archive, "--backup", new, "--yes", "--json",
                       home=home)  # fmt: skip
    assert wiped.code == 0 and wiped.json()["summary"] == {"removed": 3, "kept": 0}


def test_a_copy_missing_or_damaged_at_the_new_place_changes_nothing(tmp_path: Path) -> None:
    card, home, archive, old = ingested(tmp_path)
    new = tmp_path / "b2"
    old.rename(new)
    copies = sorted((new / ID).glob("*.jpg"))
    copies[0].unlink()
    copies[1].write_bytes(copies[1].read_bytes()[:-1] + b"\x00")
    before = backup_paths(archive)
    run = cardingest("catalogue", "backup-moved", old, new, "--archive", archive, home=home)
    assert run.code == 1, run.stderr
    assert "Not changed: 2 of the 3 backup copies" in run.text
    assert f"{copies[0]}: missing" in run.text and f"{copies[1]}: changed" in run.text
    assert backup_paths(archive) == before
    events = (archive / ".cardingest/audit.jsonl").read_text()
    assert "backup-moved" not in events
    kept = cardingest("wipe", card, "--archive", archive, "--backup", new, "--yes", "--json",
                      home=home)  # fmt: skip
    assert kept.code == 3 and kept.json()["summary"]["removed"] == 0


def test_a_hard_link_to_the_archive_copy_is_no_backup_copy(tmp_path: Path) -> None:
    _card, home, archive, old = ingested(tmp_path, 1)
    new = old.rename(tmp_path / "b2")
    (copy,) = (new / ID).glob("*.jpg")
    copy.unlink()
    copy.hardlink_to(archive / ID / copy.name)
    run = cardingest("catalogue", "backup-moved", old, new, "--archive", archive, home=home)
    assert run.code == 1 and "the archive copy itself" in run.text, run.text


def test_a_backup_note_on_a_copy_is_cleared_once_it_is_read_whole_at_the_new_place(
    tmp_path: Path,
) -> None:
    """A copy the last wipe found damaged, mended by hand and then moved with its disk: the
    next ingest would repair it for nothing, and a run without --backup would hold it."""
    card, home, archive, old = ingested(tmp_path, 2)
    copy = sorted((old / ID).glob("*.jpg"))[0]
    good = copy.read_bytes()
    copy.write_bytes(b"x" + good[1:])
    run = cardingest("wipe", card, "--archive", archive, "--backup", old, "--dry-run", home=home)
    assert run.code == 3
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as db:
        assert db.execute("SELECT count(*) FROM files WHERE problem IS NOT NULL").fetchone() == (1,)
    copy.write_bytes(good)
    new = old.rename(tmp_path / "b2")
    moved = cardingest("catalogue", "backup-moved", old, new, "--archive", archive, home=home)
    assert moved.code == 0, moved.text + moved.stderr
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as db:
        assert db.execute("SELECT count(*) FROM files WHERE problem IS NOT NULL").fetchone() == (0,)
    plan = cardingest("preview", card, "--id", ID, "--archive", archive, "--json", home=home)
    assert {item["action"] for item in plan.json()["items"]} == {"skip"}, plan.text


def test_wrong_folders_are_refused_with_what_to_give(tmp_path: Path) -> None:
    _card, home, archive, old = ingested(tmp_path, 1)
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")

    def refused(old_arg: Path, new_arg: Path) -> str:
        run = cardingest("catalogue", "backup-moved", old_arg, new_arg, "--archive", archive,
                         home=home)  # fmt: skip
        assert run.code == 2, (run.code, run.stderr)
        return " ".join(run.stderr.split())

    assert f"The catalogue's backup folders: {old} (1 copy)" in refused(
        tmp_path / "x", tmp_path / "empty"
    )
    assert "is not there" in refused(old, tmp_path / "nowhere")
    assert "is not a folder" in refused(old, tmp_path / "file")
    assert "the same" in refused(old, old)
    (tmp_path / "link").symlink_to(old)  # a trial: taken, and the catalogue named the link
    assert f"is the old one, {old}, by another path" in refused(old, tmp_path / "link")
    assert "is the archive" in refused(old, archive / ID)
    assert "is the archive" in refused(old, tmp_path)
    assert f"The backup copy recorded in {old} is not in" in refused(old, tmp_path / "empty")
    assert all(path.startswith(f"{old}/") for path in backup_paths(archive))


def test_a_backup_moved_is_pointed_at_in_postgresql_too(tmp_path: Path, pg_url: str) -> None:
    archive, old = tmp_path / "archive", tmp_path / "b1"
    card = write_folder(tmp_path / "card", card_files(2, start=datetime(2026, 11, 7, 9), seed=5))
    desk = Desk.make(tmp_path / "desk", "nurse", pg_url, archive)
    done = json_out(desk.run("ingest", card, "--id", ID, "--backup", old, "--json"))
    assert done["summary"]["copied"] == 2
    new = old.rename(tmp_path / "b2")
    moved = json_out(desk.run("catalogue", "backup-moved", old, new, "--json"))
    assert moved["moved"] and moved["photos"] == 2 and moved["ingests"] == 1, moved
    assert json_out(desk.run("verify", "--json"))["ok"]
    wipe = json_out(desk.run("wipe", card, "--backup", new, "--yes", "--json"))
    assert wipe["summary"] == {"removed": 2, "kept": 0}


def test_run_again_it_says_so_and_a_wrong_new_folder_is_left_as_it_was(tmp_path: Path) -> None:
    """A trial: a refused run left a `.cardingest` folder (its lock's) in the wrong NEW,
    inside the archive too, which verify then reported; NEW given as the archive itself
    tripped over its own lock (exit 1); a second run said "no backup copy is recorded"."""
    _card, home, archive, old = ingested(tmp_path, 1)
    empty = tmp_path / "empty"
    empty.mkdir()
    for wrong in (empty, archive, archive / ID):
        run = cardingest("catalogue", "backup-moved", old, wrong, "--archive", archive, home=home)
        assert run.code == 2, run.stderr
        assert not (wrong / ".cardingest").exists() or wrong == archive
    assert list(empty.iterdir()) == []
    assert cardingest("verify", "--archive", archive, home=home).code == 0
    new = old.rename(tmp_path / "b2")
    args = ("catalogue", "backup-moved", old, new, "--archive", archive)
    assert cardingest(*args, home=home).code == 0
    again = cardingest(*args, "--json", home=home)
    assert again.code == 0 and again.json()["already"] == 1 and again.json()["moved"]
    said = cardingest(*args, home=home)
    assert "already, and none in" in " ".join(said.text.split())


def test_not_while_a_stopped_move_still_names_the_old_folder(tmp_path: Path) -> None:
    """A trial: pointed at NEW while an interrupted move's journal named the old backup
    paths, every later move and tag failed for good ("… is gone …")."""
    _card, home, archive, old = ingested(tmp_path, 1)
    journal = archive / ".cardingest" / "move-journal.json"
    journal.write_text("{}")  # any journal: the command looks no further
    new = old.rename(tmp_path / "b2")
    run = cardingest("catalogue", "backup-moved", old, new, "--archive", archive, home=home)
    assert run.code == 2 and "An interrupted move is waiting" in run.stderr, run.stderr
    assert all(path.startswith(f"{old}/") for path in backup_paths(archive))


@pytest.mark.parametrize("as_json", [False, True])
def test_the_config_naming_the_old_folder_is_said(tmp_path: Path, as_json: bool) -> None:
    _card, home, archive, old = ingested(tmp_path, 1)
    config = home / ".config" / "cardingest" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'archive = "{archive}"\nbackup = "{old}"\n')
    new = old.rename(tmp_path / "b2")
    run = cardingest("catalogue", "backup-moved", old, new, *(["--json"] * as_json), home=home)
    assert run.code == 0 and (run.json()["config_names_old"] if as_json else True)
    assert f"the config still sets backup = {old}" in " ".join(run.stderr.split()), run.stderr


def test_a_ctrl_c_as_the_catalogue_changes_waits_for_its_audit_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial: a double Ctrl-C could change the catalogue with no `backup-moved` event."""
    import os
    import signal

    from clinic_helpers import invoke

    from cardingest.archive.catalogue import Catalogue

    _card, _home, archive, old = ingested(tmp_path, 2)
    new = old.rename(tmp_path / "b2")
    real = Catalogue.move_backup

    def interrupted(self: Catalogue, *args: object) -> int:
        done = real(self, *args)  # type: ignore[arg-type]
        os.kill(os.getpid(), signal.SIGINT)
        return done

    monkeypatch.setattr(Catalogue, "move_backup", interrupted)
    code, _out, _err = invoke("catalogue", "backup-moved", old, new, "--archive", archive)
    assert code == 130
    assert all(path.startswith(f"{new}/") for path in backup_paths(archive))
    log = (archive / ".cardingest" / "audit.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["event"] == "backup-moved"


def test_an_audit_log_that_cannot_take_the_event_changes_nothing(tmp_path: Path) -> None:
    """The review: the catalogue was changed first, and a log that refused the event (a torn
    last line, here) left the change unrecorded."""
    _card, home, archive, old = ingested(tmp_path, 1)
    with (archive / ".cardingest" / "audit.jsonl").open("ab") as log:
        log.write(b'{"event": "torn')
    new = old.rename(tmp_path / "b2")
    run = cardingest("catalogue", "backup-moved", old, new, "--archive", archive, home=home)
    assert run.code == 1 and "audit" in run.stderr.lower(), run.stderr
    assert all(path.startswith(f"{old}/") for path in backup_paths(archive))


def test_a_wipe_given_another_backup_than_the_copies_are_in_says_where_they_are(
    tmp_path: Path,
) -> None:
    """A trial: ingested with --backup b1, wiped with --backup b2 (an empty new folder):
    exit 0, the card cleared, no warning, the photos' only second copies in b1, which an
    operator trusting b2 might reformat. The wipe says where they are."""
    card, home, archive, old = ingested(tmp_path)
    new = tmp_path / "b2"
    new.mkdir()
    wiped = cardingest("wipe", card, "--archive", archive, "--backup", new, "--yes", "--json",
                       home=home)  # fmt: skip
    assert wiped.code == 0, wiped.stderr
    assert wiped.json()["summary"] == {"removed": 3, "kept": 0}
    (warning,) = wiped.json()["warnings"]
    assert warning.startswith(f"3 photo(s) on the card have their backup copies in {old}, ")
    assert f"backup-moved {old} {new}" in warning
    assert "have their backup copies in" in " ".join(wiped.stderr.split())


def test_a_backup_folder_that_is_an_archive_is_refused(tmp_path: Path) -> None:
    """A trial: `--backup` naming another archive was taken, exit 0: that archive's next
    ingests then refused ("does not know 1 of the ingests whose manifests the archive
    holds") and its verify called the copies strays. It is refused before anything is
    copied, in the preview too; a backup folder two archives share is not an archive."""
    _card, home, archive, _backup = ingested(tmp_path)
    before = sorted(p.name for p in archive.rglob("*") if p.is_file())
    other_card = dated_card(tmp_path / "card2", 2)
    other = tmp_path / "archive2"
    for command in ("preview", "ingest"):
        into_archive = cardingest(command, other_card, "--id", ID, "--archive", other,
                                  "--backup", archive, home=home)  # fmt: skip
        assert into_archive.code == 2, into_archive.stderr
        assert f"The backup folder {archive} is an archive" in " ".join(into_archive.stderr.split())
    assert not other.exists()
    assert sorted(p.name for p in archive.rglob("*") if p.is_file()) == before


def test_another_archive_holding_the_same_photos_is_no_new_backup_folder(tmp_path: Path) -> None:
    """A trial: NEW naming another archive into which the same card was ingested was taken
    (exit 0, every copy matched); `verify --fix-manifests`, which verify then advised, wrote
    this archive's backup manifest into that archive's metadata, and its ingests refused
    ("unknown ingest(s)"). It is refused, and nothing is written in either archive."""
    card, home, archive, old = ingested(tmp_path, 2)
    other = tmp_path / "archive2"
    assert cardingest("ingest", card, "--id", ID, "--archive", other, home=home).code == 0
    old.rename(tmp_path / "b-moved")
    before = backup_paths(archive)
    files = sorted(str(p) for p in other.rglob("*"))
    run = cardingest("catalogue", "backup-moved", old, other, "--archive", archive, home=home)
    assert run.code == 2, (run.code, run.stderr)
    assert f"The new backup folder {other} is an archive" in " ".join(run.stderr.split())
    assert backup_paths(archive) == before
    assert sorted(str(p) for p in other.rglob("*")) == files
