"""Wait for camera cards and hand each new one over, once per insertion.

A card is handled once when it appears; it is accepted again only after it has gone away
(unmounted) and come back. Other cards are accepted meanwhile.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..models import Card
from .detect import find_cards
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

    def poll(self) -> Card | None:
        """One look: forget handled cards that went away, or whose mount point now holds
        another card (swapped within one interval: a Canon's cards are all EOS_DIGITAL, and a
        desktop names the mount after the label); return the first new card, if any."""
        present = {card.mount: card for card in self.find()}
        for mount in list(self.handled):
            now = present.get(mount)
            if now is None or insertion(now) != self.insertions.get(mount):
                self.insertions.pop(mount, None)
                self.notify("removed", self.handled.pop(mount))
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

    def done_with(self, card: Card) -> None:
        self.handled[card.mount] = card
        self.insertions.setdefault(card.mount, insertion(card))
        self.notify("remove", card)


def insertion(card: Card) -> tuple[object, ...]:
    """What tells one insertion of a card from the next at the same mount point: its device,
    label, size and file system, and its volume serial, which each formatting gives anew.
    Not the photo count: the wipe changes it. Not the mounted file system's device number:
    FUSE hands the same one out again."""
    return (card.device, card.label, card.fstype, card.total_bytes, volume_serial(card))


def volume_serial(card: Card) -> str | None:
    """The card's volume serial, wherever it can be read: the card's own (its device was
    readable), a fusefat mount's image (with the image's path: two images are two cards), or
    the name udev gives the device under ``/dev/disk/by-uuid`` (readable without root)."""
    if card.serial:
        return card.serial
    if card.fstype.endswith("fusefat"):
        image = fusefat_source(card.mount)
        found = read_volume_id(image) if image else None
        return f"{image}:{found.serial if found else ''}" if image else None
    if not card.device.startswith("/dev/"):
        return None
    try:
        device = os.path.realpath(card.device)
        for link in os.scandir(BY_UUID):
            if os.path.realpath(link.path) == device:
                return link.name
    except OSError:
        return None
    return None


BY_UUID = "/dev/disk/by-uuid"


def watch(handle: Callable[[Card], int], watcher: Watcher, *, once: bool = False) -> int:
    """Hand each newly inserted card to ``handle``; returns its exit code when ``once``.

    Runs until interrupted (KeyboardInterrupt propagates) unless ``once``.
    """
    while True:
        card = watcher.next_card()
        watcher.notify("card", card)
        code = handle(card)
        if once:
            return code
        watcher.done_with(card)
