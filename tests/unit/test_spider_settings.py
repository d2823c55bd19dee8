"""The Scrapy settings every redfeed spider runs with leave out the components they switch off,
so that a scraper does not import them (aiohttp, tldextract) at every start, and keep every other
component of Scrapy's defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest
from scrapy.settings import Settings, default_settings
from scrapy.utils.conf import build_component_list

from redfeed.contract import Settings as Config
from redfeed.errors import ConfigError
from redfeed.feeds.settings import SETTINGS, UNUSED_COMPONENTS, for_run


def test_switched_off_components_are_left_out_and_the_rest_kept() -> None:
    settings = Settings(SETTINGS)
    for name, base in (
        ("EXTENSIONS", default_settings.EXTENSIONS_BASE),
        ("DOWNLOADER_MIDDLEWARES", default_settings.DOWNLOADER_MIDDLEWARES_BASE),
    ):
        components = build_component_list(settings.getwithbase(name))
        assert not UNUSED_COMPONENTS & set(components)
        kept = [c for c in build_component_list(base) if c not in UNUSED_COMPONENTS]
        # the stock RetryMiddleware gives way to redfeed's own (settings.py)
        kept = [c for c in kept if not c.endswith(".RetryMiddleware")]
        assert [c for c in components if c in kept] == kept
    assert SETTINGS["TELNETCONSOLE_ENABLED"] is False
    assert SETTINGS["REMOTE_CONTROL_ENABLED"] is False
    assert SETTINGS["COOKIES_ENABLED"] is False


CRAWLER_IMPORTS = r"""
import sys
from scrapy.crawler import CrawlerProcess
from redfeed.feeds.confs_tech import ConfsTechSpider
from redfeed.feeds.settings import SETTINGS
process = CrawlerProcess({**SETTINGS, "FEEDS": {}}, install_root_handler=False)
crawler = process.create_crawler(ConfsTechSpider)
crawler._apply_settings()  # builds the extensions
crawler.engine = crawler._create_engine()  # builds the downloader's middlewares
print(sorted(m for m in ("aiohttp", "tldextract") if m in sys.modules))
"""


def test_a_crawler_does_not_import_what_the_switched_off_components_need() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CRAWLER_IMPORTS], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture
def config() -> Config:
    return Config.from_env(
        {"REDFEED_FEED": "confs-tech", "REDFEED_INTERVAL_START": "2026-01-01T00:00:00Z"},
        need_archive=False,
    )


def test_a_spider_that_switches_a_left_out_component_on_gets_it_back(config: Config) -> None:
    """A spider that needs cookies says COOKIES_ENABLED = True, as in any Scrapy project."""
    cookies = "scrapy.downloadermiddlewares.cookies.CookiesMiddleware"
    plain = for_run(config)
    assert cookies not in plain["DOWNLOADER_MIDDLEWARES_BASE"]
    wanted = for_run(config, spider_settings={"COOKIES_ENABLED": "True"})
    assert wanted["DOWNLOADER_MIDDLEWARES_BASE"][cookies] == 700  # Scrapy's default order
    assert "scrapy.extensions.telnet.TelnetConsole" not in wanted["EXTENSIONS_BASE"]
    components = build_component_list(Settings(wanted).getwithbase("DOWNLOADER_MIDDLEWARES"))
    assert cookies in components
    assert cookies not in SETTINGS["DOWNLOADER_MIDDLEWARES_BASE"]  # SETTINGS itself untouched


def test_a_switch_that_is_not_a_boolean_is_a_configuration_error(config: Config) -> None:
    with pytest.raises(ConfigError, match="COOKIES_ENABLED='yes': not a boolean"):
        for_run(config, spider_settings={"COOKIES_ENABLED": "yes"})
