"""Small, valid PDFs with known content for the tests and the bundled examples: documents whose page
count, text, page size and rotation are known exactly. ``python tests/samples.py examples`` writes
the example set."""

from __future__ import annotations

import dataclasses
import re
import zlib
from pathlib import Path

from raypipe.pdf.writer import pdf_file


@dataclasses.dataclass(frozen=True)
class SamplePage:
    """One page: text lines in Helvetica, optional vector drawing, size in points, /Rotate."""

    lines: tuple[str, ...] = ()
    width: float = 612.0
    height: float = 792.0
    rotate: int = 0
    boxes: int = 0  # filled rectangles drawn as vector graphics (ink with no text layer)
    font_size: float = 12.0


def _escape(text: str) -> bytes:
    raw = text.encode("latin-1", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _content(page: SamplePage) -> bytes:
    ops: list[bytes] = []
    for i in range(page.boxes):
        x = 36 + (i % 4) * 0.2 * page.width
        y = page.height - 72 - (i // 4 + 1) * 0.15 * page.height
        ops.append(b"0.2 0.2 0.2 rg %.2f %.2f %.2f %.2f re f" % (x, y, page.width * 0.15, page.height * 0.1))
    if page.lines:
        lead = page.font_size * 1.4
        top = min(page.height - page.font_size * 2, page.height - 0.05 * page.height)
        ops.append(b"BT /F1 %.1f Tf %.2f TL 36 %.2f Td" % (page.font_size, lead, top))
        for line in page.lines:
            ops.append(b"(" + _escape(line) + b") Tj T*")
        ops.append(b"ET")
    return b"\n".join(ops)


def pdf_bytes(pages: list[SamplePage], *, compress: bool = True) -> bytes:
    """Serialise ``pages`` into a complete PDF file (header, objects, xref table, trailer)."""
    objects: list[bytes] = []  # object number i+1 at index i

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in once the page tree exists
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for page in pages:
        data = _content(page)
        if compress:
            data = zlib.compress(data)
            stream = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"
        else:
            stream = b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"
        contents = add(stream)
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] /Rotate %d "
                b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                % (pages_obj, page.width, page.height, page.rotate, font, contents)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )

    return pdf_file(objects, catalog)


_TOP_OBJECT = re.compile(rb"(\d+) 0 obj\s*")
_FONT_PROGRAM = re.compile(rb"/Length[123]\s|/Subtype\s*/(?:Type1C|CIDFontType0C|OpenType)")


def pdflatex_layout(data: bytes) -> bytes:
    """The same document with its objects in the order pdfTeX writes them: page content streams
    in page order first, other streams (images, forms) next, font programs after them, then the
    object streams holding every dictionary (pages, page tree, fonts, catalog), then the
    cross-reference stream. ``data`` is a file written by qpdf with object streams
    (``pikepdf.Pdf.save(object_stream_mode=ObjectStreamMode.generate)``): no dictionary outside an
    object stream except stream dictionaries, a cross-reference stream last."""
    objects = []  # (number, bytes of "N 0 obj ... endobj", its dictionary)
    pos = data.index(b"\n", data.index(b"%PDF-")) + 1
    first = _TOP_OBJECT.search(data, pos)
    header, pos = data[: first.start()], first.start()
    while True:
        m = _TOP_OBJECT.match(data, pos)
        if m is None:
            break
        stream = data.find(b"stream", m.end())
        endobj = data.find(b"endobj", m.end())
        if stream != -1 and stream < endobj:
            head = data[m.end():stream]
            end = stream + len(b"stream\n") + int(re.search(rb"/Length (\d+)", head).group(1))
            endobj = data.index(b"endobj", end)
        else:
            head = data[m.end():endobj]
        objects.append((int(m.group(1)), data[m.start():endobj + len(b"endobj")], head))
        pos = endobj + len(b"endobj")
        while data[pos:pos + 1] in (b"\n", b"\r", b" "):
            pos += 1

    [xref] = [o for o in objects if b"/Type /XRef" in o[2]]
    streams = [o for o in objects if b"/Type /ObjStm" in o[2]]
    compressed = {}  # object number → (object stream number, index in it)
    dictionaries = {}  # object number → its text, for the objects inside object streams
    for number, text, head in streams:
        raw = text[text.index(b"stream") + len(b"stream\n"):]
        count, first_offset = (int(re.search(rb"/%s (\d+)" % key, head).group(1)) for key in (b"N", b"First"))
        body = zlib.decompress(raw[: int(re.search(rb"/Length (\d+)", head).group(1))])
        pairs = [int(n) for n in body[:first_offset].split()][: 2 * count]
        numbers, starts = pairs[0::2], [first_offset + o for o in pairs[1::2]]
        compressed.update({n: (number, i) for i, n in enumerate(numbers)})
        dictionaries.update(zip(numbers, (body[a:b] for a, b in zip(starts, starts[1:] + [len(body)]))))

    def page_contents(number: int) -> list[int]:  # content stream numbers, in page order
        node = dictionaries.get(number, b"")
        kids = re.search(rb"/Kids \[([^\]]*)\]", node)
        if kids:
            return [c for kid in re.findall(rb"(\d+) 0 R", kids.group(1)) for c in page_contents(int(kid))]
        contents = re.search(rb"/Contents (\[[^\]]*\]|\d+ 0 R)", node)
        return [int(c) for c in re.findall(rb"(\d+) 0 R", contents.group(1))] if contents else []

    root = int(re.search(rb"/Root (\d+) 0 R", xref[2]).group(1))
    order = page_contents(int(re.search(rb"/Pages (\d+) 0 R", dictionaries[root]).group(1)))
    by_number = {o[0]: o for o in objects}
    contents = [by_number[n] for n in dict.fromkeys(order) if n in by_number]
    fonts = [o for o in objects if _FONT_PROGRAM.search(o[2])]
    rest = [o for o in objects if o is not xref and o not in streams and o not in fonts and o not in contents]

    out = bytearray(header)
    offsets = {}
    for number, text, _ in contents + rest + fonts + streams:
        offsets[number] = len(out)
        out += text + b"\n"
    size = int(re.search(rb"/Size (\d+)", xref[2]).group(1))
    offsets[xref[0]] = len(out)
    rows = bytearray()
    for n in range(size):
        if n in offsets:
            rows += bytes([1]) + offsets[n].to_bytes(4, "big") + bytes(2)
        elif n in compressed:
            rows += bytes([2]) + compressed[n][0].to_bytes(4, "big") + compressed[n][1].to_bytes(2, "big")
        else:
            rows += bytes([0]) + bytes(4) + b"\xff\xff"
    keep = b" ".join(re.findall(rb"/(?:Root|Info) \d+ 0 R|/ID \[[^\]]*\]", xref[2]))
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] %s /Length %d >>\nstream\n"
            % (xref[0], size, keep, len(rows)) + bytes(rows) + b"\nendstream\nendobj\n")
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref[0]]
    return bytes(out)


def text_pages(texts: list[str], **page_kwargs) -> list[SamplePage]:
    """One page per string; each string's lines become the page's lines."""
    return [SamplePage(lines=tuple(t.splitlines()), **page_kwargs) for t in texts]


def angled_pdf(lines: list[tuple[float, float, float, str, float]]) -> bytes:
    """One Letter page of Helvetica lines (x, y, degrees counter-clockwise, text, size), each set
    at its own angle about its start."""
    import math

    ops = []
    for x, y, degrees, text, size in lines:
        c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
        ops.append(b"BT /F1 %.1f Tf %.5f %.5f %.5f %.5f %.2f %.2f Tm (%s) Tj ET"
                   % (size, c, s, -s, c, x, y, _escape(text)))
    data = zlib.compress(b"\n".join(ops))
    return pdf_file([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
                     b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
                     b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream",
                     b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
                     b" /Contents 4 0 R >>"], 1)


def write_pdf(path: str | Path, pages: list[SamplePage], **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf_bytes(pages, **kwargs))
    return path


def write_examples(folder: str | Path) -> list[Path]:
    """The bundled example set: a short letter, a rotated page, a multi-page report, a scan-like page."""
    folder = Path(folder)
    report = [
        f"Quarterly report, section {i}\nRevenue grew in region {i} by {3 * i} percent.\n"
        f"Costs were flat; the outlook for section {i} is stable."
        for i in range(1, 6)
    ]
    return [
        write_pdf(folder / "letter.pdf", text_pages(["Dear reader,\nraypipe turns PDFs into text.\nRegards"])),
        write_pdf(folder / "landscape-rotated.pdf", text_pages(["A page stored with /Rotate 90."], rotate=90)),
        write_pdf(folder / "report.pdf", text_pages(report)),
        write_pdf(folder / "scan-like.pdf", [SamplePage(boxes=6)]),
    ]


if __name__ == "__main__":
    import sys

    for written in write_examples(sys.argv[1] if len(sys.argv) > 1 else "examples"):
        print(written)
