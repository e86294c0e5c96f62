"""What sections share: the run context, the section result, and alternating rounds."""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

from bench import nginx
from bench.machine import Noise
from bench.procs import Proc, StartError, free_port, python_module, spawn
from bench.targets import Target, probe

log = logging.getLogger("bench")
T = TypeVar("T")


@dataclass
class Options:
    quick: bool = False
    rounds: int = 3
    duration: float = 8.0
    connections: int = 50
    loadgen: str = "auto"  # auto | wrk | python
    upstream: str = "auto"  # auto | nginx | stub
    stream_events: int = 100
    stream_interval: float = 0.005
    stream_concurrency: int = 10
    hold_streams: int = 1000
    hold_seconds: int = 10
    startup_runs: int = 10
    compare: Path | None = None


@dataclass
class Context:
    options: Options
    workdir: Path
    noise: Noise
    stack: ExitStack


@dataclass
class Check:
    """One target from the issue, with the measured figure and whether it holds."""

    target: str
    measured: str
    ok: bool | None  # None: not measured (skipped)

    def as_dict(self) -> dict:
        return {"target": self.target, "measured": self.measured, "ok": self.ok}


@dataclass
class Section:
    key: str
    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    skipped: str | None = None
    seconds: float = 0.0
    noise: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"title": self.title, "skipped": self.skipped, "columns": self.columns, "rows": self.rows,
                "notes": self.notes, "checks": [c.as_dict() for c in self.checks], "data": self.data,
                "seconds": round(self.seconds, 1), "noise": self.noise}


def start_stub(ctx: Context, *, events: int, interval: float, name: str = "stub") -> Proc:
    """The Python upstream stub, stopped when the section ends."""
    port = free_port()
    proc = spawn(name, python_module("bench.stub", "--port", str(port), "--events", str(events),
                                     "--interval", str(interval)), port=port, workdir=ctx.workdir)
    ctx.stack.callback(proc.stop)
    return proc


def start_fast_upstream(ctx: Context, notes: list[str]) -> tuple[Proc, str]:
    """nginx when installed (and allowed), else the Python stub; says which in the notes."""
    if ctx.options.upstream in ("auto", "nginx") and nginx.available():
        try:
            proc = nginx.start(ctx.workdir)
            ctx.stack.callback(proc.stop)
            return proc, "nginx"
        except (StartError, OSError) as exc:
            if ctx.options.upstream == "nginx":
                raise
            notes.append(f"nginx would not start ({exc}); the Python stub answered instead")
    elif ctx.options.upstream == "nginx":
        raise StartError("nginx is not installed")
    else:
        notes.append("nginx is not installed: the uvloop aiohttp stub answered, and it shares the CPU")
    return start_stub(ctx, events=1, interval=0), "aiohttp stub"


def start_targets(ctx: Context, targets: list[Target], upstream: Proc, notes: list[str],
                  stream_probe: bool = False) -> dict[str, Proc | None]:
    """Start each target and send it one request; a target that fails is left out with a note."""
    running: dict[str, Proc | None] = {}
    for target in targets:
        try:
            proc = target.start(upstream, ctx.workdir)
            if proc is not None:
                ctx.stack.callback(proc.stop)
            probe(target.url(proc, upstream), stream=stream_probe)
            running[target.name] = proc
        except StartError as exc:
            notes.append(f"{target.name}: not measured: {one_line(str(exc))}")
            log.warning("%s: %s", target.name, exc)
    return running


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def alternate(names: list[str], rounds: int, measure: Callable[[str], T]) -> dict[str, list[T]]:
    """Measure every name once per round, rotating the order each round to cancel drift."""
    results: dict[str, list[T]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            log.info("  round %d/%d: %s", r + 1, rounds, name)
            results[name].append(measure(name))
    return results


def timed(fn: Callable[[Context], Section], ctx: Context) -> Section:
    start = time.monotonic()
    with ExitStack() as stack:
        ctx.stack = stack
        section = fn(ctx)
    end = time.monotonic()
    section.seconds = end - start
    section.noise = ctx.noise.between(start, end)
    return section
