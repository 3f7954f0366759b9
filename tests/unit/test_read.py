"""The read's planning and blocks without Ray: units proportional to the top levels (never the document
list), blocks of docs_per_block rows, a stable --shard slice, and released documents read once."""

from __future__ import annotations

import json
import pickle
import shutil

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
    assert len(units) == 4 and sorted(u.slot for u in units) == [(i, 4) for i in range(4)]
    cfg = InputConfig(inputs=[str(tmp_path / "in")], docs_per_block=7)
    blocks = list(_blocks(units, cfg, None, 7, None, frozenset(), []))
    assert sum(b.num_rows for b in blocks) == 300 and max(b.num_rows for b in blocks) == 7


def test_a_manifest_is_split_by_row_groups_and_a_folder_of_shards_is_read_whole(tmp_path):
    rows = [{"doc_id": f"id-{i}", "path": f"/data/{i}.pdf"} for i in range(1000)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "m.parquet", row_group_size=100)
    # under 65,536 rows: one unit, so one task sees every row (and every repeat)
    assert [u.row_groups for u in plan_units(InputConfig(manifest=str(tmp_path / "m.parquet")), parallelism=4)] \
        == [tuple(range(10))]
    paths = [f"/data/{i}.pdf" for i in range(200_000)]
    paths[150_000] = "file:///etc/hostname"
    pq.write_table(pa.table({"path": paths}), tmp_path / "big.parquet", row_group_size=20_000)
    cfg = InputConfig(manifest=str(tmp_path / "big.parquet"))
    units = plan_units(cfg, parallelism=4)
    assert [u.row_groups for u in units] == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)]
    [bad] = [r for b in _blocks(units[1:2], cfg, None, 4096, None, frozenset(), []) for r in b.to_pylist() if r["error"]]
    assert bad["doc_id"] == f"{tmp_path / 'big.parquet'}#row=150001" and "row 150001: file://" in bad["error"]
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


def test_a_flat_folder_is_planned_without_its_names_and_each_file_is_listed_once(tmp_path):
    small, big = tmp_path / "small", tmp_path / "big"
    for folder, count in ((small, 70), (big, 3000)):
        folder.mkdir()
        for i in range(count):
            (folder / f"d{i:05d}.pdf").write_bytes(b"%PDF-1.4")
    (big / "sub").mkdir()
    (big / "sub" / "inner.pdf").write_bytes(b"%PDF-1.4")
    planned = {f: plan_units(InputConfig(inputs=[str(f)]), parallelism=64) for f in (small, big)}
    # what the driver holds does not grow with the folder: the units are the same size for 70 and 3,001 names
    assert len(planned[small]) == len(planned[big]) == 64
    assert abs(len(pickle.dumps(planned[big])) - len(pickle.dumps(planned[small]))) < 100
    cfg = InputConfig(inputs=[str(big)])
    per_unit = [[r for b in _blocks([u], cfg, None, 500, None, frozenset(), []) for r in b["doc_id"].to_pylist()]
                for u in planned[big]]
    listed = [i for ids in per_unit for i in ids]
    assert sorted(listed) == sorted([f"d{i:05d}.pdf" for i in range(3000)] + ["sub/inner.pdf"])
    assert len(set(listed)) == len(listed) and all(ids == sorted(ids) for ids in per_unit)
    assert max(map(len, per_unit)) < 3 * 3001 / 64  # spread over the slots


def test_a_folder_gone_after_planning_is_a_row_not_a_crash(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.pdf").write_bytes(b"%PDF-1.4")
    cfg = InputConfig(inputs=[str(tmp_path / "in")])
    units = plan_units(cfg)
    shutil.rmtree(tmp_path / "in")
    rows = [r for b in _blocks(units, cfg, None, 8, None, frozenset(), []) for r in b.to_pylist()]
    assert [r["error_code"] for r in rows] == ["read_error"] and "could not be listed" in rows[0]["error"]


def test_repeated_ids_and_files_are_caught_across_the_units_of_a_read_task(tmp_path):
    for name in ("letter.pdf", "report.pdf", "scan.pdf"):
        write_pdf(tmp_path / name, text_pages([name]))
    shards = tmp_path / "shards"
    shards.mkdir()
    groups = [[("a", "../letter.pdf"), ("b", "../report.pdf"), ("c", None), ("d", "")],
              [("a", "../scan.pdf"), ("e", str(tmp_path)), ("f", "file:///etc/hostname"), ("g", "../letter.pdf")]]
    for i, rows in enumerate(groups):
        pq.write_table(pa.table({"doc_id": [r[0] for r in rows], "path": [r[1] for r in rows]}), shards / f"part-{i}.parquet")
    manifest = shards / "part-1.parquet"
    cfg = InputConfig(manifest=str(shards))
    units = plan_units(cfg, parallelism=2)
    assert len(units) == 2  # one per shard, read by one task below
    rows = {r["doc_id"]: r for b in _blocks(units, cfg, None, 3, None, frozenset(), []) for r in b.to_pylist()}
    assert len(rows) == 8 and rows["a"]["source"] == str(shards / "../letter.pdf") and rows["a"]["error_code"] is None
    assert rows["a#repeat=2"]["error_code"] == "duplicate" and rows["a#repeat=2"]["source"] == str(shards / "../scan.pdf")
    assert rows["g"]["error_code"] == "duplicate" and "'a'" in rows["g"]["error"]
    assert rows["f"]["error_code"] == "invalid_input" and f"manifest {manifest} row 3:" in rows["f"]["error"]


def test_plan_counts_documents_streaming_with_their_bytes_and_known_failures(tmp_path):
    import tracemalloc

    from raypipe.listing import Seen, documents
    from raypipe.plan import inventory

    pdf = tmp_path / "one.pdf"
    pdf.write_bytes(b"%PDF-1.4 " + b"x" * 991)  # 1,000 bytes
    n = 150_000
    paths = [str(pdf)] * n  # one file under many ids: the repeats inside one memory window are duplicates
    ids = [f"id-{i}" for i in range(n)]
    paths[7], ids[9] = "file:///etc/hostname", "id-8"  # a refused URI, a repeated id
    pq.write_table(pa.table({"doc_id": ids, "path": paths}), tmp_path / "m.parquet", row_group_size=10_000)
    cfg = InputConfig(manifest=str(tmp_path / "m.parquet"))
    units = plan_units(cfg, parallelism=8)
    tracemalloc.start()
    try:
        got = inventory(units, cfg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seen = Seen()  # the same listing, as a list: what the counts must match
    listed = [d for u in units for d in documents(u, cfg, None, seen)]
    readable = [d for d in listed if not d.error_code]
    assert got["count"] == len(listed) == n
    assert got["bytes"] == 1000 * len(readable) and len(readable) >= 2  # each window reads the file once
    assert got["known_failures"] == {"invalid_input": 1, "duplicate": n - 1 - len(readable)}
    assert peak < 32 * 2**20, peak
    assert inventory(units, cfg, shard=(0, 2))["count"] + inventory(units, cfg, shard=(1, 2))["count"] == n
    # 150,000 distinct files (not there: their size counts 0): as a list, or one pending size lookup per
    # document, they take 50-60 MB of Python objects; streamed, the bound is the listing's repeat window
    # and one batch of paths
    pq.write_table(pa.table({"path": [f"{tmp_path}/gone/{i:06d}.pdf" for i in range(n)]}), tmp_path / "d.parquet",
                   row_group_size=10_000)
    cfg = InputConfig(manifest=str(tmp_path / "d.parquet"))
    units = plan_units(cfg, parallelism=8)
    tracemalloc.start()
    try:
        assert inventory(units, cfg) == {"count": n, "bytes": 0, "known_failures": {}}
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, peak

