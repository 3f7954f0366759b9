"""Render stage on real PDFs with pypdfium2: sizes, rotation, pixel cap, page cap/range, encodings,
text layer, and the document-level error codes. No Ray needed."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from samples import SamplePage, pdf_bytes, text_pages

from raypipe.config import RenderConfig
from raypipe.errors import DocumentError, ErrorCode
from raypipe.pdf.pages import render_document


def render(data: bytes, images: bool = True, **cfg) -> dict:
    return render_document(data, RenderConfig(**{"text_layer": "raw", **cfg}), images)  # PDFium's own text: these tests are about what survives, not about reading order


def decode(page: dict) -> Image.Image:
    return Image.open(io.BytesIO(page["image"]))


def test_longest_side_and_text_layer():
    doc = render(pdf_bytes(text_pages(["Alpha line\nBeta line", "Second page"])), longest_side=1000)
    assert doc["num_pages"] == 2 and not doc["page_cap_applied"]
    first, second = doc["pages"]
    assert (first["width"], first["height"]) == (773, 1000)  # 612x792 pt scaled to 1000 px
    assert decode(first).size == (773, 1000)
    assert first["text_layer"] == "Alpha line\nBeta line"
    assert second["text_layer"] == "Second page" and second["page_number"] == 2


def test_rotate_is_honoured():
    # A box near the top-left of the unrotated page; /Rotate 90 turns the page clockwise, so the
    # page becomes landscape and the box ends up in the top-right quadrant.
    doc = render(pdf_bytes([SamplePage(boxes=1, rotate=90)]), longest_side=400, image_format="png")
    page = doc["pages"][0]
    assert page["width"] > page["height"]
    img = decode(page).convert("L")
    w, h = img.size
    dark = lambda box: sum(1 for v in img.crop(box).tobytes() if v < 128)  # noqa: E731
    top_right, top_left = dark((w // 2, 0, w, h // 2)), dark((0, 0, w // 2, h // 2))
    bottom_right = dark((w // 2, h // 2, w, h))
    assert top_right > 100 and top_left == 0 and bottom_right == 0


def test_pixel_cap_bounds_a_14400pt_page():
    data = pdf_bytes([SamplePage(lines=("Big",), width=14400, height=14400)])
    doc = render(data, longest_side=20000, max_pixels=2_000_000, image_format="jpeg")
    page = doc["pages"][0]
    assert page["width"] * page["height"] <= 2_000_000
    assert decode(page).size == (page["width"], page["height"])
    assert page["width"] >= 1400  # scaled to the cap, not to nothing
    default = render(data)["pages"][0]
    assert (default["width"], default["height"]) == (1288, 1288)


def test_thin_strip_keeps_at_least_one_pixel():
    page = render(pdf_bytes([SamplePage(width=14400, height=20)]))["pages"][0]
    assert page["width"] == 1288 and page["height"] >= 1


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("jpeg", b"\xff\xd8"), ("webp", b"RIFF")])
def test_encodings(fmt, magic):
    page = render(pdf_bytes(text_pages(["x"])), longest_side=300, image_format=fmt)["pages"][0]
    assert page["image"].startswith(magic)
    assert decode(page).size == (page["width"], page["height"])


def test_text_only_render_has_no_images():
    data = pdf_bytes(text_pages(["only text"]))
    page = render(data, images=False)["pages"][0]
    assert page["image"] is None and page["text_layer"] == "only text"
    # the sizes it reports are the ones a real render gets
    assert (page["width"], page["height"]) == decode(render(data)["pages"][0]).size == (996, 1288)


def test_page_cap_and_range():
    data = pdf_bytes(text_pages([f"p{i}" for i in range(1, 11)]))
    capped = render(data, images=False, max_pages=3)
    assert capped["num_pages"] == 10 and capped["page_cap_applied"]
    assert [p["page_number"] for p in capped["pages"]] == [1, 2, 3]
    ranged = render(data, images=False, first_page=4, last_page=6)
    assert [p["text_layer"] for p in ranged["pages"]] == ["p4", "p5", "p6"] and not ranged["page_cap_applied"]
    with pytest.raises(DocumentError) as e:
        render(data, images=False, first_page=11)
    assert e.value.code is ErrorCode.NO_PAGES


@pytest.mark.parametrize(
    "data, code",
    [
        (b"", ErrorCode.EMPTY),
        (b"<html><body>hello</body></html>", ErrorCode.NOT_PDF),
        (b"%PDF-1.7\n" + bytes(range(256)) * 8, ErrorCode.UNREADABLE),
    ],
)
def test_bad_bytes_raise_named_codes(data, code):
    with pytest.raises(DocumentError) as e:
        render(data)
    assert e.value.code is code


def test_corpus_encrypted_and_unreadable(corpus):
    with pytest.raises(DocumentError) as e:
        render((corpus / "005-libreoffice-writer-password/libreoffice-writer-password.pdf").read_bytes())
    assert e.value.code is ErrorCode.ENCRYPTED
    # neither PDFium nor qpdf opens it (its page tree has no /Kids); its three page dictionaries and
    # their content streams are in the bytes, so the pages are rebuilt from them
    doc = render((corpus / "017-unreadable-meta-data/unreadablemetadata.pdf").read_bytes(), longest_side=300)
    assert doc["recovered"] is True and doc["num_pages"] == len(doc["pages"]) == 3
    assert all(len(p["text_layer"].split()) > 50 and not p["blank"] for p in doc["pages"])


def test_corpus_image_only_pages_render(corpus):
    doc = render((corpus / "007-imagemagick-images/imagemagick-CCITTFaxDecode.pdf").read_bytes(), longest_side=512)
    page = doc["pages"][0]
    assert page["text_layer"] == "" and max(page["width"], page["height"]) == 512
    img = decode(page).convert("L")
    assert img.getextrema()[0] < 128  # the scanned image has ink
