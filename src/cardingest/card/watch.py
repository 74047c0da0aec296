"""Wait for camera cards and hand each new one over, once per insertion.

A card is handled once when it appears; it is accepted again only after it has gone away
(unmounted) and come back. Other cards are accepted meanwhile.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import EXIT_HELD, EXIT_OK, CardChangedError, CardGoneError, SourceError
from ..models import Card
from .detect import describe, find_cards
from .fusefat import fusefat_source
from .volume import read_volume_id

Notify = Callable[[str, Card], None]


def _quiet(_event: str, _card: Card) -> None:
    return None


def _find() -> list[Card]:
    return find_cards()


@dataclass
class Watcher:
    """Polls ``find`` every ``interval`` seconds; ``handled`` holds mount points to skip."""

    find: Callable[[], list[Card]] = _find
    sleep: Callable[[float], None] = time.sleep
    interval: float = 2.0
    notify: Notify = _quiet
    handled: dict[str, Card] = field(default_factory=dict)

    insertions: dict[str, tuple[object, ...]] = field(default_factory=dict)
    """What each handled card was when it was handled (`insertion`)."""

    gone: set[str] = field(default_factory=set)
    """Mount points of handled cards that went before they were read (`gone_before_read`):
    they leave without a second word."""

    alone: str | None = None
    """Set (to the option that names one card's patients, ``--id`` or ``--map``) when the
    card must be the only one in: a look that finds two raises SourceError, as an ingest
    without a SOURCE does, rather than file the first one's photos under them."""

    def poll(self) -> Card | None:
        """One look: forget handled cards that went away, or whose mount point now holds
        another card (swapped within one interval: a Canon's cards are all EOS_DIGITAL, and a
        desktop names the mount after the label); return the first new card, if any."""
        present = {card.mount: card for card in self.find()}
        if self.alone and len(present) > 1:
            raise SourceError(
                f"{len(present)} camera cards are in, and {self.alone} names the patients of "
                "one: take out all but the card to ingest, or give it as the SOURCE of "
                f"cardingest ingest {self.alone} …",
                details=[describe(card) for _, card in sorted(present.items())],
            )
        for mount in list(self.handled):
            now = present.get(mount)
            if now is None or not same_insertion(self.insertions.get(mount), insertion(now)):
                self.insertions.pop(mount, None)
                card = self.handled.pop(mount)
                if mount in self.gone:
                    self.gone.discard(mount)
                else:
                    self.notify("removed", card)
        fresh = [card for mount, card in sorted(present.items()) if mount not in self.handled]
        if not fresh:
            return None
        # Taken now, not when the card is done with: a swap during its ingest is a new card.
        self.insertions[fresh[0].mount] = insertion(fresh[0])
        return fresh[0]

    def next_card(self) -> Card:
        while True:
            card = self.poll()
            if card is not None:
                return card
            self.sleep(self.interval)

    def done_with(self, card: Card, code: int = EXIT_OK) -> None:
        """The card was handled, with the ingest's exit ``code``: it is taken again only once
        it was taken out. ``remove`` when its photos were archived (some held, maybe),
        ``failed`` when the ingest stopped with an error: it is not done with."""
        self.handled[card.mount] = card
        self.insertions.setdefault(card.mount, insertion(card))
        self.notify("remove" if code in (EXIT_OK, EXIT_HELD) else "failed", card)

    def gone_before_read(self, card: Card) -> None:
        """The card went between the look that found it and its ingest: nothing was read.
        It is new again once a look has found it gone (not at once: a mount the ingest does
        not take for a card would be tried again and again)."""
        self.handled[card.mount] = card
        self.insertions.setdefault(card.mount, insertion(card))
        self.gone.add(card.mount)
        self.notify("gone", card)


def insertion(card: Card) -> tuple[object, ...]:
    """What tells one insertion of a card from the next at the same mount point: its device,
    file system and size, and its volume (`volume_identity`). Not the photo count: the wipe
    changes it. Not the mounted file system's device number: FUSE hands the same one out
    again. Not a label the volume did not give: the mount point's name stands in for it."""
    return (card.device, card.fstype, card.total_bytes, volume_identity(card))


def same_insertion(before: tuple[object, ...] | None, now: tuple[object, ...]) -> bool:
    """Whether ``now`` can be the insertion ``before`` was. A part that cannot be read now
    (None) is no sign of another card: a card being unmounted still answers the mount table
    and its folder for a moment after its driver stopped naming its volume. A part read now
    and unknown before is: the next card's serial can be read where the last one's could
    not."""
    if before is None:
        return False
    return all(part is None or part == was for was, part in zip(before, now, strict=True))


def volume_identity(card: Card) -> tuple[str | None, ...] | None:
    """The card's volume serial and label where they can be read, None where not: the card's
    own (its device was readable), a fusefat mount's image (with the image's path: two
    images are two cards), or the name udev gives the device under ``/dev/disk/by-uuid``
    (readable without root)."""
    if card.serial:
        return (card.serial, card.label)
    if card.fstype.endswith("fusefat"):
        image = fusefat_source(card.mount)
        found = read_volume_id(image) if image else None
        return (image, found.serial, found.label) if found else None
    if not card.device.startswith("/dev/"):
        return None
    try:
        device = os.path.realpath(card.device)
        for link in os.scandir(BY_UUID):
            if os.path.realpath(link.path) == device:
                return (link.name,)
    except OSError:
        return None
    return None


BY_UUID = "/dev/disk/by-uuid"


def watch(handle: Callable[[Card], int], watcher: Watcher, *, once: bool = False) -> int:
    """Hand each newly inserted card to ``handle``; returns its exit code when ``once``.

    Runs until interrupted (KeyboardInterrupt propagates) unless ``once``. A card that
    ``handle`` finds gone before anything was read (`CardGoneError`) is no card handled,
    even with ``once``: it is taken when it is inserted again. Nor is one that changed while
    its IDs were asked, nothing copied (`CardChangedError`): the card now there is asked
    about at once.
    """
    while True:
        card = watcher.next_card()
        watcher.notify("card", card)
        try:
            code = handle(card)
        except CardGoneError:
            watcher.gone_before_read(card)
            continue
        except CardChangedError:  # nothing was copied: the card now there is asked about
            watcher.notify("changed", card)
            continue
        if once:
            return code
        watcher.done_with(card, code)
