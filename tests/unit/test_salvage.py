"""Truncated files whose page dictionaries are gone, rebuilt from their surviving page content
streams (raypipe.pdf.salvage), through ``render_document`` as the render stage calls it. No Ray.

pdfTeX writes each page's content stream as the page is shipped out, font programs after the last
page, and every dictionary (pages, page tree, fonts, catalog) last, in an object stream next to the
cross-reference stream. A cut anywhere loses all the dictionaries, so qpdf's reconstruction finds no
page; the content streams are what is left.
"""

from __future__ import annotations

import io
import random
import re
import time
import zlib

import hostile_pdfs as hostile
import pikepdf
import pytest
from helpers import TEN
from samples import pdf_bytes, pdflatex_layout, text_pages

from raypipe.config import RenderConfig
from raypipe.errors import DocumentError, ErrorCode
from raypipe.pdf.pages import render_document
from raypipe.pdf.salvage import MAX_DECODED_BYTES, find_pages, salvage
from raypipe.pdf.scan import MAX_OBJECTS, MAX_STREAM_BYTES, scan

GEOTOPO = "009-pdflatex-geotopo/GeoTopo-komprimiert.pdf"  # a 117-page pdfTeX document
PDFTEX_FILES = ["004-pdflatex-4-pages/pdflatex-4-pages.pdf", "006-pdflatex-outline/pdflatex-outline.pdf",
                "026-latex-multicolumn/multicolumn.pdf"]  # written by pdfTeX itself, 3-4 pages
MIN_WORD_OVERLAP = 0.7  # share of a page's words that its recovered text layer must keep


def as_pdflatex(pdf: pikepdf.Pdf) -> bytes:
    """``pdf`` written with object streams, objects in the order pdfTeX writes them."""
    out = io.BytesIO()
    pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return pdflatex_layout(out.getvalue())


def words(text: str) -> set[str]:
    return set(re.findall(r"\w{3,}", text.lower()))


def overlap(intact: str, recovered: str) -> float:
    """Share of the intact page's words (3+ letters) that the recovered page's text layer has."""
    expected = words(intact)
    return len(expected & words(recovered)) / len(expected) if expected else 1.0


def read(data: bytes, images: bool = False, **render) -> dict:
    return render_document(data, RenderConfig(**{"text_layer": "raw", **render}), images)  # PDFium's own text: these tests are about what survives, not about reading order


def qpdf_pages(data: bytes) -> int:
    """Pages qpdf's reconstruction finds on its own (0 when it fails)."""
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            return len(pdf.pages)
    except pikepdf.PdfError:
        return 0


@pytest.fixture(scope="module")
def latex_ten(corpus) -> bytes:
    """The first 10 pages of a real pdfTeX document, laid out as pdfTeX writes a file."""
    path = corpus / GEOTOPO
    if not path.exists():
        pytest.skip(f"{GEOTOPO} is not in the corpus at {corpus}")
    with pikepdf.open(path) as src:
        ten = pikepdf.new()
        ten.add_pages_from(src, range(10), outlines="ignore")
        return as_pdflatex(ten)


def test_the_pdflatex_layout_keeps_dictionaries_last(latex_ten):
    starts = {m.group(1): m.start() for m in re.finditer(rb"/Type /(ObjStm|XRef)", latex_ten)}
    contents = [m.start() for m in re.finditer(rb"\d+ 0 obj\n<< /Filter /FlateDecode /Length \d+ >>", latex_ten)]
    assert len(contents) >= 10 and max(contents) < starts[b"ObjStm"] < starts[b"XRef"]
    assert len(read(latex_ten)["pages"]) == 10 and read(latex_ten)["recovered"] is False


def test_pdflatex_file_cut_at_60_percent_recovers_9_of_10_pages(latex_ten):
    intact = read(latex_ten)["pages"]
    cut = latex_ten[: int(len(latex_ten) * 0.6)]
    assert qpdf_pages(cut) == 0  # qpdf alone brings nothing back
    row = read(cut)
    assert row["recovered"] is True and row["num_pages"] >= 9 and len(row["pages"]) == row["num_pages"]
    for before, after in zip(intact, row["pages"]):
        assert after["error"] is None
        assert overlap(before["text_layer"], after["text_layer"]) >= MIN_WORD_OVERLAP, after["page_number"]
    # the page size is guessed from the content (text above US Letter's top edge: A4, as the original)
    sizes = [(p["width"], p["height"]) for p in row["pages"]]
    assert sizes == [(p["width"], p["height"]) for p in intact[: len(sizes)]]


def test_pdflatex_file_cut_figures(latex_ten):
    """Pages back, their mean word overlap with the intact pages, and the time to read the cut file."""
    intact = [p["text_layer"] for p in read(latex_ten)["pages"]]
    got = {}
    print()
    for fraction in (0.3, 0.6, 0.9):
        cut = latex_ten[: int(len(latex_ten) * fraction)]
        start = time.perf_counter()
        pages = read(cut)["pages"]
        seconds = time.perf_counter() - start
        shares = [overlap(a, b["text_layer"]) for a, b in zip(intact, pages)]
        got[fraction] = len(pages)
        print(f"GeoTopo 10 pages, pdfTeX layout, cut at {fraction:.0%}: {len(pages)} pages back, "
              f"mean word overlap {sum(shares) / len(shares):.2f}, min {min(shares):.2f}, {seconds * 1000:.0f} ms")
    assert got[0.3] <= got[0.6] <= got[0.9]
    assert got[0.6] >= 9


@pytest.mark.parametrize("name", PDFTEX_FILES)
def test_files_written_by_pdftex_cut_at_60_percent_come_back_whole(corpus, name):
    data = (corpus / name).read_bytes()
    intact = read(data)["pages"]
    cut = data[: int(len(data) * 0.6)]
    assert qpdf_pages(cut) == 0
    row = read(cut)
    assert row["recovered"] is True and len(row["pages"]) == len(intact)
    assert min(overlap(a["text_layer"], b["text_layer"]) for a, b in zip(intact, row["pages"])) >= MIN_WORD_OVERLAP


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_generated_file_in_pdflatex_layout(fraction):
    """The generated 10-page file with pdfTeX's object order: content streams first, so a 60% cut
    still holds at least 9 of them; the text is exact (the file's font is Helvetica, as the stand-in)."""
    data = as_pdflatex(pikepdf.open(io.BytesIO(pdf_bytes(text_pages(TEN)))))
    cut = data[: int(len(data) * fraction)]
    row = read(cut, images=True, longest_side=200)
    n = len(row["pages"])
    print(f"\ngenerated, pdfTeX layout, cut at {fraction:.0%}: {n} pages back")
    assert row["recovered"] is True and qpdf_pages(cut) == 0
    assert [p["text_layer"] for p in row["pages"]] == TEN[:n]
    assert all(p["image"] and not p["blank"] and p["error"] is None for p in row["pages"])
    assert n >= {0.3: 3, 0.6: 9, 0.9: 10}[fraction]


# --- what the scan keeps and drops ----------------------------------------------------------


def loose_objects(*bodies: bytes) -> bytes:
    """A PDF header and numbered objects, with no cross-reference table or trailer (as cut)."""
    out = b"%PDF-1.7\n"
    for number, body in enumerate(bodies, start=1):
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    return out


def stream(content: bytes, length: int | None = None, compress: bool = True) -> bytes:
    data = zlib.compress(content) if compress else content
    head = b"<< /Length %d%s >>" % (len(data) if length is None else length,
                                    b" /Filter /FlateDecode" if compress else b"")
    return head + b"\nstream\n" + data + b"\nendstream"


def page_content(text: str) -> bytes:
    return b"BT /F9 12 Tf 72 700 Td (%s) Tj ET" % text.encode()


def test_lying_lengths_are_read_up_to_endstream():
    data = loose_objects(stream(page_content("Too short"), length=3), stream(page_content("Too long"), length=99999),
                         stream(page_content("Plain and wrong"), length=7, compress=False))
    row = read(data)
    assert row["recovered"] is True
    assert [p["text_layer"] for p in row["pages"]] == ["Too short", "Too long", "Plain and wrong"]


def test_a_content_stream_cut_midway_keeps_its_complete_text_objects():
    lines = [f"Line {i} of sixty" for i in range(60)]
    content = b"\n".join(b"BT /F9 10 Tf 72 %d Td (%s) Tj ET" % (760 - 12 * i, line.encode())
                         for i, line in enumerate(lines))
    for compress in (False, True):
        data = loose_objects(stream(page_content("Whole page"), compress=compress), stream(content, compress=compress))
        cut = data[: (data.index(b"stream\n", data.index(b"2 0 obj")) + len(data)) // 2]  # half of the stream's data
        whole, part = (p["text_layer"] for p in read(cut)["pages"])
        kept = part.split("\n")
        assert whole == "Whole page" and 10 < len(kept) < 50 and kept == lines[: len(kept)], (compress, kept)


def test_streams_that_are_not_page_content_are_not_pages():
    cmap = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap endcmap end end"
    glyph = b"500 0 0 0 400 700 d1 0 0 400 700 re f"
    private = b"%AI5_BeginLayer 1 1 1 1 0 0 1 0 79 128 255 0 50 Lb (Layer 1) Ln 0 A 100 200 m 300 400 L S"
    noise = random.Random(5).randbytes(3000)
    image = b"<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /Length 3 >>\nstream\nabc\nendstream"
    form = (b"<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Length 44 >>\nstream\n"
            + page_content("Form") + b"\nendstream")
    data = loose_objects(*(stream(c) for c in (cmap, glyph, private, noise)), image, form)
    assert salvage(data) is None
    with pytest.raises(DocumentError) as e:
        read(data)
    assert e.value.code is ErrorCode.UNREADABLE and "no page content found" in e.value.message


def test_surviving_page_dictionary_gives_size_rotation_and_font():
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>"
    page = (b"<< /Type /Page /MediaBox [0 0 500 800] /Rotate 90 /Resources << /Font << /F9 1 0 R >> >> "
            b"/Contents 3 0 R >>")
    data = loose_objects(font, page, stream(page_content("Courier page")), stream(page_content("Orphan page")))
    found = salvage(data)
    assert found.pages == 2
    with pikepdf.open(io.BytesIO(found.data)) as pdf:
        first, second = pdf.pages
        assert [float(v) for v in first.mediabox] == [0, 0, 500, 800] and first.obj.Rotate == 90
        assert first.obj.Resources.Font.F9.BaseFont == "/Courier"
        # no page dictionary: the size of the surviving one, the font known by that name
        assert [float(v) for v in second.mediabox] == [0, 0, 500, 800] and second.obj.Rotate == 0
        assert second.obj.Resources.Font.F9.BaseFont == "/Courier"
    assert [p["text_layer"] for p in read(data)["pages"]] == ["Courier page", "Orphan page"]


def test_unknown_fonts_become_helvetica():
    data = loose_objects(stream(page_content("No font survives")))
    with pikepdf.open(io.BytesIO(salvage(data).data)) as pdf:
        assert pdf.pages[0].obj.Resources.Font.F9.BaseFont == "/Helvetica"
        assert [float(v) for v in pdf.pages[0].mediabox] == [0, 0, 612, 792]  # nothing to go on: US Letter


# --- hostile bytes: one row, quickly --------------------------------------------------------


def timed(data: bytes):
    start = time.perf_counter()
    try:
        result = read(data)
    except DocumentError as e:
        result = e
    return result, time.perf_counter() - start


def test_random_bytes_after_a_header():
    data = b"%PDF-1.7\n" + random.Random(99).randbytes(2 * 1024 * 1024)
    result, seconds = timed(data)
    print(f"\n2 MiB of random bytes: {seconds * 1000:.0f} ms")
    assert isinstance(result, DocumentError) and result.code is ErrorCode.UNREADABLE


def test_deflate_bomb_is_dropped_and_the_real_page_kept():
    squeeze = zlib.compressobj(9)
    chunk = page_content("bomb") * 4096
    bomb = b"".join(squeeze.compress(chunk) for _ in range(MAX_STREAM_BYTES * 4 // len(chunk))) + squeeze.flush()
    data = loose_objects(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(bomb) + bomb + b"\nendstream",
                         stream(page_content("The real page")))
    result, seconds = timed(data)
    print(f"\ndeflate bomb of {MAX_STREAM_BYTES * 4 >> 20} MiB in {len(bomb) >> 10} KiB: {seconds * 1000:.0f} ms")
    assert [p["text_layer"] for p in result["pages"]] == ["The real page"]


def test_ten_thousand_tiny_fake_objects():
    fakes = [b"<< /Type /Page /Contents %d 0 R >>" % i for i in range(5000)]
    fakes += [b"<< /Length 2 >>\nstream\nxx\nendstream" for _ in range(5000)]
    result, seconds = timed(loose_objects(*fakes))
    print(f"\n10k fake objects: {seconds * 1000:.0f} ms")
    assert isinstance(result, DocumentError) and result.code is ErrorCode.UNREADABLE
    result, seconds = timed(loose_objects(*fakes, stream(page_content("Needle"))))
    assert [p["text_layer"] for p in result["pages"]] == ["Needle"]


def test_headers_without_ends_are_bounded():
    data = b"%PDF-1.7\n" + b"1 0 obj << /Length 999 >> stream\n" * (MAX_OBJECTS + 1000)
    start = time.perf_counter()
    found = scan(data)
    pages = find_pages(found).pages
    seconds = time.perf_counter() - start
    print(f"\n{MAX_OBJECTS + 1000} object headers with no end: {len(found)} looked at in {seconds * 1000:.0f} ms")
    assert len(found) == MAX_OBJECTS and pages == []


def test_huge_object_numbers_are_renumbered():
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Name /F9 >>"
    data = (b"%PDF-1.7\n9999999999 0 obj\n" + font + b"\nendobj\n7 0 obj\n"
            + stream(page_content("Far away font")) + b"\nendobj\n")
    found = salvage(data)
    assert len(found.data) < 2000  # a cross-reference table of 10^10 entries would not be
    with pikepdf.open(io.BytesIO(found.data)) as pdf:
        assert pdf.pages[0].obj.Resources.Font.F9.BaseFont == "/Courier"
    assert [p["text_layer"] for p in read(data)["pages"]] == ["Far away font"]


def test_rejected_streams_are_charged_to_the_scan_budget():
    """A stream that inflates past the per-stream cap is decoded up to the cap and rejected, and
    that work is charged to the scan's budget like a kept page's: a file of such streams costs one
    bounded pass. A page after as many of them as the budget pays for is found; after one more, the
    scan has stopped before it."""
    per_bomb = MAX_STREAM_BYTES + 1  # what decoding one to the cap and rejecting it costs
    paid_for = MAX_DECODED_BYTES // per_bomb
    page = b"%d 0 obj\n" + stream(page_content("After the bombs")) + b"\nendobj\n"
    for bombs, expected in ((paid_for, [page_content("After the bombs")]), (paid_for + 1, [])):
        data = hostile.salvage_bombs(bombs, inflated=MAX_STREAM_BYTES + (1 << 20)) + page % (bombs + 1)
        assert [p.content for p in find_pages(scan(data)).pages] == expected, bombs
