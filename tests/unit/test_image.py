"""The page image the engines get: encoded bytes kept as rendered, decoded only when asked, turned
by a rotation."""

from __future__ import annotations

import io

from PIL import Image

from raypipe.engines.image import PageImage


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


def test_decode_turns_the_pixels():
    image = PageImage(encoded(fmt="PNG"))
    assert image.decode().getpixel((2, 2)) == (0, 0, 0)
    turned = image.rotated(90).decode()
    assert turned.size == (40, 60)
    # 90 degrees clockwise: the top-left corner goes to the top-right
    assert turned.getpixel((37, 2)) == (0, 0, 0) and turned.getpixel((2, 2)) == (255, 255, 255)
