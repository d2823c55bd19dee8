"""BackoffRetryMiddleware: waits computed right, Retry-After honoured or refused, waits that do
not block each other, and an abort that ends them. Runs the middleware's coroutines directly on
an asyncio loop (no reactor, no network)."""

from __future__ import annotations

import asyncio
import random
import time
from email.utils import formatdate
from typing import Any

import pytest
from scrapy import Spider
from scrapy.http import Request, Response
from scrapy.utils.test import get_crawler

from redfeed.feeds.middlewares import (
    STAT_RETRY_ABORTED,
    STAT_RETRY_AFTER_HONOURED,
    STAT_RETRY_AFTER_TOO_LONG,
    STAT_WAIT_COUNT,
    STAT_WAIT_SECONDS,
    BackoffRetryMiddleware,
    abort_requested,
    backoff_delay,
    is_rate_limited,
    parse_retry_after,
    requested_wait,
)
from redfeed.feeds.settings import SETTINGS

URL = "http://source.test/conferences/2024/python.json"


def make_middleware(**settings: Any) -> BackoffRetryMiddleware:
    crawler = get_crawler(
        Spider,
        {
            "RETRY_TIMES": 2,
            "RETRY_HTTP_CODES": SETTINGS["RETRY_HTTP_CODES"],
            "REDFEED_RETRY_BACKOFF_BASE": 0.01,
            "REDFEED_RETRY_BACKOFF_MAX": 0.02,
            "REDFEED_RETRY_AFTER_MAX": 5,
            **settings,
        },
    )
    crawler.spider = crawler._create_spider("test")
    return BackoffRetryMiddleware.from_crawler(crawler)


def stats(middleware: BackoffRetryMiddleware) -> dict[str, Any]:
    return dict(middleware.crawler.stats.get_stats())


def response(status: int, **headers: str) -> Response:
    return Response(URL, status=status, headers=headers)


# -- the pure parts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), ("1.5", 1.5), ("0", 0.0), ("-3", 0.0), (" 7 ", 7.0)],
)
def test_retry_after_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value) == expected


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf", "Mon, 99 Foo 2024"])
def test_retry_after_unreadable_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 120, usegmt=True), now) == pytest.approx(120)
    assert parse_retry_after(formatdate(now - 120, usegmt=True), now) == 0.0


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 30.0), (20, 30.0)]:
        for _ in range(50):
            delay = backoff_delay(attempt, base=1.0, cap=30.0, rng=rng)
            assert ceiling / 2 <= delay <= ceiling
    delays = {backoff_delay(3, 1.0, 30.0, rng) for _ in range(20)}
    assert len(delays) > 1, "no jitter"


def test_github_rate_limit_answers() -> None:
    now = time.time()
    limited = response(403, **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(now + 10)})
    assert is_rate_limited(limited)
    assert requested_wait(limited, now) == pytest.approx(11)
    assert is_rate_limited(response(429, **{"x-ratelimit-remaining": "0"}))
    assert is_rate_limited(response(403, **{"retry-after": "60"}))  # secondary rate limit
    assert not is_rate_limited(response(403))  # plain forbidden
    assert not is_rate_limited(response(403, **{"x-ratelimit-remaining": "12"}))
    assert requested_wait(response(429, **{"Retry-After": "3"}), now) == 3.0
    assert requested_wait(response(429), now) is None


# -- the middleware --------------------------------------------------------------------------


def test_retries_5xx_with_backoff_then_gives_up() -> None:
    middleware = make_middleware()

    async def run() -> Request | Response:
        result: Request | Response = Request(URL)
        for _ in range(3):
            assert isinstance(result, Request)
            result = await middleware.process_response(result, response(500))
        return result

    final = asyncio.run(run())
    assert isinstance(final, Response)
    assert final.status == 500
    got = stats(middleware)
    assert got["retry/count"] == 2
    assert got["retry/max_reached"] == 1
    assert got[STAT_WAIT_COUNT] == 2
    assert 0.005 <= got[STAT_WAIT_SECONDS] <= 0.04


def test_does_not_retry_other_statuses_or_dont_retry() -> None:
    middleware = make_middleware()
    not_found = response(404)
    assert asyncio.run(middleware.process_response(Request(URL), not_found)) is not_found
    forbidden = response(403)
    assert asyncio.run(middleware.process_response(Request(URL), forbidden)) is forbidden
    request = Request(URL, meta={"dont_retry": True})
    failed = response(503)
    assert asyncio.run(middleware.process_response(request, failed)) is failed
    assert "retry/count" not in stats(middleware)


def test_honours_retry_after() -> None:
    middleware = make_middleware()
    started = time.monotonic()
    retry = asyncio.run(
        middleware.process_response(Request(URL), response(429, **{"Retry-After": "0.3"}))
    )
    assert isinstance(retry, Request)
    assert retry.meta["retry_times"] == 1
    assert time.monotonic() - started >= 0.3
    assert stats(middleware)[STAT_RETRY_AFTER_HONOURED] == 1


def test_gives_up_when_retry_after_exceeds_the_cap() -> None:
    middleware = make_middleware(REDFEED_RETRY_AFTER_MAX=5)
    started = time.monotonic()
    answer = response(503, **{"Retry-After": "3600"})
    assert asyncio.run(middleware.process_response(Request(URL), answer)) is answer
    assert time.monotonic() - started < 1
    assert stats(middleware)[STAT_RETRY_AFTER_TOO_LONG] == 1


def test_rate_limited_403_is_retried_after_the_wait() -> None:
    middleware = make_middleware()
    answer = response(403, **{"x-ratelimit-remaining": "0", "Retry-After": "0"})
    assert isinstance(asyncio.run(middleware.process_response(Request(URL), answer)), Request)


def test_waits_do_not_block_each_other() -> None:
    middleware = make_middleware()

    async def run() -> list[Request | Response]:
        waits = [
            middleware.process_response(
                Request(f"{URL}?{i}"), response(503, **{"Retry-After": "0.4"})
            )
            for i in range(5)
        ]
        return await asyncio.gather(*waits)

    started = time.monotonic()
    results = asyncio.run(run())
    assert all(isinstance(result, Request) for result in results)
    assert time.monotonic() - started < 1.2  # five 0.4 s waits, side by side


def test_abort_ends_waits_without_retrying() -> None:
    middleware = make_middleware(REDFEED_RETRY_AFTER_MAX=60)

    async def run() -> Request | Response:
        wait = asyncio.ensure_future(
            middleware.process_response(Request(URL), response(503, **{"Retry-After": "30"}))
        )
        await asyncio.sleep(0.1)
        middleware.crawler.signals.send_catch_log(signal=abort_requested)
        return await wait

    started = time.monotonic()
    result = asyncio.run(run())
    assert isinstance(result, Response)
    assert result.status == 503
    assert time.monotonic() - started < 2
    assert stats(middleware)[STAT_RETRY_ABORTED] == 1
    # and later failures are not retried at all
    assert asyncio.run(middleware.process_response(Request(URL), response(500))).status == 500


def test_retries_network_errors_but_not_others() -> None:
    middleware = make_middleware()
    retry = asyncio.run(middleware.process_exception(Request(URL), ConnectionRefusedError()))
    assert isinstance(retry, Request)
    assert asyncio.run(middleware.process_exception(Request(URL), ValueError("bug"))) is None
