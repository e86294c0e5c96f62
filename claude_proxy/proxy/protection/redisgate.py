"""A cap on requests in flight across every instance, kept in Redis (``limits.max_concurrent_total``).

``limits.max_concurrent`` caps one process; behind a load balancer the upstream sees
the sum. This cap is shared: each request in flight holds a lease, a member of one
Redis sorted set scored by its expiry. Taking a lease is one Lua script (drop the
expired, count, add when under the cap), so instances never over-admit. A running
instance renews its leases every third of the lease time; an instance that dies
stops renewing, and its slots come free when their leases run out, instead of being
lost for good as with a plain counter.

A request over the cap waits, polling with a short backoff, up to
``limits.queue_timeout``, then gets the same 529 ``overloaded_error`` as the local
cap. Freeing a slot runs after the answer, off the request's path. When Redis
fails, ``limits.on_store_error`` decides, as for the rate limits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from typing import TYPE_CHECKING, Any

from claude_proxy.proxy.protection.buckets import StoreUnavailable
from claude_proxy.secrets import mask_url

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

KEY = "claude-proxy:inflight"
LEASE = 30.0  # seconds a slot stays taken without renewal
TIMEOUT = 0.5

_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
  return 1
end
return 0
"""

_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i])
end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 1)
return 1
"""


class RedisSlots:
    """At most ``limit`` leases at once in the sorted set at ``url``, shared by every instance."""

    def __init__(self, url: str, limit: int, lease: float = LEASE, timeout: float = TIMEOUT) -> None:
        self.url = url
        self.limit = limit
        self.lease = lease
        self.timeout = timeout
        self.held: set[str] = set()
        self._prefix = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._count = 0
        self._client: Redis | None = None
        self._take: Any = None
        self._renew: Any = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._releases: set[asyncio.Task[None]] = set()

    def _connect(self) -> None:
        if self._client is None:
            from redis.asyncio import Redis

            self._client = Redis.from_url(self.url, socket_timeout=self.timeout,
                                          socket_connect_timeout=self.timeout, retry_on_timeout=False)
            self._take = self._client.register_script(_TAKE)
            self._renew = self._client.register_script(_RENEW)
        if self._heartbeat is None:
            self._heartbeat = asyncio.get_running_loop().create_task(self._keep_alive())

    async def _call(self, coro: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await coro
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis at {mask_url(self.url)} unavailable: {exc}") from None

    async def try_take(self) -> str | None:
        """A lease's name when a slot was free, else None."""
        self._connect()
        self._count += 1
        member = f"{self._prefix}:{self._count}"
        taken = await self._call(self._take(keys=[KEY], args=[self.limit, self.lease, member]))
        if not int(taken):
            return None
        self.held.add(member)
        return member

    async def take(self, wait: float) -> str | None:
        """A lease, waiting up to ``wait`` seconds for one; None when none came free in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        delay = 0.02
        while True:
            member = await self.try_take()
            if member is not None:
                return member
            if loop.time() + delay > deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    def release(self, member: str) -> None:
        """Free a lease in the background; if Redis cannot be told, the lease runs out by itself."""
        self.held.discard(member)
        task = asyncio.get_running_loop().create_task(self._release(member))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, member: str) -> None:
        try:
            assert self._client is not None
            await self._call(self._client.zrem(KEY, member))
        except StoreUnavailable as exc:
            log.debug("slot %s not freed now (%s); its lease runs out in %gs", member, exc, self.lease)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            if not self.held:
                continue
            try:
                await self._call(self._renew(keys=[KEY], args=[self.lease, *self.held]))
            except StoreUnavailable as exc:
                log.warning("in-flight leases not renewed: %s", exc)

    async def close(self) -> None:
        """Stop renewing and free what this instance still holds."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if self._releases:
            await asyncio.wait(set(self._releases), timeout=self.timeout * 2)
        if self._client is not None:
            if self.held:
                try:
                    await self._call(self._client.zrem(KEY, *self.held))
                except StoreUnavailable:
                    pass
            await self._client.aclose()
            self._client = None
