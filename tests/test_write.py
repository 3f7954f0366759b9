"""Local data files are written under a hidden part name and renamed when whole, so a crash never
leaves a half-written file where readers look."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raypipe.write import StagedLocalFileSystem, existing_data_files, part_path, remove_parts


def test_a_file_appears_under_its_name_only_once_closed(tmp_path):
    fs = pafs.PyFileSystem(StagedLocalFileSystem())
    final = tmp_path / "data.jsonl"
    stream = fs.open_output_stream(str(final))
    stream.write(b'{"a": 1}\n')
    stream.flush()
    assert not final.exists()
    assert (tmp_path / ".data.jsonl.raypipe-part").read_bytes() == b'{"a": 1}\n'
    assert existing_data_files(str(tmp_path)) == []  # a part file is not data
    stream.close()
    assert final.read_bytes() == b'{"a": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl"]


def test_parquet_through_the_staged_filesystem_reads_back(tmp_path):
    fs = pafs.PyFileSystem(StagedLocalFileSystem())
    table = pa.table({"doc_id": [f"d{i}" for i in range(1000)], "n": list(range(1000))})
    pads.write_dataset(table, str(tmp_path), format="parquet", filesystem=fs, basename_template="part-{i}.parquet",
                       max_rows_per_file=300, max_rows_per_group=300)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"part-{i}.parquet" for i in range(4)]
    assert pq.read_table(str(tmp_path)).sort_by("n").equals(table)


def test_a_crash_mid_write_leaves_only_a_hidden_part_that_the_next_run_removes(tmp_path):
    (tmp_path / "whole.parquet").write_bytes(b"PAR1")
    part = part_path(str(tmp_path / "sub" / "cut.parquet"))
    (tmp_path / "sub").mkdir()
    with open(part, "wb") as f:
        f.write(b"PAR1 half of a file")  # what a killed writer leaves
    assert existing_data_files(str(tmp_path)) == ["whole.parquet"]
    assert remove_parts(str(tmp_path)) == 1
    assert not (tmp_path / "sub" / ".cut.parquet.raypipe-part").exists()
    assert (tmp_path / "whole.parquet").exists()


def test_output_never_escapes_the_output_folder(generated, tmp_path):
    """File names come from Ray's writer (run id and block index), never from the input's names or ids."""
    import json

    from conftest import run_cli

    manifest = tmp_path / "inputs" / "m.jsonl"
    manifest.parent.mkdir()
    hostile_ids = ["../../escaped.pdf", "/etc/passwd", "..", "a/../../b", "con:nul?*<>|"]
    manifest.write_text("".join(
        json.dumps({"path": str(generated / "one-page.pdf"), "doc_id": doc_id}) + "\n" for doc_id in hostile_ids
    ))
    out = tmp_path / "deep" / "out"
    result = run_cli("run", "--manifest", str(manifest), "-o", str(out), "--engine", "text-layer", "--format", "jsonl")
    assert result.returncode == 0, result.stderr[-3000:]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != manifest]
    assert written and all(out in p.parents for p in written), written
    rows = [json.loads(line) for f in out.glob("*.jsonl") for line in f.open()]
    assert sorted(r["doc_id"] for r in rows) == sorted(hostile_ids)


def test_trust_remote_code_is_off_unless_asked():
    from raypipe.config import EngineConfig
    from raypipe.infer import EngineSpec
    from raypipe.presets import get

    spec = EngineSpec(preset=get("olmocr-2"), config=EngineConfig(), device="gpu")
    assert spec.engine_args()["trust_remote_code"] is False
    asked = EngineSpec(preset=get("olmocr-2"), config=EngineConfig(trust_remote_code=True), device="gpu")
    assert asked.engine_args()["trust_remote_code"] is True
