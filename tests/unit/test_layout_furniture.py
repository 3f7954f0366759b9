"""What raypipe.pdf.layout moves out of a page's text into ``header`` and ``footer``: running lines
and page numbers only, never the page's own content (real PDFium on generated PDFs and on the
sample corpus)."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest
from helpers import layout_pages
from quality_pages import Page, Text

from raypipe.pdf.layout import extract_pages

BODY = ["The first finding is that throughput rose by a third over the year.",
        "The second is that memory stayed flat while the load doubled.",
        "A third line of body text follows the second one closely.",
        "And a fourth one closes the paragraph on this page."]
TOPICS = ["harbour", "ledger", "survey", "council", "meadow", "station", "bridge", "river"]


def body(n: int) -> list[str]:
    """Body lines of their own for page ``n`` (0-based)."""
    return [line.replace("throughput", f"{TOPICS[n % 8]} traffic").replace("memory", f"the {TOPICS[n // 8 % 8]} budget")
            for line in BODY]


def extract(pages: list[Page]):
    return layout_pages(pages)


def page_of(lines: list[str], size: float = 11, top: float = 740, width: float = 612, height: float = 792) -> Page:
    """Lines set one under the other at one size ("" leaves a blank line)."""
    lead = 1.4 * size
    return Page(width, height, items=[Text(54, top - i * lead, line, size) for i, line in enumerate(lines) if line])


def test_a_line_repeated_on_every_page_that_is_most_of_each_page_stays():
    # the same one-line leaflet on four pages, a small mark beside it (as a turned or garbled glyph run)
    pages = [page_of(["The same sentence stands alone on every page of this leaflet."]) for _ in range(4)]
    for page in pages:
        page.items.append(Text(500, 700, "x1", 6))
    out = extract(pages)
    assert [p.header for p in out] == [""] * 4
    assert all(p.text.startswith("The same sentence stands alone") for p in out)


def test_the_rotated_corpus_page_keeps_its_line(corpus):
    pdf = pdfium.PdfDocument(str(corpus / "015-arabic" / "habibi-rotated.pdf"))
    try:
        out = extract_pages(pdf)
    finally:
        pdf.close()
    assert len(out) == 4
    for page in out:
        assert page.header == "" and page.footer == ""
        assert "habibi" in page.text


def test_a_title_shared_by_two_slides_stays():
    titles = ["Introduction", "Method", "Results", "Results", "Discussion", "Related work", "Future work", "Thanks"]
    out = extract([page_of([t, "", *body(n)], size=20, top=560, width=792, height=612) for n, t in enumerate(titles)])
    assert [p.header for p in out] == [""] * 8
    assert [p.text.split("\n\n")[0] for p in out] == titles


def test_a_title_larger_than_the_text_shared_by_three_slides_stays():
    titles = ["Introduction", "Method", "Results", "Results", "Results", "Discussion", "Future work", "Thanks"]
    pages = [page_of(body(n), size=18, top=480, width=792, height=612) for n in range(8)]
    for page, title in zip(pages, titles):
        page.items.append(Text(54, 540, title, 28))
    out = extract(pages)
    assert [p.header for p in out] == [""] * 8
    assert [p.text.split("\n\n")[0] for p in out] == titles


def test_a_line_of_text_repeated_under_changing_titles_stays():
    # eight slides with the same opening line under their own titles, in the top quarter of each
    titles = ["Introduction", "Method", "Results", "Findings", "Discussion", "Related work", "Future work", "Thanks"]
    out = extract([page_of([t, BODY[0], *body(n)[1:]], size=20, top=560, width=792, height=612)
                   for n, t in enumerate(titles)])
    assert [p.header for p in out] == [""] * 8
    assert all(BODY[0] in p.text for p in out)


def test_an_instruction_on_both_pages_of_a_two_page_exam_stays():
    out = extract([page_of(["Answer every question in full sentences.", f"Question {q}: explain the water cycle.",
                            *BODY]) for q in (1, 2)])
    assert [p.header for p in out] == ["", ""]
    assert all(p.text.startswith("Answer every question in full sentences.") for p in out)


def test_a_small_header_on_two_pages_still_runs():
    # alternating running heads (verso/recto): each stands on every other page, set smaller than the text
    pages = []
    for p in range(4):
        page = page_of(body(p), top=700)
        page.items.append(Text(54, 750, "Annual Report on River Quality" if p % 2 == 0 else "Chapter 2: Sampling", 8))
        pages.append(page)
    out = extract(pages)
    assert [p.header for p in out] == ["Annual Report on River Quality", "Chapter 2: Sampling"] * 2
    assert all("River Quality" not in p.text and "Chapter 2" not in p.text for p in out)


def test_a_sentence_that_names_the_page_number_stays():
    pages = [page_of([f"Slide {i} makes point number {i} about the topic.", f"It is backed by evidence item {7 * i}.",
                      f"And closes with remark {3 * i} on the matter."], size=20, top=520, width=792, height=612)
             for i in range(1, 9)]
    for i, page in enumerate(pages, 1):
        page.items.append(Text(54, 560, f"Heading number {i * 11}", 20))
    out = extract(pages)
    for i, page in enumerate(out, 1):
        assert page.header == "" and page.footer == ""
        assert f"Slide {i} makes point number {i} about the topic." in page.text


def test_a_year_atop_a_one_page_report_and_a_word_at_its_foot_stay():
    page = page_of(["2024", "Annual Report of the Water Board", *BODY], size=14)
    page.items.append(Text(54, 40, "Civil", 14))
    [out] = extract([page])
    assert (out.header, out.footer) == ("", "")
    assert out.text.startswith("2024") and out.text.endswith("Civil")


def test_page_numbers_that_follow_the_pages_go_with_or_without_an_offset():
    # a cover page, then pages numbered from 1; a front matter numbered in roman numerals
    pages = [page_of(BODY) for _ in range(4)]
    for p, page in enumerate(pages[1:], 1):
        page.items.append(Text(300, 40, str(p), 9))
    out = extract(pages)
    assert [p.footer for p in out] == ["", "1", "2", "3"]
    front = [page_of(BODY) for _ in range(3)]
    for p, page in enumerate(front):
        page.items.append(Text(300, 40, ["i", "ii", "iii"][p], 9))
    assert [p.footer for p in extract(front)] == ["i", "ii", "iii"]


def test_a_number_that_does_not_follow_the_pages_stays():
    pages = [page_of(BODY) for _ in range(3)]
    for page, number in zip(pages, ["12", "40", "7"]):  # figures or counts at the foot, not a sequence
        page.items.append(Text(300, 40, number, 9))
    out = extract(pages)
    assert [p.footer for p in out] == ["", "", ""]
    assert [p.text.split("\n\n")[-1] for p in out] == ["12", "40", "7"]


@pytest.mark.parametrize("footer", ["Page {} of 5", "- {} -", "Confidential draft \u2013 page {}"])
def test_page_number_footers_in_their_usual_forms_go(footer):
    pages = [page_of(BODY) for _ in range(5)]
    for p, page in enumerate(pages, 1):
        page.items.append(Text(280, 40, footer.format(p), 9))
    out = extract(pages)
    assert [p.footer for p in out] == [footer.format(p) for p in range(1, 6)]
