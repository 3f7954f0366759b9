"""The committed-id set a resume's read tasks skip: exact membership (a hash collision never skips a
document that was not written), ids of any spelling, and the read dropping exactly the committed rows
while repeats are still named as in the run that wrote them."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pyarrow.parquet as pq

from raypipe import committed as committed_mod
from raypipe.committed import CommittedIds, load
from raypipe.config import InputConfig
from raypipe.listing import plan_units
from raypipe.read import _blocks


def test_membership_is_exact_for_ids_of_any_spelling():
    ids = ["a", "a/b.pdf", "ü/ß.pdf", "bad-\udcff.pdf", "x" * 5000, "", "id#repeat=2"]
    c = CommittedIds.of(ids)
    assert len(c) == len(ids)
    assert all(i in c for i in ids)
    others = ["b", "a/b.pd", "a/b.pdf ", "u/ss.pdf", "bad-\udcfe.pdf", "x" * 4999, "id#repeat=3", "id"]
    assert not any(o in c for o in others)
    assert list(c.mask(ids[:2] + others[:2])) == [True, True, False, False]
    assert list(CommittedIds.of([]).mask(["a"])) == [False] and "a" not in CommittedIds.of([])


def test_a_hash_collision_never_skips_an_unwritten_document(monkeypatch):
    monkeypatch.setattr(committed_mod, "id_hash", lambda encoded: len(encoded) % 3)  # collisions everywhere
    written = [f"doc-{i}" for i in range(300)]
    c = CommittedIds.of(written)
    unwritten = [f"new-{i}" for i in range(300)]
    mask = c.mask(written + unwritten)
    assert mask[:300].all() and not mask[300:].any()


def test_it_travels_as_flat_arrays():
    c = CommittedIds.of([f"d{i:07d}.pdf" for i in range(10_000)])
    assert c.nbytes < 10_000 * (8 + 8 + 12 + 1)  # hash, offset and the id's bytes: no Python objects
    again = pickle.loads(pickle.dumps(c, protocol=5))
    assert "d0000042.pdf" in again and "d0010000.pdf" not in again


def test_load_reads_only_committed_checkpoint_files(tmp_path):
    out = tmp_path / "out"
    ckpt = out / "_raypipe" / "checkpoint"
    ckpt.mkdir(parents=True)
    pq.write_table(pa.table({"doc_id": ["a", "b"]}), ckpt / "r1_x.parquet")
    pq.write_table(pa.table({"doc_id": ["c"]}), ckpt / "r2_y.parquet")
    pq.write_table(pa.table({"doc_id": ["pending"]}), ckpt / "r3_z.pending.parquet")  # a commit never finished
    pq.write_table(pa.table({"doc_id": ["hidden"]}), ckpt / ".r4.parquet.tmp")
    c = load(str(out), None, str(ckpt))
    assert len(c) == 3 and all(i in c for i in "abc") and "pending" not in c and "hidden" not in c
    assert load(str(out), None, str(out / "_raypipe" / "checkpoint-1-of-2")) is None


def test_the_read_drops_committed_rows_and_still_names_repeats(tmp_path):
    ids = [f"id-{i}" for i in range(3000)] + ["id-5", "id-2999"]  # two repeats, of committed ids
    pq.write_table(pa.table({"doc_id": ids, "path": [f"/data/{i}.pdf" for i in range(len(ids))]}), tmp_path / "m.parquet")
    cfg = InputConfig(manifest=str(tmp_path / "m.parquet"))
    units = plan_units(cfg, parallelism=1)
    every = [r for b in _blocks(units, cfg, None, 512, None, frozenset(), []) for r in b.to_pylist()]
    done = CommittedIds.of([r["doc_id"] for r in every[:2000]])
    told = []
    left = [r for b in _blocks(units, cfg, None, 512, None, frozenset(), [], done, told.append) for r in b.to_pylist()]
    assert left == every[2000:] and told == [2000]  # the same rows, the same names, in the same order
    assert {r["doc_id"] for r in left} >= {"id-5#repeat=2", "id-2999#repeat=2"}


def test_a_checkpoint_of_other_string_types_or_nulls_loads_and_a_damaged_one_is_named(tmp_path):
    import pytest

    from raypipe.errors import OutputRefusedError

    ckpt = tmp_path / "out" / "_raypipe" / "checkpoint"
    ckpt.mkdir(parents=True)
    pq.write_table(pa.table({"doc_id": pa.array(["a", None], pa.large_string())}), ckpt / "r1_x.parquet")
    pq.write_table(pa.table({"doc_id": pa.array(["b", "b"]).dictionary_encode()}), ckpt / "r2_y.parquet")
    c = load(str(tmp_path / "out"), None, str(ckpt))
    assert len(c) == 3 and "a" in c and "b" in c and "None" not in c
    (ckpt / "r3_z.parquet").write_bytes(b"")  # a file cut to nothing
    with pytest.raises(OutputRefusedError, match=r"r3_z.parquet.*cannot be read.*--fresh"):
        load(str(tmp_path / "out"), None, str(ckpt))
    (ckpt / "r3_z.parquet").unlink()
    pq.write_table(pa.table({"id": ["c"]}), ckpt / "r4_w.parquet")  # no doc_id column
    with pytest.raises(OutputRefusedError, match="r4_w.parquet"):
        load(str(tmp_path / "out"), None, str(ckpt))
