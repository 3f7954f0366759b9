"""The blank guard: whether a rendered page carries any real mark, without a model call.

A page counts as blank when nothing on it is darker than the paper around it by ``CONTRAST``,
except what a scanner adds to an empty sheet:

- sensor and JPEG noise, and dust: isolated specks, far smaller than a letter;
- bleed-through (the back side's text, mirrored and faint): lighter than ``CONTRAST``;
- uneven lighting and yellowed paper: the paper level is measured locally;
- dark scanner edges and borders: marks connected to the image's edge;
- punched holes: solid round blobs near an edge.

Faint real text (light grey, small print, a single line or a page number) is darker than the
paper around it by more than bleed-through is, and its letters are larger than specks, so it is
never called blank. The work runs on the image shrunk by ``SHRINK`` with a minimum filter (thin
strokes survive); ``bench/router.py`` measures its cost per page.
"""

from __future__ import annotations

import dataclasses

SHRINK = 2  # pixels per side merged into one (by their minimum, the darkest)
BLOCK = 16  # side, in shrunk pixels, of the blocks over which the paper level is measured
CELL = 8  # side, in shrunk pixels, of the cells marks are counted in
CONTRAST = 22  # grey levels darker than the local paper that count as ink
CELL_INK = 4  # ink pixels that make a cell a mark cell
MIN_INK = 20  # ink pixels (shrunk) that real marks add up to at least; dust stays below
MAX_CELLS = 600  # mark cells past which a page is inked without looking closer
HOLE_CELLS = 8  # a punched hole fits in a square of this many cells
HOLE_FILL = 0.35  # ...its cells are at least this full of ink
HOLE_MARGIN = 0.15  # ...and it lies within this share of the page from an edge
SIDE = 1288  # pixels of the longest side the page is looked at (the thresholds above are for it)


@dataclasses.dataclass(frozen=True)
class InkReport:
    blank: bool
    ink: int  # ink pixels in marks that count (shrunk image)
    marks: int  # mark cells that count
    edge_cells: int  # mark cells joined to the image's edge (scanner edges)
    hole_cells: int  # mark cells in punched holes
    speck_cells: int  # mark cells in marks too small to be a letter


def _shrunk(image):
    import numpy as np

    gray = np.asarray(image.convert("L"))
    h, w = (gray.shape[0] // SHRINK) * SHRINK, (gray.shape[1] // SHRINK) * SHRINK
    out = gray[0:h:SHRINK, 0:w:SHRINK].copy()
    for dy in range(SHRINK):
        for dx in range(SHRINK):
            np.minimum(out, gray[dy:h:SHRINK, dx:w:SHRINK], out=out)
    return out


def _ink(gray):
    """Pixels ``CONTRAST`` darker than the local paper level: the median of each block (of every
    other pixel in it), raised to the brightest median among its neighbours (so that a dark mark
    within one block does not lower it)."""
    import numpy as np

    hb, wb = gray.shape[0] // BLOCK, gray.shape[1] // BLOCK
    g = gray[: hb * BLOCK, : wb * BLOCK].reshape(hb, BLOCK, wb, BLOCK)
    sample = g[:, ::2, :, ::2].transpose(0, 2, 1, 3).reshape(hb, wb, -1)
    half = sample.shape[2] // 2
    median = np.partition(sample, half, axis=2)[:, :, half]
    padded = np.pad(median, 1, mode="edge")
    paper = median.copy()
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            np.maximum(paper, padded[dy : dy + hb, dx : dx + wb], out=paper)
    cut = paper.astype(np.int16) - CONTRAST
    return (g <= cut[:, None, :, None]).reshape(hb * BLOCK, wb * BLOCK)


def _components(mask):
    """8-connected components of a small boolean grid, as lists of (row, col)."""
    seen = set()
    cells = list(zip(*mask.nonzero()))
    on = set(cells)
    out = []
    for start in cells:
        if start in seen:
            continue
        seen.add(start)
        stack, comp = [start], []
        while stack:
            r, c = stack.pop()
            comp.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    n = (r + dr, c + dc)
                    if n in on and n not in seen:
                        seen.add(n)
                        stack.append(n)
        out.append(comp)
    return out


def _is_hole(comp, fill, rows: int, cols: int) -> bool:
    rs, cs = [r for r, _ in comp], [c for _, c in comp]
    height, width = max(rs) - min(rs) + 1, max(cs) - min(cs) + 1
    if height > HOLE_CELLS or width > HOLE_CELLS or not 0.5 <= height / width <= 2:
        return False
    if sum(fill[r, c] for r, c in comp) / len(comp) < HOLE_FILL:
        return False
    near = (min(cs) < HOLE_MARGIN * cols or max(cs) >= (1 - HOLE_MARGIN) * cols
            or min(rs) < HOLE_MARGIN * rows or max(rs) >= (1 - HOLE_MARGIN) * rows)
    return near


def _at_side(image):
    """The page at SIDE pixels on its longest side: the sizes of specks, letters and punched holes the
    thresholds count in are then the same whatever size the page was rendered at."""
    from PIL import Image

    longest = max(image.size)
    if 0.9 * SIDE <= longest <= 1.1 * SIDE:
        return image
    scale = SIDE / longest
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    return image.convert("L").resize(size, Image.NEAREST if scale > 1 else Image.BOX)


def inspect(image) -> InkReport:
    """The blank guard's verdict on a rendered page (a PIL image of any mode, of any size)."""
    import numpy as np

    gray = _shrunk(_at_side(image))
    if min(gray.shape) < 2 * BLOCK:  # a thumbnail: one paper level, no cells
        total = int((gray <= int(np.median(gray)) - CONTRAST).sum())
        return InkReport(total < MIN_INK, total, 0, 0, 0, 0)
    ink = _ink(gray)
    rows, cols = ink.shape[0] // CELL, ink.shape[1] // CELL
    counts = ink[: rows * CELL, : cols * CELL].reshape(rows, CELL, cols, CELL).sum(axis=(1, 3))
    marks = counts >= CELL_INK
    if marks.sum() > MAX_CELLS:
        return InkReport(False, int(counts[marks].sum()), int(marks.sum()), 0, 0, 0)
    fill = counts / (CELL * CELL)
    kept, edge, holes, specks = [], 0, 0, 0
    for comp in _components(marks):
        if any(r in (0, rows - 1) or c in (0, cols - 1) for r, c in comp):
            edge += len(comp)
        elif _is_hole(comp, fill, rows, cols):
            holes += len(comp)
        elif sum(counts[r, c] for r, c in comp) < MIN_INK:
            specks += len(comp)
        else:
            kept.append(comp)
    total = int(sum(counts[r, c] for comp in kept for r, c in comp))
    return InkReport(total < MIN_INK, total, sum(map(len, kept)), edge, holes, specks)


def near_blank(image) -> bool:
    """True when the rendered page carries no real mark (see the module's description)."""
    return inspect(image).blank
