"""The run summary: counts read back from what was actually written, printed as a table and
saved as JSON under ``<output>/_raypipe/`` where data readers do not look."""

from __future__ import annotations

import collections
import json
import time

import pyarrow as pa
import pyarrow.fs as pafs

from raypipe.config import OutputConfig
from raypipe.write import META_DIR, existing_data_files, output_filesystem

_COLUMNS = ["status", "error_code", "num_pages", "num_pages_processed"]


def _read_columns(fs: pafs.FileSystem, path: str, cfg: OutputConfig) -> pa.Table:
    with fs.open_input_file(path) as f:
        if cfg.format == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(f, columns=_COLUMNS)
        import pyarrow.json as pj

        codec = {"gz": "gzip", "zst": "zstd"}.get(path.rsplit(".", 1)[-1])
        stream = pa.CompressedInputStream(f, codec) if codec else f
        return pj.read_json(stream).select(_COLUMNS)


def collect(cfg: OutputConfig, wall_seconds: float) -> dict:
    fs, root = output_filesystem(cfg.output)
    status, codes = collections.Counter(), collections.Counter()
    docs = pages = processed = 0
    files = existing_data_files(cfg.output)
    for rel in files:
        t = _read_columns(fs, f"{root}/{rel}", cfg)
        docs += t.num_rows
        status.update(t["status"].to_pylist())
        codes.update(c for c in t["error_code"].to_pylist() if c)
        pages += sum(n or 0 for n in t["num_pages"].to_pylist())
        processed += sum(n or 0 for n in t["num_pages_processed"].to_pylist())
    return {
        "output": cfg.output,
        "data_files": len(files),
        "documents": docs,
        "documents_by_status": dict(sorted(status.items())),
        "failures_by_error_code": dict(sorted(codes.items())),
        "pages": pages,
        "pages_processed": processed,
        "wall_seconds": round(wall_seconds, 3),
        "pages_per_second": round(processed / wall_seconds, 3) if wall_seconds > 0 else None,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def save(summary: dict, cfg: OutputConfig) -> str:
    fs, root = output_filesystem(cfg.output)
    fs.create_dir(f"{root}/{META_DIR}", recursive=True)
    path = f"{root}/{META_DIR}/summary.json"
    with fs.open_output_stream(path) as f:
        f.write(json.dumps(summary, indent=2).encode())
    return path


def render_table(summary: dict) -> str:
    lines = [
        f"documents        {summary['documents']}  "
        + "  ".join(f"{k}={v}" for k, v in summary["documents_by_status"].items()),
        f"pages            {summary['pages_processed']} processed of {summary['pages']}",
        f"wall time        {summary['wall_seconds']:.1f} s  ({summary['pages_per_second']} pages/s)",
        f"data files       {summary['data_files']} in {summary['output']}",
    ]
    if summary["failures_by_error_code"]:
        lines.append("failures         " + "  ".join(f"{k}={v}" for k, v in summary["failures_by_error_code"].items()))
    return "\n".join(lines)
