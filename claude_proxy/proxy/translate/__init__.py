"""Translation between the Anthropic Messages API and OpenAI-compatible chat completions.

Pure modules, no I/O (the HTTP side is `claude_proxy.proxy.routing.openai`):

- ``request``: Anthropic request -> chat request; ``schema``: tool schemas providers accept.
- ``response``: chat JSON -> Anthropic message; ``replay``: a whole message as a stream.
- ``stream``: chat SSE bytes -> Anthropic SSE bytes, over ``sse`` (parser and encoder) and
  ``blocks`` (a content block while its deltas arrive).
- ``names``: tool names the provider accepts (stable aliases) and the way back.
- ``stops``: stop sequences past the backend's limit, enforced on the answer's text.
- ``errors``: provider errors (HTTP or inside a 200 answer) -> Anthropic errors.
- ``tokens``: the local count_tokens estimate.
- ``jsonio``: JSON in and out with orjson.
"""

from claude_proxy.proxy.translate.errors import upstream_error
from claude_proxy.proxy.translate.request import TranslateOptions, to_chat_request
from claude_proxy.proxy.translate.response import to_anthropic_message
from claude_proxy.proxy.translate.stream import StreamTranslator
from claude_proxy.proxy.translate.tokens import estimate_input_tokens

__all__ = [
    "StreamTranslator",
    "TranslateOptions",
    "estimate_input_tokens",
    "to_anthropic_message",
    "to_chat_request",
    "upstream_error",
]
