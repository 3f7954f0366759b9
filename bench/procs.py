"""What the memory benches share: reading processes' memory from /proc, the peak of a measure while a
process runs, and the generated documents they run over."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from samples import SamplePage, pdf_bytes  # noqa: E402  (the tests' PDF generator)


def pss(pid: int) -> int:
    """Proportional set size of one process in bytes (shared pages split between their users); 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, session id, command line) for every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            out[int(entry)] = (int(stat[1]), int(stat[3]), cmd)
    return out


def session_pss(sid: int) -> int:
    """PSS of every process of session ``sid`` (a run started with ``start_new_session``: its driver,
    Ray's daemons and all workers)."""
    return sum(pss(pid) for pid, (_, session, _) in processes().items() if session == sid)


def peak_while(proc: subprocess.Popen, measure: Callable[[], int], every: float = 0.2) -> int:
    """The largest value of ``measure()``, taken every ``every`` seconds until ``proc`` ends."""
    peak = 0
    while proc.poll() is None:
        peak = max(peak, measure())
        time.sleep(every)
    return peak


def write_documents(folder: Path, docs: int, pages: int, lines: int = 40) -> None:
    """``docs`` identical generated documents of ``pages`` text pages each (``lines`` lines a page)."""
    text = tuple(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(lines))
    data = pdf_bytes([SamplePage(lines=text, boxes=2)] * pages)
    folder.mkdir(parents=True)
    for i in range(docs):
        (folder / f"doc-{i:05d}.pdf").write_bytes(data)
