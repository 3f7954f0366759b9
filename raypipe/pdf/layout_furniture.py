"""Running headers, footers and page numbers for :mod:`raypipe.pdf.layout`: the lines of a page
that belong to the document's furniture rather than to the page's text.

Only the two outermost lines at the top and at the bottom of a page, within its outer quarter, are
looked at. A line runs when the same text stands at the same height on three pages or more (a
book's section titles run over a few pages only) and is not set larger than their text (a title
that slides share is) — on two pages only when it is set smaller than the text of both (verso and
recto heads alternate; an instruction that two pages share is set as large as their text) — or, for the line next to the outermost one, when it is set
smaller than the text on a fifth of the pages and at least three (a line of the text itself is
not). The same text but for a number at its start or end that follows the pages ("Confidential
draft, page 3", "12 Journal of Archives") runs too; a sentence that merely names the page's number
does not, nor does a heading whose number counts the things it names ("Question 3", "Invoice 1003",
"3. Results": a number right after a word, unless that word is "page", or right before a full stop). A page number
is a short line that is mostly the number — alone in the outermost line or beside running text
there — and it must be plausible: "page N" and "N of M" forms are; a bare number (or a lower-case
roman one) must be the page's own number, or follow the pages with the same offset on two pages
or more. A line that carries half of its page's characters or more is the page's own content and
never moves, and a page is never emptied.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Optional, Sequence

from raypipe.pdf.layout_order import rows_of

SMALLER = 0.95  # a line set below this share of its page's text size is smaller than the text
LARGER = 1.3  # and above this share, larger (glyph boxes of fonts of one size differ by a fifth or so)
_PAGE_NUMBER = re.compile(r"^(?P<word>page|p\.|seite|s\.)?\s*[-\u2013\u2014(\[]?\s*(?P<n>\d{1,4}|[ivxlc]{1,7})\s*"
                          r"[-\u2013\u2014)\]]?(?P<total>\s*(of|/|von)\s*\d{1,4})?$", re.IGNORECASE)
_END_NUMBER = re.compile(r"(\d{1,4})(\s*(of|/|von)\s*\d{1,4})?[\s.)\]\-\u2013\u2014]*$")
_START_NUMBER = re.compile(r"^[\s(\[\-\u2013\u2014]*(\d{1,4})\b(?![.)])")
_PAGE_WORD = re.compile(r"\b(page|pages|pp?\.|pg\.|seite|s\.)\s*$")
_AFTER_WORD = re.compile(r"[^\W\d_]\s*$")
_ROMAN = [(100, "c"), (90, "xc"), (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")]


def _roman(text: str) -> Optional[int]:
    """The value of a lower-case roman numeral below 200 written the usual way ("civil" is none)."""
    value, rest = 0, text
    for v, mark in _ROMAN:
        while rest.startswith(mark):
            value, rest = value + v, rest[len(mark):]
    if rest or not value:
        return None
    out, n = "", value
    for v, mark in _ROMAN:
        while n >= v:
            out, n = out + mark, n - v
    return value if out == text else None


def page_number(text: str) -> Optional[tuple[str, int, bool]]:
    """(kind: "arabic" or "roman", value, explicit) when ``text`` reads as a page number; explicit
    for the "page N" and "N of M" forms. Upper-case roman numerals number parts and chapters, not pages."""
    m = _PAGE_NUMBER.match(text.strip())
    if m is None:
        return None
    n, explicit = m.group("n"), bool(m.group("word") or m.group("total"))
    if n.isdigit():
        return "arabic", int(n), explicit
    value = _roman(n) if n.islower() else None
    return ("roman", value, explicit) if value else None


def _keys(text: str, page: int) -> list[tuple]:
    """What must repeat for a line to be running: its very text, or its text with a number at its
    start or end blanked and that number's offset from the page ("Page 3 of 9", "12 Journal of
    Archives"). None for text without letters."""
    flat = re.sub(r"\s+", " ", text.strip().lower())
    if not any(c.isalpha() for c in flat):
        return []
    keys = [(flat,)]
    start, end = _START_NUMBER.search(flat), _END_NUMBER.search(flat)
    if end is not None and not (end.group(2) or _PAGE_WORD.search(flat[:end.start(1)])) \
            and _AFTER_WORD.search(flat[:end.start(1)]):
        end = None  # "question 3": the number is the question's, not the page's
    for m in (start, end):
        if m is not None:
            keys.append((flat[:m.start(1)] + "#" + flat[m.end(1):], int(m.group(1)) - page))
    return keys


def _edge_rows(layout) -> list[tuple[bool, int, list[int]]]:
    """(at the top?, 0 for the outermost row or 1 for the next, span indices) of the two outermost
    rows at the top and at the bottom of the page that lie in its outer quarter."""
    index = {id(s): i for i, s in enumerate(layout.spans)}
    rows = rows_of(layout.spans)
    picked = [(True, 0, rows[0]), (True, 1, rows[1]), (False, 1, rows[-2]), (False, 0, rows[-1])] if len(rows) >= 4 \
        else [(True, 0, rows[0]), (False, 0, rows[-1])] if len(rows) >= 2 else []
    out = []
    for top, depth, row in picked:
        mid = (row[0].y0 + row[0].y1) / 2
        if (mid > 0.75 * layout.height) if top else (mid < 0.25 * layout.height):
            out.append((top, depth, [index[id(s)] for s in row]))
    return out


def _chars(text: str) -> int:
    return sum(1 for c in text if not c.isspace())


def _text_size(layout) -> float:
    """The size of most of the page's characters (the median over characters)."""
    sizes = sorted((s.size, _chars(s.text)) for s in layout.spans)
    half, seen = sum(n for _, n in sizes) / 2, 0
    for size, n in sizes:
        seen += n
        if seen >= half:
            return size
    return 0.0


def _running(layouts: Sequence, edges: list) -> dict[tuple, list[tuple[float, int]]]:
    """(key, top?) → [(y, depth)] at which that line runs."""
    seen = defaultdict(list)  # (key, top?) → [(page position, y, depth, size / the page's text size)]
    for p, (layout, rows) in enumerate(zip(layouts, edges)):
        size = _text_size(layout) or 1.0
        for top, depth, row in rows:
            for i in row:
                span = layout.spans[i]
                for key in _keys(span.text, p):
                    seen[(key, top)].append((p, span.y0, depth, span.size / size))
    inner = max(3, math.ceil(0.2 * len(layouts)))
    running = defaultdict(list)
    for key, places in seen.items():
        for _, y, depth, _ in places:
            here = {p: ratio for p, y2, d, ratio in places if abs(y2 - y) <= 4 and d == depth}
            small = sum(ratio < SMALLER for ratio in here.values())
            if depth == 0 and (sum(ratio <= LARGER for ratio in here.values()) >= 3 or small >= 2) or small >= inner:
                running[key].append((y, depth))
    return running


def running_furniture(layouts: Sequence) -> list[dict[int, bool]]:
    """For each page (a :class:`raypipe.pdf.layout.PageLayout`), the spans that are running
    headers or footers or page numbers: span index → True for the top of the page, False for the
    bottom (the rules are in this module's description)."""
    edges = [_edge_rows(layout) for layout in layouts]
    running = _running(layouts, edges)
    found_on, numbers = [], []  # per page: {span: top?}; (page, span, top?, kind, value, explicit)
    for p, (layout, rows) in enumerate(zip(layouts, edges)):
        total = sum(_chars(s.text) for s in layout.spans) + sum(_chars(s.text) for t in layout.turned for s in t)
        found = {}
        for top, depth, row in rows:
            here = [i for i in row if any(abs(layout.spans[i].y0 - y) <= 4 and d == depth
                                          for key in _keys(layout.spans[i].text, p)
                                          for y, d in running.get((key, top), ()))]
            if 2 * sum(_chars(layout.spans[i].text) for i in here) < total:  # not the page's own content
                found.update((i, top) for i in here)
            if depth == 0:  # the outermost line: a page number?
                candidates = [(i, page_number(layout.spans[i].text)) for i in row]
                candidates = [(i, n) for i, n in candidates if n]
                if len(candidates) == 1 and all(i in found for i in row if i != candidates[0][0]):
                    numbers.append((p, candidates[0][0], top) + candidates[0][1])
        found_on.append(found)
    support = Counter(kind_offset for _, kind_offset in {(p, (kind, value - layouts[p].number))
                                                         for p, _, _, kind, value, _ in numbers})
    for p, i, top, kind, value, explicit in numbers:
        if explicit or value == layouts[p].number or support[(kind, value - layouts[p].number)] >= 2:
            found_on[p][i] = top
    return [found if len(found) < len(layout.spans) else {} for layout, found in zip(layouts, found_on)]
