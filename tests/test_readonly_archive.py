"""Issue 12, item 9: a read-only archive can be verified, searched, previewed and dry-run
wiped, even with a hot write-ahead log left by a killed writer. The archive is made read-only
with a read-only bind mount (root ignores file modes, not a read-only mount)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from badinput_helpers import cardingest, ingested_fat_card
from cardimage import CardFactory, require

HOT_WAL = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA wal_autocheckpoint = 0")
file_id = db.execute("SELECT id FROM files ORDER BY id LIMIT 1").fetchone()[0]
db.execute("INSERT INTO keywords VALUES (?, 'diagnosis', 0, 'melanoma')", (file_id,))
os._exit(0)  # like kill -9: no checkpoint, the row lives only in the WAL
"""


def _bind_readonly(source: Path, target: Path) -> None:
    target.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], check=True)


@pytest.fixture
def readonly_view(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/ro``: where the test's archive at ``tmp_path/archive`` is bound read-only."""
    require(os.geteuid() == 0, "a read-only bind mount needs root")
    target = tmp_path / "ro"
    yield target
    # Path.is_mount cannot see a bind mount of a folder of the same filesystem: ask the kernel.
    if f" {target} " in Path("/proc/mounts").read_text():
        subprocess.run(["umount", str(target)], check=False)


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def test_readonly_archive_with_a_hot_wal(
    fat_card: CardFactory, tmp_path: Path, readonly_view: Path
) -> None:
    card, home, archive = ingested_fat_card(fat_card, tmp_path)
    database = archive / ".cardingest" / "catalogue.sqlite"
    subprocess.run([sys.executable, "-c", HOT_WAL, str(database)], check=True)
    wal = database.with_name("catalogue.sqlite-wal")
    assert wal.stat().st_size > 0, "the WAL should hold the new keyword row"
    try:
        _bind_readonly(archive, readonly_view)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        require(False, f"cannot make a read-only bind mount here: {exc}")
    before = _tree(archive)

    verify = cardingest("verify", "--archive", readonly_view, "--json", home=home)
    assert verify.json()["summary"]["ok"] == 2
    assert "read-only" in verify.stderr
    # The keyword only the hot WAL holds is seen: the killed writer wrote no sidecar for it.
    assert verify.code == 1, verify.stderr
    (problem,) = verify.json()["problems"]
    assert problem["kind"] == "keywords" and "missing" in problem["detail"]
    fix = cardingest("verify", "--archive", readonly_view, "--fix-sidecars", home=home)
    assert fix.code == 1 and "read-only: nothing in it can be changed" in fix.stderr

    search = cardingest(
        "search", "--diagnosis", "melanoma", "--archive", readonly_view, "--json", home=home
    )
    assert search.code == 0, search.stderr
    assert len(search.json()["results"]) == 1  # the row only the hot WAL holds

    preview = cardingest(
        "preview", card, "--id", "JBX3656", "--archive", readonly_view, "--json", home=home
    )
    assert preview.code == 0, preview.stderr
    assert preview.json()["summary"]["skip"] == 2

    dry = cardingest("wipe", card, "--archive", readonly_view, "--dry-run", "--json", home=home)
    assert dry.code == 0, dry.stderr
    assert dry.json()["summary"] == {"removed": 2, "kept": 0}
    assert (card / "DCIM/100CANON/IMG_0001.JPG").exists()

    # A real wipe needs to write the audit log: a clear refusal, nothing removed.
    real = cardingest("wipe", card, "--archive", readonly_view, "--yes", home=home)
    assert real.code == 1 and "error" in real.stderr
    assert (card / "DCIM/100CANON/IMG_0001.JPG").exists()

    subprocess.run(["umount", str(readonly_view)], check=True)
    assert _tree(archive) == before  # nothing written: no lock, no WAL replay, no marks


@pytest.mark.parametrize("command", [["share"], ["dicom", "export"]], ids=" ".join)
def test_copies_from_a_read_only_archive_are_not_made_when_they_cannot_be_recorded(
    fat_card: CardFactory, tmp_path: Path, readonly_view: Path, command: list[str]
) -> None:
    """A share or a DICOM export is recorded in the audit log (with --anonymous, the only link
    from the token to the patient): where the log cannot be written, no copy is made, and the
    message says why (an export once failed with SQLite's "unable to open database file")."""
    _card, home, archive = ingested_fat_card(fat_card, tmp_path)
    try:
        _bind_readonly(archive, readonly_view)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        require(False, f"cannot make a read-only bind mount here: {exc}")
    out = tmp_path / "referral"
    shared = cardingest(*command, "JBX3656", "--archive", readonly_view, "--out", out, home=home)
    assert shared.code == 1, shared.stderr
    assert "read-only file system" in shared.stderr
    assert not out.exists() or not any(out.iterdir())


def test_a_read_only_verify_says_the_damage_it_finds_is_not_noted(
    tmp_path: Path, readonly_view: Path
) -> None:
    """A trial: verify of a read-only archive said a changed copy "is noted in the
    catalogue" and that ingesting its card again puts it back; nothing was noted, and that
    ingest repaired nothing. It says so, and what to do."""
    from badinput_helpers import dated_card

    card, home, archive = dated_card(tmp_path / "card"), tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    copy = sorted((archive / "JBX3656").iterdir())[0]
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    try:
        _bind_readonly(archive, readonly_view)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        require(False, f"cannot make a read-only bind mount here: {exc}")
    verify = cardingest("verify", "--archive", readonly_view, home=home)
    said = " ".join(verify.stdout.decode().split())
    assert verify.code == 1, verify.stderr
    assert "so what was found was not noted in its catalogue" in said
    assert "is noted in the catalogue" not in said
    subprocess.run(["umount", str(readonly_view)], check=True)
    verify = cardingest("verify", "--archive", archive, home=home)
    assert "is noted in the catalogue" in " ".join(verify.stdout.decode().split())


def test_a_temporary_folder_another_account_may_take_copies_from_is_refused(
    tmp_path: Path, readonly_view: Path
) -> None:
    """A trial: with TMPDIR another account's open folder, that account renamed the private
    folder a read-only archive's catalogue is copied into, put one of its own at its name,
    and read the copy. A TMPDIR another account owns, or open to all without the sticky
    bit, is refused before any copy is made (exit 2); a folder of this account's is used."""
    from badinput_helpers import dated_card

    card, home, archive = dated_card(tmp_path / "card"), tmp_path / "home", tmp_path / "archive"
    assert cardingest("ingest", card, "--id", "JBX3656", "--archive", archive, home=home).code == 0
    try:
        _bind_readonly(archive, readonly_view)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        require(False, f"cannot make a read-only bind mount here: {exc}")
    theirs, open_to_all, own = tmp_path / "theirs", tmp_path / "open", tmp_path / "own"
    for folder in (theirs, open_to_all, own):
        folder.mkdir()
    theirs.chmod(0o777)
    os.chown(theirs, 65534, 65534)  # nobody
    open_to_all.chmod(0o777)  # no sticky bit
    own.chmod(0o700)
    below = theirs / "mine"  # this account's, in a folder whose owner may swap it
    below.mkdir(mode=0o700)
    cases = (
        (theirs, "belongs to the account nobody"),
        (open_to_all, "sticky bit"),
        (below, f"the folder {theirs} above it belongs to the account nobody"),
    )
    for folder, why in cases:
        ran = cardingest(
            "search", "--id", "JBX3656", "--archive", readonly_view, "--json",
            home=home, env={"TMPDIR": str(folder)},
        )  # fmt: skip
        said = " ".join(ran.stderr.split())
        assert ran.code == 2, said
        assert f"The temporary folder {folder} (TMPDIR)" in said and why in said
        assert os.listdir(folder) == [] or folder == theirs
    ran = cardingest(
        "search", "--id", "JBX3656", "--archive", readonly_view, "--json",
        home=home, env={"TMPDIR": str(own)},
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    assert len(ran.json()["results"]) == 2
