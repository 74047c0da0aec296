"""What every command shares: error handling, IDs and dates given to look up, plan preparation
and display (the option types are in ``options``)."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from ..errors import (
    EXIT_HELD,
    EXIT_OK,
    CardChangedError,
    CardGoneError,
    CardingestError,
    CardReadError,
    CardSwappedError,
    Interrupted,
    OutputError,
    SourceError,
    UsageError,
)
from ..ids import validate_id
from ..models import Card, IdMap, Settings
from ..text import keyword_problem, keyword_text, printable, undecodable
from . import documents, output
from .interactive import ask_idmap
from .output import escape
from .signals import command_begins, command_ended

if TYPE_CHECKING:  # the card reader and the planner load when a plan is made, not for --help
    from ..ingest import IngestResult
    from ..plan.assign import Group
    from ..prepare import Prepared

F = TypeVar("F", bound=Callable[..., Any])
GroupsHook = Callable[[Path, Sequence["Group"], timedelta], None]


SHOWN_DETAILS = 100
"""Details an error shows on the terminal (a map of 100,000 rows that fit no card gave as
many lines); ``--json`` carries them all."""


def say_error(exc: CardingestError) -> None:
    """``exc``'s message and details on stderr."""
    output.err.print(f"[red]error:[/] {escape(exc.message)}")
    for detail in exc.details[:SHOWN_DETAILS]:
        output.err.print(f"  {escape(detail)}")
    if len(exc.details) > SHOWN_DETAILS:
        output.err.print(
            f"  … and {len(exc.details) - SHOWN_DETAILS} more (--json lists every one)"
        )
        for detail in exc.details[SHOWN_DETAILS:]:  # what to do, after the lines at fault
            if not detail.startswith("line "):
                output.err.print(f"  {escape(detail)}")


def fail(exc: CardingestError, as_json: bool) -> typer.Exit:
    say_error(exc)
    cut_short = output.document_cut_short()  # stdout holds part of one: it is said on stderr
    if as_json and not isinstance(exc, OutputError) and not cut_short:
        output.emit_json(documents.error(exc))  # (an OutputError: no document can reach it)
    return typer.Exit(exc.exit_code)


def refuse_option_as_value() -> None:
    """Click gives an option the next word whatever it is: ``verify --id --json`` looked up a
    patient called "--json", and ``ingest --archive --dryrun`` (a typo) filed the photos in a
    folder called ``--dryrun``. No ID, file, folder or keyword starts with ``--``, so such a
    value is exit 2 (a full path still names a file of that name)."""
    try:  # typer 0.26 and later carry their own copy of Click
        from typer._click.globals import get_current_context
    except ImportError:
        from click.globals import get_current_context  # type: ignore[no-redef, import-not-found, unused-ignore]

    ctx = get_current_context(silent=True)
    if ctx is None:
        return
    params = ctx.command.get_params(ctx)
    names = option_names(params)
    for param in params:
        if not takes_value(param) or not param.name:
            continue
        given = ctx.params.get(param.name)
        for value in given if isinstance(given, list | tuple) else (given,):
            if isinstance(value, str | PurePath) and str(value).startswith("--"):
                raise option_as_value(param.opts[0], str(value), names)


def option_names(params: Sequence[Any]) -> set[str]:
    """Every name of a command's Click parameters (``--id``, ``--json``, ``--no-…``)."""
    return {name for param in params for name in (*param.opts, *param.secondary_opts)}


def takes_value(param: Any) -> bool:
    """Whether a Click parameter is an option that takes the next word as its value."""
    return param.param_type_name == "option" and not getattr(param, "is_flag", True)


def option_as_value(option: str, value: str, names: set[str]) -> UsageError:
    """The error for ``option`` given ``value``, a word that starts with ``--``."""
    if value.split("=")[0] in names:
        return UsageError(
            f"{option} needs a value, and got the option {value}: give {option} its value first"
        )
    return UsageError(
        f"{option} got {value}, which looks like an option, not a value: give {option} its "
        "value first (a file or folder of that name: give its full path)"
    )


def handles_errors(command: F) -> F:
    """Turn every CardingestError into its message and exit code, in one place."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        command_begins()
        try:
            refuse_option_as_value()
            return command(*args, **kwargs)
        except CardingestError as exc:
            error = exc
        except KeyboardInterrupt:
            error = Interrupted("Interrupted. Nothing is left half-written; run again to finish.")
        except RuntimeError as exc:  # Path.resolve before Python 3.13: a symbolic-link loop
            if not str(exc).startswith("Symlink loop"):
                raise
            error = UsageError(
                f"{exc}: a folder given leads round a loop of symbolic links; give a real one"
            )
        except PermissionError as exc:  # one not foreseen where it arose: a message all the same
            error = CardingestError(
                f"Permission denied: {exc.filename or exc}. This account may not read or "
                "change it; nothing further was done."
            )
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                raise
            error = UsageError(
                f"{printable(str(exc.filename or exc))}: this path is too long for the file "
                "system (a name may have 255 bytes, a whole path 4,096); give a shorter one"
            )
        finally:
            command_ended()  # the exit code is known: a signal now would only change it
        raise fail(error, as_json) from None

    return wrapper  # type: ignore[return-value]


def refuse_misplaced_file(
    path: Path | None, option: str, settings: Settings, source: str | None = None
) -> None:
    """A file a command writes for people (a contact sheet, a map): on no camera card
    (`refuse_on_card`), not in the archive, its backup or a view of the running system
    (`backend.refuse_inside_archive`), and below no folder every account may write in
    without the sticky bit (`modes.refuse_swappable`). Exit 2 before anything is made."""
    from ..archive.backend import refuse_inside_archive
    from ..storage import modes

    refuse_on_card(path, option, source)
    refuse_inside_archive(path, option, settings.archive, settings.backup)
    modes.refuse_swappable(path, option)


def refuse_on_card(path: Path | None, option: str, source: str | None = None) -> None:
    """Patient data (a sheet, a map, shared or DICOM copies, a slate) written on a camera card
    would stay there after the wipe, which takes only photos, and go back into the camera:
    exit 2 before anything is made. The command's own card counts (``source``: the card or
    folder it reads, also given as its DCIM or a folder inside), and so does every mounted
    camera card; judged by device and inode, so a bind mount or a link is no way round."""
    if path is None:
        return
    from ..card.detect import card_top, find_cards, resolve_source
    from ..storage.identity import inside_by_identity

    tops: list[tuple[Path, str]] = []
    if source is not None:
        root, card = resolve_source(source)
        where = "the card" if card is not None else "the folder read as the card"
        tops.append((card_top(root, card), f"{where} ({root})"))
    tops += [(Path(card.mount), f"the card ({card.mount})") for card in find_cards()]
    place = path.expanduser().absolute()
    for top, shown in tops:
        if inside_by_identity(place, top):
            raise UsageError(
                f"{option} {path} is on {shown}; write it where the clinic keeps its records, "
                "not with the photos it reads (the next ingest or wipe of them would meet it)"
            )
    with contextlib.suppress(OSError, RuntimeError):
        if "dcim" in (n.lower() for n in place.resolve().parts):  # a card copied to a folder
            raise UsageError(
                f"{option} {path} is in a DCIM folder, where a camera keeps its photos: the "
                "next ingest of it would take what is written there for photos. Write it "
                "where the clinic keeps its records"
            )


def slates_setting(settings: Settings, flag: bool | None) -> tuple[Settings, bool]:
    """``--slates`` / ``--no-slates`` / neither: the settings (``--no-slates`` turns the
    config's ``slates = true`` off for this run) and whether this run reads by slates."""
    if flag is False:
        return replace(settings, slates=False), False
    return settings, bool(flag)


def lookup_id(raw: str, settings: Settings) -> str:
    """An ID to look up: checked and normalised; test-range IDs are found if archived."""
    return validate_id(raw, settings.id_scheme, pattern=settings.id_pattern, allow_test_ids=True)


def diagnosis_filter(diagnosis: str | None) -> str | None:
    """A ``--diagnosis`` filter as given, refused when it could match nothing a keyword holds:
    empty or blank (an unset variable in a script, which must not mean "every photo"), not
    UTF-8, holding the ';' keywords are split at, or what `keyword_problem` refuses (a
    line break from a script's variable)."""
    if diagnosis is None:
        return None
    if not diagnosis.strip():
        raise UsageError("--diagnosis is empty")
    if undecodable(diagnosis):
        raise UsageError(
            f"--diagnosis {printable(diagnosis)} holds bytes that are not UTF-8 text, which no "
            "keyword holds; check the terminal's character set"
        )
    if ";" in diagnosis:
        raise UsageError(
            f"--diagnosis {printable(diagnosis)}: a keyword holds no ';' (tag and the map "
            "split keywords there); give one keyword at a time"
        )
    keyword = keyword_text(diagnosis)
    problem = keyword_problem(keyword)
    if problem is not None:
        raise UsageError(
            f"--diagnosis {problem}; tag and the ID map refuse such a keyword, so it would "
            "match nothing"
        )
    return keyword


def parse_day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a date like 2026-11-25") from None


def parse_range(
    start: str | None, end: str | None, names: tuple[str, str] = ("--from", "--to")
) -> tuple[date | None, date | None]:
    """Two days, the first not after the last (``names``: their options, for the message)."""
    first, last = parse_day(start, names[0]), parse_day(end, names[1])
    if first and last and first > last:
        raise UsageError(f"{names[0]} {first} is after {names[1]} {last}")
    return first, last


def run_prepare(
    source: str | None,
    settings: Settings,
    *,
    map_file: Path | None,
    patient_id: str | None,
    clock_offset: timedelta,
    interactive: bool = False,
    slates: bool = False,
    show_groups: GroupsHook | None = None,
) -> Prepared:
    return scan_card(
        *check_inputs(
            source,
            settings,
            map_file,
            patient_id,
            interactive=interactive,
            slates=slates,
            show_groups=show_groups,
            clock_offset=clock_offset,
        ),
        settings,
        clock_offset,
        card_expected=False,
    )


def check_inputs(
    source: str | None,
    settings: Settings,
    map_file: Path | None,
    patient_id: str | None,
    *,
    interactive: bool = False,
    slates: bool = False,
    show_groups: GroupsHook | None = None,
    card_expected: bool = False,
    clock_offset: timedelta = timedelta(0),
) -> tuple[Path, Card | None, IdMap]:
    """The ID map and the source, checked before anything is created (even a lock file).

    ``interactive`` (a terminal, neither --map nor --id) asks for the IDs group by group,
    after ``show_groups`` (the groups' contact sheet), its warning of a camera clock that
    looks wrong judged after ``clock_offset``. ``card_expected``: ``source`` is where
    ``watch`` saw a card, and it must be one still.
    """
    from ..plan.idmap import BadRowsError
    from ..prepare import check_separate, load_idmap, with_card_problems

    idmap = load_idmap(map_file, patient_id, settings, slates=slates) if slates else None
    if settings.slates and map_file is None and patient_id is None:
        interactive = False
    if interactive and map_file is None and patient_id is None and idmap is None:
        root, card = _source(source, card_expected)
        check_separate(root, settings)
        asked = ask_idmap(root, settings, show_groups, clock_offset)
        _same_card_still(root, card)
        return root, card, asked
    try:
        idmap = idmap or load_idmap(map_file, patient_id, settings)
    except BadRowsError as exc:
        raise with_card_problems(exc, source) from None
    root, card = _source(source, card_expected)
    check_separate(root, settings)
    return root, card, idmap


def _source(source: str | None, card_expected: bool) -> tuple[Path, Card | None]:
    """`resolve_source`; where a card was seen and is no longer mounted (pulled just after
    it was found), `CardGoneError` rather than an ingest of the empty folder left behind."""
    from ..card.detect import resolve_source

    if not card_expected:
        return resolve_source(source)
    try:
        root, card = resolve_source(source)
    except SourceError:
        raise card_gone(str(source)) from None
    if card is None:
        raise card_gone(str(source))
    return root, card


def _same_card_still(root: Path, card: Card | None) -> None:
    """After the questions at the terminal, which may wait for minutes: the card asked about
    is the one at ``root`` still (`watch.same_insertion`), not another put in at the same
    place (its answers would go to that card's photos of the same names)."""
    if card is None:
        return
    now = _card_at(root)
    if now is None:
        raise card_gone(str(root))
    if _is_another(card, now):
        raise CardChangedError(
            f"The card at {root} was changed while the IDs were asked (serial "
            f"{card.serial or '?'}, now {now.serial or '?'}): the answers were for the photos "
            "of the card shown, so nothing was copied."
        )


def swapped_during(root: Path, card: Card | None, result: IngestResult) -> CardSwappedError | None:
    """After an ingest with photos failed or held: where the card at ``root`` is another
    than the one scanned (swapped at the same mount point while the photos were copied),
    the error that says so (exit 1), said after the ingest's own report. The photos held as
    changed, or failed as gone, are the new card's or went with the first; the ``--id`` or
    map given, or the slates read, were for the first card, and advice to run again would
    file the new card under them."""
    if card is None or not any(o.action in ("failed", "hold") for o in result.outcomes):
        return None
    now = _card_at(root)
    if now is None or not _is_another(card, now):
        return None
    return CardSwappedError(
        f"The card at {root} was swapped for another while its photos were copied (serial "
        f"{card.serial or '?'}, now {now.serial or '?'}): {result.counts['copied']} photo(s) "
        "of the first card were copied and verified; the photos held or failed since are "
        "the other card's or went with the first, and none of the other card's was filed. "
        "The IDs given, or the slates read, were for the first card: check whose photos the "
        "card now in holds before ingesting it."
    )


def _card_at(root: Path) -> Card | None:
    from ..card.detect import resolve_source

    try:
        return resolve_source(str(root))[1]
    except (SourceError, CardGoneError):  # no card there now
        return None


def _is_another(card: Card, now: Card) -> bool:
    from ..card.watch import insertion, same_insertion

    return not same_insertion(insertion(card), insertion(now))


def card_gone(where: str, *, while_read: bool = False) -> CardGoneError:
    when = "while its photos were read" if while_read else "before it was read"
    return CardGoneError(
        f"The card at {where} was removed {when}: nothing was copied from it. "
        "Insert it and run the command again."
    )


def scan_and_plan(
    root: Path, card: Card | None, idmap: IdMap, settings: Settings, clock_offset: timedelta
) -> Prepared:
    from ..prepare import prepare

    with output.progress(True, bytes_mode=False) as bar:
        task = bar.add_task("Reading capture times", total=None) if bar else None

        def tick(_: str) -> None:
            if bar is not None and task is not None:
                bar.advance(task)

        return prepare(root, card, settings, idmap, clock_offset=clock_offset, on_file=tick)


def scan_card(
    root: Path,
    card: Card | None,
    idmap: IdMap,
    settings: Settings,
    offset: timedelta,
    *,
    card_expected: bool,
) -> Prepared:
    """`scan_and_plan`, and where a card was read, that it was still mounted then: one
    unmounted since it was found leaves its empty folder, whose scan finds no photos (or,
    pulled, cannot be read), and that is no ingest of the card (`card_gone`)."""
    try:
        prepared = scan_and_plan(root, card, idmap, settings, offset)
    except CardReadError:
        if card_expected and not _answers(root):
            raise card_gone(str(root)) from None
        raise
    if card is not None and not _answers(root):
        # Pulled while its photos were read (for their times, or slates): each file read
        # since failed, and would be held as a damaged photo, or fail in the copy.
        raise card_gone(str(root), while_read=bool(prepared.plan.items))
    return prepared


def _answers(mount: Path) -> bool:
    """Whether a card is still mounted at ``mount`` and its file system answers: unmounted,
    the folder is no mount point; pulled with its mount left behind (a FUSE driver gone), the
    folder still looks like one, and asking its size fails (ENOTCONN)."""
    try:
        shutil.disk_usage(mount)
    except OSError:
        return False
    return os.path.ismount(mount)


def show_plan(prepared: Prepared, archive_from: str, as_json: bool) -> int:
    plan = prepared.plan
    if as_json:
        output.emit_json(documents.plan(plan, prepared.card))
        output.print_warnings(plan.warnings)
    else:
        output.print_plan(plan, prepared.card, archive_from)
    return EXIT_HELD if plan.count("hold") else EXIT_OK
