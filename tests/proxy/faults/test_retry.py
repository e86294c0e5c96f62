"""The retry policy: which failures are retried, how long we wait, and when we give up."""

from __future__ import annotations

import email.utils
import time

import pytest

from claude_proxy.proxy.upstream.retry import RetryPolicy, parse_retry_after, send_with_retries
from claude_proxy.settings import parse_settings


class Resp:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.headers = headers or {}
        self.discarded = False


async def _discard(r: Resp) -> None:
    r.discarded = True


def _status(r: Resp):
    return r.status, r.headers


def _script(*answers):
    calls = []

    async def send():
        item = answers[len(calls)]
        calls.append(item)
        if isinstance(item, BaseException):
            raise item
        return item

    return send, calls


class Sleeps(list):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status):
    assert RetryPolicy().retryable_status(status)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(status):
    assert not RetryPolicy().retryable_status(status)


def test_x_should_retry_overrides_the_status():
    policy = RetryPolicy()
    assert not policy.retryable_status(529, {"x-should-retry": "false"})
    assert policy.retryable_status(409, {"x-should-retry": "true"})


def test_backoff_doubles_from_half_a_second_and_caps_at_eight():
    policy = RetryPolicy(retries=10)
    no_jitter = [policy.backoff_delay(n, rand=lambda: 0.0) for n in range(1, 8)]
    assert no_jitter == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    full_jitter = policy.backoff_delay(1, rand=lambda: 1.0)
    assert full_jitter == pytest.approx(0.375)


def test_retry_after_forms():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30, abs=1)


def test_retry_after_is_honoured_up_to_the_cap():
    policy = RetryPolicy(retry_after_max=20)
    assert policy.delay(1, {"retry-after": "7"}) == 7.0
    assert policy.delay(1, {"retry-after": "3600"}) is None


def test_policy_from_settings():
    settings = parse_settings({"upstream": {"retries": 5, "retry_backoff": 0.1, "retry_backoff_max": 1,
                                            "retry_after_max": 3}})
    assert RetryPolicy.from_settings(settings.upstream) == RetryPolicy(5, 0.1, 1.0, 3.0)
    assert parse_settings({}).upstream.retries == 2


async def test_529_twice_then_success_takes_three_attempts():
    send, calls = _script(Resp(529), Resp(529), Resp(200))
    sleeps = Sleeps()
    out = await send_with_retries(send, RetryPolicy(), status_of=_status, discard=_discard,
                                  retry_on=(ConnectionError,), sleep=sleeps, target="anthropic")
    assert out.response.status == 200 and out.error is None and not out.retryable
    assert [a.status for a in out.attempts] == [529, 529, 200]
    assert calls[0].discarded and calls[1].discarded and not calls[2].discarded
    assert 0.375 <= sleeps[0] <= 0.5 and 0.75 <= sleeps[1] <= 1.0
    assert out.attempts[0].as_dict()["target"] == "anthropic"


async def test_429_waits_what_retry_after_says():
    send, _ = _script(Resp(429, {"retry-after": "2"}), Resp(200))
    sleeps = Sleeps()
    out = await send_with_retries(send, RetryPolicy(), status_of=_status, discard=_discard,
                                  retry_on=(ConnectionError,), sleep=sleeps)
    assert out.response.status == 200
    assert sleeps == [2.0]
    assert out.attempts[0].as_dict() == {"n": 1, "status": 429, "wait_ms": 2000}


async def test_exhausted_retries_pass_the_last_answer_on():
    send, calls = _script(Resp(529), Resp(529), Resp(529))
    out = await send_with_retries(send, RetryPolicy(retries=2), status_of=_status, discard=_discard,
                                  retry_on=(ConnectionError,), sleep=Sleeps())
    assert out.response is calls[2] and not calls[2].discarded
    assert out.retryable and len(out.attempts) == 3


async def test_connection_errors_are_retried_then_returned():
    send, _ = _script(ConnectionRefusedError("refused"), ConnectionRefusedError("refused"))
    out = await send_with_retries(send, RetryPolicy(retries=1), status_of=_status, discard=_discard,
                                  retry_on=(ConnectionError,), sleep=Sleeps())
    assert isinstance(out.error, ConnectionRefusedError) and out.response is None and out.retryable
    assert [a.error for a in out.attempts] == ["ConnectionRefusedError: refused"] * 2


async def test_zero_retries_is_off():
    send, calls = _script(Resp(529), Resp(200))
    out = await send_with_retries(send, RetryPolicy(retries=0), status_of=_status, discard=_discard,
                                  retry_on=(ConnectionError,), sleep=Sleeps())
    assert out.response.status == 529 and len(calls) == 1


async def test_a_long_retry_after_is_not_waited_out():
    send, calls = _script(Resp(429, {"retry-after": "600"}), Resp(200))
    sleeps = Sleeps()
    out = await send_with_retries(send, RetryPolicy(), status_of=_status, discard=_discard,
                                  retry_on=(ConnectionError,), sleep=sleeps)
    assert out.response.status == 429 and out.response.headers["retry-after"] == "600"
    assert sleeps == [] and len(calls) == 1


async def test_other_exceptions_propagate():
    send, _ = _script(ValueError("bug"))
    with pytest.raises(ValueError):
        await send_with_retries(send, RetryPolicy(), status_of=_status, discard=_discard,
                                retry_on=(ConnectionError,), sleep=Sleeps())
