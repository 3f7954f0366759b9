"""raypipe.pdf.layout on the geometry of ordinary office documents (real PDFium on generated PDFs):
a form whose rules only cross, hanging-indent lists, numbered headings one per page, text set a few
degrees off horizontal."""

from __future__ import annotations

from helpers import layout_pages
from quality_pages import Page, Rule, Text, pdf_bytes

from raypipe.config.render import RenderConfig
from raypipe.pdf.pages import render_document

HEADER = "ACME Ltd - Inspection report"
QUADRANTS = ["Inspector: J. Smith", "Date: 3 May 2024", "Site: North yard", "Result: passed"]


def form_page(n: int) -> Page:
    """A running header and a page number around a cross of rules (the horizontal one drawn as two
    halves at one height) with text in the four quadrants."""
    return Page(items=[Text(72, 760, HEADER, 8), Text(300, 40, str(n), 8),
                       Rule(72, 400, 300, 400), Rule(300, 400, 540, 400), Rule(300, 200, 300, 600),
                       Text(80, 500, QUADRANTS[0]), Text(310, 500, QUADRANTS[1]),
                       Text(80, 300, QUADRANTS[2]), Text(310, 300, QUADRANTS[3])])


def test_rules_that_only_cross_are_no_table_and_the_page_keeps_its_furniture_apart():
    pages = layout_pages([form_page(n) for n in (1, 2, 3)])
    for n, page in enumerate(pages, 1):
        assert page.header == HEADER and page.footer == str(n)
        assert page.tables == 0
        assert all(q in page.text for q in QUADRANTS), page.text
        assert HEADER not in page.text
    rows = render_document(pdf_bytes([form_page(n) for n in (1, 2, 3)]), RenderConfig(), images=False)["pages"]
    assert [r["header"] for r in rows] == [HEADER] * 3
    assert all(HEADER not in r["text_layer"] for r in rows)
