"""The wipe gate end to end on FUSE-mounted card images, through the real CLI."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cardimage import CardFactory, require
from clinic_helpers import cli
from conftest import tmpfs_on

from cardingest import ingest, wipe
from cardingest.archive.catalogue import CatalogueRecord
from cardingest.card import scan
from cardingest.cli import wipe as cli_wipe
from cardingest.errors import EXIT_FAILURE, EXIT_HELD, EXIT_OK, EXIT_USAGE
from cardingest.models import Card
from cardingest.storage.transfer import TransferResult
from cardingest.wipe import names_file, same_card

NOTES = b"camera notes, not a photo"


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return tmp_path / "archive"


def jpegs(samples_dir: Path) -> list[Path]:
    """Real camera JPEGs, smallest first (keeps card images small)."""
    found = [p for p in (samples_dir / "real").iterdir() if p.suffix.lower() in (".jpg", ".jpeg")]
    return sorted(found, key=lambda p: (p.stat().st_size, p.name))


def photos(samples: list[Path], count: int, folder: str = "100CANON") -> dict[str, Path]:
    """``IMG_0001.JPG``… cycling through ``samples`` (so bytes repeat after len(samples))."""
    return {
        f"DCIM/{folder}/IMG_{n:04d}.JPG": samples[(n - 1) % len(samples)]
        for n in range(1, count + 1)
    }


def write_map(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "map.csv"
    path.write_text("files,id\n" + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def snapshot(mount: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) on the card, by relative path."""
    found: dict[str, bytes | None] = {}
    for folder, dirs, files in os.walk(mount):
        for name in dirs:
            found[Path(folder, name).relative_to(mount).as_posix() + "/"] = None
        for name in files:
            path = Path(folder, name)
            found[path.relative_to(mount).as_posix()] = path.read_bytes()
    return found


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def events(archive: Path, kind: str | None = None) -> list[dict[str, Any]]:
    lines = (archive / ".cardingest" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    found = [json.loads(line) for line in lines]
    return [e for e in found if kind is None or e["event"] == kind]


def flip_byte(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def wipe_json(mount: Path, archive: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = cli("wipe", mount, "--archive", archive, "--json", *extra)
    return result.exit_code, json.loads(result.stdout)


def actions(document: dict[str, Any]) -> dict[str, str]:
    return {item["source"]: item["action"] for item in document["items"]}


def reasons(document: dict[str, Any]) -> dict[str, str]:
    return {item["source"]: item["reason"] for item in document["items"]}


def test_only_archived_photos_leave_the_card(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    samples = jpegs(samples_dir)
    files: dict[str, Path | bytes] = {
        **photos(samples[:6], 6),
        "DCIM/100CANON/IMG_0001.THM": b"thumbnail of IMG_0001",
        "DCIM/100CANON/IMG_0005.THM": b"thumbnail of IMG_0005",
        "DCIM/100CANON/INDEX.CTG": NOTES,
        "DCIM/101CANON/IMG_0101.JPG": samples[6],
        "MISC/SETTINGS.TXT": NOTES,
    }
    mount = fat_card(files)
    before = snapshot(mount)
    map_file = write_map(
        tmp_path, "100CANON/IMG_0001-100CANON/IMG_0003,JBX3656", "IMG_0101,MCJ1984"
    )
    assert cli("ingest", mount, "--map", map_file, "--archive", archive).exit_code == EXIT_HELD

    code, document = wipe_json(mount, archive, "--yes")

    assert code == EXIT_HELD
    removed = {
        "DCIM/100CANON/IMG_0001.JPG",
        "DCIM/100CANON/IMG_0001.THM",
        "DCIM/100CANON/IMG_0002.JPG",
        "DCIM/100CANON/IMG_0003.JPG",
        "DCIM/101CANON/IMG_0101.JPG",
    }
    assert {s for s, a in actions(document).items() if a == "remove"} == removed
    assert set(actions(document)) == removed | {
        "DCIM/100CANON/IMG_0004.JPG",
        "DCIM/100CANON/IMG_0005.JPG",
        "DCIM/100CANON/IMG_0005.THM",
        "DCIM/100CANON/IMG_0006.JPG",
    }
    assert document["summary"] == {"removed": 5, "kept": 4}
    assert reasons(document)["DCIM/100CANON/IMG_0004.JPG"].startswith("not archived")
    after = snapshot(mount)
    assert after == {path: data for path, data in before.items() if path not in removed}
    assert "DCIM/101CANON/" in after
    removals = events(archive, "wipe-remove")
    assert {e["source"] for e in removals} == removed
    for event in removals:
        assert event["sha256"] == sha(before[event["source"]] or b"")
        assert (archive / event["archive_path"]).read_bytes() == before[event["source"]]
    (summary,) = events(archive, "wipe")
    assert (summary["status"], summary["counts"]) == ("finished", {"removed": 5, "kept": 4})
    assert all(e["wipe_id"] == summary["wipe_id"] for e in removals)


def test_dry_run_shows_each_decision_and_changes_nothing(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    mount = fat_card(photos(jpegs(samples_dir)[:3], 3))
    map_file = write_map(tmp_path, "IMG_0001-IMG_0002,JBX3656")
    assert cli("ingest", mount, "--map", map_file, "--archive", archive).exit_code == EXIT_HELD
    before = snapshot(mount)
    lines_before = len(events(archive))

    text = cli("wipe", mount, "--archive", archive, "--dry-run")
    code, document = wipe_json(mount, archive, "--dry-run")

    assert (text.exit_code, code) == (EXIT_HELD, EXIT_HELD)
    for name, action in (("IMG_0001", "remove"), ("IMG_0002", "remove"), ("IMG_0003", "keep")):
        line = next(line for line in text.stdout.splitlines() if name in line)
        assert action in line
    assert document["dry_run"] is True
    assert document["summary"] == {"removed": 2, "kept": 1}
    assert set(document) == {"source", "archive", "dry_run", "items", "summary", "warnings"}
    assert set(document["items"][0]) == {"source", "sha256", "action", "reason", "archive_path"}
    assert snapshot(mount) == before
    assert len(events(archive)) == lines_before


def test_ingest_wipe_clears_a_fully_archived_card(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    mount = fat_card({**photos(jpegs(samples_dir)[:4], 4), "MISC/SETTINGS.TXT": NOTES})
    before = snapshot(mount)

    result = cli(
        "ingest", mount, "--id", "JBX3656", "--archive", archive, "--wipe", "--yes", "--json"
    )

    assert result.exit_code == EXIT_OK
    document = json.loads(result.stdout)
    assert document["summary"]["copied"] == 4
    assert document["wipe"]["summary"] == {"removed": 4, "kept": 0}
    assert snapshot(mount) == {k: v for k, v in before.items() if "/IMG_" not in k}
    assert snapshot(mount)["MISC/SETTINGS.TXT"] == NOTES
    assert "DCIM/100CANON/" in snapshot(mount)
    assert len(list((archive / "JBX3656").iterdir())) == 4


def test_ingest_with_a_failure_does_not_wipe(
    fat_card: CardFactory,
    samples_dir: Path,
    archive: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mount = fat_card(photos(jpegs(samples_dir)[:3], 3))
    before = snapshot(mount)
    real = ingest.transfer_many

    def one_fails(*args: Any, **kwargs: Any) -> Any:
        for n, done in enumerate(real(*args, **kwargs)):
            yield done if n else TransferResult(done.source, 0, None, (), "simulated I/O error")

    monkeypatch.setattr(ingest, "transfer_many", one_fails)

    result = cli("ingest", mount, "--id", "JBX3656", "--archive", archive, "--wipe", "--yes")

    assert result.exit_code == EXIT_FAILURE
    assert "Not wiping" in result.stderr
    assert snapshot(mount) == before
    assert not events(archive, "wipe-start")


def test_photo_edited_on_the_card_after_ingest_stays(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    mount = fat_card(photos(jpegs(samples_dir)[:3], 3))
    assert cli("ingest", mount, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    edited = mount / "DCIM/100CANON/IMG_0002.JPG"
    with open(edited, "ab") as handle:
        handle.write(b"edited in camera")

    code, document = wipe_json(mount, archive, "--yes")

    assert code == EXIT_HELD
    assert actions(document) == {
        "DCIM/100CANON/IMG_0001.JPG": "remove",
        "DCIM/100CANON/IMG_0002.JPG": "keep",
        "DCIM/100CANON/IMG_0003.JPG": "remove",
    }
    assert "changed on the card" in reasons(document)["DCIM/100CANON/IMG_0002.JPG"]
    assert edited.read_bytes().endswith(b"edited in camera")


def test_an_archive_copy_that_is_a_link_to_the_card_file_is_no_copy(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    """A copy replaced by a symbolic link to the card file itself reads as the photo; were
    it followed, the wipe would remove the only copy. It is no copy: verify names it, the
    wipe keeps the photo, and the next ingest puts a real copy back, the card untouched."""
    mount = fat_card(photos(jpegs(samples_dir)[:2], 2))
    assert cli("ingest", mount, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    card_file = mount / "DCIM/100CANON/IMG_0001.JPG"
    original = card_file.read_bytes()
    [copy] = [p for p in (archive / "JBX3656").iterdir() if p.read_bytes() == original]
    copy.unlink()
    copy.symlink_to(card_file)

    verified = cli("verify", "--archive", archive, "--json")
    assert verified.exit_code == EXIT_FAILURE
    [problem] = json.loads(verified.stdout)["problems"]
    assert (problem["kind"], problem["detail"]) == ("changed", "a symbolic link, not a copy")
    code, document = wipe_json(mount, archive, "--yes")
    assert code == EXIT_HELD
    assert actions(document)["DCIM/100CANON/IMG_0001.JPG"] == "keep"
    assert "a symbolic link, not a copy" in reasons(document)["DCIM/100CANON/IMG_0001.JPG"]
    assert card_file.read_bytes() == original

    assert cli("ingest", mount, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    assert not copy.is_symlink() and copy.read_bytes() == original
    assert card_file.read_bytes() == original
    assert cli("verify", "--archive", archive).exit_code == EXIT_OK


@pytest.mark.parametrize("when", ["before the ingest", "after the ingest"])
def test_a_patient_folder_that_is_a_link_onto_the_card_is_no_folder(
    fat_card: CardFactory, samples_dir: Path, archive: Path, when: str
) -> None:
    """A patient's folder that is a symbolic link could lead onto the card: an ingest
    through it would "archive" the photos on the card, and the wipe would then clear them
    from DCIM. The ingest refuses to write through it; copies reached through it are no
    copies (the wipe keeps their photos), and are not repaired through it either."""
    mount = fat_card(photos(jpegs(samples_dir)[:2], 2))
    elsewhere = mount / "PATIENTS"
    elsewhere.mkdir()
    folder = archive / "JBX3656"
    if when == "after the ingest":
        assert cli("ingest", mount, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
        for copy in folder.iterdir():
            (elsewhere / copy.name).write_bytes(copy.read_bytes())
        shutil.rmtree(folder)
    else:
        archive.mkdir()
    folder.symlink_to(elsewhere)
    before = snapshot(mount)

    ingested = cli("ingest", mount, "--id", "JBX3656", "--archive", archive, "--wipe", "--yes")
    # before: every copy fails; after: the photos are archived, and the wipe keeps them
    assert ingested.exit_code == (EXIT_FAILURE if when == "before the ingest" else EXIT_HELD)
    assert "is a symbolic link" in ingested.stdout + ingested.stderr
    assert snapshot(mount) == before
    if when == "after the ingest":
        code, document = wipe_json(mount, archive, "--yes")
        assert code == EXIT_HELD
        assert set(actions(document).values()) == {"keep"}
        said = reasons(document)
        assert all("is a symbolic link" in said[p] for p in said if p.startswith("DCIM/"))
        outside = [p for p in said if p.startswith("PATIENTS/")]  # the copies, on the card
        assert outside and all(said[p].startswith("a photo outside DCIM/") for p in outside)
        verified = json.loads(cli("verify", "--archive", archive, "--json").stdout)
        assert {p["kind"] for p in verified["problems"] if p["where"] == "archive"} >= {
            "unreadable"
        }
        assert snapshot(mount) == before


@contextlib.contextmanager
def bound(source: Path, onto: Path) -> Iterator[None]:
    """``source`` bind-mounted onto the folder ``onto`` (root only)."""
    done = subprocess.run(["mount", "--bind", str(source), str(onto)], capture_output=True)
    require(done.returncode == 0, f"cannot bind-mount: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(onto)], check=False)


def test_a_folder_mounted_inside_the_archive_is_refused(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    """The card's folder bind-mounted in place of the patient's: "copies" would land on the
    card, and the wipe would then clear DCIM. A mount inside the archive is refused by the
    ingest and by the wipe (exit 2), before anything is written or removed."""
    mount = fat_card(photos(jpegs(samples_dir)[:2], 2))
    (archive / "JBX3656").mkdir(parents=True)
    before = snapshot(mount)
    with bound(mount / "DCIM/100CANON", archive / "JBX3656"):
        for argv in (["ingest", mount, "--id", "JBX3656", "--wipe", "--yes"], ["wipe", mount]):
            ran = cli(*argv, "--archive", archive, "--yes" if argv[0] == "wipe" else "--json")
            assert ran.exit_code == EXIT_USAGE, ran.stdout + ran.stderr
            assert "is another file system mounted inside" in ran.stderr
    assert snapshot(mount) == before


def test_copies_on_a_file_system_mounted_inside_the_archive_are_no_copies(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    """Mounted after the ingest (a tmpfs over the patient's folder, holding the same
    files): verify calls its copies unreadable, however good their bytes."""
    mount = fat_card(photos(jpegs(samples_dir)[:2], 2))
    assert cli("ingest", mount, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    folder = archive / "JBX3656"
    held = {path.name: path.read_bytes() for path in folder.iterdir()}
    with tmpfs_on(folder, 16):
        for name, data in held.items():
            (folder / name).write_bytes(data)
        verified = json.loads(cli("verify", "--archive", archive, "--json").stdout)
    details = {p["detail"] for p in verified["problems"] if p["kind"] == "unreadable"}
    assert details == {"its folder JBX3656 is another file system mounted in the archive"}


def test_a_card_folder_that_is_the_archive_folder_keeps_its_photos(
    samples_dir: Path, tmp_path: Path, archive: Path
) -> None:
    """The other way round: the archive's folder bind-mounted in place of the card's, whose
    photo bears the very name it was archived under. The card file then is its archive
    copy (the same file on disk): removed, the only copy would go."""
    sample = jpegs(samples_dir)[0]
    scratch, card = tmp_path / "scratch", tmp_path / "card"
    (scratch / "DCIM" / "100CANON").mkdir(parents=True)
    shutil.copy(sample, scratch / "DCIM" / "100CANON" / "IMG_0001.JPG")
    assert cli("ingest", scratch, "--id", "JBX3656", "--archive", tmp_path / "a0").exit_code == 0
    [named] = (tmp_path / "a0" / "JBX3656").iterdir()
    folder = card / "DCIM" / "JBX3656"
    folder.mkdir(parents=True)
    shutil.copy(sample, folder / named.name)
    assert cli("ingest", card, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    copy = archive / "JBX3656" / named.name
    assert copy.is_file()
    with bound(archive / "JBX3656", folder):
        code, document = wipe_json(card, archive, "--yes")
    assert code == EXIT_HELD
    why = reasons(document)[f"DCIM/JBX3656/{named.name}"]
    assert "is this card file itself (the same file on disk)" in why
    assert copy.read_bytes() == sample.read_bytes()


@pytest.fixture
def memory_archive(tmp_path: Path) -> Iterator[Path]:
    """An archive folder on a tmpfs of the test's own."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    with tmpfs_on(mount, 32):
        yield mount / "archive"


def test_an_archive_in_memory_is_never_wiped_for(
    fat_card: CardFactory, samples_dir: Path, memory_archive: Path, tmp_path: Path
) -> None:
    """/tmp is a tmpfs on many systems: "copied and verified" there is gone at the next
    restart. The ingest warns; `wipe` and `ingest --wipe` refuse (exit 2), the card as it
    was; so do they with the backup there."""
    mount = fat_card(photos(jpegs(samples_dir)[:2], 2))
    before = snapshot(mount)
    into = ("--id", "JBX3656", "--archive", memory_archive)
    refused = cli("ingest", mount, *into, "--wipe", "--yes")
    assert refused.exit_code == EXIT_USAGE
    assert "is on tmpfs, in memory" in refused.stderr
    assert not memory_archive.exists()
    for dry in (("preview",), ("ingest", "--dry-run")):  # trial: said by the ingest alone
        planned = cli(*dry, mount, *into)
        assert planned.exit_code == EXIT_OK, planned.stdout + planned.stderr
        assert "warning: the archive" in planned.stderr and "is on tmpfs" in planned.stderr
    ingested = cli("ingest", mount, *into)
    assert ingested.exit_code == EXIT_OK, ingested.stdout + ingested.stderr
    assert "warning: the archive" in ingested.stderr and "is on tmpfs" in ingested.stderr
    backed = cli("ingest", mount, "--id", "JBX3656", "--archive", tmp_path / "disk", "--backup",
                 memory_archive.parent / "backup")  # fmt: skip
    assert backed.exit_code == EXIT_OK, backed.stdout + backed.stderr
    assert "warning: the backup" in backed.stderr and "is on tmpfs" in backed.stderr
    for extra in ("--yes", "--dry-run"):
        wiped = cli("wipe", mount, "--archive", memory_archive, extra, "--json")
        assert wiped.exit_code == EXIT_USAGE
        assert "is on tmpfs, in memory" in json.loads(wiped.stdout)["error"]["message"]
    # A backup in memory: the card would be left with one copy on a disk (trial: wiped).
    backup = ("--backup", memory_archive.parent / "backup")
    for command in (("wipe", mount), ("ingest", mount, "--id", "JBX3656", "--wipe")):
        wiped = cli(*command, "--archive", tmp_path / "disk", *backup, "--yes", "--json")
        assert wiped.exit_code == EXIT_USAGE, wiped.stdout + wiped.stderr
        said = json.loads(wiped.stdout)["error"]["message"]
        assert f"the backup {memory_archive.parent / 'backup'} is on tmpfs, in memory" in said
    assert snapshot(mount) == before


def test_identical_bytes_twice_for_one_patient(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    """The same photo twice on a card is archived once; both card files rest on that copy.

    Another patient's copy of the same bytes never counts.
    """
    a, b = jpegs(samples_dir)[:2]
    mount = fat_card(
        {
            "DCIM/100CANON/IMG_0001.JPG": a,
            "DCIM/100CANON/IMG_0002.JPG": a,
            "DCIM/100CANON/IMG_0003.JPG": a,
            "DCIM/100CANON/IMG_0004.JPG": b,
            "DCIM/100CANON/IMG_0005.JPG": b,
            "DCIM/100CANON/IMG_0006.JPG": b,
        }
    )
    map_file = write_map(
        tmp_path, "IMG_0001-IMG_0002,JBX3656", "IMG_0004,JBX3656", "IMG_0005-IMG_0006,MCJ1984"
    )
    # b for two patients: held, each naming the other, unless meant for both
    args = ("ingest", mount, "--map", map_file, "--archive", archive, "--json")
    assert cli(*args, "--dry-run").exit_code == EXIT_HELD
    ingested = cli(*args, "--allow-other-patient")
    assert ingested.exit_code == EXIT_HELD
    items = {i["source"]: i for i in json.loads(ingested.stdout)["items"]}
    assert items["DCIM/100CANON/IMG_0002.JPG"]["action"] == "skip"
    shared = items["DCIM/100CANON/IMG_0001.JPG"]["target"]
    assert items["DCIM/100CANON/IMG_0002.JPG"]["reason"] == (
        f"the same photo as DCIM/100CANON/IMG_0001.JPG on this card: it is copied once, as {shared}"
    )
    assert items["DCIM/100CANON/IMG_0002.JPG"]["target"] == shared
    assert items["DCIM/100CANON/IMG_0006.JPG"]["action"] == "skip"
    flip_byte(archive / items["DCIM/100CANON/IMG_0004.JPG"]["target"])

    code, document = wipe_json(mount, archive, "--yes")

    assert code == EXIT_HELD
    assert actions(document) == {
        "DCIM/100CANON/IMG_0001.JPG": "remove",
        "DCIM/100CANON/IMG_0002.JPG": "remove",
        "DCIM/100CANON/IMG_0003.JPG": "keep",
        "DCIM/100CANON/IMG_0004.JPG": "keep",
        "DCIM/100CANON/IMG_0005.JPG": "remove",
        "DCIM/100CANON/IMG_0006.JPG": "remove",
    }
    why = reasons(document)
    assert why["DCIM/100CANON/IMG_0002.JPG"] == f"archived as {shared}"
    assert why["DCIM/100CANON/IMG_0003.JPG"].startswith("not archived")
    assert "no longer matches" in why["DCIM/100CANON/IMG_0004.JPG"]


def test_a_damaged_shared_copy_keeps_every_card_file_resting_on_it(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    a = jpegs(samples_dir)[0]
    mount = fat_card({"DCIM/100CANON/IMG_0001.JPG": a, "DCIM/100CANON/IMG_0002.JPG": a})
    ingested = cli("ingest", mount, "--id", "JBX3656", "--archive", archive, "--json")
    assert ingested.exit_code == EXIT_OK
    summary = json.loads(ingested.stdout)["summary"]
    assert (summary["copied"], summary["skipped"]) == (1, 1)
    (copy,) = (archive / "JBX3656").glob("*.jpg")
    flip_byte(copy)
    code, document = wipe_json(mount, archive, "--yes")
    assert code == EXIT_HELD
    assert set(actions(document).values()) == {"keep"}


def test_no_terminal_and_no_yes_is_refused(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    exe = shutil.which("cardingest")
    require(exe is not None, "the cardingest console script is not installed (pip install .)")
    assert exe is not None
    mount = fat_card(photos(jpegs(samples_dir)[:2], 2))
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "x")}

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, *map(str, args)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    refused_ingest = run("ingest", mount, "--id", "JBX3656", "--archive", archive, "--wipe")
    assert refused_ingest.returncode == EXIT_USAGE
    assert "--yes" in refused_ingest.stderr
    assert not (archive / ".cardingest" / "catalogue.sqlite").exists()

    assert run("ingest", mount, "--id", "JBX3656", "--archive", archive).returncode == EXIT_OK
    before = snapshot(mount)
    refused = run("wipe", mount, "--archive", archive)
    assert refused.returncode == EXIT_USAGE
    assert "--yes" in refused.stderr
    assert refused.stdout == ""
    assert snapshot(mount) == before
    assert not events(archive, "wipe-start")

    done = run("wipe", mount, "--archive", archive, "--yes", "--json")
    assert done.returncode == EXIT_OK
    assert json.loads(done.stdout)["summary"] == {"removed": 2, "kept": 0}


def test_terminal_confirmation(
    fat_card: CardFactory,
    samples_dir: Path,
    archive: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli_wipe, "can_ask", lambda: True)
    mount = fat_card(photos(jpegs(samples_dir)[:2], 2))
    assert cli("ingest", mount, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    before = snapshot(mount)

    declined = cli("wipe", mount, "--archive", archive, input="n\n")
    assert declined.exit_code == EXIT_HELD
    assert "Remove 2 file(s)" in declined.stderr
    assert "not a secure erase" in declined.stderr
    assert snapshot(mount) == before
    assert not events(archive, "wipe-remove")

    accepted = cli("wipe", mount, "--archive", archive, input="y\n")
    assert accepted.exit_code == EXIT_OK
    assert "IMG_0001.JPG" in accepted.stdout
    assert not list((mount / "DCIM/100CANON").iterdir())


def test_read_only_card_is_a_clear_error(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    mount = fat_card(photos(jpegs(samples_dir)[:3], 3))
    assert cli("ingest", mount, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    fat_card.handle(mount).remount_readonly()
    before = snapshot(mount)
    dry = cli("wipe", mount, "--archive", archive, "--dry-run")  # a trial: no word of it
    assert dry.exit_code == EXIT_OK and "is read-only" in dry.stderr, dry.stderr
    assert "the wipe itself would refuse" in dry.stderr
    _, document = wipe_json(mount, archive, "--dry-run")  # and a script learns it
    assert any("the wipe itself would refuse" in w for w in document["warnings"])

    result = cli("wipe", mount, "--archive", archive, "--yes")

    assert result.exit_code == EXIT_FAILURE
    assert "read-only" in result.stderr
    assert "IMG_0001.JPG" not in result.stdout  # said before the check, not after its table
    assert snapshot(mount) == before
    assert not events(archive, "wipe-start")


def test_read_only_found_at_the_first_removal(
    fat_card: CardFactory,
    samples_dir: Path,
    archive: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the up-front probe, the first failing unlink stops the wipe."""
    mount = fat_card(photos(jpegs(samples_dir)[:3], 3))
    assert cli("ingest", mount, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    fat_card.handle(mount).remount_readonly()
    before = snapshot(mount)
    monkeypatch.setattr(wipe, "check_writable", lambda root, items: None)
    monkeypatch.setattr(cli_wipe, "refuse_read_only_card", lambda root: None)

    result = cli("wipe", mount, "--archive", archive, "--yes", "--json")

    assert result.exit_code == EXIT_FAILURE
    assert json.loads(result.stdout)["error"]["exit"] == EXIT_FAILURE
    assert "read-only" in result.stderr
    assert snapshot(mount) == before
    (attempt,) = events(archive, "wipe-remove")  # written right before the refused removal
    (summary,) = events(archive, "wipe")
    assert (summary["status"], summary["counts"]) == ("failed", {"removed": 0, "kept": 3})
    assert summary["kept"][0] == {
        "source": attempt["source"],
        "reason": "its removal failed (Read-only file system)",
    }


def test_wipe_needs_a_catalogue_and_a_dcim_folder(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    mount = fat_card(photos(jpegs(samples_dir)[:1], 1))
    before = snapshot(mount)
    no_catalogue = cli("wipe", mount, "--archive", archive, "--yes")
    assert no_catalogue.exit_code == EXIT_USAGE
    assert "No catalogue" in no_catalogue.stderr
    assert not archive.exists()
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "IMG_0001.JPG").write_bytes(b"not on a card")
    no_dcim = cli("wipe", plain, "--archive", archive, "--yes")
    assert no_dcim.exit_code == EXIT_USAGE
    assert "DCIM" in no_dcim.stderr
    assert snapshot(mount) == before


def test_serials_must_match_when_both_are_known(
    exfat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    files = photos(jpegs(samples_dir)[:2], 2)
    first = exfat_card(files, label="FIRST", serial="1234-ABCD")
    other = exfat_card(files, label="OTHER", serial="5678-ABCD")
    assert cli("ingest", first, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK

    code, document = wipe_json(other, archive, "--yes")
    assert code == EXIT_HELD
    assert set(actions(document).values()) == {"keep"}
    assert all("another card" in reason for reason in reasons(document).values())

    code, document = wipe_json(first, archive, "--yes")
    assert code == EXIT_OK
    assert set(actions(document).values()) == {"remove"}


def record(**fields: Any) -> CatalogueRecord:
    base: dict[str, Any] = {
        "patient_id": "JBX3656",
        "archive_path": "JBX3656/JBX3656-20080530-155601.jpg",
        "sha256": "0" * 64,
        "size": 1,
        "captured_at": "2008-05-30T15:56:01",
        "captured_raw": "2008-05-30T15:56:01",
        "time_source": "exif:DateTimeOriginal",
        "source_path": "DCIM/100CANON/IMG_0001.JPG",
    }
    return CatalogueRecord(**{**base, **fields})


def card(serial: str | None) -> Card:
    return Card(mount="/media/CARD", fstype="vfat", device="/dev/sdb1", serial=serial)


@pytest.mark.parametrize(
    ("recorded", "current", "same"),
    [
        ("1234-ABCD", "1234-abcd", True),
        ("1234-ABCD", "1234ABCD", True),
        ("1234-ABCD", "5678-ABCD", False),
        (None, "5678-ABCD", True),
        ("1234-ABCD", None, True),
    ],
)
def test_same_card(recorded: str | None, current: str | None, same: bool) -> None:
    assert same_card(record(card_serial=recorded), card(current)) is same


@pytest.mark.parametrize(
    ("recorded", "named"),
    [
        ("DCIM/100CANON/IMG_0001.JPG", True),
        ("100CANON/IMG_0001.JPG", True),
        ("IMG_0001.JPG", True),
        ("DCIM/101CANON/IMG_0001.JPG", False),
        ("MG_0001.JPG", False),
        ("", False),
    ],
)
def test_names_file(recorded: str, named: bool) -> None:
    assert names_file(record(source_path=recorded), "DCIM/100CANON/IMG_0001.JPG") is named


def test_done_when_thirty_of_forty_mapped_one_copy_flipped(
    fat_card: CardFactory, samples_dir: Path, archive: Path, tmp_path: Path
) -> None:
    """The issue's check: 40 real photos, a map for 30, one archive copy damaged."""
    samples = jpegs(samples_dir)
    files: dict[str, Path | bytes] = {**photos(samples, 40), "DCIM/100CANON/INDEX.CTG": NOTES}
    mount = fat_card(files, size_mb=96)
    before = snapshot(mount)
    map_file = write_map(tmp_path, "IMG_0001-IMG_0015,JBX3656", "IMG_0016-IMG_0030,MCJ1984")

    # the samples repeat, so both patients have some of the same bytes: meant here
    ingested = cli(
        "ingest", mount, "--map", map_file, "--archive", archive, "--json", "--allow-other-patient"
    )
    assert ingested.exit_code == EXIT_HELD
    items = json.loads(ingested.stdout)["items"]
    targets = {i["source"]: i["target"] for i in items if i["action"] == "copy"}
    assert len(targets) == 30
    mapped_bytes = [before[source] for source in targets]
    victim = next(s for s in sorted(targets) if mapped_bytes.count(before[s]) == 1)
    flip_byte(archive / targets[victim])

    verified = cli("verify", "--archive", archive, "--json")
    assert verified.exit_code == EXIT_FAILURE
    problems = json.loads(verified.stdout)["problems"]
    assert [(p["kind"], p["path"]) for p in problems] == [("changed", targets[victim])]

    code, document = wipe_json(mount, archive, "--yes")

    assert code == EXIT_HELD
    removed = set(targets) - {victim}
    assert len(removed) == 29
    assert {s for s, a in actions(document).items() if a == "remove"} == removed
    assert snapshot(mount) == {k: v for k, v in before.items() if k not in removed}
    assert "no longer matches" in reasons(document)[victim]


def test_file_changed_between_check_and_removal_stays(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    mount = fat_card(photos(jpegs(samples_dir)[:2], 2))
    assert cli("ingest", mount, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    plan = wipe.plan_wipe(mount, None, archive)
    assert [item.action for item in plan.items] == ["remove", "remove"]
    late = mount / "DCIM/100CANON/IMG_0002.JPG"
    with open(late, "ab") as handle:
        handle.write(b"written after the check")

    result = wipe.execute_wipe(plan, operator="nurse1")

    assert [(i.action, i.reason) for i in result.items] == [
        ("remove", plan.items[0].reason),
        ("keep", "changed on the card after the check"),
    ]
    assert late.exists()
    assert not (mount / "DCIM/100CANON/IMG_0001.JPG").exists()
    assert [e["source"] for e in events(archive, "wipe-remove")] == [plan.items[0].source]


def test_fusefat_numbering_a_file_anew_after_the_check_keeps_nothing_back(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    """fusefat gives a file a new inode number once the kernel has forgotten it (here its
    inodes dropped, as memory pressure does on a busy workstation, between the check and the
    removals). Trial: photos unchanged were kept as "changed on the card after the check",
    some on most runs. The re-read hash, made for every file on fusefat, decides instead; a
    file really changed still stays. The card is found from the mount table when the caller
    names none."""
    require(os.geteuid() == 0, "dropping the kernel's inodes needs root")
    mount = fat_card(photos(jpegs(samples_dir)[:3], 3))
    assert cli("ingest", mount, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    plan = wipe.plan_wipe(mount, None, archive)
    assert [item.action for item in plan.items] == ["remove"] * 3
    numbers = [os.stat(mount / item.source).st_ino for item in plan.items]
    late = mount / plan.items[2].source
    with open(late, "r+b") as handle:  # the same size, rewritten in place: no time moves
        handle.seek(-3, os.SEEK_END)
        byte = handle.read(1)
        handle.seek(-3, os.SEEK_END)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("2\n")
    require(
        [os.stat(mount / item.source).st_ino for item in plan.items] != numbers,
        "this fusefat keeps its inode numbers when the kernel forgets them",
    )

    result = wipe.execute_wipe(plan, operator="nurse1")

    assert [(i.action, i.reason) for i in result.items] == [
        ("remove", plan.items[0].reason),
        ("remove", plan.items[1].reason),
        ("keep", "changed on the card after the check"),
    ]
    assert late.exists()


def test_a_file_of_a_kind_cardingest_does_not_know_is_named_and_kept(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    """A PNG or a JPEG XL under DCIM/ may be a photo of a kind cardingest does not know: not
    passed over in silence ("kept 0", exit 0, then a formatted card), but named and kept,
    exit 3. An MPO (Fuji 3D, a JPEG) is a photo and is archived."""
    [sample] = jpegs(samples_dir)[:1]
    mount = fat_card(
        {"DCIM/100CANON/DSCF0001.MPO": sample, "DCIM/100CANON/IMG_0002.PNG": b"\x89PNG" + bytes(99),
         "DCIM/100CANON/IMG_0003.JXL": b"\xff\x0a" + bytes(99), "DCIM/CANONMSC/M0100.CTG": b"x"}
    )  # fmt: skip
    result = cli(
        "ingest", mount, "--id", "JBX3656", "--archive", archive, "--wipe", "--yes", "--json"
    )
    assert result.exit_code == EXIT_HELD, result.output
    document = json.loads(result.stdout)
    unknown = ["DCIM/100CANON/IMG_0002.PNG", "DCIM/100CANON/IMG_0003.JXL"]
    assert document["summary"]["copied"] == 1
    assert document["warnings"] == [scan.not_photo_warning(path) for path in unknown]
    assert "not a kind of photo cardingest knows" in document["warnings"][0]
    assert actions(document["wipe"]) == {
        "DCIM/100CANON/DSCF0001.MPO": "remove",
        **{path: "keep" for path in unknown},
    }
    left = snapshot(mount)
    assert all(path in left for path in unknown) and "DCIM/CANONMSC/M0100.CTG" in left


def test_videos_are_named_at_every_step_and_never_taken_for_archived(
    fat_card: CardFactory, samples_dir: Path, archive: Path
) -> None:
    """cardingest archives photos under DCIM/ only: a clip, a sound memo or a photo put at
    the card's top is said to stay, in the preview, the ingest and the wipe, so nobody
    formats the card thinking it is safe."""
    clip, memo = b"\x00\x00\x00\x18ftypqt  " + bytes(2000), b"RIFF" + bytes(500)
    mount = fat_card(
        {**photos(jpegs(samples_dir)[:2], 2), "DCIM/100CANON/MVI_0003.MOV": clip,
         "DCIM/100CANON/MVI_0003.THM": jpegs(samples_dir)[0].read_bytes(),
         "DCIM/100CANON/IMG_0001.WAV": memo, "DCIM/CANONMSC/M0100.CTG": b"index",
         "PRIVATE/AVCHD/BDMV/STREAM/00000.MTS": clip,
         "PRIVATE/M4ROOT/THMBNL/C0001T01.JPG": jpegs(samples_dir)[0].read_bytes(),
         "IMG_0009.JPG": jpegs(samples_dir)[2].read_bytes()}
    )  # fmt: skip
    videos = [
        "DCIM/100CANON/IMG_0001.WAV",
        "DCIM/100CANON/MVI_0003.MOV",
        "DCIM/100CANON/MVI_0003.THM",  # its thumbnail stays with it, not held as a sidecar
        "IMG_0009.JPG",
        "PRIVATE/AVCHD/BDMV/STREAM/00000.MTS",
        "PRIVATE/M4ROOT/THMBNL/C0001T01.JPG",  # a Sony video's thumbnail
    ]
    said = [scan.not_photo_warning(path) for path in videos]
    assert said[-1].startswith("PRIVATE/M4ROOT/THMBNL/C0001T01.JPG: a video's thumbnail, ")
    assert said[0] == (
        "DCIM/100CANON/IMG_0001.WAV: a video or sound file, not archived (only photos are); "
        "it stays on the card"
    )
    assert said[2] == (
        "DCIM/100CANON/MVI_0003.THM: a video's thumbnail, not archived; it stays on the card "
        "with its video"
    )
    assert said[3] == (
        "IMG_0009.JPG: a photo outside DCIM/, not archived (only photos under DCIM/ are); "
        "it stays on the card"
    )

    preview = cli("preview", mount, "--id", "JBX3656", "--archive", archive, "--json")
    assert preview.exit_code == EXIT_OK, preview.output
    days = "JBX3656's photos to copy were taken on 2 days"  # the samples are years apart
    assert [w for w in json.loads(preview.stdout)["warnings"] if days not in w] == said

    result = cli(
        "ingest", mount, "--id", "JBX3656", "--archive", archive, "--wipe", "--yes", "--json"
    )
    assert result.exit_code == EXIT_HELD, result.output
    document = json.loads(result.stdout)
    assert document["summary"]["copied"] == 2
    assert [w for w in document["warnings"] if days not in w] == said
    assert actions(document["wipe"]) == {
        "DCIM/100CANON/IMG_0001.JPG": "remove",
        "DCIM/100CANON/IMG_0002.JPG": "remove",
        **{path: "keep" for path in videos},
    }
    assert reasons(document["wipe"])["DCIM/100CANON/MVI_0003.MOV"] == (
        "a video or sound file: cardingest does not archive it; copy it yourself"
    )
    left = snapshot(mount)
    assert left["DCIM/100CANON/MVI_0003.MOV"] == clip and left["DCIM/100CANON/IMG_0001.WAV"] == memo
    assert "DCIM/CANONMSC/M0100.CTG" in left
    assert left["PRIVATE/AVCHD/BDMV/STREAM/00000.MTS"] == clip and "IMG_0009.JPG" in left
    assert sorted(p.suffix for p in (archive / "JBX3656").iterdir()) == [".jpg", ".jpg"]


def _ingest(
    n: int, serial: str, backup: str | None, status: str = "finished", **counts: int
) -> dict[str, Any]:
    return {
        "ingest_id": f"i{n}",
        "card_serial": serial,
        "source": "/media/CARD",
        "backup": backup,
        "status": status,
        "counts": {"copied": 1, "failed": 0, "held": 0, **counts},
    }


@pytest.mark.parametrize(
    ("ingests", "asked"),
    [
        ([_ingest(1, "AAAA-0001", None)], {}),  # a desk with no backup: nothing asked
        ([_ingest(1, "AAAA-0001", "/b")], {"i1": "/b"}),  # its own
        # clean with the backup, then deliberately without: the later photos have one copy
        ([_ingest(1, "AAAA-0001", "/b"), _ingest(2, "AAAA-0001", None)], {"i1": "/b"}),
        # failed, killed or held with the backup: asked of the runs after, until a clean one
        (
            [_ingest(1, "AAAA-0001", "/b", failed=3), _ingest(2, "AAAA-0001", None)],
            {"i1": "/b", "i2": "/b"},
        ),
        (
            [_ingest(1, "AAAA-0001", "/b", "crashed"), _ingest(2, "AAAA-0001", None)],
            {"i1": "/b", "i2": "/b"},
        ),
        (
            [_ingest(1, "AAAA-0001", "/b", held=1), _ingest(2, "AAAA-0001", None)],
            {"i1": "/b", "i2": "/b"},
        ),
        (
            [
                _ingest(1, "AAAA-0001", "/b", failed=1),
                _ingest(2, "AAAA-0001", "/b"),
                _ingest(3, "AAAA-0001", None),
            ],
            {"i1": "/b", "i2": "/b"},
        ),
        # a later run with the backup asks it of the photos filed before
        ([_ingest(1, "AAAA-0001", None), _ingest(2, "AAAA-0001", "/b")], {"i1": "/b", "i2": "/b"}),
        # another card's runs ask nothing of this card's photos
        ([_ingest(1, "AAAA-0001", None), _ingest(2, "BBBB-0002", "/b")], {"i2": "/b"}),
        (
            [_ingest(1, "BBBB-0002", "/b", failed=1), _ingest(2, "AAAA-0001", None)],
            {"i1": "/b"},
        ),
    ],
)
def test_the_backups_asked_of_a_cards_photos(ingests: list[dict], asked: dict[str, str]) -> None:
    card = Card(mount="/media/CARD", fstype="vfat", device="/dev/sdb1", serial="AAAA-0001")
    assert wipe.backups_asked(ingests, card, Path("/media/CARD")) == asked


def test_a_wipe_stopped_by_a_failing_catalogue_says_what_it_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalogue database (which holds the audit log) went away mid-wipe: the error
    said "Nothing was copied or changed" after files had left the card. It now says how
    many were removed, and that running the wipe again finishes it."""
    from exif_bytes import timed_card

    from cardingest.archive.audit import AuditLog
    from cardingest.errors import CatalogueError

    card = tmp_path / "card"
    folder = timed_card(card)
    archive = tmp_path / "archive"
    assert cli("ingest", card, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    real = AuditLog.append
    removals: list[str] = []

    def failing(self: AuditLog, event: str, **fields: object) -> dict:
        if event == "wipe" or (event == "wipe-remove" and removals):
            raise CatalogueError(
                "Cannot reach the catalogue database: the connection is closed",
                details=["Nothing was copied or changed. Check the server, the network."],
            )
        if event == "wipe-remove":
            removals.append(str(fields["source"]))
        return real(self, event, **fields)

    monkeypatch.setattr(AuditLog, "append", failing)
    result = cli("wipe", card, "--archive", archive, "--yes", "--json")
    assert result.exit_code == EXIT_FAILURE, result.output
    error = json.loads(result.stdout)["error"]
    said = " ".join([error["message"], *error.get("details", [])])
    assert "the connection is closed" in said and "Nothing was" not in said, said
    assert "stopped after 1 of 3 file(s) proven archived were removed" in said, said
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_0002.JPG", "IMG_0003.JPG"]


def test_a_photo_filed_for_two_patients_stays_until_each_has_its_copy(tmp_path: Path) -> None:
    """Filed under JBX3656, then the same card under MCJ1984 with --allow-other-patient: a
    copy deleted under JBX3656 keeps the card file, though MCJ1984's copy verifies, so the
    next ingest for JBX3656 can put it back. Before, the wipe took MCJ1984's copy as enough
    and removed the only file the lost copy could come back from."""
    from exif_bytes import timed_card

    folder = timed_card(tmp_path / "card", 2)
    card, archive = tmp_path / "card", tmp_path / "archive"
    assert cli("ingest", card, "--id", "JBX3656", "--archive", archive).exit_code == EXIT_OK
    lost = next((archive / "JBX3656").glob("*.jpg"))
    lost.unlink()
    second = cli("ingest", card, "--id", "MCJ1984", "--allow-other-patient", "--archive",
                 archive, "--wipe", "--yes", "--json")  # fmt: skip
    assert second.exit_code == EXIT_HELD, second.stdout + second.stderr
    document = json.loads(second.stdout)["wipe"]
    kept = [r for s, r in reasons(document).items() if actions(document)[s] == "keep"]
    assert len(kept) == 1 and f"archive copy JBX3656/{lost.name} is missing" in kept[0], kept
    assert len(list(folder.iterdir())) == 1
    again = cli("ingest", card, "--id", "JBX3656", "--archive", archive, "--wipe", "--yes")
    assert again.exit_code == EXIT_OK, again.stdout + again.stderr
    assert lost.is_file() and list(folder.iterdir()) == []
    assert cli("verify", "--archive", archive).exit_code == EXIT_OK
