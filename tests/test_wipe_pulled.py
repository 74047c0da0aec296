"""A card pulled (its FUSE driver killed) during a wipe, on real FAT32 through fusefat: one
error, exit 1, saying what was removed; not a "kept" line for every file left, exit 3, nor
"the card is read-only" (an outside tester's report)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cardimage import CardFactory
from exif_bytes import exif_jpeg
from typer.testing import CliRunner

from cardingest import wipe
from cardingest.cli import app as cli_app
from cardingest.errors import EXIT_FAILURE, EXIT_OK

FILES = {f"DCIM/100CANON/IMG_000{n}.JPG": exif_jpeg(f"2026:01:02 10:00:0{n}") for n in (1, 2, 3)}


def run(*args: str | Path) -> tuple[int, dict[str, Any], str]:
    ran = CliRunner().invoke(cli_app.app, [str(a) for a in args])
    return ran.exit_code, json.loads(ran.stdout) if ran.stdout.strip() else {}, ran.stderr


def ingested(tmp_path: Path, fat_card: CardFactory) -> tuple[Path, Path]:
    card, archive = fat_card(FILES), tmp_path / "archive"
    code, _document, stderr = run("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    assert code == EXIT_OK, stderr
    return card, archive


def test_a_card_pulled_after_the_check_is_one_error_and_nothing_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fat_card: CardFactory
) -> None:
    card, archive = ingested(tmp_path, fat_card)
    real = wipe.require_card_still_there

    def pulled_first(root: Path) -> None:
        fat_card.handle(card).pull()
        real(root)

    monkeypatch.setattr(wipe, "require_card_still_there", pulled_first)
    code, document, stderr = run("wipe", card, "--archive", archive, "--yes", "--json")
    assert code == EXIT_FAILURE, (document, stderr)
    said = " ".join(stderr.split())
    assert "was removed (or its driver stopped) while the wipe checked it: nothing was" in said
    assert "read-only" not in said and document["error"]["exit"] == EXIT_FAILURE


def test_a_card_pulled_between_removals_says_how_many_went(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fat_card: CardFactory
) -> None:
    card, archive = ingested(tmp_path, fat_card)
    real = wipe._Remover.remove
    calls: list[str] = []

    def pulled_after_one(self: Any, item: Any) -> Any:
        calls.append(item.source)
        if len(calls) == 2:
            fat_card.handle(card).pull()
        return real(self, item)

    monkeypatch.setattr(wipe._Remover, "remove", pulled_after_one)
    code, document, stderr = run("wipe", card, "--archive", archive, "--yes", "--json")
    assert code == EXIT_FAILURE, (document, stderr)
    said = " ".join(stderr.split())
    assert f"The card at {card} stopped accepting changes (pulled out?)" in said, said
    assert "1 file(s) were removed before this" in said and "kept:" not in said


def test_a_card_pulled_before_the_check_read_a_file_is_one_error_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fat_card: CardFactory
) -> None:
    """Every read failed, so no file was proven and none was to be removed: exit 3 and a
    "cannot be read from the card" line for each file, as if the card had kept them."""
    card, archive = ingested(tmp_path, fat_card)
    real = wipe._read_card

    def pulled(path: Path) -> Any:
        fat_card.handle(card).pull()
        return real(path)

    monkeypatch.setattr(wipe, "_read_card", pulled)
    code, document, stderr = run("wipe", card, "--archive", archive, "--yes", "--json")
    assert code == EXIT_FAILURE, (document, stderr)
    assert (
        "was removed (or its driver stopped) while the wipe checked it"
        in document["error"]["message"]
    )


@pytest.mark.parametrize("dry_run", [False, True], ids=["wipe", "dry run"])
def test_a_card_pulled_while_checked_shows_no_table_of_files_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fat_card: CardFactory, dry_run: bool
) -> None:
    """A trial: a card pulled during the wipe's check printed its whole table, each file
    "keep | cannot be read from the card (Transport endpoint is not connected)", and "0
    proven archived, to remove, 178 to keep", before the error; the dry run showed the table
    alone, exit 3, as if the card had kept them. Both are the one error now."""
    card, archive = ingested(tmp_path, fat_card)
    real = wipe._read_card
    reads: list[Path] = []

    def pulled_after_one(path: Path) -> Any:
        reads.append(path)
        if len(reads) == 2:
            fat_card.handle(card).pull()
        return real(path)

    monkeypatch.setattr(wipe, "_read_card", pulled_after_one)
    extra = ("--dry-run",) if dry_run else ("--yes",)
    ran = CliRunner().invoke(cli_app.app, ["wipe", str(card), "--archive", str(archive), *extra])
    assert ran.exit_code == EXIT_FAILURE, ran.output
    assert "while the wipe checked it" in " ".join(ran.stderr.split())
    assert "cannot be read from the card" not in ran.output and "to keep" not in ran.output


@pytest.mark.parametrize("command", ["wipe", "preview", "ingest"])
def test_a_card_pulled_before_the_command_is_gone_not_bad_input(
    tmp_path: Path, fat_card: CardFactory, command: str
) -> None:
    """The mount of a card pulled while mounted (its FUSE driver gone) answers ENOTCONN:
    "Cannot read source …: Transport endpoint is not connected", exit 2 (input to fix), as
    if the path were mistyped. It is the card gone, exit 1, and what to do."""
    card, archive = ingested(tmp_path, fat_card)
    fat_card.handle(card).pull()
    given = ("--yes",) if command == "wipe" else ("--id", "JBX3656")
    code, document, _stderr = run(command, card, "--archive", archive, *given, "--json")
    assert code == EXIT_FAILURE, document
    said = document["error"]["message"]
    assert said.startswith(f"The card at {card} is gone (Transport endpoint is not connected)")
    assert "Insert it again and run the command again." in said
