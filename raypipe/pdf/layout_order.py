"""Reading order and paragraphs for :mod:`raypipe.pdf.layout`.

Reading order is a recursive cut of the page along white space: a region is split into columns
where a vertical band of white space at least ``GUTTER`` line heights wide crosses all of it;
otherwise it is split into horizontal strips, and consecutive strips that share such a band
(the lines of a two- or three-column passage) are kept together so that the next level can split
them into columns, while a strip that crosses the band (a title or heading over the full width)
stands alone. Lines are then joined into paragraphs unless a larger gap, a change of size, a
first-line indent, a list mark or a jump to another column says a new one begins.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from typing import Callable, Optional

GUTTER = 0.8  # white space between columns, in line heights
_TERMINAL = tuple('.!?:;"\'\u201d\u2019)]')
_LIST_MARK = re.compile(r"^([\u2022\u25cf\u25aa\u25e6\u2013*-]|\(?\d{1,3}[.)]|\(?([a-z]|[ivx]{1,5})[.)])\s")
_MARK_ONLY = re.compile(r"[\u2022\u25cf\u25aa\u25e6\u25a0\u25a1\u2013\u2014\u00b7*o-]|\(?(\d{1,3}|[a-zA-Z]|[ivxlc]{1,6})[.)]")


@dataclasses.dataclass
class Span:
    """A run of characters on one line (page coordinates of its frame, y up; ``size`` is the height
    of its glyph boxes)."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float


@dataclasses.dataclass
class Block:
    """A unit of reading order: one span, or a table already written as Markdown."""

    x0: float
    y0: float
    x1: float
    y1: float
    span: Optional[Span] = None
    markdown: Optional[str] = None

    @property
    def size(self) -> float:
        return self.span.size if self.span else 0.0


@dataclasses.dataclass
class Line:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float
    table: bool = False
    hang: Optional[float] = None  # where the text of a list item starts, right of its mark


def _core(b) -> tuple[float, float]:
    """The middle half of a box's height: lines set closer than their glyph boxes still separate."""
    quarter = (b.y1 - b.y0) / 4
    return b.y0 + quarter, b.y1 - quarter


def rows_of(items: list) -> list[list]:
    """Items (anything with x0, y0, x1, y1) grouped into rows of overlapping height, top row first."""
    rows, band = [], None
    for it in sorted(items, key=lambda b: -(b.y0 + b.y1)):
        lo, hi = _core(it)
        if band and min(hi, band[1]) - max(lo, band[0]) >= 0.5 * min(hi - lo, band[1] - band[0]):
            rows[-1].append(it)
        else:
            rows.append([it])
            band = (lo, hi)
    return rows


def _intervals(pairs: list[tuple[float, float]]) -> list[list[float]]:
    merged: list[list[float]] = []
    for lo, hi in sorted(pairs):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return merged


def _gutters(blocks: list[Block], gutter: float) -> list[tuple[float, float]]:
    spans = _intervals([(b.x0, b.x1) for b in blocks])
    return [(a[1], b[0]) for a, b in zip(spans, spans[1:]) if b[0] - a[1] >= gutter]


def _shares_gutter(band: list[Block], strip: list[Block], gutter: float) -> bool:
    """Whether ``strip`` continues the columns of ``band``: the band has white space between
    columns and the strip closes none of it (a line in one column only does not; a heading over
    some of the columns does)."""
    own = _gutters(band, gutter)
    union = _gutters(band + strip, gutter)
    return bool(own) and all(any(u[0] < g[1] and u[1] > g[0] for u in union) for g in own)


def _columns(blocks: list[Block], gutter: float) -> list[list[Block]]:
    spans = _intervals([(b.x0, b.x1) for b in blocks])
    cuts = [b[0] for a, b in zip(spans, spans[1:]) if b[0] - a[1] >= gutter]
    groups: list[list[Block]] = [[] for _ in range(len(cuts) + 1)]
    for b in blocks:
        groups[sum(1 for c in cuts if b.x0 >= c)].append(b)
    groups = [g for g in groups if g]
    k = 0
    while k < len(groups) - 1:  # list marks set apart from their items' text (a hanging indent) are no column
        if all(_mark(b) for b in groups[k]):
            groups[k:k + 2] = [groups[k] + groups[k + 1]]
        else:
            k += 1
    return groups


def _mark(b: Block) -> bool:
    return b.span is not None and _MARK_ONLY.fullmatch(b.span.text.strip()) is not None


def _strips(blocks: list[Block]) -> list[list[Block]]:
    order = sorted(blocks, key=lambda b: -_core(b)[1])
    strips, low = [], None
    for b in order:
        lo, hi = _core(b)
        if strips and hi > low:
            strips[-1].append(b)
            low = min(low, lo)
        else:
            strips.append([b])
            low = lo
    return strips


def _cut(blocks: list[Block], gutter: float, out: list[list[Block]], table) -> None:
    strips = _strips(blocks)
    if len(strips) == 1:  # one line: a wide space in it is not a column gutter
        out.append(blocks)
        return
    columns = _columns(blocks, gutter)
    if len(columns) > 1:
        found = table(blocks, gutter) if table else None
        if found:
            above, block, below = found
            if above:
                _cut(above, gutter, out, table)
            out.append([block])
            if below:
                _cut(below, gutter, out, table)
            return
        for column in columns:
            _cut(column, gutter, out, table)
        return
    bands: list[list[Block]] = []
    for strip in strips:
        if bands and _shares_gutter(bands[-1], strip, gutter):
            bands[-1] += strip
        else:
            bands.append(list(strip))
    for band in bands if len(bands) > 1 else strips:
        _cut(band, gutter, out, table)


def reading_order(blocks: list[Block], table: Optional[Callable] = None) -> list[Line]:
    """The blocks as lines in reading order (a table is one line of its own). ``table(blocks,
    gutter)`` may find a table in a region about to be cut into columns: it gives (blocks above,
    the table block, blocks below) or None."""
    sizes = [b.size for b in blocks if b.span]
    unit = statistics.median(sizes) if sizes else 10.0
    leaves: list[list[Block]] = []
    if blocks:
        _cut(blocks, GUTTER * unit, leaves, table)
    lines = []
    for leaf in leaves:
        for row in rows_of(leaf):
            tables = [b for b in row if b.markdown is not None]
            lines += [Line(b.markdown, b.x0, b.y0, b.x1, b.y1, unit, table=True) for b in tables]
            spans = sorted((b.span for b in row if b.span), key=lambda s: s.x0)
            if spans:
                text = " ".join(s.text for s in spans)
                hang = spans[1].x0 if len(spans) > 1 and _MARK_ONLY.fullmatch(spans[0].text.strip()) else None
                lines.append(Line(text, min(s.x0 for s in spans), min(s.y0 for s in spans),
                                  max(s.x1 for s in spans), max(s.y1 for s in spans), max(s.size for s in spans),
                                  hang=hang))
    return lines


def _join(para: str, nxt: str) -> str:
    """Append a line to a paragraph, undoing the hyphenation of a word broken at the line end
    (PDFium marks such a hyphen, hard or soft, as U+0002); a compound (state-of-the-art) or a
    capital after the break (Anglo-Saxon) keeps its hyphen."""
    if para.endswith(("\x02", "-")) and para[-2:-1].isalpha():
        word = para.rsplit(" ", 1)[-1][:-1]
        if nxt[:1].islower() and "-" not in word.replace("\x02", "-"):
            return para[:-1] + nxt
        return para[:-1] + "-" + nxt
    return para + " " + nxt


def _new_paragraph(prev: Line, line: Line, ratio: Optional[float]) -> bool:
    ends = prev.text.rstrip().endswith(_TERMINAL)
    size = max(prev.size, line.size)
    if line.y1 > prev.y1 + 0.5 * size or line.x0 >= prev.x1 or line.x1 <= prev.x0:  # another column or region
        return ends or not line.text[:1].islower()
    if abs(line.size - prev.size) > 0.15 * size:
        return True
    pitch = prev.y0 - line.y0
    if pitch > (ratio * prev.size * 1.2 + 0.5 if ratio else 1.6 * prev.size):
        return True
    if _LIST_MARK.match(line.text):
        return True
    if line.x0 > prev.x0 + 0.6 * prev.size and not _hangs(prev, line):
        return True
    return ends and prev.x1 < line.x1 - 3 * size


def _hangs(prev: Line, line: Line) -> bool:
    """Whether ``line`` starts where the text of the list item on ``prev`` starts (its next line);
    when the mark and the text are one span, anywhere up to three line heights right of the mark."""
    if prev.hang is not None:
        return abs(line.x0 - prev.hang) <= 0.3 * prev.size
    return _LIST_MARK.match(prev.text) is not None and prev.x0 < line.x0 <= prev.x0 + 3 * prev.size


def paragraphs(lines: list[Line]) -> list[str]:
    """Lines in reading order to paragraphs (tables pass through as they are)."""
    ratios = [(a.y0 - b.y0) / a.size for a, b in zip(lines, lines[1:])
              if not a.table and not b.table and abs(a.size - b.size) < 0.1 * a.size and 0 < a.y0 - b.y0 < 2.5 * a.size]
    ratio = statistics.median(ratios) if ratios else None
    out: list[str] = []
    prev: Optional[Line] = None
    for line in lines:
        if line.table:
            out.append(line.text)
            prev = None
        elif prev is None or _new_paragraph(prev, line, ratio):
            out.append(line.text)
            prev = line
        else:
            out[-1] = _join(out[-1], line.text)
            prev = dataclasses.replace(line, hang=line.x0) if _hangs(prev, line) else line
    return [p.replace("\x02", "-").strip() for p in out]
