"""Rewrite hooks: user callables that see (and may replace) a request body.

A hook is named ``"package.module:function"`` in ``rewrite.hooks`` and loaded once at
start. It is called as ``function(body, context)`` with the parsed JSON body (a dict)
and a `HookContext`; it returns the body to send, or ``None`` to leave the request as
it is. ``async def`` hooks are awaited. Hooks run on the event loop: keep them quick,
or make them async for I/O.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Union

from claude_proxy.settings import SettingsError

HookResult = Union[dict, None]
Hook = Callable[[dict, "HookContext"], Union[HookResult, Awaitable[HookResult]]]


class HookLoadError(SettingsError):
    """A hook named in the settings that cannot be imported or is not callable."""


@dataclass(frozen=True)
class HookContext:
    """What a hook may know about the request besides its body (read-only)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    client: str | None
    request_id: str


@dataclass(frozen=True)
class LoadedHook:
    name: str
    func: Hook
    is_async: bool

    async def __call__(self, body: dict, context: HookContext) -> HookResult:
        result = self.func(body, context)
        if self.is_async or inspect.isawaitable(result):
            result = await result  # type: ignore[misc]
        return result


def load_hook(spec: str) -> LoadedHook:
    """Import ``module:function``; errors name the spec and say what is wrong."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise HookLoadError(f"rewrite hook '{spec}': expected 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HookLoadError(f"rewrite hook '{spec}': cannot import {module_name}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise HookLoadError(f"rewrite hook '{spec}': {module_name} has no attribute '{attr}'")
    if not callable(target):
        raise HookLoadError(f"rewrite hook '{spec}': {attr} is not callable")
    return LoadedHook(spec, target, inspect.iscoroutinefunction(target))


def load_hooks(specs: list[str]) -> list[LoadedHook]:
    return [load_hook(spec) for spec in specs]
