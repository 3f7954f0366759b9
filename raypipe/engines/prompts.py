"""Prompts, versioned by name, and the parsed form of a page's model output.

A prompt must be the one the model was trained with, word for word: these are the published prompts
of each model family. Parsers turn raw model output into a :class:`PageResponse` or raise
:class:`ParseError` (which makes the page eligible for a retry).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

import yaml

# olmOCR-2 ("v4" YAML front-matter prompt, no anchoring text).
OLMOCR_V4_YAML = (
    "Attached is one page of a document that you must process. "
    "Just return the plain text representation of this document as if you were reading it naturally. "
    "Convert equations to LateX and tables to HTML.\n"
    "If there are any figures or charts, label them with the following markdown syntax "
    "![Alt text describing the contents of the figure](page_startx_starty_width_height.png)\n"
    "Return your output as markdown, with a front matter section on top specifying values for the "
    "primary_language, is_rotation_valid, rotation_correction, is_table, and is_diagram parameters."
)

# RolmOCR: plain text.
ROLMOCR_PLAIN = "Return the plain text representation of this document as if you were reading it naturally.\n"

# A generic markdown OCR prompt for instruction-tuned Qwen2.5-VL-style models.
GENERIC_MARKDOWN_V1 = (
    "Read all the text in this page image and return it as markdown, in natural reading order. "
    "Keep headings, lists and paragraphs; write tables as markdown tables and equations as LaTeX. "
    "Return only the page's content, with no commentary."
)


class ParseError(ValueError):
    """The model's output does not have the shape its preset expects."""


@dataclasses.dataclass(frozen=True)
class PageResponse:
    """One page's parsed model output; validates itself."""

    natural_text: str
    primary_language: Optional[str] = None
    is_rotation_valid: bool = True
    rotation_correction: int = 0
    is_table: bool = False
    is_diagram: bool = False

    def __post_init__(self):
        if self.rotation_correction not in (0, 90, 180, 270):
            raise ParseError(f"rotation_correction must be 0, 90, 180 or 270, not {self.rotation_correction!r}")
        for name in ("is_rotation_valid", "is_table", "is_diagram"):
            if not isinstance(getattr(self, name), bool):
                raise ParseError(f"{name} must be true or false, not {getattr(self, name)!r}")
        if self.primary_language is not None and not isinstance(self.primary_language, str):
            raise ParseError(f"primary_language must be a string, not {self.primary_language!r}")
        if not isinstance(self.natural_text, str):
            raise ParseError("natural_text must be a string")


_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n(.*?)\n?```\s*$", re.DOTALL)
_FRONT_MATTER = re.compile(r"^\s*---[ \t]*\n(.*?)\n---[ \t]*(?:\n|$)(.*)$", re.DOTALL)
_FRONT_MATTER_FIELDS = {"primary_language", "is_rotation_valid", "rotation_correction", "is_table", "is_diagram"}


def strip_fences(text: str) -> str:
    """Remove one code fence wrapped around the whole output (```markdown … ```)."""
    match = _FENCE.match(text)
    return match.group(1) if match else text


def parse_plain(text: str) -> PageResponse:
    return PageResponse(natural_text=strip_fences(text).strip())


def parse_front_matter(text: str) -> PageResponse:
    """olmOCR-style output: a YAML front matter block, then the page text."""
    match = _FRONT_MATTER.match(strip_fences(text))
    if not match:
        raise ParseError("no YAML front matter (--- … ---) at the start of the output")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as e:
        raise ParseError(f"front matter is not valid YAML: {e}") from e
    if not isinstance(meta, dict):
        raise ParseError("front matter is not a mapping")
    missing = _FRONT_MATTER_FIELDS - set(meta)
    if missing:
        raise ParseError(f"front matter lacks {sorted(missing)}")
    try:
        return PageResponse(
            natural_text=match.group(2).strip(),
            primary_language=None if meta["primary_language"] is None else str(meta["primary_language"]),
            is_rotation_valid=meta["is_rotation_valid"],
            rotation_correction=meta["rotation_correction"],
            is_table=meta["is_table"],
            is_diagram=meta["is_diagram"],
        )
    except TypeError as e:
        raise ParseError(str(e)) from e


PARSERS = {"plain": parse_plain, "front-matter": parse_front_matter}
