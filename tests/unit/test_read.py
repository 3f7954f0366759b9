"""The read's planning and blocks without Ray: units proportional to the top levels (never the document
list), blocks of docs_per_block rows, a stable --shard slice, and released documents read once."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from samples import text_pages, write_pdf

from raypipe.config import InputConfig
from raypipe.errors import InputError
from raypipe.listing import Document, plan_units
from raypipe.read import _blocks, in_shard


def test_units_follow_the_top_level_and_the_cluster_not_the_documents(tmp_path):
    for top in range(6):
        for i in range(50):
            (tmp_path / "in" / f"t{top}").mkdir(parents=True, exist_ok=True)
            (tmp_path / "in" / f"t{top}" / f"d{i}.pdf").write_bytes(b"%PDF-1.4")
    units = plan_units(InputConfig(inputs=[str(tmp_path / "in")]), parallelism=4)
    assert len(units) == 4 and sorted(n for u in units for n in u.entries) == [f"t{i}" for i in range(6)]
    cfg = InputConfig(inputs=[str(tmp_path / "in")], docs_per_block=7)
    blocks = list(_blocks(units, cfg, None, 7, None, frozenset(), []))
    assert sum(b.num_rows for b in blocks) == 300 and max(b.num_rows for b in blocks) == 7


def test_a_manifest_is_split_by_row_groups_and_a_folder_of_shards_is_read_whole(tmp_path):
    rows = [{"doc_id": f"id-{i}", "path": f"/data/{i}.pdf"} for i in range(1000)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "m.parquet", row_group_size=100)
    units = plan_units(InputConfig(manifest=str(tmp_path / "m.parquet")), parallelism=4)
    assert len(units) == 4 and sorted(g for u in units for g in u.row_groups) == list(range(10))
    shards = tmp_path / "shards"
    shards.mkdir()
    for s in range(3):
        pq.write_table(pa.Table.from_pylist(rows[s * 300:(s + 1) * 300]), shards / f"part-{s}.parquet")
    (shards / "part-3.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[900:]))
    (shards / "_SUCCESS").write_text("")
    cfg = InputConfig(manifest=str(shards))
    units = plan_units(cfg, parallelism=2)
    ids = [r for b in _blocks(units, cfg, None, 64, None, frozenset(), []) for r in b["doc_id"].to_pylist()]
    assert sorted(ids) == sorted(r["doc_id"] for r in rows)


def test_inputs_whose_ids_could_collide_are_refused_at_once(tmp_path):
    write_pdf(tmp_path / "a" / "2024" / "x.pdf", text_pages(["x"]))
    write_pdf(tmp_path / "b" / "2024" / "y.pdf", text_pages(["y"]))
    write_pdf(tmp_path / "c" / "2025" / "x.pdf", text_pages(["x"]))
    with pytest.raises(InputError, match="both hold '2024'"):
        plan_units(InputConfig(inputs=[str(tmp_path / "a"), str(tmp_path / "b")]))
    assert len(plan_units(InputConfig(inputs=[str(tmp_path / "a"), str(tmp_path / "c")]))) == 2


def test_shards_are_stable_and_cover_every_document_once():
    ids = [f"doc-{i}" for i in range(2000)]
    slices = [[d for d in ids if in_shard(d, (i, 3))] for i in range(3)]
    assert sorted(sum(slices, [])) == sorted(ids) and all(500 < len(s) < 840 for s in slices)
    assert [d for d in ids if in_shard(d, (1, 3))] == slices[1]  # the same on every call, process and run
    assert all(in_shard(d, None) for d in ids)


def test_released_documents_come_once_and_their_listed_copies_are_skipped(tmp_path):
    for i in range(5):
        write_pdf(tmp_path / "in" / f"d{i}.pdf", text_pages([f"{i}"]))
    cfg = InputConfig(inputs=[str(tmp_path / "in")])
    released = [Document("d3.pdf", str(tmp_path / "in" / "d3.pdf")), Document("gone.pdf", "/elsewhere/gone.pdf")]
    units = plan_units(cfg)
    ids = [r for b in _blocks(units, cfg, None, 2, None, frozenset(d.doc_id for d in released), released)
           for r in b["doc_id"].to_pylist()]
    assert sorted(ids) == ["d0.pdf", "d1.pdf", "d2.pdf", "d3.pdf", "d4.pdf", "gone.pdf"]
