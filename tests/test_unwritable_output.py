"""Standard output that cannot be written: closed (``>&-``), ``/dev/full``, a pipe whose
reader has gone (``| head -1``), a disk that fills. Never a traceback: one line on stderr,
and an exit code true to what happened to the photos. Known when the command starts, nothing
is done (exit 2). Found after the copy, the photos stay archived and nothing further is done:
no send, no wipe (exit 1). Standard error that cannot be written changes no exit code.

Each runs the installed command as a subprocess with its stdout (or stderr) made so; the
one pause (`ingest-file-wait`, tests/faults/inject.py) waits for a line, not for a time.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import pexpect
import pytest
from badinput_helpers import CARDINGEST, cardingest, dated_card, environment
from terminal import injected, on_terminal

NAMES = ("IMG_0001.JPG", "IMG_0002.JPG")


def on_card(card: Path) -> list[str]:
    return sorted(p.name for p in (card / "DCIM" / "100CANON").iterdir())


def archived(archive: Path) -> list[Path]:
    return sorted(p for p in archive.rglob("*") if p.suffix.lower() == ".jpg")


def run(
    args: Sequence[str | Path],
    home: Path,
    *,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = subprocess.PIPE,
    shell_redirect: str = "",
    env: dict[str, str] | None = None,
    **popen: Any,
) -> tuple[int, str]:
    """The command run to its end with this stdout and stderr: (exit code, stderr).
    ``shell_redirect`` (``>&-``) runs it through sh with that redirection."""
    command = [CARDINGEST, *map(str, args)]
    if shell_redirect:
        command = ["sh", "-c", f'exec "$0" "$@" {shell_redirect}', *command]
    done = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=environment(home, env),
        timeout=300,
        **popen,
    )
    said = done.stderr.decode("utf-8", "replace") if done.stderr is not None else ""
    assert "Traceback" not in said and "Exception ignored" not in said, said
    return done.returncode, said


def errors(said: str) -> list[str]:
    return [line for line in said.splitlines() if line.startswith("error:")]


def ingest_args(card: Path, archive: Path, *more: str) -> list[str | Path]:
    return ["ingest", card, "--id", "JBX3656", "--archive", archive, *more]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("how", ["dev-full", "closed", "no-reader"])
def test_stdout_that_cannot_be_written_at_the_start_is_refused_before_anything(
    tmp_path: Path, how: str, as_json: bool
) -> None:
    card, archive = dated_card(tmp_path / "card"), tmp_path / "archive"
    args = ingest_args(card, archive, "--wipe", "--yes", *(["--json"] if as_json else []))
    if how == "dev-full":
        with open("/dev/full", "wb") as full:
            code, said = run(args, tmp_path / "home", stdout=full)
    elif how == "closed":
        code, said = run(args, tmp_path / "home", shell_redirect=">&-")
    else:
        reader, writer = os.pipe()
        os.close(reader)  # a `| head -1` that has already gone
        try:
            code, said = run(args, tmp_path / "home", stdout=writer)
        finally:
            os.close(writer)
    assert code == 2, said
    [line] = said.splitlines()
    assert line.startswith("error: Standard output cannot be written"), line
    assert "nothing was done" in line
    assert not archive.exists()
    assert on_card(card) == list(NAMES)


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["cards", "--json"]])
def test_any_command_is_refused_so(tmp_path: Path, args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        code, said = run(args, tmp_path / "home", stdout=full)
    assert code == 2, said
    assert said.startswith("error: Standard output cannot be written (No space left on device)")


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_reader_gone_during_the_copy_leaves_the_photos_archived_and_the_card_unwiped(
    tmp_path: Path, as_json: bool
) -> None:
    """The reader of stdout leaves while the photos are copied (the command is paused after
    its first photo): the copy finishes and stays verified; the report cannot be given, so
    the wipe that would follow it is not done. Exit 1, not 2: photos were copied."""
    card, archive = dated_card(tmp_path / "card"), tmp_path / "archive"
    args = ingest_args(card, archive, "--wipe", "--yes", *(["--json"] if as_json else []))
    reader, writer = os.pipe()
    process = subprocess.Popen(
        injected("ingest-file-wait", *args),
        stdin=subprocess.PIPE,
        stdout=writer,
        stderr=subprocess.PIPE,
        env=environment(tmp_path / "home"),
        text=True,
    )
    os.close(writer)
    assert process.stdin is not None and process.stderr is not None
    for line in process.stderr:
        if "HOOK-REACHED" in line:
            break
    os.close(reader)  # the reader goes: `| head -1` has its line
    process.stdin.write("\n")
    process.stdin.close()
    said = process.stderr.read()
    assert process.wait(timeout=300) == 1, said
    assert "Traceback" not in said and "Exception ignored" not in said, said
    [line] = errors(said)
    assert line.startswith("error: Standard output cannot be written (Broken pipe)"), line
    assert "2 photo(s) were copied and verified into the archive" in line
    assert "not wiping the card" in line
    assert len(archived(archive)) == 2
    assert on_card(card) == list(NAMES)


def test_a_reader_gone_at_the_wipes_question_keeps_every_photo_on_the_card(
    tmp_path: Path,
) -> None:
    """`wipe` at a terminal, its stdout a pipe: the reader goes while the question waits, and
    the yes given then removes nothing (the wipe looks again right before its first
    removal). Exit 1."""
    card, archive, home = dated_card(tmp_path / "card"), tmp_path / "archive", tmp_path / "home"
    assert cardingest(*ingest_args(card, archive), home=home).code == 0
    fifo = tmp_path / "stdout.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # there before the command's open
    child = on_terminal(
        "sh",
        ["-c", f'exec "$0" "$@" > "{fifo}"', CARDINGEST, "wipe", card, "--archive", archive],
        {**environment(home), "TERM": "dumb"},
    )
    child.expect(r"\[y/N\]:")
    os.close(reader)
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    said = child.before or ""
    assert child.exitstatus == 1, said
    assert "Traceback" not in said
    assert "Standard output cannot be written (Broken pipe): nothing was removed from the card" in (
        said.replace("\r\n", " ").replace("\n", " ")
    )
    assert on_card(card) == list(NAMES)


@pytest.mark.parametrize("wipe", [True, False])
def test_a_json_document_lost_only_when_written_says_what_was_done(
    tmp_path: Path, wipe: bool
) -> None:
    """A disk that fills as the document is written (here a file size limit just past what
    stdout already holds): only the write itself can tell, after the wipe. The message says
    the document is lost and where the record of the ingest and wipe is; exit 1."""
    card, archive = dated_card(tmp_path / "card"), tmp_path / "archive"
    limit = 8 * 1024 * 1024
    out = tmp_path / "out.json"
    with open(out, "wb") as handle:
        handle.truncate(limit - 16)

    def file_size_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    with open(out, "ab") as handle:
        code, said = run(
            ingest_args(card, archive, *(["--wipe", "--yes"] if wipe else []), "--json"),
            tmp_path / "home",
            stdout=handle,
            preexec_fn=file_size_limit,
        )
    assert code == 1, said
    [line] = errors(said)
    assert line.startswith("error: Standard output cannot be written (File too large)"), line
    assert "the JSON document is lost" in line and "audit log" in line
    assert len(archived(archive)) == 2
    audit = (archive / ".cardingest" / "audit.jsonl").read_text(encoding="utf-8")
    if wipe:
        assert "the ingest and the wipe it reports ran" in line and "what each did" in line
        assert on_card(card) == []  # the wipe was done: the audit log has it
        assert '"wipe-remove"' in audit
    else:
        assert "the ingest it reports ran" in line and "records what it did" in line
        assert len(on_card(card)) == 2 and '"wipe-remove"' not in audit


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("how", ["dev-full", "closed"])
def test_stderr_that_cannot_be_written_changes_no_exit_code(
    tmp_path: Path, how: str, as_json: bool
) -> None:
    """One photo held by the map (exit 3) and a video warned about on stderr."""
    card, archive = dated_card(tmp_path / "card"), tmp_path / "archive"
    (card / "DCIM" / "100CANON" / "MVI_0003.MOV").write_bytes(b"a video")
    idmap = tmp_path / "map.csv"
    idmap.write_text("files,id\nIMG_0001,JBX3656\n", encoding="utf-8")
    args = ["ingest", card, "--map", idmap, "--archive", archive, *(["--json"] * as_json)]
    out = tmp_path / "out.txt"
    with open(out, "wb") as stdout:
        if how == "dev-full":
            with open("/dev/full", "wb") as full:
                code, _ = run(args, tmp_path / "home", stdout=stdout, stderr=full)
        else:
            code, _ = run(
                args, tmp_path / "home", stdout=stdout, stderr=None, shell_redirect="2>&-"
            )
    text = out.read_text(encoding="utf-8")
    assert code == 3, text
    if as_json:
        assert json.loads(text)["summary"]["held"] >= 1
    else:
        assert text.splitlines()[-1].startswith("Ingest "), text
    assert len(archived(archive)) == 1


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_an_option_the_parser_refuses_is_exit_2_whatever_stderr_is(
    tmp_path: Path, as_json: bool
) -> None:
    """Click says "No such option" on stderr itself: its failure there is no exit 1."""
    with open("/dev/full", "wb") as full:
        code, _ = run(
            ["ingest", "--no-such-option", *(["--json"] * as_json)],
            tmp_path / "home",
            stdout=subprocess.DEVNULL,
            stderr=full,
        )
    assert code == 2


def test_a_closed_stdin_is_no_terminal(tmp_path: Path) -> None:
    card = dated_card(tmp_path / "card")
    code, said = run(
        ["preview", card, "--archive", tmp_path / "archive"],
        tmp_path / "home",
        stdout=subprocess.DEVNULL,
        shell_redirect="<&-",
    )
    assert code == 2, said
    assert "--map" in said and "--id" in said


@pytest.mark.parametrize(
    "command",
    [["preview"], ["preview", "--json"], ["map-template", "--gap", "1"]],
    ids=["table", "json", "map-template"],
)
def test_a_reader_that_stops_reading_is_one_line_not_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    """`| head -1`: the reader takes a few bytes and goes while more than a pipe holds is
    still to come, so the command's next write meets the closed pipe whatever the timing."""
    card = dated_card(tmp_path / "card", count=1500, minutes=10)
    args = [*command[:1], card, *command[1:]]
    if command[0] == "preview":
        args += ["--id", "JBX3656", "--archive", tmp_path / "archive"]
    process = subprocess.Popen(
        [CARDINGEST, *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(tmp_path / "home"),
    )
    assert process.stdout is not None and process.stderr is not None
    assert os.read(process.stdout.fileno(), 100)
    process.stdout.close()
    said = process.stderr.read().decode("utf-8", "replace")
    assert process.wait(timeout=300) == 1, said
    assert "Traceback" not in said and "Exception ignored" not in said, said
    [line] = errors(said)
    assert line.startswith("error: Standard output cannot be written (Broken pipe)"), line
