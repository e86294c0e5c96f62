"""Section 1: non-streamed POST /v1/messages at 50 connections: rps, p50/p99, ratio to the bare reference."""

from __future__ import annotations

from bench import load, payloads
from bench.procs import Proc
from bench.sections.common import Check, Context, Section, alternate, log, start_fast_upstream, start_targets
from bench.stats import fmt, median
from bench.targets import BARE, DIRECT, PROXY_LOG, PROXY_NOLOG, Target, compared


def loadgen(ctx: Context, notes: list[str], body: bytes | None = None):
    """A function (url, seconds) -> LoadResult using wrk when it can; ``body`` is what each request sends."""
    opts = ctx.options
    body = payloads.request_body(False) if body is None else body
    use_wrk = opts.loadgen == "wrk" or (opts.loadgen == "auto" and load.wrk_available())
    if use_wrk:
        body_path = ctx.workdir / "request.json"
        body_path.write_bytes(body)
        return lambda url, seconds: load.run_wrk(url, body_path, connections=opts.connections, seconds=seconds)
    notes.append("wrk is not installed: the Python load generator ran, and it is the bottleneck")
    return lambda url, seconds: load.run_python(url, body, connections=opts.connections, seconds=seconds)


def throughput(ctx: Context, targets: list[Target], key: str, title: str, reference: str = BARE.name,
               upstream: tuple[Proc, str] | None = None, body: bytes | None = None,
               processes: dict[str, Proc | None] | None = None) -> Section:
    """Alternating wrk rounds over `targets`; ratios are per round against `reference`, then the median.

    ``processes``, when given, receives the started processes by name (to look at them afterwards).
    """
    section = Section(key, title)
    upstream, upstream_name = upstream or start_fast_upstream(ctx, section.notes)
    running = start_targets(ctx, targets, upstream, section.notes)
    if processes is not None:
        processes.update(running)
    run = loadgen(ctx, section.notes, body)
    by_name = {t.name: t for t in targets}
    urls = {name: by_name[name].url(proc, upstream) for name, proc in running.items()}
    warmup: dict[str, int] = {}
    for name, url in urls.items():
        log.info("  warm-up: %s", name)
        warmup[name] = run(url, 1).requests
    opts = ctx.options

    def measure(name: str) -> load.LoadResult:
        proc = running[name]
        before = proc.cpu_seconds() if proc else None
        result = run(urls[name], opts.duration)
        if proc is not None and before is not None:
            result.cpu_s = proc.cpu_seconds() - before
        return result

    results = alternate(list(urls), opts.rounds, measure)

    ref = results.get(reference, [])
    section.columns = ["", "req/s", "p50 ms", "p99 ms", "errors", f"req/s vs {reference}", f"p99 vs {reference}",
                       "CPU µs/req", "CPU vs ref"]
    figures = {}
    for name, runs in results.items():
        rps_ratio = p99_ratio = cpu_ratio = None
        cpu = median(r.cpu_us_per_request for r in runs if r.cpu_us_per_request is not None)
        if ref and name != reference and by_name[name].kind != "direct":
            rps_ratio = median(r.rps / b.rps for r, b in zip(runs, ref, strict=True) if b.rps)
            p99_ratio = median(r.p99_ms / b.p99_ms for r, b in zip(runs, ref, strict=True) if b.p99_ms)
            ref_cpu = median(b.cpu_us_per_request for b in ref if b.cpu_us_per_request is not None)
            cpu_ratio = cpu / ref_cpu if cpu and ref_cpu else None
        fig = {
            "rps": median(r.rps for r in runs), "p50_ms": median(r.p50_ms for r in runs),
            "p99_ms": median(r.p99_ms for r in runs), "errors": sum(r.errors for r in runs),
            "rps_ratio": rps_ratio, "p99_ratio": p99_ratio, "cpu_us_per_request": cpu, "cpu_ratio": cpu_ratio,
            "runs": [r.as_dict() for r in runs],
        }
        figures[name] = fig
        section.rows.append([name, fmt(fig["rps"], 0), fmt(fig["p50_ms"]), fmt(fig["p99_ms"]), str(fig["errors"]),
                             fmt(rps_ratio), fmt(p99_ratio), fmt(cpu, 0), fmt(cpu_ratio)])
    tool = next((r.tool for runs in results.values() for r in runs), "-")
    section.notes.insert(0, f"upstream: {upstream_name}; load: {tool}, {opts.connections} connections, "
                            f"{opts.rounds} alternating rounds of {opts.duration:g} s each; figures are medians "
                            "over rounds, ratios are medians of per-round ratios; CPU µs/req is the CPU time the "
                            "proxy's processes used per answered request (steady under other load, unlike req/s)")
    section.data = {"upstream": upstream_name, "load": tool, "connections": opts.connections,
                    "rounds": opts.rounds, "seconds": opts.duration, "targets": figures, "warmup_requests": warmup}
    return section


def run(ctx: Context) -> Section:
    section = throughput(ctx, compared([DIRECT, BARE, PROXY_LOG, PROXY_NOLOG], ctx.options.compare), "nonstream",
                         "1. Non-streamed POST /v1/messages")
    figs = section.data["targets"]
    for name, floor, p99 in ((PROXY_LOG.name, 0.85, 1.2), (PROXY_NOLOG.name, 0.95, None)):
        fig = figs.get(name)
        errors = fig["errors"] if fig else None
        if fig is None or fig["rps_ratio"] is None:
            section.checks.append(Check(f"{name}: req/s >= {floor} x bare", "not measured", None))
            continue
        section.checks.append(Check(f"{name}: req/s >= {floor} x bare", fmt(fig["rps_ratio"]),
                                    fig["rps_ratio"] >= floor and errors == 0))
        if p99 is not None:
            section.checks.append(Check(f"{name}: p99 <= {p99} x bare", fmt(fig["p99_ratio"]),
                                        fig["p99_ratio"] <= p99))
    return section
