"""Graceful shutdown: SIGTERM with 20 streams in flight lets every one finish and logs them all."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.proxy.faults.conftest import log_rows, wait_until

pytestmark = pytest.mark.processes

STREAM_BODY = {"model": "claude-haiku-4-5", "max_tokens": 64, "stream": True,
               "messages": [{"role": "user", "content": "Hello"}]}
STREAMS = 20


def test_sigterm_with_20_streams_in_flight(serve, faulty, fixtures_dir):
    expected = (fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes()
    served = serve({"upstream": {"base_url": faulty.url}, "server": {"shutdown_timeout": 30}})
    results: list[bytes | BaseException] = [b""] * STREAMS
    started = threading.Barrier(STREAMS + 1)

    def stream(i: int) -> None:
        try:
            with httpx.stream("POST", served.url + "/v1/messages", json=STREAM_BODY, timeout=60,
                              headers={"x-fault": "slow:2"}) as resp:
                chunks = resp.iter_raw()
                first = next(chunks)
                started.wait(30)
                results[i] = first + b"".join(chunks)
        except BaseException as exc:  # reported below, per stream
            results[i] = exc
            started.abort()

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(STREAMS)]
    for t in threads:
        t.start()
    started.wait(60)
    assert faulty.in_flight == STREAMS
    code = served.terminate()
    for t in threads:
        t.join(60)
    assert code == 0, served.stderr()
    assert all(r == expected for r in results), [r for r in results if r != expected][:1]
    rows = log_rows(served.db)
    assert len(rows) == STREAMS and all(r["status"] == 200 for r in rows)
    assert wait_until(lambda: faulty.in_flight == 0)


def test_new_connections_are_refused_while_draining(serve, faulty):
    served = serve({"upstream": {"base_url": faulty.url}, "server": {"shutdown_timeout": 30}})
    with httpx.stream("POST", served.url + "/v1/messages", json=STREAM_BODY, timeout=60,
                      headers={"x-fault": "slow:2"}) as resp:
        chunks = resp.iter_raw()
        next(chunks)
        served.proc.send_signal(15)

        def refused() -> bool:
            try:
                httpx.get(served.url + "/health", timeout=2)
            except httpx.ConnectError:
                return True
            return False

        assert wait_until(refused, timeout=10)
        rest = b"".join(chunks)
    assert rest.rstrip().endswith(b'"message_stop"}')
    assert served.proc.wait(30) == 0
