"""What every trace store computes alike, whatever its database: cost, session summaries, usage, snippets.

The stores (``sqlite``, ``postgres``) only fetch rows; the figures are made here, from
plain mappings, so both backends answer the same question with the same numbers.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterable, Mapping

from claude_proxy.pricing import PriceTable
from claude_proxy.requestlog.query import percentile
from claude_proxy.requestlog.store.pieces import split
from claude_proxy.requestlog.store.writing import index_text

TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "cache_creation_1h_tokens")
_WORKDIR = re.compile(r"Working directory: (\S+)")


def row_cost(row: Mapping[str, Any], prices: PriceTable) -> float | None:
    """What one row cost by ``prices`` (None when its model has no price or it used no tokens)."""
    if all(row.get(k) is None for k in TOKENS):
        return None
    model = row.get("upstream_model") or row.get("requested_model") or row.get("model")
    return prices.cost(model, row.get("input_tokens"),
                       row.get("output_tokens"), row.get("cache_read_tokens"), row.get("cache_creation_tokens"),
                       row.get("cache_creation_1h_tokens"))


def first_prompt(messages: list[Any]) -> str | None:
    """A conversation's first prompt: the last text of its first user message that is not a reminder."""
    if not messages or not isinstance(messages[0], dict):
        return None
    content = messages[0].get("content")
    texts = [content] if isinstance(content, str) else [
        b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
    ] if isinstance(content, list) else []
    for text in reversed(texts):
        if isinstance(text, str) and text.strip() and not text.lstrip().startswith("<system-reminder>"):
            return " ".join(text.split())[:500]
    return None


def workdir(system: Any) -> str | None:
    """The working directory Claude Code names in its system prompt."""
    if isinstance(system, list):
        system = "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
    found = _WORKDIR.search(system) if isinstance(system, str) else None
    return found.group(1) if found else None


def opening(body: Any) -> dict[str, Any]:
    """The first prompt and working directory of the request body that opened a session."""
    parsed = split(body) if isinstance(body, str) else None
    return {"first_prompt": first_prompt(parsed.messages) if parsed else None,
            "cwd": workdir(parsed.system) if parsed else None}


def sessions_from(ids: list[str], groups: Iterable[Mapping[str, Any]], prices: PriceTable) -> dict[str, dict[str, Any]]:
    """Session summaries, in the order of ``ids``, from per-(session, model) group rows.

    Each group row has session_id, model, requests, errors, threads, subagents, the token
    sums, first, last and first_row; the summaries keep ``first_row`` for the caller to
    look up the opening request.
    """
    out: dict[str, dict[str, Any]] = {i: {"session_id": i, "models": [], "requests": 0, "errors": 0,
                                           "threads": 0, "subagents": 0, "cost_usd": 0.0,
                                           **dict.fromkeys(TOKENS, 0)} for i in ids}
    for g in groups:
        item = out[g["session_id"]]
        if g["model"]:
            item["models"].append(g["model"])
        for name in ("requests", "errors", "threads", "subagents") + TOKENS:
            item[name] += g[name] or 0
        item["first"] = min(item.get("first", g["first"]), g["first"])
        item["last"] = max(item.get("last", g["last"]), g["last"])
        item["first_row"] = min(item.get("first_row", g["first_row"]), g["first_row"])
        cost = row_cost(g, prices)
        if cost is None and any(g[k] for k in TOKENS):
            item["cost_usd"] = None
        elif item["cost_usd"] is not None:
            item["cost_usd"] += cost or 0.0
    for item in out.values():
        reads, fresh = item["cache_read_tokens"], item["input_tokens"] + item["cache_creation_tokens"]
        item["cache_hit_ratio"] = round(reads / (reads + fresh), 4) if reads + fresh else None
    return out


def usage(rows: Iterable[Mapping[str, Any]], by: str, prices: PriceTable) -> dict[str, Any]:
    """``stats``: totals and one group per ``grp`` value of ``rows`` (each with is_error, models, latency, tokens)."""
    groups: dict[str, dict[str, Any]] = {}
    durations: dict[str, list[float]] = {}
    all_durations: list[float] = []
    ttfbs: list[float] = []
    totals: dict[str, Any] = {"requests": 0, "errors": 0, "cost_usd": 0.0, **dict.fromkeys(TOKENS, 0)}
    for data in rows:
        bucket = groups.setdefault(data["grp"], {"requests": 0, "errors": 0, "cost_usd": 0.0,
                                                 **dict.fromkeys(TOKENS, 0)})
        cost = row_cost(data, prices)
        for target in (bucket, totals):
            target["requests"] += 1
            target["errors"] += int(bool(data["is_error"]))
            for key in TOKENS:
                target[key] += data[key] or 0
            target["cost_usd"] += cost or 0.0
            if cost is None and any(data[k] for k in TOKENS):
                target.setdefault("unpriced", 0)
                target["unpriced"] += 1
        if data["duration_ms"] is not None:
            durations.setdefault(data["grp"], []).append(data["duration_ms"])
            all_durations.append(data["duration_ms"])
        if data["ttfb_ms"] is not None:
            ttfbs.append(data["ttfb_ms"])
    for name, bucket in groups.items():
        values = durations.get(name, [])
        bucket["latency_ms"] = {"p50": percentile(values, 50), "p95": percentile(values, 95)}
    order = (sorted(groups.items(), reverse=True) if by == "day"
             else sorted(groups.items(), key=lambda kv: (-kv[1]["requests"], kv[0])))
    ordered = dict(order)
    result = {
        "requests": totals["requests"], "errors": totals["errors"],
        "tokens": {k: totals[k] for k in TOKENS}, "cost_usd": round(totals["cost_usd"], 6),
        "unpriced": totals.get("unpriced", 0),
        "latency_ms": {"p50": percentile(all_durations, 50), "p95": percentile(all_durations, 95)},
        "ttfb_ms": {"p50": percentile(ttfbs, 50), "p95": percentile(ttfbs, 95)},
        "by": by, "groups": ordered,
    }
    if by == "model":
        result["models"] = ordered
    return result


def snippet(body: Any, fts_from: int | None, message: Any, text: str) -> str | None:
    """The words around ``text`` in what a row's search index holds (its new messages and answer)."""
    messages = split(body).messages if isinstance(body, str) else []
    words = index_text(messages, fts_from or 0, message)
    at = words.lower().find(text.lower())
    if at < 0:
        return None
    start = max(0, at - 40)
    return " ".join(words[start:at + len(text) + 60].split())


def day_of(started_at: float) -> str:
    """The local calendar day of a timestamp, as ``stats --by day`` groups it."""
    return datetime.fromtimestamp(started_at).strftime("%Y-%m-%d")
