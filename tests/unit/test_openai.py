"""The openai engine's pieces without Ray: the endpoint check on the driver (against a stand-in
endpoint on loopback), backoff, Retry-After, and reading a chat completion."""

from __future__ import annotations

import time

import pytest
from helpers import FlakyChatServer

from raypipe.config import EngineConfig, OpenAIOptions
from raypipe.engines.openai import (
    EndpointError,
    backoff_delay,
    check_endpoint,
    parse_completion,
    retry_after,
)
from raypipe.engines.resolve import EngineSpec, resolve_engine
from raypipe.errors import EngineUnavailableError


def test_endpoint_check_names_the_option_to_fix():
    def resolve(base_url: str, **engine) -> EngineSpec:
        spec = resolve_engine(EngineConfig(engine="openai", openai=OpenAIOptions(base_url=base_url), **engine), None)
        check_endpoint(spec)
        return spec

    with FlakyChatServer(lambda n, w, h: "ok", context=4096) as server:
        root = server.base_url.removesuffix("/v1")
        with pytest.raises(EngineUnavailableError, match=r"--base-url: GET .*/models answered HTTP 404.*/v1"):
            resolve(root, model="stand-in")  # the API version left out
        with pytest.raises(EngineUnavailableError, match=r"--model: .* does not serve 'allenai/olmOCR-2-7B-1025-FP8'; it serves: stand-in"):
            resolve(server.base_url)
        with pytest.raises(EngineUnavailableError, match=r"--max-tokens: 6000 .* context of 4096 tokens"):
            resolve(server.base_url, model="stand-in", preset="rolmocr")
        spec = resolve(server.base_url + "/", model="stand-in", preset="rolmocr", max_tokens=1024)
    assert spec.config.openai.base_url == server.base_url and spec.preset.model == "stand-in" and spec.preset.parser == "plain"
    assert server.log == []  # only GET /models so far


def test_backoff_and_retry_after():
    assert retry_after("0") == 0 and retry_after("2.5") == 2.5 and retry_after(None) is None
    assert retry_after("soon") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a date in the past: go now
    assert 55 < retry_after(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))) <= 60
    assert backoff_delay(3, base=1, cap=60, asked=0.0) == 0  # the server's word wins
    assert backoff_delay(3, base=1, cap=60, asked=600) == 60  # within the cap
    for retry in range(10):
        expected = min(60, 2**retry)
        delays = [backoff_delay(retry, base=1, cap=60) for _ in range(50)]
        assert all(expected / 2 <= d <= expected for d in delays)
        assert len(set(delays)) > 1  # jittered, so many clients do not retry in step


def test_completion_parsing():
    body = {"choices": [{"finish_reason": "length", "message": {"content": "abc"}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7}}
    generation = parse_completion(body)
    assert (generation.text, generation.finish_reason, generation.prompt_tokens, generation.completion_tokens) == ("abc", "length", 5, 7)
    generation = parse_completion({"choices": [{"finish_reason": "stop", "message": {"content": None}}], "usage": None})
    assert (generation.text, generation.prompt_tokens) == ("", 0)  # servers that send no usage count nothing
    for not_a_completion in ({"choices": []}, {"error": "overloaded"}, [1, 2], {"choices": [{"message": None}]}):
        with pytest.raises(EndpointError, match="not a chat completion"):
            parse_completion(not_a_completion)
