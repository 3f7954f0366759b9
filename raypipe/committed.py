"""The ids a resume skips, checked inside the read tasks.

Ray Data's own resume filter loads every committed id into one block on the driver's side (a nested
Parquet read, a repartition and a sort: 7 s for 1 M ids here), then sends every listed row through a
pool of filter actors. raypipe keeps Ray's commit protocol (pending record, data file, commit) and its
clean-up of half-committed files, but skips the committed ids where they are listed:

- one Ray task reads the committed checkpoint files (the ``doc_id`` column only) into
  :class:`CommittedIds`: the ids' 64-bit hashes, sorted, and the ids themselves in the same order as one
  byte buffer with offsets. It lives in the object store (numpy arrays: every read task on a node maps
  the same copy, 20 bytes plus the id's length per id) and the driver holds only its reference;
- a read task asks :meth:`CommittedIds.mask` about each block of listed ids (one vectorised binary
  search on the hashes, then an exact comparison of the bytes wherever a hash matches, so a hash
  collision never skips a document that was not written);
- :class:`PendingOnly` takes the place of Ray's checkpoint manager: it cleans up pending commits as
  Ray's does and loads nothing, so Ray adds no filter stage of its own.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Iterable, Optional, Sequence

import numpy as np
import pyarrow as pa

from raypipe.listed import id_bytes, id_hash

log = logging.getLogger("raypipe")


class CommittedIds:
    """A set of doc_ids in flat numpy arrays (cheap to share through Ray's object store), built from an
    Arrow array of the ids' UTF-8 bytes (``large_binary``, no nulls) a slice at a time: building it holds
    the ids twice as Arrow buffers, never as Python objects. :meth:`of` builds one from strings."""

    SLICE = 65536

    def __init__(self, encoded: pa.Array):
        n = len(encoded)
        hashes = np.empty(n, dtype=np.uint64)
        for start in range(0, n, self.SLICE):
            part = encoded.slice(start, self.SLICE).to_pylist()
            hashes[start:start + len(part)] = np.fromiter((id_hash(b) for b in part), dtype=np.uint64, count=len(part))
        order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[order]
        self.offsets, self.data = np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
        if n:
            taken = encoded.take(pa.array(order))
            _, offsets, data = taken.buffers()
            offsets = np.frombuffer(offsets, dtype=np.int64)[taken.offset:taken.offset + n + 1]
            self.offsets = offsets - offsets[0]  # a new array, starting at 0
            self.data = np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]].copy()

    @classmethod
    def of(cls, ids: Iterable[str]) -> "CommittedIds":
        return cls(pa.array([id_bytes(i) for i in ids], pa.large_binary()))

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def nbytes(self) -> int:
        return self.hashes.nbytes + self.offsets.nbytes + self.data.nbytes

    def mask(self, doc_ids: Sequence[str]) -> np.ndarray:
        """For each id, whether it is committed (a boolean array)."""
        out = np.zeros(len(doc_ids), dtype=bool)
        if not len(self.hashes) or not doc_ids:
            return out
        encoded = [id_bytes(i) for i in doc_ids]
        digests = np.fromiter((id_hash(b) for b in encoded), dtype=np.uint64, count=len(encoded))
        starts = np.searchsorted(self.hashes, digests)
        candidates = np.flatnonzero(self.hashes[np.minimum(starts, len(self.hashes) - 1)] == digests)
        if not len(candidates):
            return out
        data, offsets, hashes, n = memoryview(self.data), self.offsets, self.hashes, len(self.hashes)
        for k, i in zip(candidates.tolist(), starts[candidates].tolist()):
            digest = hashes[i]
            while i < n and hashes[i] == digest:  # every id with this hash (another id's hash is rare)
                if data[offsets[i]:offsets[i + 1]] == encoded[k]:
                    out[k] = True
                    break
                i += 1
        return out

    def __contains__(self, doc_id: str) -> bool:
        return bool(self.mask([doc_id])[0])


def load(output: str, storage, checkpoint: str) -> Optional[CommittedIds]:
    """The ids committed in one checkpoint folder of an output (None when it has none)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from raypipe import checkpoints
    from raypipe.errors import OutputRefusedError
    from raypipe.output import OutputFolder

    start = time.perf_counter()
    folder = OutputFolder(output, storage)
    paths = checkpoints.files(folder, checkpoint)  # none when the folder is not there
    columns = []
    for path in paths:
        try:
            with folder.fs.open_input_file(path) as f:
                column = pq.read_table(f, columns=["doc_id"])["doc_id"]
            columns.append(pc.drop_null(column.cast(pa.string())))
        except (OSError, KeyError, ValueError, pa.ArrowException) as e:  # ArrowInvalid is a ValueError
            raise OutputRefusedError(
                f"the resume checkpoint file {path!r} cannot be read ({e}); without it the documents it "
                "committed cannot be told from new ones and would be written twice: restore it from a copy, or "
                "pass --fresh to start over"
            ) from None
    if not columns:
        return None
    encoded = pa.concat_arrays([chunk.cast(pa.large_binary()) for column in columns for chunk in column.chunks])
    del columns
    committed = CommittedIds(encoded)
    log.info("resume: %d committed ids from %d checkpoint files in %.1f s (%.0f MiB)", len(committed), len(paths),
             time.perf_counter() - start, committed.nbytes / 2**20)
    return committed


def _load_counted(output: str, storage, checkpoint: str):
    from raypipe.errors import UsageError

    try:
        committed = load(output, storage, checkpoint)
    except UsageError as e:  # a value, not a task error: Ray would also log it as unhandled
        return None, e
    return committed, len(committed) if committed is not None else 0


def load_remote(output: str, storage, checkpoint: str):
    """:func:`load` in a Ray task: the driver holds a reference, not the ids. Returns (reference, count);
    a checkpoint that cannot be read stops the run here, before any work."""
    import ray

    ref, count = ray.remote(num_cpus=0, num_returns=2)(_load_counted).remote(output, storage, checkpoint)
    count = ray.get(count)
    if isinstance(count, Exception):
        raise count
    return ref, count


@functools.cache
def pending_only_manager():
    """Ray's checkpoint manager, cleaning up half-done commits and loading nothing (see the module)."""
    from ray.data.checkpoint.checkpoint_filter import IdColumnCheckpointManager

    class PendingOnly(IdColumnCheckpointManager):
        def load_checkpoint(self, data_file_dir=None, data_file_filesystem=None):
            if data_file_dir is not None:
                self._clean_pending_checkpoints(data_file_dir, data_file_filesystem)
            return None, 0

    return PendingOnly
