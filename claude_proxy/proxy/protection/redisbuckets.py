"""Rate-limit buckets in Redis, so several instances on several machines enforce one limit.

Each admission is one Lua script run by Redis itself, so it is atomic across every
instance without locks: the script refills the key's buckets from Redis's own clock
(``TIME``, the same for every instance whatever their clocks say), refuses with the
longest wait when any bucket is short, or takes the costs from all of them at once.
A bucket expires when it would be full again, so Redis holds only busy keys.

The buckets of one key share a hash tag (``{...}``), so the script also runs on a
Redis Cluster. Key names carry a digest of the limit key, never the key itself.
Every call has a short socket timeout: when Redis is slow or down, the caller gets
`StoreUnavailable` at once and ``limits.on_store_error`` decides.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from claude_proxy.proxy.protection.buckets import StoreUnavailable
from claude_proxy.secrets import mask_url

if TYPE_CHECKING:
    from redis.asyncio import Redis

PREFIX = "claude-proxy:rl"
TIMEOUT = 0.5  # seconds for connecting and for each call: a limit check must never hold a request long

# KEYS: one bucket per limit. ARGV: per_minute and cost for each, in order.
# Returns {"0", 0} when admitted, else {wait_seconds, index of the limit that refused}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local levels = {}
local worst, which = 0, 0
for i, key in ipairs(KEYS) do
  local per = tonumber(ARGV[2 * i - 1])
  local cost = tonumber(ARGV[2 * i])
  local rate = per / 60
  local level = per
  local b = redis.call('HMGET', key, 'level', 'stamp')
  if b[1] then
    level = math.min(per, tonumber(b[1]) + math.max(now - tonumber(b[2]), 0) * rate)
  end
  levels[i] = level
  local need = math.min(cost, per)
  if level < need then
    local wait = (need - level) / rate
    if wait > worst then worst, which = wait, i end
  end
end
if which > 0 then return {tostring(worst), which} end
for i, key in ipairs(KEYS) do
  local per = tonumber(ARGV[2 * i - 1])
  local left = levels[i] - tonumber(ARGV[2 * i])
  redis.call('HSET', key, 'level', tostring(left), 'stamp', tostring(now))
  redis.call('EXPIRE', key, math.ceil((per - left) / (per / 60)) + 1)
end
return {'0', 0}
"""


def bucket_key(limit_key: str, what: str) -> str:
    """The Redis key of one limit's bucket for one client (hash-tagged by client)."""
    digest = hashlib.sha256(limit_key.encode()).hexdigest()[:32]
    return f"{PREFIX}:{{{digest}}}:{what.replace(' ', '_')}"


class RedisBuckets:
    """Token buckets kept in Redis at ``url``; one script call per admission."""

    def __init__(self, url: str, timeout: float = TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout
        self._client: Redis | None = None
        self._script: Any = None

    def _connect(self) -> Any:
        if self._script is None:
            from redis.asyncio import Redis

            self._client = Redis.from_url(self.url, socket_timeout=self.timeout,
                                          socket_connect_timeout=self.timeout, retry_on_timeout=False)
            self._script = self._client.register_script(_TAKE)
        return self._script

    async def take(self, limit_key: str, costs: list[tuple[str, int, float]]) -> tuple[float, str] | None:
        """Take ``costs`` (limit name, per minute, cost) from ``limit_key``'s buckets.

        Returns None when admitted, else (seconds to wait, name of the limit that refused).
        """
        from redis.exceptions import RedisError

        args: list[float] = []
        for _, per_minute, cost in costs:
            args += [per_minute, cost]
        try:
            wait, which = await self._connect()(keys=[bucket_key(limit_key, what) for what, _, _ in costs],
                                                args=args)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis at {mask_url(self.url)} unavailable: {exc}") from None
        if not int(which):
            return None
        return float(wait), costs[int(which) - 1][0]

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._script = None

