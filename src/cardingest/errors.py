"""One exception type per kind of failure; the CLI maps each to a message and an exit code.

Exit codes (the contract scripts rely on):
0 all done; 1 runtime failure; 2 input the user must fix (nothing was copied);
3 done, but some files were held on the card.

A failure to write standard error never changes the exit code (`OutputError` is stdout's).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_HELD = 3
EXIT_INTERRUPTED = 130


def combined_exit(*codes: int) -> int:
    """The exit code of steps run one after another (an ingest, then its send and wipe): a
    failure in any is 1, whatever a later step did; else the largest (3, some held)."""
    return EXIT_FAILURE if EXIT_FAILURE in codes else max(codes)


class CardingestError(Exception):
    """Base class: every failure a user can cause or meet is one of these."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details or [])

    def stopped_midway(self, said: str) -> None:
        """For an error met after a command had changed things (a copy made, a file removed):
        ``said`` says what, in place of the "Nothing was … changed" of an error met first."""
        self.details = [
            said,
            *(line for line in self.details if not line.startswith("Nothing was")),
        ]


class UsageError(CardingestError):
    """Flags or arguments that do not make sense together."""

    exit_code = EXIT_USAGE


class ConfigError(CardingestError):
    """A bad config file, environment variable or setting."""

    exit_code = EXIT_USAGE


class InvalidIdError(CardingestError):
    """A patient ID that fails its scheme's checks or could form a path."""

    exit_code = EXIT_USAGE


class MapError(CardingestError):
    """One or more problems in an ID map; `details` lists every one with its line."""

    exit_code = EXIT_USAGE


class SourceError(CardingestError):
    """No card, several cards, or a source folder that cannot be read."""

    exit_code = EXIT_USAGE


class CardReadError(CardingestError):
    """The card (or source folder) stopped answering while it was being read."""

    exit_code = EXIT_FAILURE


class CardGoneError(CardReadError):
    """A card found mounted was gone before its scan read it, or by the end of its scan
    (unmounted, or pulled with its mount left dead): nothing was copied from it. ``watch``
    waits for it again."""


class CardChangedError(CardReadError):
    """Another card was put in at the mount point of the one whose IDs were asked, or photos
    asked about left it: the answers were for the photos shown, so nothing was copied.
    ``watch`` asks about the card now there."""

    def __init__(self, message: str) -> None:
        again = "Run the command again to be asked about the photos on the card as it is now."
        super().__init__(message, details=[again])


class CardSwappedError(CardReadError):
    """Another card was put in at the mount point while the photos of the first were copied:
    what was copied is the first card's, and the rest is held."""


class ArchiveLockedError(CardingestError):
    """Another ingest or wipe holds the archive."""

    exit_code = EXIT_FAILURE


class InsufficientSpaceError(CardingestError):
    """A destination does not have room for the planned copies."""

    exit_code = EXIT_FAILURE


class ArchiveError(CardingestError):
    """The archive (or backup) cannot be created, written or read."""

    exit_code = EXIT_FAILURE


class ShareError(ArchiveError):
    """The share folder cannot be created or written."""


class CatalogueError(CardingestError):
    """The catalogue database is unreadable, from a newer cardingest, or holds a value
    cardingest never writes (a row edited by hand: `catalogue.DamagedRecord`)."""

    exit_code = EXIT_FAILURE


class NoArchiveError(CatalogueError):
    """The folder given as the archive holds none: most often a wrong ``--archive``."""

    exit_code = EXIT_USAGE


class CardWriteError(CardingestError):
    """The card is read-only, write-protected or gone while removing files."""

    exit_code = EXIT_FAILURE


class ConfirmationRequired(CardingestError):
    """A destructive step needs --yes when there is no terminal to ask on."""

    exit_code = EXIT_USAGE


class AuditError(CardingestError):
    """The audit log's hash chain is broken or the log cannot be written."""

    exit_code = EXIT_FAILURE


class Interrupted(CardingestError):
    """Ctrl-C: stopped cleanly; the message says how far it got."""

    exit_code = EXIT_INTERRUPTED


class SheetError(CardingestError):
    """The contact sheet (``--sheet``) cannot be written."""

    exit_code = EXIT_FAILURE


class OutputError(CardingestError):
    """Standard output failed while the command ran (a disk that filled, a reader that went):
    the report is lost, so nothing further is done (no send, no wipe); what was done stands,
    and the message says what that was."""

    exit_code = EXIT_FAILURE


class UnwritableOutputError(OutputError):
    """Standard output cannot be written when the command starts (closed, ``/dev/full``, a
    pipe nobody reads): refused before anything is done."""

    exit_code = EXIT_USAGE


WHEN_PACS_ANSWERS = "when the PACS answers"
"""When to send again after a PACS stopped a send, unless its error says otherwise."""


class PacsError(CardingestError):
    """The PACS is down, refused the association or a photo, or did not confirm it.

    ``retry``: when to send again, for the user (the PACS answering, or a setting fixed)."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, retry: str = WHEN_PACS_ANSWERS) -> None:
        super().__init__(message)
        self.retry = retry
