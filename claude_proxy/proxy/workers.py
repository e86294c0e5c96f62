"""`serve --workers N`: N processes accepting on one port, for machines with more than one core.

Each worker is a forked copy of the single-process server: its own event loop, its
own upstream connection pool and its own request-log writer. The kernel spreads new
connections over the workers' listening sockets (SO_REUSEPORT, Linux). All workers
write the same SQLite file; the log takes the write lock per batch, so they queue
for it instead of failing. ``/metrics`` sums every worker's series (``metricsgroup``).
The supervisor only starts, watches and stops them:
SIGINT/SIGTERM is passed on as SIGTERM, so in-flight streams finish as they would
with one process, and a worker that dies takes the whole group down loudly.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Callable

from claude_proxy.proxy.protection.metricsgroup import WORKERS_DIR_ENV
from claude_proxy.proxy.server import ServeError
from claude_proxy.requestlog.entry import RequestLog
from claude_proxy.settings import Settings

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0
KILL_GRACE = 10.0


@dataclass
class WorkerGroup:
    """What `on_ready` receives: where the group listens (the same fields as a RunningServer)."""

    host: str
    port: int
    pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return _http_url(self.host, self.port)

    @property
    def client_url(self) -> str:
        """The URL a client on this machine uses (a wildcard listen address becomes loopback)."""
        return _http_url({"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host), self.port)


def _http_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def supported() -> bool:
    """SO_REUSEPORT spreads connections over the listeners only on Linux."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) so port 0 becomes a real port the workers can share.

    A plain bind first catches a port another program already listens on, which
    SO_REUSEPORT alone would silently share with it when the user is the same.
    """
    try:
        info = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, _, _, _, address = info
    if port:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
                raise ServeError(f"cannot listen on {host}:{port}: {reason}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGTERM this worker when the supervisor dies, even by SIGKILL (no orphans)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        log.debug("prctl(PR_SET_PDEATHSIG) unavailable")
    if os.getppid() != parent:
        os._exit(1)


def _worker(index: int, settings: Settings, make_log: Callable[[], RequestLog | None], host: str, port: int,
            report: Connection, parent: int) -> None:
    """One worker process: the ordinary server with reuse_port, reporting ready or its error."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _die_with_parent(parent)
    from claude_proxy.proxy.server import run

    try:
        run(settings, make_log(), host, port, reuse_port=True,
            on_ready=lambda server: report.send((index, os.getpid(), None)))
    except ServeError as exc:
        report.send((index, os.getpid(), str(exc)))
        sys.exit(1)
    except KeyboardInterrupt:
        pass


class _Stop:
    """Signal handlers that only record the request; the supervisor loop acts on it."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "_Stop":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.signum = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def _stop_all(procs: list[BaseProcess], timeout: float) -> None:
    for proc in procs:
        if proc.is_alive() and proc.pid is not None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.is_alive():
            log.warning("worker pid %s did not stop within %.0f s; killing it", proc.pid, timeout)
            proc.kill()
            proc.join(5)


def run_workers(settings: Settings, make_log: Callable[[], RequestLog | None], workers: int,
                on_ready: Callable[[WorkerGroup], None] | None = None) -> None:
    """Start `workers` processes on one port and supervise them until SIGINT/SIGTERM."""
    if not supported():
        raise ServeError("--workers needs Linux (SO_REUSEPORT); run one process per port instead")
    host, requested = settings.server.host, settings.server.port
    reserve = _reserve_port(host, requested)
    port = reserve.getsockname()[1]
    context = multiprocessing.get_context("fork")
    group_dir = tempfile.mkdtemp(prefix="claude-proxy-workers-")
    os.environ[WORKERS_DIR_ENV] = group_dir  # each worker serves its metrics there; any one sums them all
    procs: list[BaseProcess] = []
    reports: dict[Connection, int] = {}
    grace = settings.server.shutdown_timeout + KILL_GRACE
    sys.stdout.flush()
    sys.stderr.flush()
    with _Stop() as stop:
        try:
            for index in range(workers):
                reader, writer = context.Pipe(duplex=False)
                proc = context.Process(target=_worker, name=f"claude-proxy-worker-{index}",
                                       args=(index, settings, make_log, host, port, writer, os.getpid()))
                proc.start()
                writer.close()
                procs.append(proc)
                reports[reader] = index
            _wait_ready(procs, reports, stop, workers)
        except BaseException:
            reserve.close()
            _stop_all(procs, grace)
            shutil.rmtree(group_dir, ignore_errors=True)
            raise
        reserve.close()
        if stop.signum is None and on_ready is not None:
            on_ready(WorkerGroup(host, port, [p.pid for p in procs if p.pid is not None]))
        failed = _supervise(procs, stop)
        _stop_all(procs, grace)
        shutil.rmtree(group_dir, ignore_errors=True)
    if failed:
        raise ServeError(failed)


def _wait_ready(procs: list[BaseProcess], reports: dict[Connection, int], stop: _Stop,
                workers: int) -> None:
    """Until every worker listens; a worker's own error (port, log file) becomes the ServeError."""
    readers = {index: reader for reader, index in reports.items()}
    sentinels = {proc.sentinel: i for i, proc in enumerate(procs)}
    ready: set[int] = set()
    deadline = time.monotonic() + START_TIMEOUT
    while len(ready) < workers and stop.signum is None:
        if time.monotonic() > deadline:
            raise ServeError(f"workers did not start within {START_TIMEOUT:.0f} s")
        for obj in wait([*reports, *sentinels], timeout=0.2):
            index = reports[obj] if obj in reports else sentinels[obj]  # type: ignore[index]
            if index in ready:
                continue
            reader = readers[index]
            message = reader.recv() if reader.poll() else None
            if message is not None and message[2]:
                raise ServeError(message[2])
            if message is not None:
                ready.add(index)
            elif obj not in reports or not procs[index].is_alive():
                raise ServeError(f"worker {index} exited with code {procs[index].exitcode} while starting")


def _supervise(procs: list[BaseProcess], stop: _Stop) -> str | None:
    """Wait for a stop signal (None) or a worker that died (its description)."""
    sentinels = {proc.sentinel: proc for proc in procs}
    while stop.signum is None:
        for obj in wait(list(sentinels), timeout=0.2):
            proc = sentinels[obj]  # type: ignore[index]
            proc.join(0)
            message = f"worker pid {proc.pid} exited with code {proc.exitcode}; stopped the others"
            log.error("%s", message)
            return message
    log.info("stopping %d workers (signal %d)", len(procs), stop.signum)
    return None
