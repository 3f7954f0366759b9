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
import io
import random
import sys
import zlib
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import router_texts as texts  # noqa: E402

from raypipe.pdf.writer import pdf_file  # noqa: E402

W, H = 612.0, 792.0
SCAN_DPI = 150


@dataclasses.dataclass(frozen=True)
class Labelled:
    name: str
    kind: str
    pdf: bytes
    keep: Optional[bool]  # router: keep the text layer (None: only in the blank set)
    reason: Optional[str]  # the router's expected reason
    blank: Optional[bool]  # blank guard: near-blank (None: not in the blank set)


# --- writing PDFs ---------------------------------------------------------------------------------


class Doc:
    """One page: object bodies, fonts and images, then the file."""

    def __init__(self):
        self.objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
        self.fonts: dict[str, int] = {}
        self.images: dict[str, int] = {}

    def add(self, body: bytes) -> int:
        self.objects.append(body)
        return len(self.objects)

    def stream(self, data: bytes, extra: bytes = b"", compress: bool = True) -> int:
        if compress:
            data, extra = zlib.compress(data), extra + b" /Filter /FlateDecode"
        return self.add(b"<< /Length %d %s >>\nstream\n" % (len(data), extra) + data + b"\nendstream")

    def file(self, content: bytes, width: float = W, height: float = H, rotate: int = 0) -> bytes:
        contents = self.stream(content)
        fonts = b" ".join(b"/%s %d 0 R" % (k.encode(), v) for k, v in self.fonts.items())
        images = b" ".join(b"/%s %d 0 R" % (k.encode(), v) for k, v in self.images.items())
        page = self.add(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Rotate %d /Resources << /Font << %s >> "
            b"/XObject << %s >> >> /Contents %d 0 R >>" % (width, height, rotate, fonts, images, contents)
        )
        self.objects[1] = b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % page
        return pdf_file(self.objects, 1)


def helvetica(doc: Doc, name: str = "F1", base: str = "Helvetica", to_unicode: Optional[dict[int, int]] = None) -> None:
    extra = b""
    if to_unicode is not None:
        pairs = sorted(to_unicode.items())
        cmap = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Broken def\n"
        cmap += b"1 begincodespacerange <00> <FF> endcodespacerange\n"
        for i in range(0, len(pairs), 100):
            chunk = pairs[i : i + 100]
            cmap += b"%d beginbfchar\n" % len(chunk) + b"".join(b"<%02X> <%04X>\n" % p for p in chunk) + b"endbfchar\n"
        cmap += b"endcmap CMapName currentdict /CMap defineresource pop end end"
        extra = b" /ToUnicode %d 0 R" % doc.stream(cmap)
    doc.fonts[name] = doc.add(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding%s >>" % (base.encode(), extra)
    )


def type3(doc: Doc, name: str = "F1") -> Callable[[str], bytes]:
    """A Type3 font whose glyphs draw Helvetica letters, with made-up glyph names (``/g12``) and no
    ToUnicode, as bitmap fonts from TeX often are: PDFium renders it right but cannot map it. Returns
    the encoder for text in this font."""
    helvetica(doc, "H")
    helv = doc.fonts.pop("H")
    alphabet = [chr(c) for c in range(33, 127)]
    codes = {ch: 1 + i for i, ch in enumerate(alphabet)} | {" ": 200}
    procs = {}
    for ch, code in codes.items():
        raw = ch.encode().replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
        glyph = b"278 0 d0" if ch == " " else b"556 0 d0 BT /H 1000 Tf 0 0 Td (" + raw + b") Tj ET"
        procs[code] = doc.stream(glyph)
    charprocs = doc.add(b"<< " + b" ".join(b"/g%d %d 0 R" % (c, r) for c, r in procs.items()) + b" >>")
    widths = [0] * 256
    for ch, code in codes.items():
        widths[code] = 278 if ch == " " else 556
    diffs = b" ".join(b"%d /g%d" % (c, c) for c in sorted(procs))
    doc.fonts[name] = doc.add(
        b"<< /Type /Font /Subtype /Type3 /FontBBox [0 -210 1000 930] /FontMatrix [0.001 0 0 0.001 0 0] "
        b"/CharProcs %d 0 R /Encoding << /Type /Encoding /Differences [%s] >> /FirstChar 0 /LastChar 255 "
        b"/Widths [%s] /Resources << /Font << /H %d 0 R >> >> >>"
        % (charprocs, diffs, b" ".join(b"%d" % w for w in widths), helv)
    )
    return lambda text: b"<" + bytes(codes.get(ch, 200) for ch in text).hex().encode() + b">"


def literal(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def image_xobject(doc: Doc, name: str, image: Image.Image, jpeg_quality: Optional[int] = None) -> None:
    space = b"/DeviceGray" if image.mode == "L" else b"/DeviceRGB"
    head = b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent 8" % (
        image.width, image.height, space)
    if jpeg_quality:
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=jpeg_quality)
        doc.images[name] = doc.stream(buf.getvalue(), head + b" /Filter /DCTDecode", compress=False)
    else:
        doc.images[name] = doc.stream(image.tobytes(), head)


# --- laying out text ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Run:
    """One line of text at (x, y) in points."""

    x: float
    y: float
    size: float
    text: str


def wrap(text: str, size: float, width: float) -> list[str]:
    per_line = max(10, int(width / (0.5 * size)))
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            if line and len(line) + 1 + len(word) > per_line:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return lines


def column(text: str, x: float, top: float, width: float, size: float, bottom: float = 60) -> list[Run]:
    runs, y = [], top
    for line in wrap(text, size, width):
        if y < bottom:
            break
        if line.strip():
            runs.append(Run(x, y, size, line))
        y -= size * 1.35
    return runs


def prose_page(body: str, title: str = "", size: float = 10.5, columns: int = 1, top: float = 720) -> list[Run]:
    runs = [Run(72, 740, 15, title)] if title else []
    if columns == 1:
        runs += column(body, 72, top, W - 144, size)
    else:
        half = (W - 144 - 24) / 2
        lines = wrap(body, size, half)
        mid = (len(lines) + 1) // 2
        runs += column("\n".join(lines[:mid]), 72, top, half + 40, size)
        runs += column("\n".join(lines[mid:]), 72 + half + 24, top, half + 40, size)
    return runs


def text_ops(runs: list[Run], font: str = "F1", mode: int = 0, gray: float = 0.0,
             encode: Callable[[str], bytes] = literal, transform: Callable[[str], str] = lambda s: s) -> bytes:
    ops = [b"BT %d Tr %.2f g" % (mode, gray)]
    for run in runs:
        ops.append(b"/%s %.1f Tf 1 0 0 1 %.2f %.2f Tm %s Tj" % (font.encode(), run.size, run.x, run.y, encode(transform(run.text))))
    ops.append(b"ET")
    return b"\n".join(ops)


def born_digital(runs: list[Run], *, gray: float = 0.0, extra: bytes = b"", rotate: int = 0,
                 photo: Optional[Image.Image] = None) -> bytes:
    doc = Doc()
    helvetica(doc)
    ops = extra
    if photo is not None:
        image_xobject(doc, "P", photo)
        ops += b"\nq 300 0 0 225 72 300 cm /P Do Q"
    return doc.file(ops + b"\n" + text_ops(runs, gray=gray), rotate=rotate)


# --- scans ----------------------------------------------------------------------------------------


def render_gray(pdf: bytes, dpi: int = SCAN_DPI) -> np.ndarray:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        bitmap = document[0].render(scale=dpi / 72, grayscale=True)
        return np.asarray(bitmap.to_pil().convert("L"), dtype=np.float32)
    finally:
        document.close()


@dataclasses.dataclass(frozen=True)
class Scan:
    """How a sheet of paper looks once scanned."""

    paper: float = 238  # paper grey level
    ink: float = 35  # grey of full black ink
    noise: float = 5.0  # sensor noise (standard deviation)
    specks: float = 0.0  # share of pixels hit by dust specks
    blur: float = 0.6  # optics, pixels
    bleed: float = 0.0  # contrast of the mirrored back side (0: none)
    edges: int = 0  # dark scanner edges on this many sides
    holes: int = 0  # punched holes along the left edge
    jpeg: int = 75  # JPEG quality in the PDF
    shade: float = 0.0  # uneven lighting: darker by this much towards one corner


def scan_image(front: Optional[np.ndarray], spec: Scan, rng: np.random.Generator, back: Optional[np.ndarray] = None) -> Image.Image:
    """A scanned sheet: ``front`` (rendered page, 255 white; None for an empty sheet, then ``back``
    gives the size) in ink on paper, plus what ``spec`` adds."""
    shape = front.shape if front is not None else back.shape
    h, w = shape
    out = np.full(shape, spec.paper, dtype=np.float32)
    if spec.shade:
        yy, xx = np.mgrid[0:h, 0:w]
        out -= spec.shade * ((xx / w + yy / h) / 2) ** 2
    if back is not None and spec.bleed:
        mirrored = np.asarray(Image.fromarray(back[:, ::-1].astype(np.uint8)).filter(ImageFilter.GaussianBlur(2.2)), np.float32)
        out -= spec.bleed * (1 - mirrored / 255)
    if front is not None:
        out -= (spec.paper - spec.ink) * (1 - front / 255)
    img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    if spec.blur:
        img = img.filter(ImageFilter.GaussianBlur(spec.blur))
    out = np.asarray(img, dtype=np.float32).copy()
    for i in range(spec.holes):
        cy, cx, r = h * (0.2 + 0.3 * i), 0.045 * w, 0.024 * w
        yy, xx = np.mgrid[0:h, 0:w]
        disc = np.clip(r + 1.5 - np.hypot(yy - cy, xx - cx), 0, 3) / 3
        out = out * (1 - disc) + 70 * disc
    for side in range(spec.edges):
        depth = int((0.012 + 0.02 * rng.random()) * (w if side % 2 == 0 else h))
        ramp = np.full(depth, 25.0, dtype=np.float32)  # beyond the sheet, then a soft border
        ramp[-depth // 4 :] = np.linspace(25, spec.paper, len(ramp[-depth // 4 :]))
        if side == 0:
            out[:, :depth] = np.minimum(out[:, :depth], ramp[None, :])
        elif side == 1:
            out[:depth, :] = np.minimum(out[:depth, :], ramp[:, None])
        elif side == 2:
            out[:, w - depth :] = np.minimum(out[:, w - depth :], ramp[::-1][None, :])
        else:
            out[h - depth :, :] = np.minimum(out[h - depth :, :], ramp[::-1][:, None])
    out += rng.normal(0, spec.noise, out.shape).astype(np.float32)
    if spec.specks:
        hit = rng.random(out.shape) < spec.specks
        out[hit] = rng.uniform(40, 160, int(hit.sum()))
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def scan_page(image: Image.Image, spec: Scan, overlay: bytes = b"") -> bytes:
    doc = Doc()
    helvetica(doc)
    image_xobject(doc, "S", image, jpeg_quality=spec.jpeg)
    return doc.file(b"q %.2f 0 0 %.2f 0 0 cm /S Do Q\n" % (W, H) + overlay)


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
    keep = lambda name, pdf: Labelled(name, "born_digital", pdf, True, "text_layer:clean", None)  # noqa: E731
    for name, runs in bodies:
        out.append(keep(f"born_digital/{name}", born_digital(runs)))
    en = bodies[0][1]
    figure = b"0.3 0.3 0.6 rg 90 420 60 150 re f 170 420 60 210 re f 250 420 60 90 re f 0 g 1 w 80 410 m 400 410 l S"
    out.append(keep("born_digital/figure", born_digital(en[:12] + [Run(72, 390, 9, "Figure 1. Otter sightings per year.")] + en[-8:], extra=figure)))
    out.append(keep("born_digital/photo", born_digital(en[:12] + [Run(72, 285, 9, "Figure 2. The river below the old mill.")] + en[-10:], photo=_photo(rng))))
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
        out.append(Labelled(f"scan_ocr_good/{name}", "scan_ocr_good", scan_page(image, spec, good), True, "text_layer:ocr_layer", False))
        garbage = [random_letters(prng), ocr_noise(prng, 0.45), shifted(1 + i % 3)][i % 3]
        bad = text_ops(runs, mode=3, transform=garbage)
        out.append(Labelled(f"scan_ocr_garbage/{name}", "scan_ocr_garbage", scan_page(image, spec, bad), False, "model:implausible_text", False))
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
            ("font_permuted", letters_map(lambda ch: perm[LOWER.index(ch.lower())] if ch.isascii() and ch.isalpha() else ch),
             "model:implausible_text"),
            ("font_pua", {c: 0xE000 + c for c in range(32, 127)}, "model:unmapped_glyphs"),
        ]
        kind, table, reason = tables[i % 3]
        doc = Doc()
        helvetica(doc, to_unicode=table)
        out.append(Labelled(f"{kind}/{name}", kind, doc.file(text_ops(runs)), False, reason, None))
        if i < 2:
            doc = Doc()
            encode = type3(doc)
            out.append(Labelled(f"font_type3/{name}", "font_type3", doc.file(text_ops(runs, encode=encode)), False, "model:unmapped_glyphs", None))
            cid = lambda s: "".join(f"(cid:{ord(ch) - 29})" if ch.isalpha() else ch for ch in s)  # noqa: E731
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
