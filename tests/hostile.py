"""Hostile PDFs, generated: small files that cost PDFium or qpdf unbounded time or memory. Each
function returns the bytes of a complete file; nothing here is committed as a binary.

- :func:`nested_forms` — a chain of Form XObjects, each drawing the next twice (2^depth draws);
- :func:`inflate_bomb` — a page whose content stream, deflated twice, inflates to gigabytes;
- :func:`operator_flood` — one page of tens of megabytes of drawing operators;
- :func:`glyph_flood` — one page showing millions of glyphs;
- :func:`self_drawing_form` — a form that draws itself;
- :func:`cyclic_page_tree` — a page tree node that is its own kid;
- :func:`deep_page_tree` — a page tree nested thousands of levels deep;
- :func:`huge_image` — an image XObject declared 60000 x 60000 pixels, filled by a tiny stream;
- :func:`deep_arrays` — a page dictionary holding arrays nested a million levels deep.
"""

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


def _deflate_repeated(chunk: bytes, total: int) -> bytes:
    """``chunk`` repeated to ``total`` bytes, deflated once, without building the whole in memory."""
    squeeze = zlib.compressobj(9)
    block = chunk * max(1, (1 << 20) // len(chunk))
    parts, done = [], 0
    while done < total:
        piece = block[: total - done]
        parts.append(squeeze.compress(piece))
        done += len(piece)
    return b"".join(parts) + squeeze.flush()


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


def nested_forms(depth: int) -> bytes:
    """Forms 6, 7, ... each draw the next one twice (side by side at half size); the last draws a
    filled square. The page draws the first: 2^depth squares from a file of a few KB."""
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /X 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        _stream(b"q 612 0 0 792 0 0 cm /X Do Q", filters=0),
    ]
    for level in range(depth):
        number = 5 + level
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
    default), whose data is a deflated run of zeros of that size."""
    pixels = _deflate_repeated(b"\0" * 4096, side * side * 3)
    image = b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 " \
            b"/Length %d /Filter /FlateDecode >>\nstream\n" % (side, side, len(pixels)) + pixels + b"\nendstream"
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
