"""What every spider of a documented REST API shares: its base URL, its token and who gets it."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

import scrapy

from redfeed.contract import Settings


class ApiSpider(scrapy.Spider):
    """A client of a source's REST API (GitHub's contents API, pretalx's API).

    ``robots.txt`` addresses crawlers of web pages (api.github.com's disallows everything); these
    spiders make a few documented API requests per run, named by ``USER_AGENT``, throttled, with
    rate limits and ``Retry-After`` honoured, so they do not obey it.
    """

    custom_settings = {"ROBOTSTXT_OBEY": False}  # noqa: RUF012 - Scrapy's class attribute
    #: The source when ``REDFEED_SOURCE_URL`` is not set.
    default_base_url: ClassVar[str] = ""
    #: How the API wants its token: ``Authorization: <scheme> <token>``.
    token_scheme: ClassVar[str] = "Bearer"  # noqa: S105 - an HTTP auth scheme, not a secret

    def __init__(self, *args: Any, config: Settings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = config
        self.base_url = (config.source_url or self.default_base_url).rstrip("/")
        self.token = config.extra.get("REDFEED_SOURCE_TOKEN", "").strip() or None

    def _headers(self, url: str, base: dict[str, str]) -> dict[str, str]:
        headers = dict(base)
        # The token goes only to the API's own host, never to wherever a listing points.
        if self.token and urlsplit(url).netloc == urlsplit(self.base_url).netloc:
            headers["Authorization"] = f"{self.token_scheme} {self.token}"
        return headers
