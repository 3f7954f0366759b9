"""The blank guard on rendered scans: every kind of near-blank sheet is blank, and no page with faint
real text is, with the scanner's noise, bleed-through, edges and holes made as hostile as they come
in the generator (bench/router_pages.py)."""

from __future__ import annotations

import numpy as np
import pypdfium2 as pdfium
import pytest
import router_pages as rp  # noqa: E402
from PIL import Image

from raypipe.config import RenderConfig  # noqa: E402
from raypipe.pdf.ink import inspect, near_blank  # noqa: E402
from raypipe.pdf.pages import page_size  # noqa: E402


def rendered(pdf: bytes) -> Image.Image:
    """The page as the render stage draws it (default longest side)."""
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        scale, _, _ = page_size(*page.get_size(), RenderConfig())
        return page.render(scale=scale, rev_byteorder=True).to_pil()
    finally:
        document.close()


@pytest.fixture(scope="module")
def back() -> np.ndarray:
    return rp.render_gray(rp.born_digital(rp.prose_page(rp.texts.PROSE["en"] + "\n" + rp.texts.PROSE["de"], "Back")))


def sheet(spec: rp.Scan, back, front=None, seed: int = 0) -> Image.Image:
    image = rp.scan_image(front, spec, np.random.default_rng(seed), back)
    return rendered(rp.scan_page(image, spec))


NEAR_BLANK = {
    "white": rp.Scan(paper=255, noise=0, blur=0, jpeg=95),
    "sensor noise and dust": rp.Scan(paper=236, noise=8, specks=0.0008),
    "heavy sensor noise": rp.Scan(paper=236, noise=12, jpeg=50),
    "bleed-through": rp.Scan(paper=232, noise=4, bleed=28),
    "dark edges on four sides": rp.Scan(paper=240, noise=4, edges=4),
    "JPEG noise": rp.Scan(paper=228, noise=10, blur=1.2, jpeg=25),
    "punched holes": rp.Scan(paper=238, noise=4, holes=3),
    "uneven light": rp.Scan(paper=240, noise=5, shade=45),
    "all of them": rp.Scan(paper=225, noise=7, specks=0.0004, bleed=24, edges=2, holes=2, shade=30, jpeg=50),
}


@pytest.mark.parametrize("kind", list(NEAR_BLANK))
def test_near_blank_sheets_are_blank(kind, back):
    for seed in (1,):
        report = inspect(sheet(NEAR_BLANK[kind], back, seed=seed))
        assert report.blank, (kind, report)


def test_what_was_set_aside_is_named(back):
    edges = inspect(sheet(NEAR_BLANK["dark edges on four sides"], back))
    holes = inspect(sheet(NEAR_BLANK["punched holes"], back))
    dust = inspect(sheet(NEAR_BLANK["sensor noise and dust"], back))
    assert edges.edge_cells > 50 and edges.marks == 0
    assert holes.hole_cells >= 3 * 4 and holes.marks == 0  # three holes of several cells each
    assert dust.speck_cells > 0 and dust.marks == 0


def faint(runs, spec: rp.Scan, back, gray: float = 0.0, seed: int = 0) -> Image.Image:
    return sheet(spec, back, rp.render_gray(rp.born_digital(runs, gray=gray)), seed)


FAINT = {
    "light grey paragraph": (rp.prose_page(rp.texts.PROSE["fr"], "Note"), 0.78, rp.Scan(paper=248, noise=3)),
    "faint scanned paragraph": (rp.prose_page(rp.texts.PROSE["it"]), 0.0, rp.Scan(paper=232, ink=178, noise=5, bleed=15)),
    "small print": (rp.column(rp.texts.PROSE["nl"], 72, 700, rp.W - 144, 5.5), 0.0, rp.Scan(paper=240, noise=5)),
    "one line over bleed-through and edges": ([rp.Run(72, 700, 10, "Notes for the second edition")], 0.0,
                                               rp.Scan(paper=236, noise=6, bleed=24, edges=2)),
    "a page number in dust": ([rp.Run(300, 40, 9, "- 17 -")], 0.0, rp.Scan(paper=240, noise=5, specks=0.0004)),
    "one light grey line": ([rp.Run(72, 400, 9, "This page is intentionally left blank.")], 0.7, rp.Scan(paper=250, noise=2)),
}


@pytest.mark.parametrize("kind", list(FAINT))
def test_faint_text_is_never_blank(kind, back):
    runs, gray, spec = FAINT[kind]
    for seed in (1,):
        report = inspect(faint(runs, spec, back, gray, seed))
        assert not report.blank, (kind, report)


@pytest.mark.parametrize("where", [(72, 700), (480, 60), (300, 400), (40, 380)])
def test_one_faint_word_anywhere_is_seen(where, back):
    # a short word 40 grey levels under the paper, before the scan's blur, wherever it lies
    spec = rp.Scan(paper=240, ink=200, noise=4)
    assert not near_blank(faint([rp.Run(*where, 9, "Notes")], spec, back))


def test_the_same_word_turns_blank_only_when_it_fades_into_the_paper(back):
    # the guard has a threshold, not a coin: the word is seen at every contrast above it
    results = []
    for contrast in (80, 60, 45, 35, 12, 6):
        spec = rp.Scan(paper=240, ink=240 - contrast, noise=3)
        results.append(near_blank(faint([rp.Run(72, 600, 9, "Notes")], spec, back)))
    assert results[:4] == [False] * 4 and results[-2:] == [True, True]


def test_born_digital_pages_and_modes():
    # a plain rendered page: any image mode is accepted
    image = rendered(rp.born_digital(rp.prose_page(rp.texts.PROSE["es"])))
    for mode in ("RGB", "RGBA", "L"):
        assert not near_blank(image.convert(mode))
    assert near_blank(Image.new("RGB", (400, 520), (255, 255, 255)))
    assert near_blank(Image.new("L", (3, 3), 0))  # a thumbnail of one colour
    thumb = Image.new("L", (40, 50), 250)
    thumb.paste(Image.new("L", (20, 3), 0), (10, 20))
    assert not near_blank(thumb)


def test_a_dark_photo_in_the_middle_is_not_blank():
    image = Image.new("L", (996, 1288), 240)
    image.paste(Image.new("L", (300, 200), 40), (350, 500))
    assert not near_blank(image)
