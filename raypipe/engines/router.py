"""Which pages keep their own text layer under ``ocr_mode auto``: a pure decision over the counts
of :class:`raypipe.pdf.evidence.PageEvidence`, each with a short machine-readable reason.

A page goes to the model when its text layer and the page disagree or the text is not text:

- ``model:no_text``: fewer letters and digits than ``min_chars``;
- ``model:unmapped_glyphs``: characters without a Unicode mapping, private-use or replacement
  characters, ``(cid:N)`` tokens;
- ``model:implausible_text``: words that do not look like words of any alphabetic language
  (glyph-shifted fonts, a garbage OCR layer);
- ``model:text_without_ink``: the text's boxes lie on empty paper (an OCR layer of another page,
  hidden text);
- ``model:text_covers_little_of_the_ink``: much of the ink on the page's images is far from any
  text (a scan under a one-line footer, an OCR layer for part of a scan);
- ``model:invisible_text_over_image``: an invisible OCR layer over a scan, when OCR layers are not
  trusted (``keep_ocr_layers=False``).

Otherwise the text layer is kept: ``text_layer:clean``, or ``text_layer:ocr_layer`` for an
invisible layer over a scan that passed every check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raypipe.pdf.evidence import PageEvidence

KEEP_CLEAN = "text_layer:clean"
KEEP_OCR_LAYER = "text_layer:ocr_layer"
NO_TEXT = "model:no_text"
UNMAPPED = "model:unmapped_glyphs"
IMPLAUSIBLE = "model:implausible_text"
TEXT_WITHOUT_INK = "model:text_without_ink"
UNCOVERED_INK = "model:text_covers_little_of_the_ink"
INVISIBLE_OVER_IMAGE = "model:invisible_text_over_image"
REASONS = (KEEP_CLEAN, KEEP_OCR_LAYER, NO_TEXT, UNMAPPED, IMPLAUSIBLE, TEXT_WITHOUT_INK, UNCOVERED_INK, INVISIBLE_OVER_IMAGE)

MAX_UNMAPPED = 0.1  # share of the characters (math pages from TeX reach 5-10% in their symbol fonts)
MIN_WORDS = 30  # words needed before their shape is judged
MIN_TEXT_ON_INK = 0.3  # share of the text's cells that must show ink
MIN_IMAGE = 0.5  # share of the page that images must cover for the ink on them to be read as a scan
MAX_FAR_IMAGE_INK = 0.3  # share of the page's marks that may lie on such images far from any text
MIN_INVISIBLE = 0.5  # share of the characters drawn invisibly that makes an OCR layer


def implausibility(ev: "PageEvidence") -> list[str]:
    """The signs that the text layer's words are not words: a strong sign alone, or two weak ones,
    make it implausible. Each sign is named as ``strong:...`` or ``weak:...``."""
    signs: list[str] = []
    if ev.words >= MIN_WORDS:
        vowelless = ev.vowelless_words / ev.words
        odd = ev.odd_words / ev.words
        if vowelless >= 0.15:
            signs.append("strong:vowelless_words")
        elif vowelless >= 0.05:
            signs.append("weak:vowelless_words")
        if odd >= 0.15:
            signs.append("strong:odd_words")
        elif odd >= 0.05:
            signs.append("weak:odd_words")
        if ev.common_words < 0.05 * ev.words:
            signs.append("weak:few_common_words")
        broken = ev.broken_words / ev.words  # clean prose: none; TeX math pages: up to 0.17; OCR at 30% CER: 0.2+
        if broken >= 0.2:
            signs.append("strong:broken_words")
        elif broken >= 0.1:
            signs.append("weak:broken_words")
    if ev.letters >= 200:
        ratio = ev.vowels / ev.letters
        if ratio < 0.22 or ratio > 0.7:
            signs.append("strong:vowel_ratio")
        elif ratio < 0.28 or ratio > 0.62:
            signs.append("weak:vowel_ratio")
    if ev.bigrams >= 200:
        common = ev.common_bigrams / ev.bigrams  # natural text: 0.5 and more; shifted fonts: under 0.2
        if common < 0.3:
            signs.append("strong:letter_pairs")
        elif common < 0.42:
            signs.append("weak:letter_pairs")
    if ev.chars >= 200 and ev.symbols >= 0.45 * ev.chars:
        signs.append("weak:symbols")
    return signs


def implausible(ev: "PageEvidence") -> bool:
    signs = implausibility(ev)
    return any(s.startswith("strong:") for s in signs) or len(signs) >= 2


def decide(ev: "PageEvidence", min_chars: int, keep_ocr_layers: bool = True) -> tuple[bool, str]:
    """(keep the text layer, reason) for one page's evidence."""
    if ev.chars >= min_chars and ev.unmapped + ev.cid > MAX_UNMAPPED * ev.chars:
        return False, UNMAPPED
    if ev.alnum < min_chars:
        return False, NO_TEXT
    if implausible(ev):
        return False, IMPLAUSIBLE
    if ev.text and ev.text_on_ink < MIN_TEXT_ON_INK * ev.text:
        return False, TEXT_WITHOUT_INK
    if ev.image >= MIN_IMAGE * ev.cells and ev.image_marks_far > MAX_FAR_IMAGE_INK * ev.marks:
        return False, UNCOVERED_INK
    if ev.invisible >= MIN_INVISIBLE * ev.chars and ev.image:
        return (True, KEEP_OCR_LAYER) if keep_ocr_layers else (False, INVISIBLE_OVER_IMAGE)
    return True, KEEP_CLEAN
