"""Hostile PDFs, generated: small files that cost PDFium or qpdf unbounded time or memory, and a
few structural traps they survive. Each function returns the bytes of a complete file; nothing
here is committed as a binary.

Costly (measured by ``bench/hostile.py``):

- :func:`nested_forms` — a chain of Form XObjects, each drawing the next twice (2^depth draws);
- :func:`inflate_bomb` — a page whose content stream, deflated twice, inflates to gigabytes;
- :func:`operator_flood` — one page of tens of megabytes of drawing operators;
- :func:`glyph_flood` — one page showing millions of glyphs;
- :func:`annotation_flood` — one page with hundreds of thousands of annotations;
- :func:`damaged_object_flood` — no cross-reference table and a million objects: qpdf's
  reconstruction and the salvage scan read them all;
- :func:`salvage_bombs` — a damaged file of streams the salvage decodes and rejects, one by one.

Traps PDFium handles (a row, and the page renders or fails alone):

- :func:`self_drawing_form` — a form that draws itself;
- :func:`cyclic_page_tree` — a page tree node that is its own kid, claiming a million pages;
- :func:`deep_page_tree` — a page tree nested thousands of levels deep;
- :func:`huge_image` — an image XObject declared 60000 x 60000 pixels;
- :func:`deep_arrays` — a page dictionary holding arrays nested a million levels deep."""

from __future__ import annotations

import zlib

from raypipe.pdf.writer import pdf_file

FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def _stream(data: bytes, extra: bytes = b"", filters: int = 1) -> bytes:
    """A stream object body: ``data`` deflated ``filters`` times (0: stored as is)."""
    for _ in range(filters):
        data = zlib.compress(data, 9)
    names = b" ".join([b"/FlateDecode"] * filters)
    flt = b" /Filter [%s]" % names if filters else b""
    return b"<< /Length %d%s %s >>\nstream\n" % (len(data), flt, extra) + data + b"\nendstream"


def _adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two pieces of data from theirs (zlib's adler32_combine)."""
    base = 65521
    rem = second_length % base
    low = first & 0xFFFF
    high = rem * low % base
    low += (second & 0xFFFF) + base - 1
    high += (first >> 16) + (second >> 16) + base - rem
    return (low % base) | ((high % base) << 16)


def _deflate_repeated(chunk: bytes, total: int) -> bytes:
    """``chunk`` repeated to ``total`` bytes, as a zlib stream, without compressing (or holding) the
    whole: after a full flush deflate starts afresh, so one block's compressed bytes are repeated."""
    block = chunk * max(1, (1 << 20) // len(chunk))
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = squeeze.compress(block) + squeeze.flush(zlib.Z_FULL_FLUSH)
    repeats, rest = divmod(total, len(block))
    tail = block[:rest]
    checksum, one = 1, zlib.adler32(block)
    for _ in range(repeats):
        checksum = _adler32_combine(checksum, one, len(block))
    checksum = zlib.adler32(tail, checksum)
    return (b"\x78\xda" + piece * repeats + squeeze.compress(tail) + squeeze.flush()
            + checksum.to_bytes(4, "big"))


def _one_page(content_body: bytes, resources: bytes = b"", media: bytes = b"0 0 612 792") -> bytes:
    """A one-page document: object 1 catalog, 2 page tree, 3 page, 4 font, 5 its content stream;
    further objects are passed in ``resources`` as (body, ...) by the callers that need them."""
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [%s] /Resources << /Font << /F1 4 0 R >> %s >> /Contents 5 0 R >>"
        % (media, resources),
        FONT,
        content_body,
    ]
    return pdf_file(bodies, 1)


def nested_forms(depth: int, pages: int = 1) -> bytes:
    """Forms each drawing the next one twice (side by side at half size), ``depth`` of them; the
    last draws a filled square. Each of ``pages`` pages draws the first: 2^depth squares per page
    from a file of a few KB."""
    first_form = 4 + pages
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % (4 + i) for i in range(pages)), pages),
        _stream(b"q 612 0 0 792 0 0 cm /X Do Q", filters=0),
    ]
    bodies += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /X %d 0 R >> >> "
               b"/Contents 3 0 R >>" % first_form] * pages
    for level in range(depth):
        number = first_form + level
        if level == depth - 1:
            content, resources = b"0 0 0 rg 0.1 0.1 0.8 0.8 re f", b"<< >>"
        else:
            content = b"q 0.5 0 0 1 0 0 cm /X Do Q q 0.5 0 0 1 0.5 0 cm /X Do Q"
            resources = b"<< /XObject << /X %d 0 R >> >>" % (number + 1)
        bodies.append(_stream(content, b"/Type /XObject /Subtype /Form /BBox [0 0 1 1] /Resources %s" % resources,
                              filters=0))
    return pdf_file(bodies, 1)


def inflate_bomb(inflated: int = 3 << 30) -> bytes:
    """One page whose content stream is ``inflated`` bytes of drawing operators, deflated twice
    (``/Filter [/FlateDecode /FlateDecode]``): 3 GiB of operators in a file of about 20 KB."""
    once = _deflate_repeated(b"0 0 1 1 re f\n", inflated)
    twice = zlib.compress(once, 9)
    body = b"<< /Length %d /Filter [/FlateDecode /FlateDecode] >>\nstream\n" % len(twice) + twice + b"\nendstream"
    return _one_page(body)


def operator_flood(megabytes: int = 20) -> bytes:
    """One page of ``megabytes`` MB of path operators (short lines stroked one by one)."""
    unit = b"".join(b"%d %d m %d %d l S\n" % (i % 600, i % 780, i % 600 + 5, i % 780 + 5) for i in range(997))
    data = _deflate_repeated(unit, megabytes * 1_000_000)
    body = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"
    return _one_page(body)


def glyph_flood(glyphs: int = 5_000_000) -> bytes:
    """One page showing ``glyphs`` glyphs: strings of 1,000 letters shown over and over at one spot."""
    show = b"(" + b"ABCDEFGHIJ" * 100 + b") Tj\n"
    count = max(1, glyphs // 1000)
    content = b"BT /F1 2 Tf 10 10 Td\n" + show * count + b"ET\n"
    data = zlib.compress(content, 9)
    body = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"
    return _one_page(body)


def self_drawing_form() -> bytes:
    """The page draws form 6, which draws itself (through its own resources)."""
    form = _stream(b"q 0.9 0 0 0.9 0.05 0.05 cm /X Do Q 0 0 1 1 re S",
                   b"/Type /XObject /Subtype /Form /BBox [0 0 1 1] /Resources << /XObject << /X 6 0 R >> >>",
                   filters=0)
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /X 6 0 R >> >> "
        b"/Contents 4 0 R >>",
        _stream(b"q 612 0 0 792 0 0 cm /X Do Q", filters=0),
        FONT,
        form,
    ]
    return pdf_file(bodies, 1)


def cyclic_page_tree() -> bytes:
    """A page tree node listing itself among its kids, with one real page beside it."""
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R 2 0 R] /Count 1000000 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        FONT,
        _stream(b"BT /F1 12 Tf 72 700 Td (Cyclic tree) Tj ET", filters=0),
    ]
    return pdf_file(bodies, 1)


def deep_page_tree(depth: int = 100_000) -> bytes:
    """Page tree nodes nested ``depth`` levels, one page at the bottom."""
    bodies = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(depth):
        number = 2 + level
        bodies.append(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (number + 1))
    page = 2 + depth
    bodies.append(b"<< /Type /Page /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> "
                  b"/Contents %d 0 R >>" % (page + 1, page + 2))
    bodies.append(FONT)
    bodies.append(_stream(b"BT /F1 12 Tf 72 700 Td (Deep tree) Tj ET", filters=0))
    return pdf_file(bodies, 1)


def huge_image(side: int = 60_000) -> bytes:
    """A page drawing an 8-bit RGB image declared ``side`` x ``side`` pixels (10 GB decoded at the
    default), whose data is a run of zeros of that size deflated twice (about 20 KB)."""
    pixels = zlib.compress(_deflate_repeated(b"\0" * 4096, side * side * 3), 9)
    image = b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 " \
            b"/Length %d /Filter [/FlateDecode /FlateDecode] >>\nstream\n" % (side, side, len(pixels)) + pixels \
        + b"\nendstream"
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /I 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        _stream(b"q 612 0 0 792 0 0 cm /I Do Q", filters=0),
        image,
    ]
    return pdf_file(bodies, 1)


def deep_arrays(depth: int = 1_000_000) -> bytes:
    """A page whose dictionary holds an array nested ``depth`` levels (``[[[[...]]]]``)."""
    nest = b"[" * depth + b"]" * depth
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R /Junk %s >>" % nest,
        FONT,
        _stream(b"BT /F1 12 Tf 72 700 Td (Deep arrays) Tj ET", filters=0),
    ]
    return pdf_file(bodies, 1)


def salvage_bombs(count: int = 200, inflated: int = 17 << 20) -> bytes:
    """A damaged file (no cross-reference table, no trailer) of ``count`` streams that each inflate
    to ``inflated`` bytes of white space, more than the salvage keeps of one stream: each one is
    decoded and rejected. The default is 200 streams in 3.3 MB."""
    bomb = _deflate_repeated(b" " * 4096, inflated)
    out = bytearray(b"%PDF-1.7\n")
    for number in range(1, count + 1):
        out += b"%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % (number, len(bomb)) + bomb
        out += b"\nendstream\nendobj\n"
    return bytes(out)



def annotation_flood(count: int = 200_000) -> bytes:
    """One page with ``count`` square annotations sharing one appearance stream."""
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"",  # the page, once the annotations are numbered
        _stream(b"0 0 1 rg 0 0 1 1 re f", filters=0),
        _stream(b"0 0 0 rg 0 0 2 2 re f", b"/Type /XObject /Subtype /Form /BBox [0 0 2 2]", filters=0),
    ]
    for i in range(count):
        x, y = i % 600, (i // 600) % 780
        bodies.append(b"<< /Type /Annot /Subtype /Square /Rect [%d %d %d %d] /AP << /N 5 0 R >> >>" % (x, y, x + 2, y + 2))
    refs = b" ".join(b"%d 0 R" % n for n in range(6, len(bodies) + 1))
    bodies[2] = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Annots [%s] >>" % refs
    return pdf_file(bodies, 1)


def damaged_object_flood(count: int = 1_000_000) -> bytes:
    """``count`` small objects and no cross-reference table or trailer: PDFium does not open it, so
    qpdf's reconstruction and the salvage scan read every object."""
    out = bytearray(b"%PDF-1.7\n")
    for number in range(1, count + 1):
        out += b"%d 0 obj\n<< /Type /Page /Contents %d 0 R /MediaBox [0 0 612 792] >>\nendobj\n" % (number, number)
    return bytes(out)
