"""The page image the engines get: encoded bytes kept as rendered, decoded only when asked, turned
by a rotation — counter-clockwise, as olmOCR's pipeline and training data turn a page, checked on
real rendered pages whose text is turned by a known amount."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat
from samples import SamplePage, pdf_bytes

from raypipe.config import InputConfig, RenderConfig
from raypipe.engines.image import PageImage
from raypipe.render import Render


def encoded(size=(60, 40), fmt="JPEG") -> bytes:
    image = Image.new("RGB", size, "white")
    image.paste((0, 0, 0), (0, 0, 10, 10))  # a black square in the top-left corner
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_bytes_travel_as_rendered_until_turned():
    data = encoded()
    image = PageImage(data)
    assert image.size == (60, 40) and image.mime == "image/jpeg" and image.encoded() is data
    turned = image.rotated(90)
    assert turned.size == (40, 60) and turned.mime == "image/png"
    assert Image.open(io.BytesIO(turned.encoded())).size == (40, 60)
    assert image.rotated(270).rotated(90).rotation == 0
    with pytest.raises(ValueError, match="multiples of 90"):
        image.rotated(45)


def test_decode_turns_the_pixels_counter_clockwise():
    image = PageImage(encoded(fmt="PNG"))
    assert image.decode().getpixel((2, 2)) == (0, 0, 0)
    for degrees, corner in ((90, (2, 57)), (180, (57, 37)), (270, (37, 2))):
        turned = image.rotated(degrees).decode()
        assert turned.size == ((40, 60) if degrees != 180 else (60, 40))
        # counter-clockwise: the top-left corner goes to the bottom-left, then bottom-right, then top-right
        assert turned.getpixel(corner) == (0, 0, 0), degrees
        assert turned.getpixel((2, 2)) == (255, 255, 255), degrees


# A page with an asymmetric layout: text lines at the top left, boxes lower down.
PAGE = dict(lines=("Rotation check", "the first line is at the top left", "x" * 30), boxes=3, width=612, height=792)


def render(tmp_path, rotate: int) -> bytes:
    path = tmp_path / f"page-{rotate}.pdf"
    path.write_bytes(pdf_bytes([SamplePage(rotate=rotate, **PAGE)]))
    row = Render(RenderConfig(longest_side=400, image_format="png"), InputConfig(), True).one(path.name, str(path))
    return row["pages"][0]["image"]


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute pixel difference (0-255), or infinity when the sizes differ."""
    if a.size != b.size:
        return float("inf")
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


@pytest.mark.parametrize("turned_by", [90, 180, 270])
def test_the_models_correction_brings_a_turned_page_upright(tmp_path, turned_by):
    """A page stored with /Rotate N is shown turned N degrees clockwise; a model that reads it says
    rotation_correction N (the counter-clockwise turn that makes it upright). Turned by that, the
    page matches the upright render; turned the other way it does not."""
    upright = PageImage(render(tmp_path, 0)).decode()
    shown = PageImage(render(tmp_path, turned_by))
    assert difference(shown.decode(), upright) > 5  # it really is turned
    corrected = shown.rotated(turned_by)
    assert corrected.size == upright.size
    assert difference(corrected.decode(), upright) < 1.0
    if turned_by != 180:
        wrong_way = shown.rotated(360 - turned_by).decode()
        assert difference(wrong_way, upright) > 5
