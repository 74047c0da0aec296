"""A card file rewritten at the same size between the scan and the copy (an outside tester's
report): the scan read its capture time, which decided its name and, with a map of times, its
patient; the bytes copied say another time. It must stay on the card, held with the reason,
never filed under the old name and patient. So must one rewritten to another size: it used
to fail the run ("changed while reading", exit 1), and is held the same way now (exit 3).

The rewrite is put in by wrapping `ingest.execute`: the plan is made, nothing copied yet.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from cardimage import CardFactory, require_samples
from exif_bytes import EOI, SOI, app1, build, segment, text
from factories import make_file
from test_transfer import REL, temps_under
from test_transfer_mutants import Gate
from typer.testing import CliRunner

from cardingest import ingest
from cardingest.cli import app as cli_app
from cardingest.storage import transfer
from cardingest.storage.transfer import Destination, copy_verified, transfer_many

PATH = "DCIM/100CANON/IMG_0001.JPG"
OTHER = "DCIM/100CANON/IMG_0002.JPG"
"""Taken in MCJ1984's time, so the map's second row matches a photo."""
SCANNED, REWRITTEN = "2026:01:02 10:00:00", "2026:01:02 15:00:00"
MAP = (
    "from,to,id\n"
    "2026-01-02 09:00,2026-01-02 11:00,JBX3656\n"
    "2026-01-02 14:00,2026-01-02 16:00,MCJ1984\n"
)
CHANGED = "changed on the card since it was scanned"


def photo(when: str, size: int) -> bytes:
    """A JPEG of exactly ``size`` bytes whose EXIF DateTimeOriginal is ``when``, first in the
    file as a camera writes it; image-like bytes (COM segments) after it."""
    DTO = 0x9003
    head = SOI + app1(build("<", [], [text(DTO, when.encode() + b"\0")]))
    body = bytearray()
    room = size - len(head) - len(EOI)
    while room - len(body) > 0:
        piece = min(65533, room - len(body) - 4)
        assert piece >= 0, "no room for a segment header"
        body += segment(0xFE, bytes([0x5A]) * piece)
    data = head + bytes(body) + EOI
    assert len(data) == size
    return data


def run(*args: str | Path) -> tuple[int, dict[str, Any], str]:
    ran = CliRunner().invoke(cli_app.app, [str(a) for a in args])
    return ran.exit_code, json.loads(ran.stdout) if ran.stdout.strip() else {}, ran.stderr


def rewrite_after_the_scan(
    monkeypatch: pytest.MonkeyPatch, card_file: Path, data: bytes, *, keep_times: bool
) -> None:
    """Rewrite ``card_file`` in place once the first plan is made, before anything is copied; with
    ``keep_times`` its modification time is put back as the scan saw it (to the nanosecond),
    as a tool that preserves times would."""

    def rewrite() -> None:
        before = os.stat(card_file)
        with open(card_file, "r+b") as handle:
            handle.write(data)
            if len(data) < before.st_size:
                handle.truncate()  # fusefat refuses it (EPERM): at the same size it is not asked
        if keep_times:
            os.utime(card_file, ns=(before.st_atime_ns, before.st_mtime_ns))

    after_the_scan(monkeypatch, rewrite)


def after_the_scan(monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]) -> None:
    """``change`` runs once the first plan is made, before anything is copied."""
    real = ingest.execute
    done: list[bool] = []

    def execute(*args: Any, **kwargs: Any) -> Any:
        if not done:
            done.append(True)
            change()
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "execute", execute)


def folder_card(tmp_path: Path, size: int) -> tuple[Path, Path, Path]:
    """A folder card, the archive to fill and the map of times: IMG_0001 (``size`` bytes)
    taken in JBX3656's time as scanned, IMG_0002 in MCJ1984's."""
    card = tmp_path / "card"
    (card / PATH).parent.mkdir(parents=True)
    (card / PATH).write_bytes(photo(SCANNED, size))
    (card / OTHER).write_bytes(photo("2026:01:02 15:30:00", 30_000))
    id_map = tmp_path / "map.csv"
    id_map.write_text(MAP)
    return card, tmp_path / "archive", id_map


SIZES = {
    "small (streamed)": 40_000,
    "photo (read into memory)": 3 * transfer.CHUNK + 123,
    "large (streamed)": transfer.HELD_BYTES + 5000,
}


@pytest.mark.parametrize("keep_times", [False, True], ids=["times moved", "times kept"])
@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_a_photo_rewritten_at_the_same_size_after_the_scan_is_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, keep_times: bool
) -> None:
    card, archive, id_map = folder_card(tmp_path, size)
    card_file = card / PATH
    new = photo(REWRITTEN, size)
    rewrite_after_the_scan(monkeypatch, card_file, new, keep_times=keep_times)

    code, document, stderr = run("ingest", card, "--map", id_map, "--archive", archive, "--json")

    assert code == 3, (document, stderr)
    item, other = document["items"]
    assert other["action"] == "copy", other
    assert item["action"] == "hold", item
    assert item["reason"].startswith(
        f"{CHANGED} (it now says it was taken 2026-01-02 15:00:00, not 2026-01-02 10:00:00)"
    ), item
    assert item["target"] is None
    assert [p for p in archive.rglob("JBX3656*") if p.is_file()] == []
    assert card_file.read_bytes() == new  # still on the card, as it now is

    # Run again, as the reason says: filed under the time and patient its bytes now say
    # (JBX3656's row now matches no photo, an error of its own: the map is corrected).
    id_map.write_text("from,to,id\n2026-01-02 14:00,2026-01-02 16:00,MCJ1984\n")
    code, document, stderr = run("ingest", card, "--map", id_map, "--archive", archive, "--json")
    assert code == 0, (document, stderr)
    item, other = document["items"]
    assert other["action"] == "skip", other
    assert item["target"] == "MCJ1984/MCJ1984-20260102-150000.jpg"
    assert (archive / item["target"]).read_bytes() == new


RESIZED = {
    "grown, streamed": (40_000, 60_000),
    "shrunk, streamed": (60_000, 40_000),
    "grown into memory": (40_000, 3 * transfer.CHUNK + 123),
    "shrunk out of memory": (3 * transfer.CHUNK + 123, 40_000),
    "grown out of memory": (3 * transfer.CHUNK + 123, transfer.HELD_BYTES + 5000),
    "one byte more": (3 * transfer.CHUNK, 3 * transfer.CHUNK + 1),
}


@pytest.mark.parametrize(("before", "after"), list(RESIZED.values()), ids=list(RESIZED))
def test_a_photo_rewritten_to_another_size_after_the_scan_is_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: int, after: int
) -> None:
    card, archive, id_map = folder_card(tmp_path, before)
    card_file = card / PATH
    new = photo(SCANNED if after == before + 1 else REWRITTEN, after)
    rewrite_after_the_scan(monkeypatch, card_file, new, keep_times=False)

    code, document, stderr = run("ingest", card, "--map", id_map, "--archive", archive, "--json")

    assert code == 3, (document, stderr)
    item, other = document["items"]
    assert (item["action"], other["action"]) == ("hold", "copy"), document["items"]
    assert item["reason"].startswith(CHANGED), item
    assert item["target"] is None
    # No empty folder is left for its patient (a streamed photo's temporary made one), so
    # the archive verifies clean (a trial: "JBX3656/ an empty folder, not catalogued").
    assert not (archive / "JBX3656").exists()
    assert temps_under(archive) == []
    assert run("verify", "--archive", archive, "--json")[0] == 0
    assert card_file.read_bytes() == new


def test_a_photo_emptied_after_the_scan_is_held_and_says_its_time_is_the_file_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card, archive, id_map = folder_card(tmp_path, 40_000)
    card_file = card / PATH
    after_the_scan(monkeypatch, lambda: card_file.write_bytes(b""))
    args = ("ingest", card, "--map", id_map, "--archive", archive, "--json")
    code, document, stderr = run(*args)
    assert code == 3, (document, stderr)
    item = document["items"][0]
    assert item["action"] == "hold", item
    assert item["reason"].startswith(f"{CHANGED} (it now says it was taken "), item
    assert " by its file time, having no capture time, not 2026-01-02 10:00:00)" in item["reason"]


@pytest.mark.parametrize("swap", ["named pipe", "symbolic link", "folder"])
def test_a_photo_swapped_for_something_else_after_the_scan_fails_without_being_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap: str
) -> None:
    """A trial's findings: a named pipe put where the scan found a photo hung the copy in
    its open, where no Ctrl-C or SIGTERM reached it; a symbolic link was followed, and the
    file it led to (here the very bytes the scan read, so no recheck could tell) filed as the
    patient's photo. Now neither is opened for what it is, and the run goes on."""
    card, archive, id_map = folder_card(tmp_path, 40_000)
    card_file = card / PATH
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(card_file.read_bytes())

    def swap_it() -> None:
        card_file.unlink()
        if swap == "named pipe":
            os.mkfifo(card_file)
        elif swap == "symbolic link":
            card_file.symlink_to(outside)
        else:
            card_file.mkdir()

    after_the_scan(monkeypatch, swap_it)
    with alarm_after(120, card_file):  # a guard against the hang, not a wait
        code, document, stderr = run(
            "ingest", card, "--map", id_map, "--archive", archive, "--json"
        )

    assert code == 1, (document, stderr)
    item, other = document["items"]
    assert (item["action"], other["action"]) == ("failed", "copy"), document["items"]
    said = {
        "named pipe": f"{card_file} is not a regular file",
        "symbolic link": f"{card_file} is a symbolic link now: not followed",
        "folder": f"Is a directory opening {card_file}",
    }[swap]
    assert item["reason"] == said, item
    assert [p for p in archive.rglob("JBX3656*") if p.is_file()] == []
    assert temps_under(archive) == []


@contextlib.contextmanager
def alarm_after(seconds: int, fifo: Path) -> Iterator[None]:
    """A guard against a copy hung in the open of ``fifo``: after ``seconds`` it is opened
    for writing, which lets that open return, and the test fails."""

    def timed_out(_signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, timed_out)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_the_same_on_a_fusefat_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fat_card: CardFactory
) -> None:
    """A real FAT32 card through fusefat, rewritten through the mount: fusefat moves neither
    the modification nor the change time of a file written in place (measured: both stay,
    and the inode number changes whenever the kernel forgets the file), so only the bytes
    themselves can tell; they do."""
    size = 3 * transfer.CHUNK + 123
    card = fat_card({PATH: photo(SCANNED, size), OTHER: photo("2026:01:02 15:30:00", 30_000)})
    archive, id_map = tmp_path / "archive", tmp_path / "map.csv"
    id_map.write_text(MAP)
    new = photo(REWRITTEN, size)
    rewrite_after_the_scan(monkeypatch, card / PATH, new, keep_times=False)

    code, document, stderr = run("ingest", card, "--map", id_map, "--archive", archive, "--json")

    assert code == 3, (document, stderr)
    item, other = document["items"]
    assert (item["action"], other["action"]) == ("hold", "copy"), document["items"]
    assert item["reason"].startswith(CHANGED), item
    assert [p for p in archive.rglob("JBX3656*") if p.is_file()] == []
    assert (card / PATH).read_bytes() == new


def test_a_photo_rewritten_while_the_wipe_waits_for_its_answer_stays(
    tmp_path: Path, fat_card: CardFactory
) -> None:
    """`cardingest wipe` checked the card and asks y/N; meanwhile the photo is rewritten in
    place at the same size, which on fusefat moves no time the removal's stat compare sees.
    Answered yes, the wipe reads each file again before its removal: the rewritten one
    (never archived) stays with the reason, the one that is as checked goes."""
    from terminal import on_terminal

    size = 3 * transfer.CHUNK + 123
    card = fat_card({PATH: photo(SCANNED, size), OTHER: photo("2026:01:02 15:30:00", 30_000)})
    archive, home = tmp_path / "archive", tmp_path / "home"
    code, _document, stderr = run("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    assert code == 0, stderr
    env = {"HOME": str(home), "CARDINGEST_ARCHIVE": str(archive)}
    child = on_terminal("cardingest", ["wipe", card], env=env)
    child.expect(r"\[y/N\]")
    new = photo(REWRITTEN, size)
    with open(card / PATH, "r+b") as handle:
        handle.write(new)
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    said = " ".join(child.before.split())
    assert child.exitstatus == 3, said
    assert "changed on the card after the check" in said
    assert (card / PATH).read_bytes() == new and not (card / OTHER).exists()


def test_a_photo_rewritten_between_the_check_and_its_removal_stays_with_yes_on_fusefat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fat_card: CardFactory
) -> None:
    """`wipe --yes` checks the whole card, then removes: minutes apart on a big card. A
    photo rewritten in place meanwhile moves no time on fusefat, so the removal's stat
    compare passed it and the wipe removed bytes never archived (an outside tester's
    report). On such a driver each file is read again before its removal, as after a
    question."""
    from cardingest import wipe

    card = fat_card({PATH: photo(SCANNED, 30_000), OTHER: photo("2026:01:02 15:30:00", 30_000)})
    archive = tmp_path / "archive"
    code, _document, stderr = run("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    assert code == 0, stderr
    new = photo(REWRITTEN, 30_000)
    real = wipe._Remover.remove

    def rewrite_first(self: Any, item: Any) -> Any:
        if item.source == PATH:  # checked already, its removal next
            with open(card / PATH, "r+b") as handle:
                handle.write(new)
        return real(self, item)

    monkeypatch.setattr(wipe._Remover, "remove", rewrite_first)
    code, document, stderr = run("wipe", card, "--archive", archive, "--yes", "--json")
    assert code == 3, (document, stderr)
    kept = {i["source"]: i["reason"] for i in document["items"] if i["action"] == "keep"}
    assert kept == {PATH: "changed on the card after the check"}, document["items"]
    assert (card / PATH).read_bytes() == new and not (card / OTHER).exists()


# The transfer's side: what the recheck is given, and what its answer does.

EDGES = [0, 5000, transfer.KEPT_HEAD + transfer.KEPT_TAIL - 1, transfer.KEPT_HEAD + 70_000]
EDGES += [transfer.CHUNK - 1, transfer.CHUNK, 3 * transfer.CHUNK + 12_345]
EDGES += [transfer.HELD_BYTES, transfer.HELD_BYTES + 1]


@pytest.mark.parametrize("workers", [1, 3])
def test_the_recheck_is_given_the_very_bytes_read(tmp_path: Path, workers: int) -> None:
    """Every size, held in memory or streamed: the recheck reads what was copied, by any
    read and seek a capture reader makes, and the fstat after the last byte."""
    archive = tmp_path / "archive"
    sources: dict[str, bytes] = {}
    jobs = []
    for n, size in enumerate(EDGES, 1):
        source = tmp_path / "card" / f"IMG_{n:04d}.JPG"
        sources[source.name] = make_file(source, size, seed=n)
        jobs.append((source, [Destination(archive, f"JBX3656/{n}.jpg")], size))
    seen: dict[str, tuple[bytes, bytes, bytes, bytes, int, int]] = {}

    def recheck(source: Path, copied: transfer.Copied, info: os.stat_result) -> None:
        whole = copied.read()
        end = copied.seek(0, os.SEEK_END)
        copied.seek(-min(3, end), os.SEEK_END)
        last = copied.read(10)  # past the end: what there is
        copied.seek(transfer.CHUNK - 2)
        across = copied.read(4)  # across two buffers of a held photo
        edges = b""
        for at in (transfer.KEPT_HEAD, end - transfer.KEPT_TAIL):  # a streamed one's kept ends
            copied.seek(max(0, at - 2))
            edges += copied.read(4)
        seen[source.name] = (whole, last, across, edges, end, info.st_size)

    results = list(transfer_many(jobs, workers=workers, recheck=recheck))
    assert [r.error for r in results] == [None] * len(EDGES)
    for name, data in sources.items():
        whole, last, across, edges, end, size = seen[name]
        assert whole == data and end == size == len(data), name
        assert last == data[-3:] and across == data[transfer.CHUNK - 2 : transfer.CHUNK + 2]
        expected = b""
        for at in (transfer.KEPT_HEAD, len(data) - transfer.KEPT_TAIL):
            expected += data[max(0, at - 2) : max(0, at - 2) + 4]
        assert edges == expected, name


@pytest.mark.parametrize("size", [5000, 3 * transfer.CHUNK, transfer.HELD_BYTES + 1])
def test_a_reason_from_the_recheck_holds_the_file(tmp_path: Path, size: int) -> None:
    """Held, not failed: nothing published, no temporary left, the content gate's claim
    given back (leave with nothing published), never asked to enter."""
    archive = tmp_path / "archive"
    source = tmp_path / "card" / "IMG_0001.JPG"
    make_file(source, size)
    gate = Gate({})

    def recheck(source: Path, copied: transfer.Copied, info: os.stat_result) -> str:
        return "changed on the card since it was scanned"

    result = copy_verified(source, [Destination(archive, REL)], content_gate=gate, recheck=recheck)
    assert (result.error, result.held, result.published) == (
        None,
        "changed on the card since it was scanned",
        (),
    )
    assert gate.calls == [("claim", source.name, None), ("leave", source.name, None)]
    assert not (archive / REL).exists() and temps_under(archive) == []


def test_an_archive_disk_error_in_the_recheck_fails_the_file_not_holds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamed file's bytes are read again from its temporary: an error there is the
    archive disk's, which the capture readers would take for a damaged photo (and the
    ingest for a changed one). It fails the file with the disk's error."""
    archive = tmp_path / "archive"
    source = tmp_path / "card" / "IMG_0001.JPG"
    make_file(source, transfer.HELD_BYTES + 1)
    real = transfer.read_range

    def failing(fd: int, offset: int, size: int) -> bytes:
        if offset >= transfer.KEPT_HEAD:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(fd, offset, size)

    def recheck(source: Path, copied: transfer.Copied, info: os.stat_result) -> None:
        copied.seek(transfer.KEPT_HEAD)  # past the head kept: from the disk
        with contextlib.suppress(OSError):  # as read_capture does
            copied.read(10)

    monkeypatch.setattr(transfer, "read_range", failing)
    result = copy_verified(source, [Destination(archive, REL)], recheck=recheck)
    assert result.held is None
    assert result.error == (
        f"{os.strerror(errno.EIO)} reading what was read of {source} from {REL} to {archive}"
    )
    assert not (archive / REL).exists() and temps_under(archive) == []


@pytest.mark.parametrize("size", [5000, 3 * transfer.CHUNK, transfer.HELD_BYTES + 1])
def test_a_card_file_written_to_while_it_is_read_fails(tmp_path: Path, size: int) -> None:
    """A write during the read moves the file's times (set well in the past first, so the
    test does not hang on the clock's granularity): the bytes read may be part old, part
    new, so nothing is published, as for a file that grew or shrank."""
    archive = tmp_path / "archive"
    source = tmp_path / "card" / "IMG_0001.JPG"
    data = make_file(source, size)
    os.utime(source, ns=(10**18, 10**18))
    written: list[int] = []

    def write_once(count: int) -> None:
        if not written:
            written.append(count)
            with open(source, "r+b") as handle:
                handle.write(bytes(reversed(data[:100])))

    result = copy_verified(source, [Destination(archive, REL)], on_bytes=write_once)
    assert written
    assert result.error == f"{source} changed while reading: it was written to as it was read"
    assert not (archive / REL).exists() and temps_under(archive) == []


def test_no_real_camera_file_is_held_as_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record made again from the bytes copied is the scan's for every real camera file
    (JPEGs, RAWs, damaged ones; some held in memory, some streamed): none is held."""
    samples = require_samples()
    files = sorted(p for d in (samples / "real", samples / "raw") for p in d.iterdir())
    card, archive = tmp_path / "card", tmp_path / "archive"
    folder = card / "DCIM" / "100TEST"
    folder.mkdir(parents=True)
    for n, sample in enumerate(f for f in files if f.suffix not in (".tsv", ".md")):
        shutil.copyfile(sample, folder / f"F{n:04d}{sample.suffix}")
    checked: list[bool] = []
    real = ingest.same_reading

    def same_reading(scanned: Any, again: Any) -> bool:
        checked.append(real(scanned, again))
        return checked[-1]

    monkeypatch.setattr(ingest, "same_reading", same_reading)
    code, document, stderr = run("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    assert code == 0, (document, stderr)
    assert {item["action"] for item in document["items"]} == {"copy"}
    assert len(checked) == len(document["items"]) > 20 and all(checked)
