"""Section 4: translation to an OpenAI-compatible backend, as a ratio to pass-through on the same stub."""

from __future__ import annotations

from bench import payloads
from bench.procs import StartError
from bench.sections.common import Check, Context, Section, one_line, start_stub
from bench.sections.nonstream import throughput
from bench.stats import fmt
from bench.targets import PROXY_LOG, Target, answer_text, probe

RATIO = 0.6


def translate_target(stub_url: str) -> Target:
    config = {
        "backends": {"bench-openai": {"kind": "openai", "base_url": stub_url + "/v1",
                                      "api_key": "sk-bench-openai-0000000000000000"}},
        "routes": {"default": {"backend": "bench-openai", "model": "gpt-bench"}},
    }
    return Target("claude-proxy -> openai", "proxy", log=True, config=config)


def run(ctx: Context) -> Section:
    title = "4. Translation to an OpenAI-compatible backend"
    stub = start_stub(ctx, events=1, interval=0)
    target = translate_target(stub.url)
    try:
        proc = target.start(stub, ctx.workdir)
        ctx.stack.callback(proc.stop)
        text = answer_text(probe(proc.url))
    except (StartError, ValueError) as exc:
        return Section("translate", title, skipped=f"translation mode is not available yet: {one_line(str(exc))}",
                       checks=[Check(f"translation: req/s >= {RATIO} x pass-through", "not measured", None)])
    if text != payloads.OPENAI_TEXT:
        return Section("translate", title,
                       skipped="translation mode is not available yet: the routed request did not reach the "
                               f"OpenAI-style stub (answer: {text[:80]!r})",
                       checks=[Check(f"translation: req/s >= {RATIO} x pass-through", "not measured", None)])
    proc.stop()
    section = throughput(ctx, [PROXY_LOG, target], "translate", title, reference=PROXY_LOG.name,
                         upstream=(stub, "aiohttp stub (Anthropic and OpenAI answers)"))
    fig = section.data["targets"].get(target.name)
    ratio = fig["rps_ratio"] if fig else None
    section.checks.append(Check(f"translation: req/s >= {RATIO} x pass-through", fmt(ratio),
                                None if ratio is None else ratio >= RATIO and fig["errors"] == 0))
    return section
