"""``cardingest dicom send`` to a real Orthanc PACS that the tests start on loopback.

Each stored instance is checked through Orthanc's REST API: its raw frame is the archived
JPEG (or its lossless upright turn), its Patient ID and acquisition time are right. A second
send stores nothing new; Orthanc stopped mid-send (a Lua filter that exits Orthanc at the
third photo, so the point is exact, not timed) is exit 1 and the re-run sends only the rest.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from cardimage import require_binaries
from dicom_helpers import (
    JPEGS,
    NOT_SENT,
    OTHER,
    PATIENT,
    Orthanc,
    cli,
    dicom_datetime,
    ingest,
    make_source,
    padded,
    search,
    stopped_move,
)
from PIL import Image

STOP_AT_THIRD = """
count = 0
function ReceivedInstanceFilter(dicom, origin, info)
  count = count + 1
  if count == 3 then
    os.exit(1)
  end
  return true
end
"""
DISCARD_ALL = """
function ReceivedInstanceFilter(dicom, origin, info)
  return false
end
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Real camera files in a card-like folder, and the archive the real ingest made of them."""
    root = tmp_path_factory.mktemp("pacs-source")
    map_file = make_source(root / "card")
    env = environment(root, root / "config.toml")
    ingest(root / "card", map_file, root / "archive", env=env)
    return root / "card", map_file, root / "archive"


def environment(root: Path, config: Path) -> dict[str, str]:
    if not config.exists():
        config.write_text("", encoding="utf-8")
    return {
        "HOME": str(root / "home"),
        "XDG_CONFIG_HOME": str(root / "home" / ".config"),
        "CARDINGEST_CONFIG": str(config),
    }


@pytest.fixture
def archive(source: tuple[Path, Path, Path], tmp_path: Path) -> Path:
    """A private copy of the ingested archive (sends are recorded in its catalogue)."""
    return Path(shutil.copytree(source[2], tmp_path / "archive"))


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[Orthanc]:
    require_binaries("Orthanc", "jpegtran")
    server = Orthanc(tmp_path / "orthanc")
    yield server
    server.stop()


def send(archive: Path, env: dict[str, str], *args: str) -> tuple[int, dict]:
    result = cli("dicom", "send", *args, "--archive", archive, "--json", env=env)
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


def again_at(pacs: Orthanc) -> str:
    """The destination name a send to ``pacs`` records."""
    return f"TESTPACS@127.0.0.1:{pacs.dicom_port}"


def sent_rows(archive: Path) -> list[tuple[str, str, str | None]]:
    path = archive / ".cardingest" / "catalogue.sqlite"
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        return conn.execute(
            "SELECT f.archive_path, d.sop_instance_uid, d.transform FROM dicom_sends d"
            " JOIN files f ON f.id = d.file_id ORDER BY d.id"
        ).fetchall()


def audit_events(archive: Path, name: str) -> list[dict]:
    lines = (archive / ".cardingest" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    return [event for event in map(json.loads, lines) if event["event"] == name]


def check_stored(pacs: Orthanc, archive: Path, env: dict[str, str], items: list[dict]) -> None:
    """Every sent item is in Orthanc with the archived JPEG (or its turn) as its frame."""
    stored = pacs.instances()
    records = search(archive, env)
    for item in items:
        tags = stored[item["sop_instance_uid"]]
        record = records[item["path"]]
        assert tags["PatientID"] == record["patient_id"] == item["id"]
        assert tags["IssuerOfPatientID"] == "NHI"
        assert tags["PatientName"] == "" and tags["PatientBirthDate"] == ""
        assert tags["SOPClassUID"] == "1.2.840.10008.5.1.4.1.1.77.1.4"
        assert tags["Modality"] == "XC"
        assert tags["AcquisitionDateTime"].startswith(dicom_datetime(record["captured_at"]))
        original = (archive / item["path"]).read_bytes()
        frame = pacs.frame(tags["orthanc_id"])
        transform = item.get("transform")
        if transform is None:
            assert frame == padded(original), item["path"]
        elif transform == "jpegtran -rotate 90":
            turned = subprocess.run(
                ["jpegtran", "-perfect", "-copy", "icc", "-rotate", "90"],
                input=original,
                capture_output=True,
                check=True,
            ).stdout
            assert frame == padded(turned)
            with Image.open(io.BytesIO(original)) as before, Image.open(io.BytesIO(frame)) as after:
                assert after.size == (before.size[1], before.size[0])
        else:
            assert transform.endswith("(progressive to baseline)")
            with Image.open(io.BytesIO(original)) as a, Image.open(io.BytesIO(frame)) as b:
                assert a.convert("RGB").tobytes() == b.convert("RGB").tobytes()


def test_send_stores_one_instance_per_jpeg_and_a_second_send_nothing(
    archive: Path, pacs: Orthanc, tmp_path: Path
) -> None:
    pacs.start()
    env = environment(tmp_path, pacs.config_toml(tmp_path / "config.toml"))
    code, document = send(archive, env)
    assert code == 3  # the HEIC and the RAW are left out, with their reasons
    assert document["summary"] == {
        "sent": len(JPEGS), "already_sent": 0, "failed": 0, "left_out": NOT_SENT, "not_sent": 0,
    }  # fmt: skip
    sent = [i for i in document["items"] if i["action"] == "sent"]
    assert len(pacs.instances()) == len(JPEGS) == 7
    check_stored(pacs, archive, env, sent)
    # The two photos that ask to be turned: one turned losslessly, one could not be.
    transforms = sorted(str(i.get("transform")) for i in sent)
    assert transforms.count("jpegtran -rotate 90") == 1
    assert sum("unrotated" in i.get("note", "") for i in sent) == 1
    # One study per patient and ingest.
    studies = pacs.get("/studies?expand")
    assert sorted(s["PatientMainDicomTags"]["PatientID"] for s in studies) == [OTHER, PATIENT]
    # Recorded: catalogue (where, when, UID) and audit log.
    rows = sent_rows(archive)
    assert sorted(r[1] for r in rows) == sorted(i["sop_instance_uid"] for i in sent)
    event = audit_events(archive, "dicom-send")[-1]
    assert (
        event["destination"] == document["destination"] == f"TESTPACS@127.0.0.1:{pacs.dicom_port}"
    )
    assert len(event["sent"]) == 7

    before = pacs.last_change()
    code, again = send(archive, env)
    assert code == 3 and again["summary"]["sent"] == 0
    assert again["summary"]["already_sent"] == 7
    assert pacs.last_change() == before and len(pacs.instances()) == 7
    assert len(sent_rows(archive)) == 7

    # --force sends again: the same instances (deterministic UIDs), no duplicates.
    code, forced = send(archive, env, "--force", PATIENT)
    assert code == 0 and forced["summary"]["sent"] == 6
    assert len(pacs.instances()) == 7


def test_a_photo_moved_to_another_patient_is_sent_again_under_it_with_a_note(
    archive: Path, pacs: Orthanc, tmp_path: Path
) -> None:
    """Sent under PATIENT, then refiled under OTHER: its instance at the PACS still says
    PATIENT. A send of OTHER's photos must not call it "already sent": it sends it under
    OTHER, and says that the old instance is still there to be removed."""
    pacs.start()
    env = environment(tmp_path, pacs.config_toml(tmp_path / "config.toml"))
    code, document = send(archive, env)
    assert code == 3
    moved = next(i for i in document["items"] if i["action"] == "sent" and i["id"] == PATIENT)
    done = cli("move", moved["path"], "--to", OTHER, "--archive", archive, "--json", env=env)
    assert done.returncode == 0, done.stderr
    [(old, new)] = [(m["old"], m["new"]) for m in json.loads(done.stdout)["moved"]]
    # The move says at once that the PACS holds it under the old patient.
    [at_pacs] = json.loads(done.stdout)["at_pacs"]
    assert at_pacs["path"] == new and at_pacs["destinations"] == [again_at(pacs)]
    assert "1 of the moved photos were sent to" in " ".join(done.stderr.split())
    assert old == moved["path"]
    code, again = send(archive, env, OTHER)
    resent = [i for i in again["items"] if i["action"] == "sent"]
    assert [i["path"] for i in resent] == [new]
    assert (
        f"sent before as instance {moved['sop_instance_uid']}, under another patient ID"
        in resent[0]["note"]
    )
    stored = pacs.instances()
    assert stored[resent[0]["sop_instance_uid"]]["PatientID"] == OTHER
    assert stored[moved["sop_instance_uid"]]["PatientID"] == PATIENT  # for the PACS to remove


def test_pacs_stopped_mid_send_is_exit_1_and_the_rerun_sends_the_rest(
    archive: Path, pacs: Orthanc, tmp_path: Path
) -> None:
    pacs.start(lua=STOP_AT_THIRD)
    env = environment(tmp_path, pacs.config_toml(tmp_path / "config.toml"))
    code, first = send(archive, env)
    assert code == 1
    assert first["stopped"] and "stopped answering" in first["stopped"]
    # Two stores were answered: no permission it lacks (a trial's message named one).
    assert "after answering others in this run" in first["stopped"], first["stopped"]
    assert "does not let calling AE" not in first["stopped"]
    assert first["summary"]["sent"] == 2 and first["summary"]["not_sent"] == 5
    assert pacs.wait_exit() != 0
    confirmed = {r[0] for r in sent_rows(archive)}
    assert confirmed == {i["path"] for i in first["items"] if i["action"] == "sent"}

    pacs.start(lua="")
    assert len(pacs.instances()) == 2
    code, second = send(archive, env)
    assert code == 3, second
    done = {i["path"] for i in second["items"] if i["action"] == "sent"}
    assert done == {i["path"] for i in first["items"] if i["action"] == "not-sent"}
    ids = {i["path"]: i["id"] for i in second["items"] if i["action"] == "sent"}
    assert all(i["id"] == ids[i["path"]] for i in first["items"] if i["action"] == "not-sent")
    assert not done & confirmed and len(done) == 5
    assert len(pacs.instances()) == 7 and len(sent_rows(archive)) == 7
    check_stored(pacs, archive, env, [i for i in second["items"] if i["action"] == "sent"])
    events = audit_events(archive, "dicom-send")
    assert events[0]["stopped"] and len(events[0]["not_sent"]) == 5 and len(events[-1]["sent"]) == 5
    assert cli("audit", "--archive", archive, env=env).returncode == 0  # the chain holds


def test_a_forced_send_stopped_part_way_says_to_force_the_rest_too(
    archive: Path, pacs: Orthanc, tmp_path: Path
) -> None:
    """A trial: after a `send --force` the PACS stopped, the advice was a plain `dicom send`
    again, which found every photo sent before and sent none."""
    pacs.start()
    env = environment(tmp_path, pacs.config_toml(tmp_path / "config.toml"))
    assert send(archive, env)[0] in (0, 3)
    pacs.stop()
    pacs.start(lua=STOP_AT_THIRD)
    result = cli("dicom", "send", "--force", "--archive", archive, env=env)
    assert result.returncode == 1, result.stderr
    said = " ".join(result.stderr.split())
    assert "not confirmed stay unsent; run `cardingest dicom send --force` again" in said, said


def test_a_pacs_that_discards_or_is_down_is_exit_1_and_nothing_counts_as_sent(
    archive: Path, pacs: Orthanc, tmp_path: Path
) -> None:
    # Orthanc 1.10 answers C-STORE success for an instance its filter discards: only the
    # query back shows it is not there.
    pacs.start(lua=DISCARD_ALL)
    env = environment(tmp_path, pacs.config_toml(tmp_path / "config.toml"))
    code, document = send(archive, env, OTHER)
    assert code == 1 and document["summary"]["failed"] == 1
    failed = [i for i in document["items"] if i["action"] == "failed"]
    assert "a query does not find it" in failed[0]["reason"]
    assert sent_rows(archive) == [] and pacs.instances() == {}
    # A calling AE title the PACS does not know.
    stranger = tmp_path / "stranger.toml"
    stranger.write_text(
        pacs.config_toml(stranger).read_text().replace('"CARDINGEST"', '"STRANGER"'), "utf-8"
    )
    result = cli("dicom", "send", OTHER, "--archive", archive, env=environment(tmp_path, stranger))
    assert result.returncode == 1, result.stderr
    assert "STRANGER" in result.stderr or "refused" in result.stderr, result.stderr
    assert "again once the AE titles agree" in " ".join(result.stderr.split()), result.stderr
    assert sent_rows(archive) == []
    pacs.stop()
    result = cli("dicom", "send", OTHER, "--archive", archive, env=env)
    assert result.returncode == 1 and "does not answer" in result.stderr
    assert "Traceback" not in result.stderr and sent_rows(archive) == []


REFUSE_ALL = """
function ReceivedInstanceFilter(dicom, origin, info)
  error("storage full")
end
"""


@pytest.mark.parametrize("lua", [DISCARD_ALL, REFUSE_ALL], ids=["discards", "refuses"])
def test_a_photo_a_forced_send_finds_gone_from_the_pacs_is_no_longer_sent(
    archive: Path, pacs: Orthanc, tmp_path: Path, lua: str
) -> None:
    """Confirmed once, then gone from the PACS (its storage lost, a rule discarding it):
    `--force` finds it missing, and from then on a plain send sends it again instead of
    saying "sent before". Also where the PACS refuses the store (a trial's storage full:
    the query was not asked, and "sent before" stood)."""
    pacs.start()
    env = environment(tmp_path, pacs.config_toml(tmp_path / "config.toml"))
    code, first = send(archive, env, OTHER)
    assert code in (0, 3) and first["summary"]["sent"] >= 1, first  # 3: some left out
    pacs.stop()
    shutil.rmtree(pacs.folder / "db")
    pacs.start(lua=lua)
    code, forced = send(archive, env, OTHER, "--force")
    assert code == 1 and forced["summary"]["failed"] == first["summary"]["sent"], forced
    code, plain = send(archive, env, OTHER)
    assert code == 1, plain  # tried again, not "sent before"
    assert plain["summary"]["already_sent"] == 0, plain
    assert plain["summary"]["failed"] == first["summary"]["sent"], plain
    pacs.stop()
    pacs.start()
    code, again = send(archive, env, OTHER)
    assert code in (0, 3) and again["summary"]["sent"] == first["summary"]["sent"], again
    check_stored(pacs, archive, env, [i for i in again["items"] if i["action"] == "sent"])


@pytest.mark.parametrize(
    ("refused", "said"), [({"allow_store": False}, "store"), ({"allow_find": False}, "query")]
)
def test_a_pacs_that_does_not_let_us_store_or_query_is_exit_1_with_the_reason(
    archive: Path, tmp_path: Path, refused: dict[str, bool], said: str
) -> None:
    """Stores refused, or queries (C-FIND: each photo stored is confirmed by one): the reason
    names the permission ("… stopped answering during a C-FIND … or it does not let calling
    AE store there" sent the user to the wrong one)."""
    require_binaries("Orthanc")
    server = Orthanc(tmp_path / "orthanc", **refused)
    try:
        server.start()
        env = environment(tmp_path, server.config_toml(tmp_path / "config.toml"))
        code, document = send(archive, env, PATIENT)
        assert code == 1 and document["summary"]["not_sent"] == 6, document
        assert f"does not let calling AE 'CARDINGEST' {said} there" in document["stopped"]
        assert sent_rows(archive) == []
        assert server.instances() == {} or "allow_find" in refused  # one stored, unconfirmed
    finally:
        server.stop()


def test_the_catalogue_lost_mid_send_says_what_was_sent_and_the_rerun_sends_the_rest(
    archive: Path, pacs: Orthanc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalogue's server gone part way through a send (an outside tester stopped
    PostgreSQL): "Nothing was copied or changed", while photos were at the PACS and
    recorded. It says what was sent now; the next send sends the rest, no instance twice.
    The loss is injected at the third record (the send itself is real, to Orthanc)."""
    from clinic_helpers import cli as in_process

    from cardingest.archive.catalogue import Catalogue
    from cardingest.errors import CatalogueError

    pacs.start()
    env = environment(tmp_path, pacs.config_toml(tmp_path / "config.toml"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    real = Catalogue.record_dicom_send
    calls: list[str] = []

    def lost_at_the_third(self: Catalogue, archive_path: str, **kwargs: Any) -> None:
        calls.append(archive_path)
        if len(calls) == 3:
            raise CatalogueError("Cannot reach the catalogue database (server closed)")
        real(self, archive_path, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(Catalogue, "record_dicom_send", lost_at_the_third)
        result = in_process("dicom", "send", PATIENT, "--archive", archive)
    said = " ".join(result.stderr.split())
    assert result.exit_code == 1, result.output
    assert "2 photo(s) were sent, confirmed and recorded before the catalogue was lost" in said
    assert "Nothing was" not in said
    assert "it sends the 4 not recorded" in said
    assert len(sent_rows(archive)) == 2
    code, again = send(archive, env, PATIENT)
    assert code in (0, 3) and again["summary"]["already_sent"] == 2, again
    assert len(pacs.instances()) == len(sent_rows(archive))  # the third's UID sent once
    # Lost after the last photo, as the send's audit event is written: the same words.
    from cardingest.archive.audit import AuditLog

    real_append = AuditLog.append

    def gone(self: AuditLog, event: str, **fields: Any) -> Any:
        if event == "dicom-send":
            raise CatalogueError("Cannot reach the catalogue database (server closed)")
        return real_append(self, event, **fields)

    with monkeypatch.context() as patched:
        patched.setattr(AuditLog, "append", gone)
        result = in_process("dicom", "send", PATIENT, "--archive", archive, "--force")
    said = " ".join(result.stderr.split())
    assert result.exit_code == 1, result.output
    assert "photo(s) were sent, confirmed and recorded before the catalogue was lost" in said
    assert "Nothing was" not in said
    assert "none is left to send" in said and "it sends the" not in said


def test_stow_rs_to_dicomweb(archive: Path, tmp_path: Path) -> None:
    require_binaries("Orthanc")
    server = Orthanc(tmp_path / "orthanc", dicomweb=True)
    try:
        server.start()
        env = environment(tmp_path, server.config_toml(tmp_path / "config.toml", stow=True))
        code, document = send(archive, env, PATIENT)
        assert code == 0 and document["summary"]["sent"] == 6
        assert document["destination"] == f"{server.url}/dicom-web/studies"
        check_stored(server, archive, env, document["items"])
        code, again = send(archive, env, PATIENT)
        assert code == 0 and again["summary"]["already_sent"] == 6
    finally:
        server.stop()


def test_stow_rs_logs_in_with_the_user_and_password_of_stow_url(
    archive: Path, tmp_path: Path
) -> None:
    """A DICOMweb server that wants HTTP basic authentication (Orthanc with users): the user
    and password of ``stow_url`` (percent-decoded) log in, and are never shown or stored."""
    require_binaries("Orthanc")
    secret = "S3cret:PW@x"  # as a clinic might choose it: the URL has it percent-encoded
    server = Orthanc(tmp_path / "orthanc", dicomweb=True, users={"admin": secret})
    config = tmp_path / "config.toml"
    env = environment(tmp_path, config)

    def send_with(userinfo: str) -> tuple[int, dict, str]:
        config.write_text(
            f'[pacs]\nstow_url = "http://{userinfo}127.0.0.1:{server.http_port}'
            '/dicom-web/studies"\n',
            encoding="utf-8",
        )
        result = cli("dicom", "send", PATIENT, "--archive", archive, "--json", env=env)
        assert "Traceback" not in result.stderr
        for shown in (result.stdout, result.stderr):
            assert "S3cret" not in shown and "S3cret%3APW" not in shown
        return result.returncode, json.loads(result.stdout), result.stderr

    try:
        server.start()
        code, document, err = send_with("")  # no user: the server's 401, with advice
        assert code == 1 and document["summary"]["not_sent"] == 6, err
        assert "HTTP 401" in document["stopped"] and "USER:PASSWORD@" in err
        plain = cli("dicom", "send", PATIENT, "--archive", archive, env=env)
        said = " ".join(plain.stderr.split())  # a trial: "again when the PACS answers", it did
        assert "again once stow_url holds a login the PACS takes" in said, said
        code, document, _err = send_with("admin:wrong@")
        assert code == 1 and "HTTP 401" in document["stopped"]
        assert server.instances() == {} and sent_rows(archive) == []
        code, document, err = send_with("admin:S3cret%3APW%40x@")
        assert code == 0 and document["summary"]["sent"] == 6, err
        assert document["destination"] == f"{server.url}/dicom-web/studies"
        check_stored(server, archive, env, document["items"])
        code, again, _err = send_with("admin:S3cret%3APW%40x@")
        assert code == 0 and again["summary"]["already_sent"] == 6
        for path in archive.rglob("*"):  # the catalogue's dicom_sends, the audit log
            assert not path.is_file() or b"S3cret" not in path.read_bytes(), path
    finally:
        server.stop()


def test_ingest_send_sends_after_a_clean_ingest(
    source: tuple[Path, Path, Path], pacs: Orthanc, tmp_path: Path
) -> None:
    card, map_file, _archive = source
    pacs.start()
    env = environment(tmp_path, pacs.config_toml(tmp_path / "config.toml"))
    archive = tmp_path / "fresh-archive"
    result = cli(
        "ingest", card, "--map", map_file, "--archive", archive, "--send", "--json", env=env
    )
    assert result.returncode == 3, result.stderr  # the HEIC and RAW are archived, not sent
    document = json.loads(result.stdout)
    # A trial: with --json, why the exit code is not 0 was in the document only; a script's
    # log (its stderr) had no word of the photos left out or failed.
    assert result.stderr.count("left out:") == 2, result.stderr
    assert document["summary"]["copied"] == 9
    assert document["dicom_send"]["summary"]["sent"] == 7
    assert len(pacs.instances()) == 7
    check_stored(
        pacs,
        archive,
        env,
        [i for i in document["dicom_send"]["items"] if i["action"] == "sent"],
    )


def test_ingest_send_without_pacs_config_copies_nothing(
    source: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    card, map_file, _archive = source
    env = environment(tmp_path, tmp_path / "config.toml")
    archive = tmp_path / "untouched"
    result = cli("ingest", card, "--map", map_file, "--archive", archive, "--send", env=env)
    assert result.returncode == 2 and "[pacs]" in result.stderr
    assert not archive.exists()


HOLD_THIRD = """
count = 0
function ReceivedInstanceFilter(dicom, origin, info)
  count = count + 1
  if count == 3 then
    local mark = io.open("{mark}", "w")
    mark:write("holding")
    mark:close()
    local gate = io.open("{gate}", "r")
    gate:read("*l")
    gate:close()
  end
  return true
end
"""


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_send_killed_mid_send_then_rerun_leaves_no_duplicate(
    archive: Path, pacs: Orthanc, tmp_path: Path, how: signal.Signals
) -> None:
    """kill -9 (or SIGTERM) of cardingest while the PACS holds the third photo: the two
    confirmed ones are recorded, the re-run sends the other five (the PACS keeps one
    instance per UID). SIGTERM says how far it got (a trial: it said nothing of it)."""
    mark, gate = tmp_path / "holding", tmp_path / "gate"
    os.mkfifo(gate)
    pacs.start(lua=HOLD_THIRD.replace("{mark}", str(mark)).replace("{gate}", str(gate)))
    env = environment(tmp_path, pacs.config_toml(tmp_path / "config.toml"))
    command = [sys.executable, "-m", "cardingest.cli", "dicom", "send", "--archive", str(archive)]
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(3000):  # bounded: the filter writes the mark when it holds photo 3
            if mark.exists() or process.poll() is not None:
                break
            time.sleep(0.05)
        assert mark.exists(), "the PACS never got the third photo"
        process.send_signal(how)
        if how == signal.SIGKILL:
            assert process.wait(timeout=60) == -signal.SIGKILL
        else:
            # Before the gate opens: the association is aborted, not released (a release
            # waited for the PACS's answer while it held the third photo).
            _out, said = process.communicate(timeout=60)
            said = " ".join(said.split())
            assert process.returncode == 130, said
            assert "2 photo(s) were sent, confirmed by the PACS and recorded; 5 were not" in said
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)
        if mark.exists():  # the filter opens the gate after the mark: this cannot block
            with open(gate, "w") as release:
                release.write("go\n")
    assert len(sent_rows(archive)) == 2
    pacs.stop()
    pacs.start(lua="")
    code, rerun = send(archive, env)
    assert code == 3, rerun
    assert rerun["summary"]["sent"] == 5 and rerun["summary"]["already_sent"] == 2
    assert len(pacs.instances()) == 7 and len(sent_rows(archive)) == 7
    assert len({row[1] for row in sent_rows(archive)}) == 7
    assert cli("audit", "--archive", archive, env=env).returncode == 0


def test_a_move_back_names_only_the_pacs_that_hold_the_photo_under_the_patient_it_leaves(
    archive: Path, pacs: Orthanc, tmp_path: Path
) -> None:
    """A trial: a photo sent under PATIENT to two PACS, moved to OTHER and sent to the first
    only, then moved back: the warning named both PACS, and at the second, which holds it
    under PATIENT, the right one now, IT would have removed the right copy."""
    pacs.start()
    first = pacs.config_toml(tmp_path / "first.toml")
    second = tmp_path / "second.toml"  # the same Orthanc at another loopback address
    second.write_text(first.read_text().replace("127.0.0.1", "127.0.0.2"), encoding="utf-8")
    env_first, env_second = environment(tmp_path, first), environment(tmp_path, second)
    code, document = send(archive, env_first, PATIENT)
    assert code in (0, 3), document
    photo = next(i["path"] for i in document["items"] if i["action"] == "sent")
    assert send(archive, env_second, PATIENT)[0] in (0, 3)
    moved = cli("move", photo, "--to", OTHER, "--archive", archive, "--json", env=env_first)
    [away] = json.loads(moved.stdout)["moved"]
    assert sorted(json.loads(moved.stdout)["at_pacs"][0]["destinations"]) == [
        again_at(pacs),
        again_at(pacs).replace("127.0.0.1", "127.0.0.2"),
    ]  # both hold it under PATIENT, whom it leaves
    assert send(archive, env_first, OTHER)[0] in (0, 3)
    back = cli("move", away["new"], "--to", PATIENT, "--archive", archive, "--json", env=env_first)
    assert back.returncode == 0, back.stderr
    [at_pacs] = json.loads(back.stdout)["at_pacs"]
    assert at_pacs["destinations"] == [again_at(pacs)]  # only the first holds it under OTHER
    # Moved on again: both hold it under a patient it is not (a second reader's case).
    [home] = json.loads(back.stdout)["moved"]
    on = cli("move", home["new"], "--to", "ALU7207", "--archive", archive, "--json", env=env_first)
    assert on.returncode == 0, on.stderr
    assert len(json.loads(on.stdout)["at_pacs"][0]["destinations"]) == 2


def test_a_site_changed_after_a_send_says_the_pacs_keeps_the_old_one(
    archive: Path, pacs: Orthanc, tmp_path: Path
) -> None:
    """`tag --site` on photos a PACS holds: a send again goes under the same instance UID,
    which the PACS keeps as it first stored it, so a corrected side would never reach it.
    The tag says so; a diagnosis (not sent) says nothing."""
    pacs.start()
    env = environment(tmp_path, pacs.config_toml(tmp_path / "config.toml"))
    code, document = send(archive, env, PATIENT)
    assert code in (0, 3), document
    sent = [i["path"] for i in document["items"] if i["action"] == "sent"]
    done = cli("tag", sent[0], "--site", "right hand", "--archive", archive, env=env)
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert f"1 of these photos were sent to {again_at(pacs)} before" in said, said
    assert "Have the site corrected at the PACS" in said
    quiet = cli("tag", sent[0], "--diagnosis", "naevus", "--archive", archive, env=env)
    assert quiet.returncode == 0 and "PACS" not in quiet.stderr, quiet.stderr
    # A trial's `send --force` to push the correction said "sent", no word that it did not.
    code, forced = send(archive, env, PATIENT, "--force")
    assert code in (0, 3), forced
    [again] = [i for i in forced["items"] if i["path"] == sent[0]]
    assert "a site changed since does not reach it" in again["note"], again


def test_a_send_finishes_a_stopped_move_first(archive: Path, pacs: Orthanc, tmp_path: Path) -> None:
    """A trial: with a stopped move's journal waiting (its PostgreSQL server lost part way),
    `dicom send` sent the photos under the patient they were being moved from."""
    pacs.start()
    env = environment(tmp_path, pacs.config_toml(tmp_path / "config.toml"))
    moving = next(p for p in search(archive, env) if p.startswith(OTHER) and p.endswith(".jpg"))
    stopped_move(archive, moving, PATIENT, env, tmp_path)
    result = cli("dicom", "send", OTHER, "--archive", archive, "--json", env=env)
    assert "Finished move" in result.stderr, result.stderr
    sent = json.loads(result.stdout)["items"]
    assert sent and moving not in {item["path"] for item in sent}
    assert all(stored["PatientID"] == OTHER for stored in pacs.instances().values())


def test_a_stow_url_that_names_no_service_says_to_check_it(archive: Path, tmp_path: Path) -> None:
    """A trial: HTTP 404 from a DICOMweb server (a wrong path in stow_url) was answered with
    "run `cardingest dicom send` again when the PACS answers"; it does answer."""
    require_binaries("Orthanc")
    server = Orthanc(tmp_path / "orthanc", dicomweb=True)
    try:
        server.start()
        config = tmp_path / "config.toml"
        config.write_text(f'[pacs]\nstow_url = "{server.url}/no-such/studies"\n')
        result = cli(
            "dicom", "send", PATIENT, "--archive", archive, env=environment(tmp_path, config)
        )
        said = " ".join(result.stderr.split())
        assert result.returncode == 1 and "answered HTTP 404 to STOW-RS" in said, said
        assert "check stow_url" in said and "once stow_url names the PACS's STOW-RS" in said
        assert "when the PACS answers" not in said
    finally:
        server.stop()
