"""The fair pages-in-flight budget: never more than its slots, and short documents are not stuck
behind long ones."""

from __future__ import annotations

import asyncio

import pytest

from raypipe.engines.budget import FairBudget


async def _run(budget: FairBudget, docs: dict[str, int], step: float = 0.005) -> tuple[list[str], int]:
    finished: list[str] = []
    peak = 0

    async def page(doc: str):
        nonlocal peak
        async with budget.slot(doc):
            peak = max(peak, sum(budget.in_flight.values()))
            await asyncio.sleep(step)

    async def document(doc: str, pages: int):
        await asyncio.gather(*(page(doc) for _ in range(pages)))
        finished.append(doc)

    tasks = []
    for doc, pages in docs.items():  # the long document is submitted first
        tasks.append(asyncio.ensure_future(document(doc, pages)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    return finished, peak


def test_short_documents_overtake_a_long_one():
    docs = {"long": 40, "s1": 1, "s2": 2, "s3": 1}
    finished, peak = asyncio.run(_run(FairBudget(4), docs))
    assert finished[-1] == "long" and set(finished[:3]) == {"s1", "s2", "s3"}
    assert peak == 4


def test_a_plain_fifo_order_would_not():
    # Control: the same workload through a FIFO semaphore (what FairBudget replaces) finishes the
    # long document first, so the test above does catch a first-come-first-served budget.
    async def fifo():
        sem, finished = asyncio.Semaphore(4), []

        async def document(doc, pages):
            async def page():
                async with sem:
                    await asyncio.sleep(0.005)

            await asyncio.gather(*(page() for _ in range(pages)))
            finished.append(doc)

        tasks = []
        for doc, pages in {"long": 40, "short": 1}.items():
            tasks.append(asyncio.ensure_future(document(doc, pages)))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        return finished

    assert asyncio.run(fifo()) == ["long", "short"]


def test_cancelled_waiters_release_nothing_twice():
    async def scenario():
        budget = FairBudget(1)
        async with budget.slot("a"):
            waiter = asyncio.ensure_future(budget.slot("b").__aenter__())
            await asyncio.sleep(0)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        assert budget.free == 1 and not budget.in_flight
        async with budget.slot("c"):
            assert budget.free == 0

    asyncio.run(scenario())
