"""Stage 1 — read: the listing as a Ray Data read, one light row per document (``doc_id``, ``source``,
and an error when the listing already knows it cannot be read; see :mod:`raypipe.listing`).

The driver plans the units (cheap: top levels, manifest files and row groups) and hands them to a
number of read tasks proportional to the cluster, not to the input; each task walks or reads its
units and yields blocks of ``docs_per_block`` rows as it goes, so the first documents render while
listing goes on, and the driver never holds the document list. The rows carry no bytes: the render
stage fetches each file itself. ``doc_id`` exists from the very first stage and never changes, which
is what resume keys on.

On a resume, each read task drops the ids the output has committed as it lists them
(:mod:`raypipe.committed`), before any row leaves the task.

``--shard I/N`` keeps the documents whose stable hash of ``doc_id`` falls in slice I of N, so several
clusters or days can share one output. Documents that ``--retry-failed`` released come from the
output's own record of them, and the listing skips their ids so each is processed once.
"""

from __future__ import annotations

from typing import Iterable, Optional

import pyarrow as pa

from raypipe.listed import id_bytes, id_hash
from raypipe.listing import Document, Seen, Unit, documents
from raypipe.schema import DOCUMENT

CHUNK = 1024  # documents per table a read task yields (cut to docs_per_block rows by the repartition after it)
# CPUs of a read task. At 1, Ray Data's budget for the read stage (about one CPU on a small cluster) ran
# the read tasks one after another: a resume then listed 1 M committed rows on one core before reaching
# a new one. The listing is light and yields as it goes, so the tasks share that CPU instead.
READ_NUM_CPUS = 0.25


def in_shard(doc_id: str, shard: Optional[tuple[int, int]]) -> bool:
    """Whether ``doc_id`` belongs to slice ``shard`` = (index, count): a stable hash, the same on every run."""
    if shard is None:
        return True
    index, count = shard
    return id_hash(id_bytes(doc_id)) % count == index


def _table(docs: list[Document]) -> pa.Table:
    return pa.table(
        {
            "doc_id": [d.doc_id for d in docs],
            "source": [d.source for d in docs],
            "error_code": [d.error_code for d in docs],
            "error": [d.error for d in docs],
        },
        schema=DOCUMENT,
    )


def _uncommitted(docs: list[Document], committed) -> list[Document]:
    if committed is None:
        return docs
    done = committed.mask([d.doc_id for d in docs])
    return [d for d, skip in zip(docs, done) if not skip]


def _blocks(units: list[Unit], cfg, storage, rows: int, shard, skip: frozenset, extra: list[Document],
            committed=None, report=None) -> Iterable[pa.Table]:
    """The units' documents as tables of at most ``rows`` rows, without the ``committed`` ids
    (a :class:`~raypipe.committed.CommittedIds`); ``report(n)`` is told how many that skipped, at the end.
    Repeated ids and files are caught across all of the task's units (one
    :class:`~raypipe.listing.Seen`), committed or not, as in the run that wrote them."""
    buffered: list[Document] = list(extra)
    seen = Seen()
    skipped = 0

    def flush() -> list[Document]:
        nonlocal skipped
        fresh = _uncommitted(buffered, committed)
        skipped += len(buffered) - len(fresh)
        return fresh

    for unit in units:
        for doc in documents(unit, cfg, storage, seen):
            if doc.doc_id in skip or not in_shard(doc.doc_id, shard):
                continue
            buffered.append(doc)
            if len(buffered) >= rows:
                fresh = flush()
                if fresh:
                    yield _table(fresh)
                buffered = []
    fresh = flush()
    if fresh:
        yield _table(fresh)
    if report is not None:
        report(skipped)


def _datasource(units: list[Unit], cfg, storage, shard, released: list[Document], tasks: int, committed, stats):
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    skip = frozenset(d.doc_id for d in released)

    class InputListing(Datasource):
        """The inputs' documents, listed by the read tasks themselves."""

        def estimate_inmemory_data_size(self) -> Optional[int]:
            return None

        def get_read_tasks(self, parallelism, per_task_row_limit=None, data_context=None):
            count = max(1, min(tasks, len(units)))
            groups = [units[i::count] for i in range(count)]
            out = []
            for i, group in enumerate(groups):
                extra = released if i == 0 else []

                def read_fn(group=group, extra=extra, key=f"read-{i}"):
                    import ray

                    ids = ray.get(committed) if committed is not None else None
                    report = (lambda n: stats.listing.remote(key, n)) if stats is not None and ids is not None else None
                    yield from _blocks(group, cfg, storage, CHUNK, shard, skip, extra, ids, report)

                out.append(ReadTask(read_fn, BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None,
                                                           input_files=None)))
            return out

        def get_name(self) -> str:
            return "ListPDFs"

    return InputListing()


def read_documents(units: list[Unit], cfg, storage=None, shard=None, released=(), tasks: int = 4, committed=None,
                   stats=None):
    """A lazy Dataset with one row (``doc_id``, ``source``, ``error_code``, ``error``) per document not in
    ``committed`` (a reference to a :class:`~raypipe.committed.CommittedIds`, or None); the run's
    ``stats`` actor (:mod:`raypipe.runstats`) is told how many each read task skipped."""
    import ray.data

    source = _datasource(units, cfg, storage, shard, list(released), tasks, committed, stats)
    ds = ray.data.read_datasource(source, override_num_blocks=max(1, min(tasks, len(units))),
                                  num_cpus=READ_NUM_CPUS)
    # a read task's small yields are merged into large blocks; cut them back to docs_per_block rows, as
    # they stream, so that documents spread over the render tasks and the engine's slots
    return ds.repartition(target_num_rows_per_block=cfg.docs_per_block)
