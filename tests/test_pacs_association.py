"""Why an association failed, told apart by whether the PACS answered at all (loopback).

A PACS that refuses a calling AE may close the connection right after its rejection, and a
busy machine then sees only the close: the message must still point at the AE titles, not
at a PACS that is down. Nothing listening is "does not answer".
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from cardingest.errors import PacsError
from cardingest.export.pacs import DimseClient
from cardingest.export.settings import PacsConfig


@pytest.fixture
def closes_at_once() -> Iterator[int]:
    """A TCP server on loopback that accepts each connection and closes it unanswered."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)  # wakes the accept
        server.close()
        thread.join(timeout=10)
        assert not thread.is_alive()


def config(port: int) -> PacsConfig:
    return PacsConfig(
        host="127.0.0.1", port=port, ae_title="TESTPACS", calling_ae_title="STRANGER", timeout=3
    )


def test_a_pacs_that_hangs_up_points_at_the_ae_titles(closes_at_once: int) -> None:
    with pytest.raises(PacsError) as failure, DimseClient(config(closes_at_once)):
        pass
    message = str(failure.value)
    assert "did not accept the association" in message, message
    assert "'TESTPACS'" in message and "'STRANGER'" in message
    assert "does not answer" not in message


def test_nothing_listening_does_not_answer() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(PacsError) as failure, DimseClient(config(port)):
        pass
    assert "does not answer (down, or wrong host/port?)" in str(failure.value)


def test_the_pacs_is_named_by_its_ae_title_and_address() -> None:
    """A PACS whose AE title is PACS, the usual one, was "PACS PACS at 127.0.0.1:…"."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    named = replace(config(port), ae_title="PACS")
    with pytest.raises(PacsError) as failure, DimseClient(named):
        pass
    said = str(failure.value)
    assert said.startswith(f"PACS (AE title PACS) at 127.0.0.1:{port} does not answer"), said
