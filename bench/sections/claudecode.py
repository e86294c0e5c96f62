"""Section 9: the proxy with its log on, against the bare aiohttp reference, on Claude Code's own requests.

Every request is the last one of the captured Claude Code run (bench/data/claude-code, ~117 KB: Claude
Code's 24 tools, its system prompt and a tool-using history), posted at 50 connections, in the same
alternating rounds as section 1 and against the same fast upstream. With the log on, each of those
requests becomes a row: split, deduplicated and compressed in the writer process. Target (issue 13):
req/s with the log on at least 1.0x the bare pass-through's, on this workload, in one run.
"""

from __future__ import annotations

from pathlib import Path

from bench.sections.common import Check, Context, Section
from bench.sections.nonstream import throughput
from bench.stats import fmt
from bench.targets import BARE, PROXY_LOG

CAPTURED = Path(__file__).resolve().parents[1] / "data" / "claude-code"
FLOOR = 1.0


def claude_code_body() -> bytes:
    """The newest captured request's exact bytes, made non-streaming (the fast upstream answers JSON)."""
    files = sorted(CAPTURED.glob("*_v1_messages.json"))
    if not files:
        raise FileNotFoundError(f"no captured requests in {CAPTURED} (run python -m bench.capture)")
    body = files[-1].read_bytes().partition(b"\n")[2]
    return body.replace(b'"stream":true', b'"stream":false')


def run(ctx: Context) -> Section:
    body = claude_code_body()
    section = throughput(ctx, [BARE, PROXY_LOG], "claudecode",
                         f"9. Claude Code requests ({len(body) / 1024:.0f} KB each), log on vs bare", body=body)
    fig = section.data["targets"].get(PROXY_LOG.name)
    ratio = fig["rps_ratio"] if fig else None
    section.checks.append(Check(f"{PROXY_LOG.name} with its log: req/s >= {FLOOR} x bare on Claude Code requests",
                                fmt(ratio) if ratio is not None else "not measured",
                                None if ratio is None else ratio >= FLOOR and fig["errors"] == 0))
    return section
