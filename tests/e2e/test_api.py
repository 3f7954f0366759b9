"""The Python API on a real local Ray: the lazy Dataset yields exactly one row per input document."""

from __future__ import annotations

import pytest

from raypipe import InputConfig, PipelineConfig, RenderConfig, build_dataset
from raypipe.schema import OUTPUT


@pytest.fixture(scope="module")
def rows(ray_local, generated):
    config = PipelineConfig(input=InputConfig(inputs=[str(generated)], docs_per_block=2), render=RenderConfig(max_pages=2))
    ds = build_dataset(config)
    return {r["doc_id"]: r for r in ds.take_all()}


def test_one_row_per_document(rows, generated):
    on_disk = sorted(str(p.relative_to(generated)) for p in generated.rglob("*.pdf"))
    assert sorted(rows) == on_disk


def test_good_documents(rows):
    one = rows["one-page.pdf"]
    assert one["status"] == "ok" and one["error_code"] is None
    assert one["text"] == "Hello raypipe second line" and one["page_offsets"] == [0]  # two lines, one paragraph
    assert one["engine"] == "text-layer" and one["schema_version"] == 2
    assert rows["nested/deep/inner.pdf"]["text"] == "Nested document"


def test_page_cap_is_recorded_and_offsets_point_at_pages(rows):
    doc = rows["three-pages.pdf"]
    assert (doc["num_pages"], doc["num_pages_processed"], doc["page_cap_applied"]) == (3, 2, True)
    assert [p["page_number"] for p in doc["pages"]] == [1, 2]
    for page, offset in zip(doc["pages"], doc["page_offsets"]):
        assert doc["text"][offset : offset + len(page["text"])] == page["text"]
        assert page["text_source"] == "text_layer"


def test_bad_inputs_are_rows(rows):
    assert rows["zero-bytes.pdf"]["status"] == "failed" and rows["zero-bytes.pdf"]["error_code"] == "empty"
    html = rows["page.html.pdf"]
    assert html["error_code"] == "not_pdf" and "%PDF-" in html["error"] and html["pages"] == []


def test_rows_match_the_output_schema(rows):
    assert all(set(r) == set(OUTPUT.names) for r in rows.values())


def test_a_run_whose_stats_cannot_be_collected_still_has_its_summary(ray_local, generated, tmp_path, monkeypatch):
    from raypipe import runstats
    from raypipe.pipeline import run

    monkeypatch.setattr(runstats, "collect", lambda stats: None)  # the stats actor did not answer
    config = PipelineConfig(input=InputConfig(inputs=[str(generated)]), render=RenderConfig(max_pages=1),
                            output={"output": str(tmp_path / "out")})
    result = run(config)
    on_disk = list(generated.rglob("*.pdf"))
    assert result["documents"] == result["run"]["documents"] == len(on_disk)
    assert result["run"]["cpu_cores"] is None and "engine_stats" not in result["run"]
