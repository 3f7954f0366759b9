"""A document's pages, rendered one at a time with PDFium: each page's size, its text layer (as a
reader wants it: :mod:`raypipe.pdf.layout`, or PDFium's own), whether it is blank, its encoded image
when the engine needs one, and, for ``--ocr-mode auto``, the router's decision on its text layer.

This runs inside the render process (:mod:`raypipe.pdf.sandbox`); :mod:`raypipe.render` is the stage.
"""

from __future__ import annotations

import io
import math
from typing import Iterator, Optional, Sequence

from raypipe.config import RenderConfig
from raypipe.errors import DocumentError, ErrorCode
from raypipe.pdf.document import open_document


def page_size(width_pt: float, height_pt: float, cfg: RenderConfig) -> tuple[float, int, int]:
    """(scale in pixels per point, width px, height px): the longest side becomes ``longest_side``
    and the area stays within ``max_pixels``. Sizes round up as PDFium's renderer does."""
    width_pt, height_pt = max(width_pt, 1e-3), max(height_pt, 1e-3)
    scale = cfg.longest_side / max(width_pt, height_pt)
    area = width_pt * height_pt * scale * scale
    if area > cfg.max_pixels:
        scale *= math.sqrt(cfg.max_pixels / area)
    scale *= 1 - 1e-9  # so that an exact fit does not round up to one pixel more
    while math.ceil(width_pt * scale) * math.ceil(height_pt * scale) > cfg.max_pixels:
        scale *= 0.999
    return scale, max(1, math.ceil(width_pt * scale)), max(1, math.ceil(height_pt * scale))


def encode(image, cfg: RenderConfig) -> bytes:
    buf = io.BytesIO()
    if cfg.image_format == "png":
        image.save(buf, format="PNG", compress_level=1)
    elif cfg.image_format == "jpeg":
        image.save(buf, format="JPEG", quality=cfg.image_quality)
    else:
        image.save(buf, format="WEBP", quality=cfg.image_quality, method=0)
    return buf.getvalue()


THUMBNAIL_SIDE = 512  # pixels: enough to tell a blank page from one with ink, when no image is wanted


def page_text(page) -> str:
    textpage = page.get_textpage()
    try:
        return textpage.get_text_bounded().replace("\r\n", "\n").replace("\r", "\n")
    finally:
        textpage.close()


def _pil(page, scale: float, cfg: RenderConfig):
    bitmap = page.render(scale=scale, may_draw_forms=cfg.draw_forms, rev_byteorder=True)
    try:
        pil = bitmap.to_pil()
        return pil.convert("RGB") if pil.mode != "RGB" else pil.copy()
    finally:
        bitmap.close()


def render_page(page, number: int, cfg: RenderConfig, images: bool, route_min_chars: Optional[int] = None) -> dict:
    """One page: its size, its raw text layer, whether it is blank (no letter in its text and no real
    mark on it: :mod:`raypipe.pdf.ink`), and, when ``images``, its encoded image. With
    ``route_min_chars``, the evidence router's decision on its text layer (``route_reason``)."""
    from raypipe.pdf.ink import near_blank

    width_pt, height_pt = page.get_size()  # already rotated by /Rotate
    scale, width, height = page_size(width_pt, height_pt, cfg)
    out = {"page_number": number, "width": width, "height": height, "image": None, "text_layer": None, "error": None}
    textpage = None
    try:
        textpage = page.get_textpage()
        out["text_layer"] = textpage.get_text_bounded().replace("\r\n", "\n").replace("\r", "\n")
    except MemoryError:
        raise
    except Exception as e:  # a broken text layer does not stop the image
        out["error"] = f"text layer: {type(e).__name__}: {e}"
    try:
        wordless = not any(ch.isalnum() for ch in out["text_layer"] or "")
        if images:
            pil = _pil(page, scale, cfg)
            out["width"], out["height"] = pil.size
            out["blank"] = wordless and near_blank(pil)
            if route_min_chars is not None and textpage is not None:
                out["route_reason"] = _route(page, textpage, pil, out["text_layer"], route_min_chars)
            out["image"] = encode(pil, cfg)
        else:  # is there ink on a page without words? a small render says
            thumb = THUMBNAIL_SIDE / max(width_pt, height_pt, 1e-3)
            out["blank"] = wordless and near_blank(_pil(page, min(thumb, scale), cfg))
    finally:
        if textpage is not None:
            textpage.close()
    return out


def _route(page, textpage, pil, text: Optional[str], min_chars: int) -> str:
    """The router's reason for keeping the text layer (``text_layer:...``) or not (``model:...``)."""
    from raypipe.engines.router import decide
    from raypipe.pdf.evidence import gather

    try:
        return decide(gather(page, textpage, pil, text), min_chars)[1]
    except MemoryError:
        raise
    except Exception as e:  # no evidence: the model reads the page
        return f"model:no_evidence ({type(e).__name__})"


def _layouts(pdf, first: int, last: int) -> Iterator:
    """Each page's layout (:func:`raypipe.pdf.layout.analyse_page`), or None where it fails; a
    progress event after each, so that the bounds see the document moving."""
    from raypipe.pdf.layout import analyse_page

    for index in range(first - 1, last):
        try:
            page = pdf[index]
            try:
                yield analyse_page(page, index + 1)
            finally:
                page.close()
        except MemoryError:
            raise
        except Exception:  # this page keeps PDFium's own text
            yield None


def render_pages(data: bytes, cfg: RenderConfig, images: bool, passwords: Sequence[str] = (),
                 route_min_chars: Optional[int] = None) -> Iterator:
    """Render one document's bytes, one page at a time: yields the document's fields first
    (``num_pages``, ``page_cap_applied``, ``recovered``, and ``first_page``/``count``: the pages
    that follow), then each page. With ``cfg.text_layer`` "layout", the pages are first read for
    their layout (``"analysed"`` after each, as progress), running headers and footers found across
    them, and each page's ``text_layer`` is then its reading-ordered text (``header``/``footer`` apart).
    Raises DocumentError for document-level failures. A file PDFium cannot open is repaired (see
    :func:`raypipe.pdf.repair.repair`) and the pages that survive are rendered."""
    pdf, recovered = open_document(data, passwords)
    try:
        if cfg.draw_forms and images:
            pdf.init_forms()
        total = len(pdf)
        if total == 0:
            raise DocumentError(ErrorCode.NO_PAGES, "the document has no pages")
        first = cfg.first_page
        last = min(total, cfg.last_page or total)
        if first > last:
            raise DocumentError(ErrorCode.NO_PAGES, f"page range starts at {first}; the document has {total} pages")
        capped = cfg.max_pages is not None and last - first + 1 > cfg.max_pages
        if capped:
            last = first + cfg.max_pages - 1
        yield {"num_pages": total, "page_cap_applied": capped, "recovered": recovered, "first_page": first,
               "count": last - first + 1}
        layouts, furniture = [], []
        if cfg.text_layer == "layout":
            from raypipe.pdf.layout import running_furniture

            for layout in _layouts(pdf, first, last):
                layouts.append(layout)
                yield "analysed"
            furniture = running_furniture([x for x in layouts if x is not None])
            furniture_of = iter(furniture)
            furniture = [next(furniture_of) if x is not None else None for x in layouts]
        for index in range(first - 1, last):
            try:
                page = pdf[index]
            except MemoryError:
                raise
            except Exception as e:
                yield {"page_number": index + 1, "error": f"load: {type(e).__name__}: {e}"}
                continue
            try:
                out = render_page(page, index + 1, cfg, images, route_min_chars)
            except MemoryError:
                raise
            except Exception as e:
                out = {"page_number": index + 1, "error": f"render: {type(e).__name__}: {e}"}
            finally:
                page.close()
            layout = layouts[index - first + 1] if layouts else None
            if layout is not None and out.get("text_layer") is not None:
                _compose(out, layout, furniture[index - first + 1])
            yield out
    finally:
        pdf.close()


def _compose(out: dict, layout, furniture) -> None:
    """The page's text layer as a reader wants it (:mod:`raypipe.pdf.layout`); PDFium's own on failure."""
    from raypipe.pdf.layout import compose

    try:
        text = compose(layout, furniture)
    except MemoryError:
        raise
    except Exception:
        return
    out.update(text_layer=text.text, header=text.header or None, footer=text.footer or None)


def render_document(data: bytes, cfg: RenderConfig, images: bool, passwords: Sequence[str] = (),
                    route_min_chars: Optional[int] = None) -> dict:
    """Render one document's bytes in this process (no bounds; the stage uses :func:`render_bounded`);
    raises DocumentError for document-level failures."""
    parts = render_pages(data, cfg, images, passwords, route_min_chars)
    doc = next(parts)
    del doc["first_page"], doc["count"]
    return {**doc, "pages": [p for p in parts if not isinstance(p, str)]}
