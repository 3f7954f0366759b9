"""The output folder: raypipe deletes only what it can prove it wrote, refuses folders it must not start
over in, holds a lease against a second run, and refuses a resume with other text settings. Real
folders, real symlinks, the CLI in this process (Ray never starts: usage errors stop before it)."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from helpers import run_main
from samples import text_pages, write_pdf

from raypipe.config import EngineConfig, InputConfig, OutputConfig, PipelineConfig
from raypipe.errors import OutputRefusedError
from raypipe.output import (
    LEASE_SECONDS,
    Lease,
    OutputFolder,
    check_fresh,
    lease_blocks,
    process_token,
)
from raypipe.plan import make_plan


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    from raypipe import cluster

    def connect(*args, **kwargs):
        raise AssertionError("Ray was about to start")

    monkeypatch.setattr(cluster, "connect", connect)


def files_under(root) -> dict[str, bytes]:
    """Every regular file below root (symlinks not followed) and its content."""
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and not os.path.islink(path):
                out[os.path.relpath(path, root)] = open(path, "rb").read()
    return out


def raypipe_output(folder, run_id="0123456789abcdef", files=2, settings=None):
    """An output as a finished run leaves it: marker, run record, data files named by the run, a checkpoint."""
    out = OutputFolder(str(folder))
    out.claim(run_id, settings or {"engine": "text-layer", "format": "parquet", "pages": [1, None, 1000]})
    for i in range(files):
        (folder / f"{run_id}_abc_{i:06}.parquet").write_bytes(b"PAR1 data")
        (folder / "_raypipe" / "checkpoint").mkdir(parents=True, exist_ok=True)
        (folder / "_raypipe" / "checkpoint" / f"{run_id}_abc_{i:06}.parquet").write_bytes(b"ids")
    return out


@pytest.fixture
def inputs(tmp_path):
    root = tmp_path / "in"
    write_pdf(root / "a.pdf", text_pages(["A"]))
    write_pdf(root / "b.pdf", text_pages(["B"]))
    return root


def test_fresh_refuses_a_home_like_folder_and_leaves_every_file(tmp_path, monkeypatch, inputs):
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    (home / "Documents" / "thesis.docx").write_bytes(b"years of work")
    (home / "photos").mkdir()
    (home / "photos" / "cat.jpg").write_bytes(b"\xff\xd8cat")
    outside = tmp_path / "outside.txt"
    outside.write_text("not in the folder")
    os.symlink(outside, home / "link-out.parquet")
    monkeypatch.setenv("HOME", str(home))
    before, outside_before = files_under(home), outside.read_bytes()
    for target in (home, home / "Documents", tmp_path):  # the home folder, a folder in it, a folder holding it
        result = run_main("run", str(inputs), "-o", str(target), "--fresh")
        assert result.returncode == 2, (target, result.stderr)
    assert "home folder" in run_main("run", str(inputs), "-o", str(home), "--fresh").stderr
    assert files_under(home) == before and outside.read_bytes() == outside_before


def test_fresh_refuses_the_input_folder_and_folders_inside_or_around_it(inputs, tmp_path):
    raypipe_output(inputs)  # even with raypipe's marker in it
    (inputs / "sub").mkdir()
    before = files_under(tmp_path)
    for target in (inputs, inputs / "sub", tmp_path):
        result = run_main("run", str(inputs), "-o", str(target), "--fresh")
        assert result.returncode == 2 and "input" in result.stderr, (target, result.stderr)
        assert "pass --fresh" not in result.stderr
    assert files_under(tmp_path) == before


def test_fresh_refuses_root_and_a_bucket_root():
    with pytest.raises(OutputRefusedError, match="home folder|/"):
        check_fresh(OutputFolder("/"), [])
    with pytest.raises(OutputRefusedError, match="bucket's root"):
        check_fresh(OutputFolder("s3://some-bucket/"), [])


def test_fresh_deletes_only_raypipes_files_never_through_a_symlink(tmp_path, inputs):
    out = tmp_path / "out"
    out.mkdir()
    raypipe_output(out)
    victim = tmp_path / "victim.parquet"
    victim.write_bytes(b"someone's data")
    os.symlink(victim, out / "0123456789abcdef_abc_000009.parquet")  # a proven name, but a symlink
    os.symlink(tmp_path, out / "0123456789abcdef_dir.parquet")
    (out / "_notes").mkdir()
    (out / "_notes" / "0123456789abcdef_abc_000000.parquet").write_bytes(b"not directly in the folder")
    nested = out / "_inner"
    nested.mkdir()
    raypipe_output(nested, run_id="fedcba9876543210")  # another output inside: untouched
    folder = OutputFolder(str(out))
    check_fresh(folder, [str(inputs)])
    assert folder.clear() == 2
    left = files_under(out)
    assert not any(name.startswith("0123456789abcdef_abc_00000") and "/" not in name for name in left)
    assert victim.read_bytes() == b"someone's data" and os.path.islink(out / "0123456789abcdef_abc_000009.parquet")
    assert left["_notes/0123456789abcdef_abc_000000.parquet"] == b"not directly in the folder"
    assert "_inner/fedcba9876543210_abc_000000.parquet" in left
    assert "_inner/_raypipe/checkpoint/fedcba9876543210_abc_000000.parquet" in left
    assert not (out / "_raypipe" / "checkpoint" / "0123456789abcdef_abc_000000.parquet").exists()


def test_fresh_deletes_nothing_when_a_later_check_fails(tmp_path, inputs):
    out = tmp_path / "out"
    out.mkdir()
    raypipe_output(out)
    before = files_under(out)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_main("run", str(inputs), "-o", str(out), "--fresh", "--engine", "openai",
                      "--base-url", f"http://127.0.0.1:{port}/v1")
    assert result.returncode == 2 and "--base-url" in result.stderr
    assert files_under(out) == before


def test_foreign_and_unprovable_files_are_never_data(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    folder = raypipe_output(out)
    (out / "someone.parquet").write_bytes(b"PAR1")
    (out / "9999999999999999_x.parquet").write_bytes(b"PAR1")  # run-id shaped, but no such run recorded
    assert folder.data_files() == ["0123456789abcdef_abc_000000.parquet", "0123456789abcdef_abc_000001.parquet"]
    assert folder.foreign() == ["9999999999999999_x.parquet", "someone.parquet"]


def test_a_lease_refuses_a_second_run_and_names_the_first(tmp_path, inputs):
    out = tmp_path / "out"
    out.mkdir()
    folder = raypipe_output(out)
    first = Lease(folder, "aaaaaaaaaaaaaaaa").acquire()
    try:
        with pytest.raises(OutputRefusedError, match=f"run aaaaaaaaaaaaaaaa .*pid {os.getpid()}"):
            Lease(OutputFolder(str(out)), "bbbbbbbbbbbbbbbb").acquire()
        result = run_main("run", str(inputs), "-o", str(out))
        assert result.returncode == 2 and "in use by raypipe run aaaaaaaaaaaaaaaa" in result.stderr
    finally:
        first.release()
    assert not (out / "_raypipe" / "leases" / "all.json").exists()
    Lease(OutputFolder(str(out)), "bbbbbbbbbbbbbbbb").acquire().release()  # free again


def test_slices_of_one_output_run_side_by_side_but_not_with_a_whole_run(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    folder = raypipe_output(out)
    first = Lease(folder, "aaaaaaaaaaaaaaaa", (0, 2)).acquire()
    second = Lease(OutputFolder(str(out)), "bbbbbbbbbbbbbbbb", (1, 2)).acquire()  # another slice: fine
    try:
        with pytest.raises(OutputRefusedError, match="aaaaaaaaaaaaaaaa"):
            Lease(OutputFolder(str(out)), "cccccccccccccccc", (0, 2)).acquire()  # the same slice
        with pytest.raises(OutputRefusedError, match="in use"):
            Lease(OutputFolder(str(out)), "dddddddddddddddd").acquire()  # every document
    finally:
        first.release()
        second.release()
    whole = Lease(OutputFolder(str(out)), "dddddddddddddddd").acquire()
    try:
        with pytest.raises(OutputRefusedError, match="dddddddddddddddd"):
            Lease(OutputFolder(str(out)), "eeeeeeeeeeeeeeee", (1, 2)).acquire()
    finally:
        whole.release()


def test_a_dead_or_silent_lease_does_not_block():
    now = time.time()
    here = socket.gethostname()
    assert lease_blocks({"host": here, "pid": os.getpid(), "renewed_at": now}, now)
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    assert not lease_blocks({"host": here, "pid": dead, "renewed_at": now}, now)  # its process is gone
    assert lease_blocks({"host": "elsewhere", "pid": 1, "renewed_at": now}, now)
    assert not lease_blocks({"host": "elsewhere", "pid": 1, "renewed_at": now - LEASE_SECONDS - 1}, now)
    # on its own host a live run holds however late its renewal (a suspended machine, a hung write) ...
    me = {"host": here, "pid": os.getpid(), "process": process_token(os.getpid())}
    assert me["process"] and lease_blocks({**me, "renewed_at": now - 10 * LEASE_SECONDS}, now)
    # ... and a pid that another process took since does not
    assert not lease_blocks({**me, "process": "another-boot:123", "renewed_at": now}, now)


def test_a_resume_with_other_settings_is_refused_unless_asked(tmp_path, inputs, monkeypatch):
    from raypipe import cluster

    # the engine is resolved against the cluster: a stand-in cluster without GPUs, no Ray started
    monkeypatch.setattr(cluster, "connect", lambda cfg, cores=None: "a stand-in cluster")
    monkeypatch.setattr(cluster, "resources", lambda: cluster.ClusterResources(cpus=4))
    out = tmp_path / "out"
    out.mkdir()
    raypipe_output(out, settings={"engine": "vllm", "model": "m", "format": "parquet", "pages": [1, None, 1000]})
    result = run_main("run", str(inputs), "-o", str(out), "--engine", "text-layer")
    assert result.returncode == 2, result.stderr
    assert "engine: 'vllm' before, 'text-layer' now" in result.stderr and "--allow-changed-settings" in result.stderr
    marker = json.loads((out / "_raypipe" / "raypipe.json").read_text())
    assert marker["settings"]["engine"] == "vllm"  # nothing written


def test_an_output_that_holds_nothing_yet_takes_new_settings(tmp_path, inputs, monkeypatch):
    """A run stopped before its first file (a wrong engine, killed while it waited) leaves a marker, a run
    record and an empty checkpoint folder: nothing was written with its settings, so a corrected command
    is not refused."""
    from raypipe import cluster

    monkeypatch.setattr(cluster, "connect", lambda cfg, cores=None: "a stand-in cluster")
    monkeypatch.setattr(cluster, "resources", lambda: cluster.ClusterResources(cpus=4))
    out = tmp_path / "out"
    out.mkdir()
    raypipe_output(out, files=0, settings={"engine": "vllm", "model": "m", "format": "parquet", "pages": [1, None, 1000]})
    (out / "_raypipe" / "checkpoint").mkdir()
    (out / "_raypipe" / "checkpoint" / "0123456789abcdef_abc_000000.pending.parquet").write_bytes(b"ids")
    plan = make_plan(PipelineConfig(input=InputConfig(inputs=[str(inputs)]), output=OutputConfig(output=str(out)),
                                    engine=EngineConfig(engine="text-layer")))
    assert plan.settings["engine"] == "text-layer"


def test_an_output_that_is_a_file_or_holds_a_linked_folder_is_refused_before_ray(tmp_path, inputs):
    target = tmp_path / "report.txt"
    target.write_text("not a folder")
    result = run_main("run", str(inputs), "-o", str(target))
    assert result.returncode == 2 and "--output" in result.stderr and "is a file, not a folder" in result.stderr
    assert target.read_text() == "not a folder"

    out = tmp_path / "out"
    raypipe_output(out)
    (out / "notes").mkdir()
    (out / "notes" / "photos").symlink_to(tmp_path / "in", target_is_directory=True)
    result = run_main("run", str(inputs), "-o", str(out))
    assert result.returncode == 2 and "holds a symlink to a folder" in result.stderr and "notes/photos" in result.stderr
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["a.pdf", "b.pdf"]
