"""How a request log is configured: the file (or Postgres URL) and the ``log:`` settings' limits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from claude_proxy.settings import LogSettings


class LogConfig:
    """What every request log is configured with: the file and the ``log:`` settings' limits."""

    def __init__(self, path: Path, *, bodies: bool = True, max_body_bytes: int = 1 << 20,
                 queue_size: int = 10_000, batch_size: int = 200, busy_timeout: float = 10.0,
                 url: str | None = None) -> None:
        self.path = Path(path)
        self.url = url  # a postgresql:// URL: the log goes there instead of the file
        self.bodies = bodies
        self.max_body_bytes = max_body_bytes
        self.queue_size = queue_size
        self.batch_size = max(1, batch_size)
        self.busy_timeout = busy_timeout
        # log.retention: applied by the writer every RETENTION_SECONDS (None: keep everything).
        self.max_age_days: float | None = None
        self.max_size_mb: float | None = None

    @classmethod
    def from_settings(cls: type[_Log], settings: LogSettings, path: Path | None = None) -> _Log:
        """A log configured from the ``log:`` settings section (``path`` overrides ``log.path``)."""
        log = cls(path or settings.db_path(), bodies=settings.bodies,
                  max_body_bytes=settings.max_body_bytes, queue_size=settings.queue_size,
                  batch_size=settings.batch_size, busy_timeout=settings.busy_timeout,
                  url=None if path else settings.url)
        log.max_age_days, log.max_size_mb = settings.retention.max_age_days, settings.retention.max_size_mb
        return log

    @property
    def target(self) -> str:
        """Where the log is written, as shown to people (a URL's password masked)."""
        from claude_proxy.secrets import mask_url

        return mask_url(self.url) if self.url else str(self.path)

_Log = TypeVar("_Log", bound=LogConfig)


