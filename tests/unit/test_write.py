"""Local data files are written under a hidden part name and renamed when whole, so a crash never
leaves a half-written file where readers look."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raypipe.output import OutputFolder
from raypipe.write import StagedLocalFileSystem, part_path


def test_a_file_appears_under_its_name_only_once_closed(tmp_path):
    fs = pafs.PyFileSystem(StagedLocalFileSystem())
    folder = OutputFolder(str(tmp_path))
    folder.claim("run1", {})
    final = tmp_path / "run1_000000.jsonl"
    stream = fs.open_output_stream(str(final))
    stream.write(b'{"a": 1}\n')
    stream.flush()
    assert not final.exists()
    assert (tmp_path / ".run1_000000.jsonl.raypipe-part").read_bytes() == b'{"a": 1}\n'
    assert folder.data_files() == []  # a part file is not data
    stream.close()
    assert final.read_bytes() == b'{"a": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_raypipe", "run1_000000.jsonl"]
    assert folder.data_files() == ["run1_000000.jsonl"]


def test_parquet_through_the_staged_filesystem_reads_back(tmp_path):
    fs = pafs.PyFileSystem(StagedLocalFileSystem())
    table = pa.table({"doc_id": [f"d{i}" for i in range(1000)], "n": list(range(1000))})
    pads.write_dataset(table, str(tmp_path), format="parquet", filesystem=fs, basename_template="part-{i}.parquet",
                       max_rows_per_file=300, max_rows_per_group=300)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"part-{i}.parquet" for i in range(4)]
    assert pq.read_table(str(tmp_path)).sort_by("n").equals(table)


def test_a_crash_mid_write_leaves_only_a_hidden_part_that_the_next_run_removes(tmp_path):
    folder = OutputFolder(str(tmp_path))
    folder.claim("run1", {})
    (tmp_path / "run1_000000.parquet").write_bytes(b"PAR1")
    part = part_path(str(tmp_path / "run1_000001.parquet"))
    with open(part, "wb") as f:
        f.write(b"PAR1 half of a file")  # what a killed writer leaves
    foreign_part = tmp_path / ".someone-elses.parquet.raypipe-part"
    foreign_part.write_bytes(b"not ours")
    assert folder.data_files() == ["run1_000000.parquet"]
    assert folder.remove_parts() == 1
    assert not (tmp_path / ".run1_000001.parquet.raypipe-part").exists()
    assert (tmp_path / "run1_000000.parquet").exists() and foreign_part.exists()
