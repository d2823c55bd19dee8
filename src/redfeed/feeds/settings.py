"""The production Scrapy settings shared by every redfeed spider, and the few environment knobs
that tune them for one run (:func:`for_run`).

Records go to stdout as JSON lines and nothing else does; logs go to stderr. A spider may
override settings in its ``custom_settings``, with a comment saying why.

Environment knobs (besides the contract's ``REDFEED_HTTP_CACHE``):

==================================  ============  ==================================================
``REDFEED_HTTP_CACHE_DIR``          /tmp/redfeed  where the HTTP cache lives when REDFEED_HTTP_CACHE
                                    -httpcache    is true (development only)
``REDFEED_RETRY_TIMES``             5             retries per request (after the first attempt)
``REDFEED_RETRY_BACKOFF_BASE``      1             seconds; first retry waits 0.5-1 x this
``REDFEED_RETRY_BACKOFF_MAX``       30            seconds; cap of one backoff wait
``REDFEED_RETRY_AFTER_MAX``         60            seconds; a longer Retry-After gives up (exit 75)
``REDFEED_DOWNLOAD_DELAY``          0.25          seconds between requests to one host (minimum;
                                                  AutoThrottle starts at 4 x this)
``REDFEED_DOWNLOAD_TIMEOUT``        30            seconds per request
``REDFEED_CONCURRENCY_PER_HOST``    4             parallel requests to one host (AutoThrottle
                                                  aims at no more than this)
``REDFEED_LOG_LEVEL``               INFO          as for every redfeed command
==================================  ============  ==================================================
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from typing import Any, Final

from scrapy.settings import BaseSettings, default_settings

from redfeed import __version__
from redfeed.contract import Settings, parse_int
from redfeed.errors import ConfigError

USER_AGENT = f"redfeed/{__version__} (+https://github.com/redfeed/redfeed)"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DEFAULT_HTTP_CACHE_DIR = "/tmp/redfeed-httpcache"  # noqa: S108 - a cache, development only

#: Components off in every redfeed spider (see SETTINGS), left out of Scrapy's defaults, by the
#: setting that switches each on: a spider whose ``custom_settings`` switch one on gets it back
#: (``for_run``), where Scrapy's default order puts it.
SWITCHED_OFF: Final = {
    "TELNETCONSOLE_ENABLED": ("EXTENSIONS_BASE", "scrapy.extensions.telnet.TelnetConsole"),
    "REMOTE_CONTROL_ENABLED": (
        "EXTENSIONS_BASE",
        "scrapy.extensions.remote_control.RemoteControl",
    ),
    "COOKIES_ENABLED": (
        "DOWNLOADER_MIDDLEWARES_BASE",
        "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
    ),
}
UNUSED_COMPONENTS: Final = frozenset(component for _, component in SWITCHED_OFF.values())


def _without(components: Mapping[str, Any], unused: frozenset[str]) -> dict[str, Any]:
    return {name: order for name, order in components.items() if name not in unused}


SETTINGS: dict[str, Any] = {
    "BOT_NAME": "redfeed",
    "USER_AGENT": USER_AGENT,
    # Polite by default: a spider that talks to an API (where robots.txt is meant for crawlers
    # of web pages) may turn this off in its custom_settings, with a comment saying why.
    "ROBOTSTXT_OBEY": True,
    # Politeness: few parallel requests per host, a small delay, AutoThrottle adapting both to
    # the server's latency.
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
    "DOWNLOAD_DELAY": 0.25,
    "AUTOTHROTTLE_ENABLED": True,
    "AUTOTHROTTLE_START_DELAY": 1.0,
    "AUTOTHROTTLE_MAX_DELAY": 30.0,
    "AUTOTHROTTLE_TARGET_CONCURRENCY": 2.0,
    "DOWNLOAD_TIMEOUT": 30,
    "DOWNLOAD_MAXSIZE": 256 * 1024 * 1024,
    "DOWNLOAD_WARNSIZE": 32 * 1024 * 1024,
    # Retries wait (exponential backoff with jitter, Retry-After honoured) without blocking other
    # requests: BackoffRetryMiddleware replaces the stock RetryMiddleware at the same position.
    "RETRY_ENABLED": True,
    "RETRY_TIMES": 5,
    "RETRY_HTTP_CODES": [408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524],
    "REDFEED_RETRY_BACKOFF_BASE": 1.0,
    "REDFEED_RETRY_BACKOFF_MAX": 30.0,
    "REDFEED_RETRY_AFTER_MAX": 60.0,
    "DOWNLOADER_MIDDLEWARES": {
        "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
        "redfeed.feeds.middlewares.BackoffRetryMiddleware": 550,
    },
    # Only http(s): a source must never make us read local files (a "file://" download_url).
    "DOWNLOAD_HANDLERS": {"file": None, "ftp": None, "s3": None},
    "COOKIES_ENABLED": False,
    # Records: JSON lines on stdout, written as they are scraped. Nothing else goes to stdout.
    "FEEDS": {"stdout:": {"format": "jsonlines", "encoding": "utf8"}},
    "FEED_STORE_EMPTY": True,
    # Logs: stderr only, one line each.
    "LOG_ENABLED": True,
    "LOG_FILE": None,
    "LOG_STDOUT": False,
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": LOG_FORMAT,
    "LOG_SHORT_NAMES": False,
    "LOGSTATS_INTERVAL": 60.0,
    # The runner logs one summary line of stats instead of Scrapy's multi-line dump.
    "STATS_DUMP": False,
    # Nothing listening on ports in a batch container: no telnet console, and no remote-control
    # HTTP server (Scrapy >= 2.19 enables one by default: it runs posted Python code).
    "TELNETCONSOLE_ENABLED": False,
    "REMOTE_CONTROL_ENABLED": False,
    # Nor imported (Scrapy imports every component of the *_BASE dicts, even one set to None):
    # the remote control's module loads aiohttp, the cookies middleware tldextract.
    "EXTENSIONS_BASE": _without(default_settings.EXTENSIONS_BASE, UNUSED_COMPONENTS),
    "DOWNLOADER_MIDDLEWARES_BASE": _without(
        default_settings.DOWNLOADER_MIDDLEWARES_BASE, UNUSED_COMPONENTS
    ),
    # The HTTP cache is for development (REDFEED_HTTP_CACHE=true): never cache failures.
    "HTTPCACHE_ENABLED": False,
    "HTTPCACHE_DIR": DEFAULT_HTTP_CACHE_DIR,
    "HTTPCACHE_EXPIRATION_SECS": 0,
    "HTTPCACHE_IGNORE_HTTP_CODES": [401, 403, 408, 425, 429, 500, 502, 503, 504, 520, 521, 522],
    "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
}


def parse_seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not a number of seconds") from exc
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"{name}={value!r} must be a finite number of seconds >= 0")
    return seconds


def for_run(
    config: Settings,
    env: Mapping[str, str] | None = None,
    *,
    spider_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``SETTINGS`` with this run's environment knobs applied, and any component the spider's
    ``custom_settings`` switch on put back; ``ConfigError`` for bad values."""
    env = config.extra if env is None else env
    settings = copy.deepcopy(SETTINGS)
    switches = BaseSettings(dict(spider_settings or {}))
    for switch, (base, component) in SWITCHED_OFF.items():
        try:
            wanted = switches.getbool(switch)
        except ValueError:
            raise ConfigError(
                f"the spider's custom_settings {switch}={switches.get(switch)!r}: "
                "not a boolean (True, False, 1 or 0)"
            ) from None
        if wanted:
            settings[base][component] = getattr(default_settings, base)[component]

    def knob(name: str, default: object) -> str:
        return env.get(name, "").strip() or str(default)

    settings["RETRY_TIMES"] = parse_int(
        "REDFEED_RETRY_TIMES", knob("REDFEED_RETRY_TIMES", settings["RETRY_TIMES"])
    )
    for name in (
        "REDFEED_RETRY_BACKOFF_BASE",
        "REDFEED_RETRY_BACKOFF_MAX",
        "REDFEED_RETRY_AFTER_MAX",
    ):
        settings[name] = parse_seconds(name, knob(name, settings[name]))
    delay = parse_seconds(
        "REDFEED_DOWNLOAD_DELAY", knob("REDFEED_DOWNLOAD_DELAY", settings["DOWNLOAD_DELAY"])
    )
    settings["DOWNLOAD_DELAY"] = delay
    settings["AUTOTHROTTLE_START_DELAY"] = 4 * delay
    timeout = parse_seconds(
        "REDFEED_DOWNLOAD_TIMEOUT", knob("REDFEED_DOWNLOAD_TIMEOUT", settings["DOWNLOAD_TIMEOUT"])
    )
    if timeout <= 0:
        raise ConfigError(f"REDFEED_DOWNLOAD_TIMEOUT={timeout!r} must be more than 0 seconds")
    settings["DOWNLOAD_TIMEOUT"] = timeout
    concurrency = parse_int(
        "REDFEED_CONCURRENCY_PER_HOST",
        knob("REDFEED_CONCURRENCY_PER_HOST", settings["CONCURRENT_REQUESTS_PER_DOMAIN"]),
        1,
    )
    settings["CONCURRENT_REQUESTS_PER_DOMAIN"] = concurrency
    settings["AUTOTHROTTLE_TARGET_CONCURRENCY"] = min(
        float(settings["AUTOTHROTTLE_TARGET_CONCURRENCY"]), float(concurrency)
    )

    if config.http_cache:
        settings["HTTPCACHE_ENABLED"] = True
        cache_dir = knob("REDFEED_HTTP_CACHE_DIR", DEFAULT_HTTP_CACHE_DIR)
        settings["HTTPCACHE_DIR"] = os.path.abspath(cache_dir)  # relative would mean .scrapy/

    level = knob("REDFEED_LOG_LEVEL", "INFO").upper()
    if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        settings["LOG_LEVEL"] = level
    return settings
