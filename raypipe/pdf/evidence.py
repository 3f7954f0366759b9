"""Evidence about one page's text layer, gathered while the page is open in PDFium and rendered:
what the text layer claims against what the page shows.

- Text against ink: the page image becomes a coarse grid; a cell has ink when enough of its pixels
  differ from the paper. The text layer's boxes are laid on the same grid. Ink far from any text
  box (a scan under a one-line footer), text boxes over empty paper (an OCR layer from elsewhere).
- How the text is drawn: characters in an invisible render mode (an OCR layer over a scan), and
  how much of the page images cover.
- Whether the characters mean anything: no Unicode mapping, private-use and replacement
  characters, ``(cid:N)`` tokens; and, for alphabetic scripts, how word-like the words are (vowels,
  the most common words of the major languages, common letter pairs, words without vowels, case
  flips inside words, words mixing scripts).

:func:`gather` returns a :class:`PageEvidence` of counts; :func:`raypipe.engines.router.decide`
reads it. Cost: a few milliseconds a page (``bench/router.py`` measures it).
"""

from __future__ import annotations

import ctypes
import dataclasses
import re
import unicodedata
from typing import Optional

GRID = 96  # cells along the page's longer side (about 8 pt on a letter page)
INK_CONTRAST = 40  # grey levels darker than the paper that count as ink
INK_PIXELS = 0.02  # share of a cell's pixels that must be ink for the cell to have ink
SOLID = 0.8  # share of ink above which a cell is solid (a border, a hole, a photo), not marks
MAX_CHECKED_CHARS = 1500  # characters whose Unicode mapping is asked of PDFium (a sample beyond)
INVISIBLE_MODES = (3, 7)  # text render modes that paint nothing

_CID = re.compile(r"\(cid:\d+\)")
_WORD = re.compile(r"[^\W\d_]+")
# a word broken by digits or stray marks inside ("w0rd", "th;s"), or letters inside a number ("1a2")
_BROKEN = re.compile(r"[^\W\d_][\d!#$%&*+:;<=>?@\\^|~_]+[^\W\d_]|\d[^\W\d_]+\d")
_VOWELS = set("aeiouyæøœı" "αεηιουω" "аеёиоуыэюяіїє")
# letter pairs that are common inside words of the widely written Latin-script languages; in text
# from a shifted or permuted font most pairs are not among them
COMMON_BIGRAMS = frozenset(
    """th he in er an re on en at es ed nd to or ti te it is ar st ou ng al le de nt la ie ei ch ue ra el se ns
    ri ro co ca ta ma me ne na lo li di da ha ve ll io ic ea as et ur ol il un em om us ni ac si ot ec ce rt ge
    be sc qu ss ct nc ab mi ir im ad ts ow sz cz rz ze ak ka ko po pr ny aa kk tt gy ly ek ok va ja ki ky ia
    ya wa za""".split()
)
# the most common short words of the widely written alphabetic languages
COMMON_WORDS = frozenset(
    """the of and to in is that it for as was with be by on not he this are or his from at which but have an
    they you were her she there been one all we their has would when if so no will can more who what its into
    des les une est que pas pour dans par sur qui avec sont aux du la le et un en au il elle ce se ne
    der die und das den dem ein eine ist nicht mit sich auf für von zu im auch es wie bei sie als aus nach
    el los las y del por con una para es lo al se su sus como más pero fue son
    il di che non per una con della sono gli nel alla le si da anche come più
    het een van de en op te dat zijn niet voor met hij aan er ook als bij naar om dan
    os um uma não com para por mais mas foi ao da do dos das se na no
    och att det som är på för av med till den inte har jag om ett men var
    og er til af ikke på med som jeg han det har
    ja on ei että se hän oli ovat mutta kun tai
    és az hogy nem is egy de meg volt csak
    ve bir bu da için ile olan gibi daha çok
    się nie na jest że do to jak ale od za po tak
    je se na že to ve jako pro ale od po
    și în cu pe nu la din este sau mai
    и в не на что с по как это он она но из за то от для
    και το να της του με σε από για που δεν είναι τα τη οι""".split()
)


@dataclasses.dataclass(frozen=True)
class PageEvidence:
    """Counts about one page. Text fields count characters or words of the text layer; page fields
    count cells of a grid of about ``GRID`` cells along the longer side."""

    chars: int = 0  # characters other than white space
    alnum: int = 0  # letters and digits
    unmapped: int = 0  # no Unicode mapping, 0, U+FFFD/FFFE/FFFF, private use, or a control character
    cid: int = 0  # characters in "(cid:N)" tokens
    invisible: int = 0  # characters drawn in an invisible render mode (3 or 7)
    symbols: int = 0  # punctuation and symbols
    letters: int = 0  # letters of alphabetic scripts (Latin, Greek, Cyrillic)
    vowels: int = 0  # of those, vowels
    words: int = 0  # words of two or more letters of alphabetic scripts
    common_words: int = 0  # of those, among the most common words of the major languages
    vowelless_words: int = 0  # of those, words of three or more lower-case letters without a vowel
    odd_words: int = 0  # words with case flips inside, mixed scripts, or six consonants in a row
    bigrams: int = 0  # letter pairs inside Latin-script words
    common_bigrams: int = 0  # of those, among COMMON_BIGRAMS
    broken_words: int = 0  # words broken by digits or stray marks inside ("w0rd", "th;s", "1a2")
    cells: int = 0  # cells on the page
    ink: int = 0  # cells with ink
    text: int = 0  # cells under the text layer's boxes
    ink_near_text: int = 0  # ink cells within one cell of a text box
    text_on_ink: int = 0  # text cells with ink within one cell
    marks: int = 0  # ink cells that are not solid (text-like marks)
    image: int = 0  # cells under images
    image_marks: int = 0  # mark cells under images
    image_marks_far: int = 0  # mark cells under images more than one cell from any text box

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Optional[dict]) -> "PageEvidence":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in names and v is not None})


def arrow_type():
    """The pyarrow struct type of :meth:`PageEvidence.to_dict` (every field int64)."""
    import pyarrow as pa

    return pa.struct([(f.name, pa.int64()) for f in dataclasses.fields(PageEvidence)])


# --- the text ---------------------------------------------------------------------------------------


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0]  # LATIN, GREEK, CYRILLIC, CJK, ARABIC, ...


def _base(ch: str) -> str:
    return unicodedata.normalize("NFD", ch)[0].lower()


_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd\ufffe\uffff\ue000-\uf8ff\U000f0000-\U0010ffff]")
_VOWEL_RUNS = re.compile("[" + "".join(sorted(_VOWELS)) + "]+")


def _word_shape(word: str) -> Optional[tuple[int, bool, bool, int, int]]:
    """(vowels, vowelless, odd, letter pairs, common letter pairs) of a word of an alphabetic script;
    None for a word of another. Letter pairs are counted in Latin words only."""
    if word.isascii():
        kinds, bases = {"LATIN"}, word.lower()
    else:
        kinds = {_script(ch) for ch in word}
        if not kinds <= {"LATIN", "GREEK", "CYRILLIC"}:
            return None
        bases = "".join(_base(ch) for ch in word)
    scripts = len(kinds)
    pairs = common_pairs = 0
    if kinds == {"LATIN"}:
        pairs = len(bases) - 1
        common_pairs = sum(bases[i : i + 2] in COMMON_BIGRAMS for i in range(pairs))
    vowels = sum(b in _VOWELS for b in bases)
    vowelless = len(word) >= 3 and vowels == 0 and not word.isupper()
    flips = sum(a.islower() and b.isupper() for a, b in zip(word, word[1:]))
    consonants = max(map(len, _VOWEL_RUNS.split(bases))) if len(word) >= 6 else 0
    odd = scripts > 1 or flips >= 2 or (flips == 1 and word[-1].isupper() and len(word) > 3) or consonants >= 6
    return vowels, vowelless, odd, pairs, common_pairs


def text_counts(text: str) -> dict:
    """The text fields of :class:`PageEvidence` for a string (``unmapped`` from the string alone)."""
    chars = len(text) - sum(map(text.count, " \t\n\r"))
    alnum = sum(map(str.isalnum, text))
    bad = len(_BAD.findall(text))
    letters = vowels = words = common = vowelless = odd = bigrams = common_bigrams = 0
    for word in _WORD.findall(text):
        shape = _word_shape(word)
        if shape is None:
            continue
        letters += len(word)
        vowels += shape[0]
        bigrams += shape[3]
        common_bigrams += shape[4]
        if len(word) >= 2:
            words += 1
            common += word.lower() in COMMON_WORDS
            vowelless += shape[1]
            odd += shape[2]
    return dict(
        chars=chars, alnum=alnum, unmapped=bad, cid=sum(map(len, _CID.findall(text))), symbols=max(0, chars - alnum - bad),
        broken_words=len(_BROKEN.findall(text)), letters=letters, vowels=vowels, words=words, common_words=common,
        vowelless_words=vowelless, odd_words=odd, bigrams=bigrams, common_bigrams=common_bigrams,
    )


# --- the PDF ----------------------------------------------------------------------------------------


def _objects(raw, page):
    """(type, handle, matrix) of every page object, descending into form XObjects; ``matrix`` maps
    the object's space to the page's."""
    stack = [(None, (1.0, 0.0, 0.0, 1.0, 0.0, 0.0), 0)]
    while stack:
        form, m, depth = stack.pop()
        count = raw.FPDFFormObj_CountObjects(form) if form else raw.FPDFPage_CountObjects(page)
        for i in range(max(count, 0)):
            obj = raw.FPDFFormObj_GetObject(form, i) if form else raw.FPDFPage_GetObject(page, i)
            if not obj:
                continue
            kind = raw.FPDFPageObj_GetType(obj)
            yield kind, obj, m
            if kind == raw.FPDF_PAGEOBJ_FORM and depth < 8:
                fm = raw.FS_MATRIX()
                if raw.FPDFPageObj_GetMatrix(obj, fm):
                    a, b, c, d, e, f = fm.a, fm.b, fm.c, fm.d, fm.e, fm.f
                    # form space -> the form's parent space, then -> page
                    stack.append((obj, (a * m[0] + b * m[2], a * m[1] + b * m[3], c * m[0] + d * m[2],
                                        c * m[1] + d * m[3], e * m[0] + f * m[2] + m[4], e * m[1] + f * m[3] + m[5]), depth + 1))


def _bounds(raw, obj, m) -> Optional[tuple[float, float, float, float]]:
    l, b, r, t = (ctypes.c_float() for _ in range(4))
    if not raw.FPDFPageObj_GetBounds(obj, l, b, r, t):
        return None
    xs, ys = [], []
    for x, y in ((l.value, b.value), (r.value, b.value), (l.value, t.value), (r.value, t.value)):
        xs.append(m[0] * x + m[2] * y + m[4])
        ys.append(m[1] * x + m[3] * y + m[5])
    return min(xs), min(ys), max(xs), max(ys)


def _unmapped(raw, textpage, n: int) -> int:
    """Characters PDFium has no Unicode mapping for, counted on at most ``MAX_CHECKED_CHARS`` of them
    (spread over the page) and scaled to all."""
    if n <= 0:
        return 0
    step = max(1, n // MAX_CHECKED_CHARS)
    hits = sum(1 for i in range(0, n, step) if raw.FPDFText_HasUnicodeMapError(textpage, i) == 1)
    return round(hits * n / len(range(0, n, step)))


class _Grid:
    """Boxes in page space onto the grid of the rendered image."""

    def __init__(self, raw, page, width: int, height: int):
        self.raw, self.page, self.width, self.height = raw, page, width, height
        self.cell = max(width, height) / GRID
        self.cols, self.rows = max(1, round(width / self.cell)), max(1, round(height / self.cell))
        # page space to device pixels is affine: measured over 1000 points, PDFium's rounding vanishes
        o, ex, ey = (self._device(x, y) for x, y in ((0, 0), (1000, 0), (0, 1000)))
        self.m = ((ex[0] - o[0]) / 1000, (ex[1] - o[1]) / 1000, (ey[0] - o[0]) / 1000, (ey[1] - o[1]) / 1000, o[0], o[1])

        # page space -> device pixels is affine: PDFium's rounding spread over 1000 points
        o, ex, ey = (self._device(x, y) for x, y in ((0, 0), (1000, 0), (0, 1000)))
        self.m = ((ex[0] - o[0]) / 1000, (ex[1] - o[1]) / 1000, (ey[0] - o[0]) / 1000, (ey[1] - o[1]) / 1000, o[0], o[1])

    def _device(self, x: float, y: float) -> tuple[int, int]:
        dx, dy = ctypes.c_int(), ctypes.c_int()
        self.raw.FPDF_PageToDevice(self.page, 0, 0, self.width, self.height, 0, x, y, dx, dy)
        return dx.value, dy.value

    def device(self, x: float, y: float) -> tuple[float, float]:
        a, b, c, d, e, f = self.m
        return a * x + c * y + e, b * x + d * y + f

    def mark(self, mask, left: float, bottom: float, right: float, top: float) -> None:
        (x0, y0), (x1, y1) = self.device(left, bottom), self.device(right, top)
        c0, c1 = sorted((x0 / self.cell, x1 / self.cell))
        r0, r1 = sorted((y0 / self.cell, y1 / self.cell))
        c0, r0 = max(0, int(c0)), max(0, int(r0))
        c1, r1 = min(self.cols, int(c1) + 1), min(self.rows, int(r1) + 1)
        if c0 < c1 and r0 < r1:
            mask[r0:r1, c0:c1] = True


def ink_cells(image, cols: int, rows: int):
    """(ink, marks): rows x cols booleans. A cell has ink when at least ``INK_PIXELS`` of its pixels
    are ``INK_CONTRAST`` darker than the paper (the page's 90th percentile grey); it has marks when
    it has ink but is not solid (under ``SOLID`` ink), as cells of text are and cells of dark
    borders, punched holes and photos mostly are not."""
    import numpy as np
    from PIL import Image

    gray = image.convert("L")
    hist = np.asarray(gray.histogram())
    paper = int(np.searchsorted(np.cumsum(hist), 0.9 * hist.sum()))
    cut = paper - INK_CONTRAST
    binary = gray.point([255 if v <= cut else 0 for v in range(256)])
    share = np.asarray(binary.resize((cols, rows), resample=Image.Resampling.BOX), dtype=np.float32) / 255
    ink = share >= INK_PIXELS
    return ink, ink & (share < SOLID)


def _grow(mask):
    """The cells within one cell (eight neighbours) of a marked one."""
    out = mask.copy()
    out[1:, :] |= mask[:-1, :]
    out[:-1, :] |= mask[1:, :]
    grown = out.copy()
    out[:, 1:] |= grown[:, :-1]
    out[:, :-1] |= grown[:, 1:]
    return out


def gather(page, textpage, image, text: Optional[str] = None) -> PageEvidence:
    """Evidence for one page: ``page`` and ``textpage`` open in pypdfium2, ``image`` the page as
    rendered (a PIL image of the whole page, any size), ``text`` the text layer if already read."""
    import numpy as np
    import pypdfium2.raw as raw

    if text is None:
        text = textpage.get_text_bounded()
    counts = text_counts(text)
    n = textpage.count_chars()
    counts["unmapped"] = max(counts["unmapped"], _unmapped(raw, textpage, n))

    grid = _Grid(raw, page, *image.size)
    text_mask = np.zeros((grid.rows, grid.cols), bool)
    image_mask = np.zeros_like(text_mask)
    left, top, right, bottom = (ctypes.c_double() for _ in range(4))
    for i in range(max(0, raw.FPDFText_CountRects(textpage, 0, -1))):
        if raw.FPDFText_GetRect(textpage, i, left, top, right, bottom):
            grid.mark(text_mask, left.value, bottom.value, right.value, top.value)
    invisible = 0
    for kind, obj, m in _objects(raw, page):
        if kind == raw.FPDF_PAGEOBJ_IMAGE:
            box = _bounds(raw, obj, m)
            if box:
                grid.mark(image_mask, *box)
        elif kind == raw.FPDF_PAGEOBJ_TEXT and raw.FPDFTextObj_GetTextRenderMode(obj) in INVISIBLE_MODES:
            size = raw.FPDFTextObj_GetText(obj, textpage, None, 0)  # bytes of UTF-16 with its terminator
            buf = (ctypes.c_ushort * max(1, size // 2))()
            raw.FPDFTextObj_GetText(obj, textpage, buf, size)
            invisible += sum(1 for u in buf[: max(0, size // 2 - 1)] if u > 32)

    ink, marks = ink_cells(image, grid.cols, grid.rows)
    near_text, near_ink = _grow(text_mask), _grow(ink)
    return PageEvidence(
        **counts,
        invisible=min(invisible, counts["chars"]),
        cells=int(ink.size),
        ink=int(ink.sum()),
        text=int(text_mask.sum()),
        ink_near_text=int((ink & near_text).sum()),
        text_on_ink=int((text_mask & near_ink).sum()),
        marks=int(marks.sum()),
        image=int(image_mask.sum()),
        image_marks=int((marks & image_mask).sum()),
        image_marks_far=int((marks & image_mask & ~near_text).sum()),
    )
