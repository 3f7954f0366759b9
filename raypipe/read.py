"""Stage 1 — read: emit one light row per listed document (``doc_id``, ``source``, and an error when
the listing already knows it cannot be read; see :mod:`raypipe.listing`).

Listing happens on the driver before any Ray work, so a missing input fails at once. The rows carry
no bytes: the render stage fetches each file itself, one at a time, which keeps memory flat and the
read cheap. ``doc_id`` exists from the very first stage and never changes, which is what resume keys on.
"""

from __future__ import annotations

from typing import Optional

import pyarrow as pa

from raypipe.config import InputConfig
from raypipe.listing import Document
from raypipe.schema import DOCUMENT


def _read_task(docs: list[Document]):
    from ray.data.block import BlockMetadata
    from ray.data.datasource import ReadTask

    def read_fn():
        yield pa.table(
            {
                "doc_id": [d.doc_id for d in docs],
                "source": [d.source for d in docs],
                "error_code": [d.error_code for d in docs],
                "error": [d.error for d in docs],
            },
            schema=DOCUMENT,
        )

    size = sum(len(d.doc_id) + len(d.source or "") for d in docs)
    return ReadTask(read_fn, BlockMetadata(num_rows=len(docs), size_bytes=size, exec_stats=None, input_files=None))


def _datasource_class():
    from ray.data.datasource import Datasource

    class DocumentListDatasource(Datasource):
        """A fixed list of documents, ``docs_per_block`` rows per block."""

        def __init__(self, docs: list[Document], docs_per_block: int):
            super().__init__()
            self._docs = docs
            self._per_block = docs_per_block

        def estimate_inmemory_data_size(self) -> Optional[int]:
            return sum(len(d.doc_id) + len(d.source or "") for d in self._docs)

        def get_read_tasks(self, parallelism, per_task_row_limit=None, data_context=None):
            n = self._per_block
            return [_read_task(self._docs[i : i + n]) for i in range(0, len(self._docs), n)]

        def get_name(self) -> str:
            return "ListPDFs"

    return DocumentListDatasource


def read_documents(docs: list[Document], cfg: InputConfig):
    """A lazy Dataset with one row (``doc_id``, ``source``) per document."""
    import ray.data

    blocks = -(-len(docs) // cfg.docs_per_block)
    return ray.data.read_datasource(_datasource_class()(docs, cfg.docs_per_block), override_num_blocks=blocks)
