"""Real servers for tests: throw-away ``redis-server``, PostgreSQL and nginx on free loopback ports.

A test that needs one and cannot start it fails under ``CI=true`` (CI installs the
servers, so a missing one is a broken CI) and skips with the reason elsewhere.
Each server is private to the test that starts it, so a test may stop it to play an
outage and start it again on the same port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing(program: str, why: str) -> None:
    """Fail under CI, skip elsewhere: ``program`` is needed and not installed."""
    message = f"{program} is not installed; {why}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


class RedisServer:
    """``redis-server`` with no persistence on 127.0.0.1; ``url`` names it."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            missing("redis-server", "install Debian's redis-server to run the shared-limit tests")
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        assert self.binary is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _postgres_bin() -> Path | None:
    """Debian keeps the server programs in /usr/lib/postgresql/N/bin, off PATH."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return candidates[0].parent if candidates else None


class PostgresServer:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (no fsync: test data only); ``url(db)`` names a database.

    As root the cluster runs as the ``postgres`` user, since the server refuses to run as root.
    """

    def __init__(self) -> None:
        import tempfile

        self.bin = _postgres_bin()
        if self.bin is None:
            missing("postgresql", "install Debian's postgresql to run the Postgres log tests")
        self.root = Path(tempfile.mkdtemp(prefix="claude-proxy-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.user: str | None = None
        if os.geteuid() == 0:
            import pwd

            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                missing("a postgres user", "the server refuses to run as root")
            self.user = "postgres"
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--no-sync", "--no-instructions"])

    def _run(self, cmd: list[str]) -> None:
        done = subprocess.run(cmd, user=self.user, capture_output=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {done.stderr.decode(errors='replace')}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> PostgresServer:
        assert self.bin is not None
        self.proc = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.root),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off"],
            user=self.user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        import psycopg

        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return self
            except psycopg.OperationalError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"postgres exited with code {self.proc.returncode}") from None
                time.sleep(0.1)
        raise RuntimeError(f"postgres did not accept connections on port {self.port} within {timeout}s")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # "fast" shutdown: SIGTERM would wait for clients to leave
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class NginxServer:
    """nginx as a round-robin load balancer in front of ``backends`` (``host:port``), streams unbuffered."""

    def __init__(self, workdir: Path, backends: list[str]) -> None:
        self.binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if self.binary is None:
            missing("nginx", "install Debian's nginx-light to run the load-balancer tests")
        self.workdir = workdir
        self.port = free_port()
        self.backends = backends
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> str:
        servers = "".join(f"    server {b};\n" for b in self.backends)
        w = self.workdir
        return (f"daemon off;\nworker_processes 1;\npid {w}/nginx.pid;\nerror_log {w}/error.log warn;\n"
                f"events {{ worker_connections 1024; }}\n"
                f"http {{\n  access_log off;\n  client_body_temp_path {w}/body;\n  proxy_temp_path {w}/proxy;\n"
                f"  fastcgi_temp_path {w}/fastcgi;\n  uwsgi_temp_path {w}/uwsgi;\n  scgi_temp_path {w}/scgi;\n"
                f"  upstream claude_proxy {{\n{servers}    keepalive 16;\n  }}\n"
                f"  server {{\n    listen 127.0.0.1:{self.port};\n    client_max_body_size 64m;\n"
                f"    location / {{\n      proxy_pass http://claude_proxy;\n      proxy_http_version 1.1;\n"
                f"      proxy_set_header Connection \"\";\n      proxy_buffering off;\n"
                f"      proxy_request_buffering off;\n      proxy_read_timeout 600s;\n    }}\n  }}\n}}\n")

    def start(self, timeout: float = 10.0) -> NginxServer:
        assert self.binary is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "nginx.conf"
        conf.write_text(self._config())
        self.proc = subprocess.Popen([self.binary, "-c", str(conf), "-p", str(self.workdir), "-e",
                                      str(self.workdir / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError((self.workdir / "error.log").read_text(errors="replace")) from None
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen on port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
