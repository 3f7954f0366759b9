"""What one model call returns, checked field by field before any of it can reach a table, and the
ways one call can fail.

An answer comes from code the pipeline does not control (an endpoint, a model's sampler), so a
:class:`Generation` accepts only plain text and counts: a list or a number for the text, a bool or a
string for a count, a lone surrogate in the text are each a :class:`MalformedAnswer`. Each failure
class has a ``kind``, the first word of the page's ``error``, and says what the failure means for the
page:

- :class:`MalformedAnswer` (``malformed``) and :class:`CallTimeout` (``timeout``): this attempt fails;
  the page is asked again along the retry ladder;
- :class:`RequestRejected` (``rejected``): the engine refused this request; the page fails at once;
- :class:`EngineUnavailable` (``unavailable``): the engine or endpoint did not answer even after its
  own retries; the page fails at once, and its document is marked ``engine_unavailable`` so that it
  can be retried later.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from raypipe.schema import PAGE_ERROR_TIMEOUT, PAGE_ERROR_UNAVAILABLE, safe_text

__all__ = ["CallTimeout", "EngineUnavailable", "Generation", "MalformedAnswer", "RequestRejected", "safe_text"]

MAX_TEXT_CHARS = 2_000_000  # one page's answer; far above what max_tokens allows
MAX_REASON_CHARS = 64  # a finish reason
MAX_COUNT = 2**40  # a token count


class MalformedAnswer(ValueError):
    """The answer is not what a model call returns; the attempt fails and is retried."""

    kind = "malformed"


class CallTimeout(Exception):
    """The call took longer than engine.call_timeout and was abandoned; the attempt fails and is retried."""

    kind = PAGE_ERROR_TIMEOUT


class RequestRejected(Exception):
    """The engine refused this one request (e.g. a prompt longer than the context); not retried."""

    kind = "rejected"


class EngineUnavailable(Exception):
    """The engine or endpoint did not answer (connection errors, 5xx, 429 until the retries ran out);
    not retried along the ladder: the page fails, and its document can be retried later."""

    kind = PAGE_ERROR_UNAVAILABLE


def check_text(value: object, what: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``value`` if it is a string of valid Unicode of at most ``limit`` characters; else MalformedAnswer."""
    if not isinstance(value, str):
        raise MalformedAnswer(f"{what} is {type(value).__name__}, not a string: {safe_text(value, 80)}")
    if len(value) > limit:
        raise MalformedAnswer(f"{what} is {len(value):,} characters long (at most {limit:,})")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise MalformedAnswer(f"{what} is not valid Unicode (a lone surrogate at character {e.start})") from None
    return value


def check_count(value: object, what: str) -> int:
    """``value`` if it is a whole number in range (a bool is not a number here); else MalformedAnswer."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedAnswer(f"{what} is {type(value).__name__}, not a whole number: {safe_text(value, 80)}")
    if not 0 <= value < MAX_COUNT:
        raise MalformedAnswer(f"{what} is out of range: {value}")
    return value


@dataclasses.dataclass(frozen=True)
class Generation:
    """One model call's answer; checks itself (MalformedAnswer) so that nothing unexpected goes on."""

    text: str
    finish_reason: Optional[str]
    prompt_tokens: int
    completion_tokens: int

    def __post_init__(self):
        check_text(self.text, "the text")
        if self.finish_reason is not None:
            check_text(self.finish_reason, "finish_reason", MAX_REASON_CHARS)
        check_count(self.prompt_tokens, "prompt_tokens")
        check_count(self.completion_tokens, "completion_tokens")
