"""Section 5: start-up: `claude-proxy --help` wall time, and `claude-proxy chat -p` up to its first request."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request

from bench import payloads
from bench.procs import python_module
from bench.sections.common import Check, Context, Section, log, start_stub
from bench.stats import fmt, median
from bench.targets import proxy_env

HELP_SECONDS = 0.25
FIRST_REQUEST_SECONDS = 0.6  # issue 16: chat -p sends its first request byte within this of process start


def _wall(argv: list[str], env: dict[str, str], cwd) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return time.perf_counter() - t0


def slowest_imports(env: dict[str, str], cwd, top: int = 8) -> list[tuple[str, float]]:
    """Import time of `--help` by top-level package (self times summed; python -X importtime)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "claude_proxy", "--help"], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=60)
    totals: dict[str, float] = {}
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if m:
            name = m.group(2).split(".")[0]
            totals[name] = totals.get(name, 0) + int(m.group(1)) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def _has_print_mode(env: dict[str, str], cwd) -> bool:
    out = subprocess.run(python_module("claude_proxy", "chat", "--help"), env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=60)
    return out.returncode == 0 and re.search(r"(^|\s)-p\b|--print\b", out.stdout) is not None


def run(ctx: Context) -> Section:
    opts = ctx.options
    section = Section("startup", "5. Start-up")
    home = ctx.workdir / "home-startup"
    home.mkdir(exist_ok=True)
    env = proxy_env(home)
    help_argv = python_module("claude_proxy", "--help")
    _wall(help_argv, env, home)
    help_times = [_wall(help_argv, env, home) for _ in range(opts.startup_runs)]
    help_median = median(help_times)
    imports = slowest_imports(env, home)
    python_alone = median(_wall([sys.executable, "-c", "pass"], env, home)
                          for _ in range(5))
    section.columns = ["", "runs", "median s", "min s", "max s"]
    section.rows.append(["claude-proxy --help", str(len(help_times)), fmt(help_median, 3), fmt(min(help_times), 3),
                         fmt(max(help_times), 3)])
    section.rows.append(["python -c pass (floor)", "5", fmt(python_alone, 3), "-", "-"])
    section.data = {"help_s": help_times, "help_median_s": help_median, "python_floor_s": python_alone,
                    "slowest_imports_s": imports}
    section.notes.append("`python -m claude_proxy` from this checkout; slowest imports under --help: "
                         + ", ".join(f"{name} {sec * 1000:.0f} ms" for name, sec in imports[:5]))
    section.checks.append(Check(f"claude-proxy --help <= {HELP_SECONDS} s", fmt(help_median, 3) + " s",
                                help_median <= HELP_SECONDS))

    if not _has_print_mode(env, home):
        section.notes.append("chat -p: not measured: `claude-proxy chat` has no -p option yet")
        section.data["chat_p"] = None
        return section
    stub = start_stub(ctx, events=3, interval=0, name="stub-chat")
    chat_env = {**env, "ANTHROPIC_BASE_URL": stub.url, "ANTHROPIC_API_KEY": payloads.API_KEY}
    firsts, walls, failures = [], [], []
    for _ in range(max(3, opts.startup_runs // 2)):
        t0 = time.monotonic_ns()
        done = subprocess.run(python_module("claude_proxy", "chat", "-p", "say hi"), env=chat_env, cwd=home,
                              capture_output=True, text=True, timeout=120)
        walls.append((time.monotonic_ns() - t0) / 1e9)
        with urllib.request.urlopen(stub.url + "/_bench/first", timeout=10) as resp:
            first = json.loads(resp.read())["first_ns"]
        if done.returncode != 0 or first is None:
            failures.append(f"exit {done.returncode}: {done.stderr.strip()[-200:]}")
            continue
        firsts.append((first - t0) / 1e9)
    if not firsts:
        section.notes.append(f"chat -p: failed: {failures[:1]}")
        log.warning("chat -p failed: %s", failures[:1])
        return section
    section.rows.append(["chat -p: start to first request", str(len(firsts)), fmt(median(firsts), 3),
                         fmt(min(firsts), 3), fmt(max(firsts), 3)])
    section.rows.append(["chat -p: whole run", str(len(walls)), fmt(median(walls), 3), fmt(min(walls), 3),
                         fmt(max(walls), 3)])
    clients = {}
    session = ("import asyncio, aiohttp\nasync def main():\n    await aiohttp.ClientSession().close()\n"
               "asyncio.run(main())")
    for label, module, code in (
            ("import anthropic (the SDK, no longer on chat's path)", "anthropic", "import anthropic"),
            ("httpx: import + AsyncClient() (the SDK's HTTP)", "httpx", "import httpx; httpx.AsyncClient()"),
            ("aiohttp: import + ClientSession (chat's lean client)", "aiohttp", session)):
        times = [_wall([sys.executable, "-c", code], env, home) for _ in range(3)]
        clients[module] = median(times)
        section.rows.append([label, "3", fmt(median(times), 3), fmt(min(times), 3), fmt(max(times), 3)])
    section.data["chat_p"] = {"first_request_s": firsts, "wall_s": walls, "failures": failures,
                              "import_s": clients}
    section.checks.append(Check(f"chat -p first request byte <= {FIRST_REQUEST_SECONDS} s",
                                fmt(median(firsts), 3) + " s", median(firsts) <= FIRST_REQUEST_SECONDS))
    if failures:
        section.notes.append(f"chat -p: {len(failures)} failed runs: {failures[:1]}")
    return section
