"""Writing the pages of the labelled router set (bench/router_pages.py): a one-page PDF writer with
Helvetica, broken fonts (a ToUnicode CMap that lies, a Type3 font with made-up glyph names) and
image XObjects; text laid out in lines; and scans simulated from rendered pages (paper, ink, noise,
dust, blur, bleed-through, dark edges, punched holes, uneven light, JPEG)."""

from __future__ import annotations

import dataclasses
import io
import zlib
from typing import Callable, Optional

import numpy as np
from PIL import Image, ImageFilter

from raypipe.pdf.writer import pdf_file

W, H = 612.0, 792.0
SCAN_DPI = 150


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
