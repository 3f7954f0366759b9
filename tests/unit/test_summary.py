"""The run summary over an output folder, without Ray: only raypipe's data files are read, a stray file
is ignored and a damaged data file is reported, never a failed summary."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from raypipe import summary
from raypipe.config import OutputConfig
from raypipe.output import OutputFolder
from raypipe.schema import OUTPUT


def test_only_raypipes_files_count_and_a_damaged_one_is_reported(tmp_path):
    folder = OutputFolder(str(tmp_path))
    folder.claim("abcdefabcdefabcd", {})
    rows = [{"doc_id": "a", "status": "ok", "num_pages": 2, "num_pages_processed": 2,
             "pages": [{"page_number": 1, "text_source": "text_layer"}, {"page_number": 2, "text_source": "blank"}]},
            {"doc_id": "b", "status": "failed", "error_code": "empty", "num_pages_processed": 0, "pages": []}]
    pq.write_table(pa.Table.from_pylist(rows, schema=OUTPUT), tmp_path / "abcdefabcdefabcd_w_000000.parquet")
    (tmp_path / "abcdefabcdefabcd_w_000001.parquet").write_bytes(b"PAR1 cut short")  # ours, damaged
    (tmp_path / "notes.txt").write_text("a user's notes")
    (tmp_path / "someone.parquet").write_bytes(b"not ours")
    result = summary.collect(folder, OutputConfig(output=str(tmp_path)), 1.0)
    assert result["documents"] == 2 and result["data_files"] == 1
    assert result["documents_by_status"] == {"failed": 1, "ok": 1} and result["failures_by_error_code"] == {"empty": 1}
    assert result["pages_by_text_source"] == {"blank": 1, "text_layer": 1}
    assert result["unreadable_files"] == ["abcdefabcdefabcd_w_000001.parquet"]
    assert folder.foreign() == ["someone.parquet"]  # readers would take it for rows; notes.txt they would not
    assert "documents        2" in summary.render_table(result)


def test_a_files_counts_are_read_once_then_kept(tmp_path):
    folder = OutputFolder(str(tmp_path))
    folder.claim("abcdefabcdefabcd", {})
    rows = [{"doc_id": "a", "status": "ok", "num_pages": 3, "num_pages_processed": 3, "pages": []}]
    data = tmp_path / "abcdefabcdefabcd_w_000000.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=OUTPUT), data)
    first = summary.collect(folder, OutputConfig(output=str(tmp_path)), 1.0)
    assert (first["documents"], first["pages"]) == (1, 3)
    data.write_bytes(b"PAR1 no longer readable")  # were it read again, it would count as unreadable
    again = summary.collect(folder, OutputConfig(output=str(tmp_path)), 1.0, files_before=[data.name])
    assert (again["documents"], again["pages"], again["unreadable_files"]) == (1, 3, [])
    assert again["run"]["documents"] == 0  # it was there before this run
    data.unlink()
    assert summary.collect(folder, OutputConfig(output=str(tmp_path)), 1.0)["documents"] == 0  # gone: forgotten
