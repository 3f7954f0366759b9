"""Positioned-text PDFs and a small typesetter, for pages whose truth is known exactly.

A page is a list of items: ``Text`` (a string at a point, Helvetica or Helvetica-Bold, any size,
turned by a multiple of 90 degrees, optional word spacing) and ``Rule`` (a stroked line). Items are
written to the content stream in list order, so a document can put its columns, headers and footers
in whatever order a real producer might. ``Flow`` sets paragraphs into a sequence of column frames
(justified or ragged, hyphenated at line ends with a hard or a soft hyphen, word by word or line by
line) and remembers where every sentence went, so the checks can be derived from the layout.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Optional

from raypipe.pdf.writer import pdf_file

# Advance widths (1/1000 em) of Helvetica and Helvetica-Bold for codes 32..126 (the standard AFM values).
_WIDTHS = {
    False: "278 278 355 556 556 889 667 191 333 333 389 584 278 333 278 278 556 556 556 556 556 556 556 556 556 "
    "556 278 278 584 584 584 556 1015 667 667 722 722 667 611 778 722 278 500 667 556 833 722 778 667 778 722 667 "
    "611 722 667 944 667 667 611 278 278 278 469 556 333 556 556 500 556 556 278 556 556 222 222 500 222 833 556 "
    "556 556 556 333 500 278 556 500 722 500 500 500 334 260 334 584",
    True: "278 333 474 556 556 889 722 238 333 333 389 584 278 333 278 278 556 556 556 556 556 556 556 556 556 556 "
    "333 333 584 584 584 611 1072 722 722 722 722 667 611 778 722 278 556 722 611 833 722 778 667 778 722 667 611 "
    "722 667 944 667 667 611 333 278 333 584 556 333 556 611 556 611 556 333 611 611 278 278 556 278 889 611 611 "
    "611 611 389 556 333 611 556 778 556 556 500 389 280 389 584",
}
WIDTHS = {bold: [int(w) for w in table.split()] for bold, table in _WIDTHS.items()}
_EXTRA = {"\xad": 333, "\u2013": 556, "\u2014": 1000, "\u2022": 350, "\xb9": 333, "\xb2": 333, "\xb7": 278}

SOFT_HYPHEN = "\xad"


def text_width(text: str, size: float, bold: bool = False) -> float:
    table = WIDTHS[bold]
    total = 0
    for ch in text:
        code = ord(ch)
        total += table[code - 32] if 32 <= code <= 126 else _EXTRA.get(ch, 556)
    return total * size / 1000.0


@dataclasses.dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    size: float = 10.0
    bold: bool = False
    angle: int = 0  # degrees, counter-clockwise: 0, 90, 180 or 270
    spacing: float = 0.0  # extra space after every word space (the Tw operator), in points


@dataclasses.dataclass(frozen=True)
class Rule:
    x0: float
    y0: float
    x1: float
    y1: float
    width: float = 0.6


@dataclasses.dataclass
class Page:
    width: float = 612.0
    height: float = 792.0
    rotate: int = 0
    items: list = dataclasses.field(default_factory=list)


_ROT = {0: (1, 0, 0, 1), 90: (0, 1, -1, 0), 180: (-1, 0, 0, -1), 270: (0, -1, 1, 0)}


def _literal(text: str) -> bytes:
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _content(page: Page) -> bytes:
    ops = []
    for item in page.items:
        if isinstance(item, Rule):
            ops.append(b"%.2f w %.2f %.2f m %.2f %.2f l S" % (item.width, item.x0, item.y0, item.x1, item.y1))
        else:
            a, b, c, d = _ROT[item.angle]
            font = b"/F2" if item.bold else b"/F1"
            ops.append(b"BT %s %.2f Tf %.3f Tw %d %d %d %d %.2f %.2f Tm %s Tj ET"
                       % (font, item.size, item.spacing, a, b, c, d, item.x, item.y, _literal(item.text)))
    return b"\n".join(ops)


def pdf_bytes(pages: list[Page]) -> bytes:
    """A complete PDF of these pages (fonts Helvetica as /F1 and Helvetica-Bold as /F2, WinAnsi)."""
    bodies: list[bytes] = [b"", b""]  # catalog, page tree
    fonts = []
    for base in (b"Helvetica", b"Helvetica-Bold"):
        bodies.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>" % base)
        fonts.append(len(bodies))
    kids = []
    for page in pages:
        data = zlib.compress(_content(page))
        bodies.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream")
        contents = len(bodies)
        bodies.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Rotate %d /Resources << /Font "
                      b"<< /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>"
                      % (page.width, page.height, page.rotate, fonts[0], fonts[1], contents))
        kids.append(len(bodies))
    bodies[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    bodies[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    return pdf_file(bodies, 1)


@dataclasses.dataclass
class Frame:
    """A column on a page: left edge, top baseline, width and the lowest baseline allowed."""

    page: int
    x: float
    top: float
    width: float
    bottom: float


@dataclasses.dataclass
class Placed:
    """Where one sentence went: the frames (indices into Flow.frames) of its first and last word."""

    text: str
    first: int
    last: int
    hyphenated: bool = False  # broken across a line end inside one of its words


def split_points(word: str) -> list[int]:
    """Where a word may be hyphenated: at least three letters on each side, after a vowel that is
    followed by a consonant (a crude but deterministic rule)."""
    vowels = set("aeiouy")
    return [i for i in range(3, len(word) - 2)
            if word[:i].isalpha() and word[i:].isalpha()
            and word[i - 1].lower() in vowels and word[i].lower() not in vowels]


class Flow:
    """Sets paragraphs into frames, one line at a time, and places the items on the pages."""

    def __init__(self, pages: list[Page], frames: list[Frame], size=10.0, leading=12.0, justify=True,
                 hyphen: Optional[str] = "-", by_word=True, indent=0.0, gap=0.0):
        self.pages, self.frames = pages, frames
        self.size, self.leading, self.justify, self.hyphen = size, leading, justify, hyphen
        self.by_word, self.indent, self.gap = by_word, indent, gap
        self.frame, self.y = 0, frames[0].top
        self.placed: list[Placed] = []
        self.items: list[list] = [[] for _ in frames]  # items per frame, in writing order

    def _space(self) -> float:
        return text_width(" ", self.size)

    def _advance(self) -> None:
        self.y -= self.leading
        if self.y < self.frames[self.frame].bottom - 0.01:
            self.frame += 1
            if self.frame >= len(self.frames):
                raise ValueError("the text does not fit the frames")
            self.y = self.frames[self.frame].top

    def _emit(self, words: list[str], indent: float, last: bool) -> None:
        frame = self.frames[self.frame]
        x, width = frame.x + indent, frame.width - indent
        natural = sum(text_width(w, self.size) for w in words) + self._space() * (len(words) - 1)
        extra = 0.0
        if self.justify and not last and len(words) > 1:
            extra = (width - natural) / (len(words) - 1)
        out = self.items[self.frame]
        if self.by_word:
            for w in words:
                out.append((frame.page, Text(x, self.y, w, self.size)))
                x += text_width(w, self.size) + self._space() + extra
        else:
            out.append((frame.page, Text(x, self.y, " ".join(words), self.size, spacing=extra)))

    def lines_left(self) -> int:
        """Lines that still fit, in this frame and the frames after it."""
        left = int((self.y - self.frames[self.frame].bottom) / self.leading) + 1
        return left + sum(int((f.top - f.bottom) / self.leading) + 1 for f in self.frames[self.frame + 1:])

    def heading(self, text: str, size: float) -> Placed:
        """A bold line of its own (a title or section heading), with a gap below it."""
        frame = self.frames[self.frame]
        self.items[self.frame].append((frame.page, Text(frame.x, self.y, text, size, bold=True)))
        placed = Placed(text, self.frame, self.frame)
        self.placed.append(placed)
        self.y -= size * 0.6
        self._advance()
        return placed

    def paragraph(self, sentences: list[str]) -> None:
        """Set one paragraph; every sentence is recorded with the frames it starts and ends in."""
        tokens = []  # (word, sentence index)
        for s in sentences:
            self.placed.append(Placed(s, -1, -1))
            tokens += [(w, len(self.placed) - 1) for w in s.split()]
        line: list[str] = []
        owners: list[int] = []
        indent = self.indent
        i = 0
        while i < len(tokens):
            word, owner = tokens[i]
            frame = self.frames[self.frame]
            room = frame.width - indent
            trial = line + [word]
            if text_width(" ".join(trial), self.size) <= room or not line:
                line, owners = trial, owners + [owner]
                i += 1
                continue
            if self.hyphen is not None:  # break the word if a piece of it still fits
                for cut in reversed(split_points(word.rstrip(".,;:"))):
                    head = word[:cut] + self.hyphen
                    if text_width(" ".join(line + [head]), self.size) <= room:
                        line, owners = line + [head], owners + [owner]
                        tokens[i] = (word[cut:], owner)
                        self.placed[owner].hyphenated = True
                        break
            self._place(line, owners, indent, last=False)
            line, owners, indent = [], [], 0.0
        if line:
            self._place(line, owners, indent, last=True)
        self.y -= self.gap

    def _place(self, line, owners, indent, last) -> None:
        for owner in owners:
            p = self.placed[owner]
            if p.first < 0:
                p.first = self.frame
            p.last = self.frame
        self._emit(line, indent, last)
        self._advance()

    def commit(self, order: Optional[list[int]] = None) -> None:
        """Add the set items to their pages, frames in ``order`` (default: frame order)."""
        for f in order if order is not None else range(len(self.frames)):
            for page, item in self.items[f]:
                self.pages[page].items.append(item)
