"""Page evidence from real PDFium on generated pages: text boxes against the rendered ink (also on
rotated pages and through form XObjects), invisible text, unmapped glyphs, and the word counts."""

from __future__ import annotations

import numpy as np
import pytest
import router_pages as rp  # noqa: E402
from helpers import page_evidence

from raypipe.pdf.evidence import PageEvidence, arrow_type, text_counts  # noqa: E402


def evidence(pdf: bytes) -> PageEvidence:
    return page_evidence(pdf)


RUNS = rp.prose_page(rp.texts.PROSE["en"], "Otters return to the river")


@pytest.fixture(scope="module")
def scan():
    return rp.scan_image(rp.render_gray(rp.born_digital(RUNS)), rp.Scan(), np.random.default_rng(1))


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_visible_text_lies_on_its_ink_at_every_rotation(rotate):
    ev = evidence(rp.born_digital(RUNS, rotate=rotate))
    assert ev.chars > 800 and ev.unmapped == 0 and ev.invisible == 0 and ev.image == 0
    assert ev.text_on_ink >= 0.97 * ev.text  # the boxes sit on the glyphs
    assert ev.ink_near_text >= 0.97 * ev.ink
    assert ev.text < 0.5 * ev.cells


def test_boxes_off_by_half_a_page_would_show():
    # the same text, and ink of a different page: the boxes no longer sit on ink
    doc = rp.Doc()
    rp.helvetica(doc)
    shifted = [rp.Run(r.x, r.y - 330, r.size, r.text) for r in RUNS[:6]]
    ink_only = b"0 g 72 650 460 60 re f"  # a dark box where the text is not
    ev = evidence(doc.file(ink_only + b"\n" + rp.text_ops(shifted, mode=3)))
    assert ev.invisible == ev.chars > 100
    assert ev.text_on_ink < 0.2 * ev.text


def test_invisible_layer_over_a_scan(scan):
    ev = evidence(rp.scan_page(scan, rp.Scan(), rp.text_ops(RUNS, mode=3)))
    assert ev.invisible == ev.chars > 800
    assert ev.image >= 0.95 * ev.cells
    assert ev.image_marks > 500 and ev.image_marks_far < 0.05 * ev.image_marks


def test_scan_under_a_footer(scan):
    footer = rp.text_ops(rp.column(rp.texts.FOOTERS[0], 40, 30, rp.W - 80, 7, bottom=0))
    ev = evidence(rp.scan_page(scan, rp.Scan(), footer))
    assert ev.invisible == 0 and ev.alnum > 64
    assert ev.image_marks_far > 0.8 * ev.marks


def test_a_scan_wrapped_in_a_scaled_form_xobject(scan):
    # stamping tools put the original page in a form XObject and draw a footer beside it
    doc = rp.Doc()
    rp.helvetica(doc)
    rp.image_xobject(doc, "S", scan, jpeg_quality=70)
    inner = b"q %.2f 0 0 %.2f 0 0 cm /S Do Q" % (rp.W, rp.H)
    form = doc.stream(inner, b"/Type /XObject /Subtype /Form /BBox [0 0 %.2f %.2f] /Resources << /XObject << /S %d 0 R >> >>"
                      % (rp.W, rp.H, doc.images.pop("S")))
    doc.images["Fm"] = form
    content = b"q 0.5 0 0 0.5 0 396 cm /Fm Do Q\n"  # the original page shrunk into the top-left quarter
    ev = evidence(doc.file(content + rp.text_ops([rp.Run(320, 100, 9, rp.texts.FOOTERS[1][:90])])))
    assert 0.2 * ev.cells <= ev.image <= 0.3 * ev.cells  # a quarter of the page, not the whole
    assert ev.image_marks_far >= 0.9 * ev.image_marks > 0


def test_unmapped_glyphs_are_counted():
    doc = rp.Doc()
    encode = rp.type3(doc)
    type3 = evidence(doc.file(rp.text_ops(RUNS, encode=encode)))
    assert type3.unmapped >= 0.9 * type3.chars > 500
    doc = rp.Doc()
    rp.helvetica(doc, to_unicode={c: 0xE000 + c for c in range(32, 127)})
    pua = evidence(doc.file(rp.text_ops(RUNS)))
    assert pua.unmapped >= 0.9 * pua.chars > 500 and pua.alnum == 0


def test_text_counts_of_hostile_strings():
    clean = text_counts("The river rises in the hills to the north of the town and runs to the sea.")
    assert clean["words"] == 17 and clean["common_words"] >= 6 and clean["vowelless_words"] == 0
    assert 0.3 < clean["vowels"] / clean["letters"] < 0.5
    assert text_counts("(cid:72)(cid:101) x")["cid"] == len("(cid:72)(cid:101)")
    assert text_counts("a\x00b\x07c\ufffd\ue041 \uffff")["unmapped"] == 5
    assert text_counts("Hеllo wоrld")["odd_words"] == 2  # Cyrillic е and о inside Latin words
    assert text_counts("tHiS iS wEiRd")["odd_words"] >= 2
    assert text_counts("Ifmmp xpsme qvtt tqsx")["vowelless_words"] >= 2
    assert text_counts("w0rd f1sh 1a2 th;s e.g. well-known don't and/or")["broken_words"] == 4
    greek = text_counts("Η πόλη βρίσκεται κοντά στη θάλασσα και το λιμάνι είναι μεγάλο")
    assert greek["words"] == 10 and greek["vowelless_words"] == 0 and greek["common_words"] >= 2
    cjk = text_counts("这是一个测试页面，没有拉丁字母。")
    assert cjk["words"] == 0 and cjk["alnum"] > 10 and cjk["unmapped"] == 0
    assert text_counts("")["chars"] == 0


def test_evidence_travels_as_a_row():
    import pyarrow as pa

    ev = evidence(rp.born_digital(RUNS))
    row = pa.array([ev.to_dict()], type=arrow_type()).to_pylist()[0]
    assert PageEvidence.from_dict(row) == ev
    assert PageEvidence.from_dict({"chars": 3, "unknown": 1, "ink": None}) == PageEvidence(chars=3)
    assert PageEvidence.from_dict(None) == PageEvidence()
