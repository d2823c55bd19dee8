"""Run one feed's spider in this process (``redfeed scrape <feed>``,
``python -m redfeed.feeds.crawl <feed>``): records as JSON lines on stdout, logs on stderr, and
an exit code that tells the ``redfeed extract`` wrapper what happened:

====  ==========================================================================================
0     the spider finished and nothing went wrong: the batch may be committed
65    the source answered with data that cannot be read (e.g. a truncated or malformed body)
70    a bug: a callback raised, an error was logged that no failure explains, or Scrapy failed
75    temporary: network errors, 5xx, 429 or rate limits after the retries, or a listed file
      that is gone: a later retry may help
78    bad configuration (environment, unknown feed, credentials the source rejects)
143   stopped by SIGTERM or SIGINT (or Scrapy shut the crawl down before it finished)
====  ==========================================================================================

A spider reports a doomed batch with ``raise fail(self.crawler, SomeRedfeedError(...))`` in a
callback, or ``fail_and_close(...)`` in an errback: the error is recorded in the crawl's stats
(the most severe one wins: config > data > temporary), retry waits end, and the spider closes
early, since nothing will be committed anyway.

Scrapy is imported only when a crawl runs, so importing this module is cheap and works where
Scrapy is not installed.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from types import FrameType
from typing import TYPE_CHECKING, Any

import orjson

from redfeed.contract import START_FD_ENV, Settings, configure_logging
from redfeed.errors import ConfigError, ExitCode, RedfeedError

if TYPE_CHECKING:
    from scrapy.crawler import Crawler, CrawlerProcess
    from scrapy.exceptions import CloseSpider
    from scrapy.spiders import Spider
    from twisted.python.failure import Failure

log = logging.getLogger("redfeed.scrape")

STAT_ERROR_CODE = "redfeed/error_code"
STAT_ERROR_KIND = "redfeed/error_kind"
STAT_ERROR = "redfeed/error"
STAT_SIGNAL = "redfeed/signal"
#: Which recorded failure decides the exit code when there are several (higher wins): a config
#: or data problem will not go away by retrying, so it must not be hidden behind a temporary one.
SEVERITY = {ExitCode.TEMPORARY: 1, ExitCode.DATA_ERROR: 2, ExitCode.CONFIG: 3}
#: After SIGTERM, in-flight requests get this long to finish before the reactor is stopped.
SHUTDOWN_GRACE_SECONDS = 3.0


def fail(crawler: Crawler, error: RedfeedError) -> CloseSpider:
    """Record that this batch is doomed by ``error``, end retry waits, and return the
    ``CloseSpider`` for the caller to raise (from a callback or errback)."""
    from scrapy.exceptions import CloseSpider

    from redfeed.feeds.middlewares import abort_requested

    stats = crawler.stats
    previous = stats.get_value(STAT_ERROR_CODE)
    code = ExitCode(error.exit_code)
    if previous is None or SEVERITY.get(code, 0) > SEVERITY.get(ExitCode(previous), 0):
        stats.set_value(STAT_ERROR_CODE, int(code))
        stats.set_value(STAT_ERROR_KIND, error.kind)
        stats.set_value(STAT_ERROR, str(error))
    signalled = stats.get_value(STAT_SIGNAL)
    if signalled:  # the exit code is 143 whatever else fails now
        log.info("while stopping after %s: %s", signalled, error)
    elif previous is None:
        log.error("%s error, stopping the crawl: %s", error.kind, error)
    else:
        log.warning("another %s error while stopping: %s", error.kind, error)
    crawler.signals.send_catch_log(signal=abort_requested)
    return CloseSpider(f"redfeed_{error.kind}")


def fail_and_close(crawler: Crawler, error: RedfeedError) -> None:
    """``fail`` for errbacks: closes the spider itself instead of raising, because Scrapy logs a
    traceback of the download error when an errback raises."""
    from scrapy.utils.defer import deferred_from_coro

    closing = fail(crawler, error)
    if crawler.engine.spider is not None:
        closed = deferred_from_coro(crawler.engine.close_spider_async(reason=closing.reason))
        closed.addErrback(lambda failure: log.debug("closing the spider: %s", failure.value))


def exit_code_for(
    stats: Mapping[str, Any], signalled: str | None = None, startup_error: Failure | None = None
) -> tuple[int, str]:
    """The exit code of a finished crawl, and why."""
    if signalled:
        return int(ExitCode.TERMINATED), f"stopped by {signalled}"
    if startup_error is not None:
        error = startup_error.value
        if isinstance(error, RedfeedError):
            return int(error.exit_code), str(error)
        return int(ExitCode.SOFTWARE), f"the crawl failed to start: {error!r}"
    recorded = stats.get(STAT_ERROR_CODE)
    if recorded:
        return int(recorded), str(stats.get(STAT_ERROR, ""))
    reason = stats.get("finish_reason")
    if reason == "shutdown":
        return int(ExitCode.TERMINATED), "the crawl was shut down before it finished"
    if reason != "finished":
        return int(ExitCode.SOFTWARE), f"the crawl ended with finish_reason={reason!r}"
    if stats.get("spider_exceptions/count"):
        return int(ExitCode.SOFTWARE), "a spider callback raised (traceback above)"
    errors = int(stats.get("log_count/ERROR", 0)) + int(stats.get("log_count/CRITICAL", 0))
    if errors:
        return int(ExitCode.SOFTWARE), f"{errors} error(s) logged without a recorded failure"
    return int(ExitCode.OK), "ok"


def _reactor() -> Any:
    """The installed Twisted reactor (its module-level name is untyped for mypy)."""
    from twisted.internet import reactor

    return reactor


class _Shutdown:
    """SIGTERM/SIGINT: stop the crawl at once. Retry waits end, in-flight requests get
    ``grace`` seconds, then the reactor stops; a second signal stops it immediately."""

    def __init__(self, process: CrawlerProcess, crawler: Crawler, grace: float) -> None:
        self.process = process
        self.crawler = crawler
        self.grace = grace
        self.signalled: str | None = None

    @contextmanager
    def installed(self) -> Iterator[None]:
        previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # A signal handler may not log (the stream may be mid-write): hand over to the reactor.
        reactor = _reactor()
        if self.signalled is not None:
            reactor.callFromThread(self._stop_now, "a second signal")
            return
        self.signalled = signal.Signals(signum).name
        reactor.callFromThread(self._begin)

    def _begin(self) -> None:
        from redfeed.feeds.middlewares import abort_requested

        log.warning("received %s: stopping the crawl (nothing will be committed)", self.signalled)
        with suppress(RuntimeError):  # no stats before the crawl starts
            self.crawler.stats.set_value(STAT_SIGNAL, self.signalled)
        self.crawler.signals.send_catch_log(signal=abort_requested)
        self.process.stop()  # graceful; when the crawl ends, CrawlerProcess stops the reactor
        _reactor().callLater(self.grace, self._stop_now, f"{self.grace:g} s grace")

    @staticmethod
    def _stop_now(why: str) -> None:
        reactor = _reactor()
        if reactor.running:
            log.warning("stopping now (%s): in-flight requests are abandoned", why)
            with suppress(RuntimeError):  # already stopping
                reactor.stop()


def wait_at_start_gate(fd: str | None) -> bool:
    """True when the crawl may fetch: no gate, or the wrapper wrote to it (see START_FD_ENV)."""
    if not fd:
        return True
    with os.fdopen(int(fd), "rb") as gate:
        return gate.read(1) != b""


def _crawl(
    spidercls: type[Spider], settings: dict[str, Any], config: Settings, gate: str | None = None
) -> int:
    from scrapy.crawler import CrawlerProcess

    # Logging is already set up (stderr, one line each, contract format): Scrapy adds no handler
    # of its own, which would print every line twice.
    settings = {**settings, "LOG_INSTALL_ROOT_HANDLER": False}
    level = logging.getLevelNamesMapping()[settings["LOG_LEVEL"]]
    # CrawlerProcess resets the "scrapy" logger to DEBUG and logs at once: hold back what is
    # below our level until it is set again.
    disabled = logging.root.manager.disable
    logging.disable(max(level - 1, disabled))
    try:
        process = CrawlerProcess(settings)
    finally:
        logging.disable(disabled)
    logging.getLogger("scrapy").setLevel(level)
    crawler = process.create_crawler(spidercls)
    # Set up (Scrapy imported, the crawler built) while the wrapper checks the archive.
    if not wait_at_start_gate(gate):
        log.info("scrape %s: the wrapper closed the start gate; nothing fetched", config.feed)
        return int(ExitCode.OK)
    startup_errors: list[Failure] = []

    def on_crawl_error(failure: Failure) -> None:
        startup_errors.append(failure)
        log.error("the crawl failed: %s", failure.getTraceback())

    process.crawl(crawler, config=config).addErrback(on_crawl_error)
    shutdown = _Shutdown(process, crawler, SHUTDOWN_GRACE_SECONDS)
    with shutdown.installed():
        process.start(install_signal_handlers=False)  # blocks until the crawl ends

    try:
        stats: dict[str, Any] = dict(crawler.stats.get_stats())
    except RuntimeError:  # the crawl failed before it had stats
        stats = {}
    code, why = exit_code_for(stats, shutdown.signalled, next(iter(startup_errors), None))
    stats["redfeed/exit_code"] = code
    log.info(
        "scrape %s finished: exit %d (%s); stats %s",
        config.feed,
        code,
        why,
        orjson.dumps(stats, default=str, option=orjson.OPT_SORT_KEYS).decode(),
    )
    return code


def main(feed: str, env: Mapping[str, str] | None = None) -> int:
    """Scrape ``feed`` for the interval in the environment; returns the exit code. Runs the
    Twisted reactor, so it can be called once per process."""
    configure_logging()
    env = dict(os.environ if env is None else env)
    try:
        from redfeed.feeds.registry import family_of

        named = env.get("REDFEED_FEED", "").strip()
        # A spider may serve a family of feeds (`pretalx` runs `pretalx-<event>`): the archive
        # files the batch under the feed REDFEED_FEED names.
        if named and family_of(named, [feed]) != feed:
            raise ConfigError(
                f"REDFEED_FEED={named!r} but the command names feed {feed!r} "
                f"(a feed of its family is named {feed}-<name>)"
            )
        env["REDFEED_FEED"] = named or feed
        config = Settings.from_env(env, need_archive=False)

        from redfeed.feeds import settings as feed_settings
        from redfeed.feeds.registry import spider_class

        spidercls = spider_class(feed)
        settings = feed_settings.for_run(
            config, spider_settings=getattr(spidercls, "custom_settings", None)
        )
    except ConfigError as exc:
        log.error("scrape %s: configuration error: %s", feed, exc)
        return int(ExitCode.CONFIG)
    except Exception:
        log.exception("scrape %s: could not set up the crawl", feed)
        return int(ExitCode.SOFTWARE)
    return _crawl(spidercls, settings, config, env.get(START_FD_ENV))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m redfeed.feeds.crawl <feed>\n")
        sys.exit(int(ExitCode.CONFIG))
    # Run the importable module, not this __main__ copy of it: spiders import
    # redfeed.feeds.crawl, and there must be one of it.
    from redfeed.feeds import crawl

    sys.exit(crawl.main(sys.argv[1]))
