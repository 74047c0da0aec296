"""An ingest stopped midway by an error (the catalogue's database gone) says what it had
copied, and that running it again finishes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clinic_helpers import cli
from exif_bytes import timed_card

from cardingest import ingest
from cardingest.errors import EXIT_FAILURE, EXIT_OK


def test_an_ingest_stopped_by_a_failing_catalogue_says_what_it_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for an ingest: its error said only "the connection is closed" (or, met
    again while the run closed its records, a later error in place of the first), with
    no word of what was copied or of running it again."""
    from cardingest.errors import CatalogueError

    card = tmp_path / "card"
    timed_card(card)
    archive = tmp_path / "archive"
    real = ingest.write_for_copy
    calls: list[object] = []

    def failing(*args: Any, **kwargs: Any) -> list[str]:
        calls.append(args)
        if len(calls) > 1:
            raise CatalogueError(
                "Catalogue: the connection is closed",
                details=["Nothing was copied or changed. Check the server."],
            )
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "write_for_copy", failing)
    args = ("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    result = cli(*args)
    assert result.exit_code == EXIT_FAILURE, result.output
    error = json.loads(result.stdout)["error"]
    said = " ".join([error["message"], *error.get("details", [])])
    assert "the connection is closed" in said and "Nothing was" not in said, said
    # The photo whose sidecar step failed was named, and those the copy workers named
    # meanwhile: all counted (the next run records them from the journal), not only the first.
    named = len(list((archive / "JBX3656").glob("*.jpg")))
    assert named >= 2, named
    assert f"The ingest stopped after {named} of 3 photo(s) were copied and verified" in said
    monkeypatch.setattr(ingest, "write_for_copy", real)
    again = cli(*args)
    assert again.exit_code == EXIT_OK, again.output
    assert cli("verify", "--archive", archive).exit_code == EXIT_OK
    assert len(list((archive / "JBX3656").glob("*.jpg"))) == 3


def test_an_error_first_met_while_the_run_closes_says_what_it_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database gone mid-run: each photo's claim failed, which holds that photo and goes
    on, so the first error came from writing the last rows, as the run closed, and was said
    bare. The photos copied are recorded by the next run, from the journal."""
    from cardingest.archive.catalogue import Catalogue
    from cardingest.errors import CatalogueError

    card = tmp_path / "card"
    timed_card(card)
    archive = tmp_path / "archive"

    def gone(*_args: Any, **_kwargs: Any) -> None:
        raise CatalogueError("Catalogue: the connection is closed")

    monkeypatch.setattr(Catalogue, "add", gone)
    args = ("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    result = cli(*args)
    assert result.exit_code == EXIT_FAILURE, result.output
    error = json.loads(result.stdout)["error"]
    said = " ".join([error["message"], *error.get("details", [])])
    assert "The ingest stopped after 3 of 3 photo(s) were copied and verified" in said, said
    monkeypatch.undo()
    again = cli(*args)
    assert again.exit_code == EXIT_OK, again.output
    assert cli("verify", "--archive", archive).exit_code == EXIT_OK
    assert len(list((archive / "JBX3656").glob("*.jpg"))) == 3


def test_a_wipe_after_the_ingest_that_cannot_start_says_the_ingest_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ingest --wipe` whose wipe met the database gone: "Nothing was copied or changed",
    just after the ingest had copied and recorded every photo."""
    from cardingest.cli import wipe as cli_wipe
    from cardingest.errors import CatalogueError

    card = tmp_path / "card"
    folder = timed_card(card)

    def gone(*_args: Any, **_kwargs: Any) -> None:
        raise CatalogueError(
            "Cannot reach the catalogue database: the database system is shutting down",
            details=["Nothing was copied or changed. Check the server, the network and the URL."],
        )

    monkeypatch.setattr(cli_wipe, "plan_wipe", gone)
    archive = tmp_path / "archive"
    result = cli("ingest", card, "--id", "JBX3656", "--archive", archive, "--wipe", "--yes")
    assert result.exit_code == EXIT_FAILURE, result.output
    said = " ".join(result.stderr.split())
    assert "The ingest copied and verified 3 photo(s) into the archive before the wipe" in said
    assert "Nothing was" not in said and len(list(folder.iterdir())) == 3, said


def test_a_ctrl_c_in_the_wipe_of_an_ingest_says_to_run_the_wipe_to_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said to run `cardingest wipe` "once this is put right": nothing was wrong."""
    from cardingest import wipe

    def interrupted(self: Any, item: Any) -> Any:
        raise KeyboardInterrupt

    card = tmp_path / "card"
    timed_card(card)
    monkeypatch.setattr(wipe._Remover, "remove", interrupted)
    args = ("ingest", card, "--id", "JBX3656", "--archive", tmp_path / "archive", "--wipe")
    result = cli(*args, "--yes", "--json")
    said = json.dumps(json.loads(result.stdout)["wipe"])
    assert "run `cardingest wipe` on it to finish" in said, said
    assert "put right" not in said and len(list(card.rglob("*.JPG"))) == 3
