"""Peak memory of a text-layer run over N and 10xN generated pages: the pipeline streams, so the
peak should not grow with the input (target: the two peaks within +-20%).

The CLI runs as a user runs it, in its own session; every 0.2 s the proportional set size (PSS,
shared pages split between the processes that map them) of every process in that session — the
driver, Ray's daemons and all workers — is summed, and the largest sum is the peak.

    python bench/memory.py [--docs 50] [--pages-per-doc 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import peak_while, session_pss, write_documents  # noqa: E402


def peak_of_run(inputs: Path, out: Path) -> tuple[int, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "raypipe", "run", str(inputs), "--output", str(out), "--no-summary"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    peak = peak_while(proc, lambda: session_pss(proc.pid))
    if proc.returncode != 0:
        raise SystemExit(f"the run over {inputs} failed with exit code {proc.returncode}")
    return peak, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=50)
    ap.add_argument("--pages-per-doc", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="raypipe-mem-") as tmp:
        root = Path(tmp)
        results = []
        for scale in (1, 10):
            docs = args.docs * scale
            write_documents(root / f"in-{scale}", docs, args.pages_per_doc)
            peak, seconds = peak_of_run(root / f"in-{scale}", root / f"out-{scale}")
            results.append(peak)
            print(f"{docs * args.pages_per_doc:6d} pages ({docs} docs): peak {peak / 2**20:8.1f} MiB  ({seconds:.1f} s)")
        print(f"ratio 10xN / N: {results[1] / results[0]:.3f}  (target within 0.8-1.2)")


if __name__ == "__main__":
    main()
