"""The wipe gate's decisions and the wipe's records, on plain folders on the local disk.

Written for the mutation run of ``wipe`` (issue 20, docs/testing.md): the FUSE card tests in
``test_wipe.py`` take seconds each, so most of the gate is pinned here, where a "card" is a
folder with a ``DCIM`` tree on the local file system and the catalogue is a real SQLite file
made by the real code (by ``cardingest ingest``, or by ``Catalogue.add`` when a record must
say something an ingest from a folder cannot, such as a card serial). Every expected reason
and audit field is written out by hand. The read-only card (which needs a read-only mount)
stays in ``test_wipe.py``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import xxhash
from cardimage import CardFactory, require_samples
from clinic_helpers import invoke
from exif_bytes import exif_jpeg

from cardingest import wipe
from cardingest.archive.catalogue import Catalogue, CatalogueRecord
from cardingest.errors import CardWriteError, CatalogueError, Interrupted, SourceError
from cardingest.models import Card
from cardingest.wipe import (
    CHANGED_SINCE,
    INGEST_AGAIN,
    WipeItem,
    WipePlan,
    declined_result,
    dry_run_result,
    execute_wipe,
    plan_wipe,
)

FIRST = "DCIM/100CANON/IMG_0001.JPG"
SECOND = "DCIM/100CANON/IMG_0002.JPG"
THIRD = "DCIM/100CANON/IMG_0003.JPG"
WIPE_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_card(root: Path, files: dict[str, bytes]) -> Path:
    for relpath, data in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def events(archive: Path, kind: str) -> list[dict[str, Any]]:
    lines = (archive / ".cardingest" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == kind]


def without_chain(event: dict[str, Any]) -> dict[str, Any]:
    """An audit event without what every event has (time, host, chain): what the wipe said."""
    return {k: v for k, v in event.items() if k not in ("event", "ts", "host", "prev", "seq")}


def archived(
    archive: Path,
    data: bytes,
    *,
    patient: str = "JBX3656",
    name: str = "a.jpg",
    source: str = FIRST,
    serial: str | None = "1234-ABCD",
    backup: Path | None = None,
    write: bool = True,
) -> CatalogueRecord:
    """A photo archived by hand: its archive copy (and backup copy) written, its record added."""
    record = CatalogueRecord(
        patient_id=patient,
        archive_path=f"{patient}/{name}",
        sha256=sha(data),
        size=len(data),
        captured_at="2008-05-30T15:56:01",
        captured_raw="2008-05-30T15:56:01",
        time_source="mtime",
        source_path=source,
        card_label="EOS_DIGITAL",
        card_serial=serial,
        ingest_id="ing-1",
        operator="nurse1",
        backup_path=str(backup) if backup else None,
    )
    if write:
        copy = archive / patient / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(data)
        if backup is not None:
            backup.parent.mkdir(parents=True, exist_ok=True)
            backup.write_bytes(data)
    with Catalogue.open(archive) as catalogue:
        catalogue.add([record])
    return record


def card_of(mount: Path, serial: str | None = "1234-ABCD") -> Card:
    return Card(str(mount), "vfat", "/dev/sdz1", label="EOS_DIGITAL", serial=serial)


def decisions(plan: WipePlan) -> dict[str, tuple[str, str]]:
    return {item.source: (item.action, item.reason) for item in plan.items}


# --- end to end: a folder ingested by the real CLI, then planned and wiped ------------------


@pytest.fixture
def jpegs() -> list[bytes]:
    real = require_samples() / "real"
    return [(real / name).read_bytes() for name in ("Canon_40D.jpg", "Kodak_CX7530.jpg")]


def test_a_folder_ingested_then_wiped_leaves_a_full_record(
    tmp_path: Path, jpegs: list[bytes]
) -> None:
    card = make_card(
        tmp_path / "card",
        {FIRST: jpegs[0], SECOND: jpegs[1], "DCIM/100CANON/MVI_0003.MOV": b"a video"},
    )
    os.symlink("IMG_0001.JPG", card / "DCIM/100CANON/IMG_0009.JPG")
    archive = tmp_path / "archive"
    code, out, err = invoke("ingest", card, "--id", "JBX3656", "--archive", archive, "--json")
    assert code == 0, err
    target = {item["source"]: item["target"] for item in json.loads(out)["items"]}
    edited = card / SECOND
    edited.write_bytes(jpegs[1][:-1] + b"\x00")  # changed on the card after the ingest

    seen: list[str] = []
    plan = plan_wipe(card, None, archive, on_file=seen.append)

    assert seen == [FIRST, SECOND]
    assert decisions(plan) == {
        FIRST: ("remove", f"archived as {target[FIRST]}"),
        SECOND: (
            "keep",
            f"changed on the card since it was archived as {target[SECOND]}{CHANGED_SINCE}",
        ),
        "DCIM/100CANON/IMG_0009.JPG": (
            "keep",
            "a symbolic link: not a photo file; never followed or removed",
        ),
        "DCIM/100CANON/MVI_0003.MOV": (
            "keep",
            "a video or sound file: cardingest does not archive it; copy it yourself",
        ),
    }
    assert [item.source for item in plan.items] == sorted(decisions(plan))
    first, second = plan.items[0], plan.items[1]
    assert (first.sha256, first.archive_path, first.patient_id) == (
        sha(jpegs[0]),
        target[FIRST],
        "JBX3656",
    )
    info = os.stat(card / FIRST)
    assert (first.size, first.mtime_ns) == (info.st_size, info.st_mtime_ns)
    assert (second.archive_path, second.patient_id) == (target[SECOND], "JBX3656")
    assert (plan.source, plan.archive, plan.card) == (str(card), str(archive), None)
    assert [i.source for i in plan.to_remove] == [FIRST]
    assert len(plan.to_keep) == 3

    result = execute_wipe(plan, operator="nurse1")

    assert WIPE_ID.match(result.wipe_id)
    assert [i.source for i in result.removed] == [FIRST]
    assert [i.source for i in result.kept] == [SECOND, *sorted(decisions(plan))[2:]]
    assert not (card / FIRST).exists() and (card / SECOND).exists()
    folder = "folder sha256:" + hashlib.sha256(os.fsencode(str(card))).hexdigest()[:16]
    identity = {
        "wipe_id": result.wipe_id,
        "operator": "nurse1",
        "source": folder,
        "archive": str(archive),
        "card_label": None,
        "card_serial": None,
    }
    [start] = events(archive, "wipe-start")
    assert without_chain(start) == {**identity, "to_remove": 1, "to_keep": 3}
    [removal] = events(archive, "wipe-remove")
    assert without_chain(removal) == {
        "wipe_id": result.wipe_id,
        "source": FIRST,
        "archive_path": target[FIRST],
        "sha256": sha(jpegs[0]),
        "id": "JBX3656",
        "card_label": None,
        "card_serial": None,
    }
    [summary] = events(archive, "wipe")
    assert without_chain(summary) == {
        **identity,
        "status": "finished",
        "counts": {"removed": 1, "kept": 3},
        "kept": [{"source": i.source, "reason": i.reason} for i in plan.items[1:]],
    }


def test_a_card_is_named_by_its_mount_label_and_serial_in_the_log(tmp_path: Path) -> None:
    card = make_card(tmp_path / "EOS_DIGITAL", {FIRST: b"photo one", SECOND: b"photo two"})
    archive = tmp_path / "archive"
    record = archived(archive, b"photo one")
    plan = plan_wipe(card, card_of(card, "1234:abcd"), archive)
    assert decisions(plan) == {
        FIRST: ("remove", "archived as JBX3656/a.jpg"),
        SECOND: ("keep", "not archived (held, failed or never ingested)"),
    }
    result = execute_wipe(plan, operator="nurse2")
    identity = {
        "wipe_id": result.wipe_id,
        "operator": "nurse2",
        "source": str(card),
        "archive": str(archive),
        "card_label": "EOS_DIGITAL",
        "card_serial": "1234:abcd",
    }
    assert without_chain(events(archive, "wipe-start")[0]) == {
        **identity,
        "to_remove": 1,
        "to_keep": 1,
    }
    [removal] = events(archive, "wipe-remove")
    assert without_chain(removal) == {
        "wipe_id": result.wipe_id,
        "source": FIRST,
        "archive_path": record.archive_path,
        "sha256": record.sha256,
        "id": "JBX3656",
        "card_label": "EOS_DIGITAL",
        "card_serial": "1234:abcd",
    }
    assert without_chain(events(archive, "wipe")[0])["counts"] == {"removed": 1, "kept": 1}


# --- the gate -------------------------------------------------------------------------------


def test_a_card_with_another_serial_keeps_its_photos_and_says_whose(tmp_path: Path) -> None:
    card = make_card(tmp_path / "card", {FIRST: b"photo one", SECOND: b"photo two"})
    archive = tmp_path / "archive"
    archived(archive, b"photo one", serial="9999-0000")
    archived(archive, b"photo one", name="b.jpg", serial="1111-2222")
    archived(archive, b"photo two", name="c.jpg", source=SECOND, serial="1111-2222")
    plan = plan_wipe(card, card_of(card, "5555-6666"), archive)
    assert decisions(plan) == {
        FIRST: (
            "keep",
            "archived from another card (serial 1111-2222, 9999-0000; this card 5555-6666)",
        ),
        SECOND: ("keep", "archived from another card (serial 1111-2222; this card 5555-6666)"),
    }
    assert [(i.archive_path, i.patient_id) for i in plan.items] == [
        ("JBX3656/a.jpg", "JBX3656"),
        ("JBX3656/c.jpg", "JBX3656"),
    ]
    # Serials written another way are the same card; an unknown serial never contradicts.
    for serial in ("11112222", " 1111:2222 ", None):
        assert decisions(plan_wipe(card, card_of(card, serial), archive))[SECOND][0] == "remove"


def test_identical_bytes_from_another_path_are_not_this_photo(tmp_path: Path) -> None:
    card = make_card(tmp_path / "card", {SECOND: b"photo one"})
    archive = tmp_path / "archive"
    archived(archive, b"photo one", serial=None)
    plan = plan_wipe(card, None, archive)
    assert decisions(plan) == {
        SECOND: (
            "keep",
            "not archived (held, failed or never ingested); identical bytes are archived as"
            " JBX3656/a.jpg",
        )
    }
    assert (plan.items[0].archive_path, plan.items[0].patient_id) == (None, None)
    assert plan.items[0].sha256 == sha(b"photo one")


def test_a_record_made_from_a_deeper_source_names_the_card_file(tmp_path: Path) -> None:
    """An ingest whose SOURCE was the camera folder recorded ``IMG_0001.JPG`` only."""
    card = make_card(tmp_path / "card", {FIRST: b"photo one", SECOND: b"photo two"})
    archive = tmp_path / "archive"
    archived(archive, b"photo one", source="IMG_0001.JPG", serial=None)
    archived(archive, b"photo two", name="b.jpg", source="100CANON/IMG_0002.JPG", serial=None)
    (card / SECOND).write_bytes(b"photo two, edited")
    assert decisions(plan_wipe(card, None, archive)) == {
        FIRST: ("remove", "archived as JBX3656/a.jpg"),
        SECOND: ("keep", _not_the_photo(None)),
    }


def test_a_record_from_another_card_at_this_path_is_not_an_earlier_version(
    tmp_path: Path,
) -> None:
    card = make_card(tmp_path / "card", {FIRST: b"photo one, edited"})
    archive = tmp_path / "archive"
    archived(archive, b"photo one", serial="9999-0000")
    assert decisions(plan_wipe(card, card_of(card, "1234-ABCD"), archive)) == {
        FIRST: ("keep", "not archived (held, failed or never ingested)")
    }
    assert decisions(plan_wipe(card, card_of(card, "9999-0000"), archive)) == {
        FIRST: ("keep", _not_the_photo("JBX3656/a.jpg"))
    }


def test_a_photo_copied_over_another_card_name_says_its_bytes_are_archived(
    tmp_path: Path,
) -> None:
    """IMG_0002's bytes copied over IMG_0001 on the card: kept (its own photo was another),
    and the reason said only "not archived … ingest the card again", which then held it
    too; it now says where those bytes are archived, so a person can see it is a copy."""
    card = make_card(tmp_path / "card", {FIRST: b"photo two", SECOND: b"photo two"})
    archive = tmp_path / "archive"
    archived(archive, b"photo one")
    archived(archive, b"photo two", name="b.jpg", source=SECOND)
    action, reason = decisions(plan_wipe(card, card_of(card), archive))[FIRST]
    assert action == "keep" and reason.endswith("; identical bytes are archived as JBX3656/b.jpg")


def _not_the_photo(archive_path: str | None) -> str:
    """The reason for a card file with no EXIF time whose bytes are not those archived from
    its name: changed, or another photo under a reused name, cannot be told apart. The
    earlier photo is named only when both cards' serials say it is this card's."""
    earlier = f"as {archive_path}" if archive_path else "(from this card or another)"
    return (
        f"not the photo archived from this card name {earlier}: changed since, or "
        "another photo under a name the camera used again; not archived. To archive it, "
        f"{INGEST_AGAIN}"
    )


def test_another_photo_under_a_reused_name_is_told_from_a_changed_one(tmp_path: Path) -> None:
    """The camera started its numbers again: today's IMG_0001 is another shot, perhaps another
    patient's, and the reason must not send it to the patient of yesterday's IMG_0001. The
    same shot changed in the camera keeps its capture time."""
    yesterday = exif_jpeg("2008:05:30 15:56:01")
    card = make_card(
        tmp_path / "card",
        {
            FIRST: exif_jpeg("2008:05:31 09:00:00"),
            SECOND: exif_jpeg("2008:05:30 15:56:01", padding=9),
        },
    )
    archive = tmp_path / "archive"
    archived(archive, yesterday, serial=None)
    archived(archive, yesterday + b"x", name="b.jpg", source=SECOND, serial=None)
    assert decisions(plan_wipe(card, None, archive)) == {
        FIRST: (
            "keep",
            "another photo (taken 2008-05-31 09:00:00) under a card name archived before (from "
            "this card or another) (taken 2008-05-30 15:56:01): the camera started its numbers "
            f"again; not archived. To archive it, {INGEST_AGAIN}",
        ),
        SECOND: (
            "keep",
            f"changed on the card since it was archived as JBX3656/b.jpg{CHANGED_SINCE}",
        ),
    }


def test_a_reused_name_names_the_earlier_photo_only_when_the_serials_say_it_is_this_card(
    tmp_path: Path,
) -> None:
    """A card with no serial (a plain folder, an unreadable volume) may be another card
    whose camera used the same names: the earlier photo's name carries its patient's ID, so
    it is said only when both serials are known and agree."""
    card = make_card(tmp_path / "card", {FIRST: exif_jpeg("2008:05:31 09:00:00")})
    archive = tmp_path / "archive"
    archived(archive, exif_jpeg("2008:05:30 15:56:01"), patient="MCJ1984")
    known = decisions(plan_wipe(card, card_of(card), archive))[FIRST][1]
    assert "under a card name archived before as MCJ1984/a.jpg (taken" in known
    unknown = decisions(plan_wipe(card, card_of(card, serial=None), archive))[FIRST][1]
    assert "MCJ1984" not in unknown
    assert "the camera started its numbers again; not archived" in unknown


def test_only_the_card_is_hashed_with_sha256_its_copies_are_compared_by_xxh3(
    tmp_path: Path, sha256_fed: list[int]
) -> None:
    """The archive and backup copies are proven to hold the bytes just read from the card
    (same size and XXH3-128, as the read-back does), not hashed with sha256 again: one
    sha256 pass per card file (issue 16). A copy that differs is measured in full, so its
    reason names its sha256 (test_a_damaged_copy_is_named_and_marked_for_repair)."""
    files = {FIRST: b"photo one" * 5000, SECOND: b"photo two" * 7000}
    card = make_card(tmp_path / "card", files)
    archive = tmp_path / "archive"
    archived(archive, files[FIRST], serial=None, backup=tmp_path / "backup")
    archived(archive, files[SECOND], name="b.jpg", source=SECOND, serial=None)
    sha256_fed.clear()  # what setting the archive up hashed
    assert decisions(plan_wipe(card, None, archive)) == {
        FIRST: ("remove", "archived as JBX3656/a.jpg"),
        SECOND: ("remove", "archived as JBX3656/b.jpg"),
    }
    assert sum(sha256_fed) == sum(map(len, files.values()))


def test_a_damaged_copy_is_named_and_marked_for_repair(tmp_path: Path) -> None:
    card = make_card(
        tmp_path / "card", {FIRST: b"photo one", SECOND: b"photo two", THIRD: b"photo three"}
    )
    archive = tmp_path / "archive"
    archived(archive, b"photo one", serial=None)
    archived(archive, b"photo two", name="b.jpg", source=SECOND, serial=None)
    # The backup copy's path runs through a file: it cannot even be looked at (not repairable).
    (tmp_path / "backup").write_bytes(b"a file where the backup folder should be")
    unreadable = tmp_path / "backup" / "c.jpg"
    archived(archive, b"photo three", name="c.jpg", source=THIRD, serial=None, write=False)
    (archive / "JBX3656" / "c.jpg").write_bytes(b"photo three")
    (archive / "JBX3656" / "a.jpg").unlink()
    (archive / "JBX3656" / "b.jpg").write_bytes(b"photo TWO")
    repair = (
        "; ingest this card again to repair it (with this photo given to JBX3656, whose it is now)"
    )
    expected = {
        FIRST: ("keep", f"archive copy JBX3656/a.jpg is missing{repair}"),
        SECOND: (
            "keep",
            "archive copy JBX3656/b.jpg no longer matches"
            f" (sha256 {sha(b'photo TWO')}, expected {sha(b'photo two')}){repair}",
        ),
        THIRD: ("remove", "archived as JBX3656/c.jpg"),
    }
    assert decisions(plan_wipe(card, None, archive)) == expected
    with Catalogue.open(archive) as catalogue:
        assert catalogue.problems() == {
            "JBX3656/a.jpg": "archive copy a.jpg is missing",
            "JBX3656/b.jpg": "archive copy b.jpg no longer matches",
        }
    # Marked already: the next plan still says how to repair it, and the marks stay.
    assert decisions(plan_wipe(card, None, archive)) == expected
    with Catalogue.open(archive) as catalogue:
        assert set(catalogue.problems()) == {"JBX3656/a.jpg", "JBX3656/b.jpg"}
        catalogue.move_rows([("JBX3656/c.jpg", "JBX3656/c2.jpg", "JBX3656", str(unreadable))])
    os.replace(archive / "JBX3656" / "c.jpg", archive / "JBX3656" / "c2.jpg")
    assert decisions(plan_wipe(card, None, archive))[THIRD] == (
        "keep",
        f"backup copy {unreadable} cannot be read (Not a directory)",
    )


def test_a_verified_twin_of_the_same_patient_lets_the_photo_go(tmp_path: Path) -> None:
    """The same photo archived twice for one patient: one good copy is enough. A good copy
    filed under another patient never is."""
    card = make_card(tmp_path / "card", {FIRST: b"photo one", SECOND: b"photo two"})
    archive = tmp_path / "archive"
    archived(archive, b"photo one", serial=None)
    archived(archive, b"photo one", name="z-twin.jpg", source=THIRD, serial=None)
    archived(archive, b"photo two", name="b.jpg", source=SECOND, serial=None)
    archived(archive, b"photo two", patient="MCJ1984", name="b.jpg", source=THIRD, serial=None)
    (archive / "JBX3656" / "a.jpg").write_bytes(b"photo ONE")
    (archive / "JBX3656" / "b.jpg").unlink()
    plan = plan_wipe(card, None, archive)
    assert decisions(plan) == {
        FIRST: ("remove", "archived as JBX3656/z-twin.jpg"),
        SECOND: (
            "keep",
            "archive copy JBX3656/b.jpg is missing; ingest this card again to repair it (with "
            "this photo given to JBX3656, whose it is now)",
        ),
    }
    assert [(i.archive_path, i.patient_id) for i in plan.items] == [
        ("JBX3656/z-twin.jpg", "JBX3656"),
        ("JBX3656/b.jpg", "JBX3656"),
    ]


# --- what the card itself says ---------------------------------------------------------------


def test_the_gate_hashes_two_card_files_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One SHA-256 runs on one core, so the gate hashes CARD_READERS (two) card files at
    once (docs/performance.md). Each read here waits for a second one to start: with one
    reader the first never meets it, and the wait gives up."""
    archive = tmp_path / "archive"
    archived(archive, b"photo one", serial=None)
    names = [f"DCIM/100CANON/IMG_000{n}.JPG" for n in range(1, 5)]
    card = make_card(tmp_path / "card", {name: name.encode() for name in names})
    meet = threading.Barrier(2, timeout=10)
    real = wipe._read_card

    def paired(path: Path) -> wipe.CardRead:
        meet.wait()
        return real(path)

    monkeypatch.setattr(wipe, "_read_card", paired)
    plan = plan_wipe(card, None, archive)
    assert wipe.CARD_READERS == 2
    assert [item.source for item in plan.items] == names
    assert {item.sha256 for item in plan.items} == {sha(name.encode()) for name in names}


def test_a_card_file_swapped_for_a_fifo_after_the_scan_stays_without_a_wait(
    tmp_path: Path,
) -> None:
    """The gate reads what the scan listed; a FIFO put in a photo's place since then is
    refused at once (an open of a FIFO would wait for a writer), and the file stays."""
    archive = tmp_path / "archive"
    archived(archive, b"photo one", serial=None)
    card = make_card(tmp_path / "card", {SECOND: b"photo two"})
    (card / SECOND).unlink()
    os.mkfifo(card / SECOND)
    with Catalogue.open(archive) as catalogue:
        gate = wipe.Gate(catalogue, archive, None, wipe.CopyChecker())
        assert wipe._judge(SECOND, wipe._read_card(card / SECOND), gate, None) == WipeItem(
            SECOND, "keep", "cannot be read from the card (not a regular file)"
        )


def test_a_card_file_that_cannot_be_read_or_changes_while_read_stays(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archived(archive, b"photo one", serial=None)
    card = make_card(tmp_path / "card", {FIRST: b"photo one"})
    with Catalogue.open(archive) as catalogue:
        gate = wipe.Gate(catalogue, archive, None, wipe.CopyChecker())
        gone = wipe._read_card(card / SECOND)
        assert isinstance(gone, FileNotFoundError)
        assert wipe._judge(SECOND, gone, gate, None) == WipeItem(
            SECOND, "keep", "cannot be read from the card (No such file or directory)"
        )
        read = wipe._read_card(card / FIRST)
        assert not isinstance(read, OSError)
        info, found = read
        assert (found.size, found.sha256) == (9, sha(b"photo one"))
        assert found.xxh3 == xxhash.xxh3_128_hexdigest(b"photo one")
        (card / FIRST).write_bytes(b"photo one, and more")
        grown = (os.stat(card / FIRST), found)
        assert wipe._judge(FIRST, grown, gate, None) == WipeItem(
            FIRST,
            "keep",
            "changed on the card while being read, or damaged there: 9 of its 19 bytes read",
            sha(b"photo one"),
        )
        assert wipe._judge(FIRST, read, gate, None) == WipeItem(
            FIRST,
            "remove",
            "archived as JBX3656/a.jpg",
            sha(b"photo one"),
            "JBX3656/a.jpg",
            "JBX3656",
            info.st_size,
            info.st_mtime_ns,
            info.st_ctime_ns,
            info.st_dev,
            info.st_ino,
        )


def test_a_name_that_is_not_utf8_stays_without_being_looked_up(tmp_path: Path) -> None:
    card = make_card(tmp_path / "card", {FIRST: b"photo one"})
    os.close(os.open(os.fsencode(card / "DCIM" / "100CANON") + b"/IMG_\xff02.JPG", os.O_CREAT))
    archive = tmp_path / "archive"
    archived(archive, b"photo one", serial=None)
    [odd] = [i for i in plan_wipe(card, None, archive).items if i.source != FIRST]
    assert (odd.action, odd.sha256, odd.archive_path) == ("keep", None, None)
    assert odd.reason == (
        "not archived: the name IMG_\\xff02.JPG (or its folder's) is not valid UTF-8; rename"
        " it on a computer, then run again"
    )


def test_card_files_are_read_ahead_but_judged_in_order(tmp_path: Path) -> None:
    names = [f"DCIM/100CANON/IMG_{n:04d}.JPG" for n in range(1, 13)]
    card = make_card(tmp_path / "card", {name: name.encode() for name in names})
    found = list(wipe._read_ahead(card, [*names[:6], "DCIM/100CANON/GONE.JPG", *names[6:]]))
    assert [name for name, _ in found] == [*names[:6], "DCIM/100CANON/GONE.JPG", *names[6:]]
    for name, read in found:
        if name.endswith("GONE.JPG"):
            assert isinstance(read, FileNotFoundError)
        else:
            assert not isinstance(read, OSError)
            assert (read[1].size, read[1].sha256) == (len(name), sha(name.encode()))


def test_a_folder_without_dcim_or_an_archive_without_a_catalogue_is_refused(
    tmp_path: Path,
) -> None:
    folder = make_card(tmp_path / "photos", {"IMG_0001.JPG": b"photo"})
    with pytest.raises(SourceError) as caught:
        plan_wipe(folder, None, tmp_path / "archive")
    assert caught.value.message == (
        f"{folder} has no DCIM folder: wipe only removes photos under a card's DCIM/. Give "
        "the card's root (the folder that holds DCIM)"
    )
    card = make_card(tmp_path / "card", {FIRST: b"photo"})
    archive = tmp_path / "archive"
    with pytest.raises(CatalogueError) as caught:
        plan_wipe(card, None, archive)
    assert caught.value.message == (
        f"No catalogue at {archive}/.cardingest/catalogue.sqlite: nothing is archived in"
        f" {archive}, so nothing can be removed. Is --archive right?"
    )


# --- answers: dry run, declined ----------------------------------------------------------------


def test_a_dry_run_and_a_no_change_nothing_and_say_why(tmp_path: Path) -> None:
    card = make_card(tmp_path / "card", {FIRST: b"photo one", SECOND: b"photo two"})
    archive = tmp_path / "archive"
    archived(archive, b"photo one", serial=None)
    plan = plan_wipe(card, None, archive)
    dry = dry_run_result(plan)
    assert WIPE_ID.match(dry.wipe_id)
    assert (dry.plan, dry.items, dry.dry_run, dry.declined) == (plan, list(plan.items), True, False)
    no = declined_result(plan)
    assert WIPE_ID.match(no.wipe_id)
    assert (no.plan, no.dry_run, no.declined) == (plan, False, True)
    assert [(i.source, i.action, i.reason) for i in no.items] == [
        (FIRST, "keep", "not confirmed (archived as JBX3656/a.jpg)"),
        (SECOND, "keep", "not archived (held, failed or never ingested)"),
    ]
    assert no.items[0].archive_path == "JBX3656/a.jpg"
    assert (no.removed, [i.source for i in no.kept]) == ([], [FIRST, SECOND])
    assert (card / FIRST).exists() and (card / SECOND).exists()


# --- the removal itself -------------------------------------------------------------------------


def item_for(card: Path, source: str, **changes: Any) -> WipeItem:
    """An approved removal as the plan makes it: the file's size and time at the check."""
    info = os.stat(card / source)
    fields: dict[str, Any] = {
        "source": source,
        "action": "remove",
        "reason": "archived as JBX3656/a.jpg",
        "sha256": "0" * 64,
        "archive_path": "JBX3656/a.jpg",
        "patient_id": "JBX3656",
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "ctime_ns": info.st_ctime_ns,
        "device": info.st_dev,
        "inode": info.st_ino,
    }
    fields.update(changes)
    return WipeItem(**fields)


def test_only_files_under_dcim_that_did_not_change_are_removed(tmp_path: Path) -> None:
    card = make_card(
        tmp_path / "card",
        {
            "DCIM/IMG_0001.JPG": b"straight under DCIM",
            "dcim/100canon/img_0002.jpg": b"lower-case folders",
            "MISC/IMG_0003.JPG": b"outside DCIM",
            "DCIM/100CANON/IMG_0004.JPG": b"edited after the check",
            "DCIM/100CANON/IMG_0005.JPG": b"size the same, time not",
        },
    )
    (tmp_path / "archive").mkdir()
    items = [
        item_for(card, "DCIM/IMG_0001.JPG"),
        item_for(card, "dcim/100canon/img_0002.jpg"),
        item_for(card, "MISC/IMG_0003.JPG"),
        item_for(card, "DCIM/../MISC/IMG_0003.JPG", size=12, mtime_ns=1),
        item_for(card, "DCIM/100CANON/IMG_0004.JPG", size=3),
        item_for(card, "DCIM/100CANON/IMG_0005.JPG", mtime_ns=1),
        item_for(card, "DCIM", size=0, mtime_ns=0),
        WipeItem("DCIM/100CANON/IMG_0006.JPG", "remove", "archived as JBX3656/f.jpg"),
        WipeItem("DCIM/100CANON/IMG_0007.JPG", "keep", "not archived (held)"),
    ]
    plan = WipePlan(str(card), str(tmp_path / "archive"), None, tuple(items))
    result = execute_wipe(plan, operator="nurse1")
    assert [(i.source, i.action, i.reason) for i in result.items] == [
        ("DCIM/IMG_0001.JPG", "remove", "archived as JBX3656/a.jpg"),
        ("dcim/100canon/img_0002.jpg", "remove", "archived as JBX3656/a.jpg"),
        ("MISC/IMG_0003.JPG", "keep", "not under DCIM/"),
        ("DCIM/../MISC/IMG_0003.JPG", "keep", "not under DCIM/"),
        ("DCIM/100CANON/IMG_0004.JPG", "keep", "changed on the card after the check"),
        ("DCIM/100CANON/IMG_0005.JPG", "keep", "changed on the card after the check"),
        ("DCIM", "keep", "not under DCIM/"),
        (
            "DCIM/100CANON/IMG_0006.JPG",
            "keep",
            "no longer on the card when its turn came (No such file or directory): removed by "
            "someone else meanwhile, so nothing was removed here",
        ),
        ("DCIM/100CANON/IMG_0007.JPG", "keep", "not archived (held)"),
    ]
    assert result.items[2].archive_path == "JBX3656/a.jpg", "the rest of the item is kept"
    left = sorted(str(p.relative_to(card)) for p in card.rglob("*") if p.is_file())
    assert left == [
        "DCIM/100CANON/IMG_0004.JPG",
        "DCIM/100CANON/IMG_0005.JPG",
        "MISC/IMG_0003.JPG",
    ]
    archive = tmp_path / "archive"
    assert [e["source"] for e in events(archive, "wipe-remove")] == [
        "DCIM/IMG_0001.JPG",
        "dcim/100canon/img_0002.jpg",
    ]
    [start] = events(archive, "wipe-start")
    assert (start["to_remove"], start["to_keep"]) == (8, 1)
    [summary] = events(archive, "wipe")
    assert (summary["status"], summary["counts"]) == ("finished", {"removed": 2, "kept": 7})


def test_a_removal_the_card_refuses_stops_the_wipe_with_what_was_done(tmp_path: Path) -> None:
    card = make_card(
        tmp_path / "card",
        {
            FIRST: b"photo one",
            SECOND: b"photo two",
            "DCIM/100CANON/SUB/IMG_0009.JPG": b"x",
            THIRD: b"photo three",
        },
    )
    archive = tmp_path / "archive"
    archive.mkdir()
    items = (
        item_for(card, FIRST),
        item_for(card, SECOND),
        item_for(card, "DCIM/100CANON/SUB"),  # a folder: unlink fails with EISDIR
        item_for(card, THIRD),
    )
    plan = WipePlan(str(card), str(archive), card_of(card), items)
    with pytest.raises(CardWriteError) as caught:
        execute_wipe(plan, operator="nurse1")
    assert caught.value.message == f"The card at {card} stopped accepting changes (pulled out?)"
    assert caught.value.details == [
        f"could not remove DCIM/100CANON/SUB: {os.strerror(errno.EISDIR)}",
        "2 file(s) were removed before this (each in the audit log)",
    ]
    assert not (card / FIRST).exists() and (card / THIRD).exists()
    [summary] = events(archive, "wipe")
    assert summary["status"] == "failed"
    assert summary["counts"] == {"removed": 2, "kept": 2}
    assert summary["kept"] == [
        {"source": "DCIM/100CANON/SUB", "reason": "its removal failed (Is a directory)"},
        {"source": THIRD, "reason": "the wipe stopped"},
    ]
    # each event is written before its removal, so the refused one has its event too: the
    # summary's kept list says it stayed
    assert [e["source"] for e in events(archive, "wipe-remove")] == [
        FIRST,
        SECOND,
        "DCIM/100CANON/SUB",
    ]


def test_a_card_file_rewritten_in_place_with_its_time_put_back_stays(tmp_path: Path) -> None:
    """The question can stay open for as long as nobody answers: a file rewritten in place,
    its size the same and its modification time put back (`exiftool -P` editing a tag of
    fixed length does this), moved its change time, which nothing can set back."""
    card = make_card(tmp_path / "card", {FIRST: b"photo one", SECOND: b"photo two"})
    archive = tmp_path / "archive"
    archive.mkdir()
    plan = WipePlan(str(card), str(archive), None, (item_for(card, FIRST), item_for(card, SECOND)))
    edited = card / SECOND
    before = os.stat(edited)
    edited.write_bytes(b"photo 2wo")
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(edited)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    result = execute_wipe(plan, operator="nurse1")
    assert [(i.action, i.reason) for i in result.items] == [
        ("remove", "archived as JBX3656/a.jpg"),
        ("keep", "changed on the card after the check"),
    ]
    assert edited.read_bytes() == b"photo 2wo"


@pytest.mark.parametrize("field", ["device", "inode"])
def test_another_file_at_the_checked_path_stays(tmp_path: Path, field: str) -> None:
    """A folder swapped for another between the check and the removal (or another card at
    the same mount point) can hold a file of the same size and times at the same path: it
    is not the file checked, and stays."""
    card = make_card(tmp_path / "card", {FIRST: b"photo one"})
    archive = tmp_path / "archive"
    archive.mkdir()
    checked = item_for(card, FIRST)
    plan = WipePlan(str(card), str(archive), None, (replace(checked, **{field: 1}),))
    result = execute_wipe(plan, operator="nurse1")
    assert [(i.action, i.reason) for i in result.items] == [
        ("keep", "changed on the card after the check")
    ]
    assert (card / FIRST).exists()


def test_ctrl_c_during_the_wipe_is_logged_as_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = make_card(tmp_path / "card", {FIRST: b"photo one", SECOND: b"photo two"})
    archive = tmp_path / "archive"
    archive.mkdir()
    plan = WipePlan(str(card), str(archive), None, (item_for(card, FIRST), item_for(card, SECOND)))
    unlink = os.unlink

    def ctrl_c_at_the_second(path: Any, *args: Any, **kwargs: Any) -> None:
        if str(path).endswith("IMG_0002.JPG"):
            raise KeyboardInterrupt
        unlink(path, *args, **kwargs)

    with monkeypatch.context() as patched, pytest.raises(Interrupted) as caught:
        patched.setattr(os, "unlink", ctrl_c_at_the_second)
        execute_wipe(plan, operator="nurse1")
    assert caught.value.message == (
        "Interrupted after 1 of 2 file(s) proven archived were removed from the card; "
        "everything else is still on it. Run `cardingest wipe` on the card to finish (after "
        "an ingest --wipe, the same command with the same map file finishes it too)."
    )
    assert caught.value.exit_code == 130
    [summary] = events(archive, "wipe")
    assert (summary["status"], summary["counts"]) == ("interrupted", {"removed": 1, "kept": 1})
    assert summary["kept"] == [{"source": SECOND, "reason": "the wipe stopped"}]
    assert (card / SECOND).exists() and not (card / FIRST).exists()


def test_a_second_ctrl_c_right_after_a_removal_is_counted_as_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt can land between the unlink and its count: the summary says what
    the card has (the file gone: removed), not "the wipe stopped"."""
    card = make_card(tmp_path / "card", {FIRST: b"photo one", SECOND: b"photo two"})
    archive = tmp_path / "archive"
    archive.mkdir()
    plan = WipePlan(str(card), str(archive), None, (item_for(card, FIRST), item_for(card, SECOND)))
    unlink = os.unlink

    def ctrl_c_after_the_first(path: Any, *args: Any, **kwargs: Any) -> None:
        unlink(path, *args, **kwargs)
        if str(path).endswith("IMG_0001.JPG"):
            raise KeyboardInterrupt

    with monkeypatch.context() as patched, pytest.raises(Interrupted):
        patched.setattr(os, "unlink", ctrl_c_after_the_first)
        execute_wipe(plan, operator="nurse1")
    assert not (card / FIRST).exists() and (card / SECOND).exists()
    [summary] = events(archive, "wipe")
    assert (summary["status"], summary["counts"]) == ("interrupted", {"removed": 1, "kept": 1})
    assert summary["kept"] == [{"source": SECOND, "reason": "the wipe stopped"}]


def test_a_wipe_asked_to_stop_stops_between_files(tmp_path: Path) -> None:
    """``stopped`` (the CLI's first Ctrl-C) is asked before each file, never between a
    removal and its audit event."""
    card = make_card(tmp_path / "card", {FIRST: b"photo one", SECOND: b"photo two"})
    archive = tmp_path / "archive"
    archive.mkdir()
    plan = WipePlan(str(card), str(archive), None, (item_for(card, FIRST), item_for(card, SECOND)))
    asked: list[bool] = []

    def after_the_first() -> bool:
        asked.append(True)
        return len(asked) > 1

    with pytest.raises(Interrupted, match=r"^Interrupted after 1 of 2 file\(s\)"):
        execute_wipe(plan, operator="nurse1", stopped=after_the_first)
    assert len(asked) == 2
    assert [e["source"] for e in events(archive, "wipe-remove")] == [FIRST]
    [summary] = events(archive, "wipe")
    assert (summary["status"], summary["counts"]) == ("interrupted", {"removed": 1, "kept": 1})
    assert (card / SECOND).exists() and not (card / FIRST).exists()


def test_a_wipe_id_is_utc_time_whatever_the_clinics_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    try:
        stamp = wipe.new_wipe_id()
    finally:
        monkeypatch.undo()
        time.tzset()
    assert WIPE_ID.match(stamp)
    when = datetime.strptime(stamp[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=10), "UTC, not New Zealand time"


@pytest.mark.card
def test_a_read_only_card_is_refused_before_anything_is_written(
    fat_card: CardFactory, tmp_path: Path
) -> None:
    mount = fat_card({FIRST: b"photo one"}, readonly=True)
    archive = tmp_path / "archive"
    archive.mkdir()
    plan = WipePlan(str(mount), str(archive), None, (item_for(mount, FIRST),))
    with pytest.raises(CardWriteError) as caught:
        execute_wipe(plan, operator="nurse1")
    assert caught.value.message == (
        f"The card at {mount} is read-only (write-protect switch on, or mounted read-only):"
        " nothing was removed"
    )
    assert (mount / FIRST).read_bytes() == b"photo one"
    assert not (archive / ".cardingest" / "audit.jsonl").exists()


def test_the_writable_check_passes_where_statvfs_cannot_look(tmp_path: Path) -> None:
    wipe.check_writable(tmp_path / "not-mounted-any-more", [])


def test_a_shots_sidecar_is_removed_before_its_photo(tmp_path: Path) -> None:
    """A wipe killed between a photo and its XMP (kill -9 in a fault trial) left the XMP
    alone on the card, which every later `ingest --wipe` then held as "sidecar without its
    photo". The sidecar goes first, so a kill leaves the photo, archived and wiped next."""
    jpeg, xmp = "DCIM/100CANON/IMG_0001.JPG", "DCIM/100CANON/IMG_0001.XMP"
    card = make_card(tmp_path / "card", {jpeg: b"photo one", xmp: b"<x/>", SECOND: b"photo two"})
    archive = tmp_path / "archive"
    archive.mkdir()
    plan = WipePlan(str(card), str(archive), card_of(card), tuple(
        item_for(card, source) for source in (jpeg, xmp, SECOND)
    ))  # fmt: skip
    result = execute_wipe(plan, operator="nurse1")
    assert [e["source"] for e in events(archive, "wipe-remove")] == [xmp, jpeg, SECOND]
    assert [item.source for item in result.items] == [jpeg, xmp, SECOND]  # as planned
