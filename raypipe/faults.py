"""Crash accounting: a document that kills its worker every time (a crash inside PDFium or the model
engine, an out-of-memory kill) ends as a ``failed`` row with error code ``crashed``; it never
stalls the job.

Ray retries a task whose worker died, and restarts a dead actor, without limit. The ledger, one small
actor per run, counts how many times each document was *started*; a start that never reached its end
means the worker died with the document in it. A stage asks the ledger before it starts a document,
and past ``max_doc_attempts`` starts the document becomes a ``crashed`` row without being touched.

A render task works on one document at a time, so a crash is always charged to the right one. An
inference actor holds many documents at once and a crash is charged to all of them; so from the
third start on a document runs alone in its actor, and the crashes that end it are its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from typing import Optional

from raypipe.errors import DocumentError, ErrorCode

# From this start on, an inference actor runs the document alone (see the module docstring).
ALONE_FROM_START = 3

# Test stand-in for a document that crashes native code (no such PDF is at hand): "STAGE:TEXT" makes a
# worker of STAGE ("render" or "infer") kill itself with SIGKILL when it starts a document whose
# doc_id contains TEXT. Unset in real runs.
CRASH_TEST_ENV = "RAYPIPE_TEST_CRASH_ON"


class AttemptLedger:
    """Starts per (stage, document) that have not ended yet (a Ray actor; see :func:`start_ledger`).
    Stages keep separate counts: Ray may fuse render into the inference actor, and a document that
    ends its render must not clear the count of its inference starts."""

    def __init__(self):
        self._starts: dict[tuple[str, str], int] = {}

    def starts(self, stage: str, doc_id: str) -> int:
        return self._starts.get((stage, doc_id), 0)

    def begin(self, stage: str, doc_id: str) -> int:
        key = (stage, doc_id)
        self._starts[key] = self._starts.get(key, 0) + 1
        return self._starts[key]

    def end(self, stage: str, doc_id: str) -> None:
        self._starts.pop((stage, doc_id), None)


def start_ledger():
    """The run's ledger actor (no CPU reserved; restarted if lost, which only resets the counts)."""
    import ray

    from raypipe.cluster import on_driver_node

    remote = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(AttemptLedger)
    return remote.options(name=f"raypipe-attempts-{uuid.uuid4().hex[:12]}", **on_driver_node()).remote()


def crashed_message(stage: str, starts: int) -> str:
    return (
        f"the {stage} worker died {starts} times while this document was in it (a crash in native code "
        "or an out-of-memory kill); it was not tried again (ray.max_doc_attempts)"
    )


def _crash_if_asked(stage: str, doc_id: str) -> None:
    wanted = os.environ.get(CRASH_TEST_ENV, "")
    target_stage, _, text = wanted.partition(":")
    if text and target_stage == stage and text in doc_id:
        os.kill(os.getpid(), signal.SIGKILL)


class RenderGuard:
    """For tasks that work on one document at a time."""

    def __init__(self, ledger, max_attempts: int):
        self.ledger = ledger
        self.max_attempts = max_attempts

    @contextlib.contextmanager
    def attempt(self, doc_id: str):
        """Wraps one document's work; raises DocumentError(crashed) when its starts are used up."""
        import ray

        starts = ray.get(self.ledger.begin.remote("render", doc_id))
        try:
            if starts > self.max_attempts:
                raise DocumentError(ErrorCode.CRASHED, crashed_message("render", starts - 1))
            _crash_if_asked("render", doc_id)
            yield
        finally:
            self.ledger.end.remote("render", doc_id)


class ActorGuard:
    """For actors that work on many documents at once on one event loop."""

    def __init__(self, ledger, max_attempts: int):
        self.ledger = ledger
        self.max_attempts = max_attempts
        self._running = 0
        self._alone_waiting = 0
        self._alone_running = False
        self._changed: Optional[asyncio.Condition] = None

    @contextlib.asynccontextmanager
    async def attempt(self, doc_id: str):
        """Wraps one document's work; raises DocumentError(crashed) when its starts are used up."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        previous = await self.ledger.starts.remote("infer", doc_id)
        if previous >= self.max_attempts:
            self.ledger.end.remote("infer", doc_id)
            raise DocumentError(ErrorCode.CRASHED, crashed_message("inference", previous))
        alone = previous + 1 >= ALONE_FROM_START
        async with self._changed:
            if alone:
                self._alone_waiting += 1
                await self._changed.wait_for(lambda: self._running == 0)
                self._alone_waiting -= 1
            else:
                await self._changed.wait_for(lambda: self._alone_waiting == 0 and not self._alone_running)
            self._running += 1
            self._alone_running = alone
        try:
            await self.ledger.begin.remote("infer", doc_id)
            _crash_if_asked("infer", doc_id)
            yield
        finally:
            self.ledger.end.remote("infer", doc_id)
            async with self._changed:
                self._running -= 1
                if alone:
                    self._alone_running = False
                self._changed.notify_all()
