"""Who may read what cardingest writes: nobody but its owner (and, if configured, the clinic's
group), whatever the umask.

Without ``archive_group`` everything gets 0600 / 0700: the account's primary group is not the
clinic's choice (on many systems, a domain's "users" hold every account). With
``archive_group`` set, files are given that group and 0640, folders 2750 (setgid, so files
made inside inherit the group). Modes are set explicitly after each create, so neither a
loose umask (022 leaves files world-readable) nor a strict one (077 would shut the group out)
changes them. Only what cardingest creates is set: an existing file or folder keeps its mode
(``verify`` reports one that others can read; ``verify --fix-permissions`` tightens it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from ..errors import UsageError
from ..models import ARCHIVE_ID_NAME, CATALOGUE_NAME, METADIR
from . import ondisk

FILE_MODE = 0o640
DIR_MODE = 0o750
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
OTHERS = stat.S_IRWXO

_group: int | None = None
_owner: tuple[int, int] | None = None
_POSIX = os.name == "posix"


def share_with_group(gid: int | None) -> None:
    """From now on, give what is created to group ``gid`` (None: owner only). Set once, by
    the CLI, from ``archive_group``."""
    global _group
    _group = gid


def keep_owner(archive: Path) -> None:
    """Run as root on an archive another account owns (``sudo cardingest verify``): give
    what is created or rewritten from now on to that account, as if it had made it. Else a
    root-owned audit head or folder would lock the clinic's own account out of its archive.
    Set once, by the CLI; nothing for anyone but root, or an archive that is not there yet
    (`archive_account`)."""
    global _owner
    _owner = None
    if _POSIX and os.geteuid() == 0:
        found = archive_account(archive)
        _owner = found if found is not None and found[0] != 0 else None


_RECORDS = (CATALOGUE_NAME, ARCHIVE_ID_NAME)
"""What an archive made by an account holds in its ``.cardingest``: a SQLite catalogue, or
the id that ties it to its PostgreSQL one."""


def archive_account(archive: Path) -> tuple[int, int] | None:
    """(uid, gid) of the account that made the archive: the owner of its ``.cardingest``
    folder and of the records in it (`_RECORDS`); None for no archive there yet.

    Not the owner of the folder it is in: a folder another account made (or a path it put
    a folder at first), with no archive in it yet, got every photo, the catalogue and the
    log of root's first ingest that way; nor of an empty ``.cardingest`` it made there."""
    try:
        folder = os.lstat(archive / METADIR)
    except OSError:
        return None
    if not stat.S_ISDIR(folder.st_mode):
        return None
    for name in _RECORDS:
        try:
            record = os.lstat(archive / METADIR / name)
        except OSError:
            continue
        if stat.S_ISREG(record.st_mode) and record.st_size and record.st_uid == folder.st_uid:
            return folder.st_uid, folder.st_gid
    return None


def _give(fd: int) -> None:
    """The configured owner and group of a file or folder cardingest just created (open on
    ``fd``: never by its path, which another account may have made a link meanwhile)."""
    if _owner is None and _group is None:
        return
    uid = _owner[0] if _owner is not None else -1
    gid = _group if _group is not None else (_owner[1] if _owner is not None else -1)
    try:
        os.fchown(fd, uid, gid)
    except OSError as exc:
        # A file system that keeps no owners (exFAT, FAT: a USB backup drive) refuses it as
        # it takes a chmod and changes nothing: its mount options decide. (Membership of the
        # archive_group is checked when the config is read.)
        if exc.errno not in _NO_MODES:
            raise


def own_uids() -> set[int]:
    """The accounts whose files count as this run's own: this account, and the archive's
    owner that root works for (`keep_owner`)."""
    own = {os.geteuid()} if _POSIX else set()
    if _owner is not None:
        own.add(_owner[0])
    return own


def ours_alone(found: os.stat_result, folder_uid: int) -> bool:
    """Whether a file found where a copy is to go could be that copy: this run's own
    (`own_uids`, or its folder owner's, on a file system that gives every file one owner),
    with no second name (a hard link from outside would let whoever holds it change it)."""
    return found.st_nlink == 1 and (found.st_uid in own_uids() or found.st_uid == folder_uid)


def file_mode() -> int:
    return PRIVATE_FILE_MODE if _group is None else FILE_MODE


def dir_mode() -> int:
    return PRIVATE_DIR_MODE if _group is None else DIR_MODE | stat.S_ISGID


_NO_MODES = frozenset({errno.EPERM, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})
"""errno of chmod on a file system without Unix modes (FAT, some shares): its mount options
decide who may read, and nothing here can change that."""


def created_file(fd: int, path: Path | str) -> None:
    """Give a file cardingest has just created (open on ``fd``) its group and mode."""
    if not _POSIX:
        return
    _give(fd)
    try:
        os.fchmod(fd, file_mode())
    except OSError as exc:
        if exc.errno not in _NO_MODES:
            raise
    _drop_inherited(fd)


def create(path: Path | str, flags: int, dir_fd: int | None = None) -> int:
    """``os.open`` with ``O_CREAT | O_EXCL``, the new file given its group and mode
    (``path`` relative to ``dir_fd`` when given: `open_beneath`)."""
    fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, file_mode(), dir_fd=dir_fd)
    try:
        created_file(fd, path)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):  # the error to tell is the first one
            os.unlink(path, dir_fd=dir_fd)
        raise
    return fd


def folder_given(path: Path, option: str, example: str) -> UsageError | None:
    """For an ``option`` file that could not be created as it exists: when ``path`` is a
    folder, the error that says so and gives a file in it (``example``); "exists, not
    overwriting it" read as if a file would have been."""
    if not os.path.isdir(path):
        return None
    return UsageError(
        f"{option} {path} is a folder; give the file to write, such as {Path(path, example)}"
    )


def cannot_create(path: Path, option: str, exc: OSError) -> UsageError:
    """The error for an ``option`` file that could not be created: a missing folder is
    named as such, since "No such file or directory" reads as if the file were expected."""
    folder = Path(path).parent
    if isinstance(exc, FileNotFoundError) and not os.path.isdir(folder):
        return UsageError(
            f"{option} {path}: the folder {folder} does not exist; create it first "
            "or give a file in a folder that does"
        )
    return UsageError(f"{option} {path}: cannot create it: {exc.strerror or exc}")


def mkdir(path: Path) -> None:
    """``os.mkdir`` with the folder's group and mode (FileExistsError if it is there).

    Owner and mode are set on the folder opened without following a link: root running on
    an archive another account owns (`keep_owner`) must not, when that account swaps the
    new folder for a link between the two steps, give it the link's target (any file on
    the machine). A folder swapped so is an OSError (ELOOP)."""
    os.mkdir(path, dir_mode() & 0o777)
    if _POSIX:
        _finish_folder(path)


def _finish_folder(name: Path | str, dir_fd: int | None = None) -> None:
    """Give a folder just made its owner, group and mode, opened without following a link."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, dir_fd=dir_fd)
    try:
        _give(fd)
        try:
            os.fchmod(fd, dir_mode())
        except OSError as exc:
            if exc.errno not in _NO_MODES:
                raise
        _drop_inherited(fd)
    finally:
        os.close(fd)


def _drop_inherited(fd: int) -> None:
    """Take from a file or folder just made what it inherited from its folder's default
    access control list (`setfacl -d -m u:nurse2:rX`) that `too_open_at` finds (`close_acl`).
    Only with an ``archive_group``: then the mode's group bits, 0640 or 2750, let such
    entries read; without it, 0600 and 0700 give them nothing."""
    if _group is None:
        return
    try:
        close_acl(fd)
    except OSError as exc:
        if exc.errno not in _NO_MODES:
            raise


_PATH_ONLY = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC


def open_beneath(root: Path | str, parts: Sequence[str]) -> int:
    """A descriptor (``O_PATH``) of the folder ``root/parts…``, reached one folder at a time
    with no link followed below ``root`` (``root`` itself may be a link: an archive on a
    mounted disk). What is then made, renamed or removed relative to it stays there, where
    a path could be led elsewhere by a folder another account swaps for a link meanwhile
    (root running on that account's archive); such a folder is an OSError (ELOOP, ENOTDIR).
    The caller closes it."""
    fd = os.open(root, _PATH_ONLY)
    try:
        for part in parts:
            inner = os.open(part, _PATH_ONLY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_dirs_beneath(root: Path, parts: Sequence[str]) -> list[Path]:
    """`make_dirs` of ``root/parts…``, below ``root`` one folder at a time with no link
    followed: a folder another account swaps for a link meanwhile is an OSError (ELOOP,
    ENOTDIR), never a way for root to make folders elsewhere. ``root`` itself may be a link
    (an archive on a mounted disk). Returns the folders made, outermost first."""
    if os.path.isdir(Path(root, *parts)):
        return []  # nothing to make (the caller looks for a link on the way: `leaves_root`)
    made = make_dirs(root)
    fd = os.open(root, _PATH_ONLY)
    try:
        path = Path(root)
        for part in parts:
            path = path / part
            try:
                os.mkdir(part, dir_mode() & 0o777, dir_fd=fd)
            except FileExistsError:
                pass
            else:
                _finish_folder(part, fd)
                made.append(path)
            inner = os.open(part, _PATH_ONLY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)
    return made


def make_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents with their modes; returns those created,
    outermost first (the caller makes their entries durable where it must)."""
    if os.path.isdir(folder):
        return []
    missing: list[Path] = []
    probe = Path(folder)
    while not ondisk.is_dir(probe) and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    created: list[Path] = []
    try:
        for path in reversed(missing):
            try:
                mkdir(path)
            except FileExistsError:
                if not ondisk.is_dir(path):
                    raise
                continue
            created.append(path)
    except OSError:  # a name too long, no room: leave no empty folders of a refused run
        for path in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(path)
        raise
    return created


GROUP_READ = stat.S_IRGRP | stat.S_IXGRP


def too_open(mode: int, gid: int, acl: bool = False) -> int:
    """The permission bits of a file or folder (``st_mode``, ``st_gid``) that give accounts
    other than its owner more than cardingest does: any for others; group write always
    (cardingest never gives it: the group could change or delete a photo); group read and
    enter unless the group is the configured ``archive_group`` and no access control list
    names others (``acl``, `has_acl`: the group bits are then the most it gives them too).
    0 when there are none."""
    bits = mode & (OTHERS | stat.S_IWGRP)
    if acl or _group is None or gid != _group:
        bits |= mode & GROUP_READ
    return bits


def open_to_swaps(path: Path) -> tuple[Path, os.stat_result] | None:
    """The first folder above ``path`` that every account may write in without the sticky
    bit ``/tmp`` has, and its stat, if any: any account could rename what is in it (the way
    to ``path`` included) and put a folder or file of its own in its place, so what is
    written at ``path`` later would go to them. The folders on the way as given, and on
    the way a link there leads (where the writes would go)."""
    if not _POSIX:
        return None
    given = Path(os.path.abspath(path))
    try:
        real = given.resolve()
    except (OSError, RuntimeError):  # a loop of links: refused where it is opened
        real = given
    for folder in dict.fromkeys([*given.parents, *real.parents]):
        with contextlib.suppress(OSError):
            status = os.stat(folder)
            if _swappable_by_all(status):
                return folder, status
    return None


def _swappable_by_all(status: os.stat_result) -> bool:
    return (
        stat.S_ISDIR(status.st_mode)
        and bool(status.st_mode & 0o002)
        and not status.st_mode & stat.S_ISVTX
    )


def refuse_swappable(path: Path | None, option: str) -> None:
    """UsageError for a file or folder a command is to write (``option``: ``--out``) below a
    folder every account may write in without the sticky bit (`open_to_swaps`): another
    account could put its own in its place, see the names (patients' IDs), and change what
    is read back (a slate, a map, a contact sheet)."""
    found = None if path is None else open_to_swaps(path)
    if found is not None:
        folder, status = found
        raise UsageError(_swappable_text(f"{option} {path} is in {folder}, a folder", status))


def _swappable_text(lead: str, status: os.stat_result) -> str:
    return (
        f"{lead} every account may write in without the sticky bit /tmp has (mode "
        f"{stat.filemode(status.st_mode)}): another account could rename what is written "
        "there, see its name (patients' IDs) and put its own in its place. Give a folder "
        "only you can change (or have its owner run chmod +t on it; a USB drive or a network "
        "share whose mount options open it to every account: mount it for yours alone, "
        "uid= and umask=077)"
    )


def make_private_folder(path: Path, option: str) -> str | None:
    """Make the folder a command writes patients' files into (``option``: ``--out``), or
    close an existing one open to others (`make_private`): the names in it carry patients'
    IDs, and write access would let another account swap a file. A folder that holds
    anything already is the user's own (a home, a shared drop folder) and is left as it
    is: the command's own folders in it are private. One another account owns (or a link
    to one) is refused, UsageError: its owner may change its mode back and see or swap what
    is written. What was done to an existing folder, as a warning; None for a folder made
    here, left as it is, or already private."""
    refuse_others_folder(path, option)
    if make_dirs(path):
        return None
    with os.scandir(path) as entries:
        if next(entries, None) is not None:
            if _POSIX and _swappable_by_all(status := os.stat(path)):
                raise UsageError(_swappable_text(f"{option} {path} is a folder", status))
            return None
    was = exposure_at(path)
    return _said_closed(option, path, make_private(path), was)


def make_private_subfolder(path: Path, what: str) -> str | None:
    """`make_private_folder` for a folder of one patient's files in an ``--out`` (``what``
    names it), once `refuse_others_folder` has passed it: one of ours open to others is
    closed whatever it holds (its files are this command's own, from an earlier run)."""
    if make_dirs(path):
        return None
    was = exposure_at(path)
    return _said_closed(what, path, make_private(path), was)


def open_to_others(path: _Where, info: os.stat_result) -> bool:
    """Whether what is at ``path`` (no link followed; ``info`` its lstat) gives others more
    than cardingest does (`too_open_at`), or is a folder whose default list names others."""
    return bool(too_open_at(path, info)) or has_acl(path, ACL_DEFAULT)


def exposure_at(path: Path | str) -> str:
    """Who other than its owner (and the ``archive_group``) can use what is at ``path`` (a
    link followed), in words (`exposure`), its access control lists read; and where a
    folder's default list names others, that too. '' for nobody."""
    real = os.path.realpath(path)
    try:
        info = os.lstat(real)
    except OSError:
        return ""
    said = exposure(info.st_mode, info.st_gid, extended_acl(real), too_open_at(real, info))
    if has_acl(real, ACL_DEFAULT):
        said = f"{said}; its {DEFAULT_ACL_OPENS}" if said else f"a folder whose {DEFAULT_ACL_OPENS}"
    return said


def empty_and_open(path: Path) -> int | None:
    """The mode of a folder that holds nothing yet and is open to others (made by hand for a
    new archive or backup, with the umask's 0755, where every account could list the
    patients' folders cardingest makes in it: their names are patients' IDs), that this
    account may close: its own, or any for root (whose files in it go to its owner:
    `keep_owner`). None otherwise; a folder holding anything is the user's (`verify` names
    it). ``path`` may be a link to it (an archive on a mounted disk), if ours or root's."""
    try:
        if os.path.islink(path) and os.lstat(path).st_uid not in (os.geteuid(), 0):
            return None
        real = os.path.realpath(path)
        info = os.lstat(real)
        me = os.geteuid()
        if not stat.S_ISDIR(info.st_mode) or me not in (info.st_uid, 0):
            return None
        if not open_to_others(real, info):
            return None
        with os.scandir(path) as entries:  # a new ext4 disk's root holds lost+found;
            if any(entry.name not in ("lost+found", METADIR) for entry in entries):
                return None  # an ingest makes the archive's own folder before its checks
        return info.st_mode
    except OSError:
        return None


def close_folder(path: Path, what: str, before: int) -> str | None:
    """Give a folder `empty_and_open` found (``before``: its mode then) the group and mode of
    a folder cardingest makes (`_finish_folder`: 0700, or 2750 with the ``archive_group``);
    the warning that says so, naming it as ``what``, or that it could not be done (root
    on a server's share that maps root to nobody, say): None only for a folder gone."""
    real = os.path.realpath(path)
    was = exposure_at(real)
    try:
        close_acl(real)
        _finish_folder(real)
        return _said_closed(what, path, (before, os.stat(real).st_mode), was)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if not was:
            try:
                was = exposure(before, os.stat(real).st_gid)
            except OSError:
                return None
        return (
            f"{what} {path} is {was} (mode {stat.filemode(before)}) and could not be made "
            f"private: {exc.strerror or exc}. Others can list the patients' folders filed in it"
        )


def _said_closed(
    option: str, path: Path, opened: tuple[int, int] | None, said: str = ""
) -> str | None:
    """What `make_private` did to an existing folder, in words; None if nothing. ``said``:
    who could use it before (`exposure_at`), else told from its mode then."""
    if opened is None:
        return None
    before, after = opened
    real = os.path.realpath(path)
    gid = os.stat(real).st_gid
    was = f"{option} {path} was {said or exposure(before, gid)} (mode {stat.filemode(before)})"
    if open_to_others(real, os.lstat(real)):
        return (
            f"{was}, and it stays so: its file system keeps no Unix modes (its mount options "
            "decide who can see what is written there), or would not change them"
        )
    return (
        f"{was}: made it private ({stat.filemode(after)}) before writing into it, as "
        "cardingest makes its own folders; the names in it carry patients' IDs"
    )


def refuse_others_links(path: Path, option: str, trusted: set[int]) -> None:
    """UsageError for a ``path`` that leads through a symbolic link an account not in
    ``trusted`` made: that account decides where the files go (and root would close and
    fill a folder of its choosing)."""
    if not _POSIX:
        return
    whole = Path(os.path.abspath(path))
    for step in [*reversed(whole.parents), whole]:
        with contextlib.suppress(OSError):
            link = os.lstat(step)
            if stat.S_ISLNK(link.st_mode) and link.st_uid not in trusted:
                raise UsageError(
                    f"{option} {path} leads through {step}, a symbolic link "
                    f"{account_name(link.st_uid)} made: it decides where the files go. Give "
                    "a folder of your own"
                )


def not_a_folder(path: Path) -> str:
    """What ``path``, there but not a folder, is, in words ("a file" if it cannot be told)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "a file"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
        return "a device file"
    return "a file"


def refuse_others_folder(path: Path, option: str) -> None:
    """UsageError for an ``--out`` another account could see into or change, whatever mode
    it is given: a link that account made (to anything: root would close and fill a
    system folder of its choosing), a folder of theirs, one root would make in a folder of
    theirs, or an existing folder every account writes in (``/tmp``, whose mode is not ours
    to change)."""
    if not _POSIX:
        return
    try:
        os.stat(path)
    except OSError as exc:  # Path.resolve() says nothing of a loop from Python 3.13 on
        if exc.errno == errno.ELOOP:
            raise UsageError(
                f"{option} {path} leads round a loop of symbolic links; give a real folder"
            ) from None
    me = os.geteuid()
    refuse_others_links(path, option, {me, 0})
    refuse_swappable(path, option)
    place = Path(path)
    while not ondisk.exists(place) and place.parent != place:
        place = place.parent
    if place != Path(path) and ondisk.exists(place) and not ondisk.is_dir(place):
        raise UsageError(
            f"{option} {path}: {place} is {not_a_folder(place)}, so it cannot hold a folder"
        )
    with contextlib.suppress(OSError):
        status = os.stat(place)
        where = f"{option} {path}" + ("" if place == Path(path) else f" (in {place})")
        # A new folder in a colleague's shared folder is theirs to see: only root, which
        # would make it there on that account's word, is held back.
        if status.st_uid not in (me, 0) and (place == Path(path) or me == 0):
            raise UsageError(
                f"{where} belongs to {account_name(status.st_uid)}, who could read the "
                "names written there (patients' IDs) and change or remove the files, "
                "whatever their mode: give a folder of your own"
            )
        if place == Path(path) and status.st_mode & stat.S_ISVTX and status.st_mode & 0o002:
            raise UsageError(
                f"{where} is a folder every account writes in (as /tmp is), whose mode is "
                "not this command's to change: give a folder of your own (a new one in it "
                "will do)"
            )
        if stat.S_ISDIR(status.st_mode) and not _can_write_in(place):
            owner = "" if status.st_uid == me else f"it belongs to {account_name(status.st_uid)}, "
            raise UsageError(
                f"{where}: {account_name(me)} cannot write in "
                f"{'it' if place == Path(path) else place} ({owner}mode "
                f"{stat.S_IMODE(status.st_mode):04o}, or its disk is read-only): give a folder "
                "this account can write in"
            )


def _can_write_in(folder: Path) -> bool:
    """Whether this account (its effective IDs) may make files in ``folder``: access(2)'s
    word, and where it says no, a folder made and removed there, since some file systems'
    access(2) does not know their ACLs (AFS)."""
    effective = os.access in os.supports_effective_ids
    if os.access(folder, os.W_OK | os.X_OK, effective_ids=effective):
        return True
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(prefix=".cardingest-probe-", dir=folder))
    except OSError:
        return False
    return True


def make_private(path: Path) -> tuple[int, int] | None:
    """Take from an existing file or folder (a link followed) the access `too_open_at` finds,
    and a folder's default list's entries `has_acl` counts (`take_access`): its mode before
    and after, or None when it had none. On a file system without Unix modes the mode may
    stay as it was (its mount options decide); OSError otherwise."""
    real = os.path.realpath(path)
    info = os.lstat(real)
    if not open_to_others(real, info):
        return None
    try:
        take_access(real, lambda mode: os.chmod(real, mode))
    except OSError as exc:
        if exc.errno not in _NO_MODES:
            raise
    return info.st_mode, os.stat(path).st_mode


def close_open_file(fd: int) -> None:
    """Take from a file of ours, open on ``fd`` (never by its path), the access `too_open`
    finds: an archived file found in place (copied there by hand, 0644) is then kept as
    closed as a copy made here. Another account's file, or a file system without Unix
    modes, is left as it is (`verify` names it)."""
    info = os.fstat(fd)
    extra = too_open(info.st_mode, info.st_gid)
    if not extra or info.st_uid not in own_uids():
        return
    try:
        os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~extra)
    except OSError as exc:
        if exc.errno not in _NO_MODES:
            raise


def account_name(uid: int) -> str:
    """An account in words: "the account nurse2", or its number if it has no name here."""
    try:
        import pwd

        return f"the account {pwd.getpwuid(uid).pw_name}"
    except (ImportError, KeyError):
        return f"the account with user ID {uid} (no name on this machine)"


def group_name(gid: int) -> str:
    """A group's name, or its number if it has none."""
    try:
        import grp

        return grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        return str(gid)


def other_members(gid: int, besides: int) -> list[str]:
    """The names of the accounts in group ``gid`` other than ``besides``: those it lists, and
    those whose own group it is. A directory service that does not list its accounts (LDAP
    without enumeration) shows only its groups' listed members."""
    try:
        import grp
        import pwd
    except ImportError:
        return []
    with contextlib.suppress(KeyError):
        listed = set(grp.getgrgid(gid).gr_mem)
        listed.update(entry.pw_name for entry in pwd.getpwall() if entry.pw_gid == gid)
        with contextlib.suppress(KeyError):
            listed.discard(pwd.getpwuid(besides).pw_name)
        return sorted(listed)
    return []


CATCH_ALL_GROUPS = frozenset({"users", "domain users"})
"""Groups that hold every account by design (Debian's ``users``, a Windows domain's, and
macOS's ``staff``, every account's own group there)."""


def holds_everyone(gid: int) -> bool:
    """Whether group ``gid`` is one every account is in by design (`CATCH_ALL_GROUPS`).
    A group a clinic made that happens to hold every account of a workstation of its
    staff's is theirs to choose, and is not guessed at."""
    try:
        import grp

        name = grp.getgrgid(gid).gr_name.lower()
    except (ImportError, KeyError):
        return False
    return name in CATCH_ALL_GROUPS or (sys.platform == "darwin" and name == "staff")


ACL_ACCESS = "system.posix_acl_access"
ACL_DEFAULT = "system.posix_acl_default"
"""The extended attributes Linux keeps a POSIX access control list in: the one that says who
may use a file or folder, and a folder's default, which what is made in it inherits."""
_ACL_VERSION = 2
_ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK = 0x02, 0x04, 0x08, 0x10
_ACL_NAMED = (_ACL_USER, _ACL_GROUP)
_ACL_GROUP_CLASS = (_ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP)
"""The entries the mask limits, and whose most the mode's group bits show."""
_ACL_ENTRY = struct.Struct("<HHI")
AclEntry = tuple[int, int, int]
"""One entry of a list: its tag (`_ACL_USER`…), permissions (rwx as 0-7) and id."""


_Where = Path | str | int
"""A path (no link followed at its end) or an open descriptor."""


def _xattr_follows(path: _Where) -> bool:
    """``follow_symlinks`` for the xattr calls: False for a path (its last link is not
    followed), True for a descriptor, which takes no False."""
    return isinstance(path, int)


def _lstat(path: _Where) -> os.stat_result:
    return os.fstat(path) if isinstance(path, int) else os.lstat(path)


_NO_LIST = frozenset({errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.ENOENT})
"""getxattr's errno where there is no list: none kept, a file system that keeps none, or no
file."""


def acl_entries(path: _Where, kind: str = ACL_ACCESS) -> list[AclEntry] | None:
    """The entries of ``path``'s list ``kind`` (`ACL_ACCESS` or `ACL_DEFAULT`), no link
    followed: [] for none (`_NO_LIST`), None for a list that is there but not in a form
    this reads, or that cannot be read (EACCES, EIO): what is not known to be closed counts
    as open."""
    try:
        raw = os.getxattr(path, kind, follow_symlinks=_xattr_follows(path))
    except OSError as exc:
        if exc.errno in _NO_LIST:
            return []
        return None
    if (
        len(raw) < 4
        or (len(raw) - 4) % _ACL_ENTRY.size
        or raw[:4] != _ACL_VERSION.to_bytes(4, "little")
    ):
        return None
    return [_ACL_ENTRY.unpack_from(raw, at) for at in range(4, len(raw), _ACL_ENTRY.size)]


def _allowed(entry: AclEntry, owner: int, gid: int) -> int:
    """What cardingest lets a group-class entry do (rwx as 0-7): all for one naming the
    owner, read and enter for the ``archive_group`` (the owning group, or named), nothing
    for any other account or group."""
    tag, _perm, ident = entry
    if tag == _ACL_USER:
        return 0o7 if ident == owner else 0
    group = gid if tag == _ACL_GROUP_OBJ else ident
    return 0o5 if _group is not None and group == _group else 0


def _mask(entries: list[AclEntry]) -> int | None:
    return next((perm for tag, perm, _id in entries if tag == _ACL_MASK), None)


def too_open_at(path: _Where, info: os.stat_result | None = None) -> int:
    """`too_open` of what is at ``path`` (``info``: its lstat), its access control list read
    where it has one beyond the mode (`setfacl -m u:nurse2:rwx`). The mode's group bits are
    then the list's mask, which the owning group and every account or group it names get at
    most; each of them counts here as `too_open` counts a group: the archive_group (owning or
    named) may read and enter, an entry naming the owner may do all, any other nothing. A
    list that cannot be read counts its mask whole."""
    info = _lstat(path) if info is None else info
    base = too_open(info.st_mode, info.st_gid)
    entries = acl_entries(path)
    if entries is None:
        return base | (info.st_mode & stat.S_IRWXG)
    mask = _mask(entries)
    if mask is None:
        return base
    extra = 0
    for entry in entries:
        if entry[0] in _ACL_GROUP_CLASS:
            extra |= entry[1] & mask & ~_allowed(entry, info.st_uid, info.st_gid)
    return (base & ~stat.S_IRWXG) | (extra << 3)


def extended_acl(path: _Where) -> bool:
    """Whether ``path`` has an access control list beyond its mode (a mask, named entries),
    or one that cannot be read: its mode's group bits are then not the owning group's."""
    entries = acl_entries(path)
    return entries is None or _mask(entries) is not None


def has_acl(path: _Where, kind: str = ACL_ACCESS) -> bool:
    """Whether ``path``'s list ``kind`` names an account other than the owner, or a group
    other than the ``archive_group``, with some access (a list that cannot be read counts).
    For a folder's default list (`ACL_DEFAULT`, `setfacl -d -m …`), inherited by what is
    made in it: only where cardingest gives what it makes group bits (an ``archive_group``),
    without which its files' and folders' masks let no entry in."""
    if kind == ACL_DEFAULT and _group is None:
        return False
    entries = acl_entries(path, kind)
    if entries is None:
        return True
    if not any(tag in _ACL_NAMED for tag, _perm, _id in entries):
        return False
    try:
        info = _lstat(path)
    except OSError:
        return True
    return any(
        tag in _ACL_NAMED and perm & ~_allowed((tag, perm, ident), info.st_uid, info.st_gid)
        for tag, perm, ident in entries
    )


def _closed_entries(entries: list[AclEntry], owner: int, gid: int) -> list[AclEntry]:
    """``entries`` with what `too_open_at` finds taken off: each group-class entry left its
    permissions within the mask and what `_allowed` lets it have, an entry naming another
    account or group left nothing dropped, and the mask the most of those left. Where no
    named entry is left the mask goes too (the owning group keeping what it had), so the
    list is the mode's own, and the kernel keeps it as the mode."""
    mask = _mask(entries)
    limit = 0o7 if mask is None else mask
    kept: list[AclEntry] = []
    for tag, perm, ident in entries:
        if tag in _ACL_GROUP_CLASS:
            perm &= limit & _allowed((tag, perm, ident), owner, gid)
            if tag in _ACL_NAMED and not perm:
                continue
        if tag != _ACL_MASK:
            kept.append((tag, perm, ident))
    if any(tag in _ACL_NAMED for tag, _perm, _id in kept):
        most = 0
        for tag, perm, _id in kept:
            if tag in _ACL_GROUP_CLASS:
                most |= perm
        kept.append((_ACL_MASK, most, _UNDEFINED_ID))
    return kept


_UNDEFINED_ID = 0xFFFFFFFF
"""The id of an entry that names no one (the owner's, the owning group's, the mask, others)."""


def close_acl(path: _Where) -> bool:
    """Take from ``path``'s access control list what `too_open_at` finds (`_closed_entries`),
    and from a folder's default list the entries `has_acl` counts, no link followed: a default
    list that names no one after is removed, so the umask counts again there. A list that
    cannot be read in its form is removed whole (the mode's bits then say who may use it).
    Whether anything changed. OSError as the kernel answers (PermissionError: only the owner
    or root may)."""
    info = _lstat(path)
    follows = _xattr_follows(path)
    changed = False
    entries = acl_entries(path)
    if entries is None:
        os.removexattr(path, ACL_ACCESS, follow_symlinks=follows)
        changed = True
    elif _mask(entries) is not None:
        closed = _closed_entries(entries, info.st_uid, info.st_gid)
        if sorted(closed) != sorted(entries):
            os.setxattr(path, ACL_ACCESS, _acl_value(closed), follow_symlinks=follows)
            changed = True
    if stat.S_ISDIR(info.st_mode) and has_acl(path, ACL_DEFAULT):
        _close_default(path, info)
        changed = True
    return changed


def _close_default(path: _Where, info: os.stat_result) -> None:
    default = acl_entries(path, ACL_DEFAULT)
    named = [] if default is None else _closed_entries(default, info.st_uid, info.st_gid)
    follows = _xattr_follows(path)
    if any(tag in _ACL_NAMED for tag, _perm, _id in named):
        os.setxattr(path, ACL_DEFAULT, _acl_value(named), follow_symlinks=follows)
    else:
        os.removexattr(path, ACL_DEFAULT, follow_symlinks=follows)


def close_default_acl(folder: Path) -> None:
    """`close_acl`'s part for ``folder``'s default list alone, where `has_acl` counts one: a
    folder whose files other programs make (SQLite's ``-wal`` and ``-shm`` in
    ``.cardingest``) inherit none of its entries. Left as it is where this account may not
    change it (`verify` names the folder)."""
    if has_acl(folder, ACL_DEFAULT):
        with contextlib.suppress(OSError):
            _close_default(folder, os.lstat(folder))


def _acl_value(entries: list[AclEntry]) -> bytes:
    """The extended attribute's bytes for ``entries`` (sorted as the kernel wants them)."""
    return _ACL_VERSION.to_bytes(4, "little") + b"".join(
        _ACL_ENTRY.pack(*entry) for entry in sorted(entries, key=lambda e: (e[0], e[2]))
    )


def take_access(path: str, chmod: Callable[[int], None]) -> None:
    """Take from what is at ``path`` (no link followed) what `too_open_at` finds: its access
    control lists closed (`close_acl`), then its mode's bits by ``chmod`` (given the new
    mode: the caller's way to the file without a link). OSError as the kernel answers."""
    close_acl(path)
    now = os.lstat(path)
    extra = too_open_at(path, now)
    if extra:
        chmod(stat.S_IMODE(now.st_mode) & ~extra)


ACL_NAMES = "the accounts or groups its access control list names (getfacl shows them)"
DEFAULT_ACL_OPENS = (
    "default access control list opens what other programs put in it to the accounts or "
    "groups it names (getfacl shows them)"
)
"""A folder's default list that names others (`has_acl`): cardingest's own files and
folders made in it have those entries taken off (`_drop_inherited`); anything else's keep
them."""


def exposure(mode: int, gid: int, acl: bool = False, bits: int | None = None) -> str:
    """Who `too_open` (or ``bits``: `too_open_at`) lets in, in words: "open to other
    accounts", "open to group users while no archive_group is set", "writable by group
    staff"; '' for nobody. With ``acl`` (`extended_acl`) the group bits are the list's, and
    said as such."""
    bits = too_open(mode, gid, acl) if bits is None else bits
    name = group_name(gid)
    if acl and bits & (GROUP_READ | stat.S_IWGRP):
        others = "other accounts and " if bits & OTHERS else ""
        writable = ", and writable by them" if bits & stat.S_IWGRP else ""
        return f"open to {others}{ACL_NAMES}{writable}"
    readers = ["other accounts"] if bits & OTHERS else []
    if bits & GROUP_READ:
        readers.append(f"group {name}")
    said = f"open to {' and '.join(readers)}" if readers else ""
    if bits & GROUP_READ:
        said += (
            " while no archive_group is set"
            if _group is None
            else f", which is not the archive_group {group_name(_group)}"
        )
    if bits & stat.S_IWGRP:
        writers = "that group" if bits & GROUP_READ else f"group {name}"
        said = f"{said}, and writable by {writers}" if said else f"writable by {writers}"
    return said


def changeable_by_others(path: Path, trusted: Collection[int] = ()) -> str | None:
    """Why another account can change the file at ``path``, or put another in its place (it
    belongs to that account, its mode lets a group or everyone write, or its folder does),
    in words; None if none can. Root's files and folders are trusted, as root could do
    anything, and those of the accounts in ``trusted``; so is a sticky folder (``/tmp``)."""
    me = os.geteuid()
    try:
        status, folder = os.stat(path), os.stat(path.resolve().parent)
    except (OSError, RuntimeError):
        return None
    if stat.S_ISCHR(status.st_mode) and status.st_uid == 0:  # /dev/null: nothing to change
        return None
    if status.st_uid not in (me, 0, *trusted):
        return f"belongs to {account_name(status.st_uid)}"
    if status.st_mode & 0o022:
        who = "every account" if status.st_mode & 0o002 else "its group"
        return f"can be changed by {who} (mode {status.st_mode & 0o777:04o})"
    if swappable_in(folder, trusted) or open_to_swaps(path) is not None:
        return "is in a folder other accounts can change (they could put another in its place)"
    return None


def swappable_in(folder: os.stat_result, trusted: Collection[int] = ()) -> str | None:
    """Why another account could rename what is in ``folder`` and put something of its own
    at that name, in words: the folder is theirs (not this account's, root's or one in
    ``trusted``), or others may write in it without the sticky bit ``/tmp`` has. None if
    no other account can."""
    if folder.st_uid not in (os.geteuid(), 0, *trusted):
        return f"belongs to {account_name(folder.st_uid)}"
    if folder.st_mode & 0o022 and not folder.st_mode & stat.S_ISVTX:
        return (
            "may be written by other accounts without the sticky bit "
            f"(mode {stat.filemode(folder.st_mode)})"
        )
    return None
