"""Lossless transforms with jpegtran: turn a photo upright, or recode progressive as baseline.

DICOM viewers ignore EXIF Orientation, so a portrait photo would show on its side. jpegtran
(libjpeg-turbo) rearranges the JPEG's DCT blocks without decoding them: the pixels are the
camera's, turned. ``-perfect`` refuses when the image's edge blocks cannot be moved whole;
then the photo goes unrotated and the caller says so. The archived file is never touched.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from .jpeg import JpegInfo, jpeg_info

JPEGTRAN_TIMEOUT = 300
_TRANSFORMS: dict[int, tuple[str, ...]] = {
    2: ("-flip", "horizontal"),
    3: ("-rotate", "180"),
    4: ("-flip", "vertical"),
    5: ("-transpose",),
    6: ("-rotate", "90"),
    7: ("-transverse",),
    8: ("-rotate", "270"),
}
_SWAPS = frozenset({5, 6, 7, 8})


@dataclass(frozen=True)
class Frame:
    """The JPEG bytes that go into the DICOM file, and what was done to get them."""

    data: bytes
    info: JpegInfo
    transform: str | None = None
    """e.g. ``jpegtran -rotate 90``; None when the bytes are the archived photo's own."""
    note: str | None = None
    """Why the photo goes as it is although it asks to be turned (said to the user)."""


class NotSendable(Exception):
    """This JPEG cannot be encapsulated as JPEG Baseline (the message says why)."""


def jpegtran_path() -> str | None:
    return shutil.which("jpegtran")


def _run(args: list[str], data: bytes) -> bytes:
    result = subprocess.run(
        args, input=data, capture_output=True, timeout=JPEGTRAN_TIMEOUT, check=False
    )
    if result.returncode != 0 or not result.stdout:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        last = message[-1].removeprefix(f"{args[0]}: ") if message else ""
        raise OSError(last or f"jpegtran exit {result.returncode}")
    return result.stdout


def upright_frame(data: bytes, info: JpegInfo | None = None) -> Frame:
    """The frame to encapsulate: the photo itself, or its lossless upright/baseline recoding.

    Raises :class:`NotSendable` for a JPEG that cannot become Baseline without re-encoding.
    """
    info = info or jpeg_info(data)
    if info.precision != 8 or info.components not in (1, 3):
        raise NotSendable(
            f"a {info.precision}-bit JPEG with {info.components} components is not JPEG Baseline"
        )
    recode = info.process != "baseline"
    if recode and info.process not in ("extended", "progressive"):
        raise NotSendable(f"a {info.process} JPEG cannot be sent as JPEG Baseline")
    turn = _TRANSFORMS.get(info.orientation)
    if not recode and turn is None:
        return Frame(data, info)
    tool = jpegtran_path()
    if tool is None:
        if recode:
            raise NotSendable(
                f"a {info.process} JPEG needs jpegtran (libjpeg-turbo-progs) to become Baseline"
            )
        return Frame(
            data,
            info,
            note=f"EXIF Orientation {info.orientation}: left unrotated (jpegtran not installed)",
        )
    note = None
    if turn is not None:
        try:
            # -copy icc: the EXIF block would still say "turn me" after the turn.
            out = _run([tool, "-perfect", "-copy", "icc", *turn], data)
            return _checked(out, info, turn, swap=info.orientation in _SWAPS)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            if not recode:
                return Frame(
                    data,
                    info,
                    note=(
                        f"EXIF Orientation {info.orientation}: cannot be turned losslessly"
                        f" ({exc}); left unrotated"
                    ),
                )
            note = f"EXIF Orientation {info.orientation}: cannot be turned losslessly; unrotated"
    try:
        out = _run([tool, "-copy", "all"], data)
        frame = _checked(out, info, (), swap=False)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        raise NotSendable(f"jpegtran could not recode this {info.process} JPEG: {exc}") from exc
    return Frame(frame.data, frame.info, frame.transform, note)


def _checked(out: bytes, info: JpegInfo, turn: tuple[str, ...], *, swap: bool) -> Frame:
    """jpegtran's output, checked: Baseline, and the original's size (turned if it turned)."""
    result = jpeg_info(out)
    expected = (info.columns, info.rows) if swap else (info.rows, info.columns)
    if not result.baseline or (result.rows, result.columns) != expected:
        raise ValueError(
            f"jpegtran gave a {result.process} {result.columns}x{result.rows} JPEG,"
            f" expected baseline {expected[1]}x{expected[0]}"
        )
    # The turned frame has no EXIF block, so it reads as upright (Orientation 1).
    upright = JpegInfo(
        result.process,
        result.precision,
        result.rows,
        result.columns,
        result.components,
        result.subsampled,
        result.adobe_transform,
        1,
    )
    words = " ".join(turn) if turn else "(progressive to baseline)"
    return Frame(out, upright, transform=f"jpegtran {words}".strip())
