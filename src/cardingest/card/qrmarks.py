"""QR corner marks in a photo whose code could not be read: a slate cut off by the frame.

zxing-cpp finds a QR code by its three corner marks (finder patterns: a dark square ring
around a dark centre, 1:1:3:1:1 across any line through it). With one out of the frame,
or covered, it finds nothing at all, and the photo passed for a patient photo: a slate
cut off at the frame's edge handed the next patient's photos to the last slate's patient
(a trial). Two marks alike in size, as far apart as a QR code's corners are, are enough
to say that a code is there and was not read, so its photos are held (fail closed).

Not seen: a code blurred past the point where its marks keep their rings (zxing finds
those up to about the same blur), or one too small for marks of `MIN_MODULE` pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

LONG_EDGES = (640, 320, 160)
"""The photo is looked at these sizes, each half the last: a mark is found where its
module is `MIN_MODULE` to about 10 pixels (a mark's centre then spans enough rows to be
told from a speck, `_marks`), so a code from 5% to the whole of the frame's width is seen at
one of them. About 15 ms of CPU in all."""
MIN_MODULE = 3.0
"""Smaller marks are the texture of leaves and cloth as often as a code's."""
_RATIOS = (1.0, 1.0, 3.0, 1.0, 1.0)
_SLACK = (0.7, 0.7, 1.2, 0.7, 0.7)
"""How far (in modules) each run may be off: print, focus and the photo's angle vary."""
_CONTRAST = 10
"""How much darker than its surroundings a pixel must be to count as dark."""
_DISTANCE = (12.0, 90.0)
"""Modules between two marks of one code: 14 for the smallest QR code (version 1), up to
the diagonal of a large one; marks closer or further are not one code's."""


def shows_qr_marks(image: Image.Image) -> bool:
    """Whether ``image`` (grey) shows two corner marks of one QR code."""
    from PIL import Image

    for long_edge in LONG_EDGES:
        if max(image.size) < long_edge // 2:  # a thumbnail: no room for marks this size
            break
        if max(image.size) > long_edge:
            ratio = long_edge / max(image.size)
            size = (max(1, round(image.width * ratio)), max(1, round(image.height * ratio)))
            image = image.resize(size, Image.Resampling.BOX)
        if _one_codes(_marks(image)):
            return True
    return False


def _one_codes(marks: list[tuple[float, float, float]]) -> bool:
    """Whether two of ``marks`` are alike in size and as far apart as one code's corners."""
    for n, (row, col, module) in enumerate(marks):
        for other_row, other_col, other in marks[n + 1 :]:
            if not 0.7 < module / other < 1.4:
                continue
            apart = ((row - other_row) ** 2 + (col - other_col) ** 2) ** 0.5
            if _DISTANCE[0] <= apart / ((module + other) / 2) <= _DISTANCE[1]:
                return True
    return False


def _marks(image: Image.Image) -> list[tuple[float, float, float]]:
    """(row, column, module) of each corner mark: where a 1:1:3:1:1 run pattern along a
    row meets one along a column, over enough rows for a mark's centre (not a speck)."""
    import numpy as np
    from PIL import ImageFilter

    pixels = np.asarray(image, dtype=np.int16)
    local = np.asarray(image.filter(ImageFilter.BoxBlur(max(4, max(image.size) // 16))))
    dark = pixels < local.astype(np.int16) - _CONTRAST
    across = _centres(dark)
    down = _centres(dark.T)[:, [1, 0, 2]]  # a column's runs: (row, column, module) too
    if not len(across) or not len(down):
        return []
    # Where a row's pattern meets a column's of a like module, within a cell or two.
    cells = np.zeros((dark.shape[0] // 4 + 3, dark.shape[1] // 4 + 3), dtype=np.float32)
    cells[down[:, 0].astype(int) // 4 + 1, down[:, 1].astype(int) // 4 + 1] = down[:, 2]
    near = np.zeros_like(cells)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            near = np.maximum(near, np.roll(np.roll(cells, dr, axis=0), dc, axis=1))
    other = near[across[:, 0].astype(int) // 4 + 1, across[:, 1].astype(int) // 4 + 1]
    met = across[(other > 0.6 * across[:, 2]) & (other < 1.6 * across[:, 2])]
    clusters: list[list[float]] = []
    for row, col, module in met.tolist():
        for cluster in clusters:
            if abs(cluster[0] - row) < 3 * module and abs(cluster[1] - col) < 3 * module:
                cluster[3] += 1
                break
        else:
            clusters.append([float(row), float(col), float(module), 1.0])
    return [(r, c, m) for r, c, m, hits in clusters if hits >= max(6.0, 1.2 * m)]


def _centres(dark: np.ndarray) -> np.ndarray:
    """(row, centre column, module) of each dark-light-dark-light-dark run of widths
    1:1:3:1:1 along the rows of ``dark``, modules of at least `MIN_MODULE` pixels."""
    import numpy as np

    height, width = dark.shape
    edges = np.ones((height, width + 1), dtype=bool)
    edges[:, 1:width] = dark[:, 1:] != dark[:, :-1]
    rows, cols = np.nonzero(edges)  # each run's start, and each row's end
    same_row = rows[1:] == rows[:-1]
    start, row = cols[:-1][same_row], rows[:-1][same_row]
    length = (cols[1:] - cols[:-1])[same_row]
    if len(length) < 5:
        return np.empty((0, 3))
    first = np.arange(len(length) - 4)
    runs = np.stack([length[first + k] for k in range(5)], axis=1).astype(np.float32)
    module = runs.sum(axis=1) / 7.0
    fits = (row[first] == row[first + 4]) & dark[row[first], start[first]]
    fits &= module >= MIN_MODULE
    fits &= (
        np.abs(runs - np.array(_RATIOS) * module[:, None]) <= np.array(_SLACK) * module[:, None]
    ).all(axis=1)
    hit = first[fits]
    centre = start[hit + 2] + length[hit + 2] // 2
    return np.stack([row[hit], centre, module[fits]], axis=1)
