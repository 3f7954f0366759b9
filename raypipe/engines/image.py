"""A page image as the engines see it: the encoded bytes the render stage made, decoded only when an
engine needs pixels, and turned by a rotation when the model asked for one.

A rotation turns the page counter-clockwise, as olmOCR's pipeline and training data do: a model that
answers ``rotation_correction: 90`` is shown the page turned 90 degrees counter-clockwise (PIL's
``Transpose.ROTATE_90``) on its next attempt."""

from __future__ import annotations

import dataclasses
import functools
import io


@dataclasses.dataclass(frozen=True)
class PageImage:
    data: bytes  # the page as rendered and encoded (png / jpeg / webp)
    rotation: int = 0  # degrees the page is turned counter-clockwise before the model sees it (0, 90, 180, 270)

    def rotated(self, degrees: int) -> "PageImage":
        """The same page turned ``degrees`` (a multiple of 90) further."""
        if degrees % 90:
            raise ValueError(f"a page turns by multiples of 90 degrees, not {degrees}")
        return PageImage(self.data, (self.rotation + degrees) % 360)

    @functools.cached_property
    def _header(self):
        from PIL import Image

        return Image.open(io.BytesIO(self.data))  # reads the header only

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as the model sees it, without decoding the pixels."""
        width, height = self._header.size
        return (height, width) if self.rotation in (90, 270) else (width, height)

    @property
    def mime(self) -> str:
        """The MIME type of :meth:`encoded`."""
        from PIL import Image

        return Image.MIME[self._header.format] if not self.rotation else "image/png"

    def decode(self):
        """The pixels, as a new RGB PIL image, turned counter-clockwise by ``rotation``."""
        from PIL import Image

        image = Image.open(io.BytesIO(self.data))
        image.load()
        if image.mode != "RGB":
            image = image.convert("RGB")
        turn = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
        return image.transpose(turn[self.rotation]) if self.rotation else image

    def encoded(self) -> bytes:
        """The image as bytes to send: the rendered bytes as they are, or the turned page as PNG."""
        if not self.rotation:
            return self.data
        buffer = io.BytesIO()
        self.decode().save(buffer, format="PNG")
        return buffer.getvalue()
