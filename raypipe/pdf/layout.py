"""A page's text layer as a reader wants it: reading order from the page's geometry (columns found
by recursive cuts along white space), lines joined into paragraphs, line-end hyphenation and soft
hyphens resolved, tables set as Markdown where rules or aligned cells make them certain, running
headers, footers and page numbers kept out of the text and returned in their own fields.

Two steps, so that a caller can keep one page open at a time: :func:`analyse_page` reads one page
(characters, their boxes and the rules drawn on it) into plain Python data; :func:`running_furniture`
looks across all the analysed pages of a document for the lines repeated at the same place (running
headers and footers) and for page numbers; :func:`compose` then writes each page's text.
:func:`extract_pages` does all three for a document. Table finding lives in
:mod:`raypipe.pdf.layout_tables`, reading order and paragraphs in :mod:`raypipe.pdf.layout_order`,
what counts as a running line or a page number in :mod:`raypipe.pdf.layout_furniture`.
"""

from __future__ import annotations

import ctypes
import dataclasses
import math
import unicodedata
from typing import Iterable, Optional

from raypipe.pdf.layout_furniture import running_furniture
from raypipe.pdf.layout_order import Block, Span, paragraphs, reading_order, rows_of
from raypipe.pdf.layout_tables import aligned_table, find_tables

SPLIT_GAP = 0.7  # a horizontal gap wider than this many line heights ends a span (column gutters, table cells)
SPACE_GAP = 0.18  # a gap wider than this many line heights between two glyphs is a word space
_SPACES = {0x20, 0x09, 0x0A, 0x0D, 0xA0, 0x00}


@dataclasses.dataclass
class PageText:
    """What :func:`compose` gives for one page."""

    text: str  # the body: paragraphs separated by blank lines, tables as Markdown
    header: str = ""  # running header lines (and a page number printed at the top)
    footer: str = ""  # running footer lines and page numbers at the bottom
    tables: int = 0  # tables written as Markdown


@dataclasses.dataclass
class PageLayout:
    """One page's text layer as plain data, in the frame of its main text direction (y up)."""

    number: int
    width: float
    height: float
    spans: list[Span]  # in the main direction
    rules: list[tuple[float, float, float, float]]  # drawn lines (x0, y0, x1, y1), main frame
    turned: list[list[Span]] = dataclasses.field(default_factory=list)  # other directions, each in its own frame


def _frame(angle: float):
    """Map from page space to the frame in which text at ``angle`` (radians) runs left to right."""
    c, s = math.cos(angle), math.sin(angle)
    if abs(c) < 1e-9:
        c = 0.0
    if abs(s) < 1e-9:
        s = 0.0
    return lambda x, y: (x * c + y * s, -x * s + y * c)


def _box(to, l, b, r, t):
    pts = [to(l, b), to(r, b), to(l, t), to(r, t)]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


class _SpanBuilder:
    """Collects the characters of one text direction, in content-stream order, into spans."""

    def __init__(self):
        self.spans: list[Span] = []
        self.cur: Optional[Span] = None
        self.chars: list[str] = []
        self.space = False
        self.last = 0.0  # left edge of the last glyph added
        self.band = (0.0, 0.0)  # bottom and top of the last full-size glyph (a line set askew climbs or falls)

    def add(self, ch: str, x0: float, y0: float, x1: float, y1: float) -> None:
        cur, h = self.cur, y1 - y0
        if cur is not None:
            overlap = min(y1, self.band[1]) - max(y0, self.band[0])
            gap = x0 - cur.x1
            forward = x0 >= self.last - 0.1 * cur.size  # not before the previous glyph (a ligature's parts share one box)
            if overlap >= 0.5 * min(h, cur.y1 - cur.y0) and forward and gap < SPLIT_GAP * cur.size:
                if self.space or gap > SPACE_GAP * cur.size:
                    self.chars.append(" ")
                self.chars.append(ch)
                cur.x1 = max(cur.x1, x1)
                if h > cur.size:  # a larger glyph on the line (a drop cap is rare; a superscript is smaller)
                    cur.size = h
                if h >= 0.8 * cur.size:
                    cur.y0, cur.y1, self.band = min(cur.y0, y0), max(cur.y1, y1), (y0, y1)
                self.space, self.last = False, x0
                return
        self.end()
        self.cur, self.chars, self.space, self.last = Span("", x0, y0, x1, y1, h), [ch], False, x0
        self.band = (y0, y1)

    def end(self) -> None:
        if self.cur is not None:
            self.cur.text = "".join(self.chars)
            self.spans.append(self.cur)
            self.cur = None


def _chars(textpage) -> dict[int, _SpanBuilder]:
    """Spans per text direction (degrees, multiples of 90 except for skewed text)."""
    import pypdfium2.raw as raw

    tp = textpage.raw
    unicode_of, box_of, angle_of = raw.FPDFText_GetUnicode, raw.FPDFText_GetLooseCharBox, raw.FPDFText_GetCharAngle
    rect = raw.FS_RECTF()
    ref = ctypes.byref(rect)
    builders: dict[int, _SpanBuilder] = {}
    frames = {}
    pending_high = None
    for i in range(raw.FPDFText_CountChars(tp)):
        u = unicode_of(tp, i)
        if u in _SPACES:
            for b in builders.values():
                b.space = True
            continue
        if 0xD800 <= u <= 0xDBFF:  # first half of a character outside the BMP
            pending_high = u
            continue
        if 0xDC00 <= u <= 0xDFFF:
            if pending_high is None:
                continue
            u = 0x10000 + ((pending_high - 0xD800) << 10) + (u - 0xDC00)
        pending_high = None
        if u == 0xAD or u < 0x20 and u != 0x02:  # soft hyphen inside a line, control characters
            continue
        ch = "\x02" if u == 0x02 else chr(u)  # 0x02: PDFium's mark for a hyphen that ends a line
        if 0xFB00 <= u <= 0xFB06:
            ch = unicodedata.normalize("NFKC", ch)
        if not box_of(tp, i, ref):
            continue
        angle = angle_of(tp, i)  # clockwise, in radians; -1 when unknown (every glyph: a line's all go one way)
        degrees = -int(round(math.degrees(angle) / 5.0) * 5) % 360 if angle >= 0 else 0
        if degrees not in builders:
            builders[degrees], frames[degrees] = _SpanBuilder(), _frame(math.radians(degrees))
        if degrees:
            x0, y0, x1, y1 = _box(frames[degrees], rect.left, rect.bottom, rect.right, rect.top)
        else:
            x0, y0, x1, y1 = rect.left, rect.bottom, rect.right, rect.top
        builders[degrees].add(ch, x0, y0, x1, y1)
    for b in builders.values():
        b.end()
    return builders


def _rules(page, to) -> list[tuple[float, float, float, float]]:
    """Thin path objects as lines, and the edges of simple rectangles, in frame coordinates."""
    import pypdfium2.raw as raw

    width, height = (abs(v) for v in to(*page.get_size()))

    out = []
    l, b, r, t = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    handle = page.raw
    for i in range(raw.FPDFPage_CountObjects(handle)):
        obj = raw.FPDFPage_GetObject(handle, i)
        if raw.FPDFPageObj_GetType(obj) != raw.FPDF_PAGEOBJ_PATH:
            continue
        if not raw.FPDFPageObj_GetBounds(obj, l, b, r, t):
            continue
        x0, y0, x1, y1 = _box(to, l.value, b.value, r.value, t.value)
        w, h = x1 - x0, y1 - y0
        if w > 0.9 * width and h > 0.9 * height:  # a page background or border
            continue
        if h < 3 and w > 8:
            out.append((x0, (y0 + y1) / 2, x1, (y0 + y1) / 2))
        elif w < 3 and h > 8:
            out.append(((x0 + x1) / 2, y0, (x0 + x1) / 2, y1))
        elif w > 8 and h > 8 and raw.FPDFPath_CountSegments(obj) in (4, 5):
            out += [(x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)]
    return out


def analyse_page(page, number: int = 1) -> PageLayout:
    """Read one open pypdfium2 page into a :class:`PageLayout` (the page may be closed afterwards).
    Text outside the page's crop box is left out, as PDFium's own bounded text leaves it out."""
    textpage = page.get_textpage()
    try:
        builders = _chars(textpage)
    finally:
        textpage.close()
    main = max(builders, key=lambda d: len(builders[d].spans), default=0)
    to = _frame(math.radians(main))
    left, bottom, right, top = page.get_bbox()
    x0, y0, x1, y1 = _box(to, left, bottom, right, top)
    shift = lambda s: Span(s.text, s.x0 - x0, s.y0 - y0, s.x1 - x0, s.y1 - y0, s.size)  # noqa: E731
    w, h = x1 - x0, y1 - y0
    inside = lambda s: -1 <= (s.x0 + s.x1) / 2 <= w + 1 and -1 <= (s.y0 + s.y1) / 2 <= h + 1  # noqa: E731
    spans = [t for t in (shift(s) for s in builders[main].spans) if inside(t)] if builders else []
    rules = [(a - x0, b - y0, c - x0, d - y0) for a, b, c, d in _rules(page, to)] if spans else []
    turned = []
    for d in sorted(builders):
        if d != main:  # checked in page space: the centre of each span's box, turned back
            back = _frame(-math.radians(d))
            keep = [s for s in builders[d].spans if left - 1 <= back((s.x0 + s.x1) / 2, (s.y0 + s.y1) / 2)[0] <= right + 1
                    and bottom - 1 <= back((s.x0 + s.x1) / 2, (s.y0 + s.y1) / 2)[1] <= top + 1]
            if keep:
                turned.append(keep)
    return PageLayout(number, w, h, _merge_rows(spans), rules, turned)


def _merge_rows(spans: list[Span]) -> list[Span]:
    """Join spans of one line that the content stream wrote apart but that touch on the page."""
    out = []
    for row in rows_of(spans):
        row.sort(key=lambda s: s.x0)
        merged = [row[0]]
        for s in row[1:]:
            last = merged[-1]
            if -0.25 * last.size < s.x0 - last.x1 < SPLIT_GAP * min(last.size, s.size) and last.text[-1:] != "\x02":
                sep = " " if s.x0 - last.x1 > SPACE_GAP * last.size else ""
                merged[-1] = Span(last.text + sep + s.text, last.x0, min(last.y0, s.y0), s.x1,
                                  max(last.y1, s.y1), max(last.size, s.size))
            else:
                merged.append(s)
        out += merged
    return out


def _lines_text(spans: list[Span]) -> str:
    return "\n".join(" ".join(s.text.replace("\x02", "-") for s in sorted(row, key=lambda s: s.x0))
                     for row in rows_of(spans))


def compose(layout: PageLayout, furniture: Optional[dict[int, bool]] = None) -> PageText:
    """The page's text, with the spans in ``furniture`` (see :func:`running_furniture`) moved to
    the header and footer fields; without it, the page alone is looked at (its page number is found,
    running lines need the other pages)."""
    if furniture is None:
        furniture = running_furniture([layout])[0]
    body = [s for i, s in enumerate(layout.spans) if i not in furniture]
    header = _lines_text([layout.spans[i] for i, top in furniture.items() if top])
    footer = _lines_text([layout.spans[i] for i, top in furniture.items() if not top])
    tables, rest = find_tables(body, layout.rules)
    blocks = [Block(s.x0, s.y0, s.x1, s.y1, span=s) for s in rest] + tables
    lines = reading_order(blocks, aligned_table)
    parts = paragraphs(lines)
    for spans in layout.turned:
        parts += paragraphs(reading_order([Block(s.x0, s.y0, s.x1, s.y1, span=s) for s in spans]))
    return PageText("\n\n".join(p for p in parts if p), header, footer, sum(1 for line in lines if line.table))


def extract_pages(pdf, indices: Optional[Iterable[int]] = None) -> list[PageText]:
    """The text of the pages at ``indices`` (0-based; default all) of an open pypdfium2 document,
    running headers and footers found across those pages."""
    layouts = []
    for index in range(len(pdf)) if indices is None else indices:
        page = pdf[index]
        try:
            layouts.append(analyse_page(page, index + 1))
        finally:
            page.close()
    return [compose(layout, found) for layout, found in zip(layouts, running_furniture(layouts))]
