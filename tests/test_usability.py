"""Issue 12, "usability found on the way": blank map rows, the interactive assignment, a
pulled card, the FAT label of a fusefat mount, the order of the last lines, --yes alone."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pexpect
import pytest
import typer
from badinput_helpers import CARDINGEST, NO_OVERRIDE, cardingest, photos, three_photo_card
from cardimage import (
    CardFactory,
    MountedCard,
    build_fat32_image,
    require,
    require_samples,
    samples_real,
)
from exif_bytes import exif_jpeg
from factories import media
from rich.console import Console
from terminal import on_terminal
from typer.testing import CliRunner

from cardingest.card.detect import find_cards
from cardingest.cli import app as cli_app
from cardingest.cli import output
from cardingest.cli.common import handles_errors, run_prepare
from cardingest.cli.config import load_settings
from cardingest.ingest import execute
from cardingest.plan.assign import ask_ids, build_idmap, make_groups
from cardingest.plan.planner import make_plan

GAP = timedelta(minutes=5)


@pytest.fixture
def card(tmp_path: Path) -> Path:
    require_samples()
    return three_photo_card(tmp_path / "card")


def dated_photos(folder: Path, *times: str) -> Path:
    """``folder`` (made), with a tiny JPEG IMG_0001.JPG, IMG_0002.JPG… taken at each EXIF
    capture time (``YYYY:MM:DD HH:MM:SS``)."""
    folder.mkdir(parents=True)
    for n, when in enumerate(times, start=1):
        (folder / f"IMG_{n:04d}.JPG").write_bytes(exif_jpeg(when))
    return folder


def mapped_card(tmp_path: Path, files: str, *times: str) -> tuple[Path, list[str]]:
    """A card of `dated_photos` in DCIM/100CANON, an ID map ``map.csv`` giving ``files`` to
    JBX3656, and the arguments of a command on both into the archive ``a``: (the photos'
    folder, the arguments)."""
    folder = dated_photos(tmp_path / "card" / "DCIM" / "100CANON", *times)
    idmap = tmp_path / "map.csv"
    idmap.write_text(f"files,id\n{files},JBX3656\n", encoding="utf-8")
    return folder, [str(tmp_path / "card"), "--map", str(idmap), "--archive", str(tmp_path / "a")]


def test_a_map_row_with_an_empty_id_leaves_its_photos_on_the_card(
    card: Path, tmp_path: Path
) -> None:
    home, archive = tmp_path / "home", tmp_path / "archive"
    map_file = tmp_path / "map.csv"
    map_file.write_text("files,id,diagnosis\nIMG_0001,JBX3656,\nIMG_0002-IMG_0003,,\n")
    run = cardingest("preview", card, "--map", map_file, "--archive", archive, "--json", home=home)
    assert run.code == 3, run.stderr
    items = {i["source"].rpartition("/")[2]: i for i in run.json()["items"]}
    assert items["IMG_0001.JPG"]["action"] == "copy"
    for name in ("IMG_0002.JPG", "IMG_0003.JPG"):
        assert (items[name]["action"], items[name]["reason"]) == (
            "hold",
            "left blank (ID map line 3)",
        )
    # An empty id with a diagnosis is a doubt about the patient: refused, line named.
    map_file.write_text("files,id,diagnosis\nIMG_0001,JBX3656,\nIMG_0002,,melanoma\n")
    doubt = cardingest("preview", card, "--map", map_file, "--archive", archive, home=home)
    assert doubt.code == 2 and "line 3: the id is empty but diagnosis" in doubt.stderr
    map_file.write_text("files,id\nIMG_0001,\nIMG_0002,\n")
    untouched = cardingest("preview", card, "--map", map_file, "--archive", archive, home=home)
    assert untouched.code == 2 and "no row has an id" in untouched.stderr


def test_interactive_same_as_before_folders_and_left_blank() -> None:
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00"),
        media("DCIM/101CANON/IMG_0001.JPG", "2026-11-24 09:30:00"),
        media("DCIM/101CANON/IMG_0002.JPG", "2026-11-24 10:00:00"),
        media("DCIM/101CANON/IMG_0003.JPG", "2026-11-24 10:30:00"),
    ]
    groups = make_groups(files, GAP)
    assert groups[0].describe().endswith(", 100CANON/IMG_0001.JPG")
    assert groups[1].describe().endswith(", 101CANON/IMG_0001.JPG")
    replies = iter([".", "jbx3656", ".", "", "."])
    told: list[str] = []
    answers = ask_ids(groups, lambda _prompt: next(replies), told.append, str.upper)
    assert answers == ["JBX3656", "JBX3656", None, None]
    assert "There is no group before this one: type the patient ID." in told
    idmap, _ = build_idmap(groups, answers)
    plan = make_plan(files, idmap)
    reasons = {item.source: item.reason for item in plan.items if item.action == "hold"}
    assert reasons == {
        "DCIM/101CANON/IMG_0002.JPG": "left blank (group 3)",
        "DCIM/101CANON/IMG_0003.JPG": "left blank (group 4)",
    }


def test_a_pulled_card_is_one_message(
    fat_card: CardFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_samples()
    mount = fat_card(
        {f"DCIM/100CANON/IMG_000{n}.JPG": sample for n, sample in enumerate(photos(4), 1)}
    )
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    settings = load_settings(archive=tmp_path / "archive")
    prepared = run_prepare(
        str(mount), settings, map_file=None, patient_id="JBX3656", clock_offset=timedelta(0)
    )
    handle = fat_card.handle(mount)

    def pull_after_the_first(_outcome: object) -> None:
        if handle._driver_pid() is not None:
            handle.pull()

    result = execute(
        prepared.plan,
        settings,
        card=prepared.card,
        map_source="--id",
        on_file=pull_after_the_first,
        workers=1,
    )
    copied, failed = result.count("copy"), result.count("failed")
    assert copied >= 1 and failed >= 1 and copied + failed == 4
    stdout, stderr = io.StringIO(), io.StringIO()
    monkeypatch.setattr(output, "out", Console(file=stdout, width=200))
    monkeypatch.setattr(output, "err", Console(file=stderr, width=200))
    said = (
        f"The card was removed after {copied} of 4 photo(s) were copied and verified; "
        "insert it and run the same command again to finish."
    )
    cli_app.print_result(result)
    assert stderr.getvalue().count("\n") == 1, stderr.getvalue()
    assert said in stderr.getvalue()
    assert "failed:" not in stderr.getvalue()
    stderr.truncate(0)  # with --json the document lists each photo; stderr says it once too
    assert cli_app.said_card_removed(result) and stderr.getvalue().count(said) == 1
    handle.unmount()  # a trial: the card back in before the report, which then said only
    handle.mount()  # "failed: 48 file(s): … Transport endpoint is not connected …"
    stderr.seek(0)
    stderr.truncate(0)
    cli_app.print_result(result)
    assert said in stderr.getvalue() and "failed:" not in stderr.getvalue(), stderr.getvalue()


def test_fusefat_label_comes_from_the_volume(tmp_path: Path) -> None:
    require_samples()
    image = build_fat32_image(
        tmp_path / "card.img", {"DCIM/100CANON/IMG_0001.JPG": photos(1)[0]}, 64, "EOS_DIGITAL"
    )
    with MountedCard(image, tmp_path / "media" / "sdcard") as mount:
        (found,) = [card for card in find_cards() if card.mount == str(mount)]
    assert found.label == "EOS_DIGITAL"  # not "sdcard", the mount folder's name


def test_the_summary_line_is_printed_last(card: Path, tmp_path: Path) -> None:
    (card / "DCIM" / "100CANON" / "MVI_0004.MOV").write_bytes(b"a video")
    home, archive = tmp_path / "home", tmp_path / "archive"
    for command in ("preview", "ingest"):
        run = cardingest(command, card, "--id", "JBX3656", "--archive", archive, home=home)
        assert run.code == 0, run.stderr
        assert "MVI_0004.MOV: a video" in run.stderr
        last = run.text.strip().splitlines()[-1]
        assert last.startswith("3 file(s)" if command == "preview" else "Ingest "), last
    # (stdout and stderr are separate pipes here; on a terminal, warnings come first too)


def test_yes_without_wipe_is_refused(card: Path, tmp_path: Path) -> None:
    run = cardingest(
        "ingest", card, "--id", "JBX3656", "--archive", tmp_path / "a", "--yes", home=tmp_path
    )
    assert run.code == 2 and "--wipe" in run.stderr
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize(
    ("answer", "code", "said"),
    [
        ("n", 3, "Nothing was removed"),
        ("Ctrl-C", 130, "Interrupted before anything was removed: the card is as it was."),
    ],
)
def test_a_wipe_not_confirmed_says_nothing_was_removed_once(
    card: Path, tmp_path: Path, answer: str, code: int, said: str
) -> None:
    """No at the question is exit 3 (photos stay); Ctrl-C there is an interruption (130),
    not click's bare "Aborted!" and exit 1."""
    require(sys.platform != "win32", "pseudo-terminals need a POSIX system")
    home, archive = tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    child = on_terminal(CARDINGEST, ["wipe", card, "--archive", archive], {"HOME": str(home)})
    child.expect(r"\[y/N\]: ")
    if answer == "Ctrl-C":
        child.sendintr()
    else:
        child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == code
    assert (child.before or "").count(said) == 1
    assert "Aborted" not in (child.before or "")
    assert len(list((card / "DCIM/100CANON").iterdir())) == 3


def test_the_wipe_question_leaves_the_json_on_stdout_alone(card: Path, tmp_path: Path) -> None:
    """``wipe --json > FILE`` at a terminal: the question and its answer are stderr's and
    stdin's. A trial: Click's confirm wrote its prompt's last space to stdout, before the
    document. An answer that is neither yes nor no is asked again."""
    require(sys.platform != "win32", "pseudo-terminals need a POSIX system")
    home, archive = tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    document = tmp_path / "wipe.json"
    command = 'exec "$0" wipe "$1" --archive "$2" --json > "$3"'
    child = on_terminal(
        "sh", ["-c", command, CARDINGEST, card, archive, document], {"HOME": str(home)}
    )
    child.expect(r"\[y/N\]: ")
    child.sendline("maybe")
    child.expect_exact("Answer y or n.")
    child.expect(r"\[y/N\]: ")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    text = document.read_text(encoding="utf-8")
    assert text.startswith("{") and json.loads(text)["summary"]["removed"] == 0, text[:80]


@pytest.mark.parametrize("when", ["re-reading", "removing"])
def test_ctrl_c_during_a_wipe_says_what_was_removed(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """Ctrl-C while the gate re-reads card and archive, or as the first file is removed:
    exit 130, one message saying what the card still holds, and with --json a document.
    A Ctrl-C right after an unlink waits for the file's audit event (a KeyboardInterrupt
    there would leave the file gone yet counted as kept)."""
    home, archive = tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    monkeypatch.setenv("HOME", str(home))
    if when == "re-reading":
        from cardingest.cli import wipe as cli_wipe

        real_plan = cli_wipe.plan_wipe

        def ctrl_c_at_the_first_file(*args: Any, **options: Any) -> Any:
            def stop(_: str) -> None:
                raise KeyboardInterrupt

            return real_plan(*args, **{**options, "on_file": stop})

        monkeypatch.setattr(cli_wipe, "plan_wipe", ctrl_c_at_the_first_file)
        said = "Interrupted before anything was removed: the card is as it was."
        left = 3
    else:
        real_unlink = os.unlink

        def ctrl_c_as_the_first_is_removed(path: Any, *args: Any, **options: Any) -> None:
            real_unlink(path, *args, **options)
            if str(path).endswith("IMG_0001.JPG"):  # a real SIGINT, right after the unlink
                os.kill(os.getpid(), signal.SIGINT)

        monkeypatch.setattr(os, "unlink", ctrl_c_as_the_first_is_removed)
        said = (
            "Interrupted after 1 of 3 file(s) proven archived were removed from the card; "
            "everything else is still on it."
        )
        left = 2
    ran = CliRunner().invoke(
        cli_app.app, ["wipe", str(card), "--archive", str(archive), "--yes", "--json"]
    )
    monkeypatch.undo()
    assert ran.exit_code == 130, ran.output
    assert said in ran.stderr
    document = json.loads(ran.stdout)
    assert document["error"]["exit"] == 130 and said in document["error"]["message"]
    assert len(list((card / "DCIM/100CANON").iterdir())) == left
    log = (archive / ".cardingest" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    removed = [e["source"] for e in map(json.loads, log) if e["event"] == "wipe-remove"]
    assert removed == ([] if when == "re-reading" else ["DCIM/100CANON/IMG_0001.JPG"])


def test_ctrl_c_in_any_command_is_130_and_a_json_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C that no command catches itself (here while cards are looked for) is exit 130
    and one line, and with --json the error document a script reads, not an empty stdout."""
    from cardingest.card import detect

    def ctrl_c() -> list[Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(detect, "find_cards", ctrl_c)
    ran = CliRunner().invoke(cli_app.app, ["cards", "--json"])
    assert ran.exit_code == 130, ran.output
    assert "Interrupted. Nothing is left half-written" in ran.stderr
    assert json.loads(ran.stdout)["error"]["exit"] == 130


def test_ctrl_c_while_the_program_loads_is_130_not_a_traceback() -> None:
    """SIGINT lands while Typer and the commands are imported (the first tenth of a second):
    the import is made to raise KeyboardInterrupt there, as the signal would."""
    code = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def ctrl_c(name, *args, **kwargs):\n"
        "    if name == 'typer':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = ctrl_c\n"
        "sys.argv = ['cardingest', 'cards', '--json']\n"
        "from cardingest.cli import main\n"
        "main()\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert ran.returncode == 130, ran.stderr
    assert ran.stderr == "Interrupted before anything was done.\n"
    assert json.loads(ran.stdout)["error"]["exit"] == 130


@pytest.mark.parametrize(
    "command",
    [
        ["verify"],
        ["audit"],
        ["search", "--id", "JBX3656"],
        ["wipe", "{card}", "--dry-run"],
        ["preview", "{card}", "--id", "JBX3656"],
        ["ingest", "{card}", "--id", "JBX3656"],
    ],
    ids=lambda command: command[0],
)
def test_an_archive_whose_records_are_another_accounts_is_one_message(
    card: Path, tmp_path: Path, command: list[str]
) -> None:
    """A shared drive where a colleague's login made the archive: its ``.cardingest`` is
    theirs alone (0700). Every command says so (exit 1, a JSON document), no traceback."""
    require(os.geteuid() == 0 and shutil.which("setpriv") is not None, "needs root and setpriv")
    archive, home = tmp_path / "archive", tmp_path / "home"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    for path in [archive / ".cardingest", *(archive / ".cardingest").rglob("*")]:
        os.chown(path, 65534, 65534)  # nobody
    argv = [part.replace("{card}", str(card)) for part in command]
    ran = cardingest(
        *argv, "--archive", archive, "--json", home=home, prefix=("setpriv", *NO_OVERRIDE)
    )
    said = f"Cannot read {archive / '.cardingest'}: permission denied."
    assert ran.code == 1, ran.stderr
    assert said in ran.stderr
    assert said in json.loads(ran.stdout)["error"]["message"]


@pytest.mark.parametrize("command", ["preview", "ingest", "verify"])
def test_records_another_account_made_open_to_all_are_refused_not_filled(
    card: Path, tmp_path: Path, command: str
) -> None:
    """A trial: another account made ``.cardingest/catalogue.sqlite`` (and the log) 0777
    in advance, and an ingest filled it with patient IDs and diagnoses that account could
    read. Records open to every account that this one cannot close are refused; root,
    which can close them (`verify --fix-permissions`), is not."""
    require(os.geteuid() == 0 and shutil.which("setpriv") is not None, "needs root and setpriv")
    archive, home = tmp_path / "archive", tmp_path / "home"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    meta = archive / ".cardingest"
    for path in [meta, *meta.iterdir()]:
        os.chown(path, 65534, 65534)  # nobody
        path.chmod(0o777 if path.is_dir() else 0o666)
    before = {p: p.stat().st_mtime_ns for p in meta.rglob("*")}
    args = [card, "--id", "JBX3656"] if command != "verify" else []
    ran = cardingest(
        command, *args, "--archive", archive, home=home, prefix=("setpriv", *NO_OVERRIDE)
    )
    said = " ".join(ran.stderr.split())
    assert ran.code == 1, said
    assert f"{meta} belongs to the account nobody and is open to every account" in said
    assert "this account cannot close it" in said and "nothing was changed" in said
    assert {p: p.stat().st_mtime_ns for p in meta.rglob("*")} == before
    fixed = cardingest("verify", "--archive", archive, "--fix-permissions", home=home)
    assert "Took other accounts' access away" in fixed.stdout.decode(), fixed.stderr
    ran = cardingest(
        command, *args, "--archive", archive, home=home, prefix=("setpriv", *NO_OVERRIDE)
    )
    assert "is open to every account" not in ran.stderr


def test_a_permission_refused_where_none_was_foreseen_is_a_message_not_a_traceback() -> None:
    """The CLI's one place for errors also turns a PermissionError no code foresaw into a
    message, exit 1, and with --json a document."""
    probe = typer.Typer()

    @probe.command()
    @handles_errors
    def touch(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        raise PermissionError(13, "Permission denied", "/srv/archive/.cardingest/x")

    ran = CliRunner().invoke(probe, ["--json"])
    said = "Permission denied: /srv/archive/.cardingest/x. This account may not read or change it"
    assert ran.exit_code == 1
    assert said in ran.stderr and "Traceback" not in ran.stderr
    assert said in json.loads(ran.stdout)["error"]["message"]


def test_ctrl_c_in_the_wipe_of_ingest_wipe_is_in_its_json(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ingest --wipe --json`: the photos copied, then Ctrl-C while the wipe re-reads. The
    document has the ingest and the wipe's error, with its exit code like any error's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    from cardingest.cli import wipe as cli_wipe

    def ctrl_c(*args: Any, **options: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_wipe, "plan_wipe", ctrl_c)
    argv = ["ingest", str(card), "--id", "JBX3656", "--archive", str(tmp_path / "a")]
    ran = CliRunner().invoke(cli_app.app, [*argv, "--wipe", "--yes", "--json"])
    monkeypatch.undo()
    assert ran.exit_code == 130, ran.output
    document = json.loads(ran.stdout)
    assert document["summary"]["copied"] == 3
    assert document["wipe"]["error"]["exit"] == 130
    assert "the card is as it was" in document["wipe"]["error"]["message"]
    assert len(list((card / "DCIM/100CANON").iterdir())) == 3


@pytest.mark.parametrize(
    ("command", "flag"), [("preview", "--archive"), ("ingest", "--archive"), ("ingest", "--backup")]
)
def test_an_archive_or_backup_that_is_a_file_is_refused(
    card: Path, tmp_path: Path, command: str, flag: str
) -> None:
    """Not a plan that passes and an ingest that fails with "Cannot create …/.cardingest:
    File exists"."""
    plain = tmp_path / "plain"
    plain.write_bytes(b"not a folder")
    archive = plain if flag == "--archive" else tmp_path / "archive"
    dotted = tmp_path / "dotted"
    (dotted / ".cardingest").parent.mkdir()
    (dotted / ".cardingest").write_bytes(b"not a folder")
    ran = cardingest(command, card, "--id", "JBX3656", "--archive", dotted, home=tmp_path / "home")
    assert ran.code == 2
    assert f"{dotted / '.cardingest'} is not a folder" in ran.stderr
    argv = ["--archive", archive] + (["--backup", plain] if flag == "--backup" else [])
    ran = cardingest(command, card, "--id", "JBX3656", *argv, home=tmp_path / "home")
    assert ran.code == 2
    assert f"{plain} is not a folder: an archive or backup must be one" in ran.stderr
    # A new one in (or below) a file: exit 2 and the file named, not exit 1 and "does not
    # exist … Is the drive connected?" (trial).
    what = flag.removeprefix("--")
    for below in (plain / "sub", plain / "sub" / "deeper"):
        argv = ["--archive", below] if flag == "--archive" else ["--archive", archive, flag, below]
        ran = cardingest(command, card, "--id", "JBX3656", *argv, home=tmp_path / "home")
        assert ran.code == 2, ran.stderr
        said = " ".join(ran.stderr.split())
        assert f"{plain} is not a folder, so the {what} {below} cannot be made in it" in said
    assert plain.read_bytes() == b"not a folder"


@pytest.mark.parametrize("flag", ["--archive", "--backup"])
def test_an_archive_or_backup_in_proc_or_sys_is_refused(
    card: Path, tmp_path: Path, flag: str
) -> None:
    """Trial: ``preview --archive /proc/self`` planned "a new archive" (exit 0) and the ingest
    then failed to make its folder. Both refuse it (exit 2), saying what such a place is."""
    what = flag.removeprefix("--")
    for place, fstype in ((Path("/proc/self/arch"), "proc"), (Path("/sys/kernel/arch"), "sysfs")):
        argv = ["--archive", place] if flag == "--archive" else [
            "--archive", tmp_path / "a", flag, place
        ]  # fmt: skip
        for command in ("preview", "ingest"):
            ran = cardingest(command, card, "--id", "JBX3656", *argv, home=tmp_path / "home")
            assert ran.code == 2, ran.stderr
            said = " ".join(ran.stderr.split())
            assert f"The {what} {place} is on {fstype} (/" in said, said
            assert "a view of the running system that holds no files" in said
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize(
    ("where", "what", "said"),
    [
        ("archive", "file", "is a file, not a folder"),
        ("backup", "file", "is a file, not a folder"),
        ("archive", "dangling link", "is a symbolic link, not a folder of the archive"),
        ("backup", "link to a folder", "is a symbolic link, not a folder of the backup"),
    ],
)
def test_a_file_or_link_where_a_patients_folder_goes_is_one_message_before_any_copy(
    card: Path, tmp_path: Path, where: str, what: str, said: str
) -> None:
    """Not a "File exists" (or "is a symbolic link") for each of the patient's photos, and
    the preview says so first."""
    archive, backup = tmp_path / "archive", tmp_path / "backup"
    (tmp_path / where).mkdir()
    blocking = tmp_path / where / "JBX3656"
    if what == "file":
        blocking.write_bytes(b"notes")
    else:
        blocking.symlink_to(tmp_path if what == "link to a folder" else tmp_path / "nowhere")
    home = tmp_path / "home"
    argv = ("--id", "JBX3656", "--archive", archive, "--backup", backup)
    ran = cardingest("ingest", card, *argv, "--json", home=home)
    assert ran.code == 1, ran.stderr
    message = json.loads(ran.stdout)["error"]["message"]
    assert message.startswith(f"{blocking} {said}")
    assert "nothing was copied" in message and "failed:" not in ran.stderr
    assert not list(tmp_path.glob("*/JBX3656/*.jpg"))
    assert blocking.is_symlink() == (what != "file")
    assert len(list((card / "DCIM/100CANON").iterdir())) == 3
    previewed = cardingest("ingest", card, *argv, "--dry-run", home=home)
    assert f"{blocking} {said}: photos are to be filed in it, so the ingest will copy nothing" in (
        " ".join(previewed.stderr.split())
    )
    assert "can be written by every account" not in previewed.stderr  # a link's own 0777


def test_an_ingest_that_died_is_named_with_what_it_may_have_left(
    card: Path, tmp_path: Path
) -> None:
    """A kill -9 or a power cut can leave photos published under the names the dead run's
    map gave them, before their rows were written. If that map was wrong and the next run's
    is right, those files stay under the wrong patient: the next ingest says so."""
    from cardingest.archive.catalogue import Catalogue

    home, archive = tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    with Catalogue.open(archive) as catalogue:
        catalogue.begin_ingest(
            "20261201T000000Z-dead00", started="2026-12-01T00:00:00Z", operator="nurse1",
            host="desk", source="card", card_label=None, card_serial=None,
            archive=str(archive), backup=None, clock_offset="+00:00:00", map_source="map.csv",
        )  # fmt: skip
    ran = cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, "--json",
                     home=home)  # fmt: skip
    assert ran.code == 0, ran.stderr
    [said] = [w for w in ran.json()["warnings"] if "stopped before it finished" in w]
    assert said.startswith("ingest 20261201T000000Z-dead00 (started 2026-12-01T00:00:00Z)")
    assert "`cardingest verify` lists them as unexpected" in said
    again = cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, "--json",
                       home=home)  # fmt: skip
    assert not [w for w in again.json()["warnings"] if "stopped before it finished" in w]


def test_a_clock_offset_is_shown_as_it_was_given(card: Path, tmp_path: Path) -> None:
    """Not Python's ``-1 day, 23:57:30`` for -00:02:30: a nurse would think a day went."""
    home = tmp_path / "home"
    for given, shown in (("-00:02:30", "-00:02:30"), ("+25:00", "+25:00:00")):
        argv = ("preview", card, "--id", "JBX3656", "--archive", tmp_path / "a")
        table = cardingest(*argv, "--clock-offset", given, home=home)
        assert f"Clock offset: {shown} added to camera times" in table.text
        document = cardingest(*argv, "--clock-offset", given, "--json", home=home)
        assert json.loads(document.stdout)["clock_offset"] == shown


def test_the_ingest_bar_counts_the_photos_finished(card: Path, tmp_path: Path) -> None:
    """The bar follows the bytes read from the card, which run ahead of the writes and
    read-backs (issue 16): its label counts the photos finished, so a full bar with copies
    still being verified is not taken for the end. The last frame is drawn when the run
    ends, so it holds the final count whatever the timing."""
    require(sys.platform != "win32", "pseudo-terminals need a POSIX system")
    child = on_terminal(
        CARDINGEST,
        ["ingest", card, "--id", "JBX3656", "--archive", tmp_path / "a"],
        {"HOME": str(tmp_path / "home"), "TERM": "xterm", "COLUMNS": "160"},
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before or "")
    assert "Copying and verifying: 3 of 3 finished" in screen


def test_a_map_run_again_after_its_wipe_says_the_rows_photos_were_archived(
    card: Path, tmp_path: Path
) -> None:
    """`ingest --map --wipe` run a second time: the rows whose photos the first run archived
    and wiped match nothing now. Still exit 2 (a map must not fit a card it was not made
    for), but the message says the archive holds those photos and what to do, and a row
    that never matched (a typo) gets no such claim."""
    home, archive = tmp_path / "home", tmp_path / "archive"
    map_file = tmp_path / "map.csv"
    map_file.write_text("files,id\nIMG_0001,JBX3656\nIMG_0002,ACA31FM\n")
    argv = ("ingest", card, "--map", map_file, "--archive", archive)
    assert cardingest(*argv, "--wipe", "--yes", home=home).code == 3
    assert sorted(p.name for p in (card / "DCIM/100CANON").iterdir()) == ["IMG_0003.JPG"]
    map_file.write_text("files,id\nIMG_0001,JBX3656\nIMG_0009,ACA31FM\nIMG_0003,MCJ1984\n")
    again = cardingest(*argv, "--wipe", "--yes", "--json", home=home)
    assert again.code == 2, again.stderr
    details = again.json()["error"]["details"]
    assert "line 2: files 'IMG_0001' matches no file on the card" in details
    assert "line 3: files 'IMG_0009' matches no file on the card" in details
    archived = [d for d in details if re.match(r"line \d+: the archive holds", d)]
    assert len(archived) == 1 and re.fullmatch(
        r"line 2: the archive holds 1 photo\(s\) of JBX3656 from IMG_0001 \(archived "
        r"\d{4}-\d\d-\d\d\): most likely they were wiped from the card after that ingest",
        archived[0],
    ), details
    assert "`cardingest search --id JBX3656`" in details[-1]
    assert "remove the row from the map and run again" in details[-1]
    assert "ingest --wipe stopped during its wipe, `cardingest wipe` finishes it" in details[-1]
    assert "the archive holds 1 photo(s) of JBX3656" in again.stderr
    assert sorted(p.name for p in (card / "DCIM/100CANON").iterdir()) == ["IMG_0003.JPG"]
    assert not (archive / "MCJ1984").exists()  # nothing was copied


def test_the_same_ingest_map_wipe_run_again_finishes_a_stopped_wipe(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C as the wipe of `ingest --map --wipe` removes IMG_0001: the same command again
    finishes it. The row of IMG_0001 matches nothing now; an ingest from this card with this
    very map archived its photo, so that part of the map is done and said to be. The same
    map on another card (here a copy without IMG_0001) still does not fit it."""
    home, archive = tmp_path / "home", tmp_path / "archive"
    map_file = tmp_path / "map.csv"
    map_file.write_text("files,id\nIMG_0001,JBX3656\nIMG_0002-IMG_0003,ACA31FM\n")
    other = tmp_path / "other"
    shutil.copytree(card, other)
    (other / "DCIM/100CANON/IMG_0001.JPG").unlink()
    argv = ["ingest", str(card), "--map", str(map_file), "--archive", str(archive), "--wipe"]
    monkeypatch.setenv("HOME", str(home))
    real_unlink = os.unlink

    def ctrl_c_as_the_first_is_removed(path: Any, *args: Any, **options: Any) -> None:
        real_unlink(path, *args, **options)
        if str(path).endswith("IMG_0001.JPG"):
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "unlink", ctrl_c_as_the_first_is_removed)
    stopped = CliRunner().invoke(cli_app.app, [*argv, "--yes"])
    monkeypatch.undo()
    assert stopped.exit_code == 130, stopped.output
    assert sorted(p.name for p in (card / "DCIM/100CANON").iterdir()) == [
        "IMG_0002.JPG",
        "IMG_0003.JPG",
    ]
    elsewhere = cardingest(*[str(other) if a == str(card) else a for a in argv], "--yes", home=home)
    assert elsewhere.code == 2 and "matches no file on the card" in elsewhere.stderr
    assert len(list((other / "DCIM/100CANON").iterdir())) == 2
    again = cardingest(*argv, "--yes", "--json", home=home)
    assert again.code == 0, again.stderr
    document = again.json()
    assert document["summary"]["copied"] == 0 and document["summary"]["skipped"] == 2
    assert document["wipe"]["summary"]["removed"] == 2
    assert re.search(
        r"line 2: the photos of IMG_0001 are no longer on the card; 1 of them was archived "
        r"for JBX3656 by ingest \S+ with this map, so that part of the map is done",
        " ".join(again.stderr.split()),
    ), again.stderr
    assert not list((card / "DCIM/100CANON").iterdir())
    filed = sorted(p.relative_to(archive).parts[0] for p in archive.glob("*/*.jpg"))
    assert filed == ["ACA31FM", "ACA31FM", "JBX3656"]


def _another_accounts(path: Path, mode: int) -> None:
    os.chown(path, 65534, 65534)  # nobody
    os.chmod(path, mode)


def _records_theirs(meta: Path) -> None:
    for path in [meta, *meta.rglob("*")]:
        _another_accounts(path, 0o700 if path.is_dir() else 0o600)


def _records_read_only(meta: Path) -> None:
    for path in [meta, *meta.rglob("*")]:
        _another_accounts(path, 0o755 if path.is_dir() else 0o644)


def _lock_theirs(meta: Path) -> None:
    (meta / "lock").touch()  # left by a run of that account
    _another_accounts(meta / "lock", 0o644)


MIGRATE = ["catalogue", "migrate", "--to", "postgresql://localhost:1/cardingest"]


@pytest.mark.parametrize(
    ("command", "setup", "said"),
    [
        (MIGRATE, _records_theirs, "Cannot read {meta}: permission denied."),
        (
            MIGRATE,
            _records_read_only,
            "Cannot create the lock file {meta}/lock: permission denied.",
        ),
        (
            ["ingest", "{card}", "--id", "JBX3656"],
            _records_read_only,
            "Cannot create the lock file {meta}/lock: permission denied.",
        ),
        (
            MIGRATE,
            lambda meta: _another_accounts(meta / "catalogue.sqlite", 0o644),
            "Cannot write {meta}/catalogue.sqlite: permission denied.",
        ),
        (
            MIGRATE,
            _lock_theirs,
            "Cannot open the lock file {meta}/lock: permission denied.",
        ),
        (
            ["audit"],
            lambda meta: _another_accounts(meta / "audit.jsonl", 0o600),
            "Cannot read {meta}/audit.jsonl: permission denied.",
        ),
        (
            ["ingest", "{card}", "--id", "JBX3656"],
            lambda meta: _another_accounts(meta / "audit.jsonl", 0o644),
            "Cannot write {meta}/audit.jsonl: permission denied.",
        ),
    ],
    ids=[
        "migrate-theirs",
        "migrate-read-only",
        "ingest-read-only",
        "migrate-catalogue-read-only",
        "migrate-lock-theirs",
        "audit-log-theirs",
        "ingest-audit-log-read-only",
    ],
)
def test_records_this_account_may_not_read_or_write_name_the_file_and_what_to_do(
    card: Path, tmp_path: Path, command: list[str], setup: Any, said: str
) -> None:
    """`catalogue migrate`, the lock file and the audit log of an archive whose records are
    another account's, or read-only for this one: the file, "permission denied" and what to
    do (exit 1, a JSON document), not an errno or a finding about the chain. Root is run
    without the powers that would let it through, as another account would be."""
    require(os.geteuid() == 0 and shutil.which("setpriv") is not None, "needs root and setpriv")
    archive, home = tmp_path / "archive", tmp_path / "home"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    meta = archive / ".cardingest"
    setup(meta)
    argv = [part.replace("{card}", str(card)) for part in command]
    ran = cardingest(
        *argv, "--archive", archive, "--json", home=home, prefix=("setpriv", *NO_OVERRIDE)
    )
    message = said.replace("{meta}", str(meta))
    assert ran.code == 1, ran.stderr
    assert message in ran.stderr
    assert "run cardingest as th" in ran.stderr and "Errno" not in ran.stderr
    assert message in json.loads(ran.stdout)["error"]["message"]


def test_a_card_with_no_photos_says_so(tmp_path: Path) -> None:
    """Only a video left on the card (or nothing at all): preview and ingest say that no
    photos were found, not just "0 file(s)"."""
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    (folder / "MVI_0001.MOV").write_bytes(b"\x00\x00\x00\x18ftypqt  ")
    args = [str(tmp_path / "card"), "--id", "JBX3656", "--archive", str(tmp_path / "a")]
    for command in ("preview", "ingest"):
        result = CliRunner().invoke(cli_app.app, [command, *args])
        assert result.exit_code == 0, result.output
        assert "No photos found" in result.output and "MVI_0001.MOV" in result.output


def other_than_days(warnings: list[str]) -> list[str]:
    """The warnings but that of one patient's photos of several days: the samples of
    `three_photo_card` were taken years apart."""
    return [warning for warning in warnings if "photos to copy were taken on" not in warning]


def test_a_map_used_for_another_card_before_is_named(tmp_path: Path) -> None:
    """Yesterday's map fits today's card when the camera started its numbers again: the
    preview and the ingest say the map was used before, for another card; so they do when
    rows of the map were in a map used before (a row added to yesterday's). The same card
    again (a run finished after an interruption) says nothing."""
    require_samples()
    first, second = three_photo_card(tmp_path / "one"), three_photo_card(tmp_path / "two")
    idmap = tmp_path / "m.csv"
    idmap.write_text("files,id\nIMG_0001,JBX3656\nIMG_0002-IMG_0003,MCJ1984\n", encoding="utf-8")
    archive = ["--archive", str(tmp_path / "a"), "--json"]
    runner = CliRunner()

    def warnings(command: str, card: Path, used: Path = idmap) -> list[str]:
        result = runner.invoke(cli_app.app, [command, str(card), "--map", str(used), *archive])
        assert result.exit_code == 0, result.output
        return other_than_days(json.loads(result.stdout)["warnings"])

    assert warnings("ingest", first) == []
    assert warnings("preview", first) == []
    [said] = warnings("preview", second)
    assert said.startswith(f"this ID map ({idmap}) was used before, for ingest ")
    assert "Check that it was made for this card" in said
    changed = tmp_path / "changed.csv"
    changed.write_text(
        "files,id\nIMG_0002,MCJ1984\nIMG_0001,JBX3656\nIMG_0003,MCJ1984\n", encoding="utf-8"
    )
    [said] = warnings("preview", second, changed)
    assert said.startswith(f"line(s) 3 of this ID map ({changed}) were in the map of ingest ")
    assert "Check that those rows were made for this card" in said
    assert warnings("preview", first, changed) == []


def test_a_backup_left_out_after_ingests_that_made_one_is_named(tmp_path: Path) -> None:
    """An ingest whose --backup was forgotten would leave the new photos with one copy, and
    --wipe would take that as enough: the preview and the ingest say so."""
    require_samples()
    card = three_photo_card(tmp_path / "card")
    archive = ["--archive", str(tmp_path / "a"), "--json"]
    backup = ["--backup", str(tmp_path / "b")]
    runner = CliRunner()

    def warnings(*args: str) -> list[str]:
        result = runner.invoke(cli_app.app, [*args, *archive])
        assert result.exit_code == 0, result.output
        return other_than_days(json.loads(result.stdout)["warnings"])

    [new] = warnings("ingest", str(card), "--id", "JBX3656", *backup)
    assert new.startswith(f"the backup folder {tmp_path / 'b'} holds no backup yet"), new
    assert warnings("ingest", str(card), "--id", "JBX3656", "--dry-run", *backup) == []
    assert warnings("preview", str(card), "--id", "JBX3656", *backup) == []
    [said] = warnings("ingest", str(card), "--id", "JBX3656", "--dry-run")
    assert said.startswith("the last ingest into this archive (")
    assert f"also copied to the backup {tmp_path / 'b'}, and this one makes no backup" in said
    assert warnings("preview", str(card), "--id", "JBX3656") == [said]  # as the ingest's
    # An ingest without --backup that filed nothing (the card archived already) does not
    # silence it for the next one.
    assert warnings("ingest", str(card), "--id", "JBX3656") == [said]
    assert warnings("ingest", str(card), "--id", "JBX3656", "--dry-run") == [said]


def test_a_backup_left_out_after_a_killed_ingest_that_made_one_is_named(tmp_path: Path) -> None:
    """A run killed (kill -9, a power cut) after it filed photos with a backup copy is closed
    by the next as `crashed`, with no counts. A trial on an exFAT drive re-ran such a card
    without --backup: the new photos got one copy, with no word, as the crashed run was not
    taken for one that filed photos. It is, where its photos are catalogued."""
    require_samples()
    card = three_photo_card(tmp_path / "card")
    archive = ["--archive", str(tmp_path / "a"), "--json"]
    runner = CliRunner()
    backup = ["--backup", str(tmp_path / "b")]
    result = runner.invoke(cli_app.app, ["ingest", str(card), "--id", "JBX3656", *backup, *archive])
    assert result.exit_code == 0, result.output
    catalogue = tmp_path / "a" / ".cardingest" / "catalogue.sqlite"
    with closing(sqlite3.connect(catalogue)) as db, db:  # as the next run closes a dead one
        db.execute("UPDATE ingests SET status = 'crashed', counts = '{}'")
    result = runner.invoke(cli_app.app, ["preview", str(card), "--id", "JBX3656", *archive])
    assert result.exit_code == 0, result.output
    [said] = other_than_days(json.loads(result.stdout)["warnings"])
    assert said.startswith("the last ingest into this archive (")
    assert f"also copied to the backup {tmp_path / 'b'}, and this one makes no backup" in said


def test_a_loop_of_symbolic_links_is_a_message(tmp_path: Path) -> None:
    """A source or an archive that leads round a loop of links: exit 2 with the path, in
    JSON too, not a traceback."""
    require_samples()
    card = three_photo_card(tmp_path / "card")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    runner = CliRunner()
    for args in (
        ["preview", str(tmp_path / "loop1"), "--id", "JBX3656"],
        ["ingest", str(card), "--id", "JBX3656", "--archive", str(tmp_path / "loop1")],
        ["verify", "--archive", str(tmp_path / "loop1")],
        ["search", "--archive", str(tmp_path / "loop1")],
    ):
        result = runner.invoke(cli_app.app, [*args, "--json"])
        assert result.exit_code == 2, result.output
        said = json.loads(result.stdout)["error"]["message"]
        assert "loop of symbolic links" in said and "loop1" in said, said
    (tmp_path / "unplugged").symlink_to(tmp_path / "media" / "NAS")
    result = runner.invoke(cli_app.app, ["verify", "--archive", str(tmp_path / "unplugged")])
    assert result.exit_code == 2 and "which is not there" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["preview", "--id", "JBX3656", "--bogus"], "No such option: --bogus"),
        (["verify", "extra"], "unexpected extra argument"),
        (["search", "--id", "JBX3656", "--nope"], "No such option: --nope"),
    ],
)
def test_json_runs_get_a_json_error_for_what_the_parser_refuses(
    tmp_path: Path, args: list[str], words: str
) -> None:
    """An unknown option or an extra argument: refused by the parser before the command
    runs, and still one JSON document on stdout for the script that asked for it."""
    ran = cardingest(*args, "--json", home=tmp_path)
    assert ran.code == 2, ran.stderr
    document = json.loads(ran.text)
    assert document["error"]["exit"] == 2 and words in document["error"]["message"], document


@pytest.mark.parametrize(
    "args",
    [
        ["map-template", "card"],
        ["tag", "JBX3656", "--diagnosis", "naevus"],
        ["slate", "JBX3656"],
        ["watch", "--once", "--id", "JBX3656"],
        ["dicom"],
        [],
    ],
    ids=["map-template", "tag", "slate", "watch", "group", "bare"],
)
def test_json_given_to_a_command_without_it_is_said_on_stderr_alone(
    tmp_path: Path, args: list[str]
) -> None:
    """``map-template CARD --json > today.csv``: the shell made the file for the map, so the
    unknown option is said on stderr and stdout stays empty, as for any other unknown one."""
    ran = cardingest(*args, "--json", home=tmp_path, cwd=tmp_path)
    assert (ran.code, ran.stdout) == (2, b"")
    assert "No such option: --json" in ran.stderr


def test_a_map_that_fits_a_card_whose_numbers_started_again_leaves_its_photos_held(
    tmp_path: Path,
) -> None:
    """Monday's card ingested with Monday's map and wiped; on Tuesday the camera numbers
    its photos IMG_0001 again, and Monday's map fits the same card file for file. The
    photos whose names Monday's photos of that patient had stay on the card (exit 3), with
    the reason; once checked, --id files them."""
    folder, args = mapped_card(
        tmp_path, "IMG_0001-IMG_0002", "2026:03:16 09:01:00", "2026:03:16 09:02:00"
    )
    idmap = tmp_path / "map.csv"  # mapped_card's, edited below
    runner = CliRunner()
    assert runner.invoke(cli_app.app, ["ingest", *args, "--wipe", "--yes"]).exit_code == 0
    for n in (1, 2, 3):
        (folder / f"IMG_000{n}.JPG").write_bytes(exif_jpeg(f"2026:03:17 10:0{n}:00"))
    idmap.write_text("files,id\nIMG_0001-IMG_0003,JBX3656\n", encoding="utf-8")  # edited
    result = runner.invoke(cli_app.app, ["ingest", *args, "--json"])
    assert result.exit_code == 3, result.output
    items = {i["source"]: i for i in json.loads(result.stdout)["items"]}
    assert [items[f"DCIM/100CANON/IMG_000{n}.JPG"]["action"] for n in (1, 2, 3)] == [
        "hold",
        "hold",
        "copy",
    ]
    assert items["DCIM/100CANON/IMG_0001.JPG"]["reason"] == (
        "the map gives this photo (taken 2026-03-17 10:01:00) to JBX3656, whose photo "
        "JBX3656/JBX3656-20260316-090100.jpg (taken 2026-03-16 09:01:00) came from the same "
        "card name DCIM/100CANON/IMG_0001.JPG: the camera started its numbers again, so the "
        "map may be an older card's. Check whose photo it is, then give it to its patient by "
        "from and to times in the map (times, unlike names, are this card's own), or ingest "
        "the card with --id if all its photos are that patient's"
    )
    renamed = runner.invoke(cli_app.app, ["ingest", *args])  # the same map, another file
    assert renamed.exit_code == 3, renamed.output
    idmap.write_text(
        "files,id,from,to\nIMG_0001,JBX3656,,\n,JBX3656,2026-03-17 10:02,2026-03-17 10:03\n",
        encoding="utf-8",
    )
    by_times = runner.invoke(cli_app.app, ["ingest", *args, "--json"])
    assert by_times.exit_code == 3, by_times.output
    items = {i["source"]: i for i in json.loads(by_times.stdout)["items"]}
    assert [items[f"DCIM/100CANON/IMG_000{n}.JPG"]["action"] for n in (1, 2, 3)] == [
        "hold",
        "copy",
        "skip",
    ]
    checked = runner.invoke(cli_app.app, ["ingest", *args[:1], "--id", "JBX3656", *args[3:]])
    assert checked.exit_code == 0, checked.output
    assert len(list((tmp_path / "a" / "JBX3656").glob("*.jpg"))) == 5


@pytest.mark.parametrize("wiped", [False, True], ids=["kept", "wiped"])
def test_a_photo_taken_after_its_map_was_used_for_the_card_stays_on_the_card(
    tmp_path: Path, wiped: bool
) -> None:
    """Yesterday's map (IMG_0001-IMG_0009 for JBX3656) filed the card's two photos; a new
    photo taken since has a name the map's range covers, and the same map run again on the
    same card (the command from the shell's history) would file it under JBX3656. The map
    was made before the photo existed: it stays on the card with the reason, in the preview
    and the ingest, whether or not the first ingest wiped the card, and in every run after the
    one that held it. So does one taken after it by a camera whose clock runs an hour behind
    the workstation's (dated after the newest photo the map filed). A map made for them
    files them."""
    folder = dated_photos(
        tmp_path / "card" / "DCIM" / "100CANON", "2026:03:16 09:01:00", "2026:03:16 09:02:00"
    )
    idmap = tmp_path / "yesterday.csv"
    idmap.write_text("files,id\nIMG_0001-IMG_0009,JBX3656\n", encoding="utf-8")
    archive = ["--archive", str(tmp_path / "a"), "--json"]
    args = [str(tmp_path / "card"), "--map", str(idmap), *archive]
    runner = CliRunner()
    first = runner.invoke(cli_app.app, ["ingest", *args, *(["--wipe", "--yes"] if wiped else [])])
    assert first.exit_code == 0, first.output
    ingest_id = json.loads(first.stdout)["ingest_id"]
    later = datetime.now().replace(microsecond=0) + timedelta(hours=2)
    (folder / "IMG_0003.JPG").write_bytes(exif_jpeg(f"{later:%Y:%m:%d %H:%M:%S}"))
    # The camera's clock an hour behind the workstation's: taken after the ingest, dated
    # before it, but after the newest photo the map filed.
    behind = datetime.now().replace(microsecond=0) - timedelta(hours=1)
    (folder / "IMG_0004.JPG").write_bytes(exif_jpeg(f"{behind:%Y:%m:%d %H:%M:%S}"))
    for command in ("preview", "ingest", "ingest", "preview"):  # a run that held them too
        result = runner.invoke(cli_app.app, [command, *args])
        assert result.exit_code == 3, result.output
        items = {i["source"]: i for i in json.loads(result.stdout)["items"]}
        for name, when in (("IMG_0003", later), ("IMG_0004", behind)):
            new = items.pop(f"DCIM/100CANON/{name}.JPG")
            assert new["action"] == "hold"
            assert new["captured_at"].startswith(f"{when:%Y-%m-%dT%H:%M:%S}")
            assert new["reason"].startswith(
                "taken after every photo on this card when this very "
                "map was first used for it (the newest taken 2026-03-16 09:02:00, ingest "
                f"{ingest_id}): the map was made before the photo was taken, so its line 2 "
                "cannot say whose photo it is. Make a map for the new photos"
            )
        assert [i["action"] for i in items.values()] == ([] if wiped else ["skip", "skip"])
    assert (folder / "IMG_0003.JPG").exists()
    assert sorted(p.name for p in (tmp_path / "a" / "JBX3656").iterdir()) == [
        "JBX3656-20260316-090100.jpg",
        "JBX3656-20260316-090200.jpg",
    ]
    today = tmp_path / "today.csv"
    today.write_text("files,id\nIMG_0003-IMG_0004,MCJ1984\n", encoding="utf-8")
    made = [str(tmp_path / "card"), "--map", str(today), *archive]
    result = runner.invoke(cli_app.app, ["ingest", *made])
    # The map leaves 1-2 out: the first ingest archived them from this card, so they are
    # skipped, not held (tests/test_archived_earlier.py).
    assert result.exit_code == 0, result.output
    for when in (later, behind):
        assert (tmp_path / "a" / "MCJ1984" / f"MCJ1984-{when:%Y%m%d-%H%M%S}.jpg").is_file()


@pytest.mark.parametrize("wiped", [False, True], ids=["kept", "wiped"])
def test_a_photo_taken_after_the_camera_clock_was_set_back_stays_on_the_card(
    tmp_path: Path, wiped: bool
) -> None:
    """The map 100CANON/IMG_0001-101CANON/IMG_0050 filed the card's three photos
    (10:00-10:10). The camera's
    clock is then put back an hour (daylight saving ends, a fast clock is corrected) and
    two more photos are taken: IMG_0004 at 09:30, and after the camera rolls over to a new
    folder, 101CANON/IMG_0001 at 09:31. Their times are before the newest photo on the
    card at the map's first use, but the camera numbered them after every photo then: the
    same map run again holds them, with the reason; a map made for them files them."""
    times = ("2026:03:16 10:00:00", "2026:03:16 10:05:00", "2026:03:16 10:10:00")
    folder, args = mapped_card(tmp_path, "100CANON/IMG_0001-101CANON/IMG_0050", *times)
    runner = CliRunner()
    first = runner.invoke(cli_app.app, ["ingest", *args, *(["--wipe", "--yes"] * wiped)])
    assert first.exit_code == 0, first.output
    (folder / "IMG_0004.JPG").write_bytes(exif_jpeg("2026:03:16 09:30:00"))
    rolled = folder.parent / "101CANON"
    rolled.mkdir()
    (rolled / "IMG_0001.JPG").write_bytes(exif_jpeg("2026:03:16 09:31:00"))
    for command in ("preview", "ingest", "ingest", "preview"):  # a run that held them too
        result = runner.invoke(cli_app.app, [command, *args, "--json"])
        assert result.exit_code == 3, result.output
        items = {i["source"]: i for i in json.loads(result.stdout)["items"]}
        for source in ("DCIM/100CANON/IMG_0004.JPG", "DCIM/101CANON/IMG_0001.JPG"):
            assert items[source]["action"] == "hold", source
            # The first ingest, or one that held them started in the same second (whose
            # newest photo is one of these).
            said = items[source]["reason"]
            reason = re.sub(r"ingest \d{8}T\d{6}Z-[0-9a-f]+\)", "ingest FIRST)", said)
            assert re.sub(r"\(2026-03-16 09:3[01]:00\)", "(2026-03-16 10:10:00)", reason) == (
                "numbered by the camera after every photo on this card when this very map "
                "was first used for it (the last then: folder 100, number 0003, ingest "
                "FIRST), though not dated after the newest then (2026-03-16 10:10:00): "
                "the camera's clock was set back since: the map was made before the photo "
                "was taken, so its line 2 cannot say whose photo it is. Make a map for the "
                "new photos (cardingest map-template), or narrow that line to the photos it "
                "was made for and give the new ones by from and to times"
            )
    assert sorted(p.name for p in (tmp_path / "a" / "JBX3656").iterdir()) == [
        f"JBX3656-20260316-10{m}00.jpg" for m in ("00", "05", "10")
    ]
    (tmp_path / "map.csv").write_text(
        "files,id\nIMG_0004,MCJ1984\n101CANON/IMG_0001,MCJ1984\n", encoding="utf-8"
    )
    made = runner.invoke(cli_app.app, ["ingest", *args])
    assert made.exit_code == 0, made.output  # the map leaves 1-3 out: archived, skipped
    assert sorted(p.name for p in (tmp_path / "a" / "MCJ1984").iterdir()) == [
        "MCJ1984-20260316-093000.jpg",
        "MCJ1984-20260316-093100.jpg",
    ]


def test_the_set_back_reason_says_whose_clock_its_time_is_by(tmp_path: Path) -> None:
    """With --clock-offset the plan shows corrected times; the newest then is the camera's."""
    times = ("2026:03:16 10:00:00", "2026:03:16 10:05:00", "2026:03:16 10:10:00")
    folder, args = mapped_card(tmp_path, "100CANON/IMG_0001-101CANON/IMG_0050", *times)
    runner = CliRunner()
    offset = ["--clock-offset", "+01:00"]
    assert runner.invoke(cli_app.app, ["ingest", *args, *offset]).exit_code == 0
    (folder / "IMG_0004.JPG").write_bytes(exif_jpeg("2026:03:16 09:30:00"))
    result = runner.invoke(cli_app.app, ["preview", *args, *offset, "--json"])
    assert result.exit_code == 3, result.output
    [item] = [i for i in json.loads(result.stdout)["items"] if i["action"] == "hold"]
    assert item["captured_at"] == "2026-03-16T10:30:00", item
    assert (
        "though not dated by the camera's clock after the newest then (2026-03-16 10:10:00)"
        in (item["reason"])
    )


def test_photos_held_for_one_long_reason_are_told_it_once(tmp_path: Path) -> None:
    """Four photos taken since the map's first use on the card are held for one reason of
    some 400 characters: the preview's table points each to one note under it, and the
    ingest says it in one line with the files; a short reason is still said per file."""
    folder, args = mapped_card(tmp_path, "IMG_0001-IMG_0009", "2026:03:16 09:01:00")
    runner = CliRunner()
    assert runner.invoke(cli_app.app, ["ingest", *args]).exit_code == 0
    later = datetime.now().replace(microsecond=0) + timedelta(hours=2)
    for number in range(2, 6):
        taken = later + timedelta(minutes=number)
        (folder / f"IMG_000{number}.JPG").write_bytes(exif_jpeg(f"{taken:%Y:%m:%d %H:%M:%S}"))
    (folder / "IMG_0010.JPG").write_bytes(exif_jpeg("2026:03:16 09:10:00"))
    (folder / "IMG_0011.JPG").write_bytes(exif_jpeg("2026:03:16 09:11:00"))
    said = "taken after every photo on this card when this very map was first used for it"
    new = "DCIM/100CANON/IMG_0002.JPG … DCIM/100CANON/IMG_0005.JPG"

    preview = runner.invoke(cli_app.app, ["preview", *args], env={"COLUMNS": "400"})
    assert preview.exit_code == 3, preview.output
    assert preview.output.count(said) == 1
    assert preview.output.count("hold (note 1)") == 4
    assert f"note 1 (4 file(s): {new}): {said}" in preview.output
    for name in ("IMG_0010", "IMG_0011"):
        assert f"DCIM/100CANON/{name}.JPG" in preview.output
    assert preview.output.count("hold (not in the ID map)") == 2

    ingest = runner.invoke(cli_app.app, ["ingest", *args], env={"COLUMNS": "400"})
    assert ingest.exit_code == 3, ingest.output
    held = [line for line in ingest.output.splitlines() if line.startswith("held on the card:")]
    assert held[0].startswith(f"held on the card: 4 file(s): {new} ({said}")
    assert held[1:] == [
        f"held on the card: DCIM/100CANON/{name}.JPG (not in the ID map)"
        for name in ("IMG_0010", "IMG_0011")
    ]


def test_the_same_map_saved_again_by_a_spreadsheet_is_the_same_map(tmp_path: Path) -> None:
    """The map that filed the card's photos, saved again by a spreadsheet (a BOM, CRLF line
    ends, quotes, IDs in lower case, its rows in another order, a site column added): the
    same rows, so a photo taken since is held as under the file itself. A map whose rows
    name other photos is another map."""
    folder = dated_photos(
        tmp_path / "card" / "DCIM" / "100CANON", "2026:03:16 09:01:00", "2026:03:16 09:02:00"
    )
    idmap = tmp_path / "yesterday.csv"
    idmap.write_text("files,id\nIMG_0001,JBX3656\nIMG_0002-IMG_0009,JBX3656\n", encoding="utf-8")
    archive = ["--archive", str(tmp_path / "a"), "--json"]
    runner = CliRunner()
    first = runner.invoke(
        cli_app.app, ["ingest", str(tmp_path / "card"), "--map", str(idmap), *archive]
    )
    assert first.exit_code == 0, first.output
    later = datetime.now().replace(microsecond=0) + timedelta(hours=2)
    (folder / "IMG_0003.JPG").write_bytes(exif_jpeg(f"{later:%Y:%m:%d %H:%M:%S}"))
    saved = tmp_path / "yesterday (2).csv"
    saved.write_bytes(
        b"\xef\xbb\xbfsite,id,files\r\n"
        b'forearm,jbx3656,"img_0002-img_0009"\r\n'
        b"forearm,JBX3656,IMG_0001\r\n"
    )
    result = runner.invoke(
        cli_app.app, ["ingest", str(tmp_path / "card"), "--map", str(saved), *archive]
    )
    assert result.exit_code == 3, result.output
    new = next(
        i for i in json.loads(result.stdout)["items"] if i["source"].endswith("IMG_0003.JPG")
    )
    assert new["action"] == "hold"
    assert "after every photo on this card when this very map was first used" in new["reason"]
    assert "its line 2 cannot say whose photo it is" in new["reason"]
    assert (folder / "IMG_0003.JPG").exists()
    assert not (tmp_path / "a" / "JBX3656" / f"JBX3656-{later:%Y%m%d-%H%M%S}.jpg").exists()
    other = tmp_path / "today.csv"
    other.write_text("files,id\nIMG_0001-IMG_0003,JBX3656\n", encoding="utf-8")
    result = runner.invoke(
        cli_app.app, ["ingest", str(tmp_path / "card"), "--map", str(other), *archive]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "JBX3656" / f"JBX3656-{later:%Y%m%d-%H%M%S}.jpg").is_file()


@pytest.mark.parametrize(
    ("today", "added"),
    [
        (
            "files,id\nIMG_0001,JBX3656\nIMG_0002-IMG_0005,MCJ1984\nIMG_0006-IMG_0009,EPT6335\n",
            "EPT6335",
        ),
        ("files,id\nIMG_0002-IMG_0005,MCJ1984\nIMG_0006-IMG_0009,EPT6335\n", "EPT6335"),
        ("files,id\nIMG_0001,JBX3656\nimg_0006-img_0009 img_0002-img_0005,MCJ1984\n", "MCJ1984"),
    ],
    ids=["a row added", "a done row taken away too", "names added to the row"],
)
def test_yesterdays_map_changed_holds_a_new_photo_its_old_row_names(
    tmp_path: Path, today: str, added: str
) -> None:
    """Yesterday's map, its rows as they were, a row for today's new patient added (and the
    done row of the first patient taken away), or today's names put in front of MCJ1984's
    old range: another map, but its range of MCJ1984 is yesterday's, written before the new
    IMG_0003 was taken. It stays on the card with that reason; the added names file their
    photo. Once the old row is narrowed to its photo, the new one goes where the new map
    says."""
    folder = dated_photos(
        tmp_path / "card" / "DCIM" / "100CANON", "2026:03:16 09:01:00", "2026:03:16 09:02:00"
    )
    yesterday = tmp_path / "yesterday.csv"
    yesterday.write_text(
        "files,id\nIMG_0001,JBX3656\nIMG_0002-IMG_0005,MCJ1984\n", encoding="utf-8"
    )
    archive = ["--archive", str(tmp_path / "a"), "--json"]
    card = str(tmp_path / "card")
    runner = CliRunner()
    first = runner.invoke(cli_app.app, ["ingest", card, "--map", str(yesterday), *archive])
    assert first.exit_code == 0, first.output
    ingest_id = json.loads(first.stdout)["ingest_id"]
    later = datetime.now().replace(microsecond=0) + timedelta(hours=2)
    (folder / "IMG_0003.JPG").write_bytes(exif_jpeg(f"{later:%Y:%m:%d %H:%M:%S}"))
    taken = later + timedelta(minutes=1)
    (folder / "IMG_0006.JPG").write_bytes(exif_jpeg(f"{taken:%Y:%m:%d %H:%M:%S}"))
    changed = tmp_path / "today.csv"
    changed.write_text(today, encoding="utf-8")
    line = next(n for n, text in enumerate(today.splitlines(), 1) if "0002-" in text.upper())
    old = "img_0002-img_0005" if "img_0002" in today else "IMG_0002-IMG_0005"
    for command in ("preview", "ingest"):
        result = runner.invoke(cli_app.app, [command, card, "--map", str(changed), *archive])
        assert result.exit_code == 3, result.output
        items = {i["source"]: i for i in json.loads(result.stdout)["items"]}
        new = items["DCIM/100CANON/IMG_0003.JPG"]
        assert new["action"] == "hold"
        assert new["reason"].startswith(
            "taken after every photo on this card when a map that "
            f"gave MCJ1984 this very name ({old}) was first used for it (the newest taken "
            f"2026-03-16 09:02:00, ingest {ingest_id}): the name was written before the photo "
            f"was taken, so line {line} of this map cannot say whose photo it is. Make a map "
            "for the new photos"
        )
    assert (folder / "IMG_0003.JPG").exists()
    assert not (tmp_path / "a" / "MCJ1984" / f"MCJ1984-{later:%Y%m%d-%H%M%S}.jpg").exists()
    assert (tmp_path / "a" / added / f"{added}-{taken:%Y%m%d-%H%M%S}.jpg").is_file()
    narrowed = tmp_path / "narrowed.csv"
    narrowed.write_text(
        f"files,id\nIMG_0001,JBX3656\nIMG_0002,MCJ1984\nIMG_0003,EPT6335\nIMG_0006-IMG_0009,{added}\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli_app.app, ["ingest", card, "--map", str(narrowed), *archive])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "EPT6335" / f"EPT6335-{later:%Y%m%d-%H%M%S}.jpg").is_file()


def test_a_card_given_as_its_camera_folder_is_numbered_by_that_folder(tmp_path: Path) -> None:
    """SOURCE given as the camera's folder (``…/DCIM/100CANON``), so its files have no folder
    of their own: the first ingest with the map records the last number all the same, and
    a photo numbered after it, dated before (the clock set back), is held on this card and
    on another card given so. Before (trial), no number was recorded or compared there, and
    the next patient's photo was filed under the map's."""
    times = ("2026:03:16 10:00:00", "2026:03:16 10:05:00")
    folder, args = mapped_card(tmp_path, "IMG_0001-IMG_0099", *times)
    args[0] = str(folder)
    runner = CliRunner()
    first = runner.invoke(cli_app.app, ["ingest", *args])
    assert first.exit_code == 0, first.output
    (folder / "IMG_0003.JPG").write_bytes(exif_jpeg("2026:03:16 09:30:00"))
    other = tmp_path / "other" / "DCIM" / "100CANON"
    other.mkdir(parents=True)
    (other / "IMG_0004.JPG").write_bytes(exif_jpeg("2026:03:16 09:31:00"))
    for card, name, which in (
        (folder, "IMG_0003", "this card"),
        (other, "IMG_0004", "another card"),
    ):
        result = runner.invoke(cli_app.app, ["preview", str(card), *args[1:], "--json"])
        assert result.exit_code == 3, result.output
        items = json.loads(result.stdout)["items"]
        [item] = [i for i in items if i["action"] != "skip"]
        assert item["source"] == f"{name}.JPG" and item["action"] == "hold", item
        assert item["reason"].startswith(
            f"numbered by the camera after every photo on {which} when this very map was "
            "first used for "
        ), item
        assert "(the last then: folder 100, number 0002, ingest " in item["reason"], item


def test_photos_copied_into_a_folder_of_their_own_are_numbered_too(tmp_path: Path) -> None:
    """A card's photos copied into ``photos/`` (no DCF folder): the map's first use records
    the last number (folder 0), and a photo numbered after it, dated before (the clock set
    back), is held. Before (trial), it was filed under the map's patient."""
    folder = dated_photos(
        tmp_path / "copy" / "photos", "2026:03:16 09:01:00", "2026:03:16 09:02:00"
    )
    idmap = tmp_path / "m.csv"
    idmap.write_text("files,id\nIMG_0001-IMG_0009,MCJ1984\n", encoding="utf-8")
    args = [str(folder.parent), "--map", str(idmap), "--archive", str(tmp_path / "a")]
    runner = CliRunner()

    def held_after_first_use(name: str) -> None:
        assert runner.invoke(cli_app.app, ["ingest", *args]).exit_code == 0
        (folder / name).write_bytes(exif_jpeg("2026:03:16 08:30:00"))
        result = runner.invoke(cli_app.app, ["ingest", *args, "--json"])
        assert result.exit_code == 3, result.output
        [item] = [i for i in json.loads(result.stdout)["items"] if i["action"] != "skip"]
        assert item["source"] == f"photos/{name}" and item["action"] == "hold", item
        assert item["reason"].startswith(
            "numbered by the camera after every photo on this card when this very map was "
            "first used for it (the last then: number 0002, ingest "
        ), item
        assert not list((tmp_path / "a").rglob("*0830*"))

    held_after_first_use("IMG_0003.JPG")
    # Another camera's photo in the folder, numbered higher (trial: its number hid the
    # first camera's, and the photo was filed).
    (folder / "IMG_0003.JPG").unlink()
    (folder / "DSC00100.JPG").write_bytes(exif_jpeg("2026:03:16 09:05:00"))
    idmap.write_text("files,id\nIMG_0001-IMG_0009,JBX3656\nDSC00100,MCJ1984\n", encoding="utf-8")
    shutil.rmtree(tmp_path / "a")
    held_after_first_use("IMG_0004.JPG")


def test_a_maps_photos_of_a_formatted_card_or_a_clock_never_set_stay_on_the_card(
    tmp_path: Path,
) -> None:
    """The map's first use was on another card (a card formatted since has a new serial; here
    another folder): a photo taken after that ingest started is held, and so is one the
    camera dated after the newest photo on that card then, though before that ingest by this
    workstation's clock (trial: a camera left on UTC runs 13 hours behind a New Zealand
    clinic's, and the next patient's photos were filed under the map's patient). A photo of
    this card dated 2000-01-01 (the camera's battery ran out) cannot show it predates the
    map: held. So is a photo the camera numbered after the last on that card then, though
    dated before its newest (trial: the clock set back, and the next patient's photos were
    filed). Photos taken and numbered before the newest on the other card then are filed (with the
    warning that the map was used for another card)."""
    one = tmp_path / "one" / "DCIM" / "100CANON"
    two = tmp_path / "two" / "DCIM" / "100CANON"
    one.mkdir(parents=True)
    two.mkdir(parents=True)
    (one / "IMG_0001.JPG").write_bytes(exif_jpeg("2026:03:16 09:00:10"))
    (one / "IMG_0006.JPG").write_bytes(exif_jpeg("2026:03:16 09:01:00"))
    idmap = tmp_path / "m.csv"
    idmap.write_text("files,id\nIMG_0001-IMG_0099,JBX3656\n", encoding="utf-8")
    archive = ["--map", str(idmap), "--archive", str(tmp_path / "a"), "--json"]
    runner = CliRunner()
    first = runner.invoke(cli_app.app, ["ingest", str(tmp_path / "one"), *archive])
    assert first.exit_code == 0, first.output
    ingest_id = json.loads(first.stdout)["ingest_id"]
    later = datetime.now().replace(microsecond=0) + timedelta(hours=2)
    (two / "IMG_0002.JPG").write_bytes(exif_jpeg("2026:03:16 09:00:30"))
    (two / "IMG_0003.JPG").write_bytes(exif_jpeg(f"{later:%Y:%m:%d %H:%M:%S}"))
    (two / "IMG_0005.JPG").write_bytes(exif_jpeg("2026:03:16 09:02:00"))
    (two / "IMG_0007.JPG").write_bytes(exif_jpeg("2026:03:16 09:00:40"))
    (one / "IMG_0004.JPG").write_bytes(exif_jpeg("2000:01:01 00:04:00"))
    result = runner.invoke(cli_app.app, ["preview", str(tmp_path / "two"), *archive])
    assert result.exit_code == 3, result.output
    document = json.loads(result.stdout)
    items = {i["source"]: i for i in document["items"]}
    assert items["DCIM/100CANON/IMG_0002.JPG"]["action"] == "copy"
    for new in ("IMG_0005", "IMG_0003"):
        assert (items[f"DCIM/100CANON/{new}.JPG"]["reason"] or "").startswith(
            "taken after every photo on another card when this very map was first used for "
            f"that card (the newest taken 2026-03-16 09:01:00, ingest {ingest_id})"
        ), new
    # Numbered after the last photo on that card, the camera's clock set back since (trial).
    assert items["DCIM/100CANON/IMG_0007.JPG"]["reason"].startswith(
        "numbered by the camera after every photo on another card when this very map was "
        f"first used for that card (the last then: folder 100, number 0006, ingest {ingest_id}"
        "), though not dated after the newest then (2026-03-16 09:01:00): the camera's clock "
        "was set back since, or this card is another camera's"
    )
    assert document["warnings"][0].startswith(f"this ID map ({idmap}) was used before")
    result = runner.invoke(cli_app.app, ["preview", str(tmp_path / "one"), *archive])
    assert result.exit_code == 3, result.output
    items = {i["source"]: i for i in json.loads(result.stdout)["items"]}
    assert items["DCIM/100CANON/IMG_0004.JPG"]["reason"].startswith(
        "dated by a camera clock never set, so its time cannot show it was on "
        f"the card when this very map was first used for it (ingest {ingest_id}): its line "
        "2 cannot say whose photo it is"
    )


def test_a_clock_offset_dropped_since_the_maps_first_use_lets_no_new_photo_through(
    tmp_path: Path,
) -> None:
    """The map's first ingest ran with --clock-offset +01:00; the next, without it. A photo
    taken half an hour after the card's newest (camera clock) would be dated before that
    newest's shifted time: it is held all the same, as the camera's own times are
    compared."""
    folder, args = mapped_card(
        tmp_path, "IMG_0001-IMG_0009", "2026:03:16 09:01:00", "2026:03:16 09:02:00"
    )
    first = CliRunner().invoke(cli_app.app, ["ingest", *args, "--clock-offset", "+01:00"])
    assert first.exit_code == 0, first.output
    (folder / "IMG_0003.JPG").write_bytes(exif_jpeg("2026:03:16 09:32:00"))
    result = CliRunner().invoke(cli_app.app, ["ingest", *args, "--json"])
    assert result.exit_code == 3, result.output
    items = {i["source"]: i for i in json.loads(result.stdout)["items"]}
    assert items["DCIM/100CANON/IMG_0003.JPG"]["reason"].startswith(
        "taken after every photo on this card when this very map was "
        "first used for it (the newest taken 2026-03-16 09:02:00, ingest "
    )
    assert not list((tmp_path / "a" / "JBX3656").glob("*0932*"))


def test_a_run_stopped_after_its_last_copy_leaves_the_maps_newest_photo_known(
    tmp_path: Path,
) -> None:
    """The first ingest with the map was stopped once it had copied every photo (its status
    set as an interrupt leaves it); the run after it, which finished, filed nothing. The
    newest photo filed with the map from this card is still the stopped run's, so a photo
    of a camera whose clock runs behind (dated before that run started) is held."""
    folder, args = mapped_card(
        tmp_path, "IMG_0001-IMG_0099", "2026:03:16 09:01:00", "2026:03:16 09:02:00"
    )
    runner = CliRunner()
    assert runner.invoke(cli_app.app, ["ingest", *args]).exit_code == 0
    with closing(sqlite3.connect(tmp_path / "a" / ".cardingest" / "catalogue.sqlite")) as db, db:
        db.execute("UPDATE ingests SET status = 'interrupted'")
    assert runner.invoke(cli_app.app, ["ingest", *args]).exit_code == 0  # files nothing
    behind = datetime.now().replace(microsecond=0) - timedelta(hours=1)
    (folder / "IMG_0003.JPG").write_bytes(exif_jpeg(f"{behind:%Y:%m:%d %H:%M:%S}"))
    result = runner.invoke(cli_app.app, ["ingest", *args, "--json"])
    assert result.exit_code == 3, result.output
    items = {i["source"]: i for i in json.loads(result.stdout)["items"]}
    assert items["DCIM/100CANON/IMG_0003.JPG"]["reason"].startswith(
        "taken after every photo on this card when this very map "
        "was first used for it (the newest taken 2026-03-16 09:02:00, ingest "
    )


def test_a_first_use_of_the_map_that_was_stopped_still_dates_the_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The map's first ingest was stopped by Ctrl-C as it sealed its first copy. The next
    day, with a photo taken since and a clock offset set, the same map files what was left
    from the card as it was, and holds the new photo: the map was made for the photos on
    the card up to the newest one then, recorded (by the camera's clock) as the ingest
    began."""
    from cardingest.storage import transfer

    folder, args = mapped_card(
        tmp_path,
        "IMG_0001-IMG_0009",
        "2026:03:16 09:01:00",
        "2026:03:16 09:02:00",
        "2026:03:16 09:03:00",
    )
    seal = transfer._seal

    def ctrl_c_as_a_copy_is_sealed(temp: Any) -> None:
        seal(temp)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(transfer, "_seal", ctrl_c_as_a_copy_is_sealed)
    stopped = CliRunner().invoke(cli_app.app, ["ingest", *args])
    monkeypatch.undo()
    assert stopped.exit_code == 130, stopped.output
    with closing(sqlite3.connect(tmp_path / "a" / ".cardingest" / "catalogue.sqlite")) as db:
        [(status, recorded)] = db.execute("SELECT status, map_source FROM ingests").fetchall()
    assert status == "interrupted"
    assert recorded.endswith(" card newest:2026-03-16T09:03:00 card last:100-0003")
    filed = len(list((tmp_path / "a").glob("JBX3656/*.jpg")))
    assert filed < 3
    later = datetime.now().replace(microsecond=0) + timedelta(hours=2)
    (folder / "IMG_0004.JPG").write_bytes(exif_jpeg(f"{later:%Y:%m:%d %H:%M:%S}"))
    offset = ["--clock-offset", "+01:00"]  # set since: the camera's own times are compared
    result = CliRunner().invoke(cli_app.app, ["ingest", *args, *offset, "--json"])
    assert result.exit_code == 3, result.output
    items = {i["source"]: i for i in json.loads(result.stdout)["items"]}
    assert items.pop("DCIM/100CANON/IMG_0004.JPG")["reason"].startswith(
        "taken by the camera's clock after every photo on this "
        "card when this very map was first used for it (the newest taken 2026-03-16 09:03:00, "
        "ingest "
    )
    assert sorted(i["action"] for i in items.values()) == ["copy"] * (3 - filed) + ["skip"] * filed
    assert len(list((tmp_path / "a").glob("JBX3656/*.jpg"))) == 3


def test_a_shot_changed_in_the_camera_is_not_filed_under_a_second_patient(
    tmp_path: Path,
) -> None:
    """A photo archived under JBX3656, then rated in the camera (new bytes, same card name
    and capture time), and the card ingested again with a map that gives it to MCJ1984: the
    same shot would be filed under two patients. It stays on the card with the reason."""
    folder = tmp_path / "card" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    photo = folder / "IMG_0001.JPG"
    photo.write_bytes(exif_jpeg("2026:03:22 09:01:00"))
    archive = tmp_path / "a"
    runner = CliRunner()
    first = ["ingest", str(tmp_path / "card"), "--id", "JBX3656", "--archive", str(archive)]
    assert runner.invoke(cli_app.app, first).exit_code == 0
    photo.write_bytes(photo.read_bytes() + b"rated in the camera")
    idmap = tmp_path / "map.csv"
    idmap.write_text("files,id\nIMG_0001,MCJ1984\n", encoding="utf-8")
    again = ["ingest", str(tmp_path / "card"), "--map", str(idmap), "--archive", str(archive)]
    result = runner.invoke(cli_app.app, [*again, "--json"])
    assert result.exit_code == 3, result.output
    (item,) = json.loads(result.stdout)["items"]
    assert item["action"] == "hold"
    assert item["reason"].startswith(
        "patient JBX3656's photo JBX3656/JBX3656-20260322-090100.jpg came from the same card "
        "name DCIM/100CANON/IMG_0001.JPG with the same capture time (2026-03-22 09:01:00)"
    )
    assert not (archive / "MCJ1984").exists()
    meant = runner.invoke(cli_app.app, [*again, "--allow-other-patient"])
    assert meant.exit_code == 0, meant.output


def test_a_camera_with_its_clock_unset_is_not_taken_at_its_word_for_an_old_name(
    tmp_path: Path,
) -> None:
    """Its numbers and its factory clock both started again: new photos under the card
    names and times of photos archived under the map's patient. Equal times prove nothing
    on such a clock, so the photos stay on the card as from a camera whose numbers started
    again."""
    folder, args = mapped_card(
        tmp_path, "IMG_0001-IMG_0002", "2000:01:01 00:00:01", "2000:01:01 00:00:02"
    )
    runner = CliRunner()
    assert runner.invoke(cli_app.app, ["ingest", *args, "--wipe", "--yes"]).exit_code == 0
    for n in (1, 2):
        new = exif_jpeg(f"2000:01:01 00:00:0{n}") + b"another patient's photo"
        (folder / f"IMG_000{n}.JPG").write_bytes(new)
    result = runner.invoke(cli_app.app, ["ingest", *args, "--json"])
    assert result.exit_code == 3, result.output
    items = json.loads(result.stdout)["items"]
    assert [i["action"] for i in items] == ["hold", "hold"]
    assert "the camera started its numbers again" in items[0]["reason"]


@pytest.mark.parametrize(
    "args",
    [
        ["preview", "--id", "JBX3656", "--id", "MCJ1984"],
        ["move", "--from", "JBX3656", "--from=EPT6335", "--to", "ACA31FM"],
        ["tag", "JBX3656", "--consent", "record", "--consent", "publication"],
    ],
)
def test_an_option_given_twice_is_refused_not_the_last_taken(
    tmp_path: Path, args: list[str]
) -> None:
    """`--id A --id B` filed every photo under B without a word; the second --from of a
    move was the only one moved. Given twice, such an option is exit 2, nothing done (said
    on stderr alone by tag, which has no --json)."""
    ran = cardingest(*args, "--json", home=tmp_path)
    assert ran.code == 2, ran.stderr
    said = json.loads(ran.text)["error"]["message"] if args[0] != "tag" else ran.stderr.strip()
    assert said.endswith("is given twice; give it once (the last would win)"), said


def test_another_photo_of_an_archived_photos_name_size_and_time_is_not_called_archived(
    fat_card: CardFactory, tmp_path: Path
) -> None:
    """Two cards (FAT32, two serials) whose IMG_0100.JPG have one size and one capture time
    but other bytes (two cameras of one model; an edit saved in the camera): the second was
    reported "already archived" with exit 0 though it was in the archive nowhere. A card
    formatted on that word lost it. With a map too, the changed photo is a new one: a name
    archived before with the same capture time is this shot, not a restarted camera's."""
    require_samples()
    photo = (samples_real() / "Canon_40D.jpg").read_bytes()
    other, edited = bytearray(photo), bytearray(photo)
    other[-3000] ^= 0x33
    edited[-2000] ^= 0x01
    name = "DCIM/100CANON/IMG_0100.JPG"
    home, archive = tmp_path / "home", tmp_path / "archive"
    first = fat_card({name: photo}, label="CARDA", serial="1111-1111")
    second = fat_card({name: bytes(other)}, label="CARDB", serial="2222-2222")
    by_id = ("--id", "JBX3656", "--archive", archive, "--json")

    def only_item(run: Any) -> tuple[str, str | None, str | None]:
        [item] = run.json()["items"]
        return item["action"], item["target"], item["reason"]

    assert cardingest("ingest", first, *by_id, home=home).code == 0
    planned = cardingest("preview", second, *by_id, home=home)
    assert only_item(planned) == ("copy", "JBX3656/JBX3656-20080530-155601-2.jpg", None)
    done = cardingest("ingest", second, *by_id, home=home)
    assert done.code == 0, done.stderr
    assert only_item(done)[0] == "copy"
    assert (archive / "JBX3656" / "JBX3656-20080530-155601-2.jpg").read_bytes() == other
    again = cardingest("ingest", second, *by_id, home=home)
    assert again.code == 0, again.stderr
    assert only_item(again) == ("skip", "JBX3656/JBX3656-20080530-155601-2.jpg", "already archived")

    with open(first / name, "r+b") as card_file:  # in place, same size: a camera's rotation
        card_file.seek(len(photo) - 2000)
        card_file.write(edited[-2000:-1999])
    id_map = tmp_path / "map.csv"
    id_map.write_text("files,id\nIMG_0100,JBX3656\n", encoding="utf-8")
    mapped = cardingest("ingest", first, "--map", id_map, *by_id[2:], home=home)
    assert mapped.code == 0, mapped.stderr  # its own shot changed, not an old name reused
    assert only_item(mapped)[:2] == ("copy", "JBX3656/JBX3656-20080530-155601-3.jpg")
    kept = sorted(p.read_bytes() for p in (archive / "JBX3656").glob("*.jpg"))
    assert kept == sorted([photo, bytes(other), bytes(edited)])


@pytest.mark.parametrize("lost", ["removed", "emptied", "removed with the audit log"])
def test_an_archive_whose_catalogue_was_lost_is_refused_not_started_again(
    card: Path, tmp_path: Path, lost: str
) -> None:
    """A new, empty catalogue would not know the photos already filed: the same card under
    another ID would then be filed a second time, under that patient. A trial's archive
    that had lost its audit log too was taken for a new one: its manifests tell."""
    home, archive = tmp_path / "home", tmp_path / "archive"
    first = cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home)
    assert first.code == 0, first.stderr
    catalogue = archive / ".cardingest" / "catalogue.sqlite"
    for leftover in catalogue.parent.glob("catalogue.sqlite*"):
        leftover.unlink()
    if lost == "emptied":
        catalogue.write_bytes(b"")
    told = "the audit log"
    if lost.endswith("audit log"):
        for log in catalogue.parent.glob("audit.*"):
            log.unlink()
        told = "the archive holds the manifests of 1 earlier ingest(s)"
    before = sorted(p.relative_to(archive) for p in archive.rglob("*"))
    state = "empty" if lost == "emptied" else "missing"
    for command in ("preview", "ingest"):
        run = cardingest(command, card, "--id", "ACA31FM", "--archive", archive, home=home)
        said = " ".join(run.stderr.split())
        assert run.code == 1, said
        assert f"The catalogue {catalogue} is {state}, but {told}" in said
        assert "Restore catalogue.sqlite" in said
    for command in (("verify",), ("search", "--id", "JBX3656"), ("wipe", card, "--dry-run")):
        run = cardingest(*command, "--archive", archive, home=home)
        said = " ".join(run.stderr.split())
        assert run.code == 1 and f"is {state}, but {told}" in said, said
    assert sorted(p.relative_to(archive) for p in archive.rglob("*")) == before
    assert not (archive / "ACA31FM").exists()


def test_an_archive_whose_photo_records_were_deleted_is_refused_not_filed_again(
    card: Path, tmp_path: Path
) -> None:
    """The catalogue still there, its photo records deleted (``DELETE FROM files``): the
    same card under another ID was filed a second time, under that patient. The ingests'
    own counts say photos were copied: refused, as with a catalogue gone."""
    import sqlite3

    home, archive = tmp_path / "home", tmp_path / "archive"
    first = cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home)
    assert first.code == 0, first.stderr
    with sqlite3.connect(archive / ".cardingest" / "catalogue.sqlite") as db:
        db.execute("DELETE FROM keywords")
        db.execute("DELETE FROM files")
    for command in ("preview", "ingest"):
        run = cardingest(command, card, "--id", "ACA31FM", "--archive", archive, home=home)
        assert run.code == 1, run.stderr
        said = " ".join(run.stderr.split())
        assert f"The catalogue of {archive} holds no photo records, but its ingests record" in said
    assert not (archive / "ACA31FM").exists()


def test_a_catalogue_restored_from_before_the_last_ingest_is_refused(
    card: Path, tmp_path: Path
) -> None:
    """``catalogue.sqlite`` put back from a backup older than the last ingest (a card filed
    for JBX3656 since): that card under another ID was filed a second time, under that
    patient. The manifest of the ingest the catalogue does not know says so: refused. With
    no newer catalogue, its manifest moved aside (as the message says) lets the archive go
    on, and verify lists the photos that ingest filed; a ``._`` file is no manifest."""
    home, archive = tmp_path / "home", tmp_path / "archive"
    other = tmp_path / "other"
    (other / "DCIM" / "100CANON").mkdir(parents=True)
    (other / "DCIM" / "100CANON" / "IMG_0001.JPG").write_bytes(exif_jpeg("2020:01:01 10:00:00"))
    first = cardingest("ingest", other, "--id", "ACA31FM", "--archive", archive, home=home)
    assert first.code == 0, first.stderr
    records = archive / ".cardingest" / "catalogue.sqlite"
    old = tmp_path / "catalogue-backup.sqlite"
    shutil.copy(records, old)
    second = cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home)
    assert second.code == 0, second.stderr
    shutil.copy(old, records)
    for command in ("preview", "ingest"):
        run = cardingest(command, card, "--id", "MCJ1984", "--archive", archive, home=home)
        assert run.code == 1, run.stderr
        said = " ".join(run.stderr.split())
        assert f"The catalogue of {archive} does not know 1 of the ingests whose" in said, said
    assert not (archive / "MCJ1984").exists()
    manifests = archive / ".cardingest" / "manifests"
    [unknown] = [m for m in manifests.iterdir() if m.stem in said]
    (manifests / f"._{unknown.name}").write_bytes(b"\0")  # macOS's on an exFAT or SMB drive
    aside = tmp_path / "aside"
    aside.mkdir()
    unknown.rename(aside / unknown.name)  # the way out the message gives, with no newer one
    run = cardingest("preview", card, "--id", "MCJ1984", "--archive", archive, home=home)
    assert run.code == 0, run.stderr
    check = cardingest("verify", "--archive", archive, "--json", home=home)
    assert check.code == 1 and b"JBX3656/" in check.stdout, check.stderr


def test_a_run_with_another_clock_offset_says_the_archived_names_keep_the_first(
    tmp_path: Path,
) -> None:
    """The card ingested with --clock-offset +01:00, then again without it (or with a
    corrected one): the photos filed before are skipped under the names the first offset
    gave them. The preview and the ingest say so, rather than leave the operator to think
    the new offset renamed them; the same offset again says nothing."""
    dated_photos(
        tmp_path / "card" / "DCIM" / "100CANON", "2026:03:16 09:01:00", "2026:03:16 09:02:00"
    )
    args = [str(tmp_path / "card"), "--id", "JBX3656", "--archive", str(tmp_path / "a"), "--json"]
    runner = CliRunner()
    first = runner.invoke(cli_app.app, ["ingest", *args, "--clock-offset", "+01:00"])
    assert first.exit_code == 0, first.output
    ingest_id = json.loads(first.stdout)["ingest_id"]
    for command in ("preview", "ingest"):
        result = runner.invoke(cli_app.app, [command, *args])
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        assert [i["action"] for i in document["items"]] == ["skip", "skip"]
        assert document["warnings"] == [
            f"2 photo(s) on the card were archived before with clock offset +01:00:00 (ingest "
            f"{ingest_id}; first: JBX3656/JBX3656-20260316-100100.jpg), and keep the names and "
            "times that offset gave them; this run's +00:00:00 applies only to the photos it "
            "files"
        ]
    again = runner.invoke(cli_app.app, ["preview", *args, "--clock-offset", "+01:00"])
    assert json.loads(again.stdout)["warnings"] == []


def test_every_problem_of_a_map_is_listed_in_one_run(tmp_path: Path) -> None:
    """A map with a mistyped ID and a range that matches no photo: both in one message, in
    line order (exit 2), not the ID first and the range only once the ID is put right. The
    row with the bad ID has its range checked too. Without the card, the map's own problems
    are listed as before."""
    dated_photos(tmp_path / "card" / "DCIM" / "100CANON", "2026:03:16 09:01:00")
    idmap = tmp_path / "m.csv"
    idmap.write_text(
        "files,id\nIMG_0050-IMG_0060,MCJ1984\nIMG_0001,JBX3657\nIMG_0007,ZZZ0044\n",
        encoding="utf-8",
    )
    archive = ["--archive", str(tmp_path / "a"), "--json"]
    result = CliRunner().invoke(
        cli_app.app, ["preview", str(tmp_path / "card"), "--map", str(idmap), *archive]
    )
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["message"] == f"{idmap}: 4 problem(s) in the ID map"
    assert [detail.split(": ")[0:2] for detail in error["details"]] == [
        ["line 2", "files 'IMG_0050-IMG_0060' matches no file on the card"],
        ["line 3", "id"],
        ["line 4", "id"],
        ["line 4", "files 'IMG_0007' matches no file on the card"],
    ]
    result = CliRunner().invoke(
        cli_app.app, ["preview", str(tmp_path / "gone"), "--map", str(idmap), *archive]
    )
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["error"]["message"] == f"{idmap}: 2 problem(s) in the ID map"


def test_a_catalogue_file_this_account_may_not_write_says_what_to_do(
    card: Path, tmp_path: Path
) -> None:
    """A trial: `chmod 400` on the catalogue file gave SQLite's "attempt to write a readonly
    database" and nothing more."""
    require(os.geteuid() == 0 and shutil.which("setpriv") is not None, "needs root and setpriv")
    archive, home = tmp_path / "archive", tmp_path / "home"
    first = cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home)
    assert first.code == 0, first.stderr
    (archive / ".cardingest" / "catalogue.sqlite").chmod(0o400)
    ran = cardingest("tag", "JBX3656", "--diagnosis", "bcc", "--archive", archive, home=home,
                     prefix=("setpriv", *NO_OVERRIDE))  # fmt: skip
    said = " ".join(ran.stderr.split())
    assert ran.code == 1 and "readonly database: this account may not write the catalogue" in said
    assert "nothing was changed" in said, said
