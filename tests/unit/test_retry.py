"""--retry-failed's release of rows from an output, and the checkpoint's compaction, without Ray: rows
with the codes asked for leave the data files and the checkpoint (the run then reads them again from
their recorded source), every other row stays exactly once, and a crash at any step is repaired."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raypipe import checkpoints, retry
from raypipe.output import OutputFolder, checkpoint_dir
from raypipe.schema import OUTPUT

RUN = "1111111111111111"


def row(doc_id, code=None):
    return {"doc_id": doc_id, "source": f"/in/{doc_id}", "status": "failed" if code else "ok", "error_code": code,
            "text": "" if code else f"text of {doc_id}"}


def make_output(tmp_path, fmt="parquet", checkpoint="checkpoint"):
    """Two write tasks' files as a run leaves them (the first task wrote two files), with their checkpoints."""
    folder = OutputFolder(str(tmp_path))
    folder.claim(RUN, {})
    tasks = {f"{RUN}_w_000000": [[row("a"), row("b", "read_error")], [row("c", "internal")]],
             f"{RUN}_w_000001": [[row("d"), row("e")]]}
    (tmp_path / "_raypipe" / checkpoint).mkdir(parents=True)
    for base, files in tasks.items():
        for i, rows in enumerate(files):
            if fmt == "parquet":
                pq.write_table(pa.Table.from_pylist(rows, schema=OUTPUT), tmp_path / f"{base}-{i}.parquet")
            else:
                with gzip.open(tmp_path / f"{base}-{i}.jsonl.gz", "wt") as f:
                    f.write("".join(json.dumps(r) + "\n" for r in rows))
        ids = [r["doc_id"] for rows in files for r in rows]
        pq.write_table(pa.table({"doc_id": ids}), tmp_path / "_raypipe" / checkpoint / f"{base}.parquet")
    return folder


def rows_in(folder) -> list[str]:
    ids = []
    for name in folder.data_files():
        path = f"{folder.root}/{name}"
        if name.endswith(".parquet"):
            ids += pq.read_table(path)["doc_id"].to_pylist()
        else:
            ids += [json.loads(line)["doc_id"] for line in gzip.open(path, "rt")]
    return sorted(ids)


def committed_ids(folder) -> list[str]:
    """The ids Ray's checkpoint filter would skip: every committed (not pending, not hidden) file's."""
    return sorted(i for c in folder.checkpoint_dirs() for p in checkpoints.files(folder, c) for i in checkpoints.read_ids(folder, p))


class CrashingFS:
    """The folder's real filesystem, except that one call raises as a kill -9 would stop the process."""

    def __init__(self, real, crash_on):
        self.real, self.crash_on = real, crash_on

    def __getattr__(self, name):
        method = getattr(self.real, name)

        def call(*args, **kwargs):
            if self.crash_on(name, args):
                raise KeyboardInterrupt("killed")
            return method(*args, **kwargs)

        return call


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_released_rows_leave_data_and_checkpoint_the_rest_stays_once(tmp_path, fmt):
    folder = make_output(tmp_path, fmt)
    released = retry.release(folder, ["read_error", "internal"], "2222222222222222")
    assert sorted((d.doc_id, d.source) for d in released) == [("b", "/in/b"), ("c", "/in/c")]  # read again from there
    assert rows_in(folder) == ["a", "d", "e"] and committed_ids(folder) == ["a", "d", "e"]
    assert not list((tmp_path / "_raypipe" / "retry").iterdir())  # the step finished
    assert [d.doc_id for d in retry.released(folder)] == ["b", "c"]  # kept until a run finishes with them
    retry.finished(folder)
    assert retry.released(folder) == []


def test_only_the_asked_codes_of_the_runs_slice_are_released(tmp_path):
    from raypipe.read import in_shard

    mine = next(s for s in ((0, 2), (1, 2)) if in_shard("b", s))
    other = (1 - mine[0], 2)
    folder = make_output(tmp_path, checkpoint=checkpoint_dir(mine))  # written by a run of b's slice
    assert retry.release(folder, ["too_large"], "2222222222222222", mine) == []
    assert retry.release(folder, ["read_error"], "2222222222222222", other) == []  # b is not the other slice's
    assert [d.doc_id for d in retry.release(folder, ["read_error"], "2222222222222222", mine)] == ["b"]
    assert rows_in(folder) == ["a", "c", "d", "e"] and committed_ids(folder) == ["a", "c", "d", "e"]


def test_files_the_summary_counted_without_those_codes_are_not_read(tmp_path, monkeypatch):
    """On an output of millions of rows the release reads only the data files whose counts (kept by the
    summary in counts.json) hold a code asked for."""
    from raypipe.summary import COUNTS_FILE, file_counts

    folder = make_output(tmp_path)
    counts = {name: file_counts(pq.read_table(tmp_path / name)) for name in folder.data_files()}
    folder.write_json(COUNTS_FILE, counts)
    reads, real = [], retry._read
    monkeypatch.setattr(retry, "_read", lambda f, name: reads.append(name) or real(f, name))  # counts the reads
    released = retry.release(folder, ["internal"], "2222222222222222")
    assert [d.doc_id for d in released] == ["c"]
    assert reads == [f"{RUN}_w_000000-1.parquet"]  # the one file with an internal row
    assert rows_in(folder) == ["a", "b", "d", "e"]


def test_a_crash_before_the_step_is_prepared_keeps_the_old_output(tmp_path):
    folder = make_output(tmp_path)
    before = sorted(folder.data_files())
    folder.__dict__["fs"] = CrashingFS(folder.fs, lambda name, args: name == "move" and "released-" in args[1])
    with pytest.raises(KeyboardInterrupt):
        retry.release(folder, ["read_error"], "2222222222222222")
    again = OutputFolder(str(tmp_path))
    retry.recover(again)
    assert sorted(again.data_files()) == before and rows_in(again) == ["a", "b", "c", "d", "e"]
    assert committed_ids(again) == ["a", "b", "c", "d", "e"]
    assert not [p for p in tmp_path.rglob("*.raypipe-part")]  # the prepared files went


def test_a_crash_after_the_step_is_prepared_finishes_it(tmp_path):
    folder = make_output(tmp_path)
    journal_writes = []

    def crash(name, args):  # the first rename after the journal's second write (the one saying prepared)
        if name == "move" and "/retry/" in args[1]:
            journal_writes.append(args[1])
            return False
        return len(journal_writes) == 2 and name == "move"

    folder.__dict__["fs"] = CrashingFS(folder.fs, crash)
    with pytest.raises(KeyboardInterrupt):
        retry.release(folder, ["read_error"], "2222222222222222")
    again = OutputFolder(str(tmp_path))
    retry.recover(again)
    assert rows_in(again) == ["a", "c", "d", "e"] and committed_ids(again) == ["a", "c", "d", "e"]
    assert [d.doc_id for d in retry.released(again)] == ["b"]


def test_compaction_merges_recorded_runs_checkpoint_files_and_keeps_older_ones(tmp_path):
    folder = make_output(tmp_path)
    legacy = tmp_path / "_raypipe" / "checkpoint" / "0f0f0f0f-older-writer_000000.parquet"
    pq.write_table(pa.table({"doc_id": ["z"]}), legacy)
    checkpoint = f"{folder.meta}/checkpoint"
    before = committed_ids(folder)
    assert checkpoints.compact(folder, checkpoint, RUN) == 2
    assert committed_ids(folder) == before == ["a", "b", "c", "d", "e", "z"]
    assert sorted(p.rsplit("/", 1)[-1] for p in checkpoints.files(folder, checkpoint)) == [
        "0f0f0f0f-older-writer_000000.parquet", f"{RUN}_compacted.parquet"]
    assert checkpoints.compact(folder, checkpoint, RUN) == 0  # one file of recorded runs left: nothing to do


def test_compaction_streams_the_ids_instead_of_holding_them(tmp_path):
    import tracemalloc

    folder = make_output(tmp_path)
    checkpoint = f"{folder.meta}/checkpoint"
    ids = [f"folder-{i // 1000:04d}/document-{i:08d}.pdf" for i in range(300_000)]
    for n in range(3):
        pq.write_table(pa.table({"doc_id": ids[n * 100_000:(n + 1) * 100_000]}),
                       tmp_path / "_raypipe" / "checkpoint" / f"{RUN}_{'0' * 32}_{n + 10:06d}.parquet")
    tracemalloc.start()
    try:
        assert checkpoints.compact(folder, checkpoint, RUN) == 5
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # as Python strings the 300,000 ids take about 25 MB; streamed, they never become Python objects
    assert peak < 4 * 2**20, peak
    assert len(committed_ids(folder)) == 300_005
