"""Scenarios 13 and 14: nothing filed under the wrong patient (issue 12, items 2-4).

13: a card ingested again under another patient's ID is held, photo by photo, naming the
    patient who has it (exit 3); ``--allow-other-patient`` files it for both, as intended.
14: a card filed under the wrong patient is corrected with ``cardingest move``, by path and
    by ``--from`` with filters, backup copies and keyword sidecars included.
14b: kill -9 at chosen points of a move, then the same move again: it finishes, nothing lost,
    doubled or left mislabelled, every manifest passes ``sha256sum -c``.

The checker counts *mislabelled*: a catalogue row whose patient is not one the scenario meant
the photo for. Each scenario first shows the checker does see a misfiled card.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from cardimage import CardFactory

from .checks import Source, inspect, photos_of, read_rows
from .conftest import Checker, Figures
from .helpers import OTHER_PATIENT, PATIENT, Cli, card_size_mb, injected, make_photos

PHOTOS = 10


def mapped(folder: Path, patient: str) -> Path:
    """An ID map with keywords (so XMP sidecars are written) giving the card to ``patient``."""
    id_map = folder / f"map-{patient}.csv"
    id_map.write_text(
        "files,id,diagnosis,site\n"
        f"100CANON/IMG_0001-100CANON/IMG_0005,{patient},melanoma;naevus,left forearm\n"
        f"101CANON/IMG_0006-101CANON/IMG_0010,{patient},psoriasis,\n"
    )
    return id_map


def card_of(fat_card: CardFactory, samples_dir: Path, seed: int) -> tuple[Path, dict[str, bytes]]:
    files = make_photos(samples_dir, PHOTOS, seed=seed, min_size=150_000, max_size=400_000)
    return fat_card(files, size_mb=card_size_mb(files)), files


def run_json(cli: Cli, *args: object) -> tuple[int, dict]:
    done = cli.run(*args, "--json")
    assert done.stdout.strip(), done.stderr[-2000:]
    return done.returncode, json.loads(done.stdout)


@pytest.mark.fault(13, "the same card again under another ID: held with the ID, no mislabel")
def test_second_patient_is_held(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
) -> None:
    card, files = card_of(fat_card, samples_dir, fault_seed + 130)
    archive = tmp_path / "archive"
    source = Source(card, photos_of(files, PATIENT))
    code, _ = run_json(cli, "ingest", card, "--id", PATIENT, "--archive", archive)
    assert code == 0
    check(archive, [source], context="first ingest")
    for command in ("preview", "ingest"):
        code, document = run_json(cli, command, card, "--id", OTHER_PATIENT, "--archive", archive)
        assert code == 3, document
        for item in document["items"]:
            assert item["action"] == "hold", item
            assert f"already archived under patient {PATIENT} ({PATIENT}/" in item["reason"]
        check(archive, [source], context=f"{command} under a second ID")
    assert not (archive / OTHER_PATIENT).exists()

    # Said on purpose: filed for both; the scenario's intent says both, and stays clean.
    code, document = run_json(
        cli, "ingest", card, "--id", OTHER_PATIENT, "--archive", archive, "--allow-other-patient"
    )
    assert code == 0, document
    both = Source(card, photos_of(files, {path: {PATIENT, OTHER_PATIENT} for path in files}))
    findings = check(archive, [both], context="--allow-other-patient")
    assert findings.rows == 2 * PHOTOS
    # The checker sees a mislabel when the intent does not cover it.
    assert len(inspect(archive, [source]).mislabelled) == PHOTOS


@pytest.mark.fault("13b", "kill -9 under a wrong map before its rows, then the right map")
def test_kill9_under_a_wrong_map_then_the_right_one(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    """A run with the wrong map killed after it published its copies, before it recorded
    them: the next run records them from the publish journal under the wrong patient, where
    they are seen (held, exit 3, and counted as mislabelled) and `move` puts them right.
    Without the journal they stayed in the wrong patient's folder, unknown to any command."""
    card, files = card_of(fat_card, samples_dir, fault_seed + 131)
    archive, backup = tmp_path / "archive", tmp_path / "nas" / "backup"
    backup.parent.mkdir(parents=True)
    source = Source(card, photos_of(files, PATIENT))
    wrong = mapped(tmp_path, OTHER_PATIENT)
    where = ("--archive", archive, "--backup", backup)
    killed = injected(cli, "before-rows", "ingest", card, "--map", wrong, *where, "--json")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    figures.killed("before-rows")
    published = sorted(p.name for p in (archive / OTHER_PATIENT).glob(f"{OTHER_PATIENT}-*.jpg"))
    assert published and not read_rows(archive), "the dead run should publish, record nothing"

    right = mapped(tmp_path, PATIENT)
    code, document = run_json(cli, "ingest", card, "--map", right, *where)
    assert code == 3, document
    [said] = [w for w in document["warnings"] if "without recording them" in w]
    assert f"stopped after it copied {len(published)} photo(s)" in said
    held = [item for item in document["items"] if item["action"] == "hold"]
    assert len(held) == len(published), document["items"]
    for item in held:
        assert f"already archived under patient {OTHER_PATIENT} ({OTHER_PATIENT}/" in item["reason"]
    findings = inspect(archive, [source], backup=backup)
    assert len(findings.mislabelled) == len(published), findings.report("recovered")
    assert not findings.problems and not findings.stray, findings.report("recovered")
    assert len(list((archive / OTHER_PATIENT).glob("*.xmp"))) == len(published)
    assert [e["event"] for e in _events(archive)].count("recover") == 1

    code, document = run_json(cli, "move", "--from", OTHER_PATIENT, "--to", PATIENT, *where[:2])
    assert code == 0, document
    code, document = run_json(cli, "ingest", card, "--map", right, *where)
    assert code == 0, document
    findings = check(archive, [source], backup=backup, context="recovered, moved, re-ingested")
    assert findings.archived == PHOTOS and findings.rows == PHOTOS


def misfiled_archive(
    cli: Cli, card: Path, folder: Path, archive: Path, backup: Path
) -> dict[str, str]:
    """The card ingested under the wrong patient (with a backup); returns source -> target."""
    backup.parent.mkdir(parents=True, exist_ok=True)
    args = ("ingest", card, "--map", mapped(folder, OTHER_PATIENT), "--archive", archive)
    code, document = run_json(cli, *args, "--backup", backup)
    assert code == 0, document
    return {item["source"]: item["target"] for item in document["items"]}


@pytest.mark.fault(14, "a misfiled card corrected with move: none mislabelled after")
def test_move_corrects_a_misfiled_card(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
) -> None:
    card, files = card_of(fat_card, samples_dir, fault_seed + 140)
    archive, backup = tmp_path / "archive", tmp_path / "nas" / "backup"
    source = Source(card, photos_of(files, PATIENT))
    targets = misfiled_archive(cli, card, tmp_path, archive, backup)
    assert len(inspect(archive, [source], backup=backup).mislabelled) == PHOTOS

    # By path: the first two photos (one on-disk path, one archive-relative).
    first, second = (targets[p] for p in sorted(targets)[:2])
    code, document = run_json(
        cli, "move", archive / first, second, "--to", PATIENT, "--archive", archive
    )
    assert code == 0, document
    assert [m["old"] for m in document["moved"]] == sorted([first, second])
    assert all(m["new"].startswith(f"{PATIENT}/{PATIENT}-") for m in document["moved"])
    assert len(document["sidecars"]) == 4  # archive + backup, two photos
    assert len(inspect(archive, [source], backup=backup).mislabelled) == PHOTOS - 2

    # By --from with a filter: the psoriasis photos, then the rest.
    code, document = run_json(
        cli, "move", "--from", OTHER_PATIENT, "--diagnosis", "PSORIASIS", "--to", PATIENT,
        "--archive", archive,
    )  # fmt: skip
    assert code == 0, document
    assert len(document["moved"]) == 5
    code, document = run_json(
        cli, "move", "--from", OTHER_PATIENT, "--to", PATIENT, "--archive", archive
    )
    assert code == 0, document
    assert len(document["moved"]) == 3
    findings = check(archive, [source], backup=backup, context="after the moves")
    assert findings.archived == PHOTOS and findings.rows == PHOTOS
    assert {row.patient_id for row in read_rows(archive)} == {PATIENT}
    assert not (archive / OTHER_PATIENT).exists() and not (backup / OTHER_PATIENT).exists()
    sidecars = sorted(p.name for p in (archive / PATIENT).glob("*.xmp"))
    assert len(sidecars) == PHOTOS
    moves = [e for e in _events(archive) if e.get("event") == "move"]
    assert sum(len(e["moves"]) for e in moves) == PHOTOS

    # The card now belongs to PATIENT: ingesting it again skips all; the wipe clears it.
    code, document = run_json(cli, "ingest", card, "--id", PATIENT, "--archive", archive)
    assert code == 0 and {i["action"] for i in document["items"]} == {"skip"}, document
    code, document = run_json(cli, "wipe", card, "--archive", archive, "--yes")
    assert code == 0, document
    findings = check(archive, [source], backup=backup, context="moved, re-ingested, wiped")
    assert findings.on_card == 0 and findings.archived == PHOTOS


def _events(archive: Path) -> list[dict]:
    lines = (archive / ".cardingest" / "audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


MOVE_POINTS = (
    ("move-journal", "right after the journal is written, before any file"),
    ("after-link", "right after the first hard link to a new name"),
    ("move-rows", "after every link, as the catalogue rows are refiled"),
    ("move-rows-done", "after the rows, before the manifests"),
    ("manifest", "inside a manifest rewrite, before its rename"),
    ("move-unlink", "after the first old name is unlinked"),
    ("audit-line", "after the audit line, before audit.head"),
    ("move-audited", "after the audit event, before the journal is removed"),
)


@pytest.mark.fault("14b", "kill -9 at chosen points of a move, then the same move again")
@pytest.mark.parametrize("point", [name for name, _ in MOVE_POINTS])
def test_kill9_during_move_then_rerun(
    point: str,
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    card, files = card_of(fat_card, samples_dir, fault_seed + 141)
    archive, backup = tmp_path / "archive", tmp_path / "nas" / "backup"
    source = Source(card, photos_of(files, PATIENT))
    misfiled_archive(cli, card, tmp_path, archive, backup)
    args = ("move", "--from", OTHER_PATIENT, "--to", PATIENT, "--archive", archive, "--json")
    killed = injected(cli, point, *args)
    assert killed.returncode == -signal.SIGKILL, f"{point} never reached: {killed.stderr[-2000:]}"
    figures.killed(point)
    after_kill = inspect(archive, [source], backup=backup, final=False)
    assert not after_kill.lost and not after_kill.doubled, after_kill.report(f"killed at {point}")
    assert not after_kill.wiped_unverified

    done = cli.run(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    assert document["resumed"], document
    findings = check(archive, [source], backup=backup, context=f"move re-run after {point}")
    assert findings.archived == PHOTOS and findings.rows == PHOTOS
    assert {row.patient_id for row in read_rows(archive)} == {PATIENT}
    assert not (archive / ".cardingest" / "move-journal.json").exists()
    moves = [e for e in _events(archive) if e.get("event") == "move"]
    assert len(moves) == 1 and len(moves[0]["moves"]) == PHOTOS, moves
    assert len(list((archive / PATIENT).glob("*.xmp"))) == PHOTOS
    assert len(list((backup / PATIENT).glob("*.xmp"))) == PHOTOS


@pytest.mark.fault("14d", "a killed move's journal edited by hand, then the move again")
def test_an_edited_move_journal_is_refused_before_any_file(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    """The journal of a move killed before its first file says which file goes where;
    whoever may write the archive may edit it. A new name outside the archive (the resumed
    move linked the photo there and catalogued that path, then a traceback), the move's
    patient changed (the photos catalogued as one patient in another's folder) or a sidecar
    outside the archive: refused with the journal named (exit 1), nothing touched; the
    journal as written then finishes the move."""
    card, files = card_of(fat_card, samples_dir, fault_seed + 143)
    archive, backup = tmp_path / "archive", tmp_path / "nas" / "backup"
    source = Source(card, photos_of(files, PATIENT))
    misfiled_archive(cli, card, tmp_path, archive, backup)
    args = ("move", "--from", OTHER_PATIENT, "--to", PATIENT, "--archive", archive)
    killed = injected(cli, "move-journal", *args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    figures.killed("move-journal")
    journal = archive / ".cardingest" / "move-journal.json"
    written = json.loads(journal.read_text())
    outside = tmp_path / "etc" / "x.jpg"
    edits = {
        "a new name outside the archive": lambda j: j["moves"][0].update(new="../../etc/x.jpg"),
        "another patient": lambda j: j.update(to="EPT6335"),
        "a sidecar outside": lambda j: j["sidecars"][0].__setitem__(1, str(outside) + ".xmp"),
    }

    def files() -> set[str]:  # the photos and sidecars, wherever they are; not the records
        return {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                if p.is_file() and ".cardingest" not in p.parts}  # fmt: skip

    before, rows = files(), read_rows(archive)
    for what, edit in edits.items():
        edited = json.loads(json.dumps(written))
        edit(edited)
        journal.write_text(json.dumps(edited))
        refused = cli.run(*args)
        assert refused.returncode == 1, (what, refused.stderr[-2000:])
        said = " ".join(refused.stderr.split())
        assert f"{journal} (an interrupted move) is not as cardingest wrote it" in said, what
        assert "Traceback" not in refused.stderr
        assert files() == before and read_rows(archive) == rows, what
    journal.write_text(json.dumps(written))
    done = cli.run(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    findings = check(archive, [source], backup=backup, context="move after an edited journal")
    assert findings.archived == PHOTOS and {r.patient_id for r in read_rows(archive)} == {PATIENT}


@pytest.mark.fault("14e", "kill -9 while a refused move journal is abandoned, then again")
def test_kill9_while_abandoning_a_move_journal_leaves_its_intent_in_the_audit_log(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    """A move killed after its rows were refiled, its journal then edited (refused for
    good), and `move --abandon-journal` killed after the first name it settles: that name
    is gone, and only the ``move_abandon_started`` event written before it says that this
    run may take it. The run again takes the rest and keeps the journal."""
    card, files = card_of(fat_card, samples_dir, fault_seed + 144)
    archive, backup = tmp_path / "archive", tmp_path / "nas" / "backup"
    source = Source(card, photos_of(files, PATIENT))
    targets = misfiled_archive(cli, card, tmp_path, archive, backup)
    args = ("move", "--from", OTHER_PATIENT, "--to", PATIENT, "--archive", archive)
    killed = injected(cli, "move-rows-done", *args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    journal = archive / ".cardingest" / "move-journal.json"
    written = json.loads(journal.read_text())
    journal.write_text(json.dumps({**written, "to": f" {PATIENT}"}))
    abandon = ("move", "--abandon-journal", "--archive", archive, "--json")

    killed = injected(cli, "abandon-settled", *abandon)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    figures.killed("abandon-settled")
    olds = sorted(targets.values())
    assert not (archive / olds[0]).exists() and all((archive / old).is_file() for old in olds[1:])
    started = [e for e in _events(archive) if e.get("event") == "move_abandon_started"]
    assert len(started) == 1 and started[0]["move_id"] == written["move_id"], started
    assert started[0]["journal"] == ".cardingest/move-journal.json"
    assert olds[0] in started[0]["candidates"] and started[0]["operator"]
    assert not [e for e in _events(archive) if e.get("event") == "move_abandoned"]
    after_kill = inspect(archive, [source], backup=backup, final=False)
    assert not after_kill.lost and not after_kill.doubled, after_kill.report("abandon killed")

    done = cli.run(*abandon)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    removed = {item["path"] for item in document["removed"]}
    assert olds[0] not in removed and set(olds[1:]) <= removed
    # The move was stopped before its manifests: they listed the old names, and are written
    # again from the catalogue (in the archive, and in the backup folder).
    assert len(document["manifests"]) == 2, document
    assert [e["event"] for e in _events(archive)][-2:] == ["move_abandon_started", "move_abandoned"]
    assert not journal.exists()
    findings = check(archive, [source], backup=backup, context="abandon after a kill")
    assert findings.archived == PHOTOS and {r.patient_id for r in read_rows(archive)} == {PATIENT}


@pytest.mark.fault("14c", "kill -9 in a move, then tag (not move) on the new patient")
def test_tag_after_a_killed_move_finishes_the_move_first(
    cli: Cli,
    fat_card: CardFactory,
    samples_dir: Path,
    tmp_path: Path,
    fault_seed: int,
    check: Checker,
    figures: Figures,
) -> None:
    """Killed with the new names linked and the rows moved, the old names still there: a
    `tag` of the new patient then rewrote the new names' sidecars, after which the move
    could never finish (every move failed) and the old patient's folder kept the photos.
    `tag` now finishes the move first, then tags."""
    card, files = card_of(fat_card, samples_dir, fault_seed + 142)
    archive, backup = tmp_path / "archive", tmp_path / "nas" / "backup"
    source = Source(card, photos_of(files, PATIENT))
    misfiled_archive(cli, card, tmp_path, archive, backup)
    args = ("move", "--from", OTHER_PATIENT, "--to", PATIENT, "--archive", archive)
    killed = injected(cli, "move-rows-done", *args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    figures.killed("move-rows-done")
    verified = cli.run("verify", "--archive", archive, "--json")
    assert verified.returncode == 1  # the old names are unexpected until the move finishes
    [said] = json.loads(verified.stdout)["warnings"]
    assert f"to {PATIENT} was interrupted" in said and "move or tag finishes it" in said

    tagged = cli.run("tag", PATIENT, "--diagnosis", "histology-bcc", "--archive", archive)
    assert tagged.returncode == 0, tagged.stderr[-2000:]
    assert "which had been interrupted" in tagged.stderr
    assert not (archive / ".cardingest" / "move-journal.json").exists()
    findings = check(archive, [source], backup=backup, context="tag after a killed move")
    assert findings.archived == PHOTOS and findings.rows == PHOTOS
    assert not (archive / OTHER_PATIENT).exists() or not any((archive / OTHER_PATIENT).iterdir())
    for root in (archive, backup):
        sidecars = list((root / PATIENT).glob("*.xmp"))
        assert len(sidecars) == PHOTOS and all(b"histology-bcc" in x.read_bytes() for x in sidecars)
    back = cli.run("move", "--from", PATIENT, "--to", OTHER_PATIENT, "--archive", archive)
    assert back.returncode == 0, back.stderr[-2000:]
