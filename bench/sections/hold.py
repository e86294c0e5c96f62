"""Section 3: 1,000 concurrent streams held open: errors, and the proxy's RSS before and during."""

from __future__ import annotations

import time

from bench import streams
from bench.procs import StartError
from bench.sections.common import Check, Context, Section, log, one_line, start_stub
from bench.stats import mb
from bench.targets import BARE, PROXY_LOG, PROXY_NOLOG, probe

RSS_GROWTH_MB = 40


def run(ctx: Context) -> Section:
    opts = ctx.options
    n, seconds = opts.hold_streams, opts.hold_seconds
    section = Section("hold", f"3. {n:,} concurrent streams held open {seconds} s")
    upstream = start_stub(ctx, events=seconds, interval=1.0)
    section.columns = ["", "streams", "completed", "errors", "peak open", "RSS before", "RSS during (peak)",
                       "growth"]
    figures = {}
    for target in (BARE, PROXY_LOG, PROXY_NOLOG):
        log.info("  %s: %d streams", target.name, n)
        try:
            proc = target.start(upstream, ctx.workdir)
            ctx.stack.callback(proc.stop)
            probe(proc.url, stream=True, timeout=seconds + 10)
        except StartError as exc:
            section.notes.append(f"{target.name}: not measured: {one_line(str(exc))}")
            continue
        time.sleep(0.5)
        before = proc.rss_bytes()
        result = streams.hold(proc.url, streams=n, expect_events=seconds, rss=proc.rss_bytes)
        peak = max((rss for _, _, rss in result.samples), default=before)
        alive = proc.alive()
        proc.stop()
        fig = {"streams": n, "completed": result.completed, "errors": result.errors, "peak_open": result.peak_open,
               "rss_before": before, "rss_peak": peak, "rss_growth": peak - before, "alive_after": alive,
               "error_samples": result.error_samples, "samples": result.samples}
        figures[target.name] = fig
        section.rows.append([target.name, f"{n:,}", f"{result.completed:,}", str(result.errors),
                             f"{result.peak_open:,}", mb(before), mb(peak), mb(peak - before)])
        if result.error_samples:
            section.notes.append(f"{target.name}: first errors: {'; '.join(result.error_samples[:3])}")
    section.notes.insert(0, f"each stream gets one event a second for {seconds} s from the Python stub; RSS is "
                            "the proxy's process tree (VmRSS), before = idle after one request, during = peak "
                            "of samples taken every 0.5 s while the streams ran")
    section.data = {"streams": n, "seconds": seconds, "targets": figures}
    for target in (PROXY_LOG, PROXY_NOLOG):
        fig = figures.get(target.name)
        if fig is None:
            section.checks.append(Check(f"{target.name}: {n:,} streams, zero errors", "not measured", None))
            continue
        if fig["peak_open"] < n:
            section.notes.append(f"{target.name}: only {fig['peak_open']:,} streams were open at once: the others "
                                 "waited for a connection to the upstream")
        section.checks.append(Check(f"{target.name}: {n:,} streams, zero errors", str(fig["errors"]),
                                    fig["errors"] == 0 and fig["completed"] == n))
        section.checks.append(Check(f"{target.name}: all {n:,} streams open at once", f"{fig['peak_open']:,}",
                                    fig["peak_open"] == n))
        section.checks.append(Check(f"{target.name}: RSS growth <= {RSS_GROWTH_MB} MB", mb(fig["rss_growth"]),
                                    fig["rss_growth"] <= RSS_GROWTH_MB * 1024 * 1024))
    return section
