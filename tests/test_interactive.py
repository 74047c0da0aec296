"""Interactive ID assignment: groups by time gap, IDs checked as typed, plan, go-ahead.

The end-to-end tests run the installed console script under a pseudo-terminal (pexpect).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pexpect
import pytest
from cardimage import CardFactory, MountedCard, build_fat32_image, require
from clinic_helpers import cardingest_exe, invoke
from exif_bytes import exif_jpeg
from factories import media
from terminal import on_terminal

from cardingest.demo import make_demo_card
from cardingest.errors import InvalidIdError, UsageError
from cardingest.ids import validate_id
from cardingest.plan.assign import ask_ids, build_idmap, file_spec, make_groups
from cardingest.plan.planner import make_plan

GAP = timedelta(minutes=5)


@pytest.fixture(autouse=True)
def _test_ids(test_ids: Path) -> Path:
    return test_ids


def files() -> list:
    return [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00"),
        media("DCIM/100CANON/IMG_0001.CR2", "2026-11-24 09:00:00"),
        media("DCIM/100CANON/IMG_0001.XMP", "2026-11-24 09:00:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:03:00"),
        media("DCIM/100CANON/IMG_0003.JPG", "2026-11-24 09:30:00"),
        media("DCIM/101CANON/IMG_0004.JPG", "2026-11-24 10:00:00"),
    ]


def test_a_photo_placed_in_a_group_by_its_file_time_is_said_so() -> None:
    """A trial: a photo with no time of taking went into the group its file time fell in,
    with a warning only; the question now says which photos of the group that is."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:01:00", source="mtime"),
        media("DCIM/100CANON/IMG_0003.JPG", "2026-11-24 09:02:00"),
        media("DCIM/100CANON/IMG_0009.JPG", "2026-11-24 10:00:00", source="mtime"),
    ]
    first, alone = make_groups(files, GAP)
    assert first.describe().endswith(
        "; 1 of them (IMG_0002.JPG) carries no time of taking, only of saving: placed in "
        "this group by that time, so check on the sheet that it belongs here"
    ), first.describe()
    # Alone in its group, its time shown is its saving's (a trial took it for a shot's).
    assert alone.describe().endswith(
        "; it carries no time of taking: the time shown is when it was saved"
    ), alone.describe()


def test_groups_are_described_and_answers_become_an_id_map() -> None:
    groups = make_groups(files(), GAP)
    assert [len(g.files) for g in groups] == [3, 1, 1]
    assert groups[0].describe() == (
        "Group 1: 3 photo(s), 2026-11-24 09:00:00 to 09:03:00, IMG_0001.JPG … IMG_0002.JPG"
    )
    idmap, unnamed = build_idmap(groups, ["JBX3656", None, "MCJ1984"])
    assert unnamed == []
    assert idmap.source == "interactive"
    assert [(r.line, r.patient_id, r.files, r.blank) for r in idmap.rows] == [
        (1, "JBX3656", "100CANON/IMG_0001 100CANON/IMG_0002", False),
        (2, "", "100CANON/IMG_0003", True),  # left blank: held as "left blank"
        (3, "MCJ1984", "101CANON/IMG_0004", False),
    ]
    plan = make_plan(files(), idmap)
    actions = {i.source.rpartition("/")[2]: (i.action, i.patient_id) for i in plan.items}
    assert actions == {
        "IMG_0001.JPG": ("copy", "JBX3656"),
        "IMG_0001.CR2": ("copy", "JBX3656"),
        "IMG_0001.XMP": ("copy", "JBX3656"),
        "IMG_0002.JPG": ("copy", "JBX3656"),
        "IMG_0003.JPG": ("hold", None),
        "IMG_0004.JPG": ("copy", "MCJ1984"),
    }


def test_no_id_at_all_is_a_usage_error() -> None:
    groups = make_groups(files(), GAP)
    with pytest.raises(UsageError):
        build_idmap(groups, [None, None, None])


def test_a_name_a_map_cannot_hold_stays_on_the_card() -> None:
    odd = media("DCIM/100CANON/IMG 0001 (1).JPG", "2026-11-24 09:00:00")
    assert file_spec(odd) is None
    assert file_spec(files()[0]) == "100CANON/IMG_0001"
    groups = make_groups([odd, files()[0]], GAP)
    idmap, unnamed = build_idmap(groups, ["JBX3656"])
    assert unnamed == [odd.path]
    assert idmap.rows[0].files == "100CANON/IMG_0001"


def test_invalid_ids_are_explained_and_asked_again() -> None:
    groups = make_groups(files(), GAP)
    replies = iter(["ZAC3561", " jbx3656 ", "", "ZZZ0044", "MCJ1984"])
    asked: list[str] = []
    told: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return next(replies)

    answers = ask_ids(groups, ask, told.append, lambda raw: validate_id(raw, "nhi"))
    assert answers == ["JBX3656", None, "MCJ1984"]
    assert len(asked) == 5
    assert asked[0] == "Patient ID for group 1 (blank: leave on the card): "
    assert [t for t in told if not t.startswith("Group")] == [
        message_for("ZAC3561"),
        message_for("ZZZ0044"),
    ]


def test_a_question_mark_at_the_question_says_what_to_type_and_how_to_split_a_group() -> None:
    """A trial: ``?`` and ``help`` were checked as IDs ("NHI '?' has 1 character"), and
    nothing said how to split a group that holds two patients' photos."""
    from cardingest.plan.assign import GROUP_HELP

    groups = make_groups(files(), GAP)[:1]
    replies = iter(["?", "help", "JBX3656"])
    told: list[str] = []
    answers = ask_ids(
        groups, lambda _prompt: next(replies), told.append, lambda raw: validate_id(raw, "nhi")
    )
    assert answers == ["JBX3656"]
    assert told[1:] == [GROUP_HELP, GROUP_HELP]
    assert "cannot be split here: press Ctrl-C" in GROUP_HELP and "--gap" in GROUP_HELP


def message_for(raw: str) -> str:
    with pytest.raises(InvalidIdError) as caught:
        validate_id(raw, "nhi")
    return caught.value.message


def test_without_a_terminal_it_is_exit_2_naming_map_and_id(tmp_path: Path) -> None:
    card, _ = make_demo_card(tmp_path)
    for command in ("ingest", "preview"):
        code, _, err = invoke(command, card, "--archive", tmp_path / "a")
        assert code == 2
        assert "--map FILE" in err and "--id ID" in err
    assert not (tmp_path / "a").exists()


def spawn(*args: str | Path) -> pexpect.spawn:
    """The console script on a pseudo-terminal; TERM=dumb makes Rich write plain text."""
    require(sys.platform != "win32", "pseudo-terminals need a POSIX system")
    return on_terminal(cardingest_exe(), args)


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus)


def answer_groups(child: pexpect.spawn) -> None:
    """Demo card: group 1 gets an invalid ID first, groups 2-3 blank, group 4 ZAA0067."""
    child.expect(r"6 photo\(s\) in 4 group\(s\)")
    child.expect(r"Group 1: 3 photo\(s\), 2026-11-24 09:15:02 to 09:16:40")
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    child.sendline("ZAC3561")
    child.expect("fails its check")
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    child.sendline("zac5361")
    child.expect_exact(
        "Patient ID for group 2 (blank: leave on the card, .: same as group 1 (ZAC5361)): "
    )
    child.sendline("")
    child.expect_exact(
        "Patient ID for group 3 (blank: leave on the card, .: same as group 2 (blank)): "
    )
    child.sendline("")
    child.expect("Group 4: 1 photo")
    child.expect_exact(
        "Patient ID for group 4 (blank: leave on the card, .: same as group 3 (blank)): "
    )
    child.sendline("ZAA0067")


def test_interactive_ingest_on_a_terminal(tmp_path: Path) -> None:
    card, _ = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    child = spawn("ingest", card, "--archive", archive)
    answer_groups(child)
    child.expect(r"6 file\(s\): 4 to copy .*, 2 held on the card")
    child.expect(r"Copy 4 file\(s\) .* into .*\? \[y/N\]: ")
    child.sendline("y")
    child.expect("4 copied and verified")
    assert finish(child) == 3
    assert sorted(p.name for p in (archive / "ZAC5361").glob("*.jpg")) == [
        "ZAC5361-20261124-091502-2.jpg",
        "ZAC5361-20261124-091502.jpg",
        "ZAC5361-20261124-091640.jpg",
    ]
    assert [p.name for p in (archive / "ZAA0067").glob("*.jpg")] == ["ZAA0067-20261124-100255.jpg"]


def test_saying_no_copies_nothing(tmp_path: Path) -> None:
    card, _ = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    child = spawn("ingest", card, "--archive", archive)
    answer_groups(child)
    child.expect(r"\[y/N\]: ")
    child.sendline("n")
    child.expect("Nothing was copied; the photos are still on the card.")
    assert finish(child) == 3  # as a no to the wipe: done, and photos left on the card
    assert not list(archive.glob("Z*"))


def test_interactive_preview_shows_the_plan(tmp_path: Path) -> None:
    card, _ = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    child = spawn("preview", card, "--archive", archive)
    answer_groups(child)
    child.expect(r"4 to copy")
    assert finish(child) == 3
    assert not archive.exists()


def test_ctrl_d_at_a_prompt_stops_with_nothing_copied(tmp_path: Path) -> None:
    card, _ = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    child = spawn("ingest", card, "--archive", archive)
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    child.sendeof()
    child.expect("Interrupted")
    assert finish(child) == 130
    assert not archive.exists()


def test_when_is_interactive(tmp_path: Path) -> None:
    """--json or an ID map means a script: never asked, even on a terminal."""
    card, map_file = make_demo_card(tmp_path)
    child = spawn("preview", card, "--archive", tmp_path / "a", "--json")
    child.expect("--map FILE")
    assert finish(child) == 2
    child = spawn("preview", card, "--map", map_file, "--archive", tmp_path / "a")
    child.expect("1 held on the card")
    assert finish(child) == 3


def answer_the_rest(child: pexpect.spawn) -> None:
    """Demo card, at group 1's question: ZAC5361, groups 2-3 blank, group 4 ZAA0067."""
    child.sendline("ZAC5361")
    for _group in (2, 3):
        child.expect_exact("Patient ID for group")
        child.sendline("")
    child.expect_exact("Patient ID for group 4")
    child.sendline("ZAA0067")


def test_answers_go_only_to_photos_as_their_groups_were_shown(tmp_path: Path) -> None:
    """A photo changed on the card while the questions waited (another photo now under its
    name), or put there since, gets none of the answers: held, the rest as answered."""
    card, _ = make_demo_card(tmp_path)
    folder = card / "DCIM" / "100DEMO_"
    archive = tmp_path / "archive"
    child = on_terminal(
        cardingest_exe(), ["ingest", card, "--archive", archive], {"COLUMNS": "3000"}
    )
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    (folder / "IMG_0002.JPG").write_bytes((folder / "IMG_0004.JPG").read_bytes())
    (folder / "IMG_0007.JPG").write_bytes((folder / "IMG_0005.JPG").read_bytes() + b"new")
    answer_the_rest(child)
    child.expect("IMG_0002.JPG changed on the card while the IDs were asked")
    child.expect("IMG_0007.JPG was not on the card when the groups were shown")
    child.expect(r"\[y/N\]: ")
    child.sendline("y")
    child.expect("copied and verified")
    assert finish(child) == 3
    code, out, err = invoke("search", "--id", "ZAC5361", "--archive", archive, "--json")
    assert code == 0, err
    sources = sorted(r["source_path"] for r in json.loads(out)["results"])
    assert sources == ["DCIM/100DEMO_/IMG_0001.JPG", "DCIM/100DEMO_/IMG_0003.JPG"]
    assert (folder / "IMG_0002.JPG").exists() and (folder / "IMG_0007.JPG").exists()
    assert [p.name for p in (archive / "ZAA0067").glob("*.jpg")] == ["ZAA0067-20261124-100255.jpg"]


def test_a_photo_of_the_same_size_and_time_put_under_a_name_shown_gets_no_answer(
    tmp_path: Path,
) -> None:
    """A trial: another photo under a shown name, of the same size and capture second (two
    RAW files of one camera are), took the answer given for the photo shown; swapped with a
    photo of another group, each went under the other's patient. Its bytes tell them apart."""
    card, _ = make_demo_card(tmp_path)
    photo = card / "DCIM" / "100DEMO_" / "IMG_0002.JPG"
    archive = tmp_path / "archive"
    child = on_terminal(
        cardingest_exe(), ["ingest", card, "--archive", archive], {"COLUMNS": "3000"}
    )
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    data = bytearray(photo.read_bytes())
    data[-200] ^= 0xFF  # in the image data: the same size and EXIF time
    photo.write_bytes(bytes(data))
    answer_the_rest(child)
    child.expect(
        "IMG_0002.JPG changed on the card while the IDs were asked \\(its bytes are not the "
        "photo's shown, though its size and capture time are\\)"
    )
    child.expect(r"\[y/N\]: ")
    child.sendline("y")
    child.expect("copied and verified")
    assert finish(child) == 3
    code, out, err = invoke("search", "--id", "ZAC5361", "--archive", archive, "--json")
    assert code == 0, err
    sources = sorted(r["source_path"] for r in json.loads(out)["results"])
    assert sources == ["DCIM/100DEMO_/IMG_0001.JPG", "DCIM/100DEMO_/IMG_0003.JPG"]
    assert photo.read_bytes() == bytes(data)


def test_a_photo_changed_while_the_plan_waits_for_its_yes_is_not_filed(tmp_path: Path) -> None:
    """The same, put under the name after the plan was shown and before the yes: the copy
    reads the bytes the answer was given for, or keeps the photo on the card."""
    card, _ = make_demo_card(tmp_path)
    photo = card / "DCIM" / "100DEMO_" / "IMG_0002.JPG"
    archive = tmp_path / "archive"
    child = on_terminal(
        cardingest_exe(), ["ingest", card, "--archive", archive], {"COLUMNS": "3000"}
    )
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    answer_the_rest(child)
    child.expect(r"\[y/N\]: ")
    data = bytearray(photo.read_bytes())
    data[-200] ^= 0xFF
    photo.write_bytes(bytes(data))
    child.sendline("y")
    child.expect("its bytes are not the photo's shown when the IDs were asked")
    assert finish(child) == 3
    code, out, err = invoke("search", "--id", "ZAC5361", "--archive", archive, "--json")
    assert code == 0, err
    sources = sorted(r["source_path"] for r in json.loads(out)["results"])
    assert sources == ["DCIM/100DEMO_/IMG_0001.JPG", "DCIM/100DEMO_/IMG_0003.JPG"]


def test_ctrl_c_at_the_copy_question_is_a_stop_not_a_no(tmp_path: Path) -> None:
    """A trial: Ctrl-C at "Copy …? [y/N]" was exit 3, a no's code; a stop is 130."""
    card, _ = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    child = on_terminal(cardingest_exe(), ["ingest", card, "--archive", archive], {})
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    answer_the_rest(child)
    child.expect(r"\[y/N\]: ")
    child.sendintr()
    child.expect("Interrupted: nothing was copied; the photos are still on the card")
    assert finish(child) == 130
    assert not (archive / "ZAC5361").exists()


def swap_card(
    fat_card: CardFactory, mount: Path, files: dict[str, bytes], *, label: str
) -> MountedCard:
    """Take the card at ``mount`` out and put another in its place: an image of ``files``
    with ``label`` and another serial (943D-965C)."""
    fat_card.handle(mount).unmount()
    image = build_fat32_image(mount.parent / "other.img", files, label=label, serial="943D-965C")
    swapped = MountedCard(image, mount)
    swapped.mount()
    return swapped


@contextmanager
def swapped_under_the_questions(
    child: pexpect.spawn, fat_card: CardFactory, mount: Path, files: dict[str, bytes], label: str
) -> Iterator[None]:
    """At group 1's question, another card (``files``) goes in at ``mount``; groups 1 and 2
    are answered, and the command says the card changed. Unmounted on the way out."""
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    swapped = swap_card(fat_card, mount, files, label=label)
    try:
        child.sendline("ZAC5361")
        child.expect_exact("Patient ID for group 2")
        child.sendline("ZAA0067")
        child.expect("was changed while the IDs were asked")
        yield
    finally:
        swapped.unmount()


def test_the_same_card_is_filed_only_if_it_is_still_the_card_asked_about(
    tmp_path: Path, fat_card: CardFactory
) -> None:
    """Another card put in at the same mount point while the questions waited (same names,
    other photos): nothing is copied, exit 1, run again to be asked about it."""
    first = {f"DCIM/100CANON/IMG_000{n}.JPG": exif_jpeg(f"2026:11:08 10:{n}0:00") for n in (1, 2)}
    other = {f"DCIM/100CANON/IMG_000{n}.JPG": exif_jpeg(f"2026:11:08 16:{n}0:00") for n in (1, 2)}
    mount = fat_card(first, label="EOS_DIGITAL", serial="90DE-CDE6")
    archive = tmp_path / "archive"
    child = spawn("ingest", mount, "--archive", archive)
    with swapped_under_the_questions(child, fat_card, mount, other, "EOS_DIGITAL"):
        assert finish(child) == 1
        assert not list(archive.glob("Z*"))
        assert sorted(p.name for p in (mount / "DCIM" / "100CANON").iterdir()) == [
            "IMG_0001.JPG", "IMG_0002.JPG"
        ]  # fmt: skip


@pytest.mark.parametrize("names", ["same", "other"])
def test_a_card_swapped_while_its_photos_are_copied_is_named_as_another(
    tmp_path: Path, fat_card: CardFactory, monkeypatch: pytest.MonkeyPatch, names: str
) -> None:
    """Another card put in at the mount point after the scan: its photos of the same names
    are held as changed, the first card's other names fail as gone, and after the ingest's
    report it says the card is another (exit 1). A trial: "changed on the card since it was
    scanned … run again to file it as it is now", and the run again filed the second card
    under the first card's --id; a review: with other names nothing said so."""
    from cardingest.cli import app as app_module

    first = {f"DCIM/100CANON/IMG_000{n}.JPG": exif_jpeg(f"2026:11:08 10:{n}0:00") for n in (1, 2)}
    number = 0 if names == "same" else 5
    other = {
        f"DCIM/100CANON/IMG_000{n + number}.JPG": exif_jpeg(f"2026:11:08 16:{n}0:00")
        for n in (1, 2)
    }
    mount = fat_card(first, label="EOS_DIGITAL", serial="90DE-CDE6")
    run_execute = app_module.run_execute
    swaps: list[MountedCard] = []

    def swap_then_copy(*args: object, **kwargs: object) -> object:
        swaps.append(swap_card(fat_card, mount, other, label="EOS_DIGITAL"))
        return run_execute(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(app_module, "run_execute", swap_then_copy)
    archive = tmp_path / "archive"
    try:
        code, out, err = invoke("ingest", mount, "--id", "JBX3656", "--archive", archive)
        assert code == 1, err
        assert "was swapped for another while its photos were copied (serial 90DE-CDE6, " in err
        assert "now 943D-965C" in err and "none of the other card's was filed" in err, err
        assert "IMG_0001.JPG" in out + err.split("was swapped")[0]  # the report comes first
        assert not any((archive / "JBX3656").glob("*.jpg"))  # the first card's, none copied
        assert sorted(p.name for p in (mount / "DCIM" / "100CANON").iterdir()) == sorted(
            name.rpartition("/")[2] for name in other
        )
        code, out, err = invoke("ingest", mount, "--id", "JBX3656", "--archive", archive, "--json")
        assert code == 0 and json.loads(out).get("error") is None  # no swap: nothing said
    finally:
        for swapped in swaps:
            swapped.unmount()


def test_watch_asks_again_about_a_card_swapped_under_its_questions(
    tmp_path: Path, fat_card: CardFactory
) -> None:
    """``watch --interactive``: the card swapped while its IDs were asked is not filed, and
    ``watch`` asks about the card now in (a trial: it said "Done with CARDA: remove the
    card" of a card it never ingested, and took the new one only as another card)."""
    first = {f"DCIM/100CANON/IMG_000{n}.JPG": exif_jpeg(f"2026:11:08 10:{n}0:00") for n in (1, 2)}
    other = {"DCIM/100CANON/IMG_0001.JPG": exif_jpeg("2026:11:08 16:10:00")}
    mount = fat_card(first, label="CARDA", serial="90DE-CDE6")
    archive = tmp_path / "archive"
    child = spawn("watch", "--interactive", "--archive", archive, "--interval", "0.1")
    with swapped_under_the_questions(child, fat_card, mount, other, "CARDB"):
        child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
        said = child.before
        assert "Done with" not in said and "CARDA removed" not in said, said
        assert "Nothing was copied from CARDA: asking about the card now there" in said
        assert "1 photo(s) in 1 group(s)" in said, said
        child.sendline("ZAA0067")
        child.expect(r"\[y/N\]: ")
        child.sendline("y")
        child.expect_exact("Done with CARDB")
        child.sendintr()
        assert finish(child) == 0
        assert [p.name for p in (archive / "ZAA0067").glob("*.jpg")] == [
            "ZAA0067-20261108-161000.jpg"
        ]
        assert not (archive / "ZAC5361").exists()


def test_a_photo_removed_while_the_questions_waited_stops_the_command(tmp_path: Path) -> None:
    """A trial: a photo deleted under the prompt was exit 2 with an ID map's advice
    (wiped cards, remove the row), meaningless at a terminal."""
    card, _ = make_demo_card(tmp_path)
    archive = tmp_path / "archive"
    child = spawn("ingest", card, "--archive", archive)
    child.expect_exact("Patient ID for group 1 (blank: leave on the card): ")
    (card / "DCIM" / "100DEMO_" / "IMG_0006.JPG").unlink()  # group 4, alone
    answer_the_rest(child)
    child.expect("Photos the IDs were asked for are no longer on")
    assert finish(child) == 1
    assert not archive.exists() or not list(archive.glob("Z*"))
