"""Wait for camera cards and hand each new one over, once per insertion.

A card is handled once when it appears; it is accepted again only after it has gone away
(unmounted) and come back. Other cards are accepted meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..models import Card
from .detect import find_cards

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

    def poll(self) -> Card | None:
        """One look: forget handled cards that went away; return the first new card, if any."""
        present = {card.mount: card for card in self.find()}
        for mount in [m for m in self.handled if m not in present]:
            self.notify("removed", self.handled.pop(mount))
        fresh = [card for mount, card in sorted(present.items()) if mount not in self.handled]
        return fresh[0] if fresh else None

    def next_card(self) -> Card:
        while True:
            card = self.poll()
            if card is not None:
                return card
            self.sleep(self.interval)

    def done_with(self, card: Card) -> None:
        self.handled[card.mount] = card
        self.notify("remove", card)


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
