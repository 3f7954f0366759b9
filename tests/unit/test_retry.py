"""--retry-failed's rewrite of an output, without Ray: rows with the codes asked for leave the data
files and the checkpoint (so the run processes them again), every other row stays exactly once, and
a crash at any step is repaired by the next run."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raypipe import retry
from raypipe.output import OutputFolder
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
    """The ids Ray's checkpoint filter would skip: every committed (not pending) checkpoint file's."""
    ids = []
    for name, where in folder.committed().items():
        ids += pq.read_table(f"{where}/{name}.parquet")["doc_id"].to_pylist()
    return sorted(ids)


class CrashingFS:
    """The folder's real filesystem, except that one move raises as a kill -9 would stop the process."""

    def __init__(self, real, crash_if):
        self.real, self.crash_if = real, crash_if

    def move(self, src, dest):
        if self.crash_if(dest):
            raise KeyboardInterrupt("killed")
        return self.real.move(src, dest)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_released_rows_leave_data_and_checkpoint_the_rest_stays_once(tmp_path, fmt):
    folder = make_output(tmp_path, fmt)
    released = retry.release(folder, ["read_error", "internal"], "2222222222222222")
    assert sorted((d.doc_id, d.source) for d in released) == [("b", "/in/b"), ("c", "/in/c")]  # read again from there
    assert rows_in(folder) == ["a", "d", "e"]
    assert committed_ids(folder) == ["a", "d", "e"]
    assert not list((tmp_path / "_raypipe" / "retry").iterdir())  # every step finished
    assert any(name.startswith("2222222222222222_retry_") for name in folder.data_files())


def test_only_the_asked_codes_of_the_runs_slice_are_released(tmp_path):
    from raypipe.output import checkpoint_dir
    from raypipe.read import in_shard

    mine = next(s for s in ((0, 2), (1, 2)) if in_shard("b", s))
    other = (1 - mine[0], 2)
    folder = make_output(tmp_path, checkpoint=checkpoint_dir(mine))  # written by a run of b's slice
    assert retry.release(folder, ["too_large"], "2222222222222222", mine) == []
    assert retry.release(folder, ["read_error"], "2222222222222222", other) == []  # another slice's files
    assert [d.doc_id for d in retry.release(folder, ["read_error"], "2222222222222222", mine)] == ["b"]
    assert rows_in(folder) == ["a", "c", "d", "e"] and committed_ids(folder) == ["a", "c", "d", "e"]


def test_a_crash_before_the_commit_keeps_the_old_files(tmp_path, monkeypatch):
    folder = make_output(tmp_path)
    before = sorted(folder.data_files())
    folder.__dict__["fs"] = CrashingFS(folder.fs, lambda dest: "checkpoint" in dest and "_retry_" in dest)
    with pytest.raises(KeyboardInterrupt):
        retry.release(folder, ["read_error"], "2222222222222222")
    assert (tmp_path / "_raypipe" / "checkpoint" / "2222222222222222_retry_000000.pending.parquet").exists()
    again = OutputFolder(str(tmp_path))
    retry.recover(again)
    assert sorted(again.data_files()) == before and rows_in(again) == ["a", "b", "c", "d", "e"]
    assert committed_ids(again) == ["a", "b", "c", "d", "e"]


def test_a_crash_after_the_commit_finishes_the_step(tmp_path, monkeypatch):
    folder = make_output(tmp_path)
    monkeypatch.setattr(retry, "recover", lambda folder: (_ for _ in ()).throw(KeyboardInterrupt("killed")))
    with pytest.raises(KeyboardInterrupt):
        retry.release(folder, ["read_error"], "2222222222222222")
    monkeypatch.undo()
    again = OutputFolder(str(tmp_path))
    retry.recover(again)
    assert rows_in(again) == ["a", "c", "d", "e"] and committed_ids(again) == ["a", "c", "d", "e"]
