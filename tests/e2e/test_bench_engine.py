"""bench/engine.py for real, on CPU: the weightless Qwen2.5-VL folder it builds (bench/model_folder.py)
loaded by vLLM with dummy weights (--shrink: 2 small layers), raw vLLM in a child process against
raypipe's engine stage on a local Ray, and the figures and checks it prints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import OFFLINE_ENV, ROOT, kill_session, needs_vllm_cpu

sys.path.insert(0, str(ROOT / "bench"))
import engine_setup
import model_folder

from raypipe.engines.cpu_cores import BIND_ENV, machine_cpus, split

SMOKE = ["--shrink", "--pages", "4", "--pages-per-doc", "2", "--max-tokens", "8",
         "--max-model-len", "2048", "--longest-side", "640"]
RATE = r"\s*:\s*([0-9.]+) pages/s\s+([0-9.]+) tokens/s"


def run_bench(args: list[str], tmp_path, timeout: int = 900) -> tuple[int, str]:
    log = tmp_path / "bench.log"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "engine.py"), *args], cwd=ROOT, stdout=log.open("w"),
        stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **OFFLINE_ENV},
    )
    try:
        proc.wait(timeout=timeout)
    finally:
        kill_session(proc)  # whatever the run left (its Ray, a vLLM engine) goes with it
    return proc.returncode, log.read_text()


def result_line(log: str) -> dict:
    lines = [line for line in log.splitlines() if line.startswith("RESULT {") and '"ratio"' in line]
    assert len(lines) == 1, log[-4000:]
    return json.loads(lines[0][len("RESULT "):])


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    code, log = run_bench(SMOKE, tmp_path_factory.mktemp("bench"))
    assert code == 0, log[-6000:]
    return log, result_line(log)


@needs_vllm_cpu
def test_bench_prints_both_rates_and_their_ratio(smoke):
    log, result = smoke
    raw = re.search(r"^\(a\) raw vLLM generate" + RATE, log, re.MULTILINE)
    ours = re.search(r"^\(b\) raypipe engine stage" + RATE, log, re.MULTILINE)
    ratio = re.search(r"^ratio \(b\)/\(a\)\s*:\s*([0-9.]+)", log, re.MULTILINE)
    assert raw and ours and ratio, log[-4000:]
    raw_pages, raw_tokens, our_pages, our_tokens = (float(x) for x in (*raw.groups(), *ours.groups()))
    assert min(raw_pages, raw_tokens, our_pages, our_tokens) > 0
    assert float(ratio.group(1)) == pytest.approx(our_pages / raw_pages, rel=0.01)
    assert raw_tokens == pytest.approx(8 * raw_pages, rel=0.01)  # exactly 8 tokens out per page
    assert result["ratio"] == pytest.approx(result["raypipe"]["pages_per_s"] / result["raw"]["pages_per_s"])


@needs_vllm_cpu
def test_bench_engines_resolved_the_same_limits(smoke):
    _, result = smoke
    raw, ours = result["raw"]["limits"], result["raypipe"]["limits"]
    assert result["limits_equal"] and result["problems"] == []
    # read back from each started engine's vLLM config, not from what the bench asked for
    for key in engine_setup.LIMITS:
        assert raw[key] == ours[key], key
    assert (raw["max_num_seqs"], raw["max_num_batched_tokens"], raw["max_model_len"]) == (512, 16384, 2048)
    assert raw["dtype"] == "bfloat16"  # --dtype auto: the folder's torch_dtype
    assert raw["kv_cache_blocks"] and raw["kv_cache_blocks"] == ours["kv_cache_blocks"]


@needs_vllm_cpu
def test_bench_pins_the_work_per_page(smoke):
    _, result = smoke
    for side in ("raw", "raypipe"):
        figures = result[side]
        assert figures["pages"] == figures["pages_generated"] == 4, side
        assert figures["tokens_per_page"] == [8] and figures["completion_tokens"] == 32, side
    assert result["raypipe"]["attempts"] == [1]  # no retries counted as pages
    assert result["raypipe"]["documents"] == 2
    assert result["raw"]["prompt_tokens"] == result["raypipe"]["prompt_tokens"] > 4 * 200  # the same prompts
    # raypipe's side splits the cores as a run does, and says how full its engine ran
    cores = None if BIND_ENV in os.environ else split(machine_cpus(), 1)
    assert result["raypipe"]["cpu_cores"] == (cores.as_dict() if cores else None)
    assert result["raypipe"]["engine_stats"]["steps"] > 0


@needs_vllm_cpu
def test_report_refuses_runs_that_are_not_comparable(smoke, capsys):
    import engine  # bench/engine.py

    _, result = smoke
    args = engine_setup.options(SMOKE)
    setup = SimpleNamespace(ignore_eos=True, max_tokens=8, spec=SimpleNamespace(preset=SimpleNamespace(model="m")))
    raw, ours = dict(result["raw"]), dict(result["raypipe"])
    ok = engine.report(args, setup, raw, ours)
    assert ok["problems"] == []
    for key, value in (("max_num_batched_tokens", 2048), ("dtype", "float32"), ("max_num_seqs", 128)):
        changed = engine.report(args, setup, raw, {**ours, "limits": {**ours["limits"], key: value}})
        assert any(key in p for p in changed["problems"]), changed["problems"]
    retried = engine.report(args, setup, raw, {**ours, "attempts": [1, 2], "tokens_per_page": [8, 16]})
    assert len(retried["problems"]) == 2
    assert "DIFFER" in capsys.readouterr().out


def test_model_folder_has_the_real_shapes_and_token_ids(tmp_path):
    from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer

    folder = model_folder.build(str(tmp_path / "model"))
    cfg = AutoConfig.from_pretrained(folder)
    text = cfg.get_text_config()
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.num_key_value_heads,
            text.intermediate_size, text.vocab_size) == (3584, 28, 28, 4, 18944, 152064)
    assert (cfg.vision_config.depth, cfg.vision_config.hidden_size, cfg.vision_config.out_hidden_size) == (32, 1280, 3584)
    assert (cfg.image_token_id, cfg.vision_start_token_id, cfg.vision_end_token_id) == (151655, 151652, 151653)

    tok = AutoTokenizer.from_pretrained(folder)
    assert len(tok) == 152064 and tok.eos_token_id == 151645 and tok.pad_token_id == 151643
    for text_, ids in (("<|im_start|>", [151644]), ("<|im_end|>", [151645]), ("<|vision_start|>", [151652]),
                       ("<|image_pad|>", [151655]), ("<|vision_end|>", [151653]), ("<|endoftext|>", [151643])):
        assert tok.encode(text_, add_special_tokens=False) == ids, text_
    prompt = "<|im_start|>user\nhello <|im_start|> world<|im_end|>"  # special tokens inside text
    assert tok.encode(prompt).count(151644) == 2
    # every id the model can emit decodes (dummy weights emit any of them)
    assert all(isinstance(tok.decode([i]), str) for i in (0, 4095, 100_000, 151_642, 151_665, 152_063))

    # an A4 page at 1288 px: 46 x 33 merged patches, as for the real model
    from PIL import Image

    grid = AutoImageProcessor.from_pretrained(folder)(images=[Image.new("RGB", (911, 1288), "white")])["image_grid_thw"]
    assert int(grid[0].prod()) // 4 == 46 * 33


def test_shrunk_model_folder_keeps_everything_but_the_sizes(tmp_path):
    full = json.loads((Path(model_folder.build(str(tmp_path / "full"))) / "config.json").read_text())
    small = json.loads((Path(model_folder.build(str(tmp_path / "small"), shrink=True)) / "config.json").read_text())
    assert small["num_hidden_layers"] == 2 and small["hidden_size"] < full["hidden_size"]
    assert small["hidden_size"] // small["num_attention_heads"] == full["hidden_size"] // full["num_attention_heads"]
    assert small["vision_config"]["out_hidden_size"] == small["hidden_size"]
    for key in ("vocab_size", "image_token_id", "vision_start_token_id", "eos_token_id", "rope_scaling"):
        assert small[key] == full[key], key
