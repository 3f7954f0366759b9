"""How pages are rendered."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from raypipe.config.base import Section


class RenderConfig(Section):
    longest_side: int = Field(
        default=1288, ge=16, le=32_768, description="Target length in pixels of a rendered page's longest side."
    )
    max_pixels: int = Field(
        default=4_000_000,
        ge=1024,
        description="Cap on a rendered page's total pixels; pages that would exceed it are scaled down.",
    )
    image_format: Literal["png", "jpeg", "webp"] = Field(
        default="jpeg", description="Encoding of rendered page images as they travel between stages."
    )
    image_quality: int = Field(
        default=90, ge=1, le=100, description="Quality for jpeg/webp page images (ignored for png)."
    )
    max_pages: Optional[int] = Field(
        default=1000,
        ge=1,
        description="Page cap per document; pages past it are not processed and the row records the cap.",
    )
    first_page: int = Field(default=1, ge=1, description="First page (1-based) to process in every document.")
    last_page: Optional[int] = Field(
        default=None, ge=1, description="Last page (1-based, inclusive) to process; default: the document's last."
    )
    draw_forms: bool = Field(default=True, description="Draw form fields and annotations into page images.")
    text_layer: Literal["layout", "raw"] = Field(
        default="layout",
        description="How a page's own text layer is read: 'layout' in reading order (columns, paragraphs, "
        "hyphenation joined, tables as Markdown, running headers and footers kept apart in their own page "
        "fields), or 'raw' as PDFium gives it.",
    )
    render_timeout: float = Field(
        default=600.0,
        gt=0,
        description="Seconds one document may spend in render (fetch, repair, every page) before it becomes a "
        "failed row with error_code timeout. An ordinary 1,000-page document takes well under a minute.",
    )
    page_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds one page may take to render before its document fails with error_code timeout.",
    )
    render_memory_limit: int = Field(
        default=2 << 30,
        ge=64 << 20,
        description="Bytes of memory rendering one document may take (the file's bytes, PDFium, qpdf, the salvage; "
        "each render worker renders in a process of its own, whose address space is capped at its size after "
        "start-up plus this) before it becomes a failed row with error_code too_complex.",
    )

    @model_validator(mode="after")
    def _range(self) -> "RenderConfig":
        if self.last_page is not None and self.last_page < self.first_page:
            raise ValueError(f"last_page ({self.last_page}) is before first_page ({self.first_page})")
        return self
