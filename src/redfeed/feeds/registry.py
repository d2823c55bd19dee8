"""Feed name -> spider class. A new feed is one spider module plus one line here.

Spiders are named by dotted path and imported only when asked for, so importing the registry
(the CLI, the DAG factory, the loader) does not import Scrapy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from redfeed.errors import ConfigError

if TYPE_CHECKING:
    import scrapy

#: feed name -> "module:ClassName" of its spider
FEEDS: dict[str, str] = {
    "confs-tech": "redfeed.feeds.confs_tech:ConfsTechSpider",
}


def feed_names() -> list[str]:
    return sorted(FEEDS)


def spider_class(name: str) -> type[scrapy.Spider]:
    """The spider class of feed ``name``; ``ConfigError`` (exit 78) for an unknown feed."""
    try:
        target = FEEDS[name]
    except KeyError:
        known = ", ".join(feed_names()) or "(none)"
        raise ConfigError(f"unknown feed {name!r}; known feeds: {known}") from None
    module_name, _, attribute = target.partition(":")
    cls: type[scrapy.Spider] = getattr(import_module(module_name), attribute)
    return cls
