"""The openai engine: any OpenAI-compatible chat-completions endpoint — a ``vllm serve`` or SGLang
server already running, or a hosted API.

Same page contract as the vllm engine (``raypipe.engines.base.PageEngine``: routing, the retry ladder,
fallback, one document per block, ``docs_in_flight`` documents per actor); the actors are plain HTTP
clients on a small CPU share. Each request is retried with exponential backoff after a connection
error, a timeout, HTTP 408, 429 or 5xx (a ``Retry-After`` header wins); any other 4xx fails the page
at once, with the status and the start of the body as the page's error. A page whose retries run
out fails the same way: the document and the job go on.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import random
import time
from typing import Optional

from raypipe.engines.base import PageEngine
from raypipe.engines.budget import FairBudget
from raypipe.engines.image import PageImage
from raypipe.engines.pages import Generation, RequestRejected
from raypipe.engines.presets import Preset
from raypipe.engines.resolve import EngineSpec
from raypipe.errors import EngineUnavailableError

_EXCERPT = 300  # characters of an error body kept in a page's error


class EndpointError(RequestRejected):
    """The endpoint refused this request (a 4xx other than 408/429), answered something that is not a
    chat completion, or kept failing until the retries ran out. The page fails; nothing else does."""


def auth_headers(api_key: Optional[str]) -> dict:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def excerpt(text: str, limit: int = _EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def error_text(response) -> str:
    """The message of an error response: OpenAI's ``{"error": {"message": ...}}`` when it is one, else the body."""
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else error or body.get("detail") or body.get("message")
    except (ValueError, AttributeError):
        message = None
    return excerpt(message if isinstance(message, str) and message else response.text)


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


def chat_request(preset: Preset, data_url: str, temperature: float, max_tokens: int) -> dict:
    image = {"type": "image_url", "image_url": {"url": data_url}}
    text = {"type": "text", "text": preset.prompt}
    return {
        "model": preset.model,
        "messages": [{"role": "user", "content": [image, text] if preset.image_first else [text, image]}],
        "temperature": temperature,
        "max_tokens": max_tokens,
    }


def parse_completion(body) -> Generation:
    try:
        choice = body["choices"][0]
        text = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise EndpointError(f"not a chat completion: {excerpt(str(body))}") from None
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    return Generation(
        text=text,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
    )


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


class OpenAIInfer(PageEngine):
    """Class UDF for ``map_batches`` on an actor pool; one HTTP client per actor."""

    name = "openai"
    num_cpus = 0.5  # an HTTP client, no GPU

    def __init__(self, spec: EngineSpec, ledger=None, max_doc_attempts: int = 3):
        import httpx

        super().__init__(spec, ledger, max_doc_attempts)
        self.options = self.cfg.openai
        self.url = f"{self.options.base_url}/chat/completions"
        limit = self.options.max_concurrency
        self.client = httpx.AsyncClient(
            headers=auth_headers(spec.api_key),
            timeout=httpx.Timeout(self.options.request_timeout),
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        )
        self.budget = FairBudget(limit)  # requests in flight, shared fairly between documents

    async def generate(self, doc_id: str, image: PageImage, temperature: float) -> Generation:
        payload = chat_request(self.preset, image_data_url(image), temperature, self.max_tokens)
        async with self.budget.slot(doc_id):
            body = await self._post(payload)
        return parse_completion(body)

    async def _post(self, payload: dict):
        import httpx

        cfg = self.options
        for retry in range(cfg.max_retries + 1):
            asked = None
            try:
                response = await self.client.post(self.url, json=payload)
            except httpx.TransportError as e:  # refused, reset, timed out
                problem = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            except httpx.HTTPError as e:  # e.g. a body that does not decode: asking again will not help
                raise EndpointError(f"{type(e).__name__}: {e}") from e
            else:
                if response.is_success:
                    try:
                        return response.json()
                    except ValueError:
                        raise EndpointError(f"HTTP {response.status_code} with a body that is not JSON: {excerpt(response.text)}") from None
                problem = f"HTTP {response.status_code}: {error_text(response)}"
                if not _retryable(response.status_code):
                    raise EndpointError(problem)
                asked = retry_after(response.headers.get("retry-after"))
            if retry == cfg.max_retries:
                raise EndpointError(f"{problem} (gave up after {cfg.max_retries} retries)")
            await asyncio.sleep(backoff_delay(retry, cfg.backoff_base, cfg.backoff_max, asked))

    @classmethod
    def stage(cls, ds, spec: EngineSpec, ray_cfg, ledger=None):
        return cls.actor_stage(ds, ray_cfg, ledger, {"spec": spec})


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
