"""Prompts, presets and the parsers of model output (raypipe.engines.prompts, .presets)."""

from __future__ import annotations

import pytest
from helpers import OLMOCR_OUTPUT, OLMOCR_ROTATED

from raypipe.engines import presets
from raypipe.engines.prompts import ParseError, parse_front_matter, parse_plain


def test_front_matter_parses_olmocr_output():
    r = parse_front_matter(OLMOCR_OUTPUT)
    assert r.primary_language == "en" and r.is_rotation_valid and r.rotation_correction == 0
    assert not r.is_table and not r.is_diagram
    assert r.natural_text.startswith("# Results\n\nThe model reached 94.2%")
    fenced = parse_front_matter("```markdown\n" + OLMOCR_OUTPUT + "```")
    assert fenced.natural_text == r.natural_text
    rotated = parse_front_matter(OLMOCR_ROTATED)
    assert rotated.primary_language is None and rotated.rotation_correction == 90 and rotated.natural_text == ""


@pytest.mark.parametrize(
    "text, match",
    [
        ("Just some text without front matter", "no YAML front matter"),
        ("---\nprimary_language: en\nis_rotation_valid: True\n", "no YAML front matter"),  # truncated
        ("---\nprimary_language: en\n---\ntext", "lacks"),
        (OLMOCR_OUTPUT.replace("rotation_correction: 0", "rotation_correction: 45"), "rotation_correction"),
        (OLMOCR_OUTPUT.replace("is_table: False", "is_table: maybe"), "is_table"),
        ("---\n: [unbalanced\n---\ntext", "YAML"),
    ],
)
def test_front_matter_rejects_bad_shapes(text, match):
    with pytest.raises(ParseError, match=match):
        parse_front_matter(text)


def test_plain_strips_fences_only_around_the_whole_output():
    assert parse_plain("```markdown\n# Title\nbody\n```").natural_text == "# Title\nbody"
    inner = "text\n```python\nx = 1\n```\nmore"
    assert parse_plain(inner).natural_text == inner


def test_presets_registry():
    assert presets.names() == ["olmocr-2", "qwen2.5-vl", "rolmocr"]
    assert presets.get("olmocr-2").model == "allenai/olmOCR-2-7B-1025-FP8"
    assert presets.get("rolmocr").parser == "plain"
    with pytest.raises(KeyError, match="known: olmocr-2"):
        presets.get("nope")
