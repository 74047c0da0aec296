"""The --json writer: one line, the same document json.dumps would give, items streamed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardingest.cli.output import emit_json


def test_streamed_items_make_the_same_document(capsys: pytest.CaptureFixture[str]) -> None:
    items = [{"source": "DCIM/100CANON/IMG_0001.JPG", "id": "JBX3656"}, {"source": "Māori ✓"}]
    produced: list[int] = []

    def lazily() -> Iterator[dict[str, str]]:
        for number, item in enumerate(items):
            produced.append(number)
            yield item

    document = {"source": "/media/card", "items": lazily(), "empty": iter(()), "path": Path("a")}
    emit_json(document)
    out = capsys.readouterr().out
    assert out.endswith("}\n") and out.count("\n") == 1
    assert json.loads(out) == {
        "source": "/media/card",
        "items": items,
        "empty": [],
        "path": "a",
    }
    assert "Māori ✓" in out
    assert produced == [0, 1]


def test_lists_and_nested_values_are_written_whole(capsys: pytest.CaptureFixture[str]) -> None:
    document = {"cards": [{"label": None, "serial": "1234-ABCD"}], "summary": {"copied": 3}}
    emit_json(document)
    assert json.loads(capsys.readouterr().out) == document


def test_a_long_document_goes_out_in_large_pieces_and_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stdout may be unbuffered (PYTHONUNBUFFERED): 10,000 items are not 10,000 writes, and
    no item is held back past the end."""
    writes: list[str] = []

    class Unbuffered:
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr("sys.stdout", Unbuffered())
    items = [{"source": f"DCIM/100CANON/IMG_{n:04d}.JPG", "action": "copy"} for n in range(10000)]
    emit_json({"items": iter(items), "summary": {"copy": 10000}})
    out = "".join(writes)
    assert json.loads(out) == {"items": items, "summary": {"copy": 10000}}
    assert len(writes) <= len(out) // (64 * 1024) + 2


def test_a_ctrl_c_between_the_pieces_of_the_document_adds_no_second_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C while the ingest's JSON document was being written (in pieces): the error
    document was written after the part already out, so stdout held neither one document
    nor a readable one (an outside tester's report). The part stays, alone; the error is
    said on stderr, exit 130."""
    from clinic_helpers import cli
    from exif_bytes import timed_card

    from cardingest.cli import output, streams

    timed_card(tmp_path / "card", count=3)
    monkeypatch.setattr(output, "_JSON_PIECE", 200)
    real = streams.write_out

    def interrupted(text: str) -> None:
        if text.endswith("}\n") and '"items"' not in text and '"error"' not in text:
            raise KeyboardInterrupt  # the last piece of the ingest's document
        real(text)

    monkeypatch.setattr(streams, "write_out", interrupted)
    result = cli("ingest", tmp_path / "card", "--id", "JBX3656", "--archive",
                 tmp_path / "archive", "--json")  # fmt: skip
    assert result.exit_code == 130, result.output
    assert result.stdout.startswith('{"ingest_id": ') and '"error"' not in result.stdout
    assert "the JSON document is lost" in " ".join(result.stderr.split())
    assert not output.document_cut_short()  # asked once: the next command starts clean


def test_failures_of_one_kind_share_a_line() -> None:
    """A disk full mid-run failed 47 photos alike: 47 lines, where a pulled card gets one."""
    from cardingest.cli.output import failed_lines

    full = [
        (f"DCIM/100CANON/IMG_000{n}.JPG", f"No space left on device writing /a/X/tmp{n}")
        for n in range(1, 6)
    ]
    odd = ("DCIM/100CANON/IMG_0009.JPG", "Input/output error reading /card/IMG_0009.JPG")
    lines = failed_lines([*full, odd])
    assert lines == [
        "[red]failed:[/] 5 file(s): DCIM/100CANON/IMG_0001.JPG … DCIM/100CANON/IMG_0005.JPG: "
        "No space left on device writing /a/X/tmp1",
        "[red]failed:[/] DCIM/100CANON/IMG_0009.JPG: Input/output error reading /card/IMG_0009.JPG",
    ]
