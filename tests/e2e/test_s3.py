"""s3:// inputs and outputs against a real S3-compatible server on loopback (moto's server, a stand-in
for AWS or MinIO): storage options from the command line reach listing, fetching and writing alike,
and a manifest row cannot send requests to an endpoint of its choosing."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from helpers import run_cli
from samples import pdf_bytes, text_pages

moto_server = pytest.importorskip("moto.server", reason="needs moto's S3 server: pip install -e '.[dev]'")

KEYS = {"AWS_ACCESS_KEY_ID": "raypipe-test", "AWS_SECRET_ACCESS_KEY": "raypipe-test-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", access_key=KEYS["AWS_ACCESS_KEY_ID"],
                           secret_key=KEYS["AWS_SECRET_ACCESS_KEY"], region="us-east-1",
                           allow_bucket_creation=True)
    fs.create_dir("docs")
    for i in range(4):
        with fs.open_output_stream(f"docs/in/doc-{i}.pdf") as f:
            f.write(pdf_bytes(text_pages([f"Stored document {i}"])))
    yield endpoint, fs
    server.stop()


class Recorder(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):  # noqa: N802
        Recorder.seen.append(self.path)
        self.send_response(404)
        self.end_headers()

    do_HEAD = do_PUT = do_GET

    def log_message(self, *args):
        pass


def test_storage_options_reach_listing_fetching_and_writing(s3, tmp_path):
    endpoint, fs = s3
    result = run_cli("run", "s3://docs/in/", "-o", "s3://docs/out/", "--storage-endpoint", endpoint,
                     "--format", "parquet", env=KEYS, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    names = [i.path for i in fs.get_file_info(pafs.FileSelector("docs/out")) if i.path.endswith(".parquet")]
    rows = [r for name in names for r in pq.read_table(name, filesystem=fs, columns=["doc_id", "status", "text"]).to_pylist()]
    assert sorted(r["doc_id"] for r in rows) == [f"doc-{i}.pdf" for i in range(4)]
    assert all(r["status"] == "ok" and r["text"].startswith("Stored document") for r in rows)
    assert fs.get_file_info("docs/out/_raypipe/raypipe.json").type == pafs.FileType.File
    again = run_cli("run", "s3://docs/in/", "-o", "s3://docs/out/", "--storage-endpoint", endpoint, env=KEYS, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]  # resumed: nothing new
    assert sorted(i.path for i in fs.get_file_info(pafs.FileSelector("docs/out")) if i.path.endswith(".parquet")) == sorted(names)
    refused = run_cli("run", "s3://docs/in/", "-o", "s3://docs/", "--storage-endpoint", endpoint, "--fresh", env=KEYS, timeout=120)
    assert refused.returncode == 2 and "bucket's root" in refused.stderr, refused.stderr[-2000:]


def test_a_manifest_row_cannot_choose_its_endpoint(s3, tmp_path):
    endpoint, fs = s3
    listener = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    hostile = f"s3://docs/in/doc-0.pdf?endpoint_override=127.0.0.1:{listener.server_address[1]}&scheme=http"
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(f'{{"doc_id": "hostile", "path": "{hostile}"}}\n{{"doc_id": "fine", "path": "s3://docs/in/doc-1.pdf"}}\n')
    out = tmp_path / "out"
    result = run_cli("run", "--manifest", str(manifest), "-o", str(out), "--storage-endpoint", endpoint,
                     "--format", "jsonl", env=KEYS, timeout=600)
    listener.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    got = {r["doc_id"]: r for f in out.glob("*.jsonl") for r in map(json.loads, f.open())}
    assert got["hostile"]["error_code"] == "invalid_input" and "--allow-uri-options" in got["hostile"]["error"]
    assert got["fine"]["status"] == "ok"
    assert Recorder.seen == []  # no request, and no signed credentials, ever reached the row's endpoint
