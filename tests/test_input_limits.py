"""Issue 12, item 7: limits before parsing. Maps and configs that are not regular files are
read with the same cap as a file; a named pipe nothing writes to is refused, not waited for;
a CSV cell over the csv field limit and a config that is not UTF-8 are exit 2 with the file
and line; an empty archive setting is refused."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from badinput_helpers import cardingest, folder_card, photos
from cardimage import require_samples
from exif_bytes import exif_jpeg


@pytest.fixture
def card(tmp_path: Path) -> Path:
    require_samples()
    return folder_card(tmp_path / "card", {b"DCIM/100CANON/IMG_0001.JPG": photos(1)[0]})


@pytest.fixture
def endless_fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe with a writer that never stops (`yes` into it), writing before the
    command opens it: the fixture holds a read end of its own (never read), so the writer's
    open does not wait for the command's."""
    fifo = tmp_path / "endless.csv"
    os.mkfifo(fifo)
    held = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    end = os.open(fifo, os.O_WRONLY)
    writer = subprocess.Popen(["yes", "files,id"], stdout=end)
    os.close(end)
    yield fifo
    writer.kill()
    writer.wait()
    os.close(held)


def preview(
    card: Path,
    tmp_path: Path,
    *args: str | Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
):
    return cardingest(
        "preview", card, *args, "--archive", tmp_path / "archive",
        home=tmp_path / "home", env=env, stdin=stdin,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_a_map_that_never_ends_is_capped(
    kind: str, card: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    source = Path("/dev/zero") if kind == "dev-zero" else request.getfixturevalue("endless_fifo")
    run = preview(card, tmp_path, "--map", source)
    assert run.code == 2, run.stderr
    assert str(source) in run.stderr and "larger than 2 MiB" in run.stderr
    assert not (tmp_path / "archive").exists()


@pytest.mark.parametrize("given_as", ["map", "config"])
def test_a_named_pipe_nothing_writes_to_is_refused_not_waited_for(
    given_as: str, tmp_path: Path
) -> None:
    """``mkfifo map.csv`` and nothing written into it: open() would wait for a writer for
    ever. Exit 2 naming the pipe. (The timeout is a safety net: the refusal is at once.)"""
    card = tmp_path / "card" / "DCIM" / "100CANON"
    card.mkdir(parents=True)
    (card / "IMG_0001.JPG").write_bytes(exif_jpeg("2026:01:02 10:00:00"))
    fifo = tmp_path / ("map.csv" if given_as == "map" else "config.toml")
    os.mkfifo(fifo)
    if given_as == "map":
        args, env = ["--map", fifo], None
    else:
        args, env = ["--id", "JBX3656"], {"CARDINGEST_CONFIG": str(fifo)}
    run = cardingest(
        "ingest", tmp_path / "card", *args, "--archive", tmp_path / "archive",
        home=tmp_path / "home", env=env, timeout=120,
    )  # fmt: skip
    assert run.code == 2, run.stderr
    assert f"{fifo}: not a regular file but a named pipe" in run.stderr
    assert "nothing is writing to it" in run.stderr
    assert not (tmp_path / "archive").exists()


@pytest.mark.parametrize("how", ["stdin", "process-substitution"])
def test_a_map_from_a_pipe_is_read(how: str, card: Path, tmp_path: Path) -> None:
    """``--map /dev/stdin`` and ``--map <(…)`` are pipes with their writer: read as before."""
    text = "files,id\nIMG_0001,JBX3656\n"
    if how == "stdin":
        run = preview(card, tmp_path, "--map", "/dev/stdin", stdin=text)
    else:
        script = f'exec "$0" preview "$1" --archive "$2" --map <(printf "{text}")'
        run = cardingest(
            card, tmp_path / "archive", home=tmp_path / "home", prefix=("bash", "-c", script)
        )
    assert run.code == 0, run.stderr
    assert "1 to copy" in run.text


def test_a_config_that_never_ends_is_capped(card: Path, tmp_path: Path) -> None:
    run = preview(card, tmp_path, "--id", "JBX3656", env={"CARDINGEST_CONFIG": "/dev/zero"})
    assert run.code == 2 and "/dev/zero" in run.stderr and "larger than" in run.stderr


def test_a_cell_over_the_csv_field_limit_names_its_line(card: Path, tmp_path: Path) -> None:
    huge = "x" * (csv.field_size_limit() + 10)
    map_file = tmp_path / "map.csv"
    map_file.write_text(f'files,id\nIMG_0001,JBX3656\n"{huge}",JBX3656\n', encoding="utf-8")
    run = preview(card, tmp_path, "--map", map_file)
    assert run.code == 2, run.stderr
    assert str(map_file) in run.stderr and "line 3" in run.stderr
    assert "field larger than field limit" in run.stderr


def test_a_config_that_is_not_utf8_names_its_line(card: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b'operator = "clinic"\n# notes\nsite = "caf\xe9"\n')
    run = preview(card, tmp_path, "--id", "JBX3656", env={"CARDINGEST_CONFIG": str(config)})
    assert run.code == 2, run.stderr
    assert str(config) in run.stderr and "line 3" in run.stderr and "0xe9" in run.stderr


def test_an_empty_archive_setting_is_refused(card: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('archive = ""\n', encoding="utf-8")
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    cwd.mkdir()
    env = {"CARDINGEST_CONFIG": str(config)}
    run = cardingest("ingest", card, "--id", "JBX3656", home=home, env=env, cwd=cwd)
    assert run.code == 2 and "'archive' is empty" in run.stderr
    empty = cardingest("ingest", card, "--id", "JBX3656", "--archive", "", home=home, cwd=cwd)
    assert empty.code == 2 and "--archive is empty" in empty.stderr
    unset = {"CARDINGEST_ARCHIVE": " "}  # a script's variable that came out empty
    blank = cardingest("ingest", card, "--id", "JBX3656", home=home, env=unset, cwd=cwd)
    assert blank.code == 2 and "$CARDINGEST_ARCHIVE is set but empty" in blank.stderr
    assert list(cwd.iterdir()) == []  # never the current folder
    assert not home.exists() or not (home / "cardingest-archive").exists()  # nor the default


def test_an_empty_backup_setting_is_refused_not_taken_as_none(card: Path, tmp_path: Path) -> None:
    """`--backup "$BACKUP"` with the variable unset, or `backup = ""` in the config, meant no
    backup copy without a word, and `--wipe` then cleared the card of photos with one copy.
    Both are refused (exit 2) before anything is copied or removed."""
    config = tmp_path / "config.toml"
    config.write_text('backup = " "\n', encoding="utf-8")
    home, archive = tmp_path / "home", tmp_path / "archive"
    photos = sorted(p.name for p in card.rglob("*") if p.is_file())
    args = ("ingest", card, "--id", "JBX3656", "--archive", archive, "--wipe", "--yes")
    run = cardingest(*args, "--backup", "", home=home)
    assert run.code == 2 and "--backup is empty" in run.stderr
    run = cardingest(*args, home=home, env={"CARDINGEST_CONFIG": str(config)})
    assert run.code == 2 and "'backup' is empty" in run.stderr
    assert sorted(p.name for p in card.rglob("*") if p.is_file()) == photos
    assert not archive.exists()


def test_a_relative_archive_setting_is_refused(card: Path, tmp_path: Path) -> None:
    """A relative archive or backup in the config (or $CARDINGEST_ARCHIVE) would be another,
    new archive in every folder cardingest is run from: the same photo filed under two
    patients in two archives, neither knowing of the other. ``--archive`` may be relative:
    who types it sees the folder."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    cwd.mkdir()
    for setting, key in (('archive = "photo-archive"', "archive"), ('backup = "bk"', "backup")):
        config = tmp_path / f"{key}.toml"
        config.write_text(setting + "\n", encoding="utf-8")
        env = {"CARDINGEST_CONFIG": str(config)}
        run = cardingest("ingest", card, "--id", "JBX3656", home=home, env=env, cwd=cwd)
        assert run.code == 2 and f"'{key}' is '" in run.stderr, run.stderr
        assert "a relative path" in run.stderr
    for value in ("photo-archive", "--dry-run"):
        env = {"CARDINGEST_ARCHIVE": value}
        run = cardingest("ingest", card, "--id", "JBX3656", home=home, env=env, cwd=cwd)
        assert run.code == 2 and "$CARDINGEST_ARCHIVE is" in run.stderr, run.stderr
    assert list(cwd.iterdir()) == []
    given = cardingest("ingest", card, "--id", "JBX3656", "--archive", "A", home=home, cwd=cwd)
    assert given.code == 0, given.stderr
    assert "a new archive, none there before" in " ".join(given.stdout.decode().split())
    again = cardingest("ingest", card, "--id", "JBX3656", "--archive", "A", home=home, cwd=cwd)
    assert again.code == 0 and b"new archive" not in again.stdout


@pytest.mark.parametrize("command", ["verify", "ingest", "preview", "search"])
def test_a_name_too_long_for_the_file_system_is_an_input_error(
    card: Path, tmp_path: Path, command: str
) -> None:
    """A path with a name over 255 bytes: exit 2 naming it, with a JSON error document, not
    a traceback from the first look at it."""
    long = tmp_path / ("b" * 300)
    args = {
        "verify": ["verify"],
        "ingest": ["ingest", card, "--id", "JBX3656"],
        "preview": ["preview", card, "--id", "JBX3656"],
        "search": ["search", "--id", "JBX3656"],
    }[command]
    run = cardingest(*args, "--archive", long, "--json", home=tmp_path / "home")
    assert run.code == 2, run.stderr
    assert "Traceback" not in run.stderr
    error = json.loads(run.stdout)["error"]
    assert "too long for the file system" in error["message"] and error["exit"] == 2


def test_a_map_from_standard_input_is_named(card: Path, tmp_path: Path) -> None:
    run = cardingest("preview", card, "--map", "-", home=tmp_path / "home")
    assert run.code == 2 and "not from standard input" in run.stderr, run.stderr


def test_an_error_of_many_lines_shows_the_first_hundred(card: Path, tmp_path: Path) -> None:
    """A map of 300 rows with a bad ID each: 100 lines on the terminal and how many more;
    the JSON document has every one."""
    rows = "".join(f"IMG_{n:04d},JBX365{n % 10}\n" for n in range(1, 301) if n % 10 != 6)
    map_file = tmp_path / "map.csv"
    map_file.write_text("files,id\n" + rows, encoding="utf-8")
    run = cardingest("preview", card, "--map", map_file, "--json", home=tmp_path / "home")
    assert run.code == 2
    details = run.json()["error"]["details"]
    assert len(details) > 270
    shown = [line for line in run.stderr.splitlines() if line.startswith("  line ")]
    assert len(shown) == 100, run.stderr
    assert f"… and {len(details) - 100} more (--json lists every one)" in run.stderr


def test_an_empty_config_variable_is_refused(card: Path, tmp_path: Path) -> None:
    """``CARDINGEST_CONFIG=""`` (a script's unset variable) fell back to the default config
    without a word, where an empty ``CARDINGEST_ARCHIVE`` is refused."""
    env = {"CARDINGEST_CONFIG": ""}
    run = cardingest("preview", card, "--id", "JBX3656", home=tmp_path / "home", env=env)
    assert run.code == 2 and "$CARDINGEST_CONFIG is set but empty" in run.stderr, run.stderr


def test_a_row_naming_a_video_or_a_link_says_what_it_names(card: Path, tmp_path: Path) -> None:
    """A row that names a video or a symbolic link was "no file on the card", with the
    hint that its photos may have been wiped; it now names the file and why it is left."""
    folder = next(card.glob("DCIM/*"))
    (folder / "MVI_0009.MOV").write_bytes(b"\x00\x00\x00\x18ftypqt  " + bytes(100))
    (folder / "IMG_0008.JPG").symlink_to("/etc/passwd")
    map_file = tmp_path / "map.csv"
    map_file.write_text("files,id\nMVI_0009,JBX3656\nIMG_0008,MCJ1984\n", encoding="utf-8")
    run = cardingest("preview", card, "--map", map_file, home=tmp_path / "home")
    said = " ".join(run.stderr.split())
    assert run.code == 2, run.stderr
    assert f"line 2: MVI_0009 names DCIM/{folder.name}/MVI_0009.MOV, a video or sound file" in said
    assert f"line 3: IMG_0008 names DCIM/{folder.name}/IMG_0008.JPG, a symbolic link" in said
    assert "wiped" not in said


def test_a_config_folder_naming_an_unset_or_empty_variable_is_refused(
    card: Path, tmp_path: Path
) -> None:
    """``archive = "$CLINIC_ROOT/photo-archive"``: unset, it was "a relative path"; empty, it
    became ``/photo-archive``, a new archive at the top of the disk."""
    config = tmp_path / "config.toml"
    config.write_text('archive = "$CLINIC_ROOT/photo-archive"\n', encoding="utf-8")
    home = tmp_path / "home"
    for value, state in ((None, "not set"), ("", "empty")):
        env = {"CARDINGEST_CONFIG": str(config)}
        if value is not None:
            env["CLINIC_ROOT"] = value
        run = cardingest("preview", card, "--id", "JBX3656", home=home, env=env)
        assert run.code == 2 and f"$CLINIC_ROOT is {state} here" in run.stderr, run.stderr
    env = {"CARDINGEST_CONFIG": str(config), "CLINIC_ROOT": str(tmp_path)}
    run = cardingest("preview", card, "--id", "JBX3656", home=home, env=env)
    assert run.code == 0 and str(tmp_path / "photo-archive") in run.text


def test_a_card_of_folders_nested_thousands_deep_is_read_without_a_traceback(
    tmp_path: Path,
) -> None:
    """2,500 folders one in another (a damaged FAT, a directory loop as a driver shows it):
    the scan recursed once per folder and died of RecursionError, a traceback with nothing
    on stdout, --json or not. The photos beside them are read; the folder too deep for a
    path is named and stays on the card."""
    import os

    from badinput_helpers import cardingest
    from exif_bytes import timed_card

    folder = timed_card(tmp_path / "card", count=1)
    fds = [os.open(folder, os.O_RDONLY)]
    try:
        for _ in range(2500):
            os.mkdir("d", dir_fd=fds[-1])
            fds.append(os.open("d", os.O_RDONLY, dir_fd=fds[-1]))
        ran = cardingest("preview", tmp_path / "card", "--id", "JBX3656", "--archive",
                         tmp_path / "archive", "--json", home=tmp_path)  # fmt: skip
    finally:  # pytest's own clean-up recurses too: the nest goes here, deepest first
        os.close(fds.pop())
        while fds:
            os.rmdir("d", dir_fd=fds[-1])
            os.close(fds.pop())
    assert ran.code == 0, ran.stderr
    document = ran.json()
    assert [i["action"] for i in document["items"]] == ["copy"]
    assert any("a folder nested too deep to be read" in w for w in document["warnings"])
