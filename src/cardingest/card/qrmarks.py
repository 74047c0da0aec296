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

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

LONG_EDGE = 600
"""The photo's long edge is looked at at this size, then at half of it: a mark is found
where its module is `MIN_MODULE` to about 10 pixels (a mark's centre then spans enough rows
to be told from a speck, `_marks`), so a QR code from about 11% to 70% of the long edge is
seen at one of them (a slate sheet from about a sixth of the frame to somewhat wider than
it). About 10 ms of CPU for a photo decoded at 1,000 pixels; a third size, 150, cost 4 ms
more. A photo whose codes read is looked at at its own size first too (`qr_marks_at`):
that look costs most, and only on slates (docs/performance.md)."""
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


Box = tuple[float, float, float, float]
"""left, top, right, bottom."""
Point = tuple[float, float]
"""x, y."""
Corners = tuple[Point, Point, Point, Point]
"""A code's corners in its own turn, as zxing gives them: top left, top right, bottom right,
bottom left."""
Read = tuple[Corners, tuple[Corners, ...]]
"""A code that was read, and the places of its sheet's QR codes that were not
(`slate.sheet_places`)."""
Mark = tuple[float, float, float]
"""row, column, module (pixels)."""
_GROWN = 0.1
"""How far past a code that was read (in its sizes) a mark is taken for one of its own."""
_PLACE_GROWN = 0.25
"""How far past the place of a sheet's code not read (in its sizes) a mark is taken for
one of that code's: the sheet seen at an angle puts it a little off where it is looked for."""
MARKS_APART = 18.0
"""Modules between the centres of two corner marks along a QR code's side, for a code of
version 2 (25 modules; `cardingest slate` prints an NHI, and any ID of up to 25 capital
letters and digits, as version 1: 21 modules, 14 apart). A much longer ID's code cut off
with one mark left further from the edge is not seen by this rule."""
_HALF_MARK = 3.5
"""A mark's centre from its outer edge, in modules: a mark cut through is not seen."""


def qr_marks_at(
    image: Image.Image, read: Sequence[Read] = (), *, one: bool = False
) -> Point | None:
    """Where (x, y, as fractions of its width and height) ``image`` (grey) shows two corner
    marks of one QR code (the point between them; None where it shows none), marks of the
    codes that were read (``read``: in ``image``'s pixels) and of their sheets' codes left
    aside (`_not_of`).

    With ``one``, one mark near the frame's edge is enough (`_cut_off`), at ``image``'s
    own size (a code from about 6% of its long edge) and at `LONG_EDGE`: a photo whose codes
    read (a label of the next patient) beside a sheet cut off with a single mark left was
    filed under the label's patient alone (two trials). At half `LONG_EDGE` a lone mark is
    of a code a third of the frame or more, and the texture beside a label showed one
    (`tests/test_slates.py`)."""
    from PIL import Image

    if not min(image.size):
        return None
    looks: list[tuple[Image.Image, float, bool]] = []
    if one and max(image.size) > LONG_EDGE:
        looks.append((image, 1.0, True))
    scale = min(1.0, LONG_EDGE / max(image.size))
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BOX)
    looks += [(image, scale, one), (image.reduce(2), scale / 2, False)]
    for seen, at, alone in looks:
        if max(seen.size) < LONG_EDGE // 4:  # a thumbnail: no room for marks this size
            return None
        dark = _dark(seen)
        marks = _not_of(_marks(dark), read, at)
        pair = _one_codes(marks)
        if pair is None and alone:
            pair = next(((m, m) for m in marks if _cut_off(dark, m)), None)
        if pair is not None:
            (row, col, _), (other_row, other_col, _) = pair
            height, width = dark.shape
            return (col + other_col) / 2 / width, (row + other_row) / 2 / height
    return None


def _cut_off(dark: np.ndarray, mark: Mark) -> bool:
    """Whether a lone ``mark`` can be the only one of a code the frame cuts off, and is
    `_ringed`: its code's other two marks lie `MARKS_APART` from it along the code's sides,
    so both are out of the frame (or cut through) only where it lies near an edge (the code
    turned 45 degrees, both marks past that edge) or near a corner (one past each edge).
    Elsewhere a lone mark is no cut-off code's: a round target lesion beside a slate that
    read showed one, and held the slate's patient's photos (a trial: 7 of 12)."""
    row, col, module = mark
    height, width = dark.shape
    across = min(col, width - 1 - col) / module
    down = min(row, height - 1 - row) / module
    one_edge = _HALF_MARK + MARKS_APART / 2**0.5
    corner = _HALF_MARK + MARKS_APART
    near = min(across, down) <= one_edge or max(across, down) <= corner
    return near and _ringed(dark, mark)


def _ringed(dark: np.ndarray, mark: Mark) -> bool:
    """Whether ``mark`` has a corner mark's runs (1:1:3:1:1) along both diagonals too, as
    zxing checks a finder pattern: a lone mark is believed only then (texture beside a label
    showed rows and columns alike)."""
    row, col, module = int(mark[0]), int(mark[1]), mark[2]
    height, width = dark.shape
    for down, across in ((1, 1), (1, -1)):
        runs = []
        for sign in (1, -1):
            r, c, lengths = row, col, [0, 0, 0]
            for k in range(3):
                while 0 <= r < height and 0 <= c < width and dark[r, c] == (k != 1):
                    lengths[k] += 1
                    r, c = r + sign * down, c + sign * across
            runs.append(lengths)
        centre = runs[0][0] + runs[1][0] - 1
        outer = (runs[0][1], runs[0][2], runs[1][1], runs[1][2])
        if abs(centre - 3 * module) > 1.2 * module + 1:
            return False
        if any(abs(length - module) > 0.7 * module + 1 for length in outer):
            return False
    return True


def _not_of(marks: list[Mark], read: Sequence[Read], scale: float) -> list[Mark]:
    """The ``marks`` that are not a read code's own (inside its box), nor, where its own
    marks show, alike in size to them and inside the place of one of its sheet's codes that
    did not read (cut off at the frame's edge). Another patient's code beside the sheet lies
    elsewhere, even where it is the same size: a sheet of the same print beside one cut off
    past its codes was that sheet's patient's slate alone (a review)."""
    spared: list[tuple[Box, float | None]] = []
    for corners, places in read:
        box = _grown(bounds(corners), scale, _GROWN)
        spared.append((box, None))
        module = _module_of([m for m in marks if _inside(m, box)])
        if module is not None:
            spared.extend((_grown(bounds(place), scale, _PLACE_GROWN), module) for place in places)
    return [
        m
        for m in marks
        if not any(
            _inside(m, box) and (module is None or _alike(m[2], module)) for box, module in spared
        )
    ]


def _module_of(own: list[Mark]) -> float | None:
    """The median module of a code's own marks; None where none shows."""
    return sorted(m[2] for m in own)[len(own) // 2] if own else None


def bounds(corners: Corners) -> Box:
    """The box around a code's corners."""
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    return min(xs), min(ys), max(xs), max(ys)


def scaled(box: Box, factor: float) -> Box:
    """``box`` in an image ``factor`` times the size."""
    left, top, right, bottom = box
    return left * factor, top * factor, right * factor, bottom * factor


def _grown(box: Box, scale: float, by: float) -> Box:
    left, top, right, bottom = scaled(box, scale)
    margin = max(right - left, bottom - top) * by
    return left - margin, top - margin, right + margin, bottom + margin


def _inside(mark: Mark, box: Box) -> bool:
    row, col, _ = mark
    return box[0] <= col <= box[2] and box[1] <= row <= box[3]


def _alike(module: float, other: float) -> bool:
    """Whether two marks' modules are alike enough to be one code's (or one sheet's)."""
    return 0.7 < module / other < 1.4


def _one_codes(marks: list[Mark]) -> tuple[Mark, Mark] | None:
    """Two of ``marks`` alike in size and as far apart as one code's corners, if any."""
    for n, (row, col, module) in enumerate(marks):
        for other_row, other_col, other in marks[n + 1 :]:
            if not _alike(module, other):
                continue
            apart = ((row - other_row) ** 2 + (col - other_col) ** 2) ** 0.5
            if _DISTANCE[0] <= apart / ((module + other) / 2) <= _DISTANCE[1]:
                return (row, col, module), (other_row, other_col, other)
    return None


def _dark(image: Image.Image) -> np.ndarray:
    """Which pixels are darker than their surroundings by `_CONTRAST`."""
    import numpy as np
    from PIL import ImageFilter

    pixels = np.asarray(image, dtype=np.int16)
    local = np.asarray(image.filter(ImageFilter.BoxBlur(max(4, max(image.size) // 16))))
    return pixels < local.astype(np.int16) - _CONTRAST


def _marks(dark: np.ndarray) -> list[Mark]:
    """(row, column, module) of each corner mark: where a 1:1:3:1:1 run pattern along a
    row meets one along a column, over enough rows for a mark's centre (not a speck)."""
    import numpy as np

    across = _centres(dark)
    # A column's runs, as (row, column, module) too.
    down = _centres(np.ascontiguousarray(dark.T))[:, [1, 0, 2]]
    if not len(across) or not len(down):
        return []
    # Where a row's pattern meets a column's of a like module, within a cell or two.
    shape = (dark.shape[0] // _CELL + 3, dark.shape[1] // _CELL + 3)
    cells = np.zeros(shape, dtype=np.float32)
    cells[_cell(down[:, 0]), _cell(down[:, 1])] = down[:, 2]
    other = _around(cells, np.maximum)[_cell(across[:, 0]), _cell(across[:, 1])]
    met = across[(other > 0.6 * across[:, 2]) & (other < 1.6 * across[:, 2])]
    # A mark: a cell whose neighbourhood holds the most such meetings around it, and
    # enough of them for its module (a mark's centre spans about three modules of rows).
    hits = np.zeros(shape, dtype=np.float32)
    modules = np.zeros(shape, dtype=np.float32)
    np.add.at(hits, (_cell(met[:, 0]), _cell(met[:, 1])), 1)
    np.add.at(modules, (_cell(met[:, 0]), _cell(met[:, 1])), met[:, 2])
    hits, modules = _around(hits, np.add), _around(modules, np.add)
    module = modules / np.maximum(hits, 1)
    peak = (hits >= np.maximum(6.0, 1.2 * module)) & (hits == _around(hits, np.maximum))
    rows, cols = np.nonzero(peak)
    return [
        ((r - 1 + 0.5) * _CELL, (c - 1 + 0.5) * _CELL, float(module[r, c]))
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
    ]


_CELL = 4
"""Pixels of a cell, in which a row's and a column's pattern count as meeting (with the
cells beside it)."""


def _cell(position: np.ndarray) -> np.ndarray:
    """The cell of each position (one cell of margin all round)."""
    return position.astype(int) // _CELL + 1


def _around(grid: np.ndarray, combine: np.ufunc) -> np.ndarray:
    """Each cell combined (`np.maximum`, `np.add`) with the eight beside it (nothing beyond
    the grid's edges)."""
    import numpy as np

    padded = np.pad(grid, 1)
    rows = combine(combine(padded[:-2], padded[1:-1]), padded[2:])
    return combine(combine(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def _centres(dark: np.ndarray) -> np.ndarray:
    """(row, centre column, module) of each dark-light-dark-light-dark run of widths
    1:1:3:1:1 along the rows of ``dark``, modules of at least `MIN_MODULE` pixels."""
    import numpy as np

    height, width = dark.shape
    edges = np.ones((height, width + 1), dtype=bool)
    edges[:, 1:width] = dark[:, 1:] != dark[:, :-1]
    rows, cols = np.divmod(np.flatnonzero(edges), width + 1)  # each run's start, each row's end
    same_row = rows[1:] == rows[:-1]
    start, row = cols[:-1][same_row], rows[:-1][same_row]
    length = (cols[1:] - cols[:-1])[same_row].astype(np.float32)
    if len(length) < 5:
        return np.empty((0, 3))
    # Cheap tests first, on every run: a dark run, five runs in one row, long enough.
    first = np.flatnonzero(dark[row[:-4], start[:-4]] & (row[:-4] == row[4:]))
    total = length[first] + length[first + 1] + length[first + 2]
    total += length[first + 3] + length[first + 4]
    keep = total >= 7 * MIN_MODULE
    first, module = first[keep], total[keep] / 7.0
    fits = np.ones(len(first), dtype=bool)
    for k, (ratio, slack) in enumerate(zip(_RATIOS, _SLACK, strict=True)):
        fits &= np.abs(length[first + k] - ratio * module) <= slack * module
    hit, module = first[fits], module[fits]
    centre = start[hit + 2] + length[hit + 2].astype(np.int64) // 2
    return np.stack([row[hit], centre, module], axis=1)
