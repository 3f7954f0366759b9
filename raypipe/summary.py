"""The run summary: counts read back from what was actually written, this run's rates, and Ray Data's
per-stage times, printed as a table and saved as JSON under ``<output>/_raypipe/`` where data readers
do not look.

Counts (documents, pages, tokens) cover every data file in the output, so after a resumed run they
describe the whole output; the ``run`` section (rates, stage times) covers this run only: the data
files this run wrote and the stages it executed.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Collection
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from raypipe.config import OutputConfig
from raypipe.output import OutputFolder
from raypipe.schema import OUTPUT, OUTPUT_PAGE

log = logging.getLogger("raypipe")

SUMMARY_VERSION = 2
SUMMARY_FILE = "summary.json"

# Only these columns are read back; of the pages, only their text source (a nested leaf).
_DOC_COLUMNS = [
    OUTPUT.field(name)
    for name in ("status", "error_code", "num_pages", "num_pages_processed", "prompt_tokens",
                 "completion_tokens", "engine_started_at", "engine_finished_at")
]
_PAGES = pa.field("pages", pa.list_(pa.struct([OUTPUT_PAGE.field("text_source")])))
_READ_SCHEMA = pa.schema(_DOC_COLUMNS + [_PAGES])


def _read_columns(fs: pafs.FileSystem, path: str, cfg: OutputConfig) -> pa.Table:
    with fs.open_input_file(path) as f:
        if cfg.format == "parquet":
            import pyarrow.parquet as pq

            names = [field.name for field in _DOC_COLUMNS] + ["pages.list.element.text_source"]
            return pq.ParquetFile(f).read(columns=names)
        import pyarrow.json as pj

        codec = {"gz": "gzip", "zst": "zstd"}.get(path.rsplit(".", 1)[-1])
        stream = pa.CompressedInputStream(f, codec) if codec else f
        options = pj.ParseOptions(explicit_schema=_READ_SCHEMA, unexpected_field_behavior="ignore")
        return pj.read_json(stream, parse_options=options)


COUNTS_FILE = "counts.json"  # per data file, its counts: read back once, then kept


def file_counts(t: pa.Table) -> dict:
    """The counts of one data file's rows (what the summary adds up)."""
    sources = pc.struct_field(pc.list_flatten(t["pages"]), "text_source")
    return {
        "documents": t.num_rows,
        "status": dict(collections.Counter(t["status"].to_pylist())),
        "codes": dict(collections.Counter(c for c in t["error_code"].to_pylist() if c)),
        "pages": pc.sum(t["num_pages"]).as_py() or 0,
        "processed": pc.sum(t["num_pages_processed"]).as_py() or 0,
        "prompt_tokens": pc.sum(t["prompt_tokens"]).as_py() or 0,
        "completion_tokens": pc.sum(t["completion_tokens"]).as_py() or 0,
        "text_sources": {k: n for k, n in collections.Counter(sources.to_pylist()).items() if k},
        "engine_start": pc.min(t["engine_started_at"]).as_py(),
        "engine_end": pc.max(t["engine_finished_at"]).as_py(),
    }


class _Tally:
    """Counts over a set of data files."""

    def __init__(self) -> None:
        self.files = self.documents = self.pages = self.processed = 0
        self.prompt_tokens = self.completion_tokens = 0
        self.status: collections.Counter = collections.Counter()
        self.codes: collections.Counter = collections.Counter()
        self.text_sources: collections.Counter = collections.Counter()
        self.engine_start: Optional[float] = None
        self.engine_end: Optional[float] = None

    def add(self, counts: dict) -> None:
        self.files += 1
        self.documents += counts["documents"]
        self.status.update(counts["status"])
        self.codes.update(counts["codes"])
        self.text_sources.update(counts["text_sources"])
        self.pages += counts["pages"]
        self.processed += counts["processed"]
        self.prompt_tokens += counts["prompt_tokens"]
        self.completion_tokens += counts["completion_tokens"]
        start, end = counts["engine_start"], counts["engine_end"]
        if start is not None:
            self.engine_start = start if self.engine_start is None else min(self.engine_start, start)
        if end is not None:
            self.engine_end = end if self.engine_end is None else max(self.engine_end, end)


def _listed(stages: list[dict], engines: Optional[dict]) -> Optional[int]:
    """Documents the read listed this run: the first stage's rows out (the read, alone or fused with the
    render, one row per document either way) and those its read tasks skipped as already written."""
    if not stages:
        return None
    return stages[0]["rows_out"] + ((engines or {}).get("documents_skipped") or 0)


def _rate(count: float, seconds: Optional[float]) -> Optional[float]:
    return round(count / seconds, 3) if seconds else None


def collect(
    folder: OutputFolder,
    cfg: OutputConfig,
    wall_seconds: float,
    files_before: Collection[str] = (),
    stages: Optional[list[dict]] = None,
    engines: Optional[dict] = None,
) -> dict:
    """Read the output back. ``files_before``: data files that were there before this run (they count
    in the totals, not in this run's figures)."""
    whole, this_run = _Tally(), _Tally()
    before = set(files_before)
    unreadable = []
    cached = folder.read_json(COUNTS_FILE) or {}  # a file's counts are read back once, then kept
    counts: dict[str, dict] = {}
    for name in folder.data_files():
        if name not in cached:
            try:
                cached[name] = file_counts(_read_columns(folder.fs, f"{folder.root}/{name}", cfg))
            except (OSError, ValueError, pa.ArrowException) as e:  # a damaged file must not cost the summary
                log.warning("summary: cannot read %s (%s); it is left out of the counts", name, e)
                unreadable.append(name)
                continue
        counts[name] = cached[name]
        whole.add(counts[name])
        if name not in before:
            this_run.add(counts[name])
    folder.write_json(COUNTS_FILE, counts)  # files gone since (--fresh, --retry-failed) leave it too
    window = None
    if this_run.engine_start is not None and this_run.engine_end is not None:
        window = round(max(this_run.engine_end - this_run.engine_start, 0.0), 3)
    return {
        "summary_version": SUMMARY_VERSION,
        "output": cfg.output,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data_files": whole.files,
        "unreadable_files": unreadable,
        "documents": whole.documents,
        "documents_by_status": dict(sorted(whole.status.items())),
        "failures_by_error_code": dict(sorted(whole.codes.items())),
        "pages": whole.pages,
        "pages_processed": whole.processed,
        "pages_by_text_source": dict(sorted(whole.text_sources.items())),
        "prompt_tokens": whole.prompt_tokens,
        "completion_tokens": whole.completion_tokens,
        "run": {
            "documents_listed": _listed(stages or [], engines),
            "data_files": this_run.files,
            "documents": this_run.documents,
            "pages_processed": this_run.processed,
            "prompt_tokens": this_run.prompt_tokens,
            "completion_tokens": this_run.completion_tokens,
            "wall_seconds": round(wall_seconds, 3),
            "pages_per_second": _rate(this_run.processed, wall_seconds),
            "tokens_per_second": _rate(this_run.completion_tokens, wall_seconds),
            "engine_window_seconds": window,
            "engine_pages_per_second": _rate(this_run.processed, window),
            "engine_tokens_per_second": _rate(this_run.completion_tokens, window),
            "stages": stages or [],
            # per node: documents and pages the engine stage finished; the vLLM engines' resolved limits and
            # statistics (KV cache use, running and waiting requests per step, preemptions, prefix-cache hits)
            **(engines or {}),
        },
    }


def _walk(summary) -> list:
    """Ray's DatasetStatsSummary chain (each operator's summary is the parent of the next), in order."""
    out = []
    for parent in summary.parents:
        out.extend(_walk(parent))
    out.append(summary)
    return out


def _total(stat) -> float:
    return float(stat.sum) if stat is not None else 0.0


def stage_stats(ds) -> list[dict]:
    """Per executed operator of ``ds`` (after it was written): wall time from its first task's start
    to its last task's end, summed task and CPU time, tasks, blocks and rows. A fused operator
    (``A->B``) also gives each part's task time when Ray Data's per-stage timing was on."""
    try:
        summary = ds.get_stats_summary()
    except Exception as e:  # noqa: BLE001 - the data is written; a missing figure must not fail the run
        log.warning("no stage times: Ray Data's stats could not be read (%s)", e)
        return []
    stages = []
    for part in _walk(summary):
        for op in part.operators_stats:
            if op.is_sub_operator:
                continue
            stage = {
                "name": op.operator_name,
                "wall_seconds": round(op.time_total_s or 0.0, 4),
                "task_seconds": round(_total(op.wall_time), 4),
                "cpu_seconds": round(_total(op.cpu_time), 4),
                "tasks": op.task_rows.count if op.task_rows else 0,
                "blocks": op.wall_time.count if op.wall_time else 0,
                "rows_in": op.total_input_num_rows,
                "rows_out": int(_total(op.output_num_rows)),
            }
            names = op.operator_name.split("->")
            if op.stage_time and len(names) > 1 and len(op.stage_time) == len(names):
                stage["fused"] = [
                    {"name": n, "task_seconds": round(_total(s), 4)} for n, s in zip(names, op.stage_time)
                ]
            stages.append(stage)
    return stages


def save(summary: dict, folder: OutputFolder) -> str:
    folder.write_json(SUMMARY_FILE, summary)
    return f"{folder.meta}/{SUMMARY_FILE}"


def _pairs(counts: dict) -> str:
    return "  ".join(f"{k}={v}" for k, v in counts.items())


def render_table(summary: dict) -> str:
    run = summary["run"]
    lines = [
        f"documents        {summary['documents']}  {_pairs(summary['documents_by_status'])}",
        f"pages            {summary['pages_processed']} processed of {summary['pages']}  "
        + _pairs(summary["pages_by_text_source"]),
    ]
    if summary["failures_by_error_code"]:
        lines.append(f"failures         {_pairs(summary['failures_by_error_code'])}")
    if summary["prompt_tokens"] or summary["completion_tokens"]:
        lines.append(f"tokens           {summary['prompt_tokens']} prompt, {summary['completion_tokens']} completion")
    lines += [
        f"data files       {summary['data_files']} in {summary['output']}",
        f"this run         {run['documents']} documents in {run['data_files']} files, "
        f"{run['pages_processed']} pages",
        f"wall time        {run['wall_seconds']:.1f} s  ({run['pages_per_second']} pages/s, "
        f"{run['tokens_per_second']} tokens/s)",
    ]
    if run["engine_window_seconds"]:
        lines.append(
            f"engine window    {run['engine_window_seconds']:.1f} s  ({run['engine_pages_per_second']} pages/s, "
            f"{run['engine_tokens_per_second']} tokens/s)"
        )
    for node, counts in sorted((run.get("documents_by_node") or {}).items()):
        lines.append(f"engine node      {node}: {counts['documents']} documents, {counts['pages']} pages")
    engine = run.get("engine_stats") or {}
    if engine:
        lines.append(
            f"vllm engines     {run.get('engines')}: KV cache {engine.get('kv_cache_usage_mean')} mean, "
            f"{engine.get('kv_cache_usage_max')} max; running {engine.get('running_mean')} mean, "
            f"{engine.get('running_max')} max; waiting {engine.get('waiting_mean')} mean; "
            f"preemptions {engine.get('preemptions')}; prefix-cache hits {engine.get('prefix_cache_hits')} of "
            f"{engine.get('prefix_cache_queries')} tokens"
        )
    if run["stages"]:
        width = max(len(s["name"]) for s in run["stages"])
        lines.append(f"{'stage':<{width}}  {'wall s':>8}  {'task s':>8}  {'cpu s':>8}  {'tasks':>6}  {'rows out':>8}")
        for s in run["stages"]:
            lines.append(
                f"{s['name']:<{width}}  {s['wall_seconds']:>8.2f}  {s['task_seconds']:>8.2f}  "
                f"{s['cpu_seconds']:>8.2f}  {s['tasks']:>6}  {s['rows_out']:>8}"
            )
    return "\n".join(lines)
