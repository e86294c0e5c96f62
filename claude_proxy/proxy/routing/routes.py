"""Model routing: which backend serves a request, and under which model name.

Settings ``routes:`` map a requested model to ``{backend, model}``. Keys are exact
names (which doubles as aliases such as ``big``), globs (``claude-3-5-haiku*``), the
catch-all ``default``, and three scenario rules: ``long_context`` (estimated input
above its ``threshold``, default 60,000 tokens), ``thinking`` (requests with thinking
on) and ``background`` (haiku-class models). Precedence: exact name, then
long_context, thinking, background, then globs in file order, then ``default``, and
with none of them the pass-through upstream with the model unchanged.

The backend ``upstream`` always exists and is reserved: it is the pass-through
``upstream:`` section as an ``anthropic`` backend.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any

from claude_proxy.settings import BackendSettings, RouteSettings, Settings, SettingsError

UPSTREAM = "upstream"
DEFAULT = "default"
LONG_CONTEXT = "long_context"
THINKING = "thinking"
BACKGROUND = "background"
SCENARIOS = (LONG_CONTEXT, THINKING, BACKGROUND)
RESERVED = (DEFAULT, *SCENARIOS)
DEFAULT_THRESHOLD = 60_000
_MODEL_KEY = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.)*)"')
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Route:
    """Where one request goes. ``backend`` None means the pass-through upstream section."""

    name: str
    backend_name: str
    backend: BackendSettings | None
    model: str | None
    fallbacks: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """``anthropic`` or ``openai``."""
        return self.backend.kind if self.backend else "anthropic"

    def upstream_model(self, requested: str | None) -> str | None:
        """The model name the backend receives."""
        return self.model or requested

    def label(self, requested: str | None) -> str:
        """``backend/model``: the ``x-claude-proxy-route`` header and the log's route."""
        return f"{self.backend_name}/{self.upstream_model(requested) or ''}"


PASS_THROUGH = Route(name="", backend_name=UPSTREAM, backend=None, model=None)


def peek_model(body: bytes) -> str | None:
    """The top-level ``model`` of a JSON body, parsing the whole body only when ambiguous.

    One ``"model":`` key in the bytes must be the top-level one (a string value or an
    escaped quote cannot look like a key), so the common case costs one regex scan.
    """
    matches = _MODEL_KEY.findall(body)
    if len(matches) == 1 and b"\\" not in matches[0]:
        try:
            return matches[0].decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not matches and b"\\u" not in body:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # routing then parses it and says why it cannot
        return None
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, str) else None


class Router:
    """Routes built from settings; validates that every route names a known backend."""

    def __init__(self, settings: Settings) -> None:
        self.backends: dict[str, BackendSettings] = dict(settings.backends)
        self.routes: dict[str, RouteSettings] = dict(settings.routes)
        where = settings.source or "settings"
        if UPSTREAM in self.backends:
            raise SettingsError(f"{where}: 'backends.{UPSTREAM}': the name is reserved for the upstream: section; "
                                "give the backend another name")
        for name, route in self.routes.items():
            if route.backend != UPSTREAM and route.backend not in self.backends:
                known = ", ".join(sorted({UPSTREAM, *self.backends}))
                raise SettingsError(f"{where}: 'routes.{name}.backend': unknown backend {route.backend!r} "
                                    f"(known: {known})")
            if route.threshold is not None and name != LONG_CONTEXT:
                raise SettingsError(f"{where}: 'routes.{name}.threshold': "
                                    "only the long_context route takes a threshold")
            for fallback in route.fallbacks:
                if fallback not in self.routes:
                    raise SettingsError(f"{where}: 'routes.{name}.fallbacks': unknown route {fallback!r}")
        self._exact = {k: v for k, v in self.routes.items() if not _is_glob(k) and k not in RESERVED}
        self._globs = [(k, v) for k, v in self.routes.items() if _is_glob(k)]
        long_context = self.routes.get(LONG_CONTEXT)
        self.threshold = (long_context.threshold if long_context and long_context.threshold else DEFAULT_THRESHOLD)

    @property
    def active(self) -> bool:
        """False when no routes exist: every request is pass-through and nothing is parsed."""
        return bool(self.routes)

    @property
    def needs_body(self) -> bool:
        """Whether picking a route needs the parsed body (thinking or long-context rules)."""
        return LONG_CONTEXT in self.routes or THINKING in self.routes

    def _make(self, name: str) -> Route:
        spec = self.routes[name]
        backend = self.backends.get(spec.backend)
        return Route(name=name, backend_name=spec.backend, backend=backend, model=spec.model,
                     fallbacks=tuple(spec.fallbacks))

    def by_name(self, name: str) -> Route:
        """A route by its key (for fallbacks)."""
        return self._make(name)

    def route(self, model: str | None, body: dict[str, Any] | None = None) -> Route:
        """The route for a request for ``model``; ``body`` is needed only when ``needs_body``."""
        if not self.routes:
            return PASS_THROUGH
        if model is not None and model in self._exact:
            return self._make(model)
        if body is not None and LONG_CONTEXT in self.routes:
            from claude_proxy.proxy.translate.tokens import estimate_input_tokens

            if estimate_input_tokens(body) > self.threshold:
                return self._make(LONG_CONTEXT)
        if body is not None and THINKING in self.routes and _thinking_on(body):
            return self._make(THINKING)
        if BACKGROUND in self.routes and model and "haiku" in model.lower():
            return self._make(BACKGROUND)
        if model is not None:
            for pattern, _ in self._globs:
                if fnmatch.fnmatchcase(model, pattern):
                    return self._make(pattern)
        if DEFAULT in self.routes:
            return self._make(DEFAULT)
        return PASS_THROUGH

    def describe(self) -> str:
        """One line for the serve banner: ``key -> backend/model`` per route."""
        return ", ".join(f"{k} -> {v.backend}/{v.model or '(as requested)'}" for k, v in self.routes.items())

    def model_names(self) -> list[str]:
        """The names a client may ask for: exact routes and aliases (globs and rules are not names)."""
        return list(self._exact)

    def models_page(self) -> dict[str, Any]:
        """``GET /v1/models`` in Anthropic's format, listing the routed names."""
        data = [self.model_info(name) for name in self.model_names()]
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def model_info(self, name: str) -> dict[str, Any]:
        """One model entry; the display name says where it is routed."""
        route = self._make(name) if name in self.routes else self.route(name)
        return {
            "type": "model",
            "id": name,
            "display_name": f"{name} ({route.label(name)})",
            "created_at": "1970-01-01T00:00:00Z",
        }


def _is_glob(key: str) -> bool:
    return any(c in _GLOB_CHARS for c in key)


def _thinking_on(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled")
