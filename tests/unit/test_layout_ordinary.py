"""raypipe.pdf.layout on the geometry of ordinary office documents (real PDFium on generated PDFs):
a form whose rules only cross, hanging-indent lists, numbered headings one per page, text set a few
degrees off horizontal."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest
from helpers import layout_pages
from quality_pages import Page, Rule, Text, pdf_bytes
from samples import angled_pdf

from raypipe.config.render import RenderConfig
from raypipe.pdf.layout import extract_pages
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


ITEMS = ["The first item explains how the widget is attached to the frame.",
         "The second item covers the electrical connections in some detail and runs on over a second line of its own.",
         "The third item describes the cleaning and the regular maintenance.",
         "The fourth item lists the spare parts that come with the package, and it too needs a second line here."]


def list_page(marks: list[str], x: float, items: list[str] = ITEMS, width: float = 60) -> Page:
    """A paragraph, a list with a hanging indent (mark at ``x``, text 18 pt right of it, an item
    wrapped after ``width`` characters goes on under its text), a paragraph."""
    out = [Text(72, 700, "This manual describes the installation of the widget in the following steps, "),
           Text(72, 688, "which should be carried out in the order in which they are listed here:")]
    y = 664.0
    for mark, item in zip(marks, items):
        out.append(Text(x, y, mark))
        words, line = item.split(), ""
        while words:
            while words and len(line) + len(words[0]) < width:
                line += words.pop(0) + " "
            out.append(Text(x + 18, y, line.strip()))
            line, y = "", y - 12
        y -= 4
    out.append(Text(72, y - 12, "After these steps the widget is ready for use and can be switched on."))
    return Page(items=out)


@pytest.mark.parametrize("marks,x", [(["\u2022"] * 4, 90), (["1.", "2.", "3.", "4."], 72), (["a)", "b)", "c)", "d)"], 72),
                                     (["(i)", "(ii)", "(iii)", "(iv)"], 72), (["-"] * 4, 90)])
def test_a_hanging_indent_list_keeps_each_mark_with_its_item(marks, x):
    [page] = layout_pages([list_page(marks, x)])
    paras = page.text.split("\n\n")
    assert paras[1:5] == [f"{m} {item}" for m, item in zip(marks, ITEMS)], page.text
    assert paras[-1].startswith("After these steps") and len(paras) == 6


def test_short_items_in_a_hanging_indent_list_are_a_list_not_a_table():
    items = ["Apples", "Pears and plums", "Cherries", "Quinces"]
    [page] = layout_pages([list_page(["\u2022"] * 4, 90, items)])
    assert page.tables == 0 and "|" not in page.text
    assert page.text.split("\n\n")[1:5] == [f"\u2022 {item}" for item in items], page.text


QUESTIONS = ["Explain in your own words why the sky appears blue on a clear day and red at sunset.",
             "Describe the water cycle and name the main processes that move water around.",
             "Compare the structure of plant cells with that of animal cells in a short essay.",
             "Outline the causes of the seasons and why they are reversed in the two hemispheres."]


@pytest.mark.parametrize("heading", ["Question {}", "Invoice {}", "{}. Exercise"])
@pytest.mark.parametrize("first", [1, 1001])
def test_a_numbered_heading_one_per_page_stays_in_the_text(heading, first):
    pages = [Page(items=[Text(72, 740, heading.format(first + p), 11, bold=True), Text(72, 716, q),
                         Text(72, 704, "Write your answer in the space below (10 marks).")])
             for p, q in enumerate(QUESTIONS)]
    out = layout_pages(pages)
    assert [p.header for p in out] == [""] * 4
    assert [p.text.split("\n\n")[0] for p in out] == [heading.format(first + p) for p in range(4)]


def test_a_running_head_led_by_the_page_number_still_goes():
    pages = [Page(items=[Text(72, 760, f"{11 + p} Journal of Archives", 8), Text(72, 700, q),
                         Text(72, 688, "Write your answer in the space below (10 marks).")])
             for p, q in enumerate(QUESTIONS)]
    out = layout_pages(pages)
    assert [p.header for p in out] == [f"{11 + p} Journal of Archives" for p in range(4)]
    assert all("Journal" not in p.text for p in out)


MINUTES = ["The committee met on Monday morning to review the summer programme.",
           "Members welcomed the new warden and the museum's two new volunteers."]
STAMP = "Approved: Mary Wellman, Warden of the Museum"
DICKENS = ["It was the best of times, it was the worst of times, it was the age of wisdom,",
           "it was the age of foolishness, it was the epoch of belief, it was the epoch of",
           "incredulity, it was the season of Light, it was the season of Darkness, it was",
           "the spring of hope, it was the winter of despair, we had everything before us."]


def angled_text(lines) -> str:
    pdf = pdfium.PdfDocument(angled_pdf(lines))
    try:
        [page] = extract_pages(pdf)
    finally:
        pdf.close()
    return page.text


@pytest.mark.parametrize("degrees", [2, 4, 8, 15, -6])
def test_a_stamp_set_a_few_degrees_off_horizontal_keeps_its_words_whole(degrees):
    text = angled_text([(72, 700 - 14 * k, 0, line, 10) for k, line in enumerate(MINUTES)]
                       + [(150, 500, degrees, STAMP, 14)])
    assert text.split("\n\n") == [" ".join(MINUTES), STAMP]


@pytest.mark.parametrize("degrees", [0.5, 1.5, 2.2, 4.0])
def test_a_paragraph_set_askew_reads_in_order(degrees):
    text = angled_text([(72, 700 - 13 * k, degrees, line, 10) for k, line in enumerate(DICKENS)])
    assert text == " ".join(DICKENS)
