"""Client connections against a real ``claude-proxy serve``: idle crowds, slow heads, descriptor limits."""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.proxy.faults.conftest import LISTENING, child_env, log_rows
from tests.support.faulty_upstream import FaultyUpstream

pytestmark = pytest.mark.processes

PLAIN = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hello"}]}


def _limit(soft: int, hard: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return apply


def _start(tmp_path: Path, config: dict, soft: int, hard: int) -> tuple[subprocess.Popen, str]:
    cfg = tmp_path / "proxy.yaml"
    cfg.write_text(yaml.safe_dump(config))
    out = (tmp_path / "proxy.out").open("wb")
    err = (tmp_path / "proxy.err").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "claude_proxy", "serve", "--port", "0", "--config", str(cfg),
                             "--log-db", str(tmp_path / "proxy.db"), "--quiet"],
                            env=child_env(tmp_path / "home"), stdout=out, stderr=err, cwd=tmp_path,
                            preexec_fn=_limit(soft, hard))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = LISTENING.search((tmp_path / "proxy.out").read_text())
        if match:
            return proc, match.group(1)
        assert proc.poll() is None, (tmp_path / "proxy.err").read_text()
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("serve did not start")


def _open_idle(url: str, count: int) -> list[socket.socket]:
    parts = urlsplit(url)
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex((parts.hostname, parts.port))
        socks.append(sock)
    return socks


def test_1100_idle_sockets_under_ulimit_1024_do_not_lock_real_clients_out(tmp_path: Path):
    with FaultyUpstream() as upstream:
        proc, url = _start(tmp_path, {"upstream": {"base_url": upstream.url}}, 1024, 1024)
        socks: list[socket.socket] = []
        try:
            socks = _open_idle(url, 1100)  # no byte sent, no key needed
            time.sleep(2)
            ok = 0
            for _ in range(20):
                with httpx.Client(timeout=15) as client:
                    ok += client.post(url + "/v1/messages", json=PLAIN).status_code == 200
            assert ok == 20
            assert httpx.get(url + "/health", timeout=10).json()["status"] == "ok"
        finally:
            for sock in socks:
                sock.close()
            proc.terminate()
            assert proc.wait(60) == 0
        assert len(log_rows(tmp_path / "proxy.db", wait_for=20)) == 20
        err = (tmp_path / "proxy.err").read_text()
        assert "never sent a request" in err and "Traceback" not in err


def test_the_descriptor_limit_is_raised_to_the_hard_limit(tmp_path: Path):
    with FaultyUpstream() as upstream:
        proc, url = _start(tmp_path, {"upstream": {"base_url": upstream.url}}, 256, 4096)
        try:
            limits = Path(f"/proc/{proc.pid}/limits").read_text()
            line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
            assert line.split()[3:5] == ["4096", "4096"], line
        finally:
            proc.terminate()
            proc.wait(60)


def test_a_connection_that_sends_no_request_head_in_time_is_closed(tmp_path: Path):
    with FaultyUpstream() as upstream:
        config = {"upstream": {"base_url": upstream.url}, "server": {"header_timeout": 1, "keepalive_timeout": 2}}
        proc, url = _start(tmp_path, config, 1024, 1024)
        parts = urlsplit(url)
        try:
            silent = socket.create_connection((parts.hostname, parts.port), timeout=10)
            slow = socket.create_connection((parts.hostname, parts.port), timeout=10)
            slow.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
            started = time.monotonic()
            assert silent.recv(1) == b"" and slow.recv(1) == b""
            assert time.monotonic() - started < 5
            kept = socket.create_connection((parts.hostname, parts.port), timeout=10)
            kept.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert kept.recv(65536).startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            assert kept.recv(1) == b""  # closed when idle past keepalive_timeout
            assert 1.5 < time.monotonic() - started < 6
        finally:
            proc.terminate()
            proc.wait(60)


def test_a_later_request_head_sent_byte_by_byte_cannot_hold_a_connection(tmp_path: Path):
    with FaultyUpstream() as upstream:
        config = {"upstream": {"base_url": upstream.url}, "server": {"header_timeout": 1, "keepalive_timeout": 1}}
        proc, url = _start(tmp_path, config, 1024, 1024)
        parts = urlsplit(url)
        try:
            conn = socket.create_connection((parts.hostname, parts.port), timeout=10)
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            conn.sendall(b"GET /health HTTP/1.1\r\n")  # the next head starts, and never ends
            while conn.recv(65536):
                pass
            assert time.monotonic() - started < 6
        finally:
            proc.terminate()
            proc.wait(60)


def test_at_the_cap_idle_keep_alive_connections_make_room_for_new_clients(tmp_path: Path):
    with FaultyUpstream() as upstream:
        config = {"upstream": {"base_url": upstream.url}, "server": {"max_connections": 3}}
        proc, url = _start(tmp_path, config, 1024, 1024)
        parts = urlsplit(url)
        try:
            kept = []
            for _ in range(3):
                conn = socket.create_connection((parts.hostname, parts.port), timeout=10)
                conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                assert conn.recv(65536).startswith(b"HTTP/1.1 200")
                kept.append(conn)
            time.sleep(1.5)
            for _ in range(3):
                assert httpx.post(url + "/v1/messages", json=PLAIN, timeout=10).status_code == 200
        finally:
            proc.terminate()
            proc.wait(60)
