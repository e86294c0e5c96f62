"""Where chat talks to: model, credentials and address from flags, settings and the environment.

Precedence is flag, then the ``chat:`` settings, then ``ANTHROPIC_API_KEY`` /
``ANTHROPIC_AUTH_TOKEN`` / ``ANTHROPIC_BASE_URL``. Either one goes out as
``Authorization: Bearer``, as the SDK sends it (what ``claude-proxy serve`` with ``auth_keys``
or an LLM gateway expects); an API key wins when both are set, as in the SDK. The client is
the lean one in ``chat.api`` (the SDK's import alone would cost seconds at start-up).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from claude_proxy.secrets import mask_secret
from claude_proxy.settings import Settings

if TYPE_CHECKING:
    from claude_proxy.chat.api.client import MessagesClient

log = logging.getLogger(__name__)


@dataclass
class ChatConfig:
    """Everything one chat run needs to reach the model, resolved once."""

    model: str
    small_model: str
    max_tokens: int
    thinking_budget: int
    max_turns: int
    api_key: str | None
    auth_token: str | None
    base_url: str | None
    max_retries: int
    timeout: float

    def describe_auth(self) -> str:
        """A masked one-liner for /help and debugging; never the key in clear."""
        if self.api_key:
            return f"api key {mask_secret(self.api_key)}"
        if self.auth_token:
            return f"bearer {mask_secret(self.auth_token)}"
        return "no credentials"

    def effective_max_tokens(self) -> int:
        """max_tokens must exceed the thinking budget; leave room for the answer too."""
        if self.thinking_budget and self.max_tokens <= self.thinking_budget:
            return self.thinking_budget + 4096
        return self.max_tokens


def resolve_config(
    settings: Settings,
    *,
    model: str | None = None,
    max_tokens: int | None = None,
    thinking: int | None = None,
    max_turns: int | None = None,
    env: dict[str, str] | None = None,
) -> ChatConfig:
    """Merge flags, the ``chat:`` settings and the environment into a `ChatConfig`."""
    env = dict(os.environ) if env is None else env
    chat = settings.chat
    api_key = chat.api_key or None
    auth_token = chat.auth_token or None
    if not api_key and not auth_token:
        api_key = env.get("ANTHROPIC_API_KEY") or None
        if not api_key:
            auth_token = env.get("ANTHROPIC_AUTH_TOKEN") or None
    return ChatConfig(
        model=model or chat.model,
        small_model=chat.small_model,
        max_tokens=max_tokens or chat.max_tokens,
        thinking_budget=chat.thinking_budget if thinking is None else thinking,
        max_turns=max_turns or chat.max_turns,
        api_key=api_key,
        auth_token=auth_token,
        base_url=chat.base_url or env.get("ANTHROPIC_BASE_URL") or None,
        max_retries=chat.max_retries,
        timeout=chat.timeout,
    )


class MissingCredentials(Exception):
    """No key or token, and the address is Anthropic's own API."""


RetryListener = Callable[[str, float], None]
SHORT_REASONS = {408: "request timeout", 409: "conflict", 429: "rate limited", 500: "server error",
                 502: "bad gateway", 503: "unavailable", 504: "gateway timeout", 529: "overloaded"}


def retry_reason(status: int | None) -> str:
    """What a retried attempt ran into, in a few words for the progress line."""
    if status is None:
        return "connection failed or timed out"
    return f"{status} {SHORT_REASONS.get(status, 'server error' if status >= 500 else 'error')}"


def make_client(config: ChatConfig, on_retry: RetryListener | None = None) -> "MessagesClient":
    """The lean Messages client: it retries 429/5xx/connection errors with backoff first, as the SDK does.

    With no credentials at all, a custom address (``claude-proxy serve`` holding the
    upstream key, a gateway) gets requests without an Authorization header; Anthropic's
    own API gets a clear error instead of a failed request. ``on_retry(reason, delay)``
    hears about each retry, so the terminal can say why nothing is happening.
    """
    from claude_proxy.chat.api.client import MessagesClient

    if not (config.api_key or config.auth_token) and (
            not config.base_url or "api.anthropic.com" in config.base_url):
        raise MissingCredentials(
            "no credentials: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN, or chat.api_key in the settings), "
            "or point ANTHROPIC_BASE_URL at a gateway that adds them")
    hook = None
    if on_retry is not None:
        report = on_retry

        def hook(status: int | None, delay: float) -> None:
            report(retry_reason(status), delay)

    return MessagesClient(api_key=config.api_key, auth_token=config.auth_token, base_url=config.base_url,
                          max_retries=config.max_retries, timeout=config.timeout, on_retry=hook)


HINTS_BY_STATUS = {
    401: "authentication failed: check ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN or chat.api_key",
    403: "permission denied",
    404: "not found (is the model name right?)",
    413: "request too large",
    429: "rate limited: wait a moment and try again",
    529: "the API is overloaded: try again shortly",
}
STATUS_BY_TYPE = {"authentication_error": 401, "permission_error": 403, "not_found_error": 404,
                  "request_too_large": 413, "rate_limit_error": 429, "overloaded_error": 529}


def describe_api_error(exc: BaseException) -> str:
    """One clear line for an API failure, after the client gave up retrying.

    An error event in the middle of a stream arrives with HTTP status 200; its error
    type then says what happened.
    """
    from claude_proxy.chat.api import errors

    if isinstance(exc, errors.APIStatusError):
        kind, detail = _error_fields(exc)
        status = exc.status_code
        if status < 400:
            status = STATUS_BY_TYPE.get(kind, 500)
        head = HINTS_BY_STATUS.get(status) or ("server error" if status >= 500 else "request rejected")
        return f"API error {status}: {head}" + (f" ({detail})" if detail else "")
    url = _request_url(exc)
    if isinstance(exc, errors.APITimeoutError):
        return f"API error: the request to {url} timed out"
    if isinstance(exc, errors.APIConnectionError):
        cause = exc.__cause__ or exc
        return f"API error: cannot connect to {url} ({type(cause).__name__}: {cause})"
    return f"API error: {exc}"


def _request_url(exc: BaseException) -> str:
    """The address a failed request went to, without its query string."""
    url = getattr(exc, "url", None)
    if not url:
        return "the API"
    return str(url).split("?")[0]


def _error_fields(exc: Any) -> tuple[str, str]:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("type") or ""), " ".join(str(error.get("message") or "").split())
    return "", ""
