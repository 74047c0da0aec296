"""Ctrl-C held back across a step that must not be cut in two.

An ingest takes a published copy's result and writes its catalogue row in memory: a
KeyboardInterrupt between the two left a photo under its final name with no row until the
next ingest read it back from the publish journal (`archive.journal`). Python raises
KeyboardInterrupt at any bytecode of the main thread, so such a step is run with SIGINT's
handler swapped for one that only notes the signal; the handler that was in place gets it
when the step is over. SIGTERM and SIGHUP, which the console script routes to SIGINT's
handler (`cli.signals`), are held the same way.

Only the main thread can set handlers: elsewhere, or where the handler cannot be read,
nothing is held (no KeyboardInterrupt reaches other threads anyway).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def held_interrupts() -> Iterator[None]:
    """Within the block a SIGINT is noted, not acted on; at its end the handler that was in
    place gets each one that came, in order (Python's own raises KeyboardInterrupt there).
    Where SIGINT is ignored (a background job) a SIGTERM or SIGHUP routed to it raises
    KeyboardInterrupt, as `cli.signals.as_ctrl_c` does, and a SIGINT stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[tuple[int, FrameType | None]] = []

    def note(signum: int, frame: FrameType | None) -> None:
        came.append((signum, frame))

    previous = signal.getsignal(signal.SIGINT)
    if previous is None:  # set outside Python: it cannot be put back
        yield
        return
    signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        for signum, frame in came:
            if callable(previous):
                previous(signum, frame)
            elif signum != signal.SIGINT:
                raise KeyboardInterrupt
