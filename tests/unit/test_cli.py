"""The command line in this process: options generated from the config models, and every usage error
(a wrong option, a missing input, an engine that cannot run) failing with exit code 2 and a message
that names the option — before Ray starts (``raypipe.cluster.connect`` is never reached) and before
anything is written."""

from __future__ import annotations

import socket

import pytest
from helpers import run_main


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    """Reaching Ray's start-up is a failure here: usage errors must stop before it."""
    from raypipe import cluster

    def connect(*args, **kwargs):
        raise AssertionError("Ray was about to start")

    monkeypatch.setattr(cluster, "connect", connect)


@pytest.mark.parametrize(
    "args, named",
    [
        (["--format", "xml"], "--format"),
        (["--max-pages", "-3"], "--max-pages"),
        (["--longest-side", "0"], "--longest-side"),
        (["--format", "jsonl", "--compression", "snappy"], "snappy"),
        (["--first-page", "5", "--last-page", "2"], "last_page"),
        (["--infer-actors", "4", "--infer-max-actors", "2"], "max_actors"),
        (["--render-num-cpus", "0"], "--render-num-cpus (ray.render.num_cpus)"),
        (["--max-num-seqs", "0"], "--max-num-seqs (engine.vllm.max_num_seqs)"),
    ],
)
def test_bad_options_fail_before_ray_starts(args, named, generated, tmp_path):
    result = run_main("run", str(generated), "-o", str(tmp_path / "o"), *args)
    assert result.returncode == 2
    assert named in result.stderr
    assert not (tmp_path / "o").exists()


def test_missing_input_fails_before_ray_starts(tmp_path):
    result = run_main("run", str(tmp_path / "missing.pdf"), "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and "missing.pdf" in result.stderr and "does not exist" in result.stderr


def test_unknown_preset_fails_before_ray_starts(tmp_path, generated):
    result = run_main("run", str(generated), "-o", str(tmp_path / "o"), "--preset", "nope")
    assert result.returncode == 2 and "--preset" in result.stderr and "olmocr-2" in result.stderr


def test_openai_needs_a_base_url(tmp_path, generated):
    result = run_main("run", str(generated), "-o", str(tmp_path / "o"), "--engine", "openai")
    assert result.returncode == 2 and "--base-url" in result.stderr


def test_unreachable_endpoint_fails_before_ray_starts(tmp_path, generated):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_main(
        "run", str(generated), "-o", str(tmp_path / "o"), "--engine", "openai",
        "--base-url", f"http://127.0.0.1:{port}/v1",
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "--base-url" in result.stderr and f"127.0.0.1:{port}" in result.stderr
    assert not (tmp_path / "o").exists()


def test_foreign_output_is_refused_before_ray_starts(generated, tmp_path):
    """A folder holding files raypipe did not write is refused, and --fresh is not offered: raypipe
    deletes only what it can prove it wrote."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "someone-elses.parquet").write_bytes(b"PAR1")
    for extra in ([], ["--fresh"]):
        refused = run_main("run", str(generated), "-o", str(out), *extra)
        assert refused.returncode == 2 and "someone-elses.parquet" in refused.stderr, refused.stderr
        assert "pass --fresh" not in refused.stderr
    assert (out / "someone-elses.parquet").read_bytes() == b"PAR1"


def test_todays_flags_keep_working():
    """Every option of the flat layout before the per-stage sections still parses, into its new place."""
    from raypipe.cli import build_parser, config_from_args

    parser, found = build_parser()
    args = parser.parse_args([
        "run", "in", "-o", "out", "--render-num-cpus", "0.5", "--render-concurrency", "3", "--infer-actors", "2",
        "--infer-max-actors", "4", "--infer-num-cpus", "2", "--docs-in-flight", "8", "--pages-in-flight", "16",
        "--base-url", "http://h/v1", "--max-concurrency", "5", "--dtype", "float32", "--max-num-seqs", "7",
        "--no-resume", "--no-progress-bars", "--write-num-cpus", "0.3", "--write-concurrency", "2",
    ])
    config = config_from_args(args, found)
    ray = config.ray
    assert (ray.render.num_cpus, ray.render.concurrency) == (0.5, 3)
    assert (ray.infer.actors, ray.infer.max_actors, ray.infer.num_cpus) == (2, 4, 2)
    assert (ray.infer.docs_in_flight, ray.infer.pages_in_flight) == (8, 16)
    assert (ray.write.num_cpus, ray.write.concurrency) == (0.3, 2)
    assert config.engine.openai.base_url == "http://h/v1" and config.engine.openai.max_concurrency == 5
    assert config.engine.vllm.dtype == "float32" and config.engine.vllm.max_num_seqs == 7
    assert config.output.resume is False and ray.progress_bars is False
    legacy = config_from_args(parser.parse_args(["run", "in", "-o", "out", "--openai-num-cpus", "0.25"]), found)
    assert legacy.ray.infer.num_cpus == 0.25


def test_every_option_has_help_and_a_unique_flag():
    from raypipe.cli import options

    flags = [flag for option in options() for flag in option.flags]
    assert len(flags) == len(set(flags))
    assert all(option.field.description for option in options())


def test_presets_command_lists_the_registry():
    from raypipe.engines import presets

    result = run_main("presets")
    assert result.returncode == 0
    for name in presets.names():
        assert name in result.stdout and presets.get(name).model in result.stdout


def test_a_config_file_holds_options_and_secrets_and_the_command_line_wins(tmp_path, monkeypatch):
    from raypipe.cli import build_parser, config_from_args

    job = tmp_path / "job.yaml"
    job.write_text(
        "inputs: [in]\noutput: out\nmax-pages: 7\nrender_timeout: 30\n"
        "passwords: [s3cret]\nengine:\n  engine: openai\n  openai: {base_url: 'http://h/v1', api_key: sk-file}\n"
    )
    parser, found = build_parser()
    config = config_from_args(parser.parse_args(["run", "--config", str(job), "--max-pages", "9"]), found)
    assert config.input.inputs == ["in"] and config.output.output == "out"
    assert config.render.max_pages == 9 and config.render.render_timeout == 30  # the command line wins
    assert config.input.passwords == ["s3cret"] and config.engine.openai.api_key == "sk-file"
    assert "s3cret" not in repr(config) and "sk-file" not in repr(config)
    assert "--api-key" not in [f for o in found for f in o.flags]  # a secret is never an option


@pytest.mark.parametrize(
    "text, named",
    [
        ("max-pagez: 3\n", "unknown option 'max-pagez'"),
        ("- a list\n", "must hold a mapping"),
        ("max-pages: -1\n", "--max-pages (render.max_pages)"),
        ("engine: {vllm: {dtype: 7}}\n", "--dtype (engine.vllm.dtype)"),
        ("key: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_config_file_is_a_usage_error_naming_the_option(tmp_path, generated, text, named):
    job = tmp_path / "job.yaml"
    job.write_text(text)
    result = run_main("run", str(generated), "-o", str(tmp_path / "o"), "--config", str(job))
    assert result.returncode == 2 and named in result.stderr, result.stderr


def test_passwords_from_the_environment_and_output_required(tmp_path, generated, monkeypatch):
    from raypipe.config import InputConfig, PipelineConfig
    from raypipe.plan import with_secrets

    monkeypatch.setenv("PDF_PASSWORDS", "one\ntwo\n")
    config = with_secrets(PipelineConfig(input=InputConfig(inputs=["x"], passwords=["zero"], passwords_env="PDF_PASSWORDS")))
    assert config.input.passwords == ["zero", "one", "two"]
    result = run_main("run", str(generated), "--passwords-env", "NO_SUCH_VARIABLE", "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and "NO_SUCH_VARIABLE" in result.stderr
    assert run_main("run", str(generated)).returncode == 2  # no --output


def test_a_key_for_a_plain_http_endpoint_is_warned_about(caplog):
    import logging

    from raypipe.config import EngineConfig, OpenAIOptions
    from raypipe.engines.resolve import EngineSpec
    from raypipe.plan import warn_plain_http

    def spec(url, key="sk-1"):
        return EngineSpec("openai", EngineConfig(engine="openai", openai=OpenAIOptions(base_url=url)), None, api_key=key)

    with caplog.at_level(logging.WARNING, logger="raypipe"):
        warn_plain_http(spec("http://10.0.0.5:8000/v1"))
        warn_plain_http(spec("http://127.0.0.1:8000/v1"))
        warn_plain_http(spec("https://api.example.com/v1"))
        warn_plain_http(spec("http://10.0.0.6/v1", key=None))
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "10.0.0.5" in warned[0] and "plain http" in warned[0]
