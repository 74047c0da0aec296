"""Rules of `card.detect` that its mutation round (2026-12-06) found no test pinned.

Each test calls the module in the test's process on real folders in ``tmp_path``, real
mount-table lines (`storage.mounts.parse_mounts`) or records like those psutil gives, and,
where a card's own behaviour matters, a real FAT32 image mounted with fusefat: a card
pulled while mounted, a RAM disk beside a card. The rules a disk only shows to an account
other than root (a folder that can be listed but not entered) are looked at by nobody
(65534) in a forked child.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cardimage import CardFactory, MountedCard, build_fat32_image, require, require_fat_tools
from conftest import tmpfs_on
from otheraccount import as_nobody, reachable_folder
from test_cards import LINUX_FUSEFAT, LINUX_VFAT, fat32_image, make_card, sdiskpart

from cardingest.card.detect import (
    NO_CARD_MESSAGE,
    camera_card_holding,
    card_from_partition,
    card_top,
    count_photos,
    dcim_folder,
    describe,
    find_cards,
    no_card_message,
    resolve_source,
)
from cardingest.errors import CardGoneError, SourceError
from cardingest.models import Card
from cardingest.storage import mounts as mount_table

GONE = "Transport endpoint is not connected"


def gone_message(source: str) -> str:
    return (
        f"The card at {source} is gone ({GONE}): it was pulled or its driver stopped, so "
        "nothing was read from it. Insert it again and run the command again."
    )


def source_error(source: str, **options: object) -> SourceError:
    with pytest.raises(SourceError) as error:
        resolve_source(source, **options)  # type: ignore[arg-type]
    return error.value


# --- DCIM and DCF folders ------------------------------------------------------------------


def test_a_dcim_whose_only_dcf_entry_is_a_link_loop_is_not_a_card(tmp_path: Path) -> None:
    """A link that loops cannot be told a folder (its stat fails with ELOOP): it is no DCF
    folder, so a DCIM holding only that is no card."""
    dcim = tmp_path / "USB" / "DCIM"
    dcim.mkdir(parents=True)
    (dcim / "100LOOP_").symlink_to("100LOOP_")
    assert dcim_folder(tmp_path / "USB") is None
    assert card_from_partition(sdiskpart("/dev/sdz1", str(tmp_path / "USB"), "vfat", "rw")) is None


def test_the_dcim_folder_spelt_in_capitals_wins_over_another_spelling(tmp_path: Path) -> None:
    """On a disk that tells letter case apart, ``DCIM`` is the camera's; ``dcim`` beside
    it (both holding DCF folders) is not read instead."""
    make_card(tmp_path / "CARD", {"dcim/100canon/a.jpg": b"j", "DCIM/100CANON/B.JPG": b"j"})
    require((tmp_path / "CARD" / "dcim").exists(), "this disk ignores letter case")
    found = sorted(p.name for p in (tmp_path / "CARD").iterdir())
    require(found == ["DCIM", "dcim"], "this disk ignores letter case")
    assert dcim_folder(tmp_path / "CARD") == tmp_path / "CARD" / "DCIM"


def test_a_photo_with_a_dot_in_its_stem_is_counted_by_its_last_extension(tmp_path: Path) -> None:
    dcim = make_card(
        tmp_path / "CARD",
        {"DCIM/100CANON/IMG_0001.v2.JPG": b"j", "DCIM/100CANON/IMG_0002.JPG.txt": b"t"},
    )
    assert count_photos(dcim / "DCIM") == 1


def test_a_link_that_loops_among_the_photos_is_skipped_and_the_rest_counted(
    tmp_path: Path,
) -> None:
    """Twenty photos and twenty links that loop, made in turn: whatever order the disk
    lists them in, every photo is counted (a loop is no reason to stop at it)."""
    folder = tmp_path / "CARD" / "DCIM" / "100CANON"
    folder.mkdir(parents=True)
    for number in range(20):
        (folder / f"IMG_{number:04}.JPG").write_bytes(b"jpeg")
        (folder / f"LNK_{number:04}.JPG").symlink_to(f"LNK_{number:04}.JPG")
    assert count_photos(tmp_path / "CARD" / "DCIM") == 20


# --- the card a partition record makes --------------------------------------------------


def test_a_card_keeps_the_records_empty_type_and_device(tmp_path: Path) -> None:
    """psutil gives some mounts no type or device: the card says none, not a made-up one."""
    mount = make_card(tmp_path / "CARD")
    card = card_from_partition(sdiskpart("", str(mount), "", "rw"))
    assert card is not None
    assert (card.fstype, card.device) == ("", "")


def test_a_mount_the_system_calls_removable_makes_a_removable_card(tmp_path: Path) -> None:
    mount = make_card(tmp_path / "CARD")
    card = card_from_partition(sdiskpart("/dev/sdz1", str(mount), "vfat", "rw,removable"))
    assert card is not None and card.removable is True


def test_a_fusefat_record_naming_its_image_reads_the_volume_from_it(tmp_path: Path) -> None:
    """A fusefat mount whose table line names its image (``-o fsname=``) has its serial and
    label read from that image; no running driver need be found for it."""
    image = tmp_path / "card.img"
    image.write_bytes(fat32_image(0x972CE35C, b"EOS_DIGITAL"))
    mount = make_card(tmp_path / "sdcard")
    (record,) = mount_table.parse_mounts(
        f"{image} {mount} fuse.fusefat rw,nosuid,nodev,relatime 0 0\n".encode()
    )
    card = card_from_partition(record)
    assert card is not None
    assert (card.serial, card.label) == ("972C-E35C", "EOS_DIGITAL")


@pytest.mark.parametrize(
    ("mountpoint", "label"),
    [("E:\\", "E:"), ("E:/", "E:"), ("F:\\CARDS\\EOS_BOX\\", "EOS_BOX")],
)
def test_a_windows_mount_is_labelled_by_its_drive_or_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mountpoint: str, label: str
) -> None:
    """Without a readable volume, a drive's card is named by its letter (``E:``), and a card
    mounted in a folder by that folder's name. Here the mount points are real folders of
    those names in the current folder, which is where a Windows path leads on Linux."""
    monkeypatch.chdir(tmp_path)
    make_card(tmp_path / mountpoint.rstrip("/"))
    card = card_from_partition(sdiskpart(mountpoint, mountpoint, "FAT32", "rw,removable"))
    assert card is not None
    assert (card.mount, card.label) == (mountpoint, label)


def test_a_card_without_a_label_is_described_so() -> None:
    card = Card(mount="/", fstype="vfat", device="/dev/sdz1", photos=2)
    assert describe(card) == "/ (no label, vfat, 2 photos)"


# --- which mounts are looked at --------------------------------------------------------------


def test_cards_under_the_root_folder_are_every_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$CARDINGEST_CARDS_UNDER set to ``/`` leaves no mount out."""
    card = make_card(tmp_path / "media" / "CARD")
    table = f"fusefat {card} fuse.fusefat rw,nosuid,nodev,relatime 0 0\n".encode()
    monkeypatch.setattr(mount_table, "mounts", lambda: mount_table.parse_mounts(table))
    monkeypatch.setenv("CARDINGEST_CARDS_UNDER", "/")
    assert [found.mount for found in find_cards()] == [str(card)]


def test_a_cards_under_setting_naming_no_folder_is_said_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = str(tmp_path / "meda")
    monkeypatch.setenv("CARDINGEST_CARDS_UNDER", typo)
    assert no_card_message() == (
        f"{NO_CARD_MESSAGE}. CARDINGEST_CARDS_UNDER is '{typo}', which is not a folder here, "
        "and only cards mounted below it are looked for: check the setting (or unset it to "
        "look at every mount)"
    )


def test_a_folder_with_dcim_on_a_ram_disk_is_not_the_card_a_path_lies_on(
    tmp_path: Path, fat_card: CardFactory
) -> None:
    """`camera_card_holding` on the real mount table: a tmpfs (listed first) with a DCIM
    folder is no card; the fusefat card mounted after it is, for a path anywhere on it; a
    folder that is no mount of its own lies on no card."""
    require(os.geteuid() == 0, "needs root to mount a tmpfs")
    ram = tmp_path / "ram"
    ram.mkdir()
    with tmpfs_on(ram, 4):
        (ram / "DCIM" / "100CANON").mkdir(parents=True)
        mount = fat_card({"DCIM/100CANON/IMG_0001.JPG": b"jpeg"})
        plain = make_card(tmp_path / "plain")
        assert camera_card_holding(mount / "DCIM" / "100CANON" / "IMG_0001.JPG") == str(mount)
        assert camera_card_holding(mount) == str(mount)
        assert camera_card_holding(ram / "DCIM" / "100CANON") is None
        assert camera_card_holding(plain / "DCIM") is None


# --- the card a source lies on -------------------------------------------------------------


def test_the_top_of_a_source_is_its_cards_mount_point(tmp_path: Path) -> None:
    mount = make_card(tmp_path / "CARD", {"DCIM/100CANON/A.JPG": b"j", "MISC/x": b""})
    card = card_from_partition(sdiskpart("/dev/sdz1", str(mount), "vfat", "rw"))
    assert card is not None
    assert card_top(mount / "MISC", card) == mount


@pytest.mark.parametrize("dcim", ["DCIM", "dcim"])
def test_the_top_of_a_folder_in_dcim_is_the_folder_holding_dcim(tmp_path: Path, dcim: str) -> None:
    make_card(tmp_path / "CARD", {f"{dcim}/100CANON/A.JPG": b"j"})
    assert card_top(tmp_path / "CARD" / dcim / "100CANON", None) == tmp_path / "CARD"
    assert card_top(tmp_path / "CARD" / dcim, None) == tmp_path / "CARD"
    assert card_top(tmp_path / "CARD", None) == tmp_path / "CARD"


# --- a source given or not ---------------------------------------------------------------


def test_several_cards_are_refused_naming_the_first_by_mount_point(tmp_path: Path) -> None:
    first = make_card(tmp_path / "A_CARD")
    second = make_card(tmp_path / "B_CARD")
    partitions = [
        LINUX_FUSEFAT._replace(mountpoint=str(second)),
        LINUX_VFAT._replace(mountpoint=str(first)),
    ]
    error = source_error(None, partitions=partitions)  # type: ignore[arg-type]
    assert error.message == (
        f"2 camera cards found; give the one to use as the command's SOURCE, e.g. {first}"
    )


def test_an_empty_source_is_refused_with_what_to_give() -> None:
    assert source_error("  ", partitions=[]).message == (
        "SOURCE is empty; give the card's mount point or folder (. for this folder), or "
        "leave it out to use the one camera card found"
    )


def test_a_file_given_as_source_is_not_a_folder(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0001.JPG"
    photo.write_bytes(b"jpeg")
    assert source_error(str(photo), partitions=[]).message == f"Source is not a folder: {photo}"


@pytest.mark.parametrize("name", ["card.img", "card.iso", "card.dmg", "card.bin", "CARD.IMG"])
def test_a_card_image_given_as_source_is_said_to_need_mounting(tmp_path: Path, name: str) -> None:
    image = tmp_path / name
    image.write_bytes(b"\0" * 512)
    assert source_error(str(image), partitions=[]).message == (
        f"Source is not a folder: {image} (a card image? mount it, then give its folder)"
    )


def test_a_disk_device_given_as_source_is_said_to_need_mounting(tmp_path: Path) -> None:
    device = tmp_path / "sdz"
    try:
        os.mknod(device, stat.S_IFBLK | 0o600, os.makedev(7, 250))
    except OSError as exc:
        require(False, f"cannot make a block device node here: {exc.strerror}")
    assert source_error(str(device), partitions=[]).message == (
        f"Source is not a folder: {device} (a disk device: mount it, then give its folder; "
        "`cardingest cards` lists them)"
    )


def test_a_source_whose_name_cannot_be_looked_up_is_refused_with_why(tmp_path: Path) -> None:
    source = str(tmp_path / ("x" * 300))
    assert source_error(source, partitions=[]).message == (
        f"Cannot read source {source}: File name too long"
    )


# --- a card pulled while mounted ------------------------------------------------------------


class OptionsCard(MountedCard):
    """A fusefat card mounted with FUSE options of the test's (how long the kernel keeps
    what it was told of files: ``attr_timeout``, ``entry_timeout``)."""

    def __init__(self, image: Path, mountpoint: Path, options: str) -> None:
        super().__init__(image, mountpoint)
        self.options = options

    def _start(self) -> None:
        with open(self.log, "ab") as log:
            command = ["fusefat", "-f", "-s", "-o", f"rw+,{self.options}"]
            self.process = subprocess.Popen(
                [*command, str(self.image), str(self.mountpoint)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._processes.append(self.process)


@contextlib.contextmanager
def pulled(tmp_path: Path, options: str) -> Iterator[Path]:
    """A fusefat card mounted with ``options``, its folders looked at, then pulled (its
    driver killed): the mount is left dead, as a card pulled from its reader (or an
    archive's drive that failed: `test_ondisk.py`)."""
    require_fat_tools()
    image = build_fat32_image(tmp_path / "card.img", {"DCIM/100CANON/IMG_0001.JPG": b"j"})
    fuse = OptionsCard(image, tmp_path / "media" / "CARD", options)
    with fuse as mount:
        os.stat(mount)
        os.stat(mount / "DCIM")
        fuse.pull()
        yield mount


@pytest.mark.parametrize("python", ["this", "3.14"])
def test_a_pulled_card_given_as_source_is_said_gone(
    tmp_path: Path, python: str, request: pytest.FixtureRequest
) -> None:
    """Nothing cached: looking the folder up fails (ENOTCONN), and that is a card gone; also
    with Python 3.14's ``Path.exists()``, which answers False for it (`storage/ondisk.py`)."""
    if python == "3.14":
        request.getfixturevalue("pathlib_of_314")
    with pulled(tmp_path, "attr_timeout=0,entry_timeout=0") as mount:
        with pytest.raises(CardGoneError) as error:
            resolve_source(str(mount), partitions=[])
        assert error.value.message == gone_message(str(mount))


def test_a_loop_of_symbolic_links_given_as_source_is_said_so(tmp_path: Path) -> None:
    """Path.resolve() raised for a loop only before Python 3.13 (and Path.exists() answers
    False for one): the stat says it, on every Python, not "Source folder not found"."""
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    for source in (tmp_path / "loop1", tmp_path / "loop1" / "DCIM"):
        with pytest.raises(SourceError) as error:
            resolve_source(str(source), partitions=[])
        assert error.value.message == (
            f"Source {source} leads round a loop of symbolic links; give a real folder"
        )


def test_a_pulled_card_whose_folders_the_kernel_still_knows_is_said_gone_at_its_read(
    tmp_path: Path,
) -> None:
    """The kernel keeps a FUSE mount's attributes for a while (an hour here): the folder
    still looks there, and only its listing tells the card is gone."""
    with pulled(tmp_path, "attr_timeout=3600,entry_timeout=3600") as mount:
        for source in (str(mount), str(mount / "DCIM")):
            assert Path(source).is_dir()
            with pytest.raises(CardGoneError) as error:
                resolve_source(source, partitions=[])
            assert error.value.message == gone_message(source)


# --- what another account than root may not read --------------------------------------------


@pytest.fixture
def open_folder() -> Iterator[Path]:
    with reachable_folder("detect-") as folder:
        yield folder


@pytest.mark.parametrize("mode", [0o711, 0o744], ids=["enter-only", "list-only"])
def test_a_folder_that_cannot_be_both_listed_and_entered_is_refused(
    open_folder: Path, mode: int
) -> None:
    folder = open_folder / "photos"
    folder.mkdir()
    (folder / "IMG_0001.JPG").write_bytes(b"jpeg")
    folder.chmod(mode)
    said = as_nobody(lambda: resolve_source(str(folder), partitions=[]))
    assert said == ("raised", "SourceError", f"Source folder cannot be read: {folder}")
    assert resolve_source(str(folder), partitions=[]) == (folder, None)  # root may


def test_photos_in_the_dcf_folders_that_can_be_read_are_counted_past_one_that_cannot(
    open_folder: Path,
) -> None:
    make_card(
        open_folder / "CARD",
        {
            "DCIM/100CANON/IMG_0001.JPG": b"j",
            "DCIM/101CANON/IMG_0002.JPG": b"j",
            "DCIM/101CANON/IMG_0003.JPG": b"j",
        },
    )
    for folder in (open_folder / "CARD", open_folder / "CARD" / "DCIM"):
        folder.chmod(0o755)
    (open_folder / "CARD" / "DCIM" / "101CANON").chmod(0o755)
    (open_folder / "CARD" / "DCIM" / "100CANON").chmod(0o700)
    assert as_nobody(lambda: count_photos(open_folder / "CARD" / "DCIM")) == ("ok", 2)
    assert count_photos(open_folder / "CARD" / "DCIM") == 3
