"""One ``/metrics`` for a ``serve --workers N`` group: every worker's series, summed.

The kernel hands a scrape to any one worker, and each worker counts only what it
served, so alone it would show 1/N of the truth. Under ``--workers`` the supervisor
names a private directory (``WORKERS_DIR_ENV``) before forking; each worker answers
its own exposition on a unix socket there, and the worker that gets the scrape reads
its siblings' (each with a short deadline), parses them with ``prometheus_client``'s
parser and sums the samples series by series. Gauges are summed too: requests in
flight, queued and log entries waiting are totals for the group. ``*_created``
samples keep the earliest time. A worker that does not answer in time is left out
and the scrape says so in ``claude_proxy_metrics_workers_missing``.

prometheus_client's own multiprocess mode was not used: it only aggregates the
library's metric objects through files it writes on every update, while the
per-request series here are plain counters turned into families at scrape time (see
``metrics``), which is what keeps them nearly free on the request path.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

from aiohttp import web

log = logging.getLogger(__name__)

WORKERS_DIR_ENV = "CLAUDE_PROXY_WORKERS_DIR"
SIBLING_TIMEOUT = 1.0


def workers_dir() -> Path | None:
    """The group's directory when this process is one of ``--workers``, else None."""
    value = os.environ.get(WORKERS_DIR_ENV)
    return Path(value) if value else None


def merge(texts: Iterable[str], missing: int = 0) -> bytes:
    """Sum Prometheus text expositions series by series; the merged exposition."""
    from prometheus_client.exposition import generate_latest
    from prometheus_client.metrics_core import Metric
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, tuple[str, str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            _, _, samples = families.setdefault(family.name, (family.documentation, family.type, {}))
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in samples:
                    samples[key] = sample.value
                elif sample.name.endswith("_created"):
                    samples[key] = min(samples[key], sample.value)
                else:
                    samples[key] += sample.value

    class _Merged:
        def collect(self) -> Iterator[Metric]:
            for name, (documentation, kind, samples) in families.items():
                metric = Metric(name, documentation, kind)
                for (sample_name, labels), value in samples.items():
                    metric.add_sample(sample_name, dict(labels), value)
                yield metric
            gap = Metric("claude_proxy_metrics_workers_missing",
                         "Workers whose series this scrape could not read", "gauge")
            gap.add_sample("claude_proxy_metrics_workers_missing", {}, float(missing))
            yield gap

    return generate_latest(_Merged())


class WorkerMetrics:
    """This worker's share of the group's ``/metrics``: its socket, and the siblings' reader."""

    def __init__(self, directory: Path, render: Callable[[], bytes]) -> None:
        self.directory = directory
        self.render = render
        self.path = directory / f"{os.getpid()}.sock"
        self._runner: web.AppRunner | None = None

    async def start(self, app: web.Application) -> None:
        """Serve this worker's own exposition on its socket (an app of its own, no middleware)."""
        own = web.Application()
        own.router.add_get("/own", self._own)
        self._runner = web.AppRunner(own, access_log=None)
        await self._runner.setup()
        self.path.unlink(missing_ok=True)
        await web.UnixSite(self._runner, str(self.path)).start()

    async def stop(self, app: web.Application) -> None:
        self.path.unlink(missing_ok=True)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _own(self, request: web.Request) -> web.Response:
        return web.Response(body=self.render())

    async def scrape(self) -> bytes:
        """Every live worker's series, summed (this one's read directly)."""
        import aiohttp

        siblings = [p for p in self.directory.glob("*.sock") if p != self.path]

        async def read(path: Path) -> str | None:
            try:
                connector = aiohttp.UnixConnector(path=str(path))
                timeout = aiohttp.ClientTimeout(total=SIBLING_TIMEOUT)
                async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                    async with session.get("http://worker/own") as resp:
                        return await resp.text()
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, ConnectionRefusedError):  # nobody listens: the worker is gone
                    path.unlink(missing_ok=True)
                log.debug("worker metrics at %s unreadable: %s", path, exc)
                return None
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                log.debug("worker metrics at %s unreadable: %s", path, exc)
                return None

        texts = await asyncio.gather(*(read(p) for p in siblings))
        found = [t for t in texts if t is not None]
        return merge([self.render().decode(), *found], missing=len(texts) - len(found))

