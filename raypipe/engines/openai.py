"""The openai engine: any OpenAI-compatible chat-completions endpoint — a ``vllm serve`` or SGLang
server already running, or a hosted API.

Same page contract as the vllm engine (``raypipe.engines.base.PageEngine``: routing, the retry ladder,
fallback, one document per block, ``docs_in_flight`` documents per actor); the actors are plain HTTP
clients on a small CPU share. Each request is retried with exponential backoff after a connection
error, a timeout, HTTP 408, 429 or 5xx (a ``Retry-After`` header wins); any other 4xx fails the page
at once, with the status and the start of the body as the page's error. A page whose retries run
out fails as ``unavailable`` (its document can be retried later): the document and the job go on.

Every request has a bound on its whole duration (``request_timeout``; httpx's own timeout is per
read, so a server that sends a byte a minute would never reach it) and on the size of its body, and
the whole call, retries included, is bounded by ``engine.call_timeout``. An answer is read field by
field (:func:`parse_completion`): anything but a chat completion with a string for its text fails the
attempt, with the reason on the page.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import random
import re
import time
from typing import Optional

from raypipe.engines.answers import (
    EngineUnavailable,
    Generation,
    MalformedAnswer,
    RequestRejected,
    check_count,
    check_text,
    safe_text,
)
from raypipe.engines.base import PageEngine
from raypipe.engines.budget import FairBudget
from raypipe.engines.image import PageImage
from raypipe.engines.presets import Preset
from raypipe.engines.resolve import EngineSpec
from raypipe.errors import EngineUnavailableError

_EXCERPT = 300  # characters of an error body kept in a page's error
MAX_BODY_BYTES = 32 * 2**20  # an answer's body, read at most


class EndpointError(RequestRejected):
    """The endpoint refused this request (a 4xx other than 408/429). The page fails; nothing else does."""


def auth_headers(api_key: Optional[str]) -> dict:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def excerpt(text: str, limit: int = _EXCERPT) -> str:
    text = " ".join(safe_text(text, 4 * limit).split())
    return text if len(text) <= limit else text[:limit] + "…"


def error_message(data: bytes) -> str:
    """The message of an error body: OpenAI's ``{"error": {"message": ...}}`` when it is one, else the body."""
    try:
        body = json.loads(data)
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else error or body.get("detail") or body.get("message")
    except (ValueError, AttributeError, RecursionError):
        message = None
    return excerpt(message if isinstance(message, str) and message else data[:4 * _EXCERPT].decode("utf-8", "replace"))


def error_text(response) -> str:
    """:func:`error_message` of a response read in full."""
    return error_message(response.content)


def retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(retry: int, base: float, cap: float, asked: Optional[float] = None) -> float:
    """Wait before retry number ``retry`` (0-based): the server's ``Retry-After`` when given, else
    ``base * 2**retry`` with jitter (half fixed, half random); never more than ``cap``."""
    if asked is not None:
        return min(asked, cap)
    delay = min(cap, base * 2**retry)
    return delay / 2 + random.uniform(0, delay / 2)


def image_data_url(image: PageImage) -> str:
    """``data:`` URL of a page image: its rendered bytes as they are, or the turned page as PNG."""
    return f"data:{image.mime};base64,{base64.b64encode(image.encoded()).decode('ascii')}"


def chat_request(preset: Preset, data_url: str, temperature: float, max_tokens: int, guide: Optional[str] = None) -> dict:
    """The chat-completions request for one page; ``guide``: a regular expression the answer must match,
    sent as vLLM's ``structured_outputs`` field."""
    image = {"type": "image_url", "image_url": {"url": data_url}}
    text = {"type": "text", "text": preset.prompt}
    request = {
        "model": preset.model,
        "messages": [{"role": "user", "content": [image, text] if preset.image_first else [text, image]}],
        "temperature": temperature,
        "max_tokens": max_tokens,
    }
    if guide:
        request["structured_outputs"] = {"regex": guide}
    return request


_GUIDE_REFUSED = re.compile(r"structured[ _]outputs?", re.IGNORECASE)


def refuses_guide(error: EndpointError) -> bool:
    """Whether an endpoint's 4xx is about the structured-output field (an endpoint that does not take it)."""
    return bool(_GUIDE_REFUSED.search(str(error)))


def parse_completion(body) -> Generation:
    """A chat completion's text, finish reason and token counts, checked field by field: anything
    else is a MalformedAnswer (the attempt fails). ``content: null`` is no text; missing usage counts 0."""
    choices = body.get("choices") if isinstance(body, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise MalformedAnswer(f"not a chat completion: {excerpt(safe_text(body))}")
    content = message.get("content")
    finish = choice.get("finish_reason")
    usage = body.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise MalformedAnswer(f"usage is {type(usage).__name__}, not an object: {excerpt(safe_text(usage))}")
    usage = usage or {}
    counts = {}
    for key in ("prompt_tokens", "completion_tokens"):
        value = usage.get(key)
        counts[key] = 0 if value is None else check_count(value, f"usage.{key}")
    return Generation(
        text="" if content is None else check_text(content, "message.content"),
        finish_reason=None if finish is None else check_text(finish, "finish_reason", 64),
        **counts,
    )


def decode_body(status: int, data: bytes):
    """The JSON of a successful answer; MalformedAnswer when it is not JSON (or nests without end)."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise MalformedAnswer(f"HTTP {status} with a body that is not JSON: {excerpt(data[:1000].decode('utf-8', 'replace'))}") from None


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


class OpenAIInfer(PageEngine):
    """Class UDF for ``map_batches`` on an actor pool; one HTTP client per actor."""

    name = "openai"
    num_cpus = 0.5  # an HTTP client, no GPU

    def __init__(self, spec: EngineSpec, ledger=None, max_doc_attempts: int = 3, stats=None):
        import httpx

        super().__init__(spec, ledger, max_doc_attempts, stats)
        self.options = self.cfg.openai
        self.url = f"{self.options.base_url}/chat/completions"
        limit = self.options.max_concurrency
        self.client = httpx.AsyncClient(
            headers=auth_headers(spec.api_key),
            timeout=httpx.Timeout(self.options.request_timeout),
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        )
        self.budget = FairBudget(limit)  # requests in flight, shared fairly between documents
        # the parser's fixed header as structured output, until the endpoint says it does not take it
        self.guide = self.preset.guide if self.cfg.guided_decoding else None

    async def generate(self, doc_id: str, image: PageImage, temperature: float) -> Generation:
        async with self.budget.slot(doc_id):
            data_url = await asyncio.to_thread(image_data_url, image)  # a turned page is re-encoded
            async with self.call_bound():
                guide = self.guide
                try:
                    body = await self._post(chat_request(self.preset, data_url, temperature, self.max_tokens, guide))
                except EndpointError as e:
                    if not (guide and refuses_guide(e)):
                        raise
                    logging.getLogger("raypipe").warning("%s does not take structured outputs (%s); sending none", self.url, e)
                    self.guide = None
                    body = await self._post(chat_request(self.preset, data_url, temperature, self.max_tokens))
        return parse_completion(body)

    async def _post(self, payload: dict):
        import httpx

        cfg = self.options
        for retry in range(cfg.max_retries + 1):
            asked = None
            try:
                async with asyncio.timeout(cfg.request_timeout) as bound:
                    status, headers, data = await self._request(payload)
            except TimeoutError:
                if not bound.expired():
                    raise
                problem = f"no complete answer within {cfg.request_timeout:g} s (request_timeout)"
            except httpx.TransportError as e:  # refused, reset, timed out
                problem = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            except httpx.HTTPError as e:  # e.g. a body that does not decode: asking again will not help
                raise EndpointError(f"{type(e).__name__}: {e}") from e
            else:
                if 200 <= status < 300:
                    return decode_body(status, data)
                problem = f"HTTP {status}: {error_message(data)}"
                if not _retryable(status):
                    raise EndpointError(problem)
                asked = retry_after(headers.get("retry-after"))
            if retry == cfg.max_retries:
                raise EngineUnavailable(f"{problem} (gave up after {cfg.max_retries} retries)")
            await asyncio.sleep(backoff_delay(retry, cfg.backoff_base, cfg.backoff_max, asked))

    async def _request(self, payload: dict) -> tuple[int, dict, bytes]:
        """One POST: (status, headers, body), the body read up to MAX_BODY_BYTES."""
        async with self.client.stream("POST", self.url, json=payload) as response:
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_BODY_BYTES:
                    raise MalformedAnswer(f"the answer's body is larger than {MAX_BODY_BYTES:,} bytes")
            return response.status_code, response.headers, bytes(data)

    @classmethod
    def stage(cls, ds, spec: EngineSpec, ray_cfg, ledger=None, stats=None):
        return cls.actor_stage(ds, ray_cfg, ledger, {"spec": spec, "stats": stats})


def check_endpoint(spec: EngineSpec) -> list[str]:
    """On the driver, before Ray starts: ``GET BASE_URL/models`` must answer with the model list, and
    list ``spec.preset.model`` when it lists any. Returns the served model ids; raises
    EngineUnavailableError naming the option to fix."""
    import httpx

    cfg = spec.config.openai
    base_url = cfg.base_url
    url = f"{base_url}/models"
    try:
        response = httpx.get(url, headers=auth_headers(spec.api_key), timeout=min(cfg.request_timeout, 30.0))
    except httpx.HTTPError as e:
        raise EngineUnavailableError(f"--base-url: cannot reach {url} ({type(e).__name__}: {e})") from e
    if response.status_code in (401, 403):
        key = "is set" if spec.api_key else "is not set"
        raise EngineUnavailableError(
            f"--base-url: GET {url} answered HTTP {response.status_code} ({error_text(response)}); "
            f"the API key comes from the environment variable {cfg.api_key_env} (--api-key-env), which {key}"
        )
    if not response.is_success:
        raise EngineUnavailableError(
            f"--base-url: GET {url} answered HTTP {response.status_code} ({error_text(response)}); "
            "the base URL must include the API version, e.g. http://host:8000/v1"
        )
    try:
        models = {m["id"]: m for m in response.json()["data"]}
    except (ValueError, KeyError, TypeError) as e:
        raise EngineUnavailableError(
            f"--base-url: GET {url} did not answer with an OpenAI model list ({excerpt(response.text)})"
        ) from e
    model = spec.preset.model
    if models and model not in models:
        raise EngineUnavailableError(
            f"--model: the endpoint at {base_url} does not serve {model!r}; it serves: {', '.join(models)}"
        )
    context = models.get(model, {}).get("max_model_len")  # vLLM and SGLang say how long the context is
    max_tokens = spec.config.max_tokens or spec.preset.max_tokens
    if isinstance(context, int) and max_tokens >= context:
        raise EngineUnavailableError(
            f"--max-tokens: {max_tokens} tokens per page leave no room for the page image in {model!r}'s "
            f"context of {context} tokens at {base_url}; pass a smaller --max-tokens"
        )
    return list(models)
