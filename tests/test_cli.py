"""The CLI end to end on folders: exact exit codes and JSON documents."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from clinic_helpers import cli

from cardingest.archive.lock import ArchiveLock
from cardingest.cli.config import load_settings
from cardingest.demo import make_demo_card
from cardingest.errors import ConfigError


@pytest.fixture
def demo(tmp_path: Path, test_ids: Path) -> tuple[Path, Path]:
    """The demo card; its map uses test-range NHIs, so the config allows them."""
    return make_demo_card(tmp_path)


def invoke(*args: str) -> tuple[int, str]:
    result = cli(*args)
    return result.exit_code, result.stdout


def test_preview_json_is_the_documented_document(demo: tuple[Path, Path], tmp_path: Path) -> None:
    card, map_file = demo
    code, out = invoke(
        "preview", str(card), "--map", str(map_file), "--archive", str(tmp_path / "a"), "--json"
    )
    assert code == 3
    document = json.loads(out)
    assert document["archive"] == str(tmp_path / "a")
    sizes = sum((card / f"DCIM/100DEMO_/IMG_000{n}.JPG").stat().st_size for n in range(1, 6))
    assert document["summary"] == {"copy": 5, "skip": 0, "hold": 1, "bytes_to_copy": sizes}
    first = document["items"][0]
    assert {k: first[k] for k in ("source", "id", "captured_at", "time_source", "target")} == {
        "source": "DCIM/100DEMO_/IMG_0001.JPG",
        "id": "ZAC5361",
        "captured_at": "2026-11-24T09:15:02",
        "time_source": "exif:DateTimeOriginal",
        "target": "ZAC5361/ZAC5361-20261124-091502.jpg",
    }
    assert document["items"][1]["target"] == "ZAC5361/ZAC5361-20261124-091502-2.jpg"
    held = [i for i in document["items"] if i["action"] == "hold"]
    assert held == [{**held[0], "source": "DCIM/100DEMO_/IMG_0006.JPG", "target": None, "id": None}]
    assert held[0]["reason"] == "not in the ID map"
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize(
    ("patient_id", "message"),
    [
        ("ZAC3561", "fails its check"),
        ("ZAC5361", "test"),
        ("../x", "NHI"),
        ("DAB8233", "fails its check"),
    ],
)
def test_bad_id_exits_2_and_creates_nothing(
    demo: tuple[Path, Path], tmp_path: Path, patient_id: str, message: str
) -> None:
    card, _ = demo
    archive = tmp_path / "a"
    os.environ.pop("CARDINGEST_CONFIG")
    for command in ("preview", "ingest"):
        result = cli(command, str(card), "--id", patient_id, "--archive", str(archive))
        assert result.exit_code == 2, result.output
        assert message in result.stderr
        assert "Traceback" not in result.output
    assert not archive.exists()


def test_map_and_id_together_or_neither(demo: tuple[Path, Path]) -> None:
    card, map_file = demo
    assert invoke("preview", str(card))[0] == 2
    assert invoke("preview", str(card), "--map", str(map_file), "--id", "JBX3656")[0] == 2


def test_missing_source_and_bad_flags(tmp_path: Path) -> None:
    result = cli("preview", str(tmp_path / "nope"), "--id", "JBX3656")
    assert result.exit_code == 2 and "nope" in result.stderr
    result = cli("preview", str(tmp_path), "--id", "JBX3656", "--clock-offset", "soon")
    assert result.exit_code == 2 and "clock-offset" in result.stderr


def test_bad_map_lists_every_problem_and_copies_nothing(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    card, _ = demo
    bad = tmp_path / "bad.csv"
    bad.write_text("files,id,diagnoss\nIMG_0001,ZAC3561,x\nIMG_0002,../x,y\n", encoding="utf-8")
    result = cli("ingest", str(card), "--map", str(bad), "--archive", str(tmp_path / "a"))
    assert result.exit_code == 2
    assert "line 1: unknown column 'diagnoss'" in result.stderr
    bad.write_text("files,id\nIMG_0001,ZAC3561\nIMG_0002,../x\n", encoding="utf-8")
    result = cli("ingest", str(card), "--map", str(bad), "--archive", str(tmp_path / "a"), "--json")
    assert result.exit_code == 2
    details = json.loads(result.stdout)["error"]["details"]
    assert [d.split(":")[0] for d in details] == ["line 2", "line 3"]
    assert not (tmp_path / "a").exists()


def test_bad_config_is_exit_2(demo: tuple[Path, Path], tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text('archve = "/x"\n', encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
    result = cli(*["preview", str(demo[0]), "--id", "JBX3656"])
    assert result.exit_code == 2 and "unknown key 'archve'" in result.stderr


def test_the_id_scheme_is_read_in_any_case(tmp_path: Path) -> None:
    """``id_scheme = "NHI"``, as the README and the forms write it, is the nhi scheme; an
    unknown one is still refused."""
    config = tmp_path / "config.toml"
    config.write_text('id_scheme = " NHI "\n', encoding="utf-8")
    settings = load_settings(archive=tmp_path / "a", environ={"CARDINGEST_CONFIG": str(config)})
    assert settings.id_scheme == "nhi"
    config.write_text('id_scheme = "NHIS"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="Unknown patient ID scheme 'nhis'"):
        load_settings(archive=tmp_path / "a", environ={"CARDINGEST_CONFIG": str(config)})


def test_settings_order_flag_env_config(
    demo: tuple[Path, Path], tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text(f'archive = "{tmp_path / "from-config"}"\n', encoding="utf-8")
    monkeypatch.setenv("CARDINGEST_CONFIG", str(config))
    card = str(demo[0])
    assert json.loads(invoke("preview", card, "--id", "JBX3656", "--json")[1])["archive"] == str(
        tmp_path / "from-config"
    )
    monkeypatch.setenv("CARDINGEST_ARCHIVE", str(tmp_path / "from-env"))
    assert json.loads(invoke("preview", card, "--id", "JBX3656", "--json")[1])["archive"] == str(
        tmp_path / "from-env"
    )
    out = invoke("preview", card, "--id", "JBX3656", "--json", "--archive", str(tmp_path / "f"))
    assert json.loads(out[1])["archive"] == str(tmp_path / "f")


def test_ingest_then_rerun_copies_nothing(demo: tuple[Path, Path], tmp_path: Path) -> None:
    card, map_file = demo
    archive = tmp_path / "a"
    args = ["ingest", str(card), "--map", str(map_file), "--archive", str(archive), "--json"]
    code, out = invoke(*args)
    assert code == 3
    first = json.loads(out)
    assert first["summary"]["copied"] == 5 and first["summary"]["held"] == 1
    for item in first["items"]:
        if item["action"] == "copy":
            copy = archive / item["target"]
            assert copy.read_bytes() == (card / item["source"]).read_bytes()
    manifest = Path(first["summary"]["manifest"])
    check = subprocess.run(
        ["sha256sum", "-c", str(manifest.relative_to(archive))], cwd=archive, capture_output=True
    )
    assert check.returncode == 0, check.stdout
    code, out = invoke(*args)
    assert code == 3
    assert json.loads(out)["summary"]["copied"] == 0
    assert json.loads(out)["summary"]["skipped"] == 5


def test_dry_run_is_the_preview(demo: tuple[Path, Path], tmp_path: Path) -> None:
    card, map_file = demo
    common = [str(card), "--map", str(map_file), "--archive", str(tmp_path / "a"), "--json"]
    preview = invoke("preview", *common)
    dry = invoke("ingest", *common, "--dry-run")
    assert preview == dry
    assert not (tmp_path / "a").exists()


def test_dry_run_with_wipe_and_send_says_it_did_neither(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    card, map_file = demo
    common = [str(card), "--map", str(map_file), "--archive", str(tmp_path / "a"), "--json"]
    before = sorted(p.name for p in card.rglob("*"))
    no_pacs = cli("ingest", *common, "--dry-run", "--send")  # the real run would refuse it
    assert no_pacs.exit_code == 2 and "--send needs a [pacs] table" in no_pacs.stderr
    config = Path(os.environ["CARDINGEST_CONFIG"])
    config.write_text(
        config.read_text() + '[pacs]\nhost = "127.0.0.1"\nport = 104\nae_title = "PACS"\n'
    )
    preview = cli("preview", *common)
    dry = cli("ingest", *common, "--dry-run", "--wipe", "--send")
    assert (dry.exit_code, dry.stdout) == (preview.exit_code, preview.stdout)
    assert "nothing was removed from the card. With --wipe" in dry.stderr
    assert "held photos stay" in dry.stderr
    assert "nothing was sent. With --send" in dry.stderr
    assert sorted(p.name for p in card.rglob("*")) == before
    assert not (tmp_path / "a").exists()
    quiet = cli("ingest", *common, "--dry-run")
    assert "Dry run:" not in quiet.stderr


def test_map_template_round_trips(demo: tuple[Path, Path], tmp_path: Path) -> None:
    card, _ = demo
    code, text = invoke("map-template", str(card), "--gap", "5")
    assert code == 0
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines[0] == "files,id,diagnosis,site,consent"
    assert lines[1:4] == ["IMG_0001-IMG_0003,,,,", "IMG_0004,,,,", "IMG_0005,,,,"]
    filled = tmp_path / "filled.csv"
    filled.write_text(text.replace(",,,,", ",JBX3656,,,"), encoding="utf-8")
    assert (
        invoke("preview", str(card), "--map", str(filled), "--archive", str(tmp_path / "a"))[0] == 0
    )


def test_map_template_of_a_source_with_no_photos_says_so(tmp_path: Path) -> None:
    """``map-template /etc`` wrote a header and nothing else, exit 0, without a word."""
    (tmp_path / "empty" / "DCIM").mkdir(parents=True)
    result = cli("map-template", str(tmp_path / "empty"))
    assert result.exit_code == 0, result.output
    assert [line for line in result.stdout.splitlines() if not line.startswith("#")] == [
        "files,id,diagnosis,site,consent"
    ]
    assert "No photos found" in result.stderr


def run_demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``cardingest demo`` as a new user runs it, without a terminal; it must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "cardingest.cli", "demo"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("gap", ["nan", "inf", "0"])
def test_map_template_refuses_a_gap_that_is_no_number_of_minutes(
    demo: tuple[Path, Path], gap: str
) -> None:
    card, _ = demo
    result = cli("map-template", str(card), "--gap", gap)
    assert result.exit_code == 2 and result.stdout == ""
    assert "--gap" in result.stderr


def test_demo_runs_without_terminal_config_or_home(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDINGEST")}
    env["HOME"] = str(tmp_path / "fresh-home")
    env.pop("XDG_CONFIG_HOME", None)
    env["TMPDIR"] = str(tmp_path)  # the demo keeps its folder for the user to look at
    done = run_demo(env)
    assert "ZAC5361-20261124-091502-2.jpg" in done.stdout
    assert not (tmp_path / "fresh-home").exists()
    assert "files,id,diagnosis,site,consent\n" in done.stdout and "\\x0a" not in done.stdout


def test_the_demo_never_files_its_test_patients_in_the_clinics_archive(tmp_path: Path) -> None:
    """$CARDINGEST_ARCHIVE and a config naming the clinic's archive (and a backup) are set,
    as on a clinic's desk: the demo still uses its own temporary archive only."""
    clinic, backup = tmp_path / "clinic-archive", tmp_path / "clinic-backup"
    config = tmp_path / "config.toml"
    config.write_text(f'archive = "{clinic}"\nbackup = "{backup}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDINGEST")}
    env.update(CARDINGEST_ARCHIVE=str(clinic), CARDINGEST_CONFIG=str(config), TMPDIR=str(tmp_path))
    run_demo(env)
    assert not clinic.exists() and not backup.exists()
    (demo_dir,) = tmp_path.glob("cardingest-demo-*")
    assert list((demo_dir / "archive").glob("ZAC5361/*.jpg"))


def test_archive_on_a_missing_drive_is_refused(demo: tuple[Path, Path], tmp_path: Path) -> None:
    card, map_file = demo
    archive = tmp_path / "unplugged-drive" / "archive"
    result = cli("ingest", str(card), "--map", str(map_file), "--archive", str(archive))
    assert result.exit_code == 1
    assert "Is the archive drive connected?" in result.stderr
    assert not (tmp_path / "unplugged-drive").exists()
    result = cli(
        "ingest", str(card), "--map", str(map_file), "--archive", str(tmp_path / "a"),
         "--backup", str(tmp_path / "nas" / "backup"),
    )  # fmt: skip
    assert result.exit_code == 1 and "nas" in result.stderr
    assert "Is the backup drive connected?" in result.stderr
    assert not (tmp_path / "a" / "ZAC5361").exists()
    result = cli("preview", str(card), "--map", str(map_file), "--archive", str(archive))
    assert result.exit_code == 1 and "Is the archive drive connected?" in result.stderr
    for missing in (("--archive", str(archive)), ("--backup", str(tmp_path / "nas" / "b"))):
        result = cli(
            "ingest", str(card), "--map", str(map_file), "--archive", str(tmp_path / "a"),
            *missing, "--dry-run",
        )  # fmt: skip
        assert result.exit_code == 1, result.output  # as the ingest (it said "same disk")
        assert "drive connected?" in result.stderr


def test_a_new_backup_is_said_with_its_disk_before_and_after_the_first_copy(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    """``--backup /media/usb/clinic`` with the USB disk not mounted made a backup on the
    empty mount point (the system disk) without a word, and ``--wipe`` went on: the photos
    had one real copy where two were believed. A backup folder with no backup in it yet is
    now said, in the dry run too, and so is its being on the archive's own disk."""
    card, map_file = demo
    archive, backup = tmp_path / "a", tmp_path / "media" / "usb" / "clinic"
    backup.parent.mkdir(parents=True)
    ingest = ("ingest", str(card), "--map", str(map_file), "--archive", str(archive))
    preview = ("preview", *ingest[1:])
    for run in ((*ingest, "--dry-run"), preview, ingest):
        result = cli(*run, "--backup", str(backup), "--json")
        warned = " ".join(" ".join(json.loads(result.stdout)["warnings"]).split())
        assert f"the backup folder {backup} holds no backup yet, so this ingest starts one" in (
            warned
        ), warned
        assert "on the same disk as the archive: that disk's loss would take both" in warned
    result = cli(*ingest, "--backup", str(backup), "--json")
    assert "holds no backup yet" not in result.stdout


def test_backup_must_be_separate_from_the_archive(demo: tuple[Path, Path], tmp_path: Path) -> None:
    card, map_file = demo
    archive = tmp_path / "a"
    for backup in (archive, archive / "backup"):
        result = cli(
            "ingest", str(card), "--map", str(map_file), "--archive", str(archive),
             "--backup", str(backup),
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert "overlap" in result.stderr
    assert not (archive / "ZAC5361").exists()


def test_a_backup_in_use_by_another_ingest_is_refused(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    """Two archives sharing one backup folder: one ingest writes to it at a time."""
    card, map_file = demo
    archive, backup = tmp_path / "a", tmp_path / "nas" / "backup"
    args = ["ingest", str(card), "--map", str(map_file), "--archive", str(archive),
            "--backup", str(backup), "--json"]  # fmt: skip
    with ArchiveLock(backup, "ingest"):
        result = cli(*args)
        assert result.exit_code == 1, result.output
        error = json.loads(result.stdout)["error"]
        assert f"is using {backup}" in error["message"] and error["exit"] == 1, error
        assert not (archive / "ZAC5361").exists() and not (backup / "ZAC5361").exists()
    result = cli(*args)
    assert result.exit_code == 3, result.output  # one demo photo is held: not in the map
    assert json.loads(result.stdout)["summary"]["copied"] == 5
    assert not (backup / ".cardingest" / "lock").exists()


def test_catalogue_and_audit_record_the_map_digest_not_its_path(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    card, map_file = demo
    named = tmp_path / "jane-doe-visit.csv"
    named.write_bytes(map_file.read_bytes())
    archive = tmp_path / "a"
    assert invoke("ingest", str(card), "--map", str(named), "--archive", str(archive))[0] == 3
    meta = archive / ".cardingest"
    for path in (meta / "audit.jsonl", meta / "catalogue.sqlite"):
        assert b"jane-doe" not in path.read_bytes()
    assert b"map sha256:" in (meta / "catalogue.sqlite").read_bytes()


def test_a_folder_named_after_a_patient_is_not_recorded_by_name(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    """Catalogue and audit log keep a digest of a plain folder's path, not the path."""
    card, map_file = demo
    named = tmp_path / "Jane Doe 1962-03-04"
    card.rename(named)
    archive = tmp_path / "a"
    code, out = invoke(
        "ingest", str(named), "--map", str(map_file), "--archive", str(archive),
        "--wipe", "--yes", "--json",
    )  # fmt: skip
    assert code == 3, out
    document = json.loads(out)
    assert document["summary"]["copied"] > 0 and document["wipe"]["summary"]["removed"] > 0
    meta = archive / ".cardingest"
    for path in (meta / "audit.jsonl", meta / "catalogue.sqlite"):
        assert b"Jane Doe" not in path.read_bytes(), path.name
    events = [json.loads(line) for line in (meta / "audit.jsonl").read_text().splitlines()]
    recorded = ("ingest", "wipe-start")
    sources = {event.get("source") for event in events if event["event"] in recorded}
    assert len(sources) == 1 and sources.pop().startswith("folder sha256:")


def test_a_repair_puts_back_its_own_file_when_the_photo_is_twice_on_the_card(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    """The same bytes at another card path while the first row's damaged copy is repaired:
    the second path is a sighting of that row (as for any photo twice on a card), and the
    repair puts back the row's own file, never anything else."""
    card, _map = demo
    archive = tmp_path / "a"
    args = ["ingest", str(card), "--id", "ZAC5361", "--archive", str(archive), "--json"]
    assert cli(*args).exit_code == 0
    first = "ZAC5361/ZAC5361-20261124-091502.jpg"
    copy = archive / first
    copy.write_bytes(copy.read_bytes()[:-3] + b"XYZ")
    assert cli("verify", "--archive", str(archive)).exit_code == 1
    folder = card / "DCIM" / "100DEMO_"
    (folder / "IMG_0009.JPG").write_bytes((folder / "IMG_0001.JPG").read_bytes())
    result = cli(*args)
    assert result.exit_code == 0, result.output
    items = {i["source"]: i for i in json.loads(result.stdout)["items"]}
    assert items["DCIM/100DEMO_/IMG_0001.JPG"]["repair"] is True
    assert items["DCIM/100DEMO_/IMG_0001.JPG"]["target"] == first
    assert items["DCIM/100DEMO_/IMG_0009.JPG"]["action"] == "skip"
    assert items["DCIM/100DEMO_/IMG_0009.JPG"]["target"] == first
    verified = cli("verify", "--archive", str(archive), "--json")
    assert verified.exit_code == 0, verified.stdout
    assert json.loads(verified.stdout)["summary"]["missing"] == 0
    events = [json.loads(line) for line in (archive / ".cardingest" / "audit.jsonl").open()]
    repairs = [e for e in events if e["event"] == "repair"]
    assert [(e["archive_path"], e["error"]) for e in repairs] == [(first, None)]


def test_a_stray_file_at_a_planned_name_moves_the_plan_as_it_moves_the_copy(
    tmp_path: Path,
) -> None:
    """A file the catalogue does not hold, copied by hand to the name a new photo was to
    take: the preview named that name, the ingest then wrote ``-2-2`` beside it (the
    preview "cannot differ from the real run"). Both now take the next free name, and say
    why; a stray of the photo's own size may be that photo, and is left to the copy."""
    from exif_bytes import exif_jpeg, timed_card

    card, archive = tmp_path / "card", tmp_path / "archive"
    folder = timed_card(card, count=1)
    assert cli("ingest", str(card), "--id", "JBX3656", "--archive", str(archive)).exit_code == 0
    second = exif_jpeg("2024:05:01 10:00:01") + b"\0" * 10  # the same second, other bytes
    (folder / "IMG_0002.JPG").write_bytes(second)
    stray = archive / "JBX3656" / "JBX3656-20240501-100001-2.jpg"
    stray.write_bytes(b"copied here by hand")
    targets = []
    for command in ("preview", "ingest"):
        result = cli(command, str(card), "--id", "JBX3656", "--archive", str(archive), "--json")
        document = json.loads(result.stdout)
        item = next(i for i in document["items"] if i["source"].endswith("IMG_0002.JPG"))
        targets.append(item["target"])
        warned = " ".join(" ".join(document["warnings"]).split())
        assert "1 name(s) the photos would take are held in the archive or backup by files its" in (
            warned
        ), warned
        assert f"(such as {stray})" in warned
    assert targets == ["JBX3656/JBX3656-20240501-100001-3.jpg"] * 2
    assert (archive / targets[0]).read_bytes() == second
    assert stray.read_bytes() == b"copied here by hand"


def test_a_stray_in_a_backup_given_on_the_command_line_moves_the_previews_plan_too(
    tmp_path: Path,
) -> None:
    """A stray only in the backup: the preview had no ``--backup``, so a backup given on
    the ingest's command line was not seen by it, and the two named the photo apart."""
    from exif_bytes import exif_jpeg, timed_card

    card, archive, backup = tmp_path / "card", tmp_path / "archive", tmp_path / "backup"
    folder = timed_card(card, count=1)
    run = ("--id", "JBX3656", "--archive", str(archive), "--backup", str(backup), "--json")
    assert cli("ingest", str(card), *run).exit_code == 0
    (folder / "IMG_0002.JPG").write_bytes(exif_jpeg("2024:05:01 10:00:01") + b"\0" * 10)
    stray = backup / "JBX3656" / "JBX3656-20240501-100001-2.jpg"
    stray.write_bytes(b"copied here by hand")
    targets = []
    for command in ("preview", "ingest"):
        document = json.loads(cli(command, str(card), *run).stdout)
        item = next(i for i in document["items"] if i["source"].endswith("IMG_0002.JPG"))
        targets.append(item["target"])
        assert f"(such as {stray})" in " ".join(" ".join(document["warnings"]).split())
    assert targets == ["JBX3656/JBX3656-20240501-100001-3.jpg"] * 2
    assert stray.read_bytes() == b"copied here by hand"


def test_a_stray_of_the_photos_size_is_judged_by_its_bytes(tmp_path: Path) -> None:
    """A stray of the very size of the photo planned at its name, other bytes: the preview
    named that name, the ingest ``-2`` (the photo's sidecar keeping the base name, beside
    the stray, and the backup's copy too). One holding the photo's bytes is the photo."""
    from exif_bytes import exif_jpeg

    card, archive = tmp_path / "card", tmp_path / "archive"
    folder = card / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    photo = exif_jpeg("2024:05:01 10:00:01") + b"\1" * 100
    (folder / "IMG_0001.JPG").write_bytes(photo)
    (folder / "IMG_0001.XMP").write_bytes(b"<x:xmpmeta/>")
    (archive / "JBX3656").mkdir(parents=True)
    stray = archive / "JBX3656" / "JBX3656-20240501-100001.jpg"
    stray.write_bytes(bytes(len(photo)))
    ingest = ("ingest", str(card), "--id", "JBX3656", "--archive", str(archive))
    plans = []
    for command in (("preview",), ("ingest", "--backup", str(tmp_path / "backup"))):
        result = cli(*command, str(card), "--id", "JBX3656", "--archive", str(archive), "--json")
        plans.append(sorted(item["target"] for item in json.loads(result.stdout)["items"]))
    assert (
        plans
        == [["JBX3656/JBX3656-20240501-100001-2.jpg", "JBX3656/JBX3656-20240501-100001-2.xmp"]] * 2
    )
    assert (tmp_path / "backup" / "JBX3656" / "JBX3656-20240501-100001-2.jpg").exists()
    assert stray.read_bytes() == bytes(len(photo))
    left = tmp_path / "other" / "JBX3656" / "JBX3656-20240501-100001.jpg"
    left.parent.mkdir(parents=True)
    left.write_bytes(photo)  # the photo itself, left by a run with no catalogue row
    left.chmod(0o644)  # or copied there by hand
    result = cli(*ingest[:-1], str(tmp_path / "other"), "--json")
    document = json.loads(result.stdout)
    assert "JBX3656/JBX3656-20240501-100001.jpg" in [i["target"] for i in document["items"]]
    assert "files its catalogue does not hold" not in " ".join(document["warnings"])
    assert stat.S_IMODE(left.stat().st_mode) == 0o600  # kept, closed as a copy made here
    checked = json.loads(cli("verify", "--archive", str(tmp_path / "other"), "--json").stdout)
    assert [p["path"] for p in checked["problems"]] == [".", "JBX3656"]  # folders made by hand


def test_a_backup_made_before_and_not_there_now_is_refused_before_any_copy(
    tmp_path: Path,
) -> None:
    """The backup's disk (a NAS) not mounted on day 2: its empty mount point, on the system
    disk, got the day's backup copies, and ``--wipe`` cleared the card; once the NAS was
    mounted again, verify called them missing, with the card empty (an outside tester's
    fault trial). A backup folder earlier ingests made copies in, that holds no backup now,
    is refused as `wipe` refuses one that is not there."""
    from exif_bytes import exif_jpeg, timed_card

    card, archive, nas = tmp_path / "card", tmp_path / "archive", tmp_path / "nas"
    folder = timed_card(card, count=1)
    backup = nas / "photo-archive"
    nas.mkdir()
    base = ("ingest", str(card), "--id", "JBX3656", "--archive", str(archive))
    assert cli(*base, "--backup", str(backup)).exit_code == 0
    nas.rename(tmp_path / "nas-unmounted")
    nas.mkdir()  # the empty mount point
    (folder / "IMG_0002.JPG").write_bytes(exif_jpeg("2024:05:01 10:00:02"))
    preview = ("preview", *base[1:])
    for run in ((*base, "--dry-run"), preview, (*base, "--wipe", "--yes"), (*base, "--json")):
        result = cli(*run, "--backup", str(backup))
        assert result.exit_code == 2, result.output
        said = " ".join(result.stderr.split())
        assert f"The backup folder {backup} holds no backup now, though ingest " in said, said
        assert "is its disk mounted? Nothing was copied." in said
    assert list(nas.iterdir()) == [] and (folder / "IMG_0002.JPG").exists()
    (backup / ".cardingest").mkdir(parents=True)  # a new backup started there on purpose
    assert cli(*base, "--backup", str(backup)).exit_code == 0
    # A backup folder whose ingests copied nothing (the photos archived already) held no
    # copies: emptied, it is a new backup, not one gone.
    other = tmp_path / "other-backup"
    assert cli(*base, "--backup", str(other), "--json").exit_code == 0
    shutil.rmtree(other / ".cardingest")
    result = cli(*base, "--backup", str(other), "--json")
    assert result.exit_code == 0, result.output
    assert "holds no backup yet" in result.stdout


def test_an_archive_below_a_disk_fstab_mounts_and_none_mounted_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An archive on a NAS whose mount failed: a new archive was made in its empty mount
    point, on the system disk ("a new archive, none there before" the only word), and
    ``--wipe`` cleared the card into it. A folder /etc/fstab mounts a disk at, with none
    mounted there, is now refused for the archive and the backup alike. The NAS's line
    names its folder through a link; a disk never mounted (a CD drive, noauto) has a line
    for the folder above, which is no reason to refuse once the NAS is mounted."""
    from cardimage import require
    from exif_bytes import timed_card

    from cardingest.storage import mounts

    card, above = tmp_path / "card", tmp_path / "mnt"
    nas = above / "mnt nas"
    timed_card(card, count=1)
    nas.mkdir(parents=True)
    (tmp_path / "link").symlink_to(above)
    fstab = tmp_path / "fstab"
    escaped = str(tmp_path / "link" / "mnt nas").replace(" ", "\\040")  # as fstab has a blank
    fstab.write_text(
        "# /dev/sdz9 /\n#/dev/sdz2 /elsewhere ext4 defaults 0 2\n"
        f"/dev/sr0 {above} auto user,noauto 0 0\n"
        f"//nas/photos {escaped} cifs credentials=/root/c 0 0\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(mounts, "FSTAB", str(fstab))
    for where in (("--archive", str(nas / "archive")), ("--backup", str(nas / "backup"))):
        destinations = ("--archive", str(tmp_path / "local"), *where)
        for extra in (("--dry-run",), ("--wipe", "--yes")):
            result = cli("ingest", str(card), "--id", "JBX3656", *destinations, *extra)
            assert result.exit_code == 1, result.output
            said = " ".join(result.stderr.split())
            assert f"{nas} is where /etc/fstab mounts a disk, and none is mounted there now" in (
                said
            ), said
            assert f"(`mount '{nas}'`)" in said
    assert list(nas.iterdir()) == [] and not (tmp_path / "local" / "JBX3656").exists()
    require(os.geteuid() == 0, "needs root to mount a file system at the fstab's folder")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(nas)], check=True)
    try:
        result = cli("ingest", str(card), "--id", "JBX3656", "--archive", str(nas / "archive"))
        assert result.exit_code == 0, result.output
    finally:
        subprocess.run(["umount", str(nas)], check=True)


def test_a_finished_rows_count_keeps_the_photos_moved_since(tmp_path: Path) -> None:
    """The same map run again after its photos left the card: "N of them were archived for
    ID" counted only those still under that patient, one moved since was left out (4 of
    5 said). Moved photos are counted and said; a row all of whose photos were moved is
    not taken as done (the map may be wrong for them), as before."""
    from exif_bytes import timed_card

    card, archive = tmp_path / "card", tmp_path / "archive"
    folder = timed_card(card, count=4)
    idmap = tmp_path / "m.csv"
    idmap.write_text("files,id\nIMG_0001-IMG_0003,JBX3656\nIMG_0004,MCJ1984\n", encoding="utf-8")
    run = ("ingest", str(card), "--map", str(idmap), "--archive", str(archive))
    assert cli(*run).exit_code == 0
    for n in (1, 2, 3):
        (folder / f"IMG_{n:04d}.JPG").unlink()  # as a wipe stopped after three
    moved = cli("move", "JBX3656/JBX3656-20240501-100002.jpg", "--to", "ACA31FM",
                "--archive", str(archive))  # fmt: skip
    assert moved.exit_code == 0, moved.output
    again = cli(*run, "--json")
    assert again.exit_code == 0, again.output
    said = " ".join(again.stderr.split())
    assert re.search(
        r"line 2: the photos of IMG_0001-IMG_0003 are no longer on the card; 3 of them were "
        r"archived for JBX3656 by ingest \S+ with this map \(1 since moved to another "
        r"patient\), so that part of the map is done",
        said,
    ), said
    for n in (1, 3):
        moved = cli("move", f"JBX3656/JBX3656-20240501-10000{n}.jpg", "--to", "ACA31FM",
                    "--archive", str(archive))  # fmt: skip
        assert moved.exit_code == 0, moved.output
    refused = cli(*run)
    assert refused.exit_code == 2, refused.output
    assert "IMG_0001-IMG_0003" in refused.stderr


def test_a_sheet_that_could_not_be_written_stays_exit_1_through_the_wipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ingest --sheet … --wipe`: the sheet's write failed (exit 1, said), and the wipe's
    clean result after it made the exit 0."""
    from exif_bytes import timed_card

    from cardingest.errors import SheetError
    from cardingest.review.contact import SheetFile

    def failing(self: SheetFile, text: str, *, interim: bool = False) -> None:
        raise SheetError(f"Cannot write the contact sheet {self.path}: No space left on device")

    card, archive = tmp_path / "card", tmp_path / "archive"
    timed_card(card, count=1)
    monkeypatch.setattr(SheetFile, "write", failing)
    result = cli("ingest", card, "--id", "JBX3656", "--archive", archive,
                 "--sheet", tmp_path / "sheet.html", "--wipe", "--yes")  # fmt: skip
    assert "Cannot write the contact sheet" in result.stderr, result.output
    assert result.exit_code == 1, result.output
    assert not list((card / "DCIM" / "100CANON").iterdir())  # the photos archived: wiped


def test_an_empty_folder_made_by_hand_for_a_new_archive_is_closed_to_others(
    tmp_path: Path,
) -> None:
    """`mkdir archive backup` (umask 022), then the first ingest: every account could list
    the patients' folders in them, whose names are patients' IDs, with not a word (only a
    later `verify` called them exposed). Empty folders of ours are made private, and said;
    a folder holding anything already is the user's own and is left as it is."""
    from exif_bytes import timed_card

    card, archive, backup = tmp_path / "card", tmp_path / "archive", tmp_path / "backup"
    timed_card(card, count=1)
    for folder in (archive, backup):
        folder.mkdir()
        folder.chmod(0o755)
    result = cli("ingest", card, "--id", "JBX3656", "--archive", archive, "--backup", backup,
                 "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    warned = " ".join(" ".join(json.loads(result.stdout)["warnings"]).split())
    for what, folder in (("archive", archive), ("backup", backup)):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert f"The {what} folder {folder} was open to other accounts" in warned, warned
    assert "made it private (drwx------) before writing into it" in warned
    checked = json.loads(cli("verify", "--archive", archive, "--json").stdout)
    assert checked["problems"] == [], checked
    disk = tmp_path / "new-ext4-disk"  # a new disk's root: only lost+found in it
    (disk / "lost+found").mkdir(parents=True, mode=0o700)
    disk.chmod(0o755)
    assert cli("ingest", card, "--id", "JBX3656", "--archive", disk).exit_code == 0
    assert stat.S_IMODE(disk.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    (shared / "notes").mkdir(parents=True)
    shared.chmod(0o755)
    result = cli("ingest", card, "--id", "JBX3656", "--archive", shared, "--json")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert "was open to other accounts" not in result.stdout


def test_small_things_a_new_user_met(tmp_path: Path) -> None:
    """-h as well as --help; `move` with --since after --until said nothing of it (search
    and dicom do); a card image given as SOURCE was only "not a folder"."""
    for args in (("-h",), ("ingest", "-h"), ("dicom", "send", "-h")):
        result = cli(*args)
        assert result.exit_code == 0 and "Usage:" in result.stdout, (args, result.output)
    result = cli("move", "--from", "JBX3656", "--to", "MCJ1984", "--since", "2026-12-01",
                 "--until", "2020-01-01", "--archive", tmp_path / "a")  # fmt: skip
    assert result.exit_code == 2 and "--since 2026-12-01 is after --until 2020-01-01" in (
        result.stderr
    ), result.output
    image = tmp_path / "card.img"
    image.write_bytes(bytes(512))
    result = cli("preview", image, "--id", "JBX3656", "--archive", tmp_path / "a")
    assert result.exit_code == 2
    assert "not a folder" in result.stderr and "a card image? mount it" in result.stderr


def test_a_file_with_the_photos_bytes_that_others_can_change_is_not_taken_as_its_copy(
    tmp_path: Path,
) -> None:
    """A file at a photo's name holding its bytes, hard-linked from a folder every account
    writes in, or another account's: it was kept as the proven copy (root even chmod'ed it,
    and its outside name with it), the card was wiped, and the other name's holder could
    then change the archived photo (a fault trial). Neither is the copy now: the photo
    takes the next name, in the preview as in the ingest, and neither file is touched."""
    from exif_bytes import timed_card

    card, archive = tmp_path / "card", tmp_path / "archive"
    folder = timed_card(card, count=1)
    photo = (folder / "IMG_0001.JPG").read_bytes()
    (archive / "JBX3656").mkdir(parents=True, mode=0o700)
    name = archive / "JBX3656" / "JBX3656-20240501-100001.jpg"
    drop = tmp_path / "drop"
    drop.mkdir(mode=0o777)
    outside = drop / "x.jpg"
    outside.write_bytes(photo)
    outside.chmod(0o644)
    os.link(outside, name)
    cases = [("hard-linked", lambda: None)]
    if os.geteuid() == 0:

        def theirs() -> None:
            name.unlink()
            name.write_bytes(photo)
            name.chmod(0o644)
            os.chown(name, 65534, 65534)

        cases.append(("another account's", theirs))
    for what, arrange in cases:
        arrange()
        (folder / "IMG_0001.JPG").write_bytes(photo)
        targets = []
        for command in ("preview", "ingest"):
            run = cli(command, card, "--id", "JBX3656", "--archive", archive, "--json")
            assert run.exit_code == 0, run.output
            [item] = json.loads(run.stdout)["items"]
            targets.append(item["target"])
        assert targets == ["JBX3656/JBX3656-20240501-100001-2.jpg"] * 2, what
        assert stat.S_IMODE(name.stat().st_mode) == 0o644, what
        (archive / targets[0]).unlink()  # for the next case: the catalogue row goes too
        shutil.rmtree(archive / ".cardingest")


def test_a_wipe_keeps_a_photo_whose_sidecar_is_not_archived_yet(tmp_path: Path) -> None:
    """A camera XMP not archived yet (an ingest killed before copying it): `wipe` removed
    the photo and kept the XMP, which no ingest could file any more ("sidecar without its
    photo", a fault trial). The photo stays with it until an ingest files the sidecar."""
    from exif_bytes import timed_card

    card, archive = tmp_path / "card", tmp_path / "archive"
    folder = timed_card(card, count=1)
    assert cli("ingest", card, "--id", "JBX3656", "--archive", archive).exit_code == 0
    (folder / "IMG_0001.XMP").write_bytes(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>')
    wiped = cli("wipe", card, "--archive", archive, "--yes", "--json")
    assert wiped.exit_code == 3, wiped.output
    reasons = {i["source"]: i["reason"] for i in json.loads(wiped.stdout)["items"]}
    assert reasons["DCIM/100CANON/IMG_0001.JPG"].startswith(
        "its sidecar DCIM/100CANON/IMG_0001.XMP stays on the card, not archived"
    ), reasons
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_0001.JPG", "IMG_0001.XMP"]
    done = cli("ingest", card, "--id", "JBX3656", "--archive", archive, "--wipe", "--yes")
    assert done.exit_code == 0, done.output
    assert list(folder.iterdir()) == []
    assert (archive / "JBX3656" / "JBX3656-20240501-100001.xmp").exists()


def test_an_empty_archive_folder_named_through_a_link_is_closed_and_a_refused_run_changes_none(
    tmp_path: Path,
) -> None:
    """An archive given through a link to an empty 0755 folder was never closed, and
    `verify` through the link said "all match" while every account could list the
    patients (a fault trial); a run refused after its plan (the backup gone) had closed the
    folders anyway, without a word. Now the link's folder is closed and verify judges it;
    a refused run changes no folder."""
    from exif_bytes import timed_card

    card, real, link = tmp_path / "card", tmp_path / "real", tmp_path / "archive"
    timed_card(card, count=1)
    real.mkdir(mode=0o755)
    real.chmod(0o755)
    link.symlink_to(real)
    nas, backup = tmp_path / "nas", tmp_path / "nas" / "backup"
    nas.mkdir()
    assert cli("ingest", card, "--id", "JBX3656", "--archive", tmp_path / "first",
               "--backup", backup).exit_code == 0  # fmt: skip
    shutil.rmtree(backup)
    backup.mkdir(mode=0o755)
    backup.chmod(0o755)  # the NAS not mounted: its empty mount point
    refused = cli("ingest", card, "--id", "JBX3656", "--archive", tmp_path / "first",
                  "--backup", backup)  # fmt: skip
    assert refused.exit_code == 2 and "holds no backup now" in refused.stderr
    assert stat.S_IMODE(backup.stat().st_mode) == 0o755
    done = cli("ingest", card, "--id", "JBX3656", "--archive", link, "--json")
    assert done.exit_code == 0, done.output
    assert stat.S_IMODE(real.stat().st_mode) == 0o700
    assert f"The archive folder {link} was open to other accounts" in done.stdout
    real.chmod(0o755)
    checked = json.loads(cli("verify", "--archive", link, "--json").stdout)
    assert [p["path"] for p in checked["problems"]] == ["."], checked


def test_one_patients_photos_of_several_days_are_warned_of(tmp_path: Path) -> None:
    """A trial: `--id` on a card holding two days' photos, and a map whose ID was filled
    down every row, filed them all under one patient with no word. Such a plan is warned of
    (nothing is held: a patient may be seen on two days); one day's photos are not."""
    from badinput_helpers import dated_card

    card = dated_card(tmp_path / "card", count=3, minutes=12 * 60)  # 1 Jan 00:00 to 2 Jan 00:00
    said = "JBX3656's photos to copy were taken on 2 days (2026-01-01: 2, 2026-01-02: 1)"
    result = cli("preview", card, "--id", "JBX3656", "--archive", tmp_path / "a", "--json")
    assert result.exit_code == 0, result.stderr
    assert any(said in warning for warning in json.loads(result.stdout)["warnings"])
    filled = tmp_path / "map.csv"
    filled.write_text("files,id\nIMG_0001,JBX3656\nIMG_0002-IMG_0003,JBX3656\n", encoding="utf-8")
    result = cli("preview", card, "--map", filled, "--archive", tmp_path / "a")
    assert result.exit_code == 0 and said in " ".join(result.stderr.split()), result.stderr
    one_day = dated_card(tmp_path / "one", count=3, minutes=60)
    result = cli("preview", one_day, "--id", "JBX3656", "--archive", tmp_path / "a", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["warnings"] == []
    # A copy put back (deleted from the archive) is no new photo of that day (a trial's
    # warning said two days where the patient list said one new photo).
    archive = tmp_path / "b"
    assert cli("ingest", card, "--id", "JBX3656", "--archive", archive).exit_code == 0
    next((archive / "JBX3656").glob("*-20260102-*.jpg")).unlink()
    from exif_bytes import exif_jpeg

    (card / "DCIM" / "100CANON" / "IMG_0004.JPG").write_bytes(exif_jpeg("2026:01:01 09:00:00"))
    again = cli("preview", card, "--id", "JBX3656", "--archive", archive, "--json")
    assert json.loads(again.stdout)["warnings"] == [], again.stdout
