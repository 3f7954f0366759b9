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


ROTATIONS = (0, 90, 180, 270)
_MAX_LANGUAGE = 64  # characters of a primary_language value


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
        if not isinstance(self.natural_text, str):
            raise ParseError("natural_text must be a string")
        rotation = self.rotation_correction
        if isinstance(rotation, bool) or not isinstance(rotation, int) or rotation not in ROTATIONS:
            raise ParseError(f"rotation_correction must be 0, 90, 180 or 270, not {rotation!r}")
        for name in ("is_rotation_valid", "is_table", "is_diagram"):
            if not isinstance(getattr(self, name), bool):
                raise ParseError(f"{name} must be true or false, not {getattr(self, name)!r}")
        language = self.primary_language
        if language is not None and (not isinstance(language, str) or len(language) > _MAX_LANGUAGE):
            raise ParseError(f"primary_language must be a short string or null, not {language!r:.80}")


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
    """olmOCR-style output: a YAML front matter block (a flat mapping of five keys), then the page text."""
    match = _FRONT_MATTER.match(strip_fences(text))
    if not match:
        raise ParseError("no YAML front matter (--- … ---) at the start of the output")
    meta = front_matter_fields(match.group(1))
    missing = _FRONT_MATTER_FIELDS - set(meta)
    if missing:
        raise ParseError(f"front matter lacks {sorted(missing)}")
    return PageResponse(
        natural_text=match.group(2).strip(),
        primary_language=_language(meta["primary_language"]),
        is_rotation_valid=_flag(meta, "is_rotation_valid"),
        rotation_correction=_rotation(meta["rotation_correction"]),
        is_table=_flag(meta, "is_table"),
        is_diagram=_flag(meta, "is_diagram"),
    )


# The front matter is read from YAML's event stream, never composed into objects: no anchors or
# aliases (an alias bomb), no nesting (a 3,000-deep document), no tags, and a bounded size.
_MAX_FRONT_MATTER = 2_000  # characters; olmOCR's is five short lines
_MAX_KEYS = 32
_TRUE = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}  # YAML 1.1 spellings
_FALSE = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}
_NULL = {"", "~", "null", "Null", "NULL"}


def front_matter_fields(block: str) -> dict:
    """The front matter's ``key: scalar`` pairs as YAML scalar events (value and quoting style);
    ParseError for anything but one flat mapping of untagged scalars."""
    if len(block) > _MAX_FRONT_MATTER:
        raise ParseError(f"front matter is {len(block):,} characters long (at most {_MAX_FRONT_MATTER:,})")
    fields: dict = {}
    key = None
    mappings = 0
    try:
        for event in yaml.parse(block, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentStartEvent, yaml.DocumentEndEvent)):
                continue
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise ParseError("front matter uses YAML anchors or aliases")
            if getattr(event, "tag", None) is not None:
                raise ParseError(f"front matter uses a YAML tag ({event.tag:.40})")
            if isinstance(event, yaml.MappingStartEvent) and mappings == 0:
                mappings = 1
            elif isinstance(event, yaml.MappingEndEvent) and mappings == 1:
                mappings = 2
            elif isinstance(event, yaml.ScalarEvent) and mappings == 1:
                if key is None:
                    key = event.value
                    if key in fields:
                        raise ParseError(f"front matter repeats the key {key!r:.40}")
                    if len(fields) >= _MAX_KEYS:
                        raise ParseError(f"front matter has more than {_MAX_KEYS} keys")
                else:
                    fields[key], key = event, None
            else:
                raise ParseError("front matter is not one flat mapping of key: value lines")
    except yaml.YAMLError as e:
        raise ParseError(f"front matter is not valid YAML: {str(e)[:300]}") from None
    if mappings != 2:
        raise ParseError("front matter is not a mapping")
    return fields


def _plain(event) -> Optional[str]:
    """The value of an unquoted scalar (None for a quoted one)."""
    return event.value if event.style is None else None


def _language(event) -> Optional[str]:
    return None if _plain(event) in _NULL else event.value


def _flag(meta: dict, name: str) -> bool:
    value = _plain(meta[name])
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ParseError(f"{name} must be true or false, not {meta[name].value!r:.40}")


def _rotation(event) -> int:
    value = _plain(event)
    if value is not None and value in {str(r) for r in ROTATIONS}:
        return int(value)
    raise ParseError(f"rotation_correction must be 0, 90, 180 or 270, not {event.value!r:.40}")


PARSERS = {"plain": parse_plain, "front-matter": parse_front_matter}

# What a parser's output must look like, as a regular expression for an engine's structured-output
# decoding (parsers without a fixed header have none). The front matter as olmOCR-2 was trained to
# write it: five keys in order, two-letter language codes, then the page text.
_BOOL = "(?:True|False|true|false)"
FRONT_MATTER_GUIDE = (
    "---\n"
    "primary_language: (?:[a-z]{2}|null)\n"
    f"is_rotation_valid: {_BOOL}\n"
    "rotation_correction: (?:0|90|180|270)\n"
    f"is_table: {_BOOL}\n"
    f"is_diagram: {_BOOL}\n"
    "---(?:\n[\\s\\S]*)?"
)
GUIDES = {"front-matter": FRONT_MATTER_GUIDE}
