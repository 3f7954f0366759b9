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


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A YAML "billion laughs" front matter: each level an anchored list of ``width`` aliases of the
    level before, and primary_language the last level; composed into objects it grows as
    width**levels (and its str() with it)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    rest = OLMOCR_OUTPUT.removeprefix("---\nprimary_language: en\n")
    return "---\n" + "\n".join(lines) + f"\nprimary_language: *a{levels - 1}\n" + rest


def nested(depth: int) -> str:
    return "---\nprimary_language: " + "[" * depth + "]" * depth + "\n---\ntext"


@pytest.mark.parametrize(
    "text, match",
    [
        (alias_bomb(), "anchors or aliases"),  # ~600 characters that compose into a structure of gigabytes
        (nested(3000), "flat mapping|characters long"),  # a RecursionError when composed
        (nested(500), "flat mapping"),
        ("---\nprimary_language: &x en\nis_rotation_valid: *x\n---\n", "anchors or aliases"),
        ("---\nprimary_language: !!python/object:os.system ls\n---\n", "tag"),
        (OLMOCR_OUTPUT.replace("is_table: False", "is_table: 'False'"), "is_table must be true or false"),
        (OLMOCR_OUTPUT.replace("rotation_correction: 0", "rotation_correction: false"), "rotation_correction"),
        (OLMOCR_OUTPUT.replace("rotation_correction: 0", "rotation_correction: 90.0"), "rotation_correction"),
        (OLMOCR_OUTPUT.replace("is_diagram: False", "is_diagram: 0"), "is_diagram"),
        (OLMOCR_OUTPUT.replace("is_table: False", "is_table: False\nis_table: True"), "repeats the key"),
        (OLMOCR_OUTPUT.replace("primary_language: en", "primary_language: [en, fr]"), "flat mapping"),
        (OLMOCR_OUTPUT.replace("primary_language: en", "primary_language: " + "e" * 100), "primary_language"),
        ("---\n" + "k: v\n" * 600 + "---\ntext", "characters long"),
        ("---\n- a\n- b\n---\ntext", "flat mapping"),
        ("---\nplain words\n---\ntext", "flat mapping"),
        ("---\na: 1\n---\nb: 2\n---\ntext", "lacks"),
    ],
)
def test_front_matter_refuses_hostile_yaml_quickly(text, match):
    with pytest.raises(ParseError, match=match) as caught:
        parse_front_matter(text)
    assert len(str(caught.value)) < 1000  # the reason fits in a page's error


def test_front_matter_values_are_read_as_written():
    norwegian = parse_front_matter(OLMOCR_OUTPUT.replace("primary_language: en", "primary_language: no"))
    assert norwegian.primary_language == "no"  # not YAML 1.1's False
    quoted = parse_front_matter(OLMOCR_OUTPUT.replace("primary_language: en", 'primary_language: "null"'))
    assert quoted.primary_language == "null"
    lower = parse_front_matter(OLMOCR_OUTPUT.replace("True", "true").replace("False", "false"))
    assert lower.is_rotation_valid is True and lower.is_table is False
    turned = parse_front_matter(OLMOCR_OUTPUT.replace("rotation_correction: 0", "rotation_correction: 270"))
    assert turned.rotation_correction == 270 and type(turned.rotation_correction) is int


def test_page_response_refuses_bools_for_numbers():
    from raypipe.engines.prompts import PageResponse

    for bad in (False, True, 90.0, "90"):
        with pytest.raises(ParseError, match="rotation_correction"):
            PageResponse("text", rotation_correction=bad)
    with pytest.raises(ParseError, match="is_table"):
        PageResponse("text", is_table=1)
    with pytest.raises(ParseError, match="natural_text"):
        PageResponse(["text"])


def test_the_front_matter_guide_matches_what_the_parser_reads():
    import re

    import tiny_vl

    guide = presets.get("olmocr-2").guide
    assert presets.get("rolmocr").guide is None  # plain text has no fixed header
    for answer in (tiny_vl.RESPONSE, OLMOCR_OUTPUT, OLMOCR_ROTATED, OLMOCR_ROTATED.rstrip("\n")):
        assert re.fullmatch(guide, answer), answer
        parse_front_matter(answer)
    for wrong in ("Just text", OLMOCR_OUTPUT.replace("rotation_correction: 0", "rotation_correction: 45"),
                  OLMOCR_OUTPUT.replace("primary_language: en", "primary_language: &a en"),
                  OLMOCR_OUTPUT.replace("is_table: False\n", "")):
        assert not re.fullmatch(guide, wrong)
