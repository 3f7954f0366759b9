"""The openai engine without Ray: the endpoint check on the driver (against a stand-in endpoint on
loopback), backoff, Retry-After, reading a chat completion field by field, and the engine itself
against a stand-in endpoint on loopback that answers in every malformed way, drips, and refuses
structured outputs."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import tiny_vl
from helpers import ANSWERS, FlakyChatServer, MalformedChatServer, kind_of, kind_pages
from samples import pdf_bytes

from raypipe.config import EngineConfig, InputConfig, OpenAIOptions, RenderConfig
from raypipe.engines import openai
from raypipe.engines.answers import MalformedAnswer
from raypipe.engines.openai import (
    OpenAIInfer,
    backoff_delay,
    check_endpoint,
    decode_body,
    parse_completion,
    retry_after,
)
from raypipe.engines.resolve import EngineSpec, resolve_engine
from raypipe.errors import EngineUnavailableError
from raypipe.postprocess import finish
from raypipe.render import Render
from raypipe.schema import OUTPUT, table


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
    assert parse_completion({"choices": [{"message": {"content": "x"}}], "usage": {}}).finish_reason is None
    for not_a_completion in ({"choices": []}, {"error": "overloaded"}, [1, 2], {"choices": [{"message": None}]},
                             {"choices": "abc"}, {"choices": [["x"]]}, "text", None):
        with pytest.raises(MalformedAnswer, match="not a chat completion"):
            parse_completion(not_a_completion)


@pytest.mark.parametrize("kind", [k for k, (body, error) in ANSWERS.items() if isinstance(body, dict) and error and error.startswith("malformed:") and k != "huge"])
def test_every_malformed_completion_names_its_field(kind):
    body, error = ANSWERS[kind]
    with pytest.raises(MalformedAnswer) as caught:
        parse_completion(json.loads(json.dumps(body)))  # as it comes off the wire
    assert f"malformed: {caught.value}".startswith(error) and len(str(caught.value)) < 400


def test_bodies_that_are_not_json_are_malformed():
    for data in (ANSWERS["not-json"][0], ANSWERS["deep-json"][0], b"\xff\xfe{", b"{" * 5, b'{"n": 1' + b"0" * 5000 + b"}"):
        with pytest.raises(MalformedAnswer, match="not JSON"):
            decode_body(200, data)
    assert decode_body(200, b'{"a": NaN}')["a"] != 0  # JSON extensions pass here; the fields are checked next


# --- the engine against the stand-in endpoint ------------------------------------------------------

KINDS = list(ANSWERS) + ["reject-guide"]


def engine(server, **engine_options) -> OpenAIInfer:
    openai_options = engine_options.pop("openai", {})
    engine_options = {"max_attempts": 2, **engine_options}
    config = EngineConfig(
        engine="openai", model="stand-in",
        openai=OpenAIOptions(**{"base_url": server.base_url, "api_key_env": "RAYPIPE_NO_SUCH_KEY", "max_retries": 0,
                                "backoff_base": 0.01, "request_timeout": 30.0, **openai_options}),
        **engine_options,
    )
    return OpenAIInfer(resolve_engine(config, None))


def document(tmp_path, kinds: list[str]) -> dict:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf_bytes(kind_pages(kinds, KINDS)))
    return Render(RenderConfig(longest_side=400), InputConfig(), True).one("doc.pdf", str(path))


def by_kind(n, width, height):
    return kind_of(width, height, KINDS)


def run(infer: OpenAIInfer, row: dict) -> dict:
    """The document through the engine and postprocess, and its row stored as a table."""
    out = finish(asyncio.run(infer.document(row)), 0.1)
    [stored] = table([out], OUTPUT).to_pylist()
    return stored


def test_every_malformed_answer_fails_only_its_page_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(openai, "MAX_BODY_BYTES", 50_000)
    kinds = [k for k in ANSWERS if k != "slow-drip"]
    with MalformedChatServer(by_kind) as server:
        row = run(engine(server), document(tmp_path, kinds))
    assert row["doc_id"] == "doc.pdf" and len(row["pages"]) == len(kinds)
    for kind, page in zip(kinds, row["pages"]):
        error = ANSWERS[kind][1]
        if error is None:
            assert page["text_source"] == "model" and page["error"] is None, kind
            assert page["attempts"] == 1
        else:
            assert page["text_source"] == "text_layer_fallback" and page["text"] == f"Page of kind {kind}", kind
            assert page["error"].startswith(error), (kind, page["error"])
            assert page["attempts"] == 2  # asked again along the ladder, then given up
    assert [p["text"] for p in row["pages"][:2]] == [tiny_vl.RESPONSE_TEXT, ""]  # ok; diagram
    assert (row["status"], row["error_code"]) == ("failed", "too_many_pages_failed")
    assert len(server.log) == 2 + 2 * (len(kinds) - 2)


def test_a_slow_drip_is_cut_off_by_the_request_bound_and_the_call_bound(tmp_path):
    with MalformedChatServer(lambda n, w, h: "slow-drip") as server:
        row = run(engine(server, openai={"max_retries": 1, "request_timeout": 1.0}), document(tmp_path, ["ok"]))
        [page] = row["pages"]
        assert page["error"] == "unavailable: no complete answer within 1 s (request_timeout) (gave up after 1 retries)"
        assert page["attempts"] == 1 and len(server.log) == 2
        assert (row["status"], row["error_code"]) == ("failed", "engine_unavailable")

    with MalformedChatServer(lambda n, w, h: "slow-drip") as server:
        row = run(engine(server, call_timeout=0.5, openai={"request_timeout": 30.0}), document(tmp_path, ["ok"]))
        [page] = row["pages"]
        assert page["error"] == "timeout: no answer within 0.5 s (engine.call_timeout)" and page["attempts"] == 2
        assert (row["status"], row["error_code"]) == ("failed", "engine_unavailable")
        wait_for_hang_ups = time.monotonic() + 5
        while time.monotonic() < wait_for_hang_ups and not all("hung_up_after" in e for e in server.log):
            time.sleep(0.1)
        assert all(e["hung_up_after"] < 5 for e in server.log)  # the request was cancelled, not left to drip


def test_structured_outputs_are_asked_for_until_the_endpoint_refuses_them(tmp_path):
    from raypipe.engines import presets

    regex = presets.get("olmocr-2").guide
    with MalformedChatServer(lambda n, w, h: "reject-guide") as server:
        row = run(engine(server, max_attempts=1), document(tmp_path, ["ok", "ok", "ok"]))
    assert all(p["text"] == tiny_vl.RESPONSE_TEXT and p["attempts"] == 1 for p in row["pages"])
    guides = [e["guide"] for e in server.log]
    assert guides.count(regex) >= 1 and guides.count(None) == 3  # refused, then sent no more
    assert guides[0] == regex and len(guides) <= 3 + 3  # at most one refusal per page in flight at the time

    with MalformedChatServer(lambda n, w, h: "ok") as server:
        run(engine(server), document(tmp_path, ["ok"]))
        run(engine(server, guided_decoding=False), document(tmp_path, ["ok"]))
        run(engine(server, preset="rolmocr"), document(tmp_path, ["ok"]))
    assert [e["guide"] for e in server.log] == [regex, None, None]
