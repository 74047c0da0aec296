"""A Ctrl-C that comes as the ingest takes in a published copy: the copy is catalogued
before the ingest stops (fault scenario 2 met this only now and then, by timing; here the
signal is sent at the one moment that matters, every time)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from clinic_helpers import cli
from test_folder_syncs import card_of

from cardingest import ingest
from cardingest.archive.catalogue import Catalogue
from cardingest.cli.signals import as_ctrl_c
from cardingest.storage.interrupts import held_interrupts

PHOTOS = 12


def catalogued(archive: Path) -> set[str]:
    with Catalogue.open(archive, create=False) as catalogue:
        return {record.archive_path for record in catalogue.records()}


def published(archive: Path) -> set[str]:
    return {f"JBX3656/{path.name}" for path in (archive / "JBX3656").glob("*.jpg")}


@pytest.mark.parametrize("taken", [1, 3, PHOTOS])
def test_a_ctrl_c_as_a_published_copy_is_taken_in_leaves_it_catalogued(
    taken: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card, archive = card_of(tmp_path / "card", PHOTOS), tmp_path / "archive"
    real_settle = ingest._settle
    calls = 0

    def settle_after_a_ctrl_c(*args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == taken:
            os.kill(os.getpid(), signal.SIGINT)  # acted on at the next bytecode, right here
        return real_settle(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "_settle", settle_after_a_ctrl_c)
    result = cli("ingest", card, "--id", "JBX3656", "--archive", archive)
    assert result.exit_code == 130, result.output
    assert "Interrupted" in result.stderr
    assert calls >= taken
    named = published(archive)
    assert len(named) >= taken
    assert named == catalogued(archive), "a photo was named and not catalogued"
    # A trial: its publish journal was kept, every photo it named recorded, and every later
    # command warned "ingest … is running, or it stopped before it recorded …".
    assert not list((archive / ".cardingest" / "journal").iterdir())
    checked = cli("verify", "--archive", archive)
    assert checked.exit_code == 0 and "is running" not in checked.stderr, checked.stderr

    monkeypatch.setattr(ingest, "_settle", real_settle)
    again = cli("ingest", card, "--id", "JBX3656", "--archive", archive)
    assert again.exit_code == 0, again.output
    assert "stopped after it copied" not in again.stderr  # nothing left for the journal
    assert len(catalogued(archive)) == PHOTOS == len(published(archive))


def test_a_ctrl_c_just_after_a_copy_is_taken_in_records_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy taken in last is handed back as the ingest stops (it may not have been taken
    in): one row for it all the same."""
    card, archive = card_of(tmp_path / "card", PHOTOS), tmp_path / "archive"
    calls = 0

    @contextmanager
    def then_a_ctrl_c() -> Iterator[None]:
        nonlocal calls
        with held_interrupts():
            yield
        calls += 1
        if calls == 1 + 3:  # the hold from the ingest's record to its copies, then 3 copies
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(ingest, "held_interrupts", then_a_ctrl_c)
    result = cli("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    assert result.exit_code == 130, result.output
    named = published(archive)
    assert len(named) >= 3
    assert named == catalogued(archive)
    with Catalogue.open(archive, create=False) as catalogue:
        assert len(list(catalogue.records())) == len(named)
    said = json.loads(result.stdout)["error"]["message"]
    assert said.startswith(f"Interrupted after {len(named)} of {PHOTOS} photo(s) were copied")
    lines = (archive / ".cardingest" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    event = json.loads(lines[-1])
    assert (event["event"], event["status"]) == ("ingest", "interrupted")
    assert event["bytes"] == sum((archive / path).stat().st_size for path in named)


@pytest.mark.parametrize("when", ["_write_manifests", "_record_sightings"])
def test_a_ctrl_c_as_the_run_closes_waits_for_its_records(
    when: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The testers' case: Ctrl-C after the last copy, as the manifest was written. The
    ingest stayed "running" with no audit event (on a first ingest, no audit log at all).
    Now its records close whole, and then it stops (exit 130)."""
    card, archive = card_of(tmp_path / "card", PHOTOS), tmp_path / "archive"
    real = getattr(ingest, when)

    def then_a_ctrl_c(*args: object) -> object:
        os.kill(os.getpid(), signal.SIGINT)
        return real(*args)

    monkeypatch.setattr(ingest, when, then_a_ctrl_c)
    result = cli("ingest", card, "--id", "JBX3656", "--archive", archive)
    assert result.exit_code == 130, result.output
    lines = (archive / ".cardingest" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    event = json.loads(lines[-1])
    assert (event["event"], event["status"], event["counts"]["copied"]) == (
        "ingest",
        "finished",
        PHOTOS,
    )
    with Catalogue.open(archive, create=False) as catalogue:
        [run] = catalogue.ingests()
    assert run["status"] == "finished"
    assert (archive / run["manifest"]).read_text(encoding="utf-8").count("\n") == PHOTOS
    monkeypatch.setattr(ingest, when, real)
    again = cli("ingest", card, "--id", "JBX3656", "--archive", archive)
    assert again.exit_code == 0 and "stopped" not in again.stderr, again.output


def test_a_ctrl_c_as_the_run_sets_up_its_copies_closes_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The testers' case: Ctrl-C after the ingest's record began, while the content index
    of a large card was built. The ingest stayed "running" with no audit event. Now it is
    closed as interrupted, with its event, before anything was copied."""
    card, archive = card_of(tmp_path / "card", PHOTOS), tmp_path / "archive"
    real = ingest._KnownContent

    def then_a_ctrl_c(*args: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        return real(*args)

    monkeypatch.setattr(ingest, "_KnownContent", then_a_ctrl_c)
    result = cli("ingest", card, "--id", "JBX3656", "--archive", archive)
    assert result.exit_code == 130, result.output
    assert f"Interrupted after 0 of {PHOTOS} photo(s)" in " ".join(result.stderr.split())
    lines = (archive / ".cardingest" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    event = json.loads(lines[-1])
    assert (event["event"], event["status"], event["counts"]["copied"]) == (
        "ingest",
        "interrupted",
        0,
    )
    with Catalogue.open(archive, create=False) as catalogue:
        [run] = catalogue.ingests()
    assert run["status"] == "interrupted"
    assert not (archive / "JBX3656").exists() or not list((archive / "JBX3656").iterdir())


def test_held_interrupts_nest() -> None:
    with pytest.raises(KeyboardInterrupt), held_interrupts():
        with held_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # the inner one came out to the outer: held
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler


def test_held_interrupts_hands_each_signal_to_the_handler_in_place_at_the_end() -> None:
    came: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: came.append(signum))
    try:
        with held_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            assert came == []
        assert came == [signal.SIGINT, signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_held_interrupts_raises_keyboard_interrupt_after_the_block_by_default() -> None:
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt), held_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        steps.append("finished")
    assert steps == ["finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_sigterm_held_where_sigint_is_ignored_stops_after_the_block() -> None:
    """A background job ignores SIGINT; SIGTERM (routed as Ctrl-C by the console script)
    still stops it, after the block, and a SIGINT stays ignored."""
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, as_ctrl_c)
    steps: list[str] = []
    try:
        with held_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("ignored")
        with pytest.raises(KeyboardInterrupt), held_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("finished")
        assert steps == ["ignored", "finished"]
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


@pytest.mark.parametrize("wipe", [False, True], ids=["ingest", "ingest --wipe"])
def test_a_ctrl_c_as_the_summary_is_printed_says_the_ingest_had_finished(
    wipe: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run is recorded whole by then: not the generic "run again to finish", but what was
    done, and with ``--wipe`` that the card was not wiped (running it again does that)."""
    from cardingest.cli import app as cli_app

    card, archive = card_of(tmp_path / "card", 3), tmp_path / "archive"
    real_print = cli_app.print_result

    def print_then_ctrl_c(*args: Any) -> None:
        real_print(*args)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(cli_app, "print_result", print_then_ctrl_c)
    extra = ("--wipe", "--yes") if wipe else ()
    result = cli("ingest", card, "--id", "JBX3656", "--archive", archive, *extra)
    assert result.exit_code == 130, result.output
    said = "Interrupted after the ingest had finished; 3 photo(s) were copied and verified"
    assert said in result.stderr
    assert "Nothing is left half-written" not in result.stderr
    assert ("not wiping the card; run the same command again to finish" in result.stderr) == wipe
    assert len(list(card.rglob("*.JPG"))) == 3  # nothing wiped
    assert published(archive) == catalogued(archive) and len(catalogued(archive)) == 3

    monkeypatch.setattr(cli_app, "print_result", real_print)
    again = cli("ingest", card, "--id", "JBX3656", "--archive", archive, *extra)
    assert again.exit_code == 0, again.output
    assert "0 copied and verified" in again.stdout and "3 already archived" in again.stdout
    assert (list(card.rglob("*.JPG")) == []) == wipe


def test_a_ctrl_c_as_the_json_document_is_written_says_what_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``--json`` and ``--wipe`` the document comes after the wipe: a Ctrl-C then says
    that the ingest and the wipe it reports ran (a trial got "run again to finish"); the
    one document on stdout is the error's."""
    from cardingest.cli import app as cli_app

    card, archive = card_of(tmp_path / "card", 3), tmp_path / "archive"
    real_emit = cli_app.output.emit_json

    def ctrl_c_then_emit(document: Any) -> None:
        if "error" not in document:
            os.kill(os.getpid(), signal.SIGINT)
        real_emit(document)

    monkeypatch.setattr(cli_app.output, "emit_json", ctrl_c_then_emit)
    args = ("--id", "JBX3656", "--archive", archive, "--wipe", "--yes", "--json")
    result = cli("ingest", card, *args)
    assert result.exit_code == 130, result.output
    error = json.loads(result.stdout)["error"]
    assert error["message"].startswith(
        "Interrupted after the ingest had finished: the JSON document is lost; the ingest and "
        "the wipe it reports ran"
    ), error
    assert list(card.rglob("*.JPG")) == [] and len(catalogued(archive)) == 3
