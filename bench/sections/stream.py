"""Section 2: streaming: time to first event, per-event delay from upstream stamp to client read, coalescing."""

from __future__ import annotations

from bench import streams
from bench.sections.common import Check, Context, Section, alternate, start_stub, start_targets
from bench.stats import fmt, percentile
from bench.targets import BARE, DIRECT, PROXY_LOG, PROXY_NOLOG, compared

DELAY_P99_MS = 2.0


def run(ctx: Context) -> Section:
    opts = ctx.options
    section = Section("stream", "2. Streaming /v1/messages")
    upstream = start_stub(ctx, events=opts.stream_events, interval=opts.stream_interval)
    targets = compared([DIRECT, BARE, PROXY_LOG, PROXY_NOLOG], ctx.options.compare)
    running = start_targets(ctx, targets, upstream, section.notes, stream_probe=True)
    by_name = {t.name: t for t in targets}
    urls = {name: by_name[name].url(proc, upstream) for name, proc in running.items()}
    for url in urls.values():
        streams.measure(url, concurrency=2, expect_events=opts.stream_events)
    rounds = max(opts.rounds, 2) * 2
    results = alternate(list(urls), rounds, lambda name: streams.measure(
        urls[name], concurrency=opts.stream_concurrency, expect_events=opts.stream_events))

    merged: dict[str, streams.StreamStats] = {}
    for name, runs in results.items():
        total = streams.StreamStats()
        for r in runs:
            total.merge(r)
        merged[name] = total
    base = merged.get(DIRECT.name)
    base_ttfb = percentile(base.ttfb_ms, 50) if base else None
    base_p50 = percentile(base.delay_ms, 50) if base else None
    base_p99 = percentile(base.delay_ms, 99) if base else None

    section.columns = ["", "streams", "events", "TTFB p50 ms", "added TTFB ms", "event delay p50 ms",
                       "p99 ms", "added p50 ms", "added p99 ms", "coalesced", "errors"]
    figures = {}
    for name, s in merged.items():
        ttfb = percentile(s.ttfb_ms, 50)
        p50, p99 = percentile(s.delay_ms, 50), percentile(s.delay_ms, 99)
        direct = name == DIRECT.name or base is None
        fig = {
            "streams": s.streams, "events": s.events, "errors": s.errors, "coalesced": s.coalesced,
            "ttfb_p50_ms": ttfb, "delay_p50_ms": p50, "delay_p99_ms": p99,
            "delay_max_ms": max(s.delay_ms) if s.delay_ms else None,
            "added_ttfb_ms": None if direct else ttfb - base_ttfb,
            "added_p50_ms": None if direct else p50 - base_p50,
            "added_p99_ms": None if direct else p99 - base_p99,
            "error_samples": s.error_samples,
        }
        figures[name] = fig
        section.rows.append([name, str(s.streams), str(s.events), fmt(ttfb), fmt(fig["added_ttfb_ms"]),
                             fmt(p50, 3), fmt(p99, 3), fmt(fig["added_p50_ms"], 3), fmt(fig["added_p99_ms"], 3),
                             str(s.coalesced), str(s.errors)])
    section.notes.insert(0, (
        f"the stub sends {opts.stream_events} stamped text deltas {opts.stream_interval * 1000:g} ms apart; "
        f"{opts.stream_concurrency} streams at once, {rounds} alternating rounds; delay = client read time "
        "minus the upstream's send stamp (same monotonic clock); 'added' = minus the same percentile of "
        "the upstream alone; coalesced = stamped events that reached the client in the same read as the "
        "one before them although sent apart"))
    if base and base.coalesced:
        section.notes.append(f"the client itself read {base.coalesced} events together straight from the "
                             "upstream: the machine was too busy to read each on time")
    section.data = {"events": opts.stream_events, "interval_s": opts.stream_interval,
                    "concurrency": opts.stream_concurrency, "rounds": rounds, "targets": figures}
    for name in (PROXY_LOG.name, PROXY_NOLOG.name):
        fig = figures.get(name)
        if fig is None or fig["added_p99_ms"] is None:
            section.checks.append(Check(f"{name}: added event delay p99 <= {DELAY_P99_MS} ms", "not measured", None))
            section.checks.append(Check(f"{name}: no coalesced events", "not measured", None))
            continue
        section.checks.append(Check(f"{name}: added event delay p99 <= {DELAY_P99_MS} ms",
                                    fmt(fig["added_p99_ms"], 3) + " ms",
                                    fig["added_p99_ms"] <= DELAY_P99_MS and fig["errors"] == 0))
        section.checks.append(Check(f"{name}: no coalesced events", str(fig["coalesced"]), fig["coalesced"] == 0))
    return section
