"""Asking an OpenAI-compatible server for a chat completion, within bounds.

What is sent and read follows the OpenAI API reference, "Create chat completion"
(`POST /v1/chat/completions`: a `model` and a list of `messages`, each a `role` and
its `content`; the answer's `choices[0].message.content`), which Ollama, llama.cpp's
server, vLLM and LocalAI serve as well. An error answer carries
`{"error": {"message": ...}}`.

Bounded: one timeout for the whole exchange (connecting, waiting, reading), and at
most `MAX_RESPONSE_BYTES` read. Every failure is a `GenerationError` whose words are
for the agent, naming the server but never the key.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

# A chat completion of an answer-sized text is a few KiB; more is not an answer.
MAX_RESPONSE_BYTES = 256 * 1024
# The longest answer asked for (in the model's tokens) and kept (in characters).
MAX_TOKENS = 1024
MAX_ANSWER_CHARS = 20_000
CHUNK = 8192


class GenerationError(Exception):
    """The server gave no usable answer; the message says why, for the agent."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    model: str
    api_key: str
    timeout: float

    @property
    def url(self) -> str:
        """`{base}/v1/chat/completions`; a base that already ends in /v1 is taken as is."""
        base = self.base_url.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        return base + "/chat/completions"

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url

    def __repr__(self) -> str:
        key = "'********'" if self.api_key else "''"
        return f"Endpoint(base_url={self.base_url!r}, model={self.model!r}, api_key={key})"


def chat(endpoint: Endpoint, messages: list[dict[str, str]]) -> str:
    """The assistant's answer to `messages`; GenerationError when there is none."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    body = {
        "model": endpoint.model,
        "messages": messages,
        "stream": False,
        "temperature": 0.2,
        "max_tokens": MAX_TOKENS,
    }
    deadline = time.monotonic() + endpoint.timeout
    late = GenerationError(
        f"the generation server at {endpoint.host} did not answer within "
        f"{endpoint.timeout:g} second{'' if endpoint.timeout == 1 else 's'}",
        timed_out=True,
    )
    try:
        with requests.Session() as session:
            response = session.post(
                endpoint.url,
                json=body,
                headers=headers,
                timeout=endpoint.timeout,
                stream=True,
                allow_redirects=False,
            )
            with response:
                raw = _read(response, deadline, late)
    except requests.Timeout:
        raise late from None
    except requests.ConnectionError as exc:
        # A read that times out once the answer has begun comes as a ConnectionError.
        if "timed out" in str(exc).lower():
            raise late from None
        raise GenerationError(
            f"the generation server at {endpoint.host} cannot be reached "
            "(connection refused or closed): is it running?"
        ) from None
    except requests.RequestException as exc:
        raise GenerationError(
            f"the request to the generation server at {endpoint.host} failed: {type(exc).__name__}"
        ) from None
    if response.status_code != 200:
        raise GenerationError(
            f"the generation server at {endpoint.host} answered {response.status_code}"
            + (f": {reason}" if (reason := _error_message(raw, endpoint.api_key)) else "")
        )
    return _content(raw, endpoint.host)


def _read(response: requests.Response, deadline: float, late: GenerationError) -> bytes:
    data = bytearray()
    for chunk in response.iter_content(CHUNK):
        data += chunk
        if len(data) > MAX_RESPONSE_BYTES:
            raise GenerationError(
                f"the generation server's answer is over {MAX_RESPONSE_BYTES // 1024} KiB"
            )
        if time.monotonic() > deadline:
            raise late
    return bytes(data)


def _error_message(raw: bytes, api_key: str) -> str:
    """The `error.message` of an error answer (or its first words), short; a server that
    echoes the key back does not get it shown."""
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        text = raw.decode("utf-8", "replace").strip()
    else:
        error = parsed.get("error") if isinstance(parsed, dict) else None
        text = str((error.get("message") if isinstance(error, dict) else error) or "").strip()
    if api_key:
        text = text.replace(api_key, "********")
    return " ".join(text.split())[:300]


def _content(raw: bytes, host: str) -> str:
    try:
        parsed: Any = json.loads(raw)
        content = parsed["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise GenerationError(
            f"the generation server at {host} did not answer with a chat completion"
        ) from None
    if not isinstance(content, str) or not content.strip():
        raise GenerationError(f"the generation server at {host} gave an empty answer")
    return content.strip()[:MAX_ANSWER_CHARS]
