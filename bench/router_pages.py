"""A labelled page set for the text-layer router and the blank guard, made by code (no binaries).

Every page is a one-page PDF with a label: whether its text layer should be kept (``keep``), the
reason the router should give, and whether the blank guard should call it blank. Kinds:

- ``born_digital``: Helvetica text in several languages, references, a table, code, formulas, two
  columns, a vector figure, a photo, /Rotate 90, small and grey print: keep, ``text_layer:clean``.
- ``scan_no_text``: a text page rendered, degraded like a scan and embedded as a JPEG: no text.
- ``scan_ocr_good``: the scan plus an invisible (``3 Tr``) text layer that matches it: keep.
- ``scan_ocr_garbage``: the scan plus an invisible layer of random letters, heavy OCR noise or
  shifted letters, at the right places.
- ``scan_ocr_partial``: the scan with an invisible layer for its first lines only.
- ``scan_footer``: the scan plus one visible line of real text (a download footer).
- ``font_shift`` / ``font_permuted`` / ``font_pua``: Helvetica drawn right but with a ToUnicode
  CMap that maps its codes to shifted letters, a permutation of the letters, or private-use code
  points; ``font_type3``: a Type3 font with made-up glyph names and no ToUnicode; ``cid_text``:
  text that reads ``(cid:72)(cid:101)...``.
- ``blank_*``: near-blank scans (noise, bleed-through, dark edges, JPEG noise, punched holes, all of
  them); ``faint_*``: scans that hold faint real text (light grey, small print, one line).

    python bench/router_pages.py OUT_DIR   # writes every page as OUT_DIR/<name>.pdf
"""

from __future__ import annotations

import dataclasses
import random
import sys
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import router_texts as texts  # noqa: E402
from router_pdf import (  # noqa: E402,F401  (the tests build pages with these too)
    Doc,
    H,
    Run,
    Scan,
    W,
    born_digital,
    column,
    helvetica,
    image_xobject,
    literal,
    prose_page,
    render_gray,
    scan_image,
    scan_page,
    text_ops,
    type3,
)


@dataclasses.dataclass(frozen=True)
class Labelled:
    name: str
    kind: str
    pdf: bytes
    keep: Optional[bool]  # router: keep the text layer (None: only in the blank set)
    reason: Optional[str]  # the router's expected reason
    blank: Optional[bool]  # blank guard: near-blank (None: not in the blank set)


# --- garbage text ---------------------------------------------------------------------------------

LOWER = "abcdefghijklmnopqrstuvwxyz"
CONFUSE = {"e": "c", "a": "o", "o": "0", "l": "1", "i": "l", "h": "b", "n": "u", "u": "n", "m": "rn", "t": "f",
           "r": "n", "c": "e", "s": "5", "g": "q", "d": "cl", "b": "h", "f": "t"}


def random_letters(rng: random.Random) -> Callable[[str], str]:
    def f(s: str) -> str:
        return "".join(
            (rng.choice(LOWER).upper() if ch.isupper() else rng.choice(LOWER)) if ch.isalpha() else ch for ch in s
        )
    return f


def ocr_noise(rng: random.Random, cer: float) -> Callable[[str], str]:
    """OCR-like errors at a character error rate: confusions, drops, stray marks, split words."""

    def f(s: str) -> str:
        out = []
        for ch in s:
            r = rng.random()
            if r >= cer:
                out.append(ch)
            elif r < cer * 0.45 and ch.lower() in CONFUSE:
                out.append(CONFUSE[ch.lower()])
            elif r < cer * 0.6:
                continue
            elif r < cer * 0.8:
                out.append(rng.choice(".,;:'~^*|!/\\-_"))
            else:
                out.append(rng.choice(LOWER + "0123456789"))
        return "".join(out)

    return f


def shifted(k: int) -> Callable[[str], str]:
    def f(s: str) -> str:
        return "".join(
            chr((ord(ch.lower()) - 97 + k) % 26 + (65 if ch.isupper() else 97)) if ch.isascii() and ch.isalpha() else ch
            for ch in s
        )
    return f


def permuted(perm: list[str]) -> Callable[[str], str]:
    """Letters through a permutation of the alphabet (``perm[i]`` for the i-th letter)."""
    return lambda ch: perm[LOWER.index(ch.lower())] if ch.isascii() and ch.isalpha() else ch


def letters_map(mapping: Callable[[str], str]) -> dict[int, int]:
    """A ToUnicode table over WinAnsi codes 32..126 whose letters go through ``mapping``."""
    return {c: ord(mapping(chr(c))) for c in range(32, 127)}


# --- the set --------------------------------------------------------------------------------------


def _bodies() -> list[tuple[str, list[Run]]]:
    p = texts.PROSE
    return [
        ("en", prose_page(p["en"] + "\n" + p["en2"], "Otters return to the river")),
        ("en2", prose_page(p["en2"] + "\n" + p["en"], "Cooling two data halls", columns=2)),
        ("letter", prose_page(p["en3"], size=11.5, top=640)),
        ("fr", prose_page(p["fr"] + "\n" + p["es"], "La ville et la mer")),
        ("de", prose_page(p["de"] + "\n" + p["nl"], "Landwirtschaft am Gebirgsrand")),
        ("es", prose_page(p["es"] + "\n" + p["pt"], "Un huerto en el barrio", columns=2)),
        ("it", prose_page(p["it"] + "\n" + p["fr"], "Il museo del palazzo")),
        ("nl", prose_page(p["nl"] + "\n" + p["de"], "Energie en kleine bedrijven")),
        ("pt", prose_page(p["pt"] + "\n" + p["it"], "A escola e a vila")),
        ("refs", prose_page(texts.REFERENCES, "References", size=9.5)),
        ("table", prose_page(texts.TABLE + "\n\n" + p["en2"][:600], size=10)),
        ("code", prose_page(texts.CODE, "Listing 1. Reading and summarising rows", size=10)),
        ("formulas", prose_page(texts.FORMULAS, "3. The mean value theorem", size=10.5)),
    ]


def _photo(rng: np.random.Generator) -> Image.Image:
    yy, xx = np.mgrid[0:225, 0:300] / 100.0
    base = 128 + 60 * np.sin(xx * 1.7 + rng.random() * 3) * np.cos(yy * 2.3) + rng.normal(0, 18, (225, 300))
    rgb = np.stack([base, base * 0.8 + 30, 255 - base * 0.7], axis=2)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def router_set(seed: int = 7) -> list[Labelled]:
    rng, prng = np.random.default_rng(seed), random.Random(seed)
    out: list[Labelled] = []
    bodies = _bodies()
    keep = lambda name, pdf: Labelled(name, "born_digital", pdf, True, "text_layer:clean", None)
    for name, runs in bodies:
        out.append(keep(f"born_digital/{name}", born_digital(runs)))
    en = bodies[0][1]
    figure = b"0.3 0.3 0.6 rg 90 420 60 150 re f 170 420 60 210 re f 250 420 60 90 re f 0 g 1 w 80 410 m 400 410 l S"
    caption1, caption2 = Run(72, 390, 9, "Figure 1. Otter sightings per year."), Run(72, 285, 9, "Figure 2. The old mill.")
    out.append(keep("born_digital/figure", born_digital(en[:12] + [caption1] + en[-8:], extra=figure)))
    out.append(keep("born_digital/photo", born_digital(en[:12] + [caption2] + en[-10:], photo=_photo(rng))))
    out.append(keep("born_digital/rotated", born_digital(bodies[3][1], rotate=90)))
    out.append(keep("born_digital/small", born_digital(prose_page(texts.PROSE["de"] * 3, size=6.5))))
    out.append(keep("born_digital/grey", born_digital(bodies[4][1], gray=0.6)))

    scans = [Scan(), Scan(paper=230, noise=7, blur=0.8, jpeg=60), Scan(paper=244, noise=3, shade=25, jpeg=85),
             Scan(paper=226, noise=6, bleed=18, edges=1, jpeg=70)]
    for i, (name, runs) in enumerate(bodies[:9]):
        spec = scans[i % len(scans)]
        front = render_gray(born_digital(runs))
        back = render_gray(born_digital(bodies[(i + 1) % 9][1])) if spec.bleed else None
        image = scan_image(front, spec, rng, back)
        out.append(Labelled(f"scan_no_text/{name}", "scan_no_text", scan_page(image, spec), False, "model:no_text", False))
        good = text_ops(runs, mode=3)
        out.append(Labelled(f"scan_ocr_good/{name}", "scan_ocr_good", scan_page(image, spec, good), True,
                            "text_layer:ocr_layer", False))
        garbage = [random_letters(prng), ocr_noise(prng, 0.45), shifted(1 + i % 3)][i % 3]
        bad = text_ops(runs, mode=3, transform=garbage)
        out.append(Labelled(f"scan_ocr_garbage/{name}", "scan_ocr_garbage", scan_page(image, spec, bad), False,
                            "model:implausible_text", False))
        if i < 3:
            partial = text_ops(runs[:4], mode=3)
            out.append(Labelled(f"scan_ocr_partial/{name}", "scan_ocr_partial", scan_page(image, spec, partial), False,
                                "model:text_covers_little_of_the_ink", False))
            footer = text_ops(column(texts.FOOTERS[i], 40, 30, W - 80, 7, bottom=0))
            out.append(Labelled(f"scan_footer/{name}", "scan_footer", scan_page(image, spec, footer), False,
                                "model:text_covers_little_of_the_ink", False))

    for i, (name, runs) in enumerate(bodies[:6]):
        perm = list(LOWER)
        prng.shuffle(perm)
        tables = [
            ("font_shift", letters_map(shifted(1 + i % 2)), "model:implausible_text"),
            ("font_permuted", letters_map(permuted(perm)), "model:implausible_text"),
            ("font_pua", {c: 0xE000 + c for c in range(32, 127)}, "model:unmapped_glyphs"),
        ]
        kind, table, reason = tables[i % 3]
        doc = Doc()
        helvetica(doc, to_unicode=table)
        out.append(Labelled(f"{kind}/{name}", kind, doc.file(text_ops(runs)), False, reason, None))
        if i < 2:
            doc = Doc()
            encode = type3(doc)
            out.append(Labelled(f"font_type3/{name}", "font_type3", doc.file(text_ops(runs, encode=encode)), False,
                                "model:unmapped_glyphs", None))
            cid = lambda s: "".join(f"(cid:{ord(ch) - 29})" if ch.isalpha() else ch for ch in s)
            out.append(Labelled(f"cid_text/{name}", "cid_text", born_digital(prose_page(cid(texts.PROSE["en"][:900]), size=9)),
                                False, "model:unmapped_glyphs", None))
    return out


def blank_set(seed: int = 11) -> list[Labelled]:
    """Near-blank scans (blank) and scans of faint real text (not blank); none has a text layer."""
    rng = np.random.default_rng(seed)
    back = render_gray(born_digital(prose_page(texts.PROSE["en"] + "\n" + texts.PROSE["de"], "Back side")))
    kinds = {
        "blank_white": Scan(paper=255, noise=0, blur=0, jpeg=95),
        "blank_noise": Scan(paper=236, noise=8, specks=0.0008),
        "blank_bleed": Scan(paper=232, noise=4, bleed=28),
        "blank_edges": Scan(paper=240, noise=4, edges=3),
        "blank_jpeg": Scan(paper=228, noise=10, blur=1.2, jpeg=25),
        "blank_holes": Scan(paper=238, noise=4, holes=3),
        "blank_all": Scan(paper=225, noise=7, specks=0.0004, bleed=24, edges=2, holes=2, shade=30, jpeg=50),
    }
    out = []
    for name, spec in kinds.items():
        for j in range(2):
            image = scan_image(None, spec, rng, back)
            out.append(Labelled(f"{name}/{j}", name, scan_page(image, spec), False, "model:no_text", True))
    faint = [
        ("faint_grey", prose_page(texts.PROSE["fr"], "Note"), 0.78, Scan(paper=248, noise=3, jpeg=80)),
        ("faint_scan", prose_page(texts.PROSE["it"]), 0.0, Scan(paper=232, ink=178, noise=5, bleed=15)),
        ("faint_small", column(texts.PROSE["nl"], 72, 700, W - 144, 5.5), 0.0, Scan(paper=240, noise=5)),
        ("faint_line", [Run(72, 700, 10, "Notes for the second edition")], 0.0, Scan(paper=236, noise=6, bleed=24, edges=2)),
        ("faint_page_number", [Run(300, 40, 9, "- 17 -")], 0.0, Scan(paper=240, noise=5, specks=0.0004)),
        ("faint_grey_line", [Run(72, 400, 9, "This page is intentionally left blank.")], 0.7, Scan(paper=250, noise=2)),
    ]
    for name, runs, gray, spec in faint:
        for j in range(2):
            image = scan_image(render_gray(born_digital(runs, gray=gray)), spec, rng, back)
            out.append(Labelled(f"{name}/{j}", name, scan_page(image, spec), False, "model:no_text", False))
    return out


def all_pages() -> list[Labelled]:
    return router_set() + blank_set()


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "router-pages")
    for page in all_pages():
        path = folder / f"{page.name}.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(page.pdf)
        print(path, page.keep, page.reason, page.blank)
