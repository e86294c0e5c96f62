"""What the numbers were measured on, and how busy the machine was with other work meanwhile.

`Noise` samples /proc once a second: CPU the whole machine used minus CPU this run's
own process tree used (reaped children included) is work by someone else, which
makes figures noisy.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from importlib import metadata

from bench.procs import cpu_ticks, descendants

_TICK = os.sysconf("SC_CLK_TCK")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict:
    """CPU model, cores, memory, OS and the versions that matter for the figures."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem_kb = 0
    try:
        with open("/proc/meminfo") as fh:
            mem_kb = int(next(ln for ln in fh if ln.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration):
        pass
    tools = {}
    for name, argv in (("wrk", ["wrk", "--version"]), ("nginx", ["nginx", "-v"])):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            tools[name] = (out.stdout + out.stderr).strip().splitlines()[0].split(" Copyright")[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            tools[name] = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "aiohttp": _version("aiohttp"),
        "uvloop": _version("uvloop"),
        **tools,
    }


def _busy_ticks() -> int:
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (fields + [0] * 8)[:8]
    # irq and softirq time (loopback traffic, mostly ours) is charged to no process: left out.
    return user + nice + system + steal




def loadavg() -> float:
    return os.getloadavg()[0]


class Noise(threading.Thread):
    """Background sampler of CPU used by processes outside this run, in cores."""

    def __init__(self, every: float = 1.0) -> None:
        super().__init__(daemon=True, name="bench-noise")
        self.every = every
        self.samples: list[tuple[float, float]] = []  # (monotonic time, foreign cores over the last interval)
        self._stop = threading.Event()

    def _ours(self) -> dict[int, int]:
        pids = [os.getpid(), *descendants(os.getpid())]
        return {pid: cpu_ticks(pid) for pid in pids}

    def run(self) -> None:
        busy, ours, at = _busy_ticks(), self._ours(), time.monotonic()
        while not self._stop.wait(self.every):
            busy2, ours2, at2 = _busy_ticks(), self._ours(), time.monotonic()
            # A child that exited moves its time into its parent's cutime: the sums stay whole.
            own = sum(ours2.values()) - sum(ours.values())
            foreign = max(0.0, (busy2 - busy - own) / _TICK / (at2 - at))
            self.samples.append((at2, foreign))
            busy, ours, at = busy2, ours2, at2

    def stop(self) -> None:
        self._stop.set()

    def between(self, start: float, end: float) -> dict:
        """Mean and peak foreign CPU (cores) over a window of monotonic time."""
        values = [v for t, v in self.samples if start + self.every <= t <= end]
        if not values:
            return {"foreign_cores_mean": None, "foreign_cores_max": None}
        return {"foreign_cores_mean": round(sum(values) / len(values), 2),
                "foreign_cores_max": round(max(values), 2)}
