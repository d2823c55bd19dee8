"""Downloader middlewares shared by every redfeed spider.

``BackoffRetryMiddleware`` replaces Scrapy's ``RetryMiddleware``: same settings (``RETRY_TIMES``,
``RETRY_HTTP_CODES``, ``RETRY_EXCEPTIONS``, ``dont_retry`` / ``max_retry_times`` meta), but it waits
before each retry, without blocking other requests (``await asyncio.sleep`` on the asyncio
reactor's loop):

* exponential backoff with jitter: attempt ``n`` waits between ``d/2`` and ``d`` seconds,
  ``d = min(REDFEED_RETRY_BACKOFF_MAX, REDFEED_RETRY_BACKOFF_BASE * 2 ** (n - 1))``;
* a server's ``Retry-After`` (seconds or HTTP date) on 429/503, and GitHub's rate-limit answers
  (403/429 with ``x-ratelimit-remaining: 0``, wait until ``x-ratelimit-reset``), are honoured as
  asked; if the server asks for more than ``REDFEED_RETRY_AFTER_MAX`` seconds, the middleware
  gives up at once and the response goes to the spider's errback (a temporary failure).

Waits end early, without retrying, when :data:`abort_requested` is sent (the batch is doomed or a
shutdown began), so a closing spider is not held up by sleeping retries.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.utils.response import response_status_message

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from scrapy.settings import BaseSettings

log = logging.getLogger(__name__)

#: A custom Scrapy signal: send it with ``crawler.signals.send_catch_log(abort_requested)`` to end
#: every retry wait at once (no further retries are made).
abort_requested = object()

#: Statuses whose ``Retry-After`` header is honoured (RFC 9110 §10.2.3).
RETRY_AFTER_STATUSES = frozenset({429, 503})

STAT_WAIT_SECONDS = "redfeed/retry_wait_seconds"
STAT_WAIT_COUNT = "redfeed/retry_wait_count"
STAT_RETRY_AFTER_HONOURED = "redfeed/retry_after_honoured"
STAT_RETRY_AFTER_TOO_LONG = "redfeed/retry_after_too_long"
STAT_RETRY_ABORTED = "redfeed/retry_aborted"


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    if value is None:
        return None
    return bytes(value).decode("latin-1").strip()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value: delay-seconds or an HTTP date.
    ``None`` when absent or unreadable; never negative."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        now = time.time() if now is None else now
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def is_rate_limited(response: Response) -> bool:
    """GitHub's rate-limit answers: 403 or 429 with ``x-ratelimit-remaining: 0`` (primary limit),
    or 403 with ``Retry-After`` (secondary limit)."""
    if response.status not in (403, 429):
        return False
    if _header(response, "x-ratelimit-remaining") == "0":
        return True
    return response.status == 403 and _header(response, "retry-after") is not None


def requested_wait(response: Response, now: float | None = None) -> float | None:
    """How long the server asked us to wait before retrying, or ``None`` if it did not say."""
    now = time.time() if now is None else now
    wait = parse_retry_after(_header(response, "retry-after"), now)
    if wait is not None:
        return wait
    if _header(response, "x-ratelimit-remaining") == "0":
        reset = _header(response, "x-ratelimit-reset")
        try:
            return max(float(reset or "") - now, 0.0) + 1.0  # +1: its clock is not ours
        except ValueError:
            return None
    return None


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter" for retry number ``attempt`` (1, 2, ...): a random
    wait in ``[d/2, d]`` with ``d = min(cap, base * 2 ** (attempt - 1))``."""
    ceiling = min(cap, base * 2.0 ** max(attempt - 1, 0))
    uniform = (rng or random).uniform  # jitter, not cryptography
    return ceiling / 2.0 + uniform(0.0, ceiling / 2.0)


class BackoffRetryMiddleware(RetryMiddleware):
    """``RetryMiddleware`` that waits (backoff with jitter, or as the server asks) before each
    retry. Enable it in place of ``scrapy.downloadermiddlewares.retry.RetryMiddleware``."""

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("REDFEED_RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("REDFEED_RETRY_BACKOFF_MAX", 30.0)
        self.retry_after_max = settings.getfloat("REDFEED_RETRY_AFTER_MAX", 60.0)
        self._abort = asyncio.Event()  # binds to the running loop on first use

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        middleware = super().from_crawler(crawler)
        crawler.signals.connect(middleware.abort, signal=abort_requested)
        return middleware

    def abort(self) -> None:
        """End every retry wait now and make no further retries."""
        self._abort.set()

    # Scrapy awaits coroutine middleware methods (and has deprecated their ``spider`` argument),
    # which RetryMiddleware's synchronous signatures do not express.
    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        if request.meta.get("dont_retry", False):
            return response
        rate_limited = is_rate_limited(response)
        if response.status not in self.retry_http_codes and not rate_limited:
            return response
        server_wait = None
        if rate_limited or response.status in RETRY_AFTER_STATUSES:
            server_wait = requested_wait(response)
        reason = response_status_message(response.status)
        return await self._retry_later(request, reason, server_wait) or response

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        if request.meta.get("dont_retry", False) or not isinstance(
            exception, self.exceptions_to_retry
        ):
            return None
        return await self._retry_later(request, exception, None)

    async def _retry_later(
        self, request: Request, reason: str | Exception, server_wait: float | None
    ) -> Request | None:
        stats = self.crawler.stats
        if self._abort.is_set():
            stats.inc_value(STAT_RETRY_ABORTED)
            return None
        attempt = int(request.meta.get("retry_times", 0)) + 1
        max_times = int(request.meta.get("max_retry_times", self.max_retry_times))
        if attempt > max_times:
            retry: Request | None = self._retry(request, reason)  # logs "Gave up retrying"
            return retry
        if server_wait is not None:
            if server_wait > self.retry_after_max:
                log.log(
                    self._give_up_level(request),
                    "Gave up on %s: the server asks to wait %.0f s before retrying, more than "
                    "REDFEED_RETRY_AFTER_MAX=%g s (%s)",
                    request,
                    server_wait,
                    self.retry_after_max,
                    reason,
                )
                stats.inc_value(STAT_RETRY_AFTER_TOO_LONG)
                return None
            stats.inc_value(STAT_RETRY_AFTER_HONOURED)
            delay = server_wait
        else:
            delay = backoff_delay(attempt, self.backoff_base, self.backoff_max)
        log.info(
            "Retry %d/%d of %s in %.2f s: %s",
            attempt,
            max_times,
            request,
            delay,
            reason if isinstance(reason, str) else type(reason).__name__,
        )
        stats.inc_value(STAT_WAIT_COUNT)
        stats.set_value(
            STAT_WAIT_SECONDS, round(stats.get_value(STAT_WAIT_SECONDS, 0.0) + delay, 3)
        )
        if not await self._wait(delay):
            stats.inc_value(STAT_RETRY_ABORTED)
            log.info("Not retrying %s: the crawl is stopping", request)
            return None
        retry = self._retry(request, reason)
        return retry

    def _give_up_level(self, request: Request) -> int:
        """The level of a "gave up" line: the ``give_up_log_level`` meta or
        ``RETRY_GIVE_UP_LOG_LEVEL`` (ERROR by default), as Scrapy's own give-up line is logged.
        A spider for which a failed request is normal (homepages) lowers it."""
        level = request.meta.get("give_up_log_level", self.give_up_log_level)
        return int(logging.getLevelName(level)) if isinstance(level, str) else int(level)

    async def _wait(self, delay: float) -> bool:
        """Sleep ``delay`` seconds; ``False`` if an abort cut the wait short."""
        if self._abort.is_set():
            return False
        try:
            await asyncio.wait_for(self._abort.wait(), timeout=max(delay, 0.0))
        except TimeoutError:
            return True
        return False
