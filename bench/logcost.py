"""`python -m bench.logcost`: what the request log costs the serving process, per entry.

Records typical non-streamed exchanges (the bench's request and answer, headers as aiohttp
hands them over) at a steady rate into each request log, closes it (which writes every
row), and reports the CPU this process spent per entry, every thread counted: the
event loop's ``record()`` plus whatever the log does in the background. For the
process-backed log, the writer child's CPU is shown apart. A microbenchmark: seconds,
not minutes, and no network.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from multidict import CIMultiDict

from bench import payloads
from claude_proxy.requestlog.entry import LogEntry, new_entry_id
from claude_proxy.requestlog.process import ProcessRequestLog
from claude_proxy.requestlog.writer import SqliteRequestLog


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def entries(count: int, prompt_kb: int) -> list[LogEntry]:
    request = payloads.request_body(False)
    if prompt_kb:
        request = request[:-1] + b',"metadata":{"pad":"' + b"x" * (prompt_kb * 1024) + b'"}}'
    request_headers = {**payloads.HEADERS, "Accept": "*/*", "Accept-Encoding": "gzip, deflate",
                       "User-Agent": "Python/3.11 aiohttp/3", "x-claude-proxy-hop": "9d308d94e669"}
    response_headers = {"Content-Type": "application/json", "request-id": "req_bench", "Content-Length": "280",
                        "Date": "Sat, 21 Nov 2026 06:54:37 GMT", "Server": "Python/3.11 aiohttp/3"}
    return [LogEntry(id=new_entry_id(), started_at=time.time(), method="POST", path="/v1/messages",
                     duration_ms=1.5, ttfb_ms=1.2, status=200,
                     request_headers=dict(CIMultiDict(request_headers)),  # istr names, as the proxy has them
                     response_headers=dict(CIMultiDict(response_headers)),
                     request_body=bytes(bytearray(request)), response_body=bytes(payloads.MESSAGE_RESPONSE),
                     request_size=len(request), response_size=len(payloads.MESSAGE_RESPONSE))
            for _ in range(count)]


class NoLog:
    """The baseline: what the pacing loop costs with a record() that does nothing."""

    written = 0

    def __init__(self, path: Path) -> None:
        pass

    def start(self) -> None:
        pass

    def record(self, entry: LogEntry) -> None:
        self.written += 1

    def close(self) -> None:
        pass


def measure(kind: type, count: int, rate: int, prompt_kb: int, folder: Path) -> tuple[float, float]:
    """(this process's CPU µs per entry, the children's CPU µs per entry)."""
    batch = entries(count, prompt_kb)
    log = kind(folder / f"{kind.__name__}.db")
    log.start()
    time.sleep(0.2)
    burst = max(1, rate // 100)
    own, children = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    for start in range(0, count, burst):
        for entry in batch[start:start + burst]:
            log.record(entry)
        time.sleep(0.01)
    log.close()
    assert log.written == count, (log.written, log.dropped)
    return ((_cpu(resource.RUSAGE_SELF) - own) / count * 1e6,
            (_cpu(resource.RUSAGE_CHILDREN) - children) / count * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.logcost", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=5_000, help="entries recorded per second")
    parser.add_argument("--prompt-kb", type=int, default=0, help="pad each request body by this many KiB")
    args = parser.parse_args()
    print(f"{args.count} entries at {args.rate}/s, request body "
          f"{len(entries(1, args.prompt_kb)[0].request_body)} bytes")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in (NoLog, ProcessRequestLog, SqliteRequestLog):
            own, children = measure(kind, args.count, args.rate, args.prompt_kb, Path(tmp))
            extra = f", writer process {children:.1f} µs/entry" if kind is ProcessRequestLog else ""
            print(f"{kind.__name__:>17}: serving process {own:.1f} µs/entry{extra}")


if __name__ == "__main__":
    main()
