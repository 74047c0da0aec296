"""`cardingest watch`: each inserted card ingested once, again only after it went away.

The real-card tests start the installed console script and mount FAT32 card images while it
runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cardimage import CardFactory, MountedCard, build_fat32_image, require, require_fat_tools
from clinic_helpers import camera_jpeg, cardingest_exe, demo_card, invoke
from slate_photos import slate_photo
from terminal import operator_signals, paused_at

from cardingest.card.detect import find_cards
from cardingest.card.watch import Watcher, watch
from cardingest.cli.config import load_settings
from cardingest.cli.interactive import stop_between_files
from cardingest.errors import CardGoneError, SourceError
from cardingest.ingest import execute
from cardingest.models import Card
from cardingest.prepare import load_idmap, prepare


@pytest.fixture(autouse=True)
def _test_ids(test_ids: Path) -> Path:
    return test_ids


def card(mount: str) -> Card:
    return Card(mount=mount, fstype="vfat", device="/dev/sdz1", label=mount.rpartition("/")[2])


def scripted(*polls: list[Card]) -> Callable[[], list[Card]]:
    """``find`` returning each poll in turn, then Ctrl-C."""
    queue: Iterator[list[Card]] = iter(polls)

    def find() -> list[Card]:
        try:
            return next(queue)
        except StopIteration:
            raise KeyboardInterrupt from None

    return find


def test_a_card_is_handled_once_per_insertion_and_others_meanwhile() -> None:
    a, b = card("/media/A"), card("/media/B")
    handled: list[str] = []
    events: list[tuple[str, str]] = []
    watcher = Watcher(
        find=scripted([], [a], [a], [a, b], [b], [], [a]),
        sleep=lambda _: None,
        notify=lambda event, c: events.append((event, c.mount)),
    )

    def handle(c: Card) -> int:
        handled.append(c.mount)
        return 0

    with pytest.raises(KeyboardInterrupt):
        watch(handle, watcher)
    assert handled == ["/media/A", "/media/B", "/media/A"]
    assert ("removed", "/media/A") in events and ("removed", "/media/B") in events


def test_a_card_whose_ingest_failed_is_not_said_to_be_done_with() -> None:
    """A trial: a card whose ingest stopped with an error (the archive locked by another
    ingest, a pulled card) was followed by "Done with EOS_DIGITAL: remove the card", which
    tells a nurse the card may be reused. Held photos are no failure: that card is done."""
    a, b, c = card("/media/A"), card("/media/B"), card("/media/C")
    events: list[tuple[str, str]] = []
    watcher = Watcher(
        find=scripted([a], [a, b], [a, b, c]),
        sleep=lambda _: None,
        notify=lambda event, found: events.append((event, found.mount)),
    )
    codes = {"/media/A": 1, "/media/B": 3, "/media/C": 2}
    with pytest.raises(KeyboardInterrupt):
        watch(lambda found: codes[found.mount], watcher)
    assert [e for e in events if e[0] != "card"] == [
        ("failed", "/media/A"), ("remove", "/media/B"), ("failed", "/media/C"),
    ]  # fmt: skip


def test_once_returns_the_first_cards_exit_code() -> None:
    watcher = Watcher(find=scripted([], [], [card("/media/A")]), sleep=lambda _: None)
    assert watch(lambda _: 3, watcher, once=True) == 3


def test_stop_between_files_lets_the_current_file_finish(tmp_path: Path) -> None:
    source, _ = demo_card(tmp_path)
    settings = load_settings(archive=tmp_path / "archive")
    idmap = load_idmap(None, "JBX3656", settings)
    plan = prepare(source, None, settings, idmap).plan
    with stop_between_files() as stop:

        def after_first(_outcome: object) -> None:
            os.kill(os.getpid(), signal.SIGINT)

        result = execute(
            plan, settings, card=None, map_source="--id", on_file=after_first, stop=stop, workers=1
        )
    assert stop.is_set()
    assert result.interrupted
    assert result.count("copy") == 1
    stopped = [o for o in result.outcomes if o.action == "failed"]
    assert len(stopped) == 5 and {o.error for o in stopped} == {"stopped before it was copied"}
    assert len(list((tmp_path / "archive" / "JBX3656").iterdir())) == 1


def test_a_second_ctrl_c_stops_at_once() -> None:
    with pytest.raises(KeyboardInterrupt), stop_between_files() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.is_set()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_while_waiting_stops_watch_as_ctrl_c_does(
    sig: signal.Signals, tmp_path: Path
) -> None:
    """systemd stops a ``watch`` service with SIGTERM: the clean stop of Ctrl-C (exit 0, "Stopped
    watching"), not a kill. The signal lands while ``watch`` is held at its first look for a
    card (`tests/faults/inject.py`, ``watch-wait``)."""
    args = ("watch", "--slates", "--archive", tmp_path / "a", "--interval", "0.2")
    process = paused_at("watch-wait", *args, preexec_fn=operator_signals)
    try:
        process.send_signal(sig)
        out, err = process.communicate(timeout=300)  # a guard against a hang, not a wait
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Stopped watching for cards." in out and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Say how watch learns whose photos each card holds: --interactive"),
        (
            ["--interactive"],
            "needs a terminal; pass --slates, or --map FILE or --id ID with --once",
        ),
        (["--interactive", "--id", "JBX3656"], "one of --map FILE, --id ID or --interactive"),
        (["--id", "ZAC3561"], "fails its check"),
        (["--map", "nope.csv"], "nope.csv"),
        (["--id", "JBX3656", "--interval", "0"], "--interval"),
        (["--id", "JBX3656", "--once", "--interval", "nan"], "nan is not a finite number"),
        (["--id", "JBX3656", "--once", "--interval", "inf"], "--interval"),
        (["--id", "JBX3656", "--once", "--interval", "1e300"], "--interval"),
        (["--id", "JBX3656"], "--id names the patients of one card"),
        (["--map", "map.csv"], "--map names the patients of one card"),
        (["--slates", "--archive", "map.csv/a"], "map.csv is not a folder, so the archive"),
        (["--map", "offset.csv", "--once"], "watch takes no --clock-offset: ingest the card"),
        # A trial: a map's own fault came with "watch takes no --clock-offset" in place of
        # its line's reason.
        (["--map", "bad.csv", "--once"], "line 1: unknown column 'file' (did you mean 'files'?)"),
    ],
)
def test_watch_bad_input_is_exit_2_before_waiting(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also ``--id`` or ``--map`` without ``--once``: the next patient's card would be filed
    under them; an archive that cannot be made (a trial: said only once a card was in,
    after its slates were read); and a map whose from/to times need a clock offset, which
    watch cannot give (a review: refused once a card was in, with "give --clock-offset")."""
    (tmp_path / "map.csv").write_text(
        "files,from,to,id\n,2024-01-01 00:00,2024-01-02 00:00,JBX3656\n"
    )
    (tmp_path / "offset.csv").write_text(  # from map-template --clock-offset: watch has none
        "files,from,to,id\n# times are the camera's with --clock-offset +01:00:00 added: …\n"
        "# 2024-01-01 10:00:00 to 10:05:00: 2 photo(s)\n"
        ",2024-01-01 10:00,2024-01-01 10:05,JBX3656\n"
    )
    (tmp_path / "bad.csv").write_text("file,id\nIMG_0001,JBX3656\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke("watch", "--archive", tmp_path / "a", *args)
    assert code == 2
    assert message in err
    assert "clock-offset" not in err or "offset.csv" in args
    assert not (tmp_path / "a").exists()


@pytest.mark.card
def test_watch_once_reports_the_ingest_and_a_map_that_does_not_fit(
    fat_card: CardFactory, tmp_path: Path
) -> None:
    source, map_file = demo_card(tmp_path)
    fat_card({str(p.relative_to(source)): p for p in source.rglob("*") if p.is_file()})
    archive = tmp_path / "a"
    code, out, err = invoke("watch", "--map", map_file, "--archive", archive, "--once")
    assert code == 3, err
    assert "Watching for camera cards" in out
    assert "5 copied and verified" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("files,id\nIMG_0100,JBX3656\n", encoding="utf-8")
    code, out, err = invoke("watch", "--map", bad, "--archive", archive, "--once")
    assert code == 2
    assert "matches no file on the card" in err


def card_files(tmp_path: Path, count: int, day: int) -> dict[str, Path]:
    files = {}
    for n in range(1, count + 1):
        path = tmp_path / "src" / f"{day}-{n}.jpg"
        camera_jpeg(path, datetime(2024, 3, day, 10, n, 0), size=(320, 240))
        files[f"DCIM/100CANON/IMG_{n:04d}.JPG"] = path
    return files


def slated_card_files(
    tmp_path: Path, samples_dir: Path, patient: str, count: int, day: int
) -> dict[str, Path]:
    """``card_files`` after a slate of ``patient`` (IMG_0000, a minute before the photos)."""
    slate = tmp_path / "src" / f"{day}-slate.jpg"
    slate.parent.mkdir(parents=True, exist_ok=True)
    background = samples_dir / "real" / "22-canon_tags.jpg"
    slate.write_bytes(slate_photo(background, patient, "qr", datetime(2024, 3, day, 10, 0, 0)))
    return {"DCIM/100CANON/IMG_0000.JPG": slate, **card_files(tmp_path, count, day)}


def start_watch(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], Path]:
    require(not find_cards(), "a camera card is already mounted on this machine")
    log = tmp_path / "watch.log"
    process = subprocess.Popen(
        [cardingest_exe(), "watch", *args],
        stdin=subprocess.DEVNULL,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT dumps every thread's stack
        preexec_fn=operator_signals,
    )
    wait_for(log, "Watching for camera cards", process)
    return process, log


def wait_for(log: Path, text: str, process: subprocess.Popen[str], count: int = 1) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if log.read_text().count(text) >= count:
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    process.wait()
    pytest.fail(f"never saw {text!r}:\n{log.read_text()}")


def exit_code(process: subprocess.Popen[str], log: Path) -> int:
    """The watcher's exit code; a guard of minutes against a hang, not a timing assumption."""
    try:
        return process.wait(timeout=300)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)  # faulthandler writes the Python stacks to the log
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        pytest.fail(f"cardingest watch did not exit; its output:\n{log.read_text()}")


@pytest.mark.card
def test_watch_once_ingests_a_card_mounted_while_it_waits(
    fat_card: CardFactory, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    process, log = start_watch(
        tmp_path, "--id", "JBX3656", "--archive", str(archive), "--once", "--interval", "0.2"
    )
    try:
        time.sleep(0.5)
        assert process.poll() is None, log.read_text()
        mount = fat_card(card_files(tmp_path, 3, 1), label="EOS_DIGITAL")
        assert exit_code(process, log) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    copies = sorted((archive / "JBX3656").glob("*.jpg"))
    assert [p.name for p in copies] == [f"JBX3656-20240301-10{n:02d}00.jpg" for n in (1, 2, 3)]
    for n, copy in enumerate(copies, start=1):
        assert copy.read_bytes() == (mount / f"DCIM/100CANON/IMG_{n:04d}.JPG").read_bytes()
    text = log.read_text()
    assert "Card EOS_DIGITAL" in text and "3 copied and verified" in text


def test_a_look_that_finds_two_cards_is_refused_when_one_cards_patients_are_named() -> None:
    """``--id``/``--map`` with ``--once`` name one card's patients: two cards in at once are
    refused, as `ingest` without a SOURCE refuses them, whether both were in when it began
    or came together; one card alone is taken. Interactive and slate watching take any card."""
    a, b = card("/media/A"), card("/media/B")
    for polls in ([[a, b]], [[], [b, a]]):
        watcher = Watcher(find=scripted(*polls), sleep=lambda _: None, alone="--id")
        with pytest.raises(SourceError, match="2 camera cards are in, and --id names") as error:
            watch(lambda _: 0, watcher, once=True)
        assert error.value.details == [
            "/media/A (A, vfat, 0 photos)",
            "/media/B (B, vfat, 0 photos)",
        ]
    watcher = Watcher(find=scripted([], [b]), sleep=lambda _: None, alone="--map")
    assert watch(lambda c: 3 if c is b else 0, watcher, once=True) == 3
    watcher = Watcher(find=scripted([a, b]), sleep=lambda _: None)
    assert watch(lambda c: 3 if c is a else 0, watcher, once=True) == 3


@pytest.mark.card
def test_watch_once_with_an_id_refuses_two_cards_and_files_neither(
    fat_card: CardFactory, tmp_path: Path
) -> None:
    """Trial: with yesterday's card still mounted and today's inserted, ``watch --id X
    --once`` filed whichever mount sorted first under X."""
    archive = tmp_path / "archive"
    fat_card(card_files(tmp_path, 2, 1), label="YESTERDAY")
    fat_card(card_files(tmp_path, 2, 2), label="TODAY")
    require(len(find_cards()) == 2, "the two card images are not both seen as cards")
    run = subprocess.run(
        [cardingest_exe(), "watch", "--id", "JBX3656", "--once", "--archive", str(archive)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "2 camera cards are in, and --id names the patients of one" in " ".join(
        run.stderr.split()
    )
    assert not (archive / "JBX3656").exists()


@pytest.mark.card
def watch_two_cards(
    fat_card: CardFactory,
    tmp_path: Path,
    samples_dir: Path,
    archive: Path,
    *,
    between: Callable[[], object] = lambda: None,
    second: str = "Done with CARD2",
) -> str:
    """The log of `watch --slates` given JBX3656's card, then (``between`` done once that is
    out) ACA31FM's, until ``second`` shows, then Ctrl-C (exit 0)."""
    process, log = start_watch(tmp_path, "--slates", "--archive", str(archive), "--interval", "0.2")
    try:
        first = fat_card(slated_card_files(tmp_path, samples_dir, "JBX3656", 2, 1), label="CARD1")
        wait_for(log, "Done with CARD1", process)
        fat_card.handle(first).unmount()
        wait_for(log, "Card CARD1 removed", process)
        between()
        fat_card(slated_card_files(tmp_path, samples_dir, "ACA31FM", 2, 2), label="CARD2")
        wait_for(log, second, process)
        process.send_signal(signal.SIGINT)
        assert exit_code(process, log) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return log.read_text()


def test_watch_waits_for_removal_then_takes_the_next_card_until_ctrl_c(
    fat_card: CardFactory, tmp_path: Path, samples_dir: Path
) -> None:
    archive = tmp_path / "archive"
    text = watch_two_cards(fat_card, tmp_path, samples_dir, archive)
    assert "Stopped watching for cards." in text
    assert text.count("Card CARD1 at") == 1 and text.count("Card CARD1 removed") == 1, text
    assert text.count("copied and verified") == 2, text
    # Each card under its own slate's patient: the slate and two photos.
    assert len(list((archive / "JBX3656").glob("*.jpg"))) == 3, text
    assert len(list((archive / "ACA31FM").glob("*.jpg"))) == 3, text


def test_an_archive_gone_since_an_earlier_card_is_not_started_again_below_it(
    fat_card: CardFactory, tmp_path: Path, samples_dir: Path
) -> None:
    """A trial: the archive's NAS was unmounted between two cards, and `watch` filed the
    second card into a new archive in the empty mount point on the system disk ("a new
    archive, none there before", 7 copied), hidden once the NAS came back; a `wipe` then
    cleared the card. Now the card is refused, said not done with, and nothing is made."""
    archive = tmp_path / "nas" / "archive"
    archive.parent.mkdir()

    def unmounted() -> None:  # the NAS's mount point left empty
        archive.rename(tmp_path / "away")

    text = watch_two_cards(
        fat_card, tmp_path, samples_dir, archive, between=unmounted, second="Not done with CARD2"
    )
    text = " ".join(text.split())
    assert f"The archive {archive} was there for an earlier card, and is not now" in text, text
    assert not archive.exists()
    assert text.count("copied and verified") == 1, text


def test_a_card_whose_volume_goes_unread_as_it_is_unmounted_is_not_taken_again() -> None:
    """fusefat stops naming its image a moment before the mount leaves the mount table (a CI
    run saw it): one look finds the card still there with no serial. That is no new card;
    before, the watcher took the card again and ingested the empty folder left behind."""
    there = Card(mount="/media/A", fstype="vfat", device="/dev/sdz1", label="A", serial="1A2B")
    unmounting = Card(mount="/media/A", fstype="vfat", device="/dev/sdz1", label="A")
    handled: list[str] = []
    events: list[str] = []
    watcher = Watcher(
        find=scripted([there], [there], [unmounting], [], [there]),
        sleep=lambda _: None,
        notify=lambda event, c: events.append(event),
    )

    def handle(c: Card) -> int:
        handled.append(c.mount)
        return 0

    with pytest.raises(KeyboardInterrupt):
        watch(handle, watcher)
    assert handled == ["/media/A", "/media/A"]  # the second time after it was put back
    assert events == ["card", "remove", "removed", "card", "remove"]


def test_a_card_gone_before_its_ingest_is_waited_for_again() -> None:
    a = card("/media/A")
    handled: list[str] = []
    events: list[str] = []
    watcher = Watcher(
        find=scripted([a], [a], [], [a]),
        sleep=lambda _: None,
        notify=lambda event, c: events.append(event),
    )

    def handle(c: Card) -> int:
        handled.append(c.mount)
        if len(handled) == 1:
            raise CardGoneError("gone")
        return 3

    assert watch(handle, watcher, once=True) == 3
    # Not again while it is listed still (a mount the ingest takes for no card would be
    # tried in a loop), but once it was found gone and came back.
    assert handled == ["/media/A", "/media/A"]
    assert events == ["card", "gone", "card"]


@pytest.mark.card
@pytest.mark.parametrize(
    ("point", "how"),
    [("watch-found-wait", "unmounted"), ("scan-wait", "unmounted"), ("scan-wait", "pulled")],
    ids=["after its look", "after its archive was opened", "pulled before its scan"],
)
def test_watch_says_so_when_a_card_goes_before_it_is_read(
    point: str, how: str, fat_card: CardFactory, tmp_path: Path
) -> None:
    """Before, the ingest read the empty mount folder: "No photos found", and "Done with"
    the card, which with ``--once`` ended the watch (a trial hit it 10 times in 100, also
    after the archive was opened); pulled with its mount left dead, the scan could not read
    it: exit 1. Now nothing is read, and the watch goes on to the next card."""
    archive = tmp_path / "archive"
    gone = fat_card(card_files(tmp_path, 2, 1), label="CARD1")
    args = ("watch", "--id", "JBX3656", "--archive", archive, "--once", "--interval", "0.2")
    process = paused_at(point, *args, preexec_fn=operator_signals)
    said: list[str] = []
    try:
        assert process.stdin is not None and process.stdout is not None
        card = fat_card.handle(gone)
        card.unmount() if how == "unmounted" else card.pull()
        process.stdin.write("go\n")
        process.stdin.flush()
        for line in process.stdout:
            said.append(line)
            if "removed before its photos were copied" in line:
                break
        fat_card(card_files(tmp_path, 3, 2), label="CARD2")
        out, err = process.communicate(timeout=300)  # a guard against a hang, not a wait
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = "".join(said) + out
    assert process.returncode == 0, text + err
    said = "Card CARD1 was removed before its photos were copied: nothing was copied from it"
    assert said in text
    assert "No photos found" not in text and "Done with CARD1" not in text
    assert "Card CARD2 at" in text and "3 copied and verified" in text
    assert sorted(p.name for p in (archive / "JBX3656").glob("*.jpg")) == [
        f"JBX3656-20240302-10{n:02d}00.jpg" for n in (1, 2, 3)
    ]


@pytest.mark.card
def test_watch_stopped_mid_card_says_to_start_it_again(
    fat_card: CardFactory, tmp_path: Path
) -> None:
    """SIGTERM while a card's photos are copied: watch ends (exit 130) once the photo in
    hand is done. It said "insert it again to finish", which a watch that has ended does
    not see (a trial); it says to start watch again, or to ingest the card."""
    archive = tmp_path / "archive"
    # More photos than the copy has in hand at once (`transfer_many` queues 16), so some
    # are left when it stops.
    mount = fat_card(card_files(tmp_path, 40, 1), label="CARD1")
    args = ("watch", "--id", "JBX3656", "--archive", archive, "--once", "--interval", "0.2")
    process = paused_at("ingest-file-wait", *args, preexec_fn=operator_signals)
    try:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate("go\n", timeout=300)  # a guard, not a wait
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    said = " ".join(out.split())
    assert process.returncode == 130, out + err
    assert "Start watch again with the card in (or run cardingest ingest on it)" in said, said
    assert "insert it again" not in said and "Traceback" not in err
    code, out, err = invoke("ingest", mount, "--id", "JBX3656", "--archive", archive)
    assert code == 0, out + err
    assert len(list((archive / "JBX3656").glob("*.jpg"))) == 40


def gone_at(point: str, how: Callable[[], object], *args: object) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of the CLI held at ``point`` while ``how`` takes its
    card away (unmounted, or pulled)."""
    process = paused_at(point, *args, preexec_fn=operator_signals)
    try:
        how()
        out, err = process.communicate("go\n", timeout=300)  # a guard, not a wait
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out, err


@pytest.mark.card
def test_ingest_of_a_card_unmounted_before_its_scan_says_so(
    fat_card: CardFactory, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    mount = fat_card(card_files(tmp_path, 2, 1), label="CARD1")
    args = ("ingest", mount, "--id", "JBX3656", "--archive", archive)
    code, out, err = gone_at("scan-wait", fat_card.handle(mount).unmount, *args)
    assert code == 1, out + err
    assert f"The card at {mount} was removed before it was read: nothing was copied" in err
    assert "No photos found" not in out + err
    assert not archive.exists()  # a fresh archive opened for it is taken away again


@pytest.mark.card
def test_a_card_pulled_while_its_slates_are_read_is_said_gone_not_held_photo_by_photo(
    fat_card: CardFactory, tmp_path: Path, samples_dir: Path
) -> None:
    """A trial: a card pulled while `--slates` read its photos held each photo read after
    as "the photo could not be decoded" (115 lines), then failed the rest in the copy."""
    archive = tmp_path / "archive"
    mount = fat_card(slated_card_files(tmp_path, samples_dir, "JBX3656", 6, 1), label="CARD1")
    args = ("ingest", mount, "--slates", "--archive", archive)
    code, out, err = gone_at("slates-wait", fat_card.handle(mount).pull, *args)
    said = " ".join((out + err).split())
    assert code == 1, said
    assert f"The card at {mount} was removed while its photos were read: nothing was" in said
    assert "could not be decoded" not in said and "held on the card" not in said, said
    assert not archive.exists()


def test_ingest_of_a_card_watch_saw_refuses_a_folder_that_is_no_card(tmp_path: Path) -> None:
    from cardingest.cli.app import locked_ingest

    settings = load_settings(archive=tmp_path / "archive")
    for source in (tmp_path, tmp_path / "gone"):
        with pytest.raises(CardGoneError, match="was removed before it was read"):
            locked_ingest(
                str(source), settings, map_file=None, patient_id="JBX3656",
                offset=timedelta(0), as_json=False, card_expected=True,
            )  # fmt: skip
    assert not (tmp_path / "archive").exists()


def test_a_card_swapped_in_at_the_same_mount_point_is_new() -> None:
    """Every Canon card is EOS_DIGITAL, and a desktop mounts each at /media/EOS_DIGITAL: a
    card taken out and another put in between two looks is still a new card (its serial,
    or the mount's device number, differs)."""
    first = card("/media/EOS_DIGITAL")
    other = Card(
        mount=first.mount, fstype="vfat", device="/dev/sdz1", label="EOS_DIGITAL",
        serial="1A2B-3C4D",
    )  # fmt: skip
    handled: list[str | None] = []
    watcher = Watcher(find=scripted([first], [first], [other], [other]), sleep=lambda _: None)

    def handle(c: Card) -> int:
        handled.append(c.serial)
        return 0

    with pytest.raises(KeyboardInterrupt):
        watch(handle, watcher)
    assert handled == [None, "1A2B-3C4D"]


def test_a_fusefat_card_swapped_for_one_of_the_same_size_and_label_is_new(
    tmp_path: Path,
) -> None:
    """Two EOS_DIGITAL images of one size at one mount point, swapped between two looks:
    FUSE hands the second mount the same device number, and fusefat names no serial; the
    image behind the mount tells them apart."""
    require_fat_tools()
    mount = tmp_path / "media" / "EOS_DIGITAL"
    mount.mkdir(parents=True)
    images = [
        build_fat32_image(
            tmp_path / name, {f"DCIM/100CANON/IMG_000{n}.JPG": b"jpeg"}, label="EOS_DIGITAL"
        )
        for n, name in enumerate(("a.img", "b.img"), start=1)
    ]
    watcher = Watcher(sleep=lambda _: None)
    with MountedCard(images[0], mount):
        first = watcher.poll()
        assert first is not None and first.label == "EOS_DIGITAL"
        watcher.done_with(first)
        assert watcher.poll() is None  # the same card, left in
    with MountedCard(images[1], mount):
        second = watcher.poll()
        assert second is not None and second.mount == first.mount


def test_a_card_unmounted_while_a_look_reads_it_is_gone_not_another_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A look reads the mount table, the card's folder, its size and its volume one after
    another; an unmount between two of them made the rest come from the folder underneath
    (its file system's size): a "new" card, taken again, which by then was gone (a trial saw
    it once in 130 unmounts). Such a look now finds no card there."""
    from cardingest.card import detect

    require_fat_tools()
    mount = tmp_path / "media" / "CARD1"
    image = build_fat32_image(tmp_path / "card.img", {"DCIM/100CANON/IMG_0001.JPG": b"jpeg"})
    events: list[str] = []
    watcher = Watcher(sleep=lambda _: None, notify=lambda event, c: events.append(event))
    card = MountedCard(image, mount)
    with card:
        first = watcher.poll()
        assert first is not None
        watcher.done_with(first)
        real_usage = detect._usage

        def unmounted_first(*args: Any) -> Any:
            card.unmount()
            return real_usage(*args)

        monkeypatch.setattr(detect, "_usage", unmounted_first)
        assert watcher.poll() is None
    assert events == ["remove", "removed"]


def test_a_card_with_no_serial_swapped_during_its_ingest_is_taken_as_new(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mutation round's find: a card whose identity is read live (no serial in its
    listing: a fusefat mount, whose image's volume is read each time) is what it was when
    the look found it, not when its ingest ended. Swapped during its ingest (same mount,
    device and size; another volume), the card now in is a new one, offered at the next
    look; taken at the end, the new card's identity would pass for the one handled."""
    from cardingest.card import watch as watch_module
    from cardingest.card.volume import VolumeId

    volumes = [VolumeId("fat32", "1A2B-3C4D", "EOS_DIGITAL")]
    monkeypatch.setattr(watch_module, "fusefat_source", lambda _mount: "/images/card.img")
    monkeypatch.setattr(watch_module, "read_volume_id", lambda _image: volumes[-1])
    listed = Card(mount="/media/EOS_DIGITAL", fstype="fuse.fusefat", device="fusefat",
                  label="EOS_DIGITAL")  # fmt: skip
    handled: list[str | None] = []
    events: list[str] = []
    watcher = Watcher(
        find=scripted([listed], [listed], [listed]),
        sleep=lambda _: None,
        notify=lambda event, _c: events.append(event),
    )

    def handle(found: Card) -> int:
        handled.append(volumes[-1].serial)
        if len(handled) == 1:  # the nurse swaps the card while the first one is read
            volumes.append(VolumeId("fat32", "5E6F-7A8B", "EOS_DIGITAL"))
        return 0

    with pytest.raises(KeyboardInterrupt):
        watch(handle, watcher)
    assert handled == ["1A2B-3C4D", "5E6F-7A8B"], events
    assert events == ["card", "remove", "removed", "card", "remove"]
