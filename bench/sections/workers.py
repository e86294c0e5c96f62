"""Section 6: `claude-proxy serve --workers N`: one process against two sharing the port."""

from __future__ import annotations

import os
import subprocess

from bench.procs import python_module
from bench.sections.common import Check, Context, Section
from bench.sections.nonstream import throughput
from bench.targets import BARE, Target, proxy_env


def _has_workers(ctx: Context) -> bool:
    home = ctx.workdir / "home-probe"
    home.mkdir(exist_ok=True)
    out = subprocess.run(python_module("claude_proxy", "serve", "--help"), env=proxy_env(home), cwd=home,
                         capture_output=True, text=True, timeout=60)
    return "--workers" in out.stdout


def run(ctx: Context) -> Section:
    title = "6. Scaling out: serve --workers"
    if not _has_workers(ctx):
        return Section("workers", title, skipped="`claude-proxy serve` has no --workers option yet")
    one = Target("claude-proxy, 1 worker", "proxy", log=True, workers=1)
    two = Target("claude-proxy --workers 2", "proxy", log=True, workers=2)
    section = throughput(ctx, [BARE, one, two], "workers", title, reference=one.name)
    fig = section.data["targets"].get(two.name)
    if fig and fig["rps_ratio"] is not None:
        section.checks.append(Check("--workers 2: answers every request", str(fig["errors"]), fig["errors"] == 0))
    section.notes.append(f"this machine has {os.cpu_count()} cores shared by the load generator, the upstream "
                         "and the proxy: a second worker can only use what they leave")
    return section
