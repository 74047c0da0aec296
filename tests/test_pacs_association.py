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


@contextlib.contextmanager
def serving(answer: bytes | None) -> Iterator[int]:
    """A TCP server on loopback that closes each connection unanswered (``answer`` None),
    or reads the association request, answers ``answer`` and closes."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                if answer is None:
                    continue
                head = _read(conn, 6)  # an A-ASSOCIATE-RQ: its type, a byte, its length
                _read(conn, int.from_bytes(head[2:6], "big"))
                conn.sendall(answer)
                conn.shutdown(socket.SHUT_WR)
                conn.settimeout(1)  # the caller's abort is read, so the close is no reset
                with contextlib.suppress(OSError):
                    conn.recv(4096)

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


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = conn.recv(size - len(data))
        if not piece:
            break
        data += piece
    return data


@pytest.fixture
def closes_at_once() -> Iterator[int]:
    with serving(None) as port:
        yield port


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


def test_a_port_that_is_not_dicom_says_so() -> None:
    """A trial: [pacs] port set to Orthanc's web port (8042) was "did not accept the
    association (check ae_title …)", and the AE titles were right."""
    answer = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    with serving(answer) as port, pytest.raises(PacsError) as failure, DimseClient(config(port)):
        pass
    said = str(failure.value)
    assert "answered with what is not DICOM: check [pacs] port" in said, said
    assert "ae_title" not in said


def test_a_pacs_that_takes_no_jpeg_says_so_not_the_ae_titles() -> None:
    """A trial: dcmtk's storescp, which by default stores uncompressed images only, accepts
    the association with none of the contexts asked for; the message blamed the AE titles.
    A real pynetdicom SCP on loopback that stores CT images only."""
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    scp = AE(ae_title="TESTPACS")
    scp.add_supported_context(CTImageStorage)
    server = scp.start_server(("127.0.0.1", 0), block=False)
    try:
        port = server.server_address[1]
        with pytest.raises(PacsError) as failure, DimseClient(config(port)):
            pass
    finally:
        server.shutdown()
    said = str(failure.value)
    assert "does not accept VL Photographic Images in JPEG Baseline" in said, said
    assert "the AE titles agree" in said and "'STRANGER'" in said
